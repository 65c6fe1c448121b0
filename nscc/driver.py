"""What the commands do, independent of argument parsing: load, transform, emit, run."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from typing import TextIO

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.utils.exceptions import VerifyException

from nscc import arrays
from nscc.errors import NsccError, note, printable
from nscc.ir import nn
from nscc.ir.context import NsccContext
from nscc.ir.textio import module_text, read_module, umask, write_module
from nscc.registry import available_passes


def load(path: str, dims: Mapping[str, int] | None = None, dt: float | None = None) -> tuple[NsccContext, ModuleOp]:
    """An ONNX model, a NIR graph (.nir: spiking, over `dims['time']` steps of `dt` seconds), an IR dump
    (.mlir) or a directory compiled for the interpreter."""
    from nscc.targets.interpreter import MODULE_FILE

    if dims and (path == "-" or path.endswith(".mlir") or os.path.isdir(path)):
        raise NsccError(
            f"--dim {next(iter(dims))}: {path} is IR, whose shapes are already static", "bind dimensions when importing the .onnx model"
        )
    if dt is not None and not path.endswith(".nir"):
        raise NsccError(f"--dt: {path} is not a NIR model", "--dt sets the time step of a .nir model's neurons")
    if path == "-":
        from nscc.ir.textio import parse_module

        return parse_module(sys.stdin.read(), source="<stdin>")
    if os.path.isdir(path) and os.path.exists(os.path.join(path, MODULE_FILE)):
        return read_module(os.path.join(path, MODULE_FILE))
    if path.endswith(".mlir"):
        return read_module(path)
    if path.endswith(".nir"):
        from nscc.frontend.nir_import import import_nir

        return import_nir(path, dict(dims or {}), dt)
    from nscc.frontend.importer import import_onnx

    return import_onnx(path, dict(dims or {}))


def _repeated_option(spec: str) -> str | None:
    """xDSL keeps the last of a repeated option silently; nscc refuses it."""
    import re

    for body in re.findall(r"\{([^{}]*)\}", spec):
        keys = re.findall(r"([A-Za-z0-9_-]+)\s*=", body)
        for k in keys:
            if keys.count(k) > 1:
                return k
    return None


def parse_pipeline(spec: str, callback=None) -> PassPipeline:
    repeated = _repeated_option(spec)
    if repeated:
        raise NsccError(f"bad pass pipeline '{spec}': option '{repeated}' is given twice", "give each option once")
    try:
        return PassPipeline.parse_spec(available_passes(), spec, callback)
    except NsccError:
        raise
    except ValueError as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise NsccError(f"bad pass pipeline '{spec}': {msg}", "`nscc passes` lists the passes and their options") from None
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except BaseException as e:  # noqa: BLE001 -- xDSL's spec errors (ArgSpecParseError) derive from BaseException
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        # xDSL's message is a header, the position, the spec, a caret and the reason: keep position and reason
        pos = next((ln.split(":", 1)[1] for ln in lines if ln.startswith("pass-pipeline:")), None)
        msg = (f"at column {pos.split(':')[-1]}: " if pos else "") + (lines[-1] if lines else type(e).__name__)
        raise NsccError(
            f"bad pass pipeline '{spec}': {msg}", "write it as 'pass-a,pass-b{opt=value}'; `nscc passes` lists the options"
        ) from None


# Passes that run the model on calibration data: minutes on an LLM. A target's preflight
# check runs before the first of them, so that an op it cannot take is named at once.
CALIBRATING = ("rotate-residual", "bit-allocation", "spike-conversion", "sparsity-pruning")


def apply_pipeline(
    ctx: NsccContext,
    module: ModuleOp,
    spec: str | None,
    after_pass: Callable[[int, ModulePass, NsccContext, ModuleOp], None] | None = None,
    preflight: Callable[[ModuleOp], None] | None = None,
) -> None:
    """Runs the pipeline, verifying after every pass; `after_pass(i, pass, ctx, module)` sees each
    result; `preflight(module)` runs once, before the first pass that calibrates."""
    if not spec:
        return
    counter = iter(range(1, 1_000_000))
    checked = preflight is None

    def between(prev: ModulePass | None, m: ModuleOp, nxt) -> None:
        nonlocal checked
        if not checked and nxt is not None and nxt.name in CALIBRATING:
            checked = True
            preflight(m)
        if prev is None:
            return
        try:
            m.verify()
        except VerifyException as e:
            raise NsccError(
                f"pass '{prev.name}' produced IR that does not verify: {str(e).splitlines()[0]}",
                "the pass has a bug; --print-ir-after-all shows its input",
            ) from None
        # the arrays the pass replaced (a weight before rotation, before quantization)
        arrays.release_memory(ctx.weights.retain(o.sym.data for o in m.walk() if isinstance(o, nn.WeightOp)))
        if after_pass:
            after_pass(next(counter), prev, ctx, m)

    pipeline = parse_pipeline(spec, between)
    try:
        pipeline.apply(ctx, module)
    except (NsccError, BrokenPipeError):
        raise
    except Exception as e:  # a pass crashing is reported with its name, not a traceback
        raise NsccError(
            f"a pass in '{spec}' failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
            "set NSCC_DEBUG=1 for the traceback",
        ) from e


def ir_printer(
    stream: TextIO,
    print_after_all: bool,
    print_after: list[str],
    dump_dir: str | None,
) -> Callable[[int, ModulePass, NsccContext, ModuleOp], None] | None:
    """The `after_pass` hook behind --print-ir-after-all, --print-ir-after and --dump-ir-dir."""
    if not (print_after_all or print_after or dump_dir):
        return None
    if dump_dir:
        try:
            os.makedirs(dump_dir, exist_ok=True)
        except OSError as e:
            raise NsccError(f"{dump_dir}: cannot create the dump directory ({e.strerror})", "choose a writable --dump-ir-dir") from None

    shared = os.path.join(dump_dir, "ir-dumps.weights.npz") if dump_dir else None
    if shared and os.path.exists(shared):
        import re

        if not any(re.fullmatch(r"\d\d+-.+\.mlir", f) for f in os.listdir(dump_dir)):
            raise NsccError(f"{shared}: exists and was not written by an earlier --dump-ir-dir", "choose another --dump-ir-dir")
        os.remove(shared)  # an earlier run's dumps': this run's start afresh

    def after(i: int, p: ModulePass, ctx: NsccContext, m: ModuleOp) -> None:
        if print_after_all or p.name in print_after:
            stream.write(f"// -----// IR Dump After {p.name} ({i}) //----- //\n")
            stream.write(module_text(m))
        if dump_dir:
            write_module(ctx, m.clone(), os.path.join(dump_dir, f"{i:02d}-{p.name}.mlir"), shared)

    return after


OUTPUT_MARK = ".nscc-output"  # in every directory nscc writes: only such a directory is ever replaced


def _inside(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder


def _written_by_nscc(path: str) -> bool:
    """The mark, or the manifest of an output written before the mark existed."""
    if os.path.exists(os.path.join(path, OUTPUT_MARK)):
        return True
    from nscc.targets import built_by

    return (
        built_by(path) is not None
        or os.path.isfile(os.path.join(path, "manifest.json"))
        and os.path.isfile(os.path.join(path, "model.mlir"))
    )


def _check_replaceable(out_dir: str, inputs: tuple[str, ...]) -> None:
    """Refuses any -o that would replace what is not an earlier nscc output."""
    for p in inputs:
        p = os.path.realpath(p)
        if _inside(p, out_dir):
            raise NsccError(f"{out_dir}: holds the input {p}; nscc will not replace it", "choose an -o outside the model's folder")
    if _inside(os.path.realpath(os.getcwd()), out_dir):
        raise NsccError(f"{out_dir}: is the working directory or contains it; nscc will not replace it", "choose a new folder for -o")
    if os.path.isdir(out_dir) and os.listdir(out_dir) and not _written_by_nscc(out_dir):
        raise NsccError(
            f"{out_dir}: exists and is not an earlier nscc output; nscc will not replace it",
            "choose a new folder for -o, or remove that one yourself",
        )


def _clean_leftovers(parent: str, base: str) -> None:
    """Removes the temporary siblings a killed run left behind (its process gone)."""
    for name in os.listdir(parent):
        if not name.startswith((f".{base}.tmp-", f".{base}.old-")):
            continue
        pid = name[len(base) + 6 :].split("-")[0]
        try:
            os.kill(int(pid), 0)
            continue  # another nscc is still writing there
        except (OSError, ValueError):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def check_output_dir(out_dir: str, inputs: tuple[str, ...] = ()) -> None:
    """What `atomic_output_dir` will refuse, checked before minutes of passes: an empty -o, a
    file in the way, a folder nscc may not replace, a parent that cannot be created or written."""
    if not out_dir or not out_dir.strip():
        raise NsccError("-o is empty", "name an output folder, e.g. -o build/model")
    out_dir = os.path.realpath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise NsccError(f"{out_dir}: exists and is not a directory", "choose another -o")
    _check_replaceable(out_dir, inputs)
    up = os.path.dirname(out_dir)
    while not os.path.exists(up):
        up = os.path.dirname(up)
    why = "Not a directory" if not os.path.isdir(up) else "Permission denied" if not os.access(up, os.W_OK | os.X_OK) else ""
    if why:
        raise NsccError(f"{out_dir}: cannot write the output directory ({why})", "choose a writable -o path")


def atomic_output_dir(out_dir: str, fill: Callable[[str], object], inputs: tuple[str, ...] = ()) -> object:
    """Fills a temporary sibling of `out_dir`, then renames it into place.

    A failure at any point leaves no half-written `out_dir` behind (and an
    existing one untouched). An existing `out_dir` is replaced only when an
    earlier nscc run wrote it, and never when it holds one of `inputs` (the
    model, its data) or the working directory."""
    check_output_dir(out_dir, inputs)
    out_dir = os.path.realpath(out_dir)
    parent = os.path.dirname(out_dir)
    try:
        os.makedirs(parent, exist_ok=True)
        _clean_leftovers(parent, os.path.basename(out_dir))
        tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.tmp-{os.getpid()}-", dir=parent)
    except OSError as e:
        raise NsccError(f"{out_dir}: cannot write the output directory ({e.strerror})", "choose a writable -o path") from None
    try:
        result = fill(tmp)
        with open(os.path.join(tmp, OUTPUT_MARK), "w") as f:
            f.write("written by nscc; `nscc compile -o` replaces only folders holding this file\n")
        os.chmod(tmp, 0o777 & ~umask())
        old = None
        if os.path.exists(out_dir):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.old-{os.getpid()}-", dir=parent)
            os.rename(out_dir, os.path.join(old, "x"))
        os.rename(tmp, out_dir)
        if old:
            shutil.rmtree(old, ignore_errors=True)
        return result
    except OSError as e:
        raise NsccError(f"{out_dir}: cannot write the output directory ({e.strerror})", "choose a writable -o path") from None
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def prepare(
    model: str,
    dims: Mapping[str, int],
    calib: str | None,
    pipeline: str | None,
    after_pass=None,
    preflight=None,
    announce: str = "",
    dt: float | None = None,
) -> tuple[NsccContext, ModuleOp]:
    """Load, attach calibration data, run the pipeline: what every command starts with.
    `announce` is printed once the model and its data have loaded (before the passes)."""
    ctx, module = load(model, dims, dt)
    if calib:
        from nscc.calibration import load_calibration

        ctx.calibration = load_calibration(calib, module)
    if announce:
        note(announce)
    apply_pipeline(ctx, module, pipeline, after_pass, preflight)
    return ctx, module


def target_pipeline(tgt, target: str, pipeline: str | None) -> tuple[str | None, str]:
    """(-p as given, or without it the target's default pipeline; the line that says which)."""
    default = getattr(tgt, "DEFAULT_PIPELINE", None)
    if pipeline is not None or not default:
        return pipeline, ""
    return default, f"no -p given: the {target} target applies its default pipeline -p '{default}' (-p chooses another; -p '' none)"


def spike_report(ctx: NsccContext, module: ModuleOp, json_path: str | None, stream: TextIO | None = None) -> dict | None:
    """Measures and prints the spike report when the module has spiking layers."""
    from nscc.ir import snn
    from nscc.report import print_table, write_json
    from nscc.report import spike_report as measure

    if not any(isinstance(op, snn.SynapseOp | snn.ConvSynapseOp) for op in module.walk()):
        if json_path:
            raise NsccError("--report: the module has no spiking layers", "add -p spike-conversion")
        return None
    from nscc.decoding import is_step_function

    if is_step_function(module):  # calibration data are whole sequences; a step takes one token
        if json_path:
            raise NsccError(
                "--report measures whole-sequence programs, and this one is a decode step", "take the report without decode-step in -p"
            )
        return None
    from nscc.calibration import calibration_of

    report = measure(module, ctx.weights, calibration_of(ctx, module))
    if ctx.pass_reports:
        report["passes"] = ctx.pass_reports
    print_table(report, stream)
    if json_path:
        write_json(report, json_path)
    return report


def compile_model(
    model: str,
    target: str,
    out_dir: str,
    pipeline: str | None,
    dims: Mapping[str, int],
    calib: str | None = None,
    report: str | None = None,
    dt: float | None = None,
) -> list[str]:
    from nscc.targets import get_target

    tgt = get_target(target)
    if model.endswith(".nir") and pipeline is None:  # already spiking and integer: the defaults would convert an ANN
        pipeline, announce = "", ""
    else:
        pipeline, announce = target_pipeline(tgt, target, pipeline)
    check_output_dir(out_dir, (model, calib) if calib else (model,))
    ctx, module = prepare(model, dims, calib, pipeline, preflight=getattr(tgt, "preflight", None), announce=announce, dt=dt)
    inputs = (model, calib) if calib else (model,)
    files = atomic_output_dir(out_dir, lambda tmp: tgt.emit(ctx, module, tmp, model), inputs)
    if calib or report or not model.endswith(".nir"):  # a NIR model's spikes mean something on its own data only
        spike_report(ctx, module, report)
    return files


EXPORT_PIPELINE = "spike-conversion"


def export_model(
    model: str, out_file: str, pipeline: str | None, dims: Mapping[str, int], calib: str | None = None, dt: float | None = None
) -> dict:
    """`nscc export --format nir`: the spiking program (after `pipeline`, by default spike-conversion
    for an ONNX model) as a NIR graph."""
    from nscc.targets.nir import export_nir

    if os.path.isdir(out_file):
        raise NsccError(f"{out_file}: is a directory", "-o names the .nir file to write")
    if not os.path.isdir(os.path.dirname(os.path.abspath(out_file))):
        raise NsccError(f"{out_file}: its folder does not exist", "create it first")
    if any(os.path.exists(p) and os.path.samefile(p, out_file) for p in (model, calib) if p and os.path.exists(out_file)):
        raise NsccError(f"{out_file}: is one of the inputs", "write the export elsewhere")
    if pipeline is None and model.endswith(".onnx"):
        pipeline = EXPORT_PIPELINE
        note(f"no -p given: exporting after -p '{EXPORT_PIPELINE}' (-p chooses another)")
    ctx, module = prepare(model, dims, calib, pipeline, dt=dt)
    return export_nir(ctx, module, out_file)


def load_inputs(specs: list[str], names: list[str]) -> dict[str, np.ndarray]:
    """`NAME=FILE.npy` (or just `FILE.npy` for a one-input model; `.npz` gives several)."""
    out: dict[str, np.ndarray] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = "", spec
        data = arrays.load(path, "pass inputs as --input NAME=FILE.npy, saved with numpy.save")
        if isinstance(data, dict):
            out.update(data)
            continue
        if not name:
            if len(names) != 1:
                raise NsccError(
                    f"{path}: the model has {len(names)} inputs; say which this is",
                    f"use --input NAME={path} with NAME one of {', '.join(names)}",
                )
            name = names[0]
        out[name] = data
    return out


def summarize(outputs: Mapping[str, np.ndarray], stream: TextIO | None = None) -> None:
    """One line per output: type, shape, range; for a small batch of scores, the top class per row."""
    stream = stream or sys.stdout
    for name, a in outputs.items():
        line = f"{printable(name)}: {a.dtype}{list(a.shape)}"
        if a.size and a.dtype.kind in "fiub":
            f = a.astype(np.float64)
            line += f"  min {f.min():.6g}  max {f.max():.6g}  mean {f.mean():.6g}"
            if a.dtype.kind == "f" and a.ndim >= 2 and a.shape[-1] > 1:
                rows = a.reshape(-1, a.shape[-1])
                if len(rows) <= 32:
                    line += f"  argmax {np.argmax(rows, axis=-1).tolist()}"
        stream.write(line + "\n")
