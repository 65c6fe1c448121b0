"""Pass `integer-islands`: the non-spiking islands in fixed point, integers only.

After `spike-conversion` the ops between spiking layers (LayerNorm, softmax,
GELU, residual adds, ReLU, and the reshapes around them) still compute in
float. This pass carries them over to fixed point, a tensor<...xi32> `v`
standing for v * 2^-F (`frac-bits`, 16), in the manner of I-BERT:

* `snn.decode` of an accumulator becomes `snn.requant` to fixed point;
* `nn.layer_norm`, `nn.softmax`, `nn.gelu` become `snn.fixed_layer_norm`,
  `snn.fixed_softmax`, `snn.fixed_gelu` (integer mean, variance and square
  root; a base-2 exponential from a quadratic and a shift; I-BERT's erf);
* `nn.add` becomes the saturating `snn.fixed_add`, `nn.relu`, pooling
  (max exact, average `round_div`) and data movement ops work on the
  integers unchanged;
* `snn.encode` of a fixed-point value becomes `snn.requant` to counts;
* linear attention's normalisation `num / (den + eps)` becomes
  `snn.fixed_div` of the integers, a product with a constant a
  `snn.requant`, and an embedding table read by an island a fixed-point table,
  so that a linear-attention decoder is integer from token ids to logits
  accumulators (what the VCK190 kernel needs).

Where a float op still needs a converted value (the products of two
activations, until `linear-attention` removes them) a `snn.fixed_decode`
hands it over; a float value entering an island gets a `snn.fixed_encode`.
The fixed-point functions approximate the float ones (LayerNorm within
about 3e-3, softmax 6e-4, GELU 2e-2 on unit-scale inputs); their integer
semantics are exact and written in docs/semantics.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerAttr, IntegerType, ModuleOp, TensorType, i32, i64
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern
from xdsl.rewriter import InsertPoint
from xdsl.transforms.dead_code_elimination import region_dce

from nscc.errors import NsccError
from nscc.ir import nn, snn
from nscc.ir.constants import constant_value, new_weight
from nscc.ir.context import weights_of
from nscc.ir.types import np_dtype
from nscc.ir.weights import WeightStore
from nscc.passes.requant_fusion import fixed_point
from nscc.semantics.fixed import GAMMA_BITS

MOVEMENT = (nn.ReshapeOp, nn.TransposeOp, nn.SliceOp, nn.BroadcastOp, nn.SplitOp, nn.ConcatOp, nn.MaxPoolOp, nn.AvgPoolOp)


def _i32(value: SSAValue) -> TensorType:
    return TensorType(i32, list(value.type.get_shape()))


@dataclass
class ToFixed(RewritePattern):
    store: WeightStore
    frac_bits: int
    fixed: dict[SSAValue, SSAValue] = field(default_factory=dict)
    converted: set[Operation] = field(default_factory=set)

    def _props(self, **extra) -> dict:
        return {"frac_bits": IntegerAttr(self.frac_bits, i64), **{k: IntegerAttr(v, i64) for k, v in extra.items()}}

    def _weight(self, rewriter, op, name: str, arr: np.ndarray) -> SSAValue:
        w = new_weight(self.store, name, arr)
        rewriter.insert(w, InsertPoint.before(op))
        return w.res

    def _as_fixed(self, rewriter, op, value: SSAValue) -> SSAValue:
        """The fixed-point version of a float operand, made at the boundary if need be."""
        if value in self.fixed:
            return self.fixed[value]
        const = constant_value(value, self.store)
        if const is not None:
            arr = np.clip(np.rint(const.astype(np.float64) * 2.0**self.frac_bits), -(2**31), 2**31 - 1).astype(np.int32)
            v = self._weight(rewriter, op, "fixed_const", arr)
        else:
            enc = snn.FixedEncodeOp.build(operands=[value], result_types=[_i32(value)], properties=self._props())
            rewriter.insert(enc, InsertPoint.before(op))
            v = enc.res
        self.fixed[value] = v
        return v

    def _emit(self, rewriter, op, new: Operation) -> None:
        rewriter.insert(new, InsertPoint.before(op))
        for old, res in zip(op.results, new.results):
            self.fixed[old] = res
        self.converted.add(op)

    @staticmethod
    def _island(op: Operation) -> bool:
        """The ops this pass carries over to fixed point."""
        return isinstance(op, (nn.LayerNormOp, nn.SoftmaxOp, nn.GeluOp, nn.AddOp, nn.ReluOp, nn.MulOp, snn.EncodeOp, *MOVEMENT))

    def _integer_source(self, value: SSAValue) -> SSAValue | None:
        """The integer tensor a float value was cast from, looking through `+ eps` (0 <= eps < 1)."""
        owner = value.owner
        if isinstance(owner, nn.AddOp):
            for a, b in ((owner.lhs, owner.rhs), (owner.rhs, owner.lhs)):
                c = constant_value(b, self.store)
                if c is not None and c.size == 1 and 0 <= float(c.reshape(-1)[0]) < 1:
                    return self._integer_source(a)
            return None
        if isinstance(owner, nn.CastOp) and np.dtype(np_dtype(owner.input.type)).kind == "i":
            return owner.input
        return None

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if op in self.converted:
            return
        f = self.frac_bits
        if isinstance(op, snn.DecodeOp):
            if not any(self._island(u.operation) for u in op.res.uses):
                return  # only decodes that feed an island go to fixed point; the output stays float
            scale = constant_value(op.scale, self.store)
            bias = constant_value(op.bias, self.store) if op.bias is not None else None
            if scale is None or (op.bias is not None and bias is None):
                return
            rank = len(op.input.type.get_shape())
            axis = op.axis.value.data % rank
            channels = op.input.type.get_shape()[axis]
            s = np.broadcast_to(scale.astype(np.float64).reshape(-1), (channels,))
            mult, shift = fixed_point(s * 2.0**f, 24)
            ops = [self._weight(rewriter, op, "fixed.multiplier", mult.astype(np.int32))]
            if bias is not None:
                b = np.rint(np.broadcast_to(bias.astype(np.float64).reshape(-1), (channels,)) / s)
                ops.append(self._weight(rewriter, op, "fixed.ibias", np.clip(b, -(2**31), 2**31 - 1).astype(np.int32)))
            else:
                ops.append([])
            req = snn.RequantOp.build(
                operands=[op.input, *ops],
                result_types=[_i32(op.res)],
                properties={"shift": IntegerAttr(shift, i64), "axis": IntegerAttr(axis, i64)},
            )
            self._emit(rewriter, op, req)
        elif isinstance(op, nn.LayerNormOp):
            gamma = constant_value(op.scale, self.store)
            beta = constant_value(op.bias, self.store) if op.bias is not None else np.zeros(1, np.float32)
            if gamma is None or beta is None:
                return
            norm_shape = tuple(op.input.type.get_shape())[op.axis.value.data :]
            g = np.rint(np.broadcast_to(gamma.astype(np.float64), norm_shape) * 2.0**GAMMA_BITS).astype(np.int32)
            b = np.clip(np.rint(np.broadcast_to(beta.astype(np.float64), norm_shape) * 2.0**f), -(2**31), 2**31 - 1).astype(np.int32)
            r = snn.ln_var_shift(int(np.prod(norm_shape)))
            eps = max(1, int(round(op.epsilon.value.data * 2.0 ** (2 * (f - r)))))
            x = self._as_fixed(rewriter, op, op.input)
            ln = snn.FixedLayerNormOp.build(
                operands=[x, self._weight(rewriter, op, "fixed.gamma", g), self._weight(rewriter, op, "fixed.beta", b)],
                result_types=[_i32(op.res)],
                properties=self._props(axis=op.axis.value.data, var_shift=r, epsilon=eps),
            )
            self._emit(rewriter, op, ln)
        elif isinstance(op, nn.SoftmaxOp):
            x = self._as_fixed(rewriter, op, op.input)
            self._emit(
                rewriter,
                op,
                snn.FixedSoftmaxOp.build(operands=[x], result_types=[_i32(op.res)], properties=self._props(axis=op.axis.value.data)),
            )
        elif isinstance(op, nn.GeluOp):
            x = self._as_fixed(rewriter, op, op.input)
            self._emit(rewriter, op, snn.FixedGeluOp.build(operands=[x], result_types=[_i32(op.res)], properties=self._props()))
        elif isinstance(op, nn.AddOp) and (op.lhs in self.fixed or op.rhs in self.fixed):
            a, b = self._as_fixed(rewriter, op, op.lhs), self._as_fixed(rewriter, op, op.rhs)
            self._emit(rewriter, op, snn.FixedAddOp.build(operands=[a, b], result_types=[_i32(op.res)]))
        elif isinstance(op, nn.DivOp) and not isinstance(op.lhs.type.element_type, IntegerType):
            num, den = self._integer_source(op.lhs), self._integer_source(op.rhs)
            if num is None or den is None:
                return
            self._emit(rewriter, op, snn.FixedDivOp.build(operands=[num, den], result_types=[_i32(op.res)], properties=self._props()))
        elif isinstance(op, nn.MulOp) and (op.lhs in self.fixed or op.rhs in self.fixed):
            x, other = (op.lhs, op.rhs) if op.lhs in self.fixed else (op.rhs, op.lhs)
            c = constant_value(other, self.store)
            shape = tuple(op.res.type.get_shape())
            if c is None or tuple(x.type.get_shape()) != shape or c.size not in (1, shape[-1]) or (c.size > 1 and c.shape[-1] != c.size):
                return
            mult, shift = fixed_point(np.broadcast_to(c.astype(np.float64).reshape(-1), (shape[-1],)), 24)
            m = self._weight(rewriter, op, "fixed.multiplier", mult.astype(np.int32))
            req = snn.RequantOp.build(
                operands=[self.fixed[x], m, []],
                result_types=[_i32(op.res)],
                properties={"shift": IntegerAttr(shift, i64), "axis": IntegerAttr(len(shape) - 1, i64)},
            )
            self._emit(rewriter, op, req)
        elif isinstance(op, nn.GatherOp) and any(self._island(u.operation) for u in op.res.uses):
            table = constant_value(op.input, self.store)
            if table is None or table.dtype.kind != "f":
                return
            fixed = np.clip(np.rint(table.astype(np.float64) * 2.0**f), -(2**31), 2**31 - 1).astype(np.int32)
            t = self._weight(rewriter, op, "fixed.table", fixed)
            self._emit(
                rewriter, op, nn.GatherOp.build(operands=[t, op.indices], result_types=[_i32(op.res)], properties=dict(op.properties))
            )
        elif isinstance(op, nn.ReluOp) and op.input in self.fixed:
            self._emit(rewriter, op, nn.ReluOp.build(operands=[self.fixed[op.input]], result_types=[_i32(op.res)]))
        elif (
            isinstance(op, MOVEMENT)
            and op.operands
            and all(v in self.fixed for v in op.operands)
            and not (isinstance(op, nn.MaxPoolOp) and len(op.results) > 1)
        ):
            operands = [self.fixed[v] for v in op.operands]
            results = [_i32(r) for r in op.results]
            new = type(op).build(
                operands=[operands] if isinstance(op, nn.ConcatOp) else operands,
                result_types=[results] if isinstance(op, nn.SplitOp) else results,
                properties=dict(op.properties),
            )
            self._emit(rewriter, op, new)
        elif isinstance(op, snn.EncodeOp) and op.input in self.fixed:
            theta = constant_value(op.theta, self.store)
            if theta is None:
                return
            shape = tuple(op.input.type.get_shape())
            t = np.asarray(theta, np.float64)
            if t.size == 1:
                axis, per = len(shape) - 1, np.full(shape[-1], float(t.reshape(-1)[0]))
            elif t.ndim == 1 and t.shape[0] == shape[-1]:
                axis, per = len(shape) - 1, t
            else:
                return
            mult, shift = fixed_point(2.0**-f / per, 24)
            m = self._weight(rewriter, op, "fixed.encode_multiplier", mult.astype(np.int32))
            req = snn.RequantOp.build(
                operands=[self.fixed[op.input], m, []],
                result_types=[op.res.type],
                properties={"shift": IntegerAttr(shift, i64), "axis": IntegerAttr(axis, i64)},
            )
            rewriter.insert(req, InsertPoint.before(op))
            rewriter.replace_all_uses_with(op.res, req.res)
            self.converted.add(op)


@dataclass(frozen=True)
class IntegerIslandsPass(ModulePass):
    """Carries LayerNorm, softmax, GELU, adds and ReLU over to fixed point (I-BERT style integers)."""

    name = "integer-islands"
    frac_bits: int = 16

    def __post_init__(self) -> None:
        if not 8 <= self.frac_bits <= 24:
            raise NsccError("integer-islands: frac-bits must be in [8, 24]", "16 keeps residual streams up to 2^15 in int32")

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        pattern = ToFixed(weights_of(ctx), self.frac_bits)
        PatternRewriteWalker(pattern, apply_recursively=False).rewrite_module(op)
        # Float ops that still read a converted result get it back through a decode.
        for old, new in pattern.fixed.items():
            if old.owner not in pattern.converted:
                continue  # an input or a constant: its float form is still there
            float_uses = [u for u in list(old.uses) if u.operation not in pattern.converted]
            if not float_uses:
                continue
            dec = snn.FixedDecodeOp.build(
                operands=[new], result_types=[old.type], properties={"frac_bits": IntegerAttr(self.frac_bits, i64)}
            )
            new.owner.parent_block().insert_op_after(dec, new.owner)
            for u in float_uses:
                u.operation.operands[u.index] = dec.res
        for fn in op.body.block.ops:
            for region in fn.regions:
                region_dce(region)
