"""NIR import: snnTorch networks and hand-made NIR graphs spike in nscc as their frameworks
and the discretisation rule of docs/interop.md say, on every target; bad graphs get one line."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

nir = pytest.importorskip("nir")
pytest.importorskip("snntorch")

import nir_models as M

from nscc.driver import compile_model
from nscc.errors import NsccError
from nscc.frontend.nir_import import dyadic_rows, import_nir
from nscc.ir import snn
from nscc.ir.textio import module_text, parse_module
from nscc.semantics.interpreter import run

STEPS = 60


def nscc_spikes(graph, x: np.ndarray, dt: float | None = None) -> np.ndarray:
    ctx, module = import_nir(graph, {"time": x.shape[0]}, dt)
    (out,) = run(module, ctx.weights, {"input": x}).values()
    return out.reshape(x.shape[0], -1)


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_snntorch_networks_on_a_power_of_two_grid_spike_exactly_as_in_snntorch(family):
    """Weights on 2^-6 and decays 1 - 2^-k: the discretisation is exact, so every spike matches."""
    net, shape = getattr(M, family)()
    graph = M.export(net, shape)
    x = M.spikes(shape, STEPS)
    ref = M.snntorch_run(graph, x)
    out = nscc_spikes(graph, x)
    assert ref.sum() > 20
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_snntorch_networks_with_float_weights_stay_within_the_stated_bound(family):
    """Weights off any grid and beta = 0.9: 16-bit weights and 16-bit decays; docs/interop.md
    states the bound as at most 0.1% of spikes differing, and on these networks none do."""
    beta = (0.9, 0.8, 0.95) if family == "mlp" else (0.9, 0.8)
    net, shape = getattr(M, family)(seed=3, dyadic=False, beta=beta)
    graph = M.export(net, shape)
    x = M.spikes(shape, STEPS, rate=0.5, seed=4)
    ref = M.snntorch_run(graph, x)
    out = nscc_spikes(graph, x)
    assert ref.sum() > 20
    assert (out != ref).mean() <= 1e-3


def test_a_norse_network_spikes_exactly_as_in_norse():
    """Norse 1.1's exporter writes tau = dt / tau_mem_inv, so its own step is NIR's rule with
    dt' = dt^2: read with --dt 1e-6, its LIFBox network (dt = 1 ms, decay 0.875 a step) spikes
    as in Norse, spike for spike."""
    nt = pytest.importorskip("norse.torch")
    import torch

    torch.manual_seed(0)
    lif = nt.LIFBoxCell(nt.LIFBoxParameters(tau_mem_inv=torch.tensor(125.0), v_th=torch.tensor(0.5)))
    net = nt.SequentialState(torch.nn.Linear(16, 8, bias=False), lif)
    with torch.no_grad():
        net[0].weight.copy_(torch.round(net[0].weight * 64 * 8) / 64)
    graph = nt.to_nir(net, torch.zeros(1, 16))
    x = M.spikes((16,), STEPS, rate=0.4, seed=5)
    ref, state = [], None
    with torch.no_grad():
        for t in range(STEPS):
            y, state = net(torch.from_numpy(x[t : t + 1]), state)
            ref.append(y.numpy().reshape(-1))
    ref = np.stack(ref)
    assert ref.sum() > 20
    np.testing.assert_array_equal(nscc_spikes(graph, x, dt=1e-6), ref)


def test_a_recurrent_snntorch_network_spikes_exactly_as_itself():
    """RLeaky exports as a LIF with an Affine back into itself: nscc makes it one
    snn.recurrent_lif (the weight rows of the last step's spikes added), and it spikes as the
    snnTorch network does, hidden layer and output."""
    net, shape = M.rnn()
    graph = M.export(net, shape)
    x = M.spikes(shape, STEPS, rate=0.4)
    ref = M.run_network(net, x)
    ctx, module = import_nir(graph, {"time": STEPS})
    assert any(isinstance(op, snn.RecurrentLifOp) for op in module.walk())
    (out,) = run(module, ctx.weights, {"input": x}).values()
    assert ref.sum() >= 5
    np.testing.assert_array_equal(out.reshape(STEPS, -1), ref)


def test_weights_on_a_grid_are_stored_exactly_and_others_to_16_bits():
    w = np.array([[0.5, -0.25, 0.0], [3.0, 1.0, -7.0], [0.0, 0.0, 0.0]])
    q, e, exact = dyadic_rows(w)
    assert exact and e.tolist() == [-2, 0, 0] and q[:, :3].tolist() == [[2, -1, 0], [3, 1, -7], [0, 0, 0]]
    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 7))
    q, e, exact = dyadic_rows(w)
    assert not exact and np.abs(q).max() <= 2**15 - 1
    err = np.abs(q * np.ldexp(1.0, e)[:, None] - w).max(axis=1)
    assert (err <= np.abs(w).max(axis=1) * 2.0**-15).all()


def _graph(nodes: dict, edges: list) -> "nir.NIRGraph":
    return nir.NIRGraph(nodes=nodes, edges=edges)


def reference(kind: str, x: np.ndarray, p: dict, dt: float) -> np.ndarray:
    """The discretisation of docs/interop.md in float64, per step (inputs already weighted)."""
    v = np.zeros(x.shape[1:])
    i = np.zeros(x.shape[1:])
    out = np.zeros_like(x)
    for t in range(x.shape[0]):
        if kind == "IF":
            v = v + p["r"] * x[t]
        elif kind in ("LIF", "LI"):
            k = dt / p["tau"]
            v = (1 - k) * v + k * (p["v_leak"] + p["r"] * x[t])
        elif kind == "CubaLIF":
            ks, km = dt / p["tau_syn"], dt / p["tau_mem"]
            i = (1 - ks) * i + ks * p["w_in"] * x[t]
            v = (1 - km) * v + km * (p["v_leak"] + p["r"] * i)
        elif kind == "I":
            v = v + p["r"] * x[t]
        elif kind == "Threshold":
            out[t] = x[t] > p["threshold"]
            continue
        if kind in ("LI", "I"):
            out[t] = v
            continue
        s = v > p["v_threshold"]
        v = np.where(s, p["v_reset"], v)
        out[t] = s
    return out


NEURONS = {
    "IF": lambda n: nir.IF(r=np.full(n, 0.5), v_threshold=np.full(n, 1.0), v_reset=np.full(n, -0.25)),
    "LIF": lambda n: nir.LIF(
        tau=np.full(n, 8e-3), r=np.full(n, 2.0), v_leak=np.full(n, 0.25), v_threshold=np.linspace(0.5, 1.0, n), v_reset=np.zeros(n)
    ),
    "CubaLIF": lambda n: nir.CubaLIF(
        tau_syn=np.full(n, 2e-3),
        tau_mem=np.full(n, 4e-3),
        r=np.full(n, 1.0),
        v_leak=np.zeros(n),
        v_threshold=np.full(n, 0.75),
        v_reset=np.zeros(n),
        w_in=np.full(n, 2.0),
    ),
    "LI": lambda n: nir.LI(tau=np.full(n, 4e-3), r=np.full(n, 1.0), v_leak=np.full(n, 0.5)),
    "I": lambda n: nir.I(r=np.full(n, 0.25)),
    "Threshold": lambda n: nir.Threshold(threshold=np.full(n, 0.5)),
}


@pytest.mark.parametrize("kind", list(NEURONS))
def test_each_neuron_kind_follows_the_discretisation_rule(kind):
    """Affine -> neuron on 1 ms steps with parameters on a power-of-two grid: nscc's integers equal the
    float64 reference of the rule exactly, spikes and membranes alike."""
    rng = np.random.default_rng(5)
    n_in, n = 6, 5
    w = np.round(rng.standard_normal((n, n_in)) * 16) / 16
    b = 0.5 + np.round(rng.random(n) * 8) / 16  # a positive drive: every kind fires
    node = NEURONS[kind](n)
    graph = _graph(
        {"input": nir.Input(np.array([n_in])), "fc": nir.Affine(w, b), "n": node, "output": nir.Output(np.array([n]))},
        [("input", "fc"), ("fc", "n"), ("n", "output")],
    )
    x = M.spikes((n_in,), 40, rate=0.4, seed=6)
    params = {
        f: np.asarray(getattr(node, f), np.float64) for f in node.__dataclass_fields__ if f not in ("input_type", "output_type", "metadata")
    }
    ref = reference(kind, x @ w.T + b, params, 1e-3)
    out = nscc_spikes(graph, x, dt=1e-3)
    if kind in ("LI", "I"):
        np.testing.assert_allclose(out, ref, rtol=0, atol=2.0**-12)
    else:
        assert ref.sum() > 20
        np.testing.assert_array_equal(out, ref)


def test_a_leak_current_below_one_weight_step_is_kept():
    """v_leak drives the membrane with no input at all: 0.3, 0.45, 0.525 -> a spike at steps 2 and 5.
    The offset is far below one unit of the identity weights' accumulator and must survive
    the requantization (its fraction bits)."""
    lif = nir.LIF(tau=np.full(2, 2e-4), r=np.full(2, 2.0), v_leak=np.full(2, 0.6), v_threshold=np.full(2, 0.5), v_reset=np.zeros(2))
    graph = _graph(
        {"input": nir.Input(np.array([2])), "fc": nir.Affine(np.eye(2), np.zeros(2)), "lif": lif, "output": nir.Output(np.array([2]))},
        [("input", "fc"), ("fc", "lif"), ("lif", "output")],
    )
    x = np.zeros((6, 2), np.float32)
    ref = reference("LIF", x, {f: np.asarray(getattr(lif, f), np.float64) for f in ("tau", "r", "v_leak", "v_threshold", "v_reset")}, 1e-4)
    assert ref[:, 0].tolist() == [0, 0, 1, 0, 0, 1]
    np.testing.assert_array_equal(nscc_spikes(graph, x, dt=1e-4), ref)


def test_pooling_negative_counts_keeps_their_sign():
    """Conv2d of weight -1, summed over 2x2 windows, then a weight layer: the pooled sums are
    negative counts (-4 a window), and the output -16 a step."""
    graph = _graph(
        {"input": nir.Input(np.array([1, 4, 4])), "conv": nir.Conv2d(None, -np.ones((1, 1, 1, 1)), 1, 0, 1, 1, np.zeros(1)),
         "pool": nir.SumPool2d(np.array([2, 2]), np.array([2, 2]), np.array([0, 0])), "flat": nir.Flatten(np.array([1, 2, 2]), 0, -1),
         "fc": nir.Affine(np.ones((1, 4)), np.zeros(1)), "output": nir.Output(np.array([1]))},
        [("input", "conv"), ("conv", "pool"), ("pool", "flat"), ("flat", "fc"), ("fc", "output")],
    )  # fmt: skip
    x = np.ones((3, 1, 4, 4), np.float32)
    np.testing.assert_array_equal(nscc_spikes(graph, x).reshape(-1), [-16.0, -16.0, -16.0])


def test_scale_sum_pooling_delay_and_a_1d_convolution():
    """Conv1d -> Scale -> IF, spikes pooled by SumPool2d, and a Delay of three steps."""
    rng = np.random.default_rng(8)
    w = np.round(rng.standard_normal((3, 2, 3)) * 8) / 8
    graph = _graph(
        {
            "input": nir.Input(np.array([2, 10])),
            "conv": nir.Conv1d(None, w, 1, 1, 1, 1, np.zeros(3)),
            "scale": nir.Scale(np.repeat(np.array([[0.5], [1.0], [2.0]]), 10, axis=1)),
            "if": nir.IF(r=np.ones((3, 10)), v_threshold=np.ones((3, 10)), v_reset=np.zeros((3, 10))),
            "delay": nir.Delay(np.full((3, 10), 3e-3)),
            "output": nir.Output(np.array([3, 10])),
        },
        [("input", "conv"), ("conv", "scale"), ("scale", "if"), ("if", "delay"), ("delay", "output")],
    )
    x = M.spikes((2, 10), 30, rate=0.5, seed=2)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1)))
    cur = np.stack([sum(np.einsum("ck,tck->t", w[o], xp[:, :, j : j + 3]) for _ in [0]) for o in range(3) for j in range(10)], 1)
    cur = cur.reshape(30, 3, 10) * np.array([0.5, 1.0, 2.0]).reshape(1, 3, 1)
    s = reference("IF", cur, {"r": 1.0, "v_threshold": 1.0, "v_reset": 0.0}, 1e-3)
    ref = np.concatenate([np.zeros((3, 3, 10)), s[:-3]])
    out = nscc_spikes(graph, x, dt=1e-3).reshape(30, 3, 10)
    assert s.sum() > 10
    np.testing.assert_array_equal(out, ref)

    pooled = _graph(
        {"input": nir.Input(np.array([1, 4, 4])), "pool": nir.SumPool2d(np.array([2, 2]), np.array([2, 2]), np.array([0, 0])),
         "if": nir.IF(r=np.ones((1, 2, 2)), v_threshold=np.full((1, 2, 2), 2.5), v_reset=np.zeros((1, 2, 2))),
         "output": nir.Output(np.array([1, 2, 2]))},
        [("input", "pool"), ("pool", "if"), ("if", "output")],
    )  # fmt: skip
    x = M.spikes((1, 4, 4), 20, rate=0.5, seed=3)
    sums = x.reshape(20, 1, 2, 2, 2, 2).sum(axis=(3, 5))
    ref = reference("IF", sums, {"r": 1.0, "v_threshold": 2.5, "v_reset": 0.0}, 1e-3)
    np.testing.assert_array_equal(nscc_spikes(pooled, x).reshape(20, 1, 2, 2), ref)


def mlp_file(tmp_path, steps: int = STEPS) -> tuple[str, str, np.ndarray]:
    net, shape = M.mlp()
    graph = M.export(net, shape)
    path = str(tmp_path / "mlp.nir")
    nir.write(path, graph)
    x = M.spikes(shape, steps)
    xs = str(tmp_path / "x.npy")
    np.save(xs, x)
    return path, xs, M.snntorch_run(graph, x)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["mlp", "cnn", "rnn"])
def test_snntorch_networks_are_bit_exact_on_the_simulator_and_in_csim(family, tmp_path):
    """snnTorch -> NIR -> nscc for the three targets: the simulator's spikes equal snnTorch's, and
    the VCK190 kernel's C simulation equals the interpreter's golden spikes."""
    from test_cpp_target import run_project

    net, shape = getattr(M, family)()
    graph = M.export(net, shape)
    path = str(tmp_path / f"{family}.nir")
    nir.write(path, graph)
    x = M.spikes(shape, STEPS, rate=0.4 if family == "rnn" else 0.3)
    ref = M.run_network(net, x) if family == "rnn" else M.snntorch_run(graph, x)
    calib = str(tmp_path / "calib.npz")
    np.savez(calib, input=x)
    cpp = str(tmp_path / "cpp")
    compile_model(path, "cpp", cpp, None, {"time": STEPS})
    out, _ = run_project(cpp, {"input": x})
    np.testing.assert_array_equal(out["output"].reshape(STEPS, -1), ref)
    pkg = str(tmp_path / "vck190")
    compile_model(path, "vck190", pkg, None, {"time": STEPS}, calib)
    from test_vck190_target import assert_csim_passes

    assert assert_csim_passes(pkg) == ref.size


def cli(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nscc", *args], capture_output=True, text=True, cwd=cwd)


def test_the_cli_compiles_and_runs_a_nir_file_with_the_steps_of_its_input(tmp_path):
    path, xs, ref = mlp_file(tmp_path)
    r = cli("run", path, "--input", xs, "--output", str(tmp_path / "y.npz"))
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npz")["output"].reshape(STEPS, -1), ref)
    r = cli("compile", path, "-o", str(tmp_path / "out"), "--dim", f"time={STEPS}")
    assert r.returncode == 0 and "default pipeline" not in r.stderr, r.stderr


def _refusal(graph, match: str, **kw) -> str:
    with pytest.raises(NsccError, match=match) as e:
        import_nir(graph, {"time": 10}, **kw)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_bad_graphs_are_refused_in_one_line_naming_the_node():
    w = np.ones((3, 3))
    lif = NEURONS["LIF"](3)
    cyclic = _graph(
        {"input": nir.Input(np.array([3])), "a": nir.Linear(w), "lif": lif, "back": nir.Linear(w), "output": nir.Output(np.array([3]))},
        [("input", "a"), ("a", "lif"), ("lif", "back"), ("back", "a"), ("lif", "output")],
    )
    assert "recurrent" in _refusal(cyclic, "closes a cycle")  # the back edge feeds a weight layer, not the neurons
    msg = _refusal(
        _graph(
            {"input": nir.Input(np.array([3])), "a": nir.Linear(w * 0.3), "b\x1b[31m": nir.Linear(w), "output": nir.Output(np.array([3]))},
            [("input", "a"), ("a", "b\x1b[31m"), ("b\x1b[31m", "output")],
        ),
        "unbounded sum",
    )
    assert "\x1b" not in msg
    fast = nir.LIF(tau=np.full(3, 1e-5), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3), v_reset=np.zeros(3))
    _refusal(
        _graph(
            {"input": nir.Input(np.array([3])), "a": nir.Linear(w), "lif": fast, "output": nir.Output(np.array([3]))},
            [("input", "a"), ("a", "lif"), ("lif", "output")],
        ),
        r"node 'lif' \(LIF\): its decay per step 1 - dt/tau is -9",
    )
    stuck = nir.LIF(tau=np.zeros(3), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3), v_reset=np.zeros(3))
    _refusal(
        _graph(
            {"input": nir.Input(np.array([3])), "a": nir.Linear(w), "lif": stuck, "output": nir.Output(np.array([3]))},
            [("input", "a"), ("a", "lif"), ("lif", "output")],
        ),
        r"node 'lif' \(LIF\): tau must be a positive number of seconds",
    )
    delays = _graph(
        {"input": nir.Input(np.array([3])), "d": nir.Delay(np.array([1e-4, 2e-4, 1e-4])), "output": nir.Output(np.array([3]))},
        [("input", "d"), ("d", "output")],
    )
    _refusal(delays, r"node 'd' \(Delay\): only one non-negative delay")
    inner = _graph(
        {"input": nir.Input(np.array([3])), "lif": fast, "output": nir.Output(np.array([3]))}, [("input", "lif"), ("lif", "output")]
    )
    nested = _graph(
        {"input": nir.Input(np.array([3])), "a": nir.Linear(w), "sub": inner, "output": nir.Output(np.array([3]))},
        [("input", "a"), ("a", "sub"), ("sub", "output")],
    )
    _refusal(nested, r"node 'sub.lif' \(LIF\): its decay")  # nested graphs are inlined, their nodes named by path


def test_bad_files_and_options_are_refused_in_one_line(tmp_path):
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5")
    for args, match in [
        (("compile", str(bad), "-o", str(tmp_path / "o")), "not a NIR file nscc can read"),
        (("compile", str(tmp_path / "none.nir"), "-o", str(tmp_path / "o")), "no such file"),
    ]:
        r = cli(*args)
        assert r.returncode != 0 and match in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        assert not os.path.exists(tmp_path / "o")
    path, _, _ = mlp_file(tmp_path)
    for args, match in [
        (("opt", path, "--dim", "batch=2"), "one dimension to bind, 'time'"),
        (("opt", path, "--dim", "time=70000"), "1 to 65536 steps"),
        (("opt", path, "--dt", "-1"), "positive number of seconds"),
    ]:
        r = cli(*args)
        assert r.returncode != 0 and match in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_an_imported_network_is_one_synapse_requant_and_lif_per_layer():
    net, shape = M.mlp()
    _, module = import_nir(M.export(net, shape), {"time": 8})
    names = [op.name for op in module.walk() if op.name.startswith("snn.")]
    assert names == [
        "snn.encode", "snn.synapse", "snn.requant", "snn.lif", "snn.synapse", "snn.requant", "snn.leaky_integrate", "snn.requant",
        "snn.lif", "snn.requant", "snn.decode",
    ]  # fmt: skip
    _, again = parse_module(module_text(module))
    assert again.is_structurally_equivalent(module)
    lifs = [op for op in module.walk() if isinstance(op, snn.LifOp)]
    assert all(op.attributes["nscc.layer"].data in ("1", "3") for op in lifs)
