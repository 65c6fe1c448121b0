"""The snn dialect: round trip, verifiers, and the interpreter against docs/semantics.md.

The references below are written from the document with plain Python
integers and loops, independently of the vectorized kernels they check.
"""

import os

import numpy as np
import pytest

from nscc.ir.textio import module_text, parse_module, read_module, write_module
from nscc.semantics import fixed
from nscc.semantics.interpreter import run

SNIPPET = os.path.join(os.path.dirname(__file__), "ir", "snn_ops.mlir")
FIXED = os.path.join(os.path.dirname(__file__), "ir", "snn_fixed_ops.mlir")
ATTENTION = os.path.join(os.path.dirname(__file__), "ir", "snn_attention_ops.mlir")
NEURONS = os.path.join(os.path.dirname(__file__), "ir", "snn_neuron_ops.mlir")
WINDOW = os.path.join(os.path.dirname(__file__), "ir", "snn_window_attention_ops.mlir")


def load():
    with open(SNIPPET) as f:
        return parse_module(f.read(), source=SNIPPET)


def rne(v: float) -> int:
    """Round half to even, on a Python float (exact for float32 values)."""
    return int(np.rint(v))


def ref_encode(x, theta, lo, hi):
    return [[min(max(rne(float(np.float32(v) / np.float32(theta))), lo), hi) for v in row] for row in x]


def ref_matmul(a, w):
    return [[sum(int(a[i][k]) * int(w[k][j]) for k in range(len(w))) for j in range(len(w[0]))] for i in range(len(a))]


def ref_requant(acc, mult, bias, shift, lo, hi):
    out = []
    for row in acc:
        r = []
        for j, v in enumerate(row):
            t = (int(v) + int(bias[j])) * int(mult[j]) + (1 << (shift - 1))
            r.append(min(max(t >> shift, lo), hi))  # Python >> on ints is floor: arithmetic shift
        out.append(r)
    return out


def ref_neuron(current, theta, leak):
    T = len(current)
    flat = [c.reshape(-1).tolist() for c in current]
    v = [0] * len(flat[0])
    out = []
    for t in range(T):
        s = []
        for i in range(len(v)):
            v[i] = v[i] - (v[i] >> leak) + flat[t][i]
            fire = 1 if v[i] >= theta else (-1 if v[i] <= -theta else 0)
            v[i] -= fire * theta
            s.append(fire)
        out.append(s)
    return np.array(out).reshape(current.shape)


def ref_linear_attention(q, k, v, s, state=None, norm=None):
    n, dk, dv = len(q), len(q[0]), len(v[0])
    S = [[0] * dv for _ in range(dk)] if state is None else [list(map(int, r)) for r in state]
    z = [0] * dk if norm is None else list(map(int, norm))
    num, den = [], []
    for t in range(n):
        for a in range(dk):
            z[a] = z[a] - (z[a] >> s) + int(k[t][a]) if s else z[a] + int(k[t][a])
            for b in range(dv):
                S[a][b] = (S[a][b] - (S[a][b] >> s) if s else S[a][b]) + int(k[t][a]) * int(v[t][b])
        num.append([sum(int(q[t][a]) * S[a][b] for a in range(dk)) for b in range(dv)])
        den.append(sum(int(q[t][a]) * z[a] for a in range(dk)))
    return num, den, S, z


@pytest.fixture
def program():
    ctx, module = load()
    rng = np.random.default_rng(7)
    ctx.weights.add("w", rng.integers(-8, 8, (8, 4)).astype(np.int8))
    ctx.weights.add("scale", rng.random(4).astype(np.float32) * 0.1)
    ctx.weights.add("bias", rng.standard_normal(4).astype(np.float32))
    ctx.weights.add("mult", rng.integers(1, 300, 4).astype(np.int32))
    ctx.weights.add("ibias", rng.integers(-50, 50, 4).astype(np.int32))
    ctx.weights.add("one", np.array(1.0, np.float32))
    ctx.weights.add("cw", rng.integers(-128, 128, (4, 2, 3, 3)).astype(np.int8))
    inputs = {
        "input0": (rng.standard_normal((2, 8)) * 3).astype(np.float32),
        "input1": np.array(0.37, np.float32),
        "input2": rng.integers(-4, 6, (5, 2, 4)).astype(np.int32),
        "input3": (rng.random((1, 2, 5, 5)) * 3.4).astype(np.float32),
        "input4": (rng.random((2, 6, 4)) * 3.4).astype(np.float32),
        "input5": rng.integers(-100, 100, (2, 4, 4)).astype(np.int32),
        "input6": rng.integers(0, 100, (2, 4)).astype(np.int32),
    }
    return ctx, module, inputs


def test_every_snn_op_round_trips_with_weights(tmp_path, program):
    ctx, module, _ = program
    from nscc.ir.snn import SNN

    seen = set()
    texts = [open(f).read() for f in (FIXED, ATTENTION, NEURONS, WINDOW)] + [FEATURE_MAP]
    for m in (module, *(parse_module(t, source='snn')[1] for t in texts)):
        text = module_text(m)
        _, again = parse_module(text)
        assert module_text(again) == text and again.is_structurally_equivalent(m)
        seen |= {op.name for op in m.walk() if op.name.startswith("snn.")}
    assert seen == {o.name for o in SNN.operations}
    path = str(tmp_path / "snn.mlir")
    write_module(ctx, module, path)
    ctx2, back = read_module(path)
    assert back.is_structurally_equivalent(module)
    for name in ("w", "cw", "mult", "scale"):
        np.testing.assert_array_equal(ctx2.weights[name], ctx.weights[name])
        assert ctx2.weights[name].dtype == ctx.weights[name].dtype


def test_interpreter_matches_the_written_semantics(program):
    ctx, module, inp = program
    w = ctx.weights
    out = run(module, w, inp)
    y, acc_t, acc_b, r, spikes, cacc, num, den, snum, sden, state2, norm2 = (out[f"output{i}"] for i in range(12))

    n = ref_encode(inp["input0"], inp["input1"], 0, 15)
    acc = ref_matmul(n, w["w"])
    # counts, thermometer and bit-plane forms: the same integers
    np.testing.assert_array_equal(acc_t, acc)
    np.testing.assert_array_equal(acc_b, acc)
    # decode: f32(acc) * scale + bias, each step rounded to float32
    ref_y = np.array(acc, np.float32) * w["scale"] + w["bias"]
    np.testing.assert_array_equal(y, ref_y)
    np.testing.assert_array_equal(r, ref_requant(acc, w["mult"], w["ibias"], 8, -7, 7))
    np.testing.assert_array_equal(spikes, ref_neuron(inp["input2"], 3, 2))

    ic = np.clip(np.rint(inp["input3"]), 0, 3).astype(int)
    cw = w["cw"].astype(int)
    ref_c = np.zeros((1, 4, 3, 3), int)
    for o in range(4):
        for i in range(3):
            for j in range(3):
                ref_c[0, o, i, j] = sum(
                    int(ic[0, c, i + a, j + b]) * int(cw[o, c, a, b]) for c in range(2) for a in range(3) for b in range(3)
                )
    np.testing.assert_array_equal(cacc, ref_c)

    c = np.clip(np.rint(inp["input4"]), 0, 3).astype(int)
    for h in range(2):
        rn, rd, _, _ = ref_linear_attention(c[h], c[h], c[h], 0)
        np.testing.assert_array_equal(num[h], rn)
        np.testing.assert_array_equal(den[h], rd)

    tok = ref_encode(inp["input0"][:, :4], inp["input1"], 0, 3)
    for h in range(2):
        rn, rd, S, z = ref_linear_attention([tok[h]], [tok[h]], [tok[h]], 3, inp["input5"][h], inp["input6"][h])
        np.testing.assert_array_equal(snum[h], rn)
        np.testing.assert_array_equal(sden[h], rd)
        np.testing.assert_array_equal(state2[h], S)
        np.testing.assert_array_equal(norm2[h], z)


@pytest.mark.parametrize("seed", range(5))
def test_counts_and_binary_forms_agree_on_random_inputs(seed):
    """Random shapes, levels and signedness: synapse over counts == over thermometer == over bit planes."""
    rng = np.random.default_rng(seed)
    levels = int(rng.choice([1, 3, 7, 15, 31]))
    signed = bool(rng.integers(0, 2))
    m, k, nout = (int(v) for v in rng.integers(1, 9, 3))
    bits = int(rng.choice([2, 4, 8]))
    sig = ", signed" if signed else ""
    tb = max(1, levels.bit_length())
    text = f"""builtin.module {{
  func.func @main(%x: tensor<{m}x{k}xf32>) -> (tensor<{m}x{nout}xi32>, tensor<{m}x{nout}xi32>, tensor<{m}x{nout}xi32>) {{
    %t = nn.weight "t" : tensor<f32>
    %n = snn.encode %x, %t : (tensor<{m}x{k}xf32>, tensor<f32>) -> !snn.counts<{m}x{k}, {levels}{sig}>
    %a = snn.expand %n : (!snn.counts<{m}x{k}, {levels}{sig}>) -> !snn.spikes<{levels}x{m}x{k}, thermometer{sig}>
    %b = snn.expand %n : (!snn.counts<{m}x{k}, {levels}{sig}>) -> !snn.spikes<{tb}x{m}x{k}, bitplane{sig}>
    %w = nn.weight "w" : tensor<{k}x{nout}xi{bits}>
    %0 = snn.synapse %n, %w {{acc_bits = 32 : i64}} : (!snn.counts<{m}x{k}, {levels}{sig}>, tensor<{k}x{nout}xi{bits}>) -> tensor<{m}x{nout}xi32>
    %1 = snn.synapse %a, %w {{acc_bits = 32 : i64}} : (!snn.spikes<{levels}x{m}x{k}, thermometer{sig}>, tensor<{k}x{nout}xi{bits}>) -> tensor<{m}x{nout}xi32>
    %2 = snn.synapse %b, %w {{acc_bits = 32 : i64}} : (!snn.spikes<{tb}x{m}x{k}, bitplane{sig}>, tensor<{k}x{nout}xi{bits}>) -> tensor<{m}x{nout}xi32>
    func.return %0, %1, %2 : tensor<{m}x{nout}xi32>, tensor<{m}x{nout}xi32>, tensor<{m}x{nout}xi32>
  }}
}}"""
    ctx, module = parse_module(text)
    ctx.weights.add("t", np.array(0.25, np.float32))
    half = 1 << (bits - 1)
    ctx.weights.add("w", rng.integers(-half, half, (k, nout)).astype(np.int8))
    x = (rng.standard_normal((m, k)) * levels * 0.3).astype(np.float32)
    out = run(module, ctx.weights, {"input0": x})
    n = ref_encode(x, 0.25, -levels if signed else 0, levels)
    ref = ref_matmul(n, ctx.weights["w"])
    for i in range(3):
        np.testing.assert_array_equal(out[f"output{i}"], ref)


@pytest.mark.parametrize("seed", range(4))
def test_grouped_synapse_sums_each_group_apart(seed):
    """Per-group weights: sum_G m[G, j] * sum_{k in G} n_k W[k, j], written out group by group."""
    rng = np.random.default_rng(seed)
    groups, g, m, nout = (int(v) for v in rng.integers(1, 5, 4))
    k = groups * g
    text = f"""builtin.module {{
  func.func @main(%x: tensor<{m}x{k}xf32>) -> tensor<{m}x{nout}xi32> {{
    %t = nn.weight "t" : tensor<f32>
    %n = snn.encode %x, %t : (tensor<{m}x{k}xf32>, tensor<f32>) -> !snn.counts<{m}x{k}, 15, signed>
    %w = nn.weight "w" : tensor<{k}x{nout}xi3>
    %gs = nn.weight "gs" : tensor<{groups}x{nout}xi8>
    %0 = snn.synapse %n, %w, %gs {{acc_bits = 32 : i64}} : (!snn.counts<{m}x{k}, 15, signed>, tensor<{k}x{nout}xi3>, tensor<{groups}x{nout}xi8>) -> tensor<{m}x{nout}xi32>
    func.return %0 : tensor<{m}x{nout}xi32>
  }}
}}"""
    ctx, module = parse_module(text)
    ctx.weights.add("t", np.array(0.5, np.float32))
    w = rng.integers(-4, 4, (k, nout)).astype(np.int8)
    gs = rng.integers(1, 128, (groups, nout)).astype(np.int8)
    ctx.weights.add("w", w)
    ctx.weights.add("gs", gs)
    x = (rng.standard_normal((m, k)) * 4).astype(np.float32)
    out = run(module, ctx.weights, {"input0": x})["output0"]
    n = ref_encode(x, 0.5, -15, 15)
    ref = [
        [sum(int(gs[G][j]) * sum(n[i][kk] * int(w[kk][j]) for kk in range(G * g, (G + 1) * g)) for G in range(groups)) for j in range(nout)]
        for i in range(m)
    ]
    np.testing.assert_array_equal(out, ref)


def test_verifier_rejects_a_group_scale_that_does_not_divide():
    text = """builtin.module {
  func.func @main(%n: !snn.counts<1x6, 3>) -> tensor<1x2xi32> {
    %w = nn.weight "w" : tensor<6x2xi4>
    %gs = nn.weight "gs" : tensor<4x2xi8>
    %0 = snn.synapse %n, %w, %gs {acc_bits = 32 : i64} : (!snn.counts<1x6, 3>, tensor<6x2xi4>, tensor<4x2xi8>) -> tensor<1x2xi32>
    func.return %0 : tensor<1x2xi32>
  }
}"""
    from nscc.errors import NsccError

    with pytest.raises(NsccError, match="group scale"):
        parse_module(text)


def test_verifier_rejects_an_accumulator_that_can_overflow():
    text = """builtin.module {
  func.func @main(%x: !snn.counts<1x4096, 255>) -> tensor<1x8xi16> {
    %w = nn.weight "w" : tensor<4096x8xi8>
    %0 = snn.synapse %x, %w {acc_bits = 16 : i64} : (!snn.counts<1x4096, 255>, tensor<4096x8xi8>) -> tensor<1x8xi16>
    func.return %0 : tensor<1x8xi16>
  }
}"""
    from nscc.errors import NsccError

    with pytest.raises(NsccError, match="can overflow"):
        parse_module(text)


def test_verifier_rejects_wrong_slot_count():
    text = """builtin.module {
  func.func @main(%x: !snn.counts<4, 15>) -> !snn.spikes<3x4, bitplane> {
    %0 = snn.expand %x : (!snn.counts<4, 15>) -> !snn.spikes<3x4, bitplane>
    func.return %0 : !snn.spikes<3x4, bitplane>
  }
}"""
    from nscc.errors import NsccError

    with pytest.raises(NsccError, match="needs 4 slots"):
        parse_module(text)


# --- fixed point, from docs/semantics.md with Python integers ---------------------------


def rshift(a: int, k: int) -> int:
    return (a + (1 << (k - 1))) >> k if k else a


def rdiv(a: int, b: int) -> int:
    return (2 * a + b) // (2 * b)


def sat(a: int) -> int:
    return max(-(2**31), min(2**31 - 1, a))


def ref_layer_norm(row, gamma, beta, f, r, eps, center=True):
    import math

    n = len(row)
    mu = rdiv(sum(row), n) if center else 0
    d = [x - mu for x in row]
    var = rdiv(sum(rshift(v, r) ** 2 for v in d), n) + eps
    sigma = max(math.isqrt(var), 1)
    return [sat(rshift(rdiv(v << (f - r), sigma) * g, fixed.GAMMA_BITS) + b) for v, g, b in zip(d, gamma, beta)]


# The references below are the written semantics, one element at a time; the
# constants come from their one table, nscc.semantics.fixed.
def ref_exp(t, f):
    lg, c1, c2 = fixed.softmax_constants(f)
    t = max(t, -(fixed.SOFTMAX_MIN << f))
    u = rshift(t * lg, fixed.LOG2E_BITS)
    z, fr = (-u) >> f, (-u) & ((1 << f) - 1)
    p = (1 << f) - rshift(fr * c1, f) + rshift(rshift(fr * fr, f) * c2, f)
    return p >> min(z, 62)


def ref_softmax(row, f):
    m = max(row)
    es = [ref_exp(x - m, f) for x in row]
    total = max(sum(es), 1)
    return [sat(rdiv(e << f, total)) for e in es]


def ref_gelu(x, f):
    inv_sqrt2, b, a = fixed.gelu_constants(f)
    xs = rshift(x * inv_sqrt2, fixed.INV_SQRT2_BITS)
    w = min(abs(xs), b) - b
    erf = rshift(rshift(w * w, f) * a, f) + (1 << f)
    erf = erf if xs > 0 else -erf if xs < 0 else 0
    return sat(rshift(x * ((1 << f) + erf), f + 1))


def ref_silu(x, f, alpha):
    xs = rshift(x * alpha, fixed.ALPHA_BITS)
    s = rdiv(1 << (2 * f), (1 << f) + ref_exp(-abs(xs), f))
    return sat(rshift(x * (s if xs >= 0 else (1 << f) - s), f))


def hadamard_factors():
    from nscc.quant.hadamard import kronecker_factors

    a, b = kronecker_factors(16, seed=3)  # 16 = 1 x 16: split it 2 x 8 to exercise both factors
    assert a.shape == (1, 1)
    h = np.array([[1, 1], [1, -1]], np.int8)
    return h, kronecker_factors(8, seed=3)[1]


def test_fixed_point_ops_match_the_written_semantics():
    ctx, module = parse_module(open(FIXED).read(), source=FIXED)
    rng = np.random.default_rng(11)
    gamma = rng.integers(40000, 90000, 16).astype(np.int32)
    beta = rng.integers(-3000, 3000, 16).astype(np.int32)
    mult = rng.integers(100, 5000, 16).astype(np.int32)
    ctx.weights.add("gamma", gamma)
    ctx.weights.add("beta", beta)
    ctx.weights.add("mult", mult)
    den = np.array([[0], [-5], [777]], np.int32)  # no keys seen, a negative, a count
    ctx.weights.add("den", den)
    ha, hb = hadamard_factors()
    ctx.weights.add("ha", ha)
    ctx.weights.add("hb", hb)
    x = (rng.standard_normal((3, 16)) * 2).astype(np.float32)
    x[0, 0] = np.float32(3.0000002)  # a value whose encoding rounds
    acc = rng.integers(-(2**20), 2**20, (3, 16)).astype(np.int32)
    out = run(module, ctx.weights, {"input0": x, "input1": acc})
    ln, sm, ge, s, y, fx, dv, rms, si, qg, mu, hd = (out[f"output{i}"] for i in range(12))
    f = 12
    v = [[sat(int(np.rint(float(a) * 2**f))) for a in row] for row in x]
    for i in range(3):
        assert ln[i].tolist() == ref_layer_norm(v[i], gamma.tolist(), beta.tolist(), f, 3, 1)
        assert sm[i].tolist() == ref_softmax(v[i], f)
        assert ge[i].tolist() == [ref_gelu(a, f) for a in v[i]]
        assert rms[i].tolist() == ref_layer_norm(v[i], gamma.tolist(), [0] * 16, f, 3, 1, center=False)
        assert si[i].tolist() == [ref_silu(a, f, 1 << 30) for a in v[i]]
        assert qg[i].tolist() == [ref_silu(a, f, 1827508584) for a in v[i]]
        assert mu[i].tolist() == [sat(rshift(a * int(b), f)) for a, b in zip(v[i], beta)]
        X = [v[i][r * 8 : r * 8 + 8] for r in range(2)]  # the row as 2 x 8, then a^T X b
        left = [[sum(int(ha[r, k]) * X[r][c] for r in range(2)) for c in range(8)] for k in range(2)]
        want = [sum(left[k][c] * int(hb[c, c2]) for c in range(8)) for k in range(2) for c2 in range(8)]
        assert hd[i].tolist() == [sat(rshift(w * 16384, 16)) for w in want]
        assert fx[i].tolist() == [sat(rshift(int(a) * int(m), 10)) for a, m in zip(acc[i], mult)]
        assert s[i].tolist() == [sat(a + b) for a, b in zip(fx[i].tolist(), v[i])]
        d = int(den[i, 0])
        assert dv[i].tolist() == [sat((2 * (int(a) << f) + d) // (2 * d)) if d > 0 else 0 for a in acc[i]]
    np.testing.assert_array_equal(y, (ge.astype(np.float64) * 2.0**-f).astype(np.float32))
    # and they approximate the float functions they replace
    from scipy.special import erf

    xf = np.array(v, np.float64) * 2.0**-f
    mu, var = xf.mean(1, keepdims=True), xf.var(1, keepdims=True)
    ref = (xf - mu) / np.sqrt(var + 2.0 ** -(2 * (f - 3))) * (gamma / 2**16) + beta / 2**f
    assert np.abs(ln / 2**f - ref).max() < 2e-2
    e = np.exp(xf - xf.max(1, keepdims=True))
    assert np.abs(sm / 2**f - e / e.sum(1, keepdims=True)).max() < 2e-3
    assert np.abs(ge / 2**f - 0.5 * xf * (1 + erf(xf / np.sqrt(2)))).max() < 3e-2
    ref = xf / np.sqrt((xf * xf).mean(1, keepdims=True) + 2.0 ** -(2 * (f - 3))) * (gamma / 2**16)
    assert np.abs(rms / 2**f - ref).max() < 2e-2
    assert np.abs(si / 2**f - xf / (1 + np.exp(-xf))).max() < 3e-3
    assert np.abs(qg / 2**f - xf / (1 + np.exp(-1.702 * xf))).max() < 3e-3
    rot = np.kron(ha.astype(float), hb.astype(float)) / 4.0  # orthogonal: the norm is kept
    assert np.abs(hd / 2**f - xf @ rot).max() < 1e-3 and np.allclose(rot @ rot.T, np.eye(16))


def ref_attention(q, k, v, visible, mult, shift, f, mask=None):
    """snn.attention for one query row q [dk] over keys k [T][dk] and values v [T][dv]."""
    t = [rshift(sum(a * b for a, b in zip(q, kj)) * mult, shift) for kj in k]
    if mask is not None:
        visible = [vis and mk > -(1 << 30) for vis, mk in zip(visible, mask)]
        t = [a + mk for a, mk in zip(t, mask)]
    seen = [j for j, vis in enumerate(visible) if vis]
    if not seen:
        return [0] * len(v[0])
    m = max(t[j] for j in seen)
    e = {j: ref_exp(t[j] - m, f) for j in seen}
    total = sum(e.values())
    p = {j: sat(rdiv(e[j] << f, max(total, 1))) if total > 0 else 0 for j in seen}
    return [sum(p[j] * v[j][c] for j in seen) for c in range(len(v[0]))]


def test_spiking_attention_matches_the_written_semantics():
    ctx, module = parse_module(open(ATTENTION).read(), source=ATTENTION)
    ctx.weights.add("one", np.array(1.0, np.float32))
    rng = np.random.default_rng(3)
    q = rng.integers(-15, 16, (1, 4, 5, 8)).astype(np.int8)
    k = rng.integers(-15, 16, (1, 2, 5, 8)).astype(np.int8)
    v = rng.integers(-15, 16, (1, 2, 5, 3)).astype(np.int8)
    mask = rng.integers(-3000, 3000, (1, 1, 5, 5)).astype(np.int32)
    mask[0, 0, 1, :] = -(2**31)  # a query that sees nothing
    mask[0, 0, 3, 2] = -(2**30)  # the boundary: hidden
    mask[0, 0, 4, 0] = -(2**30) + 1  # and just above it: seen
    kc = rng.integers(-15, 16, (1, 2, 6, 8)).astype(np.int8)
    vc = rng.integers(-15, 16, (1, 2, 6, 3)).astype(np.int8)
    out = run(module, ctx.weights, {"input0": q, "input1": k, "input2": v, "input3": mask, "input4": kc, "input5": vc, "input6": np.array([2])})
    a, b, o, kc2, vc2 = (out[f"output{i}"] for i in range(5))
    mult, shift, f = 12345678, 20, 12
    for h in range(4):
        g = h // 2  # grouped-query: two query heads a key-value head
        K, V = k[0, g].tolist(), v[0, g].tolist()
        for i in range(5):
            Q = q[0, h, i].tolist()
            assert a[0, h, i].tolist() == ref_attention(Q, K, V, [j <= i for j in range(5)], mult, shift, f)
            assert b[0, h, i].tolist() == ref_attention(Q, K, V, [True] * 5, mult, shift, f, mask[0, 0, i].tolist())
        # the step writes k, v at position 2 and attends to positions 0..2 of the cache
        Kc, Vc = kc[0, g].tolist(), vc[0, g].tolist()
        Kc[2], Vc[2] = k[0, g, 2].tolist(), v[0, g, 2].tolist()
        assert o[0, h, 0].tolist() == ref_attention(q[0, h, 2].tolist(), Kc[:3], Vc[:3], [True] * 3, mult, shift, f)
        assert kc2[0, g].tolist() == Kc and vc2[0, g].tolist() == Vc
    assert not b[0, :, 1].any()
    # with position 2 and a full cache equal to k, v the step is row 2 of the causal attention
    kfull = np.concatenate([k, kc[:, :, 5:]], axis=2)
    vfull = np.concatenate([v, vc[:, :, 5:]], axis=2)
    out = run(module, ctx.weights, {"input0": q, "input1": k, "input2": v, "input3": mask, "input4": kfull, "input5": vfull, "input6": np.array([2])})
    np.testing.assert_array_equal(out["output2"][:, :, 0], a[:, :, 2])


def ref_window_attention(q, k, v, pq, pk, r, i, n, window, sinks, mult, shift, f, fs):
    """snn.window_attention for query i of n (aligned at the end of the T keys k, v, pk)."""
    pos = i + len(k) - n
    near = [j for j in range(pos + 1) if pos - j < window or j < sinks]
    far = [j for j in range(pos + 1) if j not in near]
    t = {j: rshift(sum(a * b for a, b in zip(q, k[j])) * mult, shift) for j in near}
    m = max(t.values())
    e = {j: ref_exp(t[j] - m, f) for j in near}
    lin = {j: sum(a * b for a, b in zip(pq, pk[j])) for j in far}
    den = sum(e.values()) + rshift(r * sum(lin.values()), fs)
    num = [sum(e[j] * v[j][c] for j in near) + rshift(r * sum(lin[j] * v[j][c] for j in far), fs) for c in range(len(v[0]))]
    return [rdiv(x << f, max(den, 1)) for x in num]


def test_window_attention_and_its_step_match_the_written_semantics():
    """The whole sequence against the reference, then 7 steps from zero state: each step's
    output is the whole sequence's row, the state carried from step to step (keys 2..3
    leave the window into S and z at steps 5..6; keys 0, 1 are sinks and never do)."""
    ctx, module = parse_module(open(WINDOW).read(), source=WINDOW)
    ctx.weights.add("one", np.array(1.0, np.float32))
    r = np.array([40, 3, 0, 700], np.int64)  # the linear part's weight per head, at 6 fraction bits
    ctx.weights.add("factor", r)
    rng = np.random.default_rng(5)
    q, k, v = (rng.integers(-15, 16, s).astype(np.float32) for s in ((1, 4, 7, 8), (1, 2, 7, 8), (1, 2, 7, 3)))
    pq = rng.integers(0, 16, (1, 4, 7, 5)).astype(np.float32)
    pk = rng.integers(0, 16, (1, 2, 7, 5)).astype(np.float32)  # on the key-value heads, as k
    C = 5
    state = [np.zeros((1, 2, C, 8), np.int8), np.zeros((1, 2, C, 3), np.int8), np.zeros((1, 2, C, 5), np.int8),
             np.zeros((1, 2, 5, 3), np.int64), np.zeros((1, 2, 5), np.int64)]  # fmt: skip
    whole = None
    for p in range(7):
        feeds = {"input0": q, "input1": k, "input2": v, "input3": pq, "input4": pk}
        for j, x in enumerate((q, k, v, pq, pk)):
            feeds[f"input{5 + j}"] = x[:, :, p : p + 1]
        feeds.update({f"input{10 + j}": x for j, x in enumerate(state)})
        feeds["input15"] = np.array([p])
        out = run(module, ctx.weights, feeds)
        whole = out["output0"]
        np.testing.assert_array_equal(out["output1"][:, :, 0], whole[:, :, p], err_msg=f"step {p}")
        state = [out[f"output{2 + j}"] for j in range(5)]
    assert state[3].any() and state[4].any()  # keys 2 and 3 left the window
    np.testing.assert_array_equal(state[4], pk[:, :, 2:4].sum(axis=2).astype(np.int64))
    for h in range(4):
        g = h // 2
        K, V = k[0, g].astype(int).tolist(), v[0, g].astype(int).tolist()
        PK = pk[0, g].astype(int).tolist()
        for i in range(7):
            ref = ref_window_attention(q[0, h, i].astype(int).tolist(), K, V, pq[0, h, i].astype(int).tolist(), PK, int(r[h]), i, 7, 3, 2,
                                       12345678, 20, 12, 6)  # fmt: skip
            assert whole[0, h, i].tolist() == ref, (h, i)


def test_layer_norm_var_shift_is_checked():
    from nscc.errors import NsccError

    text = open(FIXED).read().replace("var_shift = 3", "var_shift = 1")
    with pytest.raises(NsccError, match="var_shift 1 lets the sum of 16 squares overflow"):
        parse_module(text)


def test_isqrt_is_exact():
    import math

    from nscc.semantics.snn import isqrt

    rng = np.random.default_rng(0)
    n = np.concatenate([rng.integers(0, 2**62, 2000), np.array([0, 1, 2, 3, 4, 2**62 - 1, (2**31 - 1) ** 2, (2**31 - 1) ** 2 - 1])])
    assert isqrt(n).tolist() == [math.isqrt(int(v)) for v in n]


FEATURE_MAP = """builtin.module {
  func.func @main(%x: !snn.counts<2x3x5x6, 31, signed>, %w: tensor<3x6x4xi8>, %m: tensor<3xi64>) -> !snn.counts<2x3x5x8, 15> {
    %0 = snn.feature_map %x, %w, %m {shift = 22 : i64, frac_bits = 12 : i64, divisor = 37 : i64} : (!snn.counts<2x3x5x6, 31, signed>, tensor<3x6x4xi8>, tensor<3xi64>) -> !snn.counts<2x3x5x8, 15>
    func.return %0 : !snn.counts<2x3x5x8, 15>
  }
}"""


def test_feature_map_matches_the_written_semantics():
    ctx, module = parse_module(FEATURE_MAP, source="feature_map")
    rng = np.random.default_rng(5)
    x = rng.integers(-31, 32, (2, 3, 5, 6)).astype(np.int8)
    w = rng.integers(-127, 128, (3, 6, 4)).astype(np.int8)
    m = np.array([3_000_000, 900_000, 12_000_000], np.int64)  # steep and flat heads: counts from 0 to the clip
    out = run(module, ctx.weights, {"input0": x, "input1": w, "input2": m})["output0"]
    f, k, div, levels = 12, 22, 37, 15
    for b, h, s in np.ndindex(2, 3, 5):
        a = [sum(int(x[b, h, s, i]) * int(w[h, i, j]) for i in range(6)) for j in range(4)]
        t = [rshift(v * int(m[h]), k) for v in a]
        want = [min(levels, rdiv(p, div)) for p in ref_softmax(t, f) + ref_softmax([-v for v in t], f)]
        assert out[b, h, s].tolist() == want
    assert out.min() == 0 and out.max() == levels


MASKED_LINEAR = """builtin.module {
  func.func @main(%q: !snn.counts<2x5x4, 15>, %k: !snn.counts<2x5x4, 15>, %v: !snn.counts<2x5x3, 15, signed>, %m: tensor<2x1x5xi32>) -> (tensor<2x5x3xi64>, tensor<2x5xi64>, tensor<2x5x3xi64>, tensor<2x5xi64>) {
    %0, %1 = snn.linear_attention %q, %k, %v, %m {decay_shift = 0 : i64, bidirectional, frac_bits = 4 : i64} : (!snn.counts<2x5x4, 15>, !snn.counts<2x5x4, 15>, !snn.counts<2x5x3, 15, signed>, tensor<2x1x5xi32>) -> (tensor<2x5x3xi64>, tensor<2x5xi64>)
    %2, %3 = snn.linear_attention %q, %k, %v, %m {decay_shift = 0 : i64, frac_bits = 4 : i64} : (!snn.counts<2x5x4, 15>, !snn.counts<2x5x4, 15>, !snn.counts<2x5x3, 15, signed>, tensor<2x1x5xi32>) -> (tensor<2x5x3xi64>, tensor<2x5xi64>)
    func.return %0, %1, %2, %3 : tensor<2x5x3xi64>, tensor<2x5xi64>, tensor<2x5x3xi64>, tensor<2x5xi64>
  }
}"""


def test_masked_and_bidirectional_linear_attention_match_the_written_semantics():
    ctx, module = parse_module(MASKED_LINEAR, source="masked_linear")
    rng = np.random.default_rng(9)
    q, k = (rng.integers(0, 16, (2, 5, 4)).astype(np.int8) for _ in range(2))
    v = rng.integers(-15, 16, (2, 5, 3)).astype(np.int8)
    m = np.zeros((2, 1, 5), np.int32)
    m[0, 0, 3:] = -(32 << 4)  # the boundary: hidden
    m[1, 0, 1] = -(32 << 4) + 1  # just above it: kept
    out = run(module, ctx.weights, {"input0": q, "input1": k, "input2": v, "input3": m})
    for b, i in np.ndindex(2, 5):
        for causal, (num, den) in ((False, ("output0", "output1")), (True, ("output2", "output3"))):
            keys = [j for j in range(5) if m[b, 0, j] > -(32 << 4) and (not causal or j <= i)]
            s = {j: sum(int(q[b, i, a]) * int(k[b, j, a]) for a in range(4)) for j in keys}
            assert out[num][b, i].tolist() == [sum(s[j] * int(v[b, j, c]) for j in keys) for c in range(3)]
            assert int(out[den][b, i]) == sum(s.values())


def neuron_program():
    """snn_neuron_ops.mlir with parameters at the edges: decays 0 (stateless), 2^16 (IF), 1 and
    2^16 - 1, resets below, at and above zero, and currents that saturate an integrator."""
    ctx, module = parse_module(open(NEURONS).read(), source=NEURONS)
    ctx.weights.add("decay", np.array([0, 65536, 58982, 32768, 1, 65535], np.int32))
    ctx.weights.add("theta", np.array([1000], np.int32))
    ctx.weights.add("reset", np.array([0, -500, 300, 0, 7, -2], np.int32))
    ctx.weights.add("one", np.array([1], np.int32))
    ctx.weights.add("mq", np.array([3, 1000, 77], np.int32))
    ctx.weights.add("bq", np.array([-5000, 123456, 2047], np.int32))
    ctx.weights.add("wrec", np.random.default_rng(10).integers(-600, 600, (6, 6)).astype(np.int32))
    rng = np.random.default_rng(9)
    i = rng.integers(-700, 1500, (40, 2, 3)).astype(np.int32)
    i[:, 0, 1] = 2**30  # an integrator of 2^16 decay passes 2^31 on the second step: saturated output
    i[5:9, 1, 2] = -(2**31)
    return ctx, module, {"input0": i}


def ref_leak(v: int, a: int) -> int:
    return (v * a + (1 << 15)) >> 16  # Python's >> floors: the arithmetic shift of the text


def test_stateful_neurons_match_the_written_semantics():
    ctx, module, inputs = neuron_program()
    out = run(module, ctx.weights, inputs)
    i = inputs["input0"].reshape(40, 6).tolist()
    decay, theta, reset = [0, 65536, 58982, 32768, 1, 65535], 1000, [0, -500, 300, 0, 7, -2]
    spikes, integ = out["output0"].reshape(40, 6), out["output1"].reshape(40, 6)
    for n in range(6):
        v = w = 0
        for t in range(40):
            v = ref_leak(v, decay[n]) + i[t][n]
            s = int(v > theta)
            if s:
                v = reset[n]
            assert spikes[t, n] == s, (t, n)
            w = ref_leak(w, decay[n]) + i[t][n]
            assert integ[t, n] == min(max(w, -(2**31)), 2**31 - 1), (t, n)
    assert spikes.sum() > 10 and (integ == 2**31 - 1).any() and (integ == -(2**31)).any()
    # requant with bias_frac 12 into [-8, 7]: ((acc << 12) + b) * m, rounded half up at shift 22
    q = out["output2"].reshape(40, 6)
    m, b = [3, 1000, 77] * 2, [-5000, 123456, 2047] * 2
    for n in range(6):
        for t in range(40):
            v = ((i[t][n] << 12) + b[n]) * m[n]
            assert q[t, n] == min(max((v + (1 << 21)) >> 22, -8), 7), (t, n)
    assert (q == 7).any() and (q == -8).any() and len(np.unique(q)) > 5
    # the recurrent neurons: last step's spikes add their rows of W
    w = ctx.weights["wrec"].tolist()
    rs = out["output3"]
    v, prev = [0] * 6, [0] * 6
    for t in range(40):
        for n in range(6):
            v[n] = ref_leak(v[n], decay[n]) + i[t][n] + sum(w[j][n] for j in range(6) if prev[j])
        prev = [int(v[n] > theta) for n in range(6)]
        v = [reset[n] if prev[n] else v[n] for n in range(6)]
        assert rs[t].tolist() == prev, t
    assert 10 < rs.sum() < rs.size
