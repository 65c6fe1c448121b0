"""The C++/OpenMP simulator target.

`nscc compile --target cpp -o OUT/` writes a self-contained C++17 project:

    OUT/model.cpp          the model, generated from the IR (targets/cpp/codegen.py)
    OUT/model_io.hpp       its inputs and outputs
    OUT/nscc_runtime.hpp   the kernels (exact snn semantics)
    OUT/nscc_synapse.hpp   the synapse kernels (VNNI integer dot products)
    OUT/main.cpp           the driver: .npy in, .npy out, counters as JSON
    OUT/weights.bin        every weight in one file, low-bit synapse weights packed
    OUT/Makefile           g++ -O3 -fopenmp -ffp-contract=off
    OUT/manifest.json      inputs, outputs, layer names

`nscc run OUT/ --input NAME=FILE.npy` builds it (once per content: the
binary is cached under $NSCC_CACHE or ~/.cache/nscc) and runs it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
from xdsl.dialects.builtin import ModuleOp, StringAttr

from nscc.decoding import StateSlot, decode_length, has_attention_state, is_step_function, position_argument, state_slots, step_function
from nscc.errors import NsccError
from nscc.ir.context import NsccContext
from nscc.targets import INTEGER_HEADERS, INTEGER_PIPELINE, render, write_integer_headers
from nscc.targets.cpp.codegen import C_TYPES, Program, c_string, check_supported, generate

RUNTIME = os.path.join(os.path.dirname(__file__), "runtime")
RUNTIME_HEADERS = ("nscc_runtime.hpp", "nscc_synapse.hpp")
RUNTIME_FILES = (*RUNTIME_HEADERS, "main.cpp")
DEFAULT_PIPELINE = INTEGER_PIPELINE  # the VCK190's program, run here bit for bit; -p '' keeps the float model


def preflight(module: ModuleOp) -> None:
    """Before calibration: the ops (or element types, float16) the simulator cannot take."""
    from nscc.ir.signature import main_function

    check_supported(list(main_function(module).body.block.ops))
MANIFEST_FILE = "manifest.json"
WEIGHTS_FILE = "weights.bin"
CXXFLAGS = "-std=c++17 -O3 -march=native -fopenmp -ffp-contract=off"
DESCR = {"float32": "<f4", "float64": "<f8", "int8": "|i1", "int16": "<i2", "int32": "<i4", "int64": "<i8", "uint8": "|u1", "bool": "|b1",
         "uint16": "<u2", "uint32": "<u4", "uint64": "<u8"}  # fmt: skip
DTYPE_CODE = {"float32": 0, "float64": 1, "int8": 2, "int16": 3, "int32": 4, "int64": 5, "uint8": 6, "bool": 6, "uint16": 9, "uint32": 10, "uint64": 11}
ALIGN = 64


def tiles(w: np.ndarray, bits: int) -> bytes:
    """Synapse weights [K, N] as tiles of 4 rows x 64 columns, offset binary at 2, 4
    or 8 bits (the layout is described in runtime/nscc_synapse.hpp)."""
    k, n = w.shape
    k4, nb, off = (k + 3) // 4, (n + 63) // 64, 1 << (bits - 1)
    u = np.zeros((k4 * 4, nb * 64), np.uint8)
    u[:k, :n] = w.astype(np.int16) + off
    # [row, column] -> [column block, tile row, column, row in tile]: element 4c + q of a tile
    t = u.reshape(k4, 4, nb, 64).transpose(2, 0, 3, 1).reshape(nb, k4, 256)
    if bits == 4:
        t = t[..., :128] | (t[..., 128:] << 4)
    elif bits == 2:
        t = t[..., :64] | (t[..., 64:128] << 2) | (t[..., 128:192] << 4) | (t[..., 192:] << 6)
    return np.ascontiguousarray(t).astype(np.uint8).tobytes()


def write_weights(path: str, program: Program) -> tuple[int, list[tuple[int, int]]]:
    """The weight file (format in nscc_runtime.hpp); returns its size in bytes and each
    entry's (element code, bytes), which the generated model checks the file against."""
    blobs, header = [], bytearray(b"NSCCW1\0\0" + struct.pack("<I", len(program.weights)))
    for e in program.weights:
        a = np.ascontiguousarray(e.array)
        if e.bits:
            data, code = tiles(a, e.bits), 8
        else:
            data, code = a.astype(np.uint8).tobytes() if a.dtype == np.bool_ else a.tobytes(), DTYPE_CODE[str(a.dtype)]
        blobs.append((data, code, e.bits, a.shape))
        header += struct.pack("<BBHIQQ", code, e.bits, a.ndim, 0, 0, 0) + struct.pack(f"<{a.ndim}q", *a.shape)
    offset = (len(header) + ALIGN - 1) // ALIGN * ALIGN
    pos = 12
    with open(path, "wb") as f:
        offsets = []
        for data, _, _, shape in blobs:
            offsets.append(offset)
            offset = (offset + len(data) + ALIGN - 1) // ALIGN * ALIGN
        for (data, code, bits, shape), off in zip(blobs, offsets):
            struct.pack_into("<BBHIQQ", header, pos, code, bits, len(shape), 0, off, len(data))
            pos += 24 + 8 * len(shape)
        f.write(header)
        for (data, _, _, _), off in zip(blobs, offsets):
            f.seek(off)
            f.write(data)
        f.truncate(offset)
    return offset, [(code, len(data)) for data, code, _, _ in blobs]


def _io_header(program: Program, step_io: str | None, specs: list[tuple[int, int]]) -> str:
    """model_io.hpp (runtime/model_io.hpp.in): the I/O specs, run_model, and run_step
    (`step_io`, or the stand-in of a model without a token-by-token program)."""

    def spec(items):
        rows = []
        for name, shape, dtype in items:
            n = int(np.prod(shape)) * np.dtype(dtype).itemsize
            rows.append(f"  {{{c_string(name)}, {c_string(DESCR[str(np.dtype(dtype))])}, {{{', '.join(map(str, shape))}}}, {n}}},")
        return "\n".join(rows)

    call = [f"reinterpret_cast<const {C_TYPES[np.dtype(d)]}*>(in[{i}].data.data())" for i, (_, _, d) in enumerate(program.inputs)]
    call += [f"reinterpret_cast<{C_TYPES[np.dtype(d)]}*>(out[{j}].data())" for j, (_, _, d) in enumerate(program.outputs)]
    return render(
        os.path.join(RUNTIME, "model_io.hpp.in"),
        num_inputs=len(program.inputs),
        num_outputs=len(program.outputs),
        inputs=spec(program.inputs),
        outputs=spec(program.outputs),
        run_args=", ".join(call),
        weight_specs="".join(f"{{{code}, {n}}}, " for code, n in specs) + "{0, 0}",  # a last entry: C++ has no empty arrays
        step=step_io if step_io is not None else render(os.path.join(RUNTIME, "model_io_no_step.hpp.in")).removesuffix("\n"),
    )


def _step_io(step: Program, slots: list[StateSlot], position: int) -> str:
    """run_step (runtime/model_io_step.hpp.in): the step function's run() with tokens, position
    and the state buffers (read from `state`, the new state written to `next`) in its argument order."""
    state_in, state_out = {s.arg: k for k, s in enumerate(slots)}, {s.result: k for k, s in enumerate(slots)}
    tokens = [i for i in range(len(step.inputs)) if i not in state_in and i != position]
    scores = [j for j in range(len(step.outputs)) if j not in state_out]
    if len(tokens) != 1 or len(scores) != 1 or np.dtype(step.outputs[scores[0]][2]) != np.float32:
        raise NsccError(
            "cpp target: the decoder must take one token input and give one float32 output (the scores)", "decode on the interpreter"
        )
    ids_shape, out_shape = step.inputs[tokens[0]][1], step.outputs[scores[0]][1]
    args = []
    for i, (_, _, d) in enumerate(step.inputs):
        args.append(
            "ids"
            if i == tokens[0]
            else "pos"
            if i == position
            else f"reinterpret_cast<const {C_TYPES[np.dtype(d)]}*>(state[{state_in[i]}].data())"
        )
    for j, (_, _, d) in enumerate(step.outputs):
        args.append("logits" if j == scores[0] else f"reinterpret_cast<{C_TYPES[np.dtype(d)]}*>(next[{state_out[j]}].data())")
    sizes = [int(np.prod(s.shape)) * np.dtype(s.dtype).itemsize for s in slots]
    return render(
        os.path.join(RUNTIME, "model_io_step.hpp.in"),
        batch=ids_shape[0],
        vocab=out_shape[-1],
        length=step.length,
        num_states=len(slots),
        state_bytes=", ".join(map(str, sizes or [0])),
        run_args=", ".join(args),
    ).removesuffix("\n")


def emit(ctx: NsccContext, module: ModuleOp, out_dir: str, source: str) -> list[str]:
    coding = module.attributes.get("nscc.spike_coding")
    coding = coding.data if isinstance(coding, StringAttr) else "thermometer"
    program = generate(module, ctx.weights, coding)
    step, slots, step_io = None, [], None
    if is_step_function(module) or (has_attention_state(module) and len(program.inputs) == 1):
        try:  # a decoder with linear attention also gets its token-by-token program: the decode-step function
            one = step_function(ctx, module)
            step = generate(one, ctx.weights, coding, struct="StepModel", shared=program)
        except NsccError:
            step = None
    if step is not None:
        step.length, slots = decode_length(one), state_slots(one)
        step_io = _step_io(step, slots, position_argument(one))
    with open(os.path.join(out_dir, "model.cpp"), "w") as f:
        f.write('// Generated by nscc from the IR; do not edit. Kernels: nscc_runtime.hpp.\n#include "nscc_runtime.hpp"\n')
        f.write(program.source)
        if step is not None:
            f.write(step.source)
    for name in RUNTIME_FILES:
        shutil.copy(os.path.join(RUNTIME, name), os.path.join(out_dir, name))
    write_integer_headers(out_dir)
    vocab = os.path.join(os.path.dirname(os.path.abspath(source)), "vocab.json")
    if step is not None and os.path.isfile(vocab):  # so that `nscc run OUT/ --generate --prompt TEXT` can spell tokens
        shutil.copy(vocab, os.path.join(out_dir, "vocab.json"))
    size, specs = write_weights(os.path.join(out_dir, WEIGHTS_FILE), program)
    with open(os.path.join(out_dir, "model_io.hpp"), "w") as f:
        f.write(_io_header(program, step_io, specs))
    with open(os.path.join(out_dir, "Makefile"), "w") as f:
        f.write(
            f"CXX ?= g++\nCXXFLAGS ?= {CXXFLAGS}\n\nmodel: main.cpp model.cpp model_io.hpp {' '.join(RUNTIME_HEADERS + INTEGER_HEADERS)}\n\t$(CXX) $(CXXFLAGS) -o $@ main.cpp\n"
        )
    manifest = {
        "target": "cpp",
        "source": os.path.basename(source),
        "inputs": [{"name": n, "shape": list(s), "dtype": str(np.dtype(d))} for n, s, d in program.inputs],
        "outputs": [{"name": n, "shape": list(s), "dtype": str(np.dtype(d))} for n, s, d in program.outputs],
        "layers": program.layers,
        "decoder": step is not None,
        "state": [{"name": x.name, "shape": list(x.shape), "dtype": str(x.dtype)} for x in slots],
        "weight_file_bytes": size,
    }
    with open(os.path.join(out_dir, MANIFEST_FILE), "w") as f:
        json.dump(manifest, f, indent=2)
    return sorted(os.listdir(out_dir))


# --- build and run ------------------------------------------------------------------------


def cache_dir() -> str:
    return os.environ.get("NSCC_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "nscc")


@functools.cache
def _compiler_identity(cxx: str, mtime: float) -> str:
    """The compiler's path and version: a different compiler is a different build."""
    r = subprocess.run([cxx, "--version"], capture_output=True, text=True)
    return f"{cxx}\n{r.stdout.splitlines()[0] if r.stdout else ''}"


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def simulator_env() -> dict[str, str]:
    """Idle OpenMP threads spin for a few microseconds, then sleep, unless the user chose
    a policy. Sleeping at once (OMP_WAIT_POLICY=passive) wakes the team at each of a
    forward's hundreds of parallel loops; spinning longer (libgomp's default) made decoding
    27x slower on a shared machine. GOMP_SPINCOUNT=300 is where, on the 2-core Xeon of
    docs/targets.md, a SmolLM2 forward lost nothing with a busy core beside it against
    sleeping at once, and gained 3-7 % on a quiet machine; 1000 already lost 30 % beside
    the busy core."""
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return {"OMP_WAIT_POLICY": "passive", **os.environ}
    return {**os.environ, "OMP_WAIT_POLICY": "passive", "GOMP_SPINCOUNT": "300"}


def _cached(exe: str) -> bool:
    """A cached binary is used only if it is the one nscc built: same bytes as recorded."""
    try:
        with open(exe + ".sha256") as f:
            return os.access(exe, os.X_OK) and os.path.getsize(exe) > 0 and _sha256(exe) == f.read().strip()
    except OSError:
        return False


def build(project: str) -> str:
    """The compiled simulator for a project directory, built once per content hash
    (sources, flags, compiler and its version)."""
    cxx = shutil.which(os.environ.get("CXX", "g++"))
    if cxx is None:
        raise NsccError(
            f"cpp target: no C++ compiler '{os.environ.get('CXX', 'g++')}' found", "install g++ (12 or newer, with OpenMP) or set CXX"
        )
    cxx = os.path.realpath(cxx)
    h = hashlib.sha256(CXXFLAGS.encode() + b"\0" + _compiler_identity(cxx, os.path.getmtime(cxx)).encode())
    for name in ("main.cpp", "model.cpp", "model_io.hpp", *RUNTIME_HEADERS, *INTEGER_HEADERS):
        with open(os.path.join(project, name), "rb") as f:
            h.update(f.read())
    exe = os.path.join(cache_dir(), "cpp", h.hexdigest()[:20], "model")
    if _cached(exe):
        return exe
    try:
        os.makedirs(os.path.dirname(exe), exist_ok=True)
    except OSError as e:
        raise NsccError(
            f"cpp target: cannot write the build cache {os.path.dirname(exe)} ({e.strerror})", "set NSCC_CACHE to a writable folder"
        ) from None
    tmp = exe + f".tmp{os.getpid()}"
    from nscc.progress import spinner

    with spinner("building the C++ simulator"):
        r = subprocess.run([cxx, *CXXFLAGS.split(), "-o", tmp, "main.cpp"], cwd=project, capture_output=True, text=True)
    if r.returncode != 0:
        first = next((ln for ln in r.stderr.splitlines() if "error" in ln), r.stderr.strip().splitlines()[0] if r.stderr.strip() else "")
        raise NsccError(
            f"cpp target: the build failed: {first.strip()}", f"the project is in {project}; `make -C {project}` shows the whole log"
        )
    digest = _sha256(tmp)
    with open(tmp + ".sha256", "w") as f:
        f.write(digest)
    os.replace(tmp, exe)
    os.replace(tmp + ".sha256", exe + ".sha256")
    return exe


def run_project(project: str, inputs: dict[str, np.ndarray], repeat: int = 1) -> tuple[dict[str, np.ndarray], dict]:
    """Builds (cached) and runs a compiled project on named inputs; returns outputs and counters."""
    with open(os.path.join(project, MANIFEST_FILE)) as f:
        manifest = json.load(f)
    exe = build(project)
    with tempfile.TemporaryDirectory(prefix="nscc-run-") as tmp:
        args = [exe, os.path.join(project, WEIGHTS_FILE)]
        for i, spec in enumerate(manifest["inputs"]):
            if spec["name"] not in inputs:
                raise NsccError(
                    f"missing input '{spec['name']}' (shape {spec['shape']}, {spec['dtype']})",
                    f"pass it with --input {spec['name']}=FILE.npy",
                )
            a = np.asarray(inputs[spec["name"]])
            if list(a.shape) != spec["shape"]:
                raise NsccError(
                    f"input '{spec['name']}' has shape {list(a.shape)}, the model expects {spec['shape']}",
                    "the shapes were fixed at compile time (--dim)",
                )
            if not np.can_cast(a.dtype, spec["dtype"], "same_kind"):
                raise NsccError(
                    f"input '{spec['name']}' has dtype {a.dtype}, the model expects {spec['dtype']}", "convert the array before saving it"
                )
            path = os.path.join(tmp, f"in{i}.npy")
            np.save(path, np.array(a, dtype=spec["dtype"], order="C"))  # ascontiguousarray would make a scalar 1-d
            args += ["--input", path]
        extra = set(inputs) - {s["name"] for s in manifest["inputs"]}
        if extra:
            raise NsccError(
                f"unknown input '{sorted(extra)[0]}'", "the model's inputs are " + ", ".join(s["name"] for s in manifest["inputs"])
            )
        outs = [os.path.join(tmp, f"out{j}.npy") for j in range(len(manifest["outputs"]))]
        for p in outs:
            args += ["--output", p]
        cpath = os.path.join(tmp, "counters.json")
        args += ["--counters", cpath, "--repeat", str(repeat)]
        r = subprocess.run(args, capture_output=True, text=True, env=simulator_env())
        if r.returncode != 0:
            raise NsccError(
                f"cpp target: the simulator failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}",
                "rerun with --target interpreter to compare",
            )
        outputs = {s["name"]: np.load(p) for s, p in zip(manifest["outputs"], outs)}
        with open(cpath) as f:
            ctr = json.load(f)
        for row in ctr["layers"]:
            row["layer"] = manifest["layers"][row["index"]]
    if r.stderr:
        sys.stderr.write(r.stderr)
    return outputs, ctr


def generate_project(project: str, prompt: list[int], n: int) -> tuple[list[int], dict]:
    """Greedy decoding with the simulator's token-by-token program: (generated ids, timings)."""
    with open(os.path.join(project, MANIFEST_FILE)) as f:
        manifest = json.load(f)
    if not manifest.get("decoder"):
        raise NsccError(
            f"{project}: the model has no token-by-token form",
            "decoding needs linear attention (-p 'raise-attention,linear-attention,...')",
        )
    exe = build(project)
    with tempfile.TemporaryDirectory(prefix="nscc-gen-") as tmp:
        np.save(os.path.join(tmp, "prompt.npy"), np.asarray(prompt, np.int64))
        out, info = os.path.join(tmp, "ids.npy"), os.path.join(tmp, "info.json")
        r = subprocess.run(
            [exe, os.path.join(project, WEIGHTS_FILE), "--generate", str(n), "--prompt-ids", os.path.join(tmp, "prompt.npy"), "--output", out, "--counters", info],
            capture_output=True, text=True, env=simulator_env(),
        )  # fmt: skip
        if r.returncode != 0:
            raise NsccError(
                f"cpp target: {r.stderr.strip().splitlines()[-1].removeprefix('nscc-sim: error: ') if r.stderr.strip() else 'the simulator failed'}",
                "check the prompt length against the compiled sequence length",
            )
        with open(info) as f:
            return np.load(out).tolist(), json.load(f)


# --- the target interface (targets/__init__.py) ------------------------------------------

DESCRIPTION = "C++/OpenMP simulator: a C++17 project (event-driven synapses, bit-exact snn ops), built and run by `nscc run`"


def summary(out_dir: str) -> list[str]:
    with open(os.path.join(out_dir, MANIFEST_FILE)) as f:
        decoder = json.load(f).get("decoder")
    also = f", or decode with `nscc run {out_dir} --generate 20 --prompt-ids 1,2,3`" if decoder else ""
    return [f"run it with `nscc run {out_dir} --input NAME=FILE.npy` (built once, cached){also}"]


def recognizes(path: str) -> bool:
    manifest = os.path.join(path, MANIFEST_FILE)
    if not os.path.isfile(manifest) or not os.path.isfile(os.path.join(path, "model.cpp")):
        return False
    try:
        with open(manifest) as f:
            return json.load(f).get("target") == "cpp"
    except (OSError, ValueError, AttributeError):
        return False


def input_names(path: str) -> list[str]:
    with open(os.path.join(path, MANIFEST_FILE)) as f:
        return [s["name"] for s in json.load(f)["inputs"]]


run_built = run_project
generate_built = generate_project
