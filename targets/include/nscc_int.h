// nscc_int.h: the integer helpers of docs/semantics.md, written once for both C++
// targets. The C++ simulator's kernels and the HLS kernel's loops call these per
// element, so the two cannot drift apart. Plain fixed-width C++ (C++14), which
// g++ and Vitis HLS both take; the HLS pragmas are ignored by g++.
// Constants: nscc_fixed.h, generated from nscc/semantics/fixed.py.
#pragma once

#include <stdint.h>

#include "nscc_fixed.h"

namespace nscc {

inline int64_t sat32(int64_t v) {
#pragma HLS INLINE
  return v < -2147483648LL ? -2147483648LL : (v > 2147483647LL ? 2147483647LL : v);
}
inline int64_t clamp64(int64_t v, int64_t lo, int64_t hi) {
#pragma HLS INLINE
  return v < lo ? lo : (v > hi ? hi : v);
}
// (a + 2^(k-1)) >> k, arithmetic: division by 2^k rounding half up
inline int64_t round_shift(int64_t a, int k) {
#pragma HLS INLINE
  return k > 0 ? (a + (int64_t(1) << (k - 1))) >> k : a;
}
// snn.lif / snn.leaky_integrate: one step of the membrane, v * decay at 16 fraction bits plus the input
inline int64_t leak_step(int64_t v, int64_t decay, int64_t in) {
#pragma HLS INLINE
  return round_shift(v * decay, 16) + in;
}
// floor(a / b); C++ division truncates toward zero
inline int64_t floordiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
// floor((2a + b) / 2b): division rounding half up, b > 0
inline int64_t round_div(int64_t a, int64_t b) { return floordiv(2 * a + b, 2 * b); }
// floor(sqrt(n)) for 0 <= n < 2^62, digit by digit: 32 fixed iterations, no float
inline int64_t isqrt(int64_t n) {
  uint64_t x = (uint64_t)n, r = 0, bit = uint64_t(1) << 62;
isqrt_loop:
  for (int i = 0; i < 32; ++i) {
#pragma HLS PIPELINE II=1
    if (x >= r + bit) {
      x -= r + bit;
      r = (r >> 1) + bit;
    } else {
      r >>= 1;
    }
    bit >>= 2;
  }
  return (int64_t)r;
}

// snn.requant of one element, bias already added
inline int64_t requant_value(int64_t a, int64_t mult, int shift, int64_t lo, int64_t hi) {
#pragma HLS INLINE
  return clamp64(round_shift(a * mult, shift), lo, hi);
}
// snn.fixed_add
inline int32_t fixed_add_value(int64_t a, int64_t b) {
#pragma HLS INLINE
  return (int32_t)sat32(a + b);
}
// snn.fixed_div: a / b at f fraction bits, 0 where b <= 0
inline int32_t fixed_div_value(int64_t a, int64_t b, int f) {
  return b > 0 ? (int32_t)sat32(round_div(a * (int64_t(1) << f), b)) : 0;
}
// snn.fixed_layer_norm of one element: d = x - mean, sigma the integer deviation
inline int32_t layer_norm_affine(int64_t y, int64_t gamma, int64_t beta) { return (int32_t)sat32(round_shift(y * gamma, GAMMA_BITS) + beta); }
inline int32_t layer_norm_value(int64_t d, int64_t sigma, int f, int r, int64_t gamma, int64_t beta) {
  return layer_norm_affine(round_div(d * (int64_t(1) << (f - r)), sigma), gamma, beta);
}
// snn.fixed_softmax: 2^(t log2 e) for t = x - max <= 0, at f fraction bits;
// log2e, c1, c2 from nscc.semantics.fixed.softmax_constants(f)
inline int64_t exp_value(int64_t t, int f, int64_t log2e, int64_t c1, int64_t c2) {
  if (t < -(int64_t(SOFTMAX_MIN) << f)) t = -(int64_t(SOFTMAX_MIN) << f);
  int64_t u = round_shift(t * log2e, LOG2E_BITS);
  int64_t z = (-u) >> f, fr = (-u) & ((int64_t(1) << f) - 1);
  int64_t p = (int64_t(1) << f) - round_shift(fr * c1, f) + round_shift(round_shift(fr * fr, f) * c2, f);
  return p >> (z < 62 ? z : 62);
}
// snn.linear_attention's mask (f fraction bits): key j is hidden from query i where
// mask_ij <= -SOFTMAX_MIN * 2^f (exp_value is 0 there), its product q_i . k_j then 0
inline bool linear_attention_hides(int64_t mask, int f) {
#pragma HLS INLINE
  return mask <= -(int64_t(SOFTMAX_MIN) << f);
}
// snn.fixed_softmax steps 4-5 (and snn.feature_map's): e's share of the total at f fraction
// bits, a total below 1 taken as 1
inline int64_t softmax_share(int64_t e, int64_t total, int f) {
#pragma HLS INLINE
  return sat32(round_div(e << f, total > 1 ? total : 1));
}
// snn.feature_map step 4: a share p (f fraction bits) as a count of `divisor` units, at most `levels`
inline int64_t feature_count(int64_t p, int64_t divisor, int64_t levels) {
  int64_t c = round_div(p, divisor);
  return c < levels ? c : levels;
}
// snn.fixed_silu: x sigmoid(alpha x), alpha at ALPHA_BITS; the sigmoid from exp_value
inline int32_t silu_value(int64_t x, int f, int64_t alpha, int64_t log2e, int64_t c1, int64_t c2) {
  int64_t xs = round_shift(x * alpha, ALPHA_BITS);
  int64_t s = round_div(int64_t(1) << (2 * f), (int64_t(1) << f) + exp_value(xs < 0 ? xs : -xs, f, log2e, c1, c2));
  return (int32_t)sat32(round_shift(x * (xs >= 0 ? s : (int64_t(1) << f) - s), f));
}
// snn.fixed_mul
inline int32_t fixed_mul_value(int64_t a, int64_t b, int f) {
#pragma HLS INLINE
  return (int32_t)sat32(round_shift(a * b, f));
}
// snn.fixed_gelu (I-BERT); inv_sqrt2, b, a from nscc.semantics.fixed.gelu_constants(f)
inline int32_t gelu_value(int64_t x, int f, int64_t inv_sqrt2, int64_t b, int64_t a) {
  int64_t xs = round_shift(x * inv_sqrt2, INV_SQRT2_BITS);
  int64_t m = xs < 0 ? -xs : xs;
  int64_t w = (m < b ? m : b) - b;
  int64_t erf = round_shift(round_shift(w * w, f) * a, f) + (int64_t(1) << f);
  erf = xs > 0 ? erf : (xs < 0 ? -erf : 0);
  return (int32_t)sat32(round_shift(x * ((int64_t(1) << f) + erf), f + 1));
}

}  // namespace nscc
