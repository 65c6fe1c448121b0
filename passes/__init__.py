"""nscc's passes, one per file. Each is an xDSL ModulePass with a `name`."""

from xdsl.passes import ModulePass

ALL_PASSES: list[type[ModulePass]] = []
