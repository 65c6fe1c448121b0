"""IR -> Vitis HLS C++ (kernel/nscc_kernel.cpp, kernel/nscc_model.h) and the
memory images the kernel reads (synapse words, parameters).

Every integer value of the kernel lives in one of two on-chip arenas (`a32`
for counts and int32, `a64` for int64), at an offset planned from the values'
lifetimes; synapse weights are read from device memory as 512-bit words, one
row of the weight matrix per active input; the small integer parameters
(requantization multipliers, LayerNorm gamma and beta, fixed-point tables)
are an int32 array in device memory. Names from the model never reach the
C++: values are numbered and layers are referred to by their index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.ir import Operation, SSAValue

from nscc.errors import NsccError
from nscc.ir import nn, snn
from nscc.ir.signature import LAYER_ATTR
from nscc.ir.types import np_dtype
from nscc.optable import OpTable
from nscc.quant.hadamard import is_signed_sylvester
from nscc.semantics import fixed
from nscc.semantics.folding import constant_value
from nscc.semantics.nn import KERNELS as NN_KERNELS
from nscc.semantics.nn import prop
from nscc.semantics.snn import group_weighted
from nscc.targets.layout import broadcast_strides, channel_layout, mask_strides, plan_arena, strided_views
from nscc.targets.vck190.partition import Partition, where

WORD_BYTES = 64
ALIGN_WORDS = 64  # 4 KiB: each layer's weights start on a page
RANK = 6
# Weights kept on chip: 512-bit words in URAM, eight 4K x 72 blocks per 4096 words,
# two banks (even and odd words); 22 groups a bank, 352 of the VC1902's 463
# URAMs (76%), the rest left to arenas and buffers.
RESIDENT_WORDS = 22 * 4096  # per bank
LANES = 16  # elements a cycle of the lane-parallel elementwise ops (nscc_hls.h's LANES)


def container_bits(bits: int) -> int:
    """The lane width a weight of `bits` bits is stored in: lanes never straddle 64-bit limbs."""
    return 2 if bits <= 2 else 4 if bits <= 4 else 8 if bits <= 8 else 16


def split_banks(packed: np.ndarray) -> tuple[bytes, bytes, int, int]:
    """Rows of words [K, WPR * 64] -> (even words, odd words, WA, WB): WA = ceil(WPR / 2)
    words of each row in bank a, WB = floor(WPR / 2) in bank b; nothing padded."""
    k, nbytes = packed.shape
    words = packed.reshape(k, nbytes // WORD_BYTES, WORD_BYTES)
    even, odd = words[:, 0::2], words[:, 1::2]
    return np.ascontiguousarray(even).tobytes(), np.ascontiguousarray(odd).tobytes(), even.shape[1], odd.shape[1]


def pack_rows(w: np.ndarray, bits: int) -> np.ndarray:
    """W [K, N] -> uint8 [K, WPR * 64]: row k as WPR words of 512/B two's-complement lanes, lane l at bits [l*B, l*B+B)."""
    k, n = w.shape
    b = container_bits(bits)
    lanes = 512 // b
    wpr = -(-n // lanes)
    if b == 16:  # two bytes a lane, little-endian: lane l at bits [16 l, 16 l + 16)
        wide = np.zeros((k, wpr * lanes), "<i2")
        wide[:, :n] = w
        return wide.view(np.uint8)
    u = np.zeros((k, wpr * lanes), np.uint8)
    u[:, :n] = (w.astype(np.int16) & ((1 << b) - 1)).astype(np.uint8)
    per = 8 // b
    u = u.reshape(k, -1, per)
    packed = np.zeros(u.shape[:2], np.uint8)
    for i in range(per):  # little-endian within a byte: lane 2j in the low bits
        packed |= u[..., i] << (i * b)
    return packed


@dataclass
class SynapseLayer:
    index: int
    name: str
    k: int
    n: int
    m: int
    bits: int
    container: int
    wpr: int
    offset: int  # words, in bank a
    live_rows: int
    nonzero: int
    resident: int = -1  # word offset in URAM, or -1: streamed from DDR
    wa: int = 0  # words per row in bank a (the even words)
    wb: int = 0  # in bank b (the odd words): wa or wa - 1
    offset_b: int = 0
    resident_b: int = -1


@dataclass
class Kernel:
    source: str
    model_h: str
    weights: bytes  # bank a: the even words of every row (DDR)
    weights_b: bytes  # bank b: the odd words (LPDDR)
    params: np.ndarray  # int32
    state_words: int  # 512-bit words of linear-attention state: the step function's state arguments
    state: list[dict]  # per attention: its S and z arguments and results, and where they are in the state port
    layers: list[SynapseLayer]
    others: list[dict]
    resident_words: int  # both banks
    inputs: list[dict]
    outputs: list[dict]
    arena32: int
    arena64: int


@dataclass
class _Gen:
    module: ModuleOp
    store: object
    part: Partition
    lines: list[str] = field(default_factory=list)
    roms: list[str] = field(default_factory=list)
    loc: dict = field(default_factory=dict)  # value -> (array, offset)
    life: dict = field(default_factory=dict)  # value -> [first, last, elements]
    blobs: list[bytes] = field(default_factory=list)
    blobs_b: list[bytes] = field(default_factory=list)
    wgt_words: int = 0
    wgt2_words: int = 0
    params: list[np.ndarray] = field(default_factory=list)
    prm_at: dict = field(default_factory=dict)
    prm_size: int = 0
    state: int = 0
    state_at: dict = field(default_factory=dict)  # attention step op -> its word offset in the state port
    resident: int = 0  # words of weights in URAM, bank a
    resident_b: int = 0  # bank b
    alias: dict = field(default_factory=dict)
    fused: set = field(default_factory=set)  # requants applied inside the synapse before them
    layers: list[SynapseLayer] = field(default_factory=list)
    others: list[dict] = field(default_factory=list)
    counter: int = 0
    index: int = 0
    cur: Operation | None = None
    memo: dict = field(default_factory=dict)
    rom_at: dict = field(default_factory=dict)  # (C type, values) -> the ROM's name

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def arena(self, v: SSAValue) -> str:
        return "a64" if np.dtype(_dtype(v)).itemsize == 8 else "a32"

    def alloc(self, v: SSAValue) -> tuple[str, str]:
        name = self.fresh("v")
        self.loc[v] = (self.arena(v), f"@{name}@")
        self.life[v] = [self.index, self.index, max(1, math.prod(_shape(v))), name]
        return self.loc[v]

    def ref(self, v: SSAValue) -> tuple[str, str]:
        while v in self.alias:  # a reshape is the same buffer under another shape
            v = self.alias[v]
        if v in self.loc:
            if v in self.life:
                self.life[v][1] = self.index
            return self.loc[v]
        arr = _constant(self, v)
        if arr is None:
            raise NsccError(f"vck190 target: a value of {where(self.cur)} comes from nowhere the kernel can read", "report this as a bug")
        return ("prm", str(self.param(arr)))

    def int32(self, arr: np.ndarray) -> np.ndarray:
        """A parameter array as int32, flat, or one clear error if it is not integers that fit."""
        a = np.ascontiguousarray(arr).reshape(-1)
        if a.dtype.kind in "iub":
            if a.size and (a.min() < -(2**31) or a.max() >= 2**31):
                raise NsccError(
                    f"vck190 target: a parameter of {where(self.cur)} does not fit in 32 bits", "lower frac-bits of integer-islands"
                )
        else:
            raise NsccError(f"vck190 target: {where(self.cur)} reads a float parameter", "the kernel is integer-only; run integer-islands")
        return a.astype(np.int32)

    def param(self, arr: np.ndarray) -> int:
        """Offset (int32 elements) of a parameter array in params.bin; equal arrays are stored once."""
        a = self.int32(arr)
        key = (a.size, a.tobytes())
        if key not in self.prm_at:
            self.prm_at[key] = self.prm_size
            self.params.append(a)
            self.prm_size += -(-a.size // 16) * 16  # each array on a 64-byte boundary
            if a.size % 16:
                self.params.append(np.zeros(16 - a.size % 16, np.int32))
        return self.prm_at[key]


def _shape(v: SSAValue) -> tuple[int, ...]:
    return tuple(v.type.get_shape())


def _dtype(v: SSAValue) -> np.dtype:
    if isinstance(v.type, snn.CountsType | snn.SpikesType):
        return np.dtype(np.int32)
    d = np.dtype(np_dtype(v.type))
    return np.dtype(np.int64) if d.itemsize == 8 else np.dtype(np.int32)


def _constant(g: _Gen, v: SSAValue) -> np.ndarray | None:
    """A weight, a constant, or a value computed from them only (folded at compile time)."""
    if isinstance(v.owner, nn.WeightOp):
        return np.asarray(g.store[v.owner.sym.data])
    return constant_value(v, g.store, g.memo)


def _pad(vals: Sequence[int], fill: int) -> list[int]:
    if len(vals) > RANK:
        raise NsccError(f"vck190 target: {len(vals)}-d tensors are not supported (at most {RANK})", "reshape the model's tensors")
    return [fill] * (RANK - len(vals)) + list(vals)


def _state_port(g: _Gen) -> list[dict]:
    """The state port holds the step function's state arguments: each attention's (S, z),
    in argument order, per head S row-major then z, eight int64 to a 512-bit word. The
    kernel updates it in place: the new state the function returns is written where its
    argument was read."""
    layout = []
    for op, *slots in g.part.state:
        if isinstance(op, snn.AttentionStepOp):
            layout.append(_kv_cache_layout(g, op, *slots))
            continue
        if isinstance(op, snn.WindowAttentionStepOp):
            layout.append(_window_layout(g, op, slots))
            continue
        s, z = slots
        if s.dtype != np.int64 or z.dtype != np.int64:
            raise NsccError(f"vck190 target: the state of {where(op)} must be int64", "make the step function with the decode-step pass")
        qs, vs = _shape(op.q), _shape(op.v)
        words = math.prod(qs[:-2]) * (-(-(qs[-1] * vs[-1] + qs[-1]) // 8))
        g.state_at[op] = g.state
        layout.append(
            {
                "S": {"argument": s.arg, "result": s.result, "name": s.name},
                "z": {"argument": z.arg, "result": z.result, "name": z.name},
                "word_offset": g.state,
                "words": words,
            }
        )
        g.state += words
    return layout


def _window_layout(g: _Gen, op: snn.WindowAttentionStepOp, slots) -> dict:
    """A sliding-window hybrid's state in the port, all per key-value head: its caches of sinks +
    window slots as KV caches are (a slot row of ceil(d / 64) words of 64 signed bytes: keys,
    values, then key features), then S row-major and z, int64, 8 a word."""
    k, v, pk, s, z = slots
    if any(x.dtype != np.int8 for x in (k, v, pk)) or s.dtype != np.int64 or z.dtype != np.int64:
        raise NsccError(f"vck190 target: the state of {where(op)} must be byte caches and int64 sums", "use at most 127 levels")
    ks, vs, ps = _shape(op.k_cache), _shape(op.v_cache), _shape(op.p_cache)
    kw, vw, pw = (math.prod(x[:-1]) * -(-x[-1] // 64) for x in (ks, vs, ps))
    groups, f, dv = math.prod(ps[:-2]), ps[-1], vs[-1]
    sw = groups * -(-(f * dv + f) // 8)
    g.state_at[op] = (g.state, g.state + kw, g.state + kw + vw, g.state + kw + vw + pw)
    entry = {
        **{x: {"argument": t.arg, "result": t.result, "name": t.name} for x, t in zip("KVPSz", slots)},
        "word_offset": g.state,
        "words": kw + vw + pw + sw,
        "window": prop(op, "window"),
        "sinks": prop(op, "sinks"),
        "bytes": math.prod(ks) + math.prod(vs) + math.prod(ps) + 8 * (math.prod(_shape(op.state)) + math.prod(_shape(op.norm))),
    }
    g.state += kw + vw + pw + sw
    return entry


def _kv_cache_layout(g: _Gen, op: snn.AttentionStepOp, k, v) -> dict:
    """A KV cache in the state port: per key-value head, N position rows of ceil(d / 64) words of
    64 signed bytes (keys, then values), so a position's key is streamed a word per cycle."""
    if k.dtype != np.int8 or v.dtype != np.int8:
        raise NsccError(f"vck190 target: the KV cache of {where(op)} must hold bytes", "use at most 127 levels (spike-conversion levels)")
    ks, vs = _shape(op.k_cache), _shape(op.v_cache)
    rows = math.prod(ks[:-1])
    kw, vw = rows * -(-ks[-1] // 64), rows * -(-vs[-1] // 64)
    g.state_at[op] = (g.state, g.state + kw)
    entry = {
        "K": {"argument": k.arg, "result": k.result, "name": k.name},
        "V": {"argument": v.arg, "result": v.result, "name": v.name},
        "word_offset": g.state,
        "words": kw + vw,
        "positions": ks[-2],
        "bytes": math.prod(ks) + math.prod(vs),
    }
    g.state += kw + vw
    return entry


def generate(module: ModuleOp, store, part: Partition) -> Kernel:
    g = _Gen(module, store, part)
    state = _state_port(g)
    ins, outs = [], []
    for j, (v, arg, enc) in enumerate(part.inputs):
        g.index = -1
        arr, off = g.alloc(v)
        n = max(1, math.prod(_shape(v)))
        ctype = "int64_t" if arr == "a64" else "int32_t"
        ins.append({"port": f"in{j}", "arg": arg, "shape": list(_shape(v)), "ctype": ctype, "elements": n, "encode": enc})
        if enc is not None:  # what the host needs to encode a float input itself
            c, inner = channel_layout(_shape(enc.input), _shape(enc.theta))
            ins[-1].update(channels=c, inner=inner, lo=enc.res.type.lo, hi=enc.res.type.hi)
        g.lines.append(f"  for (int i = 0; i < {n}; ++i) {{\n#pragma HLS PIPELINE II=1\n    {arr}[{off} + i] = in{j}[i];\n  }}")
    for i, op in enumerate(part.ops):
        g.index, g.cur = i, op
        _emit(g, op)
    g.index = len(part.ops)
    for j, (v, res, dec) in enumerate(part.outputs):
        arr, off = g.ref(v)
        n = max(1, math.prod(_shape(v)))
        ctype = "int64_t" if arr == "a64" else "int32_t"
        outs.append({"port": f"out{j}", "result": res, "shape": list(_shape(v)), "ctype": ctype, "elements": n, "decode": dec})
        if isinstance(dec, snn.FixedDecodeOp):  # fixed point (an encoder's last LayerNorm): one scale, 2^-F
            outs[-1].update(channels=1, inner=1)
        elif dec is not None:
            c, inner = channel_layout(_shape(dec.input), _shape(dec.scale), prop(dec, "axis"))
            outs[-1].update(channels=c, inner=inner)
        g.lines.append(f"  for (int i = 0; i < {n}; ++i) {{\n#pragma HLS PIPELINE II=1\n    out{j}[i] = {arr}[{off} + i];\n  }}")
    sizes = {}
    for arena_name in ("a32", "a64"):
        bufs = {life[3]: (life[0] + 1, life[1] + 1, life[2]) for v, life in g.life.items() if g.loc[v][0] == arena_name}
        offsets, top = plan_arena(bufs, align=LANES)
        sizes[arena_name] = max(top, 16)
        for name, o in offsets.items():
            g.lines = [ln.replace(f"@{name}@", str(o)) for ln in g.lines]
    weights, weights_b = b"".join(g.blobs), b"".join(g.blobs_b)
    params = np.concatenate(g.params) if g.params else np.zeros(16, np.int32)
    ports = _ports(ins, outs, g.state > 0) + [("int mode", "mode", "")]
    src = _kernel_source(g, ports, ins + outs, len(weights) // WORD_BYTES, params.size)
    model_h = _model_header(g, ports, ins, outs, sizes, len(weights) // WORD_BYTES, params.size)
    return Kernel(
        src,
        model_h,
        weights,
        weights_b,
        params,
        g.state,
        state,
        g.layers,
        g.others,
        g.resident + g.resident_b,
        ins,
        outs,
        sizes["a32"],
        sizes["a64"],
    )


def _ports(ins, outs, stateful: bool) -> list[tuple[str, str, str]]:
    """(C declaration, port name, bundle) of the top function, in order."""
    ports = [
        ("const nscc::word_t* wgt", "wgt", "gmem0"),
        ("const nscc::word_t* wgt2", "wgt2", "gmem4"),
        ("const int32_t* prm", "prm", "gmem1"),
    ]
    if stateful:
        ports.append(("nscc::word_t* state", "state", "gmem2"))
    ports += [(f"const {i['ctype']}* {i['port']}", i["port"], "gmem3") for i in ins]
    ports += [(f"{o['ctype']}* {o['port']}", o["port"], "gmem3") for o in outs]
    return ports


def _kernel_source(g: _Gen, ports, io, wgt_words: int, prm_words: int) -> str:
    depth = {"wgt": wgt_words, "wgt2": g.wgt2_words, "prm": prm_words, "state": g.state}
    pragmas = []
    for decl, name, bundle in ports:
        if name == "mode":
            pragmas.append("#pragma HLS INTERFACE s_axilite port=mode")
            continue
        d = depth.get(name)
        if d is None:
            d = next(x["elements"] for x in io if x["port"] == name)
        burst = " max_read_burst_length=64 num_read_outstanding=16" if name.startswith("wgt") else ""
        pragmas.append(f"#pragma HLS INTERFACE m_axi port={name} bundle={bundle} offset=slave depth={max(1, d)}{burst}")
    pragmas.append("#pragma HLS INTERFACE s_axilite port=return")
    return "\n".join(
        [
            "// Generated by nscc: the model's spiking layers for the programmable logic.",
            "// Integer-only; the semantics of every call are in nscc's docs/semantics.md.",
            '#include "nscc_model.h"',
            "",
            f'extern "C" void nscc_top({", ".join(d for d, _, _ in ports)}) {{',
            *pragmas,
            *_resident_load(g),
            "  if (mode != 0) return;",
            "  static int32_t a32[NSCC_A32];  // counts and int32 values, lifetimes overlaid",
            f"#pragma HLS ARRAY_PARTITION variable=a32 type=cyclic factor={LANES}",
            *(
                [
                    "  static int64_t a64[NSCC_A64];  // int64 values (linear attention, token ids)",
                    f"#pragma HLS ARRAY_PARTITION variable=a64 type=cyclic factor={LANES}",
                ]
                if any("a64" in ln for ln in g.lines)
                else []
            ),
            *g.lines,
            "}",
            "",
        ]
    )


def _resident_load(g: _Gen) -> list[str]:
    """Mode 1: copy the resident layers' words from device memory into URAM (once, after loading the weights)."""
    res = [s for s in g.layers if s.resident >= 0]
    if not res:
        return []
    frm, to, cnt = _rom(g, [s.offset for s in res]), _rom(g, [s.resident for s in res]), _rom(g, [s.k * s.wa for s in res])
    frm_b, to_b, cnt_b = _rom(g, [s.offset_b for s in res]), _rom(g, [s.resident_b for s in res]), _rom(g, [s.k * s.wb for s in res])
    return [
        "  static nscc::word_t wres[NSCC_RES_WORDS], wres2[NSCC_RES2_WORDS];  // weights resident on chip: the even and the odd words",
        "#pragma HLS BIND_STORAGE variable=wres type=ram_2p impl=uram",
        "#pragma HLS BIND_STORAGE variable=wres2 type=ram_2p impl=uram",
        "  if (mode == 1) {",
        f"    nscc::load_resident<{len(res)}>(wgt, {frm}, {to}, {cnt}, wres);",
        f"    nscc::load_resident<{len(res)}>(wgt2, {frm_b}, {to_b}, {cnt_b}, wres2);",
        "    return;",
        "  }",
    ]


def _model_header(g: _Gen, ports, ins, outs, sizes, wgt_words: int, prm_words: int) -> str:
    lines = [
        "// Generated by nscc: sizes and constants of the model's kernel.",
        "#ifndef NSCC_MODEL_H",
        "#define NSCC_MODEL_H",
        '#include "nscc_hls.h"',
        "",
        f"#define NSCC_WGT_WORDS {max(1, wgt_words)}  // 512-bit words of weights/weights.bin (bank a)",
        f"#define NSCC_WGT2_WORDS {max(1, g.wgt2_words)}  // of weights/weights_b.bin (bank b)",
        f"#define NSCC_PRM_WORDS {prm_words}  // int32 of weights/params.bin",
        f"#define NSCC_STATE_WORDS {g.state}  // 512-bit words of linear-attention state",
        f"#define NSCC_STATEFUL {1 if g.state else 0}",
        f"#define NSCC_RES_WORDS {max(8, g.resident)}  // 512-bit words of weights resident in URAM, bank a",
        f"#define NSCC_RES2_WORDS {max(8, g.resident_b)}  // bank b",
        f"#define NSCC_A32 {sizes['a32']}",
        f"#define NSCC_A64 {sizes['a64']}",
        f"#define NSCC_INPUTS {len(ins)}",
        f"#define NSCC_OUTPUTS {len(outs)}",
        f"#define NSCC_SYNAPSE_LAYERS {len(g.layers)}",
    ]
    for x in ins + outs:
        lines.append(f"#define NSCC_{x['port'].upper()}_ELEMENTS {x['elements']}")
    lines += ["", *g.roms, "", f'extern "C" void nscc_top({", ".join(d for d, _, _ in ports)});', "", "#endif", ""]
    return "\n".join(lines)


def _rom(g: _Gen, values: Sequence[int], ctype: str = "int64_t") -> str:
    """A constant array of the kernel; equal ones are one ROM (every layer's Hadamard factors are)."""
    key = (ctype, tuple(int(v) for v in values))
    if key not in g.rom_at:
        g.rom_at[key] = name = g.fresh("K")
        suffix = "ULL" if ctype == "uint64_t" else ""  # a word past 2^63 is no signed literal
        g.roms.append(f"static const {ctype} {name}[{max(1, len(values))}] = {{{', '.join(f'{v}{suffix}' for v in key[1]) or '0'}}};")
    return g.rom_at[key]


def _bit_words(mask: np.ndarray) -> list[int]:
    """Each row of a boolean matrix as 64-bit words (column j: bit j % 64 of the row's word
    j // 64), rows one after another: the bit-mask ROMs of fixed_hadamard_fast."""
    rows, cols = mask.shape
    words = -(-cols // 64)
    padded = np.zeros((rows, words * 64), bool)
    padded[:, :cols] = mask
    return [int(w) for w in np.packbits(padded.reshape(rows * words, 64), axis=1, bitorder="little").view("<u8").ravel()]


# One emitter per op kind (hls4ml's per-layer templates): the table says which ops the
# kernel accepts.
EMITTERS = OpTable()
_emits = EMITTERS


def _emit(g: _Gen, op: Operation) -> None:
    emit = EMITTERS.get(type(op))
    if isinstance(op, snn.LinearAttentionOp) and op.mask is None and op.bidirectional is None:
        raise NsccError(
            f"vck190 target: {where(op)} runs causally over the whole sequence",
            "the kernel decodes one token per call: nscc compiles decoders token by token (the decode-step function of a model with linear attention)",
        )
    if emit is None:
        raise NsccError(
            f"vck190 target: {where(op)} is not supported in the kernel", "see docs/targets.md for the ops the VCK190 kernel implements"
        )
    emit(g, op)


@_emits(snn.RequantOp)
def _emit_requant(g: _Gen, op: Operation) -> None:
    L = g.lines
    if op in g.fused:
        return None
    x = g.ref(op.input)
    rq = _requant_args(g, op)
    out = g.alloc(op.res)
    n = math.prod(_shape(op.input))
    if rq["inner"] == 1 and rq["c"] % LANES == 0 and x[0] in ("a32", "a64"):
        # Per-channel parameters as 512-bit words from both banks: LANES of them a cycle,
        # where the 32-bit parameter port gives one.
        def per_channel(values: np.ndarray) -> np.ndarray:
            return np.broadcast_to(np.asarray(values).reshape(-1), (rq["c"],))

        ma = _words(g, "a", per_channel(rq["mult"]))
        mb = _words(g, "b", per_channel(rq["bias_values"])) if op.bias is not None else 0
        L.append(
            f"  nscc::requant_words<{n}, {rq['c']}, {rq['shift']}, {rq['bias']}>({x[0]}, {x[1]}, wgt, {ma}, wgt2, {mb}, {rq['range']}, {out[0]}, {out[1]});"
        )
        _other(g, op, n, 1, LANES)
        banks = 2 if op.bias is not None else 1
        g.others[-1].update(bytes=n * 4 * banks, banks=banks)  # a word a bank for every LANES elements
        return None
    L.append(
        f"  nscc::requant<{n}, {rq['c']}, {rq['inner']}, {rq['shift']}, {rq['bias']}>({x[0]}, {x[1]}, prm, {_requant_params(g, rq)}, {out[0]}, {out[1]});"
    )
    return _other(g, op, n, 1)


def _words(g: _Gen, bank: str, values: np.ndarray) -> int:
    """Word offset of int32 `values` (a multiple of 16 of them) appended to a weight bank."""
    return _append(g, bank, g.int32(values).astype("<i4").tobytes(), 1)


def _append(g: _Gen, bank: str, data: bytes, align: int) -> int:
    """Word offset of `data` (whole words) appended to weight bank a or b at a multiple of
    `align` words."""
    blobs, counter = (g.blobs, "wgt_words") if bank == "a" else (g.blobs_b, "wgt2_words")
    at = -(-getattr(g, counter) // align) * align
    blobs.append(b"\0" * ((at - getattr(g, counter)) * WORD_BYTES) + data)
    setattr(g, counter, at + len(data) // WORD_BYTES)
    return at


@_emits(snn.FixedLayerNormOp, snn.FixedRmsNormOp)
def _emit_fixed_layer_norm(g: _Gen, op: Operation) -> None:
    L = g.lines
    shape = _shape(op.input)
    axis = prop(op, "axis") % len(shape)
    n = math.prod(shape[axis:])
    center = isinstance(op, snn.FixedLayerNormOp)
    gamma, beta = _constant(g, op.gamma), (_constant(g, op.beta) if center else np.zeros(1, np.int32))
    if gamma is None or beta is None:
        raise NsccError(f"vck190 target: {where(op)} has computed gamma or beta", "they must be constants")
    x = g.ref(op.input)
    rows = math.prod(shape) // n
    if n % LANES == 0 and x[0] == "a32":
        # gamma and beta as 512-bit words of the two weight banks: LANES of each a cycle
        ga = _words(g, "a", np.broadcast_to(gamma, shape[axis:]).reshape(-1))
        ba = _words(g, "b", np.broadcast_to(beta, shape[axis:]).reshape(-1)) if center else 0
        out = g.alloc(op.res)
        L.append(
            f"  nscc::fixed_layer_norm_words<{rows}, {n}, {prop(op, 'frac_bits')}, {prop(op, 'var_shift')}, {str(center).lower()}>"
            f"({x[0]}, {x[1]}, wgt, {ga}, wgt2, {ba}, {_i64(prop(op, 'epsilon'))}, {out[0]}, {out[1]});"
        )
        _other(g, op, math.prod(shape), 3, LANES)
        banks = 2 if center else 1
        g.others[-1].update(bytes=rows * n * 4 * banks, banks=banks)
        return None
    go = g.param(np.broadcast_to(gamma, shape[axis:]))
    bo = g.param(np.broadcast_to(beta, shape[axis:])) if center else -1
    out = g.alloc(op.res)
    L.append(
        f"  nscc::fixed_layer_norm<{math.prod(shape) // n}, {n}, {prop(op, 'frac_bits')}, {prop(op, 'var_shift')}, {str(center).lower()}>"
        f"({x[0]}, {x[1]}, prm, {go}, {bo}, {_i64(prop(op, 'epsilon'))}, {out[0]}, {out[1]});"
    )
    return _other(g, op, math.prod(shape), 3)


@_emits(snn.FixedGeluOp)
def _emit_fixed_gelu(g: _Gen, op: Operation) -> None:
    L = g.lines
    f = prop(op, "frac_bits")
    x = g.ref(op.input)
    out = g.alloc(op.res)
    inv, b, a = fixed.gelu_constants(f)
    n = math.prod(_shape(op.input))
    L.append(f"  nscc::fixed_gelu<{n}, {f}, {inv}LL, {b}LL, {a}LL>({x[0]}, {x[1]}, {out[0]}, {out[1]});")
    return _other(g, op, n, 1)


@_emits(snn.FixedHadamardOp)
def _emit_fixed_hadamard(g: _Gen, op: snn.FixedHadamardOp) -> None:
    a, b = _constant(g, op.a), _constant(g, op.b)
    if a is None or b is None:
        raise NsccError(f"vck190 target: {where(op)} has computed factors", "they must be constants (online-hadamard makes them)")
    p, q = a.shape[0], b.shape[0]
    x = g.ref(op.input)
    out = g.alloc(op.res)
    n = math.prod(_shape(op.input))
    if is_signed_sylvester(b) and p <= 64 and x[0] == out[0] == "a32":
        v = min(q, LANES)
        roms = [_rom(g, _bit_words(m), "uint64_t") for m in (a == 1, a == -1, b[:, :1].T < 0)]  # a's rows as masks; s's signs
        targs = f"{n // (p * q)}, {p}, {q}, {prop(op, 'multiplier')}LL, {prop(op, 'shift')}, {v}"
        g.lines.append(f"  nscc::fixed_hadamard_fast<{targs}>({x[0]}, {x[1]}, {', '.join(roms)}, {out[0]}, {out[1]});")
        _other(g, op, n, 2, v)  # a^T X, then the transform: V elements a cycle each
        g.others[-1]["adders"] = (f"{p}x{q}", p * v + q * (q.bit_length() - 1))  # P x V sums; log2 Q butterfly stages of Q adders
        return
    ao, bo = g.param(a), g.param(b)
    g.lines.append(
        f"  nscc::fixed_hadamard<{n // (p * q)}, {p}, {q}, {prop(op, 'multiplier')}LL, {prop(op, 'shift')}>({x[0]}, {x[1]}, prm, {ao}, {bo}, {out[0]}, {out[1]});"
    )
    _other(g, op, n // q * (p + q), 1)  # per row P x P then P x Q pipelined steps, the Q columns in lanes
    g.others[-1]["lanes"] = q


@_emits(snn.FixedSiluOp)
def _emit_fixed_silu(g: _Gen, op: Operation) -> None:
    f = prop(op, "frac_bits")
    x = g.ref(op.input)
    out = g.alloc(op.res)
    log2e, c1, c2 = fixed.softmax_constants(f)
    n = math.prod(_shape(op.input))
    v = _lanes(n, [x], [1])
    g.lines.append(f"  nscc::fixed_silu<{n}, {f}, {prop(op, 'alpha')}LL, {log2e}LL, {c1}LL, {c2}LL, {v}>({x[0]}, {x[1]}, {out[0]}, {out[1]});")
    return _other(g, op, n, 1, v)


@_emits(snn.AttentionStepOp)
def _emit_attention_step(g: _Gen, op: snn.AttentionStepOp) -> None:
    qs, ks, vs = _shape(op.q), _shape(op.k_cache), _shape(op.v_cache)
    groups, n, dk, dv = math.prod(ks[:-2]), ks[-2], ks[-1], vs[-1]
    hg = math.prod(qs[:-2]) // groups
    f = prop(op, "frac_bits")
    log2e, c1, c2 = fixed.softmax_constants(f)
    q, k, v, pos = (g.ref(x) for x in (op.q, op.k, op.v, op.position))
    out = g.alloc(op.res)
    kso, vso = g.state_at[op]
    g.lines.append(
        f"  nscc::attention_step<{groups}, {hg}, {dk}, {dv}, {n}, {f}, {prop(op, 'shift')}, {prop(op, 'multiplier')}LL, {log2e}LL, {c1}LL, {c2}LL>"
        f"({q[0]}, {q[1]}, {k[0]}, {k[1]}, {v[0]}, {v[1]}, {pos[0]}, {pos[1]}, state, {kso}, {vso}, {out[0]}, {out[1]});"
    )
    # per call the keys and values of every position written so far: N at most
    _other(g, op, groups * n * (-(-dk // 64) + -(-dv // 64)), 1)
    g.others[-1].update(dk=dk, dv=dv)


@_emits(snn.WindowAttentionStepOp)
def _emit_window_attention_step(g: _Gen, op: snn.WindowAttentionStepOp) -> None:
    qs, ks, vs = _shape(op.q), _shape(op.k_cache), _shape(op.v_cache)
    groups, slots, dk, dv, fd = math.prod(ks[:-2]), ks[-2], ks[-1], vs[-1], _shape(op.pq)[-1]
    hg = math.prod(qs[:-2]) // groups
    r = _constant(g, op.factor)
    if r is None:
        raise NsccError(f"vck190 target: {where(op)} has a computed factor", "it must be a constant (spike-conversion makes it)")
    fb = prop(op, "frac_bits")
    log2e, c1, c2 = fixed.softmax_constants(fb)
    q, k, v, pq, pk, pos = (g.ref(x) for x in (op.q, op.k, op.v, op.pq, op.pk, op.position))
    out = g.alloc(op.res)
    kso, vso, pso, sso = g.state_at[op]
    g.lines.append(
        f"  nscc::window_attention_step<{groups}, {hg}, {dk}, {dv}, {fd}, {prop(op, 'window')}, {prop(op, 'sinks')}, {fb}, {prop(op, 'shift')}, "
        f"{prop(op, 'multiplier')}LL, {prop(op, 'factor_shift')}, {log2e}LL, {c1}LL, {c2}LL>({q[0]}, {q[1]}, {k[0]}, {k[1]}, {v[0]}, {v[1]}, "
        f"{pq[0]}, {pq[1]}, {pk[0]}, {pk[1]}, {_rom(g, r.reshape(-1).tolist())}, {pos[0]}, {pos[1]}, state, {kso}, {vso}, {pso}, {sso}, "
        f"{out[0]}, {out[1]});"
    )
    # per call and key-value head: S and z loaded and stored a word a cycle (the state traffic,
    # most of it), the key features' rows; per query head the near slots' keys and values a word
    # a cycle and the far readout a row of S a cycle
    heads, kw, vw, pw = math.prod(qs[:-2]), -(-dk // 64), -(-dv // 64), -(-fd // 64)
    _other(g, op, groups * (2 * -(-(fd * dv + fd) // 8) + 2 * pw + vw) + heads * (slots * (kw + vw) + fd), 1)
    g.others[-1].update(dk=dk, dv=dv)


def _mask(g: _Gen, op: snn.AttentionOp | snn.LinearAttentionOp, lead: Sequence[int], scores: tuple[int, int, int]):
    """An attention mask on chip: its (array, offset) and its strides over (batch entries, heads,
    queries, keys); without one a placeholder and zero strides."""
    if op.mask is None:
        return ("a32", "0"), (0, 0, 0, 0)
    m = g.ref(op.mask)
    if m[0] not in ("a32", "prm"):
        raise NsccError(f"vck190 target: the mask of {where(op)} must be int32", "report this as a bug")
    strides = mask_strides(_shape(op.mask), lead, scores)
    if strides is None:
        raise NsccError(f"vck190 target: the mask of {where(op)} broadcasts over some batch axes only", "give it all or none of them")
    return m, strides


@_emits(snn.AttentionOp)
def _emit_attention(g: _Gen, op: snn.AttentionOp) -> None:
    qs, ks, vs = _shape(op.q), _shape(op.k), _shape(op.v)
    outer, (h, s, dk), (gk, t, dv) = math.prod(qs[:-3]), qs[-3:], (ks[-3], ks[-2], vs[-1])
    f = prop(op, "frac_bits")
    log2e, c1, c2 = fixed.softmax_constants(f)
    q, k, v = (g.ref(x) for x in (op.q, op.k, op.v))
    m, (mz, mh, mi, mj) = _mask(g, op, qs[:-3], (h, s, t))
    out = g.alloc(op.res)
    limit = 0 if op.causal is not None else t
    g.lines.append(
        f"  nscc::attention<{outer}, {h}, {gk}, {s}, {t}, {dk}, {dv}, {limit}, {str(op.mask is not None).lower()}, {mz}, {mh}, {mi}, {mj}, "
        f"{f}, {prop(op, 'shift')}, {prop(op, 'multiplier')}LL, {log2e}LL, {c1}LL, {c2}LL>"
        f"({q[0]}, {q[1]}, {k[0]}, {k[1]}, {v[0]}, {v[1]}, {m[0]}, {m[1]}, {out[0]}, {out[1]});"
    )
    _other(g, op, outer * h * s * t * (dk + dv), 1)
    g.others[-1].update(dk=dk, dv=dv)


@_emits(snn.LinearAttentionOp)
def _emit_linear_attention(g: _Gen, op: snn.LinearAttentionOp) -> None:
    """Encoders' linear attention (bidirectional or masked; the causal unmasked form is refused in
    `_emit`): the whole padded batch on chip, as snn.attention, in the quadratic form."""
    qs, dv = _shape(op.q), _shape(op.v)[-1]
    lead, h = (qs[:-3], qs[-3]) if len(qs) > 2 else ((), 1)
    outer, s, dk = math.prod(lead), qs[-2], qs[-1]
    q, k, v = (g.ref(x) for x in (op.q, op.k, op.v))
    if not (q[0] == k[0] == v[0] == "a32"):
        raise NsccError(f"vck190 target: {where(op)} needs counts as q, k and v", "run spike-conversion and requant-fusion first")
    m, (mz, mh, mi, mj) = _mask(g, op, lead, (h, s, s))
    num, den = g.alloc(op.num), g.alloc(op.den)
    if num[0] != "a64" or den[0] != "a64":
        raise NsccError(f"vck190 target: {where(op)} must produce int64 results", "report this as a bug")
    limit = s if op.bidirectional is not None else 0
    f = prop(op, "frac_bits") if op.mask is not None else 0
    g.lines.append(
        f"  nscc::linear_attention<{outer}, {h}, {s}, {dk}, {dv}, {limit}, {str(op.mask is not None).lower()}, {mz}, {mh}, {mi}, {mj}, {f}>"
        f"({q[0]}, {q[1]}, {k[0]}, {k[1]}, {v[0]}, {v[1]}, {m[0]}, {m[1]}, {num[0]}, {num[1]}, {den[0]}, {den[1]});"
    )
    _other(g, op, outer * h * s * s * (dk + dv), 1)  # per query and key: the dot product, then a value column each
    g.others[-1].update(dk=dk, dv=dv)


@_emits(snn.FixedSoftmaxOp)
def _emit_fixed_softmax(g: _Gen, op: Operation) -> None:
    L = g.lines
    f = prop(op, "frac_bits")
    shape = _shape(op.input)
    axis = prop(op, "axis") % len(shape)
    outer, n, inner = math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1 :])
    log2e, c1, c2 = fixed.softmax_constants(f)
    x = g.ref(op.input)
    out = g.alloc(op.res)
    L.append(f"  nscc::fixed_softmax<{outer}, {n}, {inner}, {f}, {log2e}LL, {c1}LL, {c2}LL>({x[0]}, {x[1]}, {out[0]}, {out[1]});")
    return _other(g, op, math.prod(shape), 3)


@_emits(snn.FeatureMapOp)
def _emit_feature_map(g: _Gen, op: snn.FeatureMapOp) -> None:
    w, mult = _constant(g, op.weight), _constant(g, op.multiplier)
    if w is None or mult is None:
        raise NsccError(
            f"vck190 target: {where(op)} has computed weights or multipliers", "they must be constants (spike-conversion makes them)"
        )
    xs, (h, d, f) = _shape(op.input), w.shape
    rows = math.prod(xs[:-1])
    fb = prop(op, "frac_bits")
    log2e, c1, c2 = fixed.softmax_constants(fb)
    x = g.ref(op.input)
    wo, mo = g.param(w), _rom(g, mult.reshape(-1).tolist())
    out = g.alloc(op.res)
    g.lines.append(
        f"  nscc::feature_map<{rows}, {h}, {xs[-2]}, {d}, {f}, {prop(op, 'shift')}, {fb}, {prop(op, 'divisor')}LL, {op.res.type.levels.data}LL, "
        f"{log2e}LL, {c1}LL, {c2}LL>({x[0]}, {x[1]}, prm, {wo}, {mo}, {out[0]}, {out[1]});"
    )
    # per position D x f count-times-weight additions, f scalings, and the softmax of t and of -t (max, exp, share: 3 x 2f)
    _other(g, op, rows * (d * f + f + 3 * 2 * f), 1)


@_emits(nn.GatherOp)
def _emit_gather(g: _Gen, op: Operation) -> None:
    L = g.lines
    table = _constant(g, op.input)
    if table is None:
        raise NsccError(
            f"vck190 target: {where(op)} reads a computed table; the kernel gathers from constant tables",
            "gathers from weights (embeddings, positional tables) are supported",
        )
    a = prop(op, "axis") % table.ndim  # embeddings: rows (axis 0); positional tables read at the position: any axis
    to = g.param(table)
    idx = g.ref(op.indices)
    out = g.alloc(op.res)
    nidx = max(1, math.prod(_shape(op.indices)))
    outer, inner = math.prod(table.shape[:a]), math.prod(table.shape[a + 1 :])
    L.append(
        f"  nscc::gather_rows<{outer}, {nidx}, {table.shape[a]}, {inner}>(prm, {to}, {idx[0]}, {idx[1]}, {out[0]}, {out[1]});"
    )
    return _other(g, op, math.prod(_shape(op.res)), 1)


@_emits(nn.ReshapeOp, nn.CastOp)
def _emit_reshape(g: _Gen, op: Operation) -> None:
    if isinstance(op, nn.CastOp) and np.dtype(np_dtype(op.res.type)) == np.bool_:  # to i1: x != 0
        return _elementwise(g, op, 6, [op.input, op.input])
    if isinstance(op, nn.ReshapeOp) and g.arena(op.operands[0]) == g.arena(op.results[0]):
        g.ref(op.operands[0])
        g.alias[op.results[0]] = op.operands[0]
        return None
    n = max(1, math.prod(_shape(op.results[0])))
    return _view(g, op.operands[0], op.results[0], [n], [1], 0)


@_emits(nn.TransposeOp, nn.SplitOp, nn.SliceOp)
def _emit_transpose(g: _Gen, op: Operation) -> None:
    for res, strides, offset in strided_views(op):
        _view(g, op.operands[0], res, list(_shape(res)), strides, offset)


@_emits(nn.BroadcastOp)
def _emit_broadcast(g: _Gen, op: nn.BroadcastOp) -> None:
    """A view with stride 0 along the broadcast axes (grouped-query keys and values repeated per head)."""
    shape = _shape(op.res) or (1,)
    _view(g, op.input, op.res, list(shape), broadcast_strides(_shape(op.input), shape), 0)


@_emits(nn.ConcatOp)
def _emit_concat(g: _Gen, op: Operation) -> None:
    shape = _shape(op.res)
    axis = prop(op, "axis") % len(shape)
    out = g.alloc(op.res)
    ostrides = [math.prod(shape[d + 1 :]) for d in range(len(shape))]
    at, lanes = 0, []
    for v in op.inputs:
        vs = _shape(v)
        src = g.ref(v)
        istr = [math.prod(vs[d + 1 :]) for d in range(len(vs))]
        lanes.append(_copy(g, src, 0, istr, out, at * ostrides[axis], ostrides, list(vs)))
        at += vs[axis]
    return _other(g, op, math.prod(shape), 1, min(lanes))


def _i64(v: int) -> str:
    return f"int64_t({v}LL)" if v > -(2**63) else "int64_t(-9223372036854775807LL - 1)"


def _other(g: _Gen, op: Operation, elements: int, passes: int, vector: int = 1) -> None:
    """Cost of a non-synapse op for the estimator: `passes` pipelined sweeps over its elements,
    `vector` elements a cycle."""
    layer = op.attributes.get(LAYER_ATTR)
    g.others.append(
        {
            "index": g.index,
            "op": op.name,
            "layer": layer.data if isinstance(layer, StringAttr) else "",
            "elements": int(elements),
            "passes": passes,
            "vector": vector,
        }
    )


def _copy(g: _Gen, src, soff: int, sstr: Sequence[int], dst, doff: int, dstr: Sequence[int], dims: Sequence[int]) -> int:
    """One `nscc::copy_view` call; returns its elements a cycle."""
    n, ss, ds = _pad(list(dims), 1), _pad(list(sstr), 0), _pad(list(dstr), 0)
    aligned = all(k == 1 or (s % LANES == 0 and t % LANES == 0) for k, s, t in zip(n[:-1], ss[:-1], ds[:-1]))
    v = _lanes(n[-1], [src, dst], [ss[-1], ds[-1]], zero=False) if aligned and soff % LANES == 0 and doff % LANES == 0 else 1
    kn, ks, kd = _rom(g, n, "int"), _rom(g, ss), _rom(g, ds)
    g.lines.append(f"  nscc::copy_view<{v}>({src[0]}, {src[1]} + {soff}, {ks}, {dst[0]}, {dst[1]} + {doff}, {kd}, {kn});")
    return v


def _view(g: _Gen, src_v: SSAValue, dst_v: SSAValue, dims: list[int], strides: list[int], offset: int) -> None:
    src = g.ref(src_v)
    out = g.alloc(dst_v)
    contiguous = [math.prod(dims[d + 1 :]) for d in range(len(dims))]
    v = _copy(g, src, offset, strides, out, 0, contiguous, dims)
    _other(g, dst_v.owner, math.prod(dims), 1, v)


BINARY_KINDS = {
    snn.FixedAddOp: 0, snn.FixedDivOp: 1, nn.ReluOp: 2, snn.FixedMulOp: 3, nn.AndOp: 4, nn.OrOp: 5, nn.EqualOp: 7,
    nn.AddOp: 8, nn.SubOp: 9, nn.MulOp: 10, nn.AbsOp: 11,
}  # fmt: skip


@_emits(*BINARY_KINDS)
def _binary(g: _Gen, op: Operation) -> None:
    operands = list(op.operands[:2]) if len(op.operands) > 1 else [op.operands[0], op.operands[0]]
    _elementwise(g, op, BINARY_KINDS[type(op)], operands)


@_emits(nn.ReduceMaxOp)
def _emit_reduce_max(g: _Gen, op: nn.ReduceMaxOp) -> None:
    shape = _shape(op.input)
    axes = [a % len(shape) for a in op.axes.get_values()] if op.axes is not None else list(range(len(shape)))
    if axes != [len(shape) - 1]:
        raise NsccError(f"vck190 target: {where(op)} reduces axes {axes}", "the kernel takes maxima over the last axis")
    x = g.ref(op.input)
    out = g.alloc(op.res)
    n = shape[-1]
    v = _lanes(n, [x], [1])
    g.lines.append(f"  nscc::reduce_max_rows<{math.prod(shape) // n}, {n}, {v}>({x[0]}, {x[1]}, {out[0]}, {out[1]});")
    _other(g, op, math.prod(shape), 1, v)


def _elementwise(g: _Gen, op: Operation, kind: int, operands: list[SSAValue]) -> None:
    """One `nscc::binary` call: op `kind` (nscc_hls.h) of two operands broadcast to the result."""
    res = op.results[0]
    oshape = _shape(res) or (1,)
    refs = [g.ref(v) for v in operands]
    views = [_pad(broadcast_strides(_shape(v) or (1,), oshape), 0) for v in operands]
    strides = [_rom(g, st) for st in views]
    out = g.alloc(res)
    f = prop(op, "frac_bits") if isinstance(op, snn.FixedDivOp | snn.FixedMulOp) else 0
    kn = _rom(g, _pad(list(oshape), 1), "int")
    v = _lanes(oshape[-1], refs, [st[-1] for st in views])
    (a, ao), (b, bo) = refs
    g.lines.append(f"  nscc::binary<{kind}, {f}, {v}>({a}, {ao}, {strides[0]}, {b}, {bo}, {strides[1]}, {out[0]}, {out[1]}, {kn});")
    _other(g, op, math.prod(oshape), 1, v)


def _lanes(inner: int, refs: Sequence[tuple[str, str]], inner_strides: Sequence[int], zero: bool = True) -> int:
    """LANES when an elementwise loop can take LANES elements a cycle, else 1: its innermost
    axis is a multiple of LANES long, and every operand lies in an arena (partitioned by LANES,
    each value on a multiple of LANES) and runs along that axis with stride 1 (or 0, a
    broadcast, where `zero`). Parameters come through one 32-bit device-memory port, an
    element a cycle."""
    steps = (0, 1) if zero else (1,)
    ok = inner % LANES == 0 and all(r[0] in ("a32", "a64") for r in refs) and all(st in steps for st in inner_strides)
    return LANES if ok else 1


@_emits(nn.WhereOp)
def _emit_where(g: _Gen, op: nn.WhereOp) -> None:
    oshape = _shape(op.res) or (1,)
    operands = [op.cond, op.lhs, op.rhs]
    refs = [g.ref(v) for v in operands]
    strides = [_rom(g, _pad(broadcast_strides(_shape(v) or (1,), oshape), 0)) for v in operands]
    out = g.alloc(op.res)
    kn = _rom(g, _pad(list(oshape), 1), "int")
    args = ", ".join(f"{r[0]}, {r[1]}, {st}" for r, st in zip(refs, strides))
    g.lines.append(f"  nscc::select({args}, {out[0]}, {out[1]}, {kn});")
    _other(g, op, math.prod(oshape), 1)


@_emits(nn.GatherNDOp, nn.GatherElementsOp)
def _emit_static_gather(g: _Gen, op: Operation) -> None:
    """A gather whose indices are constants is a fixed permutation: its flat source indices,
    computed once by the op's own semantics on arange, are a parameter table."""
    idx = _constant(g, op.indices)
    if idx is None:
        raise NsccError(f"vck190 target: {where(op)} gathers at computed indices", "the kernel gathers at constant indices only")
    shape = _shape(op.input)
    flat = np.arange(math.prod(shape), dtype=np.int64).reshape(shape)
    (src_index,) = NN_KERNELS[type(op)](op, [flat, idx])
    table = g.param(np.asarray(src_index, np.int64).reshape(-1))
    x = g.ref(op.input)
    out = g.alloc(op.res)
    n = max(1, math.prod(_shape(op.res)))
    g.lines.append(f"  nscc::gather_static<{n}>({x[0]}, {x[1]}, prm, {table}, {out[0]}, {out[1]});")
    _other(g, op, n, 1)


@_emits(snn.SynapseOp)
def _synapse(g: _Gen, op: snn.SynapseOp) -> None:
    w = _constant(g, op.weight)
    if w is None:
        raise NsccError(f"vck190 target: {where(op)} has computed weights", "synapse weights must be constants")
    bits = op.weight.type.element_type.width.data
    if op.group_scale is not None:
        # The kernel has no group stage: each weight times its group's multiple is the same
        # integer sum (the semantics' `group_weighted`), held in 16-bit lanes, at twice the
        # weight traffic of 8 bits.
        m = _constant(g, op.group_scale)
        if m is None:
            raise NsccError(f"vck190 target: {where(op)} has computed group scales", "group scales must be constants")
        w, bits = group_weighted(w, m), 16
    if not isinstance(op.input.type, snn.CountsType):
        raise NsccError(
            f"vck190 target: {where(op)} reads binary spike trains",
            "leave binary-expand out: the kernel adds counts (one addition per spike)",
        )
    if bits > 16:
        raise NsccError(
            f"vck190 target: {where(op)} has {bits}-bit weights",
            "the kernel stores weights of at most 16 bits; use spike-conversion{weight-bits=16} or fewer",
        )
    levels = op.input.type.levels.data
    if op.weight.type.get_shape()[0] * levels * int(np.abs(w.astype(np.int64)).max(initial=0)) >= 2**31:
        raise NsccError(
            f"vck190 target: {where(op)} could overflow the kernel's 32-bit accumulators",
            "use fewer levels, fewer weight bits, or group-size=0",
        )
    k, n = w.shape
    b = container_bits(bits)
    packed = pack_rows(w, bits)
    wpr = packed.shape[1] // WORD_BYTES
    blob, blob_b, wa, wb = split_banks(packed)
    offset, offset_b = _append(g, "a", blob, ALIGN_WORDS), _append(g, "b", blob_b, ALIGN_WORDS)
    live = np.any(w != 0, axis=1)
    live_ref = "(const uint8_t*)0"
    if not live.all():
        live_ref = _rom(g, np.packbits(live, bitorder="little").tolist(), "uint8_t")
    x = g.ref(op.input)
    m = math.prod(_shape(op.input)) // k
    # A requant that alone reads the accumulators is applied on their way out.
    uses = list(op.res.uses)
    rq_op = uses[0].operation if len(uses) == 1 and isinstance(uses[0].operation, snn.RequantOp) and uses[0].index == 0 else None
    if rq_op is not None and _dtype(rq_op.res).itemsize != 4:
        rq_op = None
    if rq_op is not None:
        rq = _requant_args(g, rq_op)
        g.fused.add(rq_op)
        out = g.alloc(rq_op.res)
        fused = f"true, {rq['c']}, {rq['inner']}, {rq['shift']}, {rq['bias']}"
        rq_args = _requant_params(g, rq)
    else:
        out = g.alloc(op.res)
        fused, rq_args = "false, 1, 1, 0, false, 0", "0, 0, 0, 0"
    layer = op.attributes.get(LAYER_ATTR)
    name = layer.data if isinstance(layer, StringAttr) else op.name
    g.layers.append(
        SynapseLayer(
            g.index,
            name,
            k,
            n,
            m,
            bits,
            b,
            wpr,
            offset,
            int(live.sum()),
            int(np.count_nonzero(w)),
            wa=wa,
            wb=wb,
            offset_b=offset_b,
        )
    )
    words_a, words_b = k * wa, k * wb
    if g.resident + words_a <= RESIDENT_WORDS and g.resident_b + words_b <= RESIDENT_WORDS:  # on chip while URAM lasts, in program order
        lay = g.layers[-1]
        lay.resident, lay.resident_b = g.resident, g.resident_b
        g.resident += -(-words_a // 8) * 8
        g.resident_b += -(-words_b // 8) * 8
        src, where_ = f"wres, {lay.resident}, wres2, {lay.resident_b}", 1
    else:
        src, where_ = f"wgt, {offset}, wgt2, {offset_b}", 0
    g.lines.append(
        f"  nscc::synapse<{m}, {k}, {n}, {b}, {wa}, {wb}, {where_}, {fused}>({src}, {live_ref}, {x[0]}, {x[1]}, prm, {rq_args}, {out[0]}, {out[1]});"
        f"  // synapse layer {len(g.layers) - 1}"
    )


@_emits(snn.LinearAttentionStepOp)
def _linear_attention(g: _Gen, op: snn.LinearAttentionStepOp) -> None:
    qs, vs = _shape(op.q), _shape(op.v)
    if qs[-2] != 1:
        raise NsccError(
            f"vck190 target: {where(op)} runs over {qs[-2]} positions at once",
            "the kernel decodes one token per call: nscc compiles decoders token by token (a model with linear attention)",
        )
    heads, dk, dv = math.prod(qs[:-2]), qs[-1], vs[-1]
    q, k, v = g.ref(op.q), g.ref(op.k), g.ref(op.v)
    if not (q[0] == k[0] == v[0] == "a32"):
        raise NsccError(f"vck190 target: {where(op)} needs counts as q, k and v", "run spike-conversion and requant-fusion first")
    num, den = g.alloc(op.num), g.alloc(op.den)
    if num[0] != "a64" or den[0] != "a64":
        raise NsccError(f"vck190 target: {where(op)} must produce int64 results", "report this as a bug")
    so = g.state_at[op]  # where its state arguments are in the state port (_state_port)
    g.lines.append(
        f"  nscc::linear_attention_step<{heads}, {dk}, {dv}, {prop(op, 'decay_shift')}>({q[0]}, {q[1]}, {k[0]}, {k[1]}, {v[0]}, {v[1]}, state, {so}, "
        f"{num[0]}, {num[1]}, {den[0]}, {den[1]});"
    )
    layer = op.attributes.get(LAYER_ATTR)
    g.others.append(
        {
            "index": g.index,
            "op": op.name,
            "layer": layer.data if isinstance(layer, StringAttr) else "",
            "elements": heads * (dk + 2 * dv),  # a row of S per cycle, then num out
            "passes": 1,
            "dk": dk,
            "dv": dv,
        }
    )


def _requant_args(g: _Gen, op: snn.RequantOp) -> dict:
    mult = _constant(g, op.multiplier)
    if mult is None:
        raise NsccError(f"vck190 target: {where(op)} has a computed multiplier", "multipliers must be constants")
    bias = _constant(g, op.bias) if op.bias is not None else None
    t = op.res.type
    lo, hi = (
        (t.lo, t.hi)
        if isinstance(t, snn.CountsType)
        else ((-(2**31), 2**31 - 1) if _dtype(op.res).itemsize == 4 else (-(2**63), 2**63 - 1))
    )
    c, inner = channel_layout(_shape(op.input), _shape(op.multiplier), prop(op, "axis"))
    return {
        "c": c,
        "inner": inner,
        "shift": prop(op, "shift"),
        "bias": ("true" if bias is not None else "false") + f", {prop(op, 'bias_frac') or 0}",
        "range": f"{_i64(lo)}, {_i64(hi)}",
        "mult": mult,
        "bias_values": bias,
    }


def _requant_params(g: _Gen, rq: dict) -> str:
    """The multiplier and bias offsets in params.bin, and the clamp range: requant's arguments."""
    bias = rq["bias_values"]
    return f"{g.param(rq['mult'])}, {g.param(bias) if bias is not None else 0}, {rq['range']}"


@_emits(snn.LifOp, snn.LeakyIntegrateOp)
def _emit_lif(g: _Gen, op: snn.LifOp | snn.LeakyIntegrateOp) -> None:
    shape = _shape(op.input)
    lif = isinstance(op, snn.LifOp)
    params = [op.decay] + ([op.threshold, op.reset] if lif else [op.decay, op.decay])
    arrays = [_constant(g, p) for p in params]
    if any(a is None for a in arrays):
        raise NsccError(f"vck190 target: {where(op)} has computed neuron parameters", "decay, threshold and reset must be constants")
    x = g.ref(op.input)
    offsets = [g.param(a) for a in arrays]
    out = g.alloc(op.res)
    t, n = shape[0], math.prod(shape[1:])
    sizes = ", ".join(str(a.size) for a in arrays)
    g.lines.append(
        f"  nscc::lif<{t}, {n}, {sizes}, {'true' if lif else 'false'}>({x[0]}, {x[1]}, prm, {', '.join(map(str, offsets))}, {out[0]}, {out[1]});"
    )
    _other(g, op, t * n, 1)


@_emits(snn.RecurrentLifOp)
def _emit_recurrent_lif(g: _Gen, op: snn.RecurrentLifOp) -> None:
    t, n = _shape(op.input)
    arrays = [_constant(g, p) for p in (op.weight, op.decay, op.threshold, op.reset)]
    if any(a is None for a in arrays):
        raise NsccError(f"vck190 target: {where(op)} has computed weights or neuron parameters", "they must be constants")
    x = g.ref(op.input)
    offsets = [g.param(a) for a in arrays]
    out = g.alloc(op.res)
    sizes = ", ".join(str(a.size) for a in arrays[1:])
    g.lines.append(f"  nscc::recurrent_lif<{t}, {n}, {sizes}>({x[0]}, {x[1]}, prm, {', '.join(map(str, offsets))}, {out[0]}, {out[1]});")
    _other(g, op, t * n * (n + 1), 1)


@_emits(snn.ConvSynapseOp)
def _conv_synapse(g: _Gen, op: snn.ConvSynapseOp) -> None:
    w = _constant(g, op.weight)
    xs, os_ = _shape(op.input), _shape(op.res)
    if w is None or len(xs) != 4 or not isinstance(op.input.type, snn.CountsType):
        raise NsccError(
            f"vck190 target: {where(op)} must be a 2-D convolution of counts with constant weights",
            "1-D and 3-D convolutions are not supported",
        )
    st, pd, dl = list(prop(op, "strides")), list(prop(op, "pads")), list(prop(op, "dilations"))
    x = g.ref(op.input)
    wo = g.param(w)
    out = g.alloc(op.res)
    m, _, kh, kw = w.shape
    g.lines.append(
        f"  nscc::conv_synapse<{xs[0]}, {xs[1]}, {xs[2]}, {xs[3]}, {m}, {kh}, {kw}, {st[0]}, {st[1]}, {pd[0]}, {pd[1]}, {dl[0]}, {dl[1]}, "
        f"{prop(op, 'group')}, {os_[2]}, {os_[3]}>({x[0]}, {x[1]}, prm, {wo}, {out[0]}, {out[1]});"
    )
    _other(g, op, math.prod(os_) * int(np.prod(w.shape[1:])), 1)


@_emits(nn.MaxPoolOp, nn.AvgPoolOp)
def _pool(g: _Gen, op: Operation) -> None:
    xs, os_ = _shape(op.operands[0]), _shape(op.results[0])
    dil = prop(op, "dilations") or [1, 1]
    if len(xs) != 4 or any(d != 1 for d in dil) or len(op.results) != 1 or g.arena(op.operands[0]) != "a32":
        raise NsccError(f"vck190 target: {where(op)}: only 2-D pooling of int32 without dilation", "run integer-islands before compiling")
    k, st, pd = list(prop(op, "kernel")), list(prop(op, "strides")), list(prop(op, "pads"))
    is_max = isinstance(op, nn.MaxPoolOp)
    count_pad = (not is_max) and bool(prop(op, "count_include_pad"))
    x = g.ref(op.operands[0])
    out = g.alloc(op.results[0])
    g.lines.append(
        f"  nscc::pool2d<{xs[0]}, {xs[1]}, {xs[2]}, {xs[3]}, {k[0]}, {k[1]}, {st[0]}, {st[1]}, {pd[0]}, {pd[1]}, {os_[2]}, {os_[3]}, "
        f"{'true' if is_max else 'false'}, {'true' if count_pad else 'false'}>({x[0]}, {x[1]}, {out[0]}, {out[1]});"
    )
    _other(g, op, math.prod(os_) * k[0] * k[1], 1)
