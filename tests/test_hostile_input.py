"""Hostile input and data loss (issue 15): nscc never reads outside the model, never
deletes a user's folder, and answers bad input with one line and a non-zero exit."""

import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")
MLP = os.path.join(ROOT, "examples", "digits_mlp", "model.onnx")


def nscc(*args, cwd=None):
    r = subprocess.run([sys.executable, "-m", "nscc", *args], capture_output=True, text=True, cwd=cwd)
    assert "Traceback" not in r.stderr, r.stderr
    return r


@pytest.fixture
def workdir(tmp_path):
    shutil.copy(MLP, tmp_path / "model.onnx")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.tex").write_text("years of work")
    return tmp_path


@pytest.mark.parametrize("out", [".", "", "notes", "MODELDIR", "PARENT"])
def test_output_never_replaces_a_users_folder(workdir, out):
    out = {"MODELDIR": str(workdir), "PARENT": str(workdir.parent)}.get(out, out)
    r = nscc("compile", "model.onnx", "--dim", "batch=1", "-o", out, cwd=workdir)
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1
    assert "nscc will not replace" in r.stderr or "-o is empty" in r.stderr
    assert (workdir / "notes" / "thesis.tex").read_text() == "years of work"
    assert (workdir / "model.onnx").exists()


def test_an_earlier_output_is_replaced_and_leftovers_of_a_killed_run_are_removed(workdir):
    assert nscc("compile", "model.onnx", "--dim", "batch=1", "-o", "out", cwd=workdir).returncode == 0
    assert (workdir / "out" / ".nscc-output").exists()
    dead = workdir / ".out.tmp-999999999-abc"  # no such process
    dead.mkdir()
    r = nscc("compile", "model.onnx", "--dim", "batch=2", "-o", "out", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert not dead.exists()
    assert "2x64" in (workdir / "out" / "model.mlir").read_text()
    assert sorted(p for p in os.listdir(workdir) if p.startswith(".out")) == []


def _external_model(folder, location, offset=None, length=None, dims=(4, 4)):
    """A model y = x @ W whose W is external data at `location` (as written, unchecked)."""
    import numpy as np
    from onnx import TensorProto, helper

    w = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=list(dims))
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", offset), ("length", length)):
        if v is not None:
            w.external_data.add(key=k, value=str(v))
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = os.path.join(folder, "model.onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    np.arange(16, dtype=np.float32).tofile(os.path.join(folder, "w.bin"))
    return path


@pytest.mark.parametrize(
    "location, offset, length, expect",
    [
        ("../../../../../../etc/passwd", None, None, "outside the model's folder"),
        ("/etc/passwd", None, None, "outside the model's folder"),
        ("LINK", None, None, "outside the model's folder"),
        ("FIFO", None, None, "not a regular file"),
        ("/dev/zero", None, None, "outside the model's folder"),
        ("DEVLINK", None, None, "outside the model's folder"),
        ("w.bin", -8, 64, "outside"),
        ("w.bin", 0, 1 << 62, "outside"),
        ("w.bin", 0, 32, "32 bytes of external data"),
        ("", None, None, "empty location"),
        ("w.bin", "x", None, "not an integer"),
    ],
)
def test_external_data_outside_the_model_is_never_read(tmp_path, location, offset, length, expect):
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    (tmp_path / "secret.bin").write_bytes(b"\x01" * 64)
    if location == "LINK":
        os.symlink(tmp_path / "secret.bin", model_dir / "link.bin")
        location = "link.bin"
    elif location == "FIFO":
        os.mkfifo(model_dir / "fifo.bin")
        location = "fifo.bin"
    elif location == "DEVLINK":
        os.symlink("/dev/zero", model_dir / "zero.bin")
        location = "zero.bin"
    path = _external_model(str(model_dir), location, offset, length)
    r = subprocess.run([sys.executable, "-m", "nscc", "opt", path], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "tensor 'W'" in r.stderr and expect in r.stderr, r.stderr


def test_well_formed_external_data_still_loads(tmp_path):
    path = _external_model(str(tmp_path), "w.bin", 0, 64)
    r = nscc("opt", path)
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def mlp_project(tmp_path_factory):
    import numpy as np

    if shutil.which("g++") is None:
        pytest.skip("needs g++")
    d = tmp_path_factory.mktemp("cpp")
    out = d / "mlp"
    r = nscc("compile", MLP, "-t", "cpp", "--dim", "batch=1", "-p", "spike-conversion,requant-fusion", "-o", str(out))
    assert r.returncode == 0, r.stderr
    np.save(d / "x.npy", np.zeros((1, 64), np.float32))
    return out, d / "x.npy"


def _run(project, x, cache):
    r = subprocess.run(
        [sys.executable, "-m", "nscc", "run", str(project), "--input", f"image={x}"],
        capture_output=True,
        text=True,
        env=dict(os.environ, NSCC_CACHE=str(cache)),
    )
    assert "Traceback" not in r.stderr, r.stderr
    return r


@pytest.mark.slow
@pytest.mark.parametrize(
    "field, value",
    [("count", 0xFFFFFFFF), ("ndim", 0xFFFF), ("offset", 2**64 - 64), ("nbytes", 2**64 - 1), ("dtype", 200), ("dim", -5)],
)
def test_a_crafted_weight_file_is_refused_not_crashed_on(mlp_project, tmp_path, field, value):
    import struct

    project, x = mlp_project
    bad = tmp_path / "p"
    shutil.copytree(project, bad)
    data = bytearray((bad / "weights.bin").read_bytes())
    at = {"count": (8, "<I"), "dtype": (12, "<B"), "ndim": (14, "<H"), "offset": (20, "<Q"), "nbytes": (28, "<Q"), "dim": (36, "<q")}
    pos, fmt = at[field]
    struct.pack_into(fmt, data, pos, value)
    (bad / "weights.bin").write_bytes(bytes(data))
    r = _run(bad, x, tmp_path / "cache")
    assert r.returncode > 0, (r.returncode, r.stderr)  # an error exit, not a signal
    assert "weight file" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.slow
def test_the_build_cache_runs_only_what_nscc_built(mlp_project, tmp_path):
    project, x = mlp_project
    cache = tmp_path / "cache"
    assert _run(project, x, cache).returncode == 0
    (exe,) = [p for p in cache.rglob("model") if p.is_file()]
    marker = tmp_path / "pwned"
    exe.write_text(f"#!/bin/sh\ntouch {marker}\n")  # a replaced binary
    exe.chmod(0o755)
    r = _run(project, x, cache)
    assert r.returncode == 0, r.stderr
    assert not marker.exists()
    exe.write_bytes(b"")  # a broken entry is rebuilt, not fatal forever
    assert _run(project, x, cache).returncode == 0
    assert exe.stat().st_size > 0


def test_names_with_terminal_escapes_are_printed_escaped(tmp_path):
    import numpy as np
    import onnx

    m = onnx.load(MLP)
    evil = "\x1b[2J\x1b]0;owned\x07"
    rename = {t.name: evil + t.name for t in m.graph.initializer}
    rename[m.graph.output[0].name] = "logits" + evil
    for t in m.graph.initializer:
        t.name = rename[t.name]
    for n in m.graph.node:
        n.input[:] = [rename.get(i, i) for i in n.input]
        n.output[:] = [rename.get(o, o) for o in n.output]
    m.graph.output[0].name = rename[m.graph.output[0].name]
    onnx.save(m, tmp_path / "evil.onnx")
    np.save(tmp_path / "x.npy", np.zeros((2, 64), np.float32))
    r = nscc(
        "run",
        str(tmp_path / "evil.onnx"),
        "--input",
        f"image={tmp_path / 'x.npy'}",
        "-p",
        "spike-conversion",
        "--report",
        str(tmp_path / "r.json"),
    )
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout + r.stderr and "\x07" not in r.stdout + r.stderr
    assert "\\x1b[2J" in r.stdout  # the layer table and the output line name them, escaped


@pytest.mark.parametrize("op", ["ConstantOfShape", "Range"])
def test_a_tiny_model_of_a_huge_tensor_is_refused_before_it_is_built(tmp_path, op):
    import onnx
    from onnx import TensorProto, helper

    if op == "ConstantOfShape":
        shape = helper.make_tensor("shape", TensorProto.INT64, [2], [1 << 20, 1 << 20])
        nodes = [helper.make_node("ConstantOfShape", ["shape"], ["big"]), helper.make_node("ReduceSum", ["big"], ["y"], keepdims=0)]
        inits, elem = [shape], TensorProto.FLOAT
    else:
        lim = helper.make_tensor("limit", TensorProto.INT64, [], [1 << 40])
        zero = helper.make_tensor("zero", TensorProto.INT64, [], [0])
        one = helper.make_tensor("one", TensorProto.INT64, [], [1])
        nodes = [helper.make_node("Range", ["zero", "limit", "one"], ["big"]), helper.make_node("ReduceSum", ["big"], ["y"], keepdims=0)]
        inits, elem = [lim, zero, one], TensorProto.INT64
    g = helper.make_graph(nodes, "g", [], [helper.make_tensor_value_info("y", elem, [])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    assert os.path.getsize(tmp_path / "m.onnx") < 400
    r = subprocess.run([sys.executable, "-m", "nscc", "opt", str(tmp_path / "m.onnx")], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "over the limit" in r.stderr and "--max-elements" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_dimension_of_2_63_is_one_clear_error():
    r = nscc("opt", MLP, "--dim", f"batch={2**63}")
    assert r.returncode != 0 and "below 2^31" in r.stderr


@pytest.mark.parametrize("ref", ["../secret.npz", "/etc/passwd", "LINK", "missing.npz"])
def test_a_dump_reads_weights_only_from_its_own_folder(tmp_path, ref):
    dump = tmp_path / "d"
    dump.mkdir()
    assert nscc("opt", MLP, "--dim", "batch=1", "-o", str(dump / "m.mlir")).returncode == 0
    shutil.copy(dump / "m.weights.npz", tmp_path / "secret.npz")
    if ref == "LINK":
        os.symlink(tmp_path / "secret.npz", dump / "link.npz")
        ref = "link.npz"
    text = (dump / "m.mlir").read_text().replace('"m.weights.npz"', f'"{ref}"')
    (dump / "m.mlir").write_text(text)
    r = nscc("opt", str(dump / "m.mlir"))
    why = "weight file not found" if ref == "missing.npz" else "not a file in the dump's folder"
    assert r.returncode != 0 and why in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


MALFORMED_PIPELINES = [
    "spike-conversion{levels=15 levels=7}",
    "bit-allocation{pin=}",
    "spike-conversion{",
    "spike-conversion}",
    "spike-conversion{levels=}",
    "spike-conversion{levels=abc}",
    "spike-conversion{nope=1}",
    ",,",
    "{}",
    'spike-conversion{levels="x}',
    "spike-conversion{levels=[1,2}",
    "no-such-pass",
    "spike-conversion{levels=1e999}",
    "spike-conversion{levels=-1}",
    "spike-conversion{weight-bits=-1}",
    "spike-conversion{{levels=3}}",
    "spike-conversion levels=3",
]


@pytest.mark.parametrize("spec", MALFORMED_PIPELINES)
def test_a_malformed_pipeline_is_one_clear_line(spec):
    r = nscc("opt", MLP, "--dim", "batch=1", "-p", spec)
    assert r.returncode == 1, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("nscc: error:") and "(hint:" in r.stderr, r.stderr


def test_unknown_names_are_errors_listing_the_valid_ones():
    r = nscc("opt", MLP, "--dim", "batch=1", "-p", "spike-conversion", "--print-ir-after", "spike-convrsion")
    assert r.returncode == 1 and "spike-convrsion" in r.stderr and "the pipeline runs spike-conversion" in r.stderr
    r = nscc("opt", MLP, "--dim", "batchh=1")
    assert r.returncode == 1 and "--dim batchh" in r.stderr and "dynamic dimensions are batch" in r.stderr


# Non-finite values matter for calibration only: inputs to `run` may hold any float (the
# model's arithmetic decides), and labels are integers.
BAD_FILES = [(flag, content) for flag in ("--input", "--calib", "--labels") for content in ("empty npy", "empty npz", "object npz")]
BAD_FILES += [("--calib", content) for content in ("nan", "inf", "huge")]


@pytest.mark.parametrize("flag, content", BAD_FILES)
def test_bad_data_files_are_one_clear_line(tmp_path, flag, content):
    import numpy as np

    f = tmp_path / ("d.npy" if content == "empty npy" else "d.npz")
    if content.startswith("empty"):
        f.write_bytes(b"")
    elif content == "object npz":
        np.savez(f, image=np.array([{"a": 1}] * 2, dtype=object))
    else:
        x = np.zeros((4, 64), np.float32)
        x[1, 3] = {"nan": np.nan, "inf": np.inf, "huge": 3e38}[content]
        np.savez(f, image=x)
    calib = os.path.join(ROOT, "examples", "digits_mlp", "calib.npz")
    if flag == "--input":
        args = ["run", MLP, "--input", f"image={f}" if f.suffix == ".npy" else str(f)]
    elif flag == "--calib":
        args = ["opt", MLP, "--dim", "batch=2", "--calib", str(f), "-p", "spike-conversion"]
    else:
        args = ["analyze", MLP, "--dim", "batch=2", "--calib", calib, "--labels", str(f), "-o", str(tmp_path / "a")]
    r = nscc(*args)
    assert r.returncode == 1, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("nscc: error")]
    assert len(errors) == 1 and str(f) in errors[0], r.stderr
    assert "RuntimeWarning" not in r.stderr


@pytest.mark.slow
def test_gather_ids_out_of_range_are_refused_alike_by_interpreter_and_simulator(tmp_path):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    table = helper.make_tensor("table", TensorProto.FLOAT, [10, 4], np.arange(40, dtype=np.float32))
    g = helper.make_graph(
        [helper.make_node("Gather", ["table", "ids"], ["y"], axis=0)],
        "g",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4])],
        [table],
    )
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "g.onnx")
    np.save(tmp_path / "ok.npy", np.array([[1, -1, 9]], np.int64))
    np.save(tmp_path / "bad.npy", np.array([[1, 99, 2]], np.int64))
    for target in ("interpreter", "cpp"):
        ok = nscc("run", str(tmp_path / "g.onnx"), "-t", target, "--input", f"ids={tmp_path / 'ok.npy'}")
        assert ok.returncode == 0, ok.stderr
        bad = nscc("run", str(tmp_path / "g.onnx"), "-t", target, "--input", f"ids={tmp_path / 'bad.npy'}")
        assert bad.returncode == 1 and "gather index 99 is out of range for an axis of 10" in bad.stderr, (target, bad.stderr)
        assert len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args", [["compile"], ["bogus"], [], ["compile", "m.onnx", "-o", "x", "--dim", "a"], ["run", "m.onnx", "-t", "vck190"]]
)
def test_usage_errors_are_one_line(args):
    r = nscc(*args)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--help" in r.stderr, r.stderr


def _renamed_mlp(tmp_path, weight_name, output_name):
    import onnx

    m = onnx.load(MLP)
    first = m.graph.initializer[0].name
    m.graph.initializer[0].name = weight_name
    for n in m.graph.node:
        n.input[:] = [weight_name if i == first else i for i in n.input]
        n.output[:] = [output_name if o == m.graph.output[0].name else o for o in n.output]
    m.graph.output[0].name = output_name
    path = tmp_path / "m.onnx"
    onnx.save(m, path)
    return path


def test_names_that_are_numpy_keywords_survive_npz_files(tmp_path):
    import numpy as np

    path = _renamed_mlp(tmp_path, "file", "allow_pickle")
    out = tmp_path / "out"
    assert nscc("compile", str(path), "--dim", "batch=2", "-o", str(out), "-p", "").returncode == 0  # the float model's weights
    assert "file" in np.load(out / "model.weights.npz").files
    np.save(tmp_path / "x.npy", np.ones((2, 64), np.float32))
    r = nscc("run", str(out), "--input", f"image={tmp_path / 'x.npy'}", "--output", str(tmp_path / "y.npz"))
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path / "y.npz")["allow_pickle"].shape == (2, 10)


@pytest.mark.parametrize("name", ["nul\0name", "x" * 100_000])
def test_names_an_npz_cannot_hold_are_one_clear_error(tmp_path, name):
    path = _renamed_mlp(tmp_path, name, "logits")
    r = nscc("compile", str(path), "--dim", "batch=2", "-o", str(tmp_path / "out"), "-p", "")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "cannot be a key" in r.stderr, r.stderr[:500]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", ["duplicate output", "duplicate input", "negative dim"])
def test_graphs_breaking_single_assignment_are_refused(tmp_path, case):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="a")]
    inputs, inits = [x], []
    if case == "duplicate output":
        nodes.append(helper.make_node("Neg", ["x"], ["y"], name="b"))
    elif case == "duplicate input":
        inputs.append(helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]))
    else:
        t = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[-1, 4])
        inits.append(t)
    m = helper.make_model(helper.make_graph(nodes, "g", inputs, [y], inits), opset_imports=[helper.make_opsetid("", 17)])
    with open(tmp_path / "m.onnx", "wb") as f:
        f.write(m.SerializeToString())
    r = nscc("opt", str(tmp_path / "m.onnx"))
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert ("defined twice" if case != "negative dim" else "negative dimension") in r.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "3e38"])
@pytest.mark.parametrize("where", ["weight", "bias"])
def test_non_finite_weights_are_one_clear_error_naming_the_layer(tmp_path, value, where):
    import onnx
    from onnx import numpy_helper

    m = onnx.load(MLP)
    t = next(t for t in m.graph.initializer if t.name.endswith(where))
    a = numpy_helper.to_array(t).copy()
    a.flat[3] = float(value)
    t.CopyFrom(numpy_helper.from_array(a, t.name))
    onnx.save(m, tmp_path / "m.onnx")
    calib = os.path.join(ROOT, "examples", "digits_mlp", "calib.npz")
    r = nscc("compile", str(tmp_path / "m.onnx"), "--dim", "batch=2", "--calib", calib, "-p", "spike-conversion", "-o", str(tmp_path / "o"))
    assert r.returncode == 1, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if "error" in ln]
    assert len(errors) == 1 and ("layer '" in errors[0] or "not finite" in errors[0]), r.stderr
    assert "RuntimeWarning" not in r.stderr


def test_simulator_threads_sleep_when_idle_and_small_loops_stay_serial(monkeypatch):
    from nscc.targets.cpp import RUNTIME, RUNTIME_HEADERS, simulator_env

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    env = simulator_env()
    assert env["OMP_WAIT_POLICY"] == "passive" and int(env["GOMP_SPINCOUNT"]) <= 300  # a few microseconds
    monkeypatch.setenv("OMP_WAIT_POLICY", "active")
    assert simulator_env()["OMP_WAIT_POLICY"] == "active" and "GOMP_SPINCOUNT" not in simulator_env()  # the user's choice stands
    monkeypatch.delenv("OMP_WAIT_POLICY")
    monkeypatch.setenv("GOMP_SPINCOUNT", "10000")
    assert simulator_env()["GOMP_SPINCOUNT"] == "10000"
    src = "".join(open(os.path.join(RUNTIME, h)).read() for h in RUNTIME_HEADERS)
    pragmas = [ln for ln in src.splitlines() if ln.startswith("#pragma omp parallel")]
    # `parallel :` keeps a combined `parallel for simd`'s condition off its simd part
    assert pragmas and all(re.search(r"if \((parallel : )?parallel_(worth|elements)\(", ln) for ln in pragmas)


@pytest.mark.slow
def test_an_encoder_op_without_an_integer_form_is_refused_plainly(tmp_path):
    """Encoders run on the VCK190 (tests/test_families.py); this one has a tanh pooler and
    its padding mask written as (1 - mask) * c, which have no integer form: both are named,
    before calibration."""
    torch = pytest.importorskip("torch")
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import torch_models as M

    ids, mask = torch.randint(0, 100, (2, 8)), torch.ones(2, 8, dtype=torch.int64)
    path = M.export(M.Bert(), (ids, mask), str(tmp_path / "bert.onnx"), ["ids", "attention_mask"], ["hidden", "pooled"])
    pipe = "raise-attention,linear-attention,fuse-gelu,spike-conversion,requant-fusion,integer-islands"
    r = nscc("compile", path, "-t", "vck190", "-p", pipe, "-o", str(tmp_path / "p"))
    assert r.returncode == 1 and "would stay float in the integer-only kernel (nn.sub, nn.tanh)" in r.stderr, r.stderr
    assert "spike-conversion:" not in r.stderr and "Traceback" not in r.stderr


def test_vck190_advice_names_only_the_passes_the_pipeline_lacks(tmp_path):
    lm = os.path.join(ROOT, "examples", "char_lm", "linear")
    args = [
        "compile",
        os.path.join(lm, "model.onnx"),
        "-t",
        "vck190",
        "--calib",
        os.path.join(lm, "calib.npz"),
        "-o",
        str(tmp_path / "p"),
        "-p",
    ]
    r = nscc(*args, "raise-attention,linear-attention,spike-conversion")  # refused before calibration
    assert r.returncode == 1 and "would stay float" in r.stderr and "put fuse-gelu" in r.stderr, r.stderr
    assert "spike-conversion:" not in r.stderr
    r = nscc(*args, "raise-attention,linear-attention,fuse-gelu,spike-conversion")
    assert r.returncode == 1 and "add integer-islands to the pipeline" in r.stderr, r.stderr
    r = nscc(*args, "raise-attention,linear-attention,fuse-gelu,spike-conversion,requant-fusion")
    assert (
        r.returncode == 1 and "add integer-islands to the pipeline" in r.stderr and "spike-conversion," not in r.stderr.split("hint")[1]
    ), r.stderr


def test_decoding_limits_are_checked_before_calibration(tmp_path):
    import time

    lm = os.path.join(ROOT, "examples", "char_lm", "linear", "model.onnx")
    t = time.perf_counter()
    r = nscc("run", lm, "-p", "raise-attention,linear-attention,spike-conversion", "--generate", "500", "--prompt", "The ")
    assert r.returncode == 1 and "exceeds the 64 positions" in r.stderr and "static at 64 positions" in r.stderr and "--dim" not in r.stderr
    assert "calibrating" not in r.stderr and time.perf_counter() - t < 20
    shutil.copy(lm, tmp_path / "m.onnx")  # no vocab.json beside it
    r = nscc(
        "run", str(tmp_path / "m.onnx"), "-p", "raise-attention,linear-attention,spike-conversion", "--generate", "5", "--prompt", "The"
    )
    assert r.returncode == 1 and "needs a vocab.json" in r.stderr and "calibrating" not in r.stderr


@pytest.mark.slow
def test_a_weight_file_from_another_model_is_refused(mlp_project, tmp_path):
    project, x = mlp_project
    other = tmp_path / "other"
    r = nscc("compile", MLP, "-t", "cpp", "--dim", "batch=1", "-p", "spike-conversion{weight-bits=4},requant-fusion", "-o", str(other))
    assert r.returncode == 0, r.stderr
    swapped = tmp_path / "swapped"
    shutil.copytree(project, swapped)
    shutil.copy(other / "weights.bin", swapped / "weights.bin")  # same layers, other widths: same entry count
    r = _run(swapped, x, tmp_path / "cache")
    assert r.returncode == 1 and "does not belong to this model" in r.stderr, r.stderr
