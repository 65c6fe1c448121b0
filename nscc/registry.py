"""Where passes come from: nscc's own, users' plugins, installed packages, and xDSL's.

A user's pass is an xDSL `ModulePass` subclass with a `name`. It reaches
`-p` in one of two ways:
  * a Python file given with `--load-pass-plugin FILE.py` that decorates the
    class with `@nscc.register_pass`;
  * an installed package declaring an entry point in the group `nscc.passes`
    (`mypkg.passes:MyPass`), loaded on first use.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from functools import partial
from importlib.metadata import entry_points

from xdsl.passes import ModulePass

from nscc.errors import NsccError, note

ENTRY_POINT_GROUP = "nscc.passes"
_PLUGINS: dict[str, type[ModulePass]] = {}


def register_pass(cls: type[ModulePass]) -> type[ModulePass]:
    """Class decorator: makes a ModulePass available to `-p` by its `name`."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise NsccError(f"pass class {cls.__name__} has no `name`", "give the ModulePass subclass a class attribute name = 'my-pass'")
    _PLUGINS[name] = cls
    return cls


def load_plugin(path: str) -> None:
    if not os.path.isfile(path):
        raise NsccError(f"{path}: pass plugin not found", "--load-pass-plugin takes a Python file")
    mod_name = "nscc_plugin_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except NsccError:
        raise
    except Exception as e:  # a broken plugin is the user's error, reported as one line
        raise NsccError(
            f"{path}: pass plugin failed to load: {type(e).__name__}: {e}", "run the file with python to see the traceback"
        ) from None


def nscc_passes() -> dict[str, type[ModulePass]]:
    from nscc.passes import PASS_NAMES, load

    return {n: load(n) for n in PASS_NAMES}


def _entry_point_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    out = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        out[ep.name] = ep.load
    return out


def available_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """Every pass `-p` accepts, by name. Later sources override earlier ones."""
    from xdsl.transforms import get_all_passes

    from nscc.passes import PASS_NAMES, load

    passes: dict[str, Callable[[], type[ModulePass]]] = dict(get_all_passes())
    passes.update(_entry_point_passes())
    passes.update({n: partial(load, n) for n in PASS_NAMES})
    passes.update({n: (lambda c=c: c) for n, c in _PLUGINS.items()})
    return passes


def user_passes() -> dict[str, type[ModulePass]]:
    """nscc's passes and users' passes (what `nscc passes` lists), loaded."""
    out = dict(nscc_passes())
    for name, load in _entry_point_passes().items():
        try:
            out[name] = load()
        except Exception as e:  # noqa: BLE001 -- a broken package must not break the listing
            note(f"entry point {name!r} in {ENTRY_POINT_GROUP} failed to load: {e}", "warning")
    out.update(_PLUGINS)
    return out
