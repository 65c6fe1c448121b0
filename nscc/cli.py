"""The `nscc` command line. Errors caused by input end in one line and a non-zero exit."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap

from nscc import __version__
from nscc.errors import NsccError, printable


def _dim(spec: str) -> tuple[str, int]:
    name, sep, value = spec.rpartition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"'{spec}' is not NAME=VALUE")
    try:
        v = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{spec}': VALUE must be a positive integer") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"'{spec}': VALUE must be a positive integer")
    if v >= 1 << 31:
        raise argparse.ArgumentTypeError(f"'{spec}': VALUE must be below 2^31")
    return name, v


def _positive(spec: str) -> int:
    try:
        v = int(spec)
    except ValueError:
        v = 0
    if v <= 0:
        raise argparse.ArgumentTypeError(f"'{spec}' is not a positive integer")
    return v


def _common(p: argparse.ArgumentParser, pipeline: bool = True) -> None:
    p.add_argument("--dim", type=_dim, action="append", default=[], metavar="NAME=VALUE", help="bind a dynamic dimension (repeatable)")
    p.add_argument("--max-elements", type=_positive, default=None, metavar="N", help="the most elements one tensor may have (default 2^31)")
    p.add_argument(
        "--dt", type=float, default=None, metavar="SECONDS", help="time step of a .nir model's neurons (default: the graph's, else 1e-4 as snnTorch)"
    )
    p.add_argument(
        "--load-pass-plugin", action="append", default=[], metavar="FILE.py", help="load passes registered with @nscc.register_pass"
    )
    if pipeline:
        p.add_argument("-p", "--pipeline", metavar="PIPELINE", help="passes to run, e.g. 'spike-conversion{levels=15},binary-expand'")
        p.add_argument("--calib", metavar="FILE.npz|DIR", help="calibration inputs: one array per model input, batch first")


class _Parser(argparse.ArgumentParser):
    """argparse with nscc's error format: one line and a hint, not a usage block."""

    def error(self, message: str):
        print(f"{self.prog}: error: {printable(message, 2000)} (hint: `{self.prog} --help` lists the arguments)", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    from nscc.targets import RUNNABLE, TARGETS

    parser = _Parser(prog="nscc", description="Compile ONNX networks into spiking, MatMul-free programs.")
    parser.add_argument("--version", action="version", version=f"nscc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("compile", help="compile a model for a target")
    p.add_argument("model", metavar="MODEL", help="an .onnx model, a .nir spiking network, or an .mlir dump")
    p.add_argument("--target", "-t", default="interpreter", choices=list(TARGETS), help="where the program runs")
    p.add_argument("-o", "--output", required=True, metavar="OUT/", help="output directory (replaced atomically)")
    p.add_argument("--report", metavar="FILE.json", help="write the spike report (also printed as a table)")
    _common(p)

    p = sub.add_parser("export", help="write a spiking model in another framework's format (NIR)")
    p.add_argument("model", metavar="MODEL", help="an .onnx model (made to spike with -p, by default spike-conversion) or an .mlir dump")
    p.add_argument("--format", required=True, choices=["nir"], help="nir: the Neuromorphic Intermediate Representation (docs/interop.md)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.nir", help="the file to write (replaced atomically)")
    _common(p)

    p = sub.add_parser("opt", help="run passes and print the IR")
    p.add_argument("model", metavar="FILE", help="an .onnx model, a .nir spiking network, or an .mlir dump ('-' reads IR from stdin)")
    p.add_argument("-o", "--output", metavar="FILE.mlir", help="write the IR (and FILE.weights.npz) instead of printing")
    p.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass")
    p.add_argument("--print-ir-after", action="append", default=[], metavar="PASS", help="print the IR after this pass")
    p.add_argument(
        "--dump-ir-dir",
        metavar="DIR",
        help="write the IR after each pass to DIR/NN-pass.mlir (the weights once, in DIR/ir-dumps.weights.npz)",
    )
    p.add_argument("--generic", action="store_true", help="print ops in MLIR's generic form")
    p.add_argument(
        "--split-input-file", action="store_true", help="treat each `// -----` section of an .mlir file as its own module (as mlir-opt)"
    )
    _common(p)

    p = sub.add_parser("run", help="run a model (on the reference interpreter, or built for the C++ simulator)")
    p.add_argument("model", metavar="MODEL", help="an .onnx model, a .nir spiking network, an .mlir dump, or a directory `nscc compile` wrote")
    p.add_argument(
        "--target",
        "-t",
        default=None,
        choices=list(RUNNABLE),
        help="where to run (default: the interpreter, or what MODEL/ was compiled for)",
    )
    p.add_argument("--counters", metavar="FILE.json", help="write the simulator's own spike and SOP counters (cpp)")
    p.add_argument(
        "--input", "-i", action="append", default=[], metavar="NAME=FILE.npy", help="an input array (repeatable; an .npz gives several)"
    )
    p.add_argument("--output", metavar="OUT.npz", help="save the outputs")
    p.add_argument("--report", metavar="FILE.json", help="write the spike report (also printed as a table)")
    p.add_argument("--generate", type=int, metavar="N", help="decode N tokens greedily, one at a time (needs linear attention)")
    p.add_argument("--prompt-ids", metavar="ID,ID,...", help="the prompt for --generate, as token ids")
    p.add_argument("--prompt", metavar="TEXT", help="the prompt for --generate, as text (needs vocab.json beside the model)")
    _common(p)

    p = sub.add_parser("analyze", help="firing rates, entropies, NMI, energy and plots of a spiking model")
    p.add_argument("model", metavar="MODEL", help="an .onnx model (made to spike with -p) or an .mlir dump of a spiking one")
    p.add_argument("--labels", metavar="FILE.npy", help="one stimulus label per --calib sample, for the mutual information")
    p.add_argument(
        "-o", "--output", required=True, metavar="DIR/", help="where report.html, analysis.json and the plots go (replaced atomically)"
    )
    p.add_argument("--layers", action="append", default=[], metavar="GLOB", help="only these layers (repeatable)")
    p.add_argument("--neurons", type=int, default=256, metavar="N", help="neurons per layer kept for trains and NMI (default 256)")
    p.add_argument(
        "--raster",
        action="append",
        default=[],
        metavar="GLOB",
        help="layers to draw rasters of (repeatable; default four across the depth)",
    )
    p.add_argument("--steps", default="0:32", metavar="START:END", help="steps (tokens) of the first sample in the rasters (default 0:32)")
    _common(p)

    p = sub.add_parser("passes", help="list the passes and their options")
    p.add_argument("--load-pass-plugin", action="append", default=[], metavar="FILE.py")
    sub.add_parser("ops", help="list the ONNX operators nscc lowers")
    return parser


def cmd_compile(a) -> int:
    from nscc.driver import compile_model
    from nscc.targets import get_target

    files = compile_model(a.model, a.target, a.output, a.pipeline, dict(a.dim), a.calib, a.report, dt=a.dt)
    print(printable(f"nscc: compiled {a.model} for {a.target} into {a.output}/ ({', '.join(files)})", 2000))
    for line in get_target(a.target).summary(a.output):
        print(printable("nscc: " + line, 2000))
    return 0


def cmd_export(a) -> int:
    from nscc.driver import export_model

    info = export_model(a.model, a.output, a.pipeline, dict(a.dim), a.calib, dt=a.dt)
    print(printable(f"nscc: exported {a.model} to {a.output}: {info['nodes']} NIR nodes, run for {info['steps']} steps", 2000))
    return 0


def cmd_opt(a) -> int:
    from nscc.driver import ir_printer, prepare
    from nscc.ir.textio import module_text, write_module

    if a.print_ir_after:
        from nscc.driver import parse_pipeline

        names = [p.name for p in parse_pipeline(a.pipeline).passes] if a.pipeline else []
        unknown = [n for n in a.print_ir_after if n not in names]
        if unknown:
            raise NsccError(
                f"--print-ir-after {unknown[0]}: no such pass in the pipeline",
                ("the pipeline runs " + ", ".join(names)) if names else "give the passes with -p",
            )
    if a.split_input_file:
        return _opt_sections(a)
    hook = ir_printer(sys.stdout, a.print_ir_after_all, a.print_ir_after, a.dump_ir_dir)
    ctx, module = prepare(a.model, dict(a.dim), a.calib, a.pipeline, hook, dt=a.dt)
    if a.output:
        write_module(ctx, module, a.output)
    elif not (a.print_ir_after_all or a.print_ir_after):
        sys.stdout.write(module_text(module, generic=a.generic))
    return 0


def _opt_sections(a) -> int:
    """--split-input-file: every `// -----` section through the pipeline in turn; errors are
    reported per section (named FILE:LINE) and the exit code says whether any failed."""
    import re

    from nscc.driver import apply_pipeline
    from nscc.ir.textio import module_text, parse_module

    if a.output or a.dump_ir_dir or a.calib or a.dim:
        raise NsccError("--split-input-file prints each section; it takes no -o, --dump-ir-dir, --calib or --dim", "drop those options")
    try:
        text = sys.stdin.read() if a.model == "-" else open(a.model).read()
    except (OSError, UnicodeDecodeError) as e:
        raise NsccError(f"{a.model}: cannot read ({e})", "give an .mlir file") from None
    failed, line = 0, 1
    for i, section in enumerate(re.split(r"^// -----.*$", text, flags=re.M)):
        if i:
            sys.stdout.write("// -----\n")
        if not any(ln.strip() and not ln.strip().startswith("//") for ln in section.splitlines()):
            line += section.count("\n") + 1
            continue  # comments only (a file's header)
        try:
            ctx, module = parse_module(section, source=f"{a.model}:{line}")
            apply_pipeline(ctx, module, a.pipeline)
            sys.stdout.write(module_text(module, generic=a.generic))
        except NsccError as e:
            sys.stdout.flush()
            print(e.render(), file=sys.stderr, flush=True)
            failed += 1
        line += section.count("\n") + 1
    return 1 if failed else 0


def cmd_run(a) -> int:

    from nscc.driver import load_inputs, prepare, spike_report, summarize
    from nscc.targets import built_by, get_target
    from nscc.targets.interpreter import run, signature

    dims = dict(a.dim)
    compiled_for = built_by(a.model)
    target = a.target or compiled_for or "interpreter"
    if compiled_for is not None:
        if target != compiled_for:
            raise NsccError(
                f"{a.model} was compiled for the {compiled_for} target", f"run it with --target {compiled_for} (or compile again)"
            )
        if a.report or a.pipeline or a.calib:
            raise NsccError(
                f"{a.model} is a built {compiled_for} program: -p, --calib and --report apply when compiling",
                "use --counters for the simulator's own spike counts",
            )
        return _run_built(a, compiled_for, a.model)
    if a.model.endswith(".onnx") and a.input:
        dims = {**_dims_from_inputs(a.model, a.input), **dims}
    if a.model.endswith(".nir") and a.input and "time" not in dims:  # as many steps as the input train has
        first = next(iter(load_inputs(a.input[:1], ["input"]).values()))
        dims["time"] = int(first.shape[0]) if first.ndim else 1
    if a.generate is not None and a.model.endswith(".onnx"):
        _check_positions(a, _prompt(a, _vocab(a.model)), dims)  # before calibration, which can take minutes
    ctx, module = prepare(a.model, dims, a.calib, a.pipeline, dt=a.dt)
    if a.generate is not None:
        return _generate(a, ctx, module)
    if target != "interpreter":  # a throw-away build of that target
        import tempfile

        from nscc.driver import atomic_output_dir

        with tempfile.TemporaryDirectory(prefix=f"nscc-{target}-") as tmp:
            out = os.path.join(tmp, "project")
            atomic_output_dir(out, lambda d: get_target(target).emit(ctx, module, d, a.model))
            return _run_built(a, target, out, ctx, module)
    names = [n for n, _, _ in signature(module).inputs]
    inputs = load_inputs(a.input, names)
    outputs = run(module, ctx.weights, inputs)
    summarize(outputs)
    if a.report:
        spike_report(ctx, module, a.report)
    _save_outputs(a.output, outputs)
    return 0


def cmd_analyze(a) -> int:
    from fnmatch import fnmatch

    import numpy as np

    from nscc.analysis import analyze
    from nscc.analysis.render import write
    from nscc.driver import atomic_output_dir, prepare
    from nscc.ir import snn
    from nscc.report import d_notation

    if not a.calib:
        raise NsccError(
            "analyze needs data: --calib FILE.npz (one array per model input, batch first)", "the spikes are recorded on these inputs"
        )
    if a.neurons < 1:
        raise NsccError("--neurons must be at least 1", "e.g. --neurons 256")
    ctx, module = prepare(a.model, dict(a.dim), a.calib, a.pipeline, dt=a.dt)
    if not any(isinstance(op, snn.SynapseOp | snn.ConvSynapseOp) for op in module.walk()):
        if a.pipeline:
            raise NsccError(f"{a.model}: no spiking layers after '{a.pipeline}'", "add spike-conversion to -p")
        print("nscc: note: the model does not spike yet; running -p spike-conversion", file=sys.stderr)
        from nscc.driver import apply_pipeline

        apply_pipeline(ctx, module, "spike-conversion")
    labels = None
    if a.labels:
        from nscc import arrays

        labels = arrays.load(a.labels, "save labels with numpy.save(FILE, ARRAY)")
        if not isinstance(labels, np.ndarray) or labels.ndim != 1 or labels.dtype.kind not in "iub":
            what = "an .npz archive" if not isinstance(labels, np.ndarray) else f"{labels.dtype}{list(labels.shape)}"
            raise NsccError(
                f"{a.labels}: labels must be a 1-d integer array, one per sample (got {what})",
                "e.g. numpy.save('labels.npy', numpy.array([0, 1, 1, 0]))",
            )
        n = sum(len(next(iter(b.values()))) for b in ctx.calibration)
        if len(labels) > n or n % len(labels):
            raise NsccError(f"{a.labels}: {len(labels)} labels for {n} calibration samples", "give exactly one label per sample")
    try:
        start, end = (int(v) for v in a.steps.split(":"))
        if not 0 <= start < end:
            raise ValueError
    except ValueError:
        raise NsccError(f"--steps '{a.steps}' is not START:END with 0 <= START < END", "e.g. --steps 0:32") from None
    result = analyze(module, ctx.weights, ctx.calibration, labels, tuple(a.layers), a.neurons)
    unknown = [g for g in a.raster if not any(fnmatch(r["layer"], g) for r in result["layers"])]
    if unknown:
        raise NsccError(
            f"--raster '{unknown[0]}' matches no analysed layer",
            "the layers are " + ", ".join(r["layer"] for r in result["layers"][:8]) + ("..." if len(result["layers"]) > 8 else ""),
        )
    inputs = tuple(p for p in (a.model, a.calib, a.labels) if p)
    files = atomic_output_dir(a.output, lambda d: write(result, d, os.path.basename(a.model), tuple(a.raster), (start, end)), inputs)
    rows = result["layers"]
    print(
        f"{'layer':32} {'D':>4} {'rate':>7} {'entropy':>8} {'max':>5} {'h rate':>7}"
        + (f" {'NMI':>7} {'chance':>7}" if labels is not None else "")
    )
    for r in rows:
        line = f"{printable(r['layer'], 32):32} {d_notation(r['levels'], r['signed']):>4} {r['firing_rate']:7.3f} {r['entropy_bits']:8.3f} {r['entropy_max_bits']:5.2f} {r['entropy_rate_bits_per_slot']:7.3f}"
        if labels is not None:
            line += f" {r['nmi']:7.4f} {r['nmi_chance']:7.4f}"
        print(line)
    print(printable(f"nscc: analysis of {a.model} in {a.output.rstrip('/')}/ ({', '.join(files)})", 2000))
    return 0


def _run_built(a, target: str, project: str, ctx=None, module=None) -> int:
    """Runs a program that `target` built, in directory `project`."""
    import json

    from nscc.driver import load_inputs, spike_report, summarize
    from nscc.targets import get_target

    tgt = get_target(target)
    if a.generate is not None:
        return _generate(a, project=project, target=target)
    outputs, counters = tgt.run_built(project, load_inputs(a.input, tgt.input_names(project)))
    summarize(outputs)
    if a.counters:
        try:
            with open(a.counters, "w") as f:
                json.dump(counters, f, indent=2)
        except OSError as e:
            raise NsccError(f"{a.counters}: cannot write ({e.strerror})", "choose a writable --counters path") from None
    if a.report and ctx is not None:
        spike_report(ctx, module, a.report)
    _save_outputs(a.output, outputs)
    return 0


def _save_outputs(path: str | None, outputs) -> None:

    if not path:
        return
    try:
        from nscc.arrays import save_npz

        save_npz(path, outputs)
    except OSError as e:
        raise NsccError(f"{path}: cannot write ({e.strerror})", "choose a writable --output path") from None


def _vocab(model: str) -> list[str] | None:
    import json

    path = os.path.join(os.path.dirname(os.path.abspath(model)) if not os.path.isdir(model) else model, "vocab.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _prompt(a, vocab) -> list[int]:
    if a.prompt is not None:
        if vocab is None:
            raise NsccError(f"--prompt needs a vocab.json beside {a.model}", "give token ids with --prompt-ids")
        unknown = sorted({c for c in a.prompt if c not in vocab})
        if unknown:
            raise NsccError(f"--prompt: character {unknown[0]!r} is not in the vocabulary", "use characters the model was trained on")
        prompt = [vocab.index(c) for c in a.prompt]
    elif a.prompt_ids:
        try:
            prompt = [int(t) for t in a.prompt_ids.split(",") if t.strip()]
        except ValueError:
            raise NsccError(
                f"--prompt-ids '{a.prompt_ids}' is not a comma-separated list of integers", "e.g. --prompt-ids 12,5,40"
            ) from None
    else:
        raise NsccError("--generate needs a prompt", "give --prompt-ids or --prompt")
    if not prompt or a.generate < 0:
        raise NsccError("--generate needs a non-empty prompt and N >= 0", "e.g. --generate 20 --prompt-ids 12,5")
    return prompt


def _check_positions(a, prompt: list[int], dims: dict[str, int]) -> None:
    """The prompt and the tokens to generate must fit the positions the model is compiled for."""
    from nscc.frontend import onnx_model

    m, _ = onnx_model.load(a.model, with_weights=False)
    inputs = onnx_model.graph_inputs(m)
    if len(inputs) != 1 or len(inputs[0].type.tensor_type.shape.dim) < 2:
        return  # Decoder says which input holds the tokens
    shapes = onnx_model.bind_dims(m, dims, a.model)
    length = shapes[inputs[0].name][1]
    if len(prompt) + a.generate > length:
        d = inputs[0].type.tensor_type.shape.dim[1]
        dynamic = not (d.HasField("dim_value") and d.dim_value > 0)
        name = (d.dim_param or f"{inputs[0].name}.1") if dynamic else None
        raise NsccError(
            f"a prompt of {len(prompt)} plus {a.generate} tokens exceeds the {length} positions the model is compiled for",
            f"bind a longer sequence with --dim {name}={len(prompt) + a.generate}"
            if dynamic
            else f"the model's input is static at {length} positions: generate fewer tokens",
        )


def _generate(a, ctx=None, module=None, project: str | None = None, target: str | None = None) -> int:
    """Greedy decoding on the interpreter, or with the program `target` built in `project`."""
    import time

    vocab = _vocab(project or a.model)
    prompt = _prompt(a, vocab)
    t = time.perf_counter()
    if project is not None:
        from nscc.targets import get_target

        out, info = get_target(target).generate_built(project, prompt, a.generate)
        dt = info["prompt_seconds"] + info["generate_seconds"]
        state = f"{info['state_bytes']} bytes" if "state_bytes" in info else "held by the program"
    else:
        from nscc.decoding import Decoder

        dec = Decoder(ctx, module)
        if len(prompt) + a.generate > dec.length:
            raise NsccError(
                f"prompt plus {a.generate} tokens exceed the {dec.length} positions the model was compiled for",
                "generate fewer tokens, or import the .onnx again with a longer sequence (--dim)",
            )
        out = dec.generate(prompt, a.generate)
        dt = time.perf_counter() - t
        state = f"{dec.state_bytes()} bytes"
    print("generated ids: " + ",".join(map(str, out)))
    if vocab is not None:
        print("text: " + repr("".join(vocab[i] for i in prompt + out)))
    print(
        f"{len(prompt) + a.generate} tokens in {dt:.3f} s ({1e3 * dt / max(len(prompt) + a.generate, 1):.2f} ms per token), attention state {state}"
    )
    return 0


def _dims_from_inputs(model: str, specs: list[str]) -> dict[str, int]:
    """Dynamic dimensions take their values from the input arrays given to `run`."""
    from nscc.driver import load_inputs
    from nscc.frontend import onnx_model

    m, _ = onnx_model.load(model, with_weights=False)
    graph_inputs = onnx_model.graph_inputs(m)
    arrays = load_inputs(specs, [vi.name for vi in graph_inputs])
    dims = {}
    for vi in graph_inputs:
        a = arrays.get(vi.name)
        if a is None:
            continue
        for axis, d in enumerate(vi.type.tensor_type.shape.dim):
            if not d.dim_value and axis < a.ndim:
                dims[d.dim_param or f"{vi.name}.{axis}"] = a.shape[axis]
    return dims


def cmd_passes(a) -> int:
    import dataclasses

    from nscc.registry import user_passes

    passes = user_passes()
    for name in sorted(passes):
        cls = passes[name]
        doc = (cls.__doc__ or "").strip().splitlines()
        print(f"{name}: {doc[0] if doc else ''}")
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else None
            print(f"    {f.name.replace('_', '-')}: {getattr(f.type, '__name__', f.type)} = {default!r}")
    print("\nAlso accepted in -p: xDSL's generic passes (cse, dce, canonicalize, ...).")
    return 0


def cmd_ops(a) -> int:
    from nscc.frontend.onnx_ops import LOWERINGS

    print(textwrap.fill(" ".join(sorted(LOWERINGS)), width=100))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from nscc.registry import load_plugin

        for path in getattr(args, "load_pass_plugin", []):
            load_plugin(path)
        if getattr(args, "max_elements", None):
            from nscc.frontend import onnx_model

            onnx_model.MAX_ELEMENTS = args.max_elements
        return {"compile": cmd_compile, "export": cmd_export, "opt": cmd_opt, "run": cmd_run, "analyze": cmd_analyze, "passes": cmd_passes, "ops": cmd_ops}[
            args.command
        ](args)
    except NsccError as e:
        if os.environ.get("NSCC_DEBUG"):
            raise
        print(e.render(), file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:  # `nscc opt ... | head` closed the pipe: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("nscc: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("nscc: error: out of memory (hint: bind smaller dimensions with --dim, or use a machine with more memory)", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 -- never show users a traceback
        if os.environ.get("NSCC_DEBUG"):
            raise
        print(
            f"nscc: internal error: {type(e).__name__}: {e} (hint: this is a bug in nscc; rerun with NSCC_DEBUG=1 and report the traceback)",
            file=sys.stderr,
        )
        return 70


if __name__ == "__main__":
    sys.exit(main())
