"""Printing and parsing modules; dumps keep weights in a side `.npz`.

`write_module` writes `NAME.mlir` and `NAME.weights.npz` and records the
weight file's relative path in the module attribute `nscc.weights`, so that
`read_module` gives back an equal module with the same weights.
"""

from __future__ import annotations

import os
import tempfile

from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.utils.exceptions import ParseError, VerifyException

from nscc.errors import NsccError
from nscc.ir.context import NsccContext, make_context
from nscc.ir.nn import WeightOp
from nscc.ir.weights import relpath_from, weight_file_for

WEIGHTS_ATTR = "nscc.weights"


def module_text(module: ModuleOp, generic: bool = False) -> str:
    """The module as text. Weights are names only, so nothing needs eliding."""
    from io import StringIO

    out = StringIO()
    Printer(stream=out, print_generic_format=generic).print_op(module)
    out.write("\n")
    return out.getvalue()


def weight_names(module: ModuleOp) -> list[str]:
    return sorted({op.sym.data for op in module.walk() if isinstance(op, WeightOp)})


def weight_bits(module: ModuleOp) -> dict[str, int]:
    """Bit width of each integer weight, from its IR element type (i4 -> 4)."""
    from xdsl.dialects.builtin import IntegerType

    out = {}
    for op in module.walk():
        if isinstance(op, WeightOp) and isinstance(op.res.type.element_type, IntegerType):
            out[op.sym.data] = op.res.type.element_type.width.data
    return out


def write_module(ctx: NsccContext, module: ModuleOp, path: str, shared_weights: str | None = None) -> None:
    """Writes the dump and its weights, each atomically (temporary file, then rename).

    With `shared_weights` (an .npz beside the dump that earlier dumps started), the dump
    points at it and only the weights it lacks are added: a pipeline's dumps then hold
    every weight once, not once per pass (weights never change in place)."""
    if shared_weights is not None:
        return _write_sharing(ctx, module, path, shared_weights)
    wpath = weight_file_for(path)
    module.attributes[WEIGHTS_ATTR] = StringAttr(relpath_from(path, wpath))
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp_w = tempfile.mkstemp(suffix=".npz", dir=directory)
        os.close(fd)
        ctx.weights.save(tmp_w, weight_names(module), weight_bits(module))
        fd, tmp_m = tempfile.mkstemp(suffix=".mlir", dir=directory)
        with os.fdopen(fd, "w") as f:
            f.write(module_text(module))
        mode = 0o666 & ~umask()
        os.chmod(tmp_w, mode)
        os.chmod(tmp_m, mode)
        os.replace(tmp_w, wpath)
        os.replace(tmp_m, path)
    except OSError as e:
        raise NsccError(f"{path}: cannot write ({e.strerror})", "choose a writable output path with -o") from None
    finally:
        for tmp in ("tmp_w", "tmp_m"):
            p = locals().get(tmp)
            if p and os.path.exists(p):
                os.unlink(p)


def _write_sharing(ctx: NsccContext, module: ModuleOp, path: str, shared: str) -> None:
    import zipfile

    import numpy as np

    module.attributes[WEIGHTS_ATTR] = StringAttr(relpath_from(path, shared))
    try:
        have = set()
        if os.path.exists(shared):
            with zipfile.ZipFile(shared) as z:
                have = {n.removesuffix(".npy") for n in z.namelist()}
        with zipfile.ZipFile(shared, "a", zipfile.ZIP_STORED, allowZip64=True) as z:
            for name in weight_names(module):
                if name not in have:
                    with z.open(name + ".npy", "w", force_zip64=True) as f:
                        np.lib.format.write_array(f, np.asanyarray(ctx.weights[name]), allow_pickle=False)
        fd, tmp_m = tempfile.mkstemp(suffix=".mlir", dir=os.path.dirname(os.path.abspath(path)))
        with os.fdopen(fd, "w") as f:
            f.write(module_text(module))
        os.chmod(tmp_m, 0o666 & ~umask())
        os.replace(tmp_m, path)
    except OSError as e:
        raise NsccError(f"{path}: cannot write ({e.strerror})", "choose a writable --dump-ir-dir") from None


def umask() -> int:
    """The process umask (files we rename into place get the usual permissions)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def parse_module(text: str, ctx: NsccContext | None = None, source: str = "<string>") -> tuple[NsccContext, ModuleOp]:
    ctx = ctx or make_context()
    try:
        module = Parser(ctx, text, source).parse_module()
        module.verify()
    except ParseError as e:
        first = str(e).strip().splitlines()
        raise NsccError(f"{source}: cannot parse IR: {first[-1] if first else e}", "is this an nscc IR dump?") from None
    except VerifyException as e:
        raise NsccError(
            f"{source}: IR does not verify: {str(e).splitlines()[0]}", "a pass or an edit left the module inconsistent"
        ) from None
    return ctx, module


def read_module(path: str) -> tuple[NsccContext, ModuleOp]:
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise NsccError(f"{path}: cannot read ({e.strerror})", "check the path") from None
    ctx, module = parse_module(text, source=path)
    ref = module.attributes.get(WEIGHTS_ATTR)
    if not isinstance(ref, StringAttr):
        return ctx, module  # a terminal dump: weights are names only, needed only to run
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    wpath = os.path.realpath(os.path.join(folder, ref.data))
    if os.path.isabs(ref.data) or os.path.commonpath([wpath, folder]) != folder or (os.path.exists(wpath) and not os.path.isfile(wpath)):
        raise NsccError(
            f"{path}: its {WEIGHTS_ATTR} {ref.data!r} is not a file in the dump's folder",
            "nscc reads a dump's weights only from beside it; re-create the dump with -o FILE.mlir",
        )
    ctx.weights.attach_npz(wpath)
    missing = [n for n in weight_names(module) if n not in ctx.weights]
    if missing:
        raise NsccError(
            f"{path}: {len(missing)} weight(s) missing from {ref.data}, first {missing[0]!r}", "re-create the dump with -o FILE.mlir"
        )
    return ctx, module
