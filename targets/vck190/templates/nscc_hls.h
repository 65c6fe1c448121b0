// nscc HLS kernel library: the snn ops of docs/semantics.md for the programmable
// logic, integer-only, with sizes as template arguments so that every loop has a
// constant trip count. The generated nscc_kernel.cpp calls these in layer order.
//
// Types: on Vitis (__SYNTHESIS__, or NSCC_AP_TYPES for a csim against the
// ap_int / hls_stream headers) a memory word is ap_uint<512> and streams are
// hls::stream; a plain g++ build takes the stand-ins of nscc_csim_types.h.
#ifndef NSCC_HLS_H
#define NSCC_HLS_H

#include <stdint.h>

#if defined(__SYNTHESIS__) || defined(NSCC_AP_TYPES)
#include <ap_int.h>
#include <hls_stream.h>
namespace nscc {
typedef ap_uint<512> word_t;
template <class T>
using stream = hls::stream<T>;
// Lane l of a word holding 512 / B signed B-bit integers (lane l at bits [l*B, l*B+B)).
template <int B>
inline int32_t lane(const word_t& w, int l) {
#pragma HLS INLINE
  ap_int<B> v = w.range(l * B + B - 1, l * B);
  return (int32_t)v;
}
inline int64_t get64(const word_t& w, int i) {
#pragma HLS INLINE
  ap_int<64> v = w.range(64 * i + 63, 64 * i);
  return (int64_t)v;
}
inline void set64(word_t& w, int i, int64_t v) {
#pragma HLS INLINE
  w.range(64 * i + 63, 64 * i) = (ap_uint<64>)(uint64_t)v;
}
template <int B>
inline void set_lane(word_t& w, int l, int32_t v) {
#pragma HLS INLINE
  w.range(l * B + B - 1, l * B) = (ap_uint<B>)(uint32_t)v;
}
}  // namespace nscc
#else
#include "nscc_csim_types.h"
#endif
#include "nscc_int.h"

namespace nscc {

// sat32, clamp64, round_shift, round_div, isqrt and the per-element fixed-point
// functions are shared with the C++ simulator: nscc_int.h.

// Up to six nested dimensions; strides in elements, 0 where an operand broadcasts.
struct Dims {
  int n[6];
};

// out[o] = in[i] over a strided view: transposes, slices, splits, concats, reshapes. V elements
// a cycle: V = LANES when both run along the innermost axis with stride 1 and every group of
// LANES starts on a multiple of LANES, else 1.
template <int V, class T, class U>
void copy_view(const T* src, int64_t so, const int64_t* ss, U* dst, int64_t doff, const int64_t* ds, const int* n) {
copy_view_loop:
  for (int a = 0; a < n[0]; ++a)
    for (int b = 0; b < n[1]; ++b)
      for (int c = 0; c < n[2]; ++c)
        for (int d = 0; d < n[3]; ++d)
          for (int e = 0; e < n[4]; ++e)
            for (int f = 0; f < n[5]; f += V) {
#pragma HLS LOOP_TRIPCOUNT max=4096
#pragma HLS PIPELINE II=1
              const int64_t i = so + a * ss[0] + b * ss[1] + c * ss[2] + d * ss[3] + e * ss[4] + f * ss[5];
              const int64_t o = doff + a * ds[0] + b * ds[1] + c * ds[2] + d * ds[3] + e * ds[4] + f * ds[5];
            copy_view_lanes:
              for (int l = 0; l < V; ++l) {
#pragma HLS UNROLL
                dst[o + l * ds[5]] = (U)src[i + l * ss[5]];
              }
            }
}

// Elementwise ops take LANES elements a cycle where their operands allow it. The arenas are
// partitioned cyclically by LANES and every value starts on a multiple of LANES, so LANES
// consecutive elements of a value lie in LANES different banks.
constexpr int LANES = 16;

template <int OP, int F>
inline int64_t binary_value(int64_t x, int64_t y) {
#pragma HLS INLINE
  if (OP == 0) return fixed_add_value(x, y);         // snn.fixed_add
  if (OP == 1) return fixed_div_value(x, y, F);      // snn.fixed_div
  if (OP == 3) return fixed_mul_value(x, y, F);      // snn.fixed_mul
  if (OP == 4) return (x != 0) && (y != 0);          // nn.and
  if (OP == 5) return (x != 0) || (y != 0);          // nn.or
  if (OP == 6) return x != 0;                        // nn.cast to i1 (b unused)
  if (OP == 7) return x == y;                        // nn.equal
  if (OP == 8) return x + y;                         // integer nn.add, nn.sub, nn.mul: the
  if (OP == 9) return x - y;                         // result type's wrap-around, as numpy
  if (OP == 10) return x * y;
  if (OP == 11) return x < 0 ? -x : x;               // nn.abs (b unused; wraps at -2^31 as numpy)
  return x > 0 ? x : 0;                              // nn.relu (b unused)
}

// Elementwise binary op OP(a, b) over a broadcast view (out contiguous), V results a cycle:
// V = LANES when the innermost axis is a multiple of LANES long and both operands run along it
// with stride 1 or 0 (a broadcast), else 1.
template <int OP, int F, int V, class TA, class TB, class TO>
void binary(const TA* a, int64_t ao, const int64_t* as, const TB* b, int64_t bo, const int64_t* bs, TO* out, int64_t oo, const int* n) {
  int64_t o = oo;
binary_loop:
  for (int i0 = 0; i0 < n[0]; ++i0)
    for (int i1 = 0; i1 < n[1]; ++i1)
      for (int i2 = 0; i2 < n[2]; ++i2)
        for (int i3 = 0; i3 < n[3]; ++i3)
          for (int i4 = 0; i4 < n[4]; ++i4)
            for (int i5 = 0; i5 < n[5]; i5 += V) {
#pragma HLS LOOP_TRIPCOUNT max=4096
#pragma HLS PIPELINE II=1
              const int64_t ab = ao + i0 * as[0] + i1 * as[1] + i2 * as[2] + i3 * as[3] + i4 * as[4];
              const int64_t bb = bo + i0 * bs[0] + i1 * bs[1] + i2 * bs[2] + i3 * bs[3] + i4 * bs[4];
            binary_lanes:
              for (int l = 0; l < V; ++l) {
#pragma HLS UNROLL
                out[o + l] = (TO)binary_value<OP, F>(a[ab + (i5 + l) * as[5]], b[bb + (i5 + l) * bs[5]]);
              }
              o += V;
            }
}

// nn.where(c, a, b) over broadcast views (out contiguous): integer selects, such as a padding mask.
template <class TC, class TA, class TB, class TO>
void select(const TC* c, int64_t co, const int64_t* cs, const TA* a, int64_t ao, const int64_t* as, const TB* b, int64_t bo, const int64_t* bs,
            TO* out, int64_t oo, const int* n) {
  int64_t o = oo;
select_loop:
  for (int i0 = 0; i0 < n[0]; ++i0)
    for (int i1 = 0; i1 < n[1]; ++i1)
      for (int i2 = 0; i2 < n[2]; ++i2)
        for (int i3 = 0; i3 < n[3]; ++i3)
          for (int i4 = 0; i4 < n[4]; ++i4)
            for (int i5 = 0; i5 < n[5]; ++i5) {
#pragma HLS LOOP_TRIPCOUNT max=4096
#pragma HLS PIPELINE II=1
              int64_t ci = co + i0 * cs[0] + i1 * cs[1] + i2 * cs[2] + i3 * cs[3] + i4 * cs[4] + i5 * cs[5];
              int64_t ai = ao + i0 * as[0] + i1 * as[1] + i2 * as[2] + i3 * as[3] + i4 * as[4] + i5 * as[5];
              int64_t bi = bo + i0 * bs[0] + i1 * bs[1] + i2 * bs[2] + i3 * bs[3] + i4 * bs[4] + i5 * bs[5];
              out[o++] = c[ci] != 0 ? (TO)a[ai] : (TO)b[bi];
            }
}

// nn.reduce_max over the last axis (keepdims), integers: token-scale's largest magnitude.
// V partial maxima a cycle (N a multiple of V), then a tree over them.
template <int ROWS, int N, int V, class T>
void reduce_max_rows(const T* x, int64_t xo, T* out, int64_t oo) {
reduce_max_loop:
  for (int r = 0; r < ROWS; ++r) {
    T m[V];
#pragma HLS ARRAY_PARTITION variable=m type=complete
    for (int l = 0; l < V; ++l) {
#pragma HLS UNROLL
      m[l] = x[xo + (int64_t)r * N + l];
    }
    for (int j = V; j < N; j += V) {
#pragma HLS PIPELINE II=1
      for (int l = 0; l < V; ++l) {
#pragma HLS UNROLL
        T v = x[xo + (int64_t)r * N + j + l];
        m[l] = v > m[l] ? v : m[l];
      }
    }
    for (int w = V / 2; w > 0; w /= 2)
      for (int l = 0; l < w; ++l) {
#pragma HLS UNROLL
        m[l] = m[l + w] > m[l] ? m[l + w] : m[l];
      }
    out[oo + r] = m[0];
  }
}

// A gather with constant indices (nn.gather_nd, say): out[i] = src[so + idx[i]], the flat source
// indices a parameter table
template <int N, class TS, class TO>
void gather_static(const TS* src, int64_t so, const int32_t* prm, int64_t io, TO* out, int64_t oo) {
gather_static_loop:
  for (int i = 0; i < N; ++i) {
#pragma HLS PIPELINE II=1
    out[oo + i] = (TO)src[so + prm[io + i]];
  }
}

// snn.lif (LIF = true) and snn.leaky_integrate over [T, N]: time outside, neurons pipelined
// inside with their membranes in a local array, so that no step waits on the one before.
// A parameter of one value (ND, NT, NR = 1) applies to every neuron.
template <int T, int N, int ND, int NT, int NR, bool LIF, class TI, class TO>
void lif(const TI* cur, int64_t co, const int32_t* prm, int64_t dof, int64_t tof, int64_t rof, TO* out, int64_t oo) {
  int64_t v[N];
lif_clear_loop:
  for (int i = 0; i < N; ++i) {
#pragma HLS PIPELINE II=1
    v[i] = 0;
  }
lif_time_loop:
  for (int t = 0; t < T; ++t) {
  lif_neuron_loop:
    for (int i = 0; i < N; ++i) {
#pragma HLS PIPELINE II=1
      int64_t x = leak_step(v[i], (int64_t)prm[dof + (ND > 1 ? i : 0)], (int64_t)cur[co + (int64_t)t * N + i]);
      if (LIF) {
        const bool s = x > (int64_t)prm[tof + (NT > 1 ? i : 0)];
        if (s) x = (int64_t)prm[rof + (NR > 1 ? i : 0)];
        out[oo + (int64_t)t * N + i] = (TO)(s ? 1 : 0);
      } else {
        out[oo + (int64_t)t * N + i] = (TO)sat32(x);
      }
      v[i] = x;
    }
  }
}

// snn.recurrent_lif over [T, N]: per step, the spikes of the step before add their weight rows
// (a row of N parameters for each neuron that fired), then the neurons fire as in lif above.
template <int T, int N, int ND, int NT, int NR, class TI, class TO>
void recurrent_lif(const TI* cur, int64_t co, const int32_t* prm, int64_t wo, int64_t dof, int64_t tof, int64_t rof, TO* out,
                   int64_t oo) {
  int64_t v[N];
  bool s[N];
recurrent_lif_clear_loop:
  for (int i = 0; i < N; ++i) {
#pragma HLS PIPELINE II=1
    v[i] = 0;
    s[i] = false;
  }
recurrent_lif_time_loop:
  for (int t = 0; t < T; ++t) {
  recurrent_lif_leak_loop:
    for (int i = 0; i < N; ++i) {
#pragma HLS PIPELINE II=1
      v[i] = leak_step(v[i], (int64_t)prm[dof + (ND > 1 ? i : 0)], (int64_t)cur[co + (int64_t)t * N + i]);
    }
  recurrent_lif_row_loop:
    for (int j = 0; j < N; ++j) {
      if (!s[j]) continue;
    recurrent_lif_add_loop:
      for (int i = 0; i < N; ++i) {
#pragma HLS PIPELINE II=1
        v[i] += (int64_t)prm[wo + (int64_t)j * N + i];
      }
    }
  recurrent_lif_fire_loop:
    for (int i = 0; i < N; ++i) {
#pragma HLS PIPELINE II=1
      const bool f = v[i] > (int64_t)prm[tof + (NT > 1 ? i : 0)];
      if (f) v[i] = (int64_t)prm[rof + (NR > 1 ? i : 0)];
      s[i] = f;
      out[oo + (int64_t)t * N + i] = (TO)(f ? 1 : 0);
    }
  }
}

// snn.requant: out = clamp(round_shift(((acc << BFRAC) + bias[c]) * mult[c], shift), lo, hi), c = (i / inner) % C
template <int N, int C, int INNER, int SHIFT, bool BIAS, int BFRAC, class TA, class TO>
void requant(const TA* acc, int64_t ao, const int32_t* prm, int64_t mo, int64_t bo, int64_t lo, int64_t hi, TO* out, int64_t oo) {
requant_loop:
  for (int i = 0; i < N; ++i) {
#pragma HLS PIPELINE II=1
    int c = (i / INNER) % C;
    int64_t a = (int64_t)acc[ao + i] * (int64_t(1) << BFRAC);
    if (BIAS) a += (int64_t)prm[bo + c];
    out[oo + i] = (TO)requant_value(a, (int64_t)prm[mo + c], SHIFT, lo, hi);
  }
}

// snn.requant with one multiplier (and bias) per channel, channels innermost (C a multiple of
// LANES): LANES elements a cycle, their multipliers a 512-bit word of bank a at word ma + j
// and their biases a word of bank b at mb + j, read beside each other.
template <int N, int C, int SHIFT, bool BIAS, int BFRAC, class TA, class TO>
void requant_words(const TA* acc, int64_t ao, const word_t* wa, int64_t ma, const word_t* wb, int64_t mb, int64_t lo, int64_t hi, TO* out,
                   int64_t oo) {
requant_words_loop:
  for (int i = 0; i < N; i += LANES) {
#pragma HLS PIPELINE II=1
    const int j = (i % C) / LANES;
    const word_t m = wa[ma + j];
    word_t b = m;  // read only with a bias
    if (BIAS) b = wb[mb + j];
  requant_words_lanes:
    for (int l = 0; l < LANES; ++l) {
#pragma HLS UNROLL
      int64_t a = (int64_t)acc[ao + i + l] * (int64_t(1) << BFRAC);
      if (BIAS) a += (int64_t)lane<32>(b, l);
      out[oo + i + l] = (TO)requant_value(a, (int64_t)lane<32>(m, l), SHIFT, lo, hi);
    }
  }
}

// ------------------------------------------------------------------ synapse
// acc[n] = sum_k x[k] * W[k, n] for one row of counts x. Weights: row k holds
// WA + WB words of 512 / B lanes, the even ones at word base_a + k * WA of bank
// a, the odd ones at base_b + k * WB of bank b. Three stages under DATAFLOW: the
// silent and pruned rows are dropped, the active rows' words are burst-read,
// and each pair of words adds its lanes to the accumulators (two words per
// cycle; count x weight is a few-bit product, no DSP).
struct Active {
  int32_t k, c;  // k < 0 ends the stream
};

template <int K, class TI>
void active_rows(const TI* x, int64_t xo, const uint8_t* live, stream<Active>& rows) {
active_rows_loop:
  for (int k = 0; k < K; ++k) {
#pragma HLS PIPELINE II=1
    int32_t c = (int32_t)x[xo + k];
    if (c != 0 && (live == 0 || ((live[k >> 3] >> (k & 7)) & 1))) rows.write(Active{k, c});
  }
  rows.write(Active{-1, 0});
}

// A row's words alternate between two banks: the even words in `wa` (DDR, WA a
// row), the odd ones in `wb` (LPDDR, WB = WA or WA - 1 a row), so two 512-bit
// words arrive a cycle, one from each memory, and nothing is padded.
template <int K, int WA, int WB>
void fetch_rows(const word_t* wa, int64_t base_a, const word_t* wb, int64_t base_b, stream<Active>& rows, stream<word_t>& even,
                stream<word_t>& odd, stream<Active>& counts) {
fetch_rows_loop:
  for (int r = 0; r <= K; ++r) {
#pragma HLS LOOP_TRIPCOUNT max=4096
    Active a = rows.read();
    counts.write(a);
    if (a.k < 0) break;
  fetch_words_loop:
    for (int w = 0; w < WA; ++w) {
#pragma HLS PIPELINE II=1
      even.write(wa[base_a + (int64_t)a.k * WA + w]);
      if (w < WB) odd.write(wb[base_b + (int64_t)a.k * WB + w]);
    }
  }
}

template <int K, int B, int WA, int WB>
void accumulate(stream<word_t>& even, stream<word_t>& odd, stream<Active>& counts, int32_t* acc) {
  const int LANES = 512 / B;
accumulate_rows_loop:
  for (int r = 0; r <= K; ++r) {
#pragma HLS LOOP_TRIPCOUNT max=4096
    Active a = counts.read();
    if (a.k < 0) break;
  accumulate_words_loop:
    for (int w = 0; w < WA; ++w) {
#pragma HLS PIPELINE II=1
      word_t we = even.read();
      for (int l = 0; l < LANES; ++l) {
#pragma HLS UNROLL
        acc[2 * w * LANES + l] += a.c * lane<B>(we, l);
      }
      if (w < WB) {
        word_t wo = odd.read();
        for (int l = 0; l < LANES; ++l) {
#pragma HLS UNROLL
          acc[(2 * w + 1) * LANES + l] += a.c * lane<B>(wo, l);
        }
      }
    }
  }
}

template <int K, int B, int WA, int WB, class TI>
void synapse_row(const word_t* wa, int64_t base_a, const word_t* wb, int64_t base_b, const uint8_t* live, const TI* x, int64_t xo, int32_t* acc) {
#pragma HLS DATAFLOW
  stream<Active> rows, counts;
  stream<word_t> even, odd;
#pragma HLS STREAM variable=rows depth=64
#pragma HLS STREAM variable=counts depth=64
#pragma HLS STREAM variable=even depth=128
#pragma HLS STREAM variable=odd depth=128
  active_rows<K>(x, xo, live, rows);
  fetch_rows<K, WA, WB>(wa, base_a, wb, base_b, rows, even, odd, counts);
  accumulate<K, B, WA, WB>(even, odd, counts, acc);
}

// SRC: 0 = weights streamed from device memory (the m_axi ports), 1 = resident in URAM.
// It only tells the instances apart: HLS builds one per memory a pointer binds to.
// RQ: the requantization that follows the synapse (snn.requant, channel
// c = (i / INNER) % C of the flat output index i) is applied as the
// accumulators are written out, saving a pass over them.
template <int M, int K, int N, int B, int WA, int WB, int SRC, bool RQ, int C, int INNER, int SHIFT, bool BIAS, int BFRAC, class TI, class TO>
void synapse(const word_t* wa, int64_t base_a, const word_t* wb, int64_t base_b, const uint8_t* live, const TI* x, int64_t xo, const int32_t* prm,
             int64_t mo, int64_t bo, int64_t lo, int64_t hi, TO* out, int64_t oo) {
  int32_t acc[2 * WA * (512 / B)];
#pragma HLS ARRAY_PARTITION variable=acc type=cyclic factor=1024/B
synapse_rows_loop:
  for (int m = 0; m < M; ++m) {
  synapse_clear_loop:
    for (int n = 0; n < 2 * WA * (512 / B); ++n) {
#pragma HLS UNROLL factor=1024/B
      acc[n] = 0;
    }
    synapse_row<K, B, WA, WB>(wa, base_a, wb, base_b, live, x, xo + (int64_t)m * K, acc);
  synapse_out_loop:
    for (int n = 0; n < N; ++n) {
#pragma HLS PIPELINE II=1
      int64_t a = acc[n];
      if (RQ) {
        const int c = (int)((((int64_t)m * N + n) / INNER) % C);
        a *= int64_t(1) << BFRAC;
        if (BIAS) a += (int64_t)prm[bo + c];
        a = clamp64(round_shift(a * (int64_t)prm[mo + c], SHIFT), lo, hi);
      }
      out[oo + (int64_t)m * N + n] = (TO)a;
    }
  }
}

// The resident layers' words of one bank, copied from device memory once (mode 1 of the top function).
template <int SEGMENTS>
void load_resident(const word_t* w, const int64_t* from, const int64_t* to, const int64_t* count, word_t* res) {
load_segments_loop:
  for (int s = 0; s < SEGMENTS; ++s) {
  load_words_loop:
    for (int64_t i = 0; i < count[s]; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=65536
#pragma HLS PIPELINE II=1
      res[to[s] + i] = w[from[s] + i];
    }
  }
}

// ------------------------------------------------------------------ convolution and pooling
// snn.conv_synapse: out[b, m, y, x] = sum over the window of count x weight, zero
// padding; silent inputs add nothing. Weights (int32 in the parameters) [M, C/G, KH, KW].
template <int B, int C, int H, int W, int M, int KH, int KW, int SH, int SW, int PT, int PL, int DH, int DW, int G, int OH, int OW, class TI>
void conv_synapse(const TI* x, int64_t xo, const int32_t* prm, int64_t wo, int32_t* out, int64_t oo) {
  const int CG = C / G, MG = M / G;
conv_outputs_loop:
  for (int b = 0; b < B; ++b)
    for (int m = 0; m < M; ++m)
      for (int oy = 0; oy < OH; ++oy)
        for (int ox = 0; ox < OW; ++ox) {
          int64_t acc = 0;
        conv_window_loop:
          for (int c = 0; c < CG; ++c)
            for (int a = 0; a < KH; ++a)
              for (int e = 0; e < KW; ++e) {
#pragma HLS PIPELINE II=1
                const int iy = oy * SH - PT + a * DH, ix = ox * SW - PL + e * DW;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                const int64_t v = (int64_t)x[xo + (((int64_t)b * C + (m / MG) * CG + c) * H + iy) * W + ix];
                if (v != 0) acc += v * (int64_t)prm[wo + ((m * CG + c) * KH + a) * KW + e];
              }
          out[oo + (((int64_t)b * M + m) * OH + oy) * OW + ox] = (int32_t)acc;
        }
}

// nn.max_pool / nn.avg_pool on integers: max, or round_div(sum, count) (docs/semantics.md)
template <int B, int C, int H, int W, int KH, int KW, int SH, int SW, int PT, int PL, int OH, int OW, bool MAX, bool COUNT_PAD>
void pool2d(const int32_t* x, int64_t xo, int32_t* out, int64_t oo) {
pool_outputs_loop:
  for (int bc = 0; bc < B * C; ++bc)
    for (int oy = 0; oy < OH; ++oy)
      for (int ox = 0; ox < OW; ++ox) {
        int64_t acc = MAX ? (int64_t)-2147483648LL : 0;
        int64_t cnt = 0;
      pool_window_loop:
        for (int a = 0; a < KH; ++a)
          for (int e = 0; e < KW; ++e) {
#pragma HLS PIPELINE II=1
            const int iy = oy * SH - PT + a, ix = ox * SW - PL + e;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) {
              if (COUNT_PAD) ++cnt;
              continue;
            }
            const int64_t v = x[xo + ((int64_t)bc * H + iy) * W + ix];
            acc = MAX ? (v > acc ? v : acc) : acc + v;
            ++cnt;
          }
        out[oo + ((int64_t)bc * OH + oy) * OW + ox] = (int32_t)(MAX ? acc : round_div(acc, cnt));
      }
}

// ------------------------------------------------------------------ linear attention
// One token per row: per head, S = S - (S >> s) + k^T v, z = z - (z >> s) + k,
// num = q S, den = q . z. S and z live in device memory between calls, eight
// int64 to a 512-bit word (head h at word h * SW, S row-major then z); a row
// of S is updated in one cycle (DV lanes), the state moves a word per cycle.
template <int HEADS, int DK, int DV, int SHIFT, class TQ>
void linear_attention_step(const TQ* q, int64_t qo, const TQ* k, int64_t ko, const TQ* v, int64_t vo, word_t* state, int64_t so,
                           int64_t* num, int64_t no, int64_t* den, int64_t dno) {
  const int SW = (DK * DV + DK + 7) / 8;  // words per head
  int64_t S[DK][DV], z[DK], o[DV], vv[DV];
#pragma HLS ARRAY_PARTITION variable=S type=complete dim=2
#pragma HLS ARRAY_PARTITION variable=o type=complete
#pragma HLS ARRAY_PARTITION variable=vv type=complete
la_heads_loop:
  for (int h = 0; h < HEADS; ++h) {
    const int64_t base = so + (int64_t)h * SW;
  la_load_loop:
    for (int w = 0; w < SW; ++w) {
#pragma HLS PIPELINE II=1
      word_t word = state[base + w];
      for (int u = 0; u < 8; ++u) {
#pragma HLS UNROLL
        int i = w * 8 + u;
        int64_t x = get64(word, u);
        if (i < DK * DV) S[i / DV][i % DV] = x;
        else if (i < DK * DV + DK) z[i - DK * DV] = x;
      }
    }
  la_v_loop:
    for (int b = 0; b < DV; ++b) {
#pragma HLS PIPELINE II=1
      vv[b] = (int64_t)v[vo + h * DV + b];
      o[b] = 0;
    }
    int64_t d = 0;
  la_rows_loop:
    for (int a = 0; a < DK; ++a) {
#pragma HLS PIPELINE II=1
      int64_t ka = (int64_t)k[ko + h * DK + a], qa = (int64_t)q[qo + h * DK + a];
      int64_t za = z[a];
      if (SHIFT) za -= za >> SHIFT;
      za += ka;
      z[a] = za;
      d += qa * za;
      for (int b = 0; b < DV; ++b) {
#pragma HLS UNROLL
        int64_t s = S[a][b];
        if (SHIFT) s -= s >> SHIFT;
        s += ka * vv[b];
        S[a][b] = s;
        o[b] += qa * s;  // q reads the updated state: the token attends to itself
      }
    }
  la_out_loop:
    for (int b = 0; b < DV; ++b) {
#pragma HLS PIPELINE II=1
      num[no + h * DV + b] = o[b];
    }
    den[dno + h] = d;
  la_store_loop:
    for (int w = 0; w < SW; ++w) {
#pragma HLS PIPELINE II=1
      word_t word;
      for (int u = 0; u < 8; ++u) {
#pragma HLS UNROLL
        int i = w * 8 + u;
        set64(word, u, i < DK * DV ? S[i / DV][i % DV] : (i < DK * DV + DK ? z[i - DK * DV] : 0));
      }
      state[base + w] = word;
    }
  }
}

// ------------------------------------------------------------------ spiking softmax attention
// A token's key and value rows written into a KV cache in the state port at `row` (a key-value
// head's position or slot): KW then VW words of 64 signed bytes, a word per cycle.
template <int DK, int DV, class TQ>
void write_kv_row(const TQ* k, int64_t ko, const TQ* v, int64_t vo, word_t* state, int64_t kso, int64_t vso, int64_t row) {
  const int KW = (DK + 63) / 64, VW = (DV + 63) / 64;
kv_write_loop:
  for (int w = 0; w < KW + VW; ++w) {
#pragma HLS PIPELINE II=1
    word_t word;
    for (int l = 0; l < 64; ++l) {
#pragma HLS UNROLL
      int a = (w < KW ? w : w - KW) * 64 + l;
      int32_t x = w < KW ? (a < DK ? (int32_t)k[ko + a] : 0) : (a < DV ? (int32_t)v[vo + a] : 0);
      set_lane<8>(word, l, x);
    }
    if (w < KW) state[kso + row * KW + w] = word;
    else state[vso + row * VW + (w - KW)] = word;
  }
}

// snn.attention_step with the KV cache in the state port: per key-value head, N position rows of
// KW (keys) or VW (values) words of 64 signed bytes. The token's k and v rows are written at pos;
// the keys 0..pos are then streamed once, a word per cycle, for the HG query heads that share
// them, and the values once more, weighted by the integer softmax (docs/semantics.md).
template <int GROUPS, int HG, int DK, int DV, int N, int F, int SHIFT, int64_t MULT, int64_t LOG2E, int64_t C1, int64_t C2, class TQ>
void attention_step(const TQ* q, int64_t qo, const TQ* k, int64_t ko, const TQ* v, int64_t vo, const int64_t* pos, int64_t po, word_t* state,
                    int64_t kso, int64_t vso, int64_t* out, int64_t oo) {
  const int KW = (DK + 63) / 64, VW = (DV + 63) / 64;
  const int64_t p = pos[po];
  int64_t t[HG][N], qh[HG][DK], o[HG][DV], mx[HG], total[HG];
#pragma HLS ARRAY_PARTITION variable=qh type=complete dim=1
#pragma HLS ARRAY_PARTITION variable=o type=complete dim=1
kv_groups_loop:
  for (int g = 0; g < GROUPS; ++g) {
    write_kv_row<DK, DV>(k, ko + g * DK, v, vo + g * DV, state, kso, vso, (int64_t)g * N + p);
    for (int h = 0; h < HG; ++h) {
      mx[h] = INT64_MIN;
      total[h] = 0;
      for (int a = 0; a < DK; ++a) qh[h][a] = (int64_t)q[qo + ((int64_t)g * HG + h) * DK + a];
      for (int c = 0; c < DV; ++c) o[h][c] = 0;
    }
  keys_loop:
    for (int j = 0; j <= p; ++j) {
#pragma HLS LOOP_TRIPCOUNT max=2048
      int64_t s[HG];
      for (int h = 0; h < HG; ++h) s[h] = 0;
      for (int w = 0; w < KW; ++w) {
#pragma HLS PIPELINE II=1
        word_t word = state[kso + ((int64_t)g * N + j) * KW + w];
        for (int l = 0; l < 64; ++l) {
#pragma HLS UNROLL
          int a = w * 64 + l;
          if (a < DK) {
            int64_t x = lane<8>(word, l);
            for (int h = 0; h < HG; ++h) s[h] += qh[h][a] * x;
          }
        }
      }
      for (int h = 0; h < HG; ++h) {
        t[h][j] = round_shift(s[h] * MULT, SHIFT);
        if (t[h][j] > mx[h]) mx[h] = t[h][j];
      }
    }
  exp_loop:
    for (int j = 0; j <= p; ++j) {
#pragma HLS LOOP_TRIPCOUNT max=2048
#pragma HLS PIPELINE II=1
      for (int h = 0; h < HG; ++h) {
        t[h][j] = exp_value(t[h][j] - mx[h], F, LOG2E, C1, C2);
        total[h] += t[h][j];
      }
    }
  values_loop:
    for (int j = 0; j <= p; ++j) {
#pragma HLS LOOP_TRIPCOUNT max=2048
      int64_t pr[HG];
      for (int h = 0; h < HG; ++h) pr[h] = total[h] > 0 ? sat32(round_div(t[h][j] << F, total[h])) : 0;
      for (int w = 0; w < VW; ++w) {
#pragma HLS PIPELINE II=1
        word_t word = state[vso + ((int64_t)g * N + j) * VW + w];
        for (int l = 0; l < 64; ++l) {
#pragma HLS UNROLL
          int c = w * 64 + l;
          if (c < DV) {
            int64_t x = lane<8>(word, l);
            for (int h = 0; h < HG; ++h) o[h][c] += pr[h] * x;
          }
        }
      }
    }
    for (int h = 0; h < HG; ++h)
      for (int c = 0; c < DV; ++c) out[oo + ((int64_t)g * HG + h) * DV + c] = o[h][c];
  }
}

// snn.window_attention_step with its state in the port (docs/semantics.md): per key-value head
// C = SK + W slot rows of keys (KW words of 64 signed bytes), of values (VW) and of key features
// (PW), then per key-value head the far sums S (row-major) and z, int64 eight to a word. Per
// key-value head the key leaving the window joins S and z and the token's k, v and pk are
// written at its slot; then each of its query heads reads the near slots' keys and values once.
template <int GROUPS, int HG, int DK, int DV, int FD, int W, int SK, int F, int SHIFT, int64_t MULT, int FSHIFT, int64_t LOG2E, int64_t C1,
          int64_t C2, class TQ, class TP>
void window_attention_step(const TQ* q, int64_t qo, const TQ* k, int64_t ko, const TQ* v, int64_t vo, const TP* pq, int64_t pqo, const TP* pk,
                           int64_t pko, const int64_t* r, const int64_t* pos, int64_t po, word_t* state, int64_t kso, int64_t vso, int64_t pso,
                           int64_t sso, int64_t* out, int64_t oo) {
  const int C = SK + W, KW = (DK + 63) / 64, VW = (DV + 63) / 64, PW = (FD + 63) / 64, SW = (FD * DV + FD + 7) / 8;
  const int64_t p = pos[po];
  const bool leave = p - W >= SK;  // the key p - W leaves the window, from the slot p's key takes
  const int at = p < SK ? (int)p : SK + (int)(p % W);
  int near[C];
  int n = 0;
  for (int j = 0; j < SK && j <= p; ++j) near[n++] = j;
  for (int64_t j = (p - W + 1 > SK ? p - W + 1 : SK); j <= p; ++j) near[n++] = SK + (int)(j % W);
  int64_t S[FD][DV], z[FD], vold[DV], pold[FD], t[C], o[DV], qh[DK];
wa_groups_loop:
  for (int g = 0; g < GROUPS; ++g) {
    for (int w = 0; w < VW; ++w) {
#pragma HLS PIPELINE II=1
      word_t word = state[vso + ((int64_t)g * C + at) * VW + w];
      for (int l = 0; l < 64; ++l)
        if (w * 64 + l < DV) vold[w * 64 + l] = leave ? (int64_t)lane<8>(word, l) : 0;
    }
    write_kv_row<DK, DV>(k, ko + g * DK, v, vo + g * DV, state, kso, vso, (int64_t)g * C + at);
    const int64_t sb = sso + (int64_t)g * SW, pb = pso + (int64_t)g * C * PW;
    for (int w = 0; w < SW; ++w) {
#pragma HLS PIPELINE II=1
      word_t word = state[sb + w];
      for (int u = 0; u < 8; ++u) {
        int i = w * 8 + u;
        if (i < FD * DV) S[i / DV][i % DV] = get64(word, u);
        else if (i < FD * DV + FD) z[i - FD * DV] = get64(word, u);
      }
    }
    if (leave) {
      for (int w = 0; w < PW; ++w) {
#pragma HLS PIPELINE II=1
        word_t word = state[pb + (int64_t)at * PW + w];
        for (int l = 0; l < 64; ++l)
          if (w * 64 + l < FD) pold[w * 64 + l] = (int64_t)lane<8>(word, l);
      }
      for (int a = 0; a < FD; ++a) {
        z[a] += pold[a];
        for (int c = 0; c < DV; ++c) S[a][c] += pold[a] * vold[c];
      }
    }
    for (int w = 0; w < PW; ++w) {
      word_t word;
      for (int l = 0; l < 64; ++l) set_lane<8>(word, l, w * 64 + l < FD ? (int32_t)pk[pko + (int64_t)g * FD + w * 64 + l] : 0);
      state[pb + (int64_t)at * PW + w] = word;
    }
    for (int w = 0; w < SW; ++w) {
#pragma HLS PIPELINE II=1
      word_t word;
      for (int u = 0; u < 8; ++u) {
        int i = w * 8 + u;
        set64(word, u, i < FD * DV ? S[i / DV][i % DV] : (i < FD * DV + FD ? z[i - FD * DV] : 0));
      }
      state[sb + w] = word;
    }
  wa_heads_loop:
    for (int hh = 0; hh < HG; ++hh) {
      const int h = g * HG + hh;
      for (int a = 0; a < DK; ++a) qh[a] = (int64_t)q[qo + (int64_t)h * DK + a];
      int64_t mx = INT64_MIN;
    wa_keys_loop:
      for (int u = 0; u < n; ++u) {
#pragma HLS LOOP_TRIPCOUNT max=64
        int64_t s = 0;
        for (int w = 0; w < KW; ++w) {
#pragma HLS PIPELINE II=1
          word_t word = state[kso + ((int64_t)g * C + near[u]) * KW + w];
          for (int l = 0; l < 64; ++l) {
#pragma HLS UNROLL
            if (w * 64 + l < DK) s += qh[w * 64 + l] * (int64_t)lane<8>(word, l);
          }
        }
        t[u] = round_shift(s * MULT, SHIFT);
        if (t[u] > mx) mx = t[u];
      }
      int64_t den = 0, far_den = 0;
      for (int c = 0; c < DV; ++c) o[c] = 0;
    wa_values_loop:
      for (int u = 0; u < n; ++u) {
#pragma HLS LOOP_TRIPCOUNT max=64
        const int64_t e = exp_value(t[u] - mx, F, LOG2E, C1, C2);
        den += e;
        for (int w = 0; w < VW; ++w) {
#pragma HLS PIPELINE II=1
          word_t word = state[vso + ((int64_t)g * C + near[u]) * VW + w];
          for (int l = 0; l < 64; ++l) {
#pragma HLS UNROLL
            if (w * 64 + l < DV) o[w * 64 + l] += e * (int64_t)lane<8>(word, l);
          }
        }
      }
      for (int a = 0; a < FD; ++a) far_den += (int64_t)pq[pqo + (int64_t)h * FD + a] * z[a];
      den += round_shift(r[h] * far_den, FSHIFT);
      if (den < 1) den = 1;
    wa_out_loop:
      for (int c = 0; c < DV; ++c) {
        int64_t far = 0;
        for (int a = 0; a < FD; ++a) far += (int64_t)pq[pqo + (int64_t)h * FD + a] * S[a][c];
        out[oo + (int64_t)h * DV + c] = round_div((o[c] + round_shift(r[h] * far, FSHIFT)) * (int64_t(1) << F), den);
      }
    }
  }
}

// out[oo + c] = sum_j w[j] v[vz + j DV + c] for the DV columns of T value rows: a column per T
// cycles (attention's shares, linear attention's products)
template <int T, int DV, class TV>
void weigh_values(const int64_t* w, const TV* v, int64_t vz, int64_t* out, int64_t oo) {
weigh_values_loop:
  for (int c = 0; c < DV; ++c) {
    int64_t acc = 0;
    for (int j = 0; j < T; ++j) {
#pragma HLS PIPELINE II=1
      acc += w[j] * (int64_t)v[vz + (int64_t)j * DV + c];
    }
    out[oo + c] = acc;
  }
}

// snn.attention over a whole sequence (encoders), q, k, v and the mask on chip: for each of
// OUTER batch entries, H query heads on G key-value heads, S queries, T keys; key j visible
// to query i when j <= LIMIT + i and its mask entry (strides MZ, MH, MI, MJ) is above -2^30.
template <int OUTER, int H, int G, int S, int T, int DK, int DV, int LIMIT, bool MASK, int64_t MZ, int64_t MH, int64_t MI, int64_t MJ, int F,
          int SHIFT, int64_t MULT, int64_t LOG2E, int64_t C1, int64_t C2>
void attention(const int32_t* q, int64_t qo, const int32_t* k, int64_t ko, const int32_t* v, int64_t vo, const int32_t* mask, int64_t mo,
               int64_t* out, int64_t oo) {
  int64_t t[T];
  bool seen[T];
attention_rows_loop:
  for (int z = 0; z < OUTER; ++z)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < S; ++i) {
        const int64_t kz = ko + ((int64_t)z * G + h / (H / G)) * T * DK, vz = vo + ((int64_t)z * G + h / (H / G)) * T * DV;
        const int64_t qi = qo + (((int64_t)z * H + h) * S + i) * DK;
        int64_t mx = INT64_MIN, total = 0;
      attention_scores_loop:
        for (int j = 0; j < T; ++j) {
          int64_t s = 0;
          for (int a = 0; a < DK; ++a) {
#pragma HLS PIPELINE II=1
            s += (int64_t)q[qi + a] * (int64_t)k[kz + (int64_t)j * DK + a];
          }
          int64_t tj = round_shift(s * MULT, SHIFT);
          bool vis = j <= LIMIT + i;
          if (MASK) {
            int64_t mk = mask[mo + z * MZ + h * MH + i * MI + j * MJ];
            vis = vis && mk > -(int64_t(1) << 30);
            tj += mk;
          }
          seen[j] = vis;
          t[j] = tj;
          if (vis && tj > mx) mx = tj;
        }
      attention_exp_loop:
        for (int j = 0; j < T; ++j) {
#pragma HLS PIPELINE II=1
          t[j] = seen[j] ? exp_value(t[j] - mx, F, LOG2E, C1, C2) : 0;
          total += t[j];
        }
      attention_share_loop:
        for (int j = 0; j < T; ++j) {
#pragma HLS PIPELINE II=1
          t[j] = total > 0 ? sat32(round_div(t[j] << F, total)) : 0;  // a hidden key's share is 0
        }
        weigh_values<T, DV>(t, v, vz, out, oo + (((int64_t)z * H + h) * S + i) * DV);
      }
}

// snn.linear_attention over a whole sequence with bidirectional sums or a mask (encoders), q, k,
// v and the mask on chip, in the quadratic form: for each of OUTER batch entries and H heads, S
// queries and keys; key j visible to query i when j <= LIMIT + i (LIMIT = S: every key) and its
// mask entry (strides MZ, MH, MI, MJ) does not hide it (linear_attention_hides, nscc_int.h);
// num_i = sum (q_i . k_j) v_j and den_i = sum q_i . k_j over the visible keys, in int64.
template <int OUTER, int H, int S, int DK, int DV, int LIMIT, bool MASK, int64_t MZ, int64_t MH, int64_t MI, int64_t MJ, int F, class TQ, class TV>
void linear_attention(const TQ* q, int64_t qo, const TQ* k, int64_t ko, const TV* v, int64_t vo, const int32_t* mask, int64_t mo, int64_t* num,
                      int64_t no, int64_t* den, int64_t dno) {
  int64_t sc[S];
la_seq_rows_loop:
  for (int z = 0; z < OUTER; ++z)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < S; ++i) {
        const int64_t zh = (int64_t)z * H + h, qi = qo + (zh * S + i) * DK;
        int64_t d = 0;
      la_seq_scores_loop:
        for (int j = 0; j < S; ++j) {
          int64_t s = 0;
          for (int a = 0; a < DK; ++a) {
#pragma HLS PIPELINE II=1
            s += (int64_t)q[qi + a] * (int64_t)k[ko + (zh * S + j) * DK + a];
          }
          bool vis = j <= LIMIT + i;
          if (MASK) vis = vis && !linear_attention_hides(mask[mo + z * MZ + h * MH + i * MI + j * MJ], F);
          sc[j] = vis ? s : 0;  // a hidden pair's product is 0 in both sums
          d += sc[j];
        }
        weigh_values<S, DV>(sc, v, vo + zh * S * DV, num, no + (zh * S + i) * DV);
        den[dno + zh * S + i] = d;
      }
}

// ------------------------------------------------------------------ fixed point (docs/semantics.md)
// snn.fixed_layer_norm; with CENTER false snn.fixed_rms_norm (no mean, no beta: bo unused)
template <int ROWS, int N, int F, int R, bool CENTER>
void fixed_layer_norm(const int32_t* x, int64_t xo, const int32_t* prm, int64_t go, int64_t bo, int64_t eps, int32_t* out, int64_t oo) {
ln_rows_loop:
  for (int i = 0; i < ROWS; ++i) {
    int64_t sum = 0;
  ln_sum_loop:
    for (int j = 0; j < N; ++j) {
#pragma HLS PIPELINE II=1
      sum += x[xo + i * N + j];
    }
    int64_t mu = CENTER ? round_div(sum, N) : 0;
    int64_t ss = 0;
  ln_var_loop:
    for (int j = 0; j < N; ++j) {
#pragma HLS PIPELINE II=1
      int64_t e = round_shift(x[xo + i * N + j] - mu, R);
      ss += e * e;
    }
    int64_t sigma = isqrt(round_div(ss, N) + eps);
    if (sigma < 1) sigma = 1;
  ln_out_loop:
    for (int j = 0; j < N; ++j) {
#pragma HLS PIPELINE II=1
      out[oo + i * N + j] = layer_norm_value(x[xo + i * N + j] - mu, sigma, F, R, prm[go + j], CENTER ? prm[bo + j] : 0);
    }
  }
}

// The same, LANES elements a cycle (N a multiple of LANES): the sums as LANES partial sums
// (exact integers, so their order does not matter), gamma and beta as 512-bit words of banks
// a and b, a word of each for every LANES outputs.
template <int ROWS, int N, int F, int R, bool CENTER>
void fixed_layer_norm_words(const int32_t* x, int64_t xo, const word_t* wa, int64_t ga, const word_t* wb, int64_t ba, int64_t eps, int32_t* out,
                            int64_t oo) {
ln_words_rows_loop:
  for (int i = 0; i < ROWS; ++i) {
    int64_t part[LANES];
#pragma HLS ARRAY_PARTITION variable=part type=complete
    for (int l = 0; l < LANES; ++l) {
#pragma HLS UNROLL
      part[l] = 0;
    }
  ln_words_sum_loop:
    for (int j = 0; j < N; j += LANES) {
#pragma HLS PIPELINE II=1
      for (int l = 0; l < LANES; ++l) {
#pragma HLS UNROLL
        part[l] += x[xo + i * N + j + l];
      }
    }
    int64_t sum = 0;
    for (int l = 0; l < LANES; ++l) {
#pragma HLS UNROLL
      sum += part[l];
      part[l] = 0;
    }
    const int64_t mu = CENTER ? round_div(sum, N) : 0;
  ln_words_var_loop:
    for (int j = 0; j < N; j += LANES) {
#pragma HLS PIPELINE II=1
      for (int l = 0; l < LANES; ++l) {
#pragma HLS UNROLL
        const int64_t e = round_shift(x[xo + i * N + j + l] - mu, R);
        part[l] += e * e;
      }
    }
    int64_t ss = 0;
    for (int l = 0; l < LANES; ++l) {
#pragma HLS UNROLL
      ss += part[l];
    }
    int64_t sigma = isqrt(round_div(ss, N) + eps);
    if (sigma < 1) sigma = 1;
  ln_words_out_loop:
    for (int j = 0; j < N; j += LANES) {
#pragma HLS PIPELINE II=1
      const word_t g = wa[ga + j / LANES];
      word_t b = g;  // read only with a beta
      if (CENTER) b = wb[ba + j / LANES];
      for (int l = 0; l < LANES; ++l) {
#pragma HLS UNROLL
        out[oo + i * N + j + l] = layer_norm_value(x[xo + i * N + j + l] - mu, sigma, F, R, lane<32>(g, l), CENTER ? lane<32>(b, l) : 0);
      }
    }
  }
}

// I-BERT GELU; INV_SQRT2, GB, GA from nscc.semantics.fixed.gelu_constants(F)
template <int N, int F, int64_t INV_SQRT2, int64_t GB, int64_t GA>
void fixed_gelu(const int32_t* x, int64_t xo, int32_t* out, int64_t oo) {
gelu_loop:
  for (int i = 0; i < N; ++i) {
#pragma HLS PIPELINE II=1
    out[oo + i] = gelu_value(x[xo + i], F, INV_SQRT2, GB, GA);
  }
}

// snn.fixed_hadamard: per row X (P x Q), a^T X b exact in int64 (factors +-1 in the parameters),
// then sat32(round_shift(v * MULT, SHIFT)). The Q columns are lanes: P P + P Q cycles a row.
template <int ROWS, int P, int Q, int64_t MULT, int SHIFT>
void fixed_hadamard(const int32_t* x, int64_t xo, const int32_t* prm, int64_t ao, int64_t bo, int32_t* out, int64_t oo) {
  int64_t t[P][Q];
#pragma HLS ARRAY_PARTITION variable=t type=complete dim=2
hadamard_rows_loop:
  for (int r = 0; r < ROWS; ++r) {
    const int64_t base = (int64_t)r * P * Q;
    for (int k = 0; k < P; ++k)
      for (int c = 0; c < Q; ++c) {
#pragma HLS UNROLL
        t[k][c] = 0;
      }
  hadamard_left_loop:
    for (int i = 0; i < P; ++i)
      for (int k = 0; k < P; ++k) {
#pragma HLS PIPELINE II=1
        const int64_t aik = prm[ao + i * P + k];
        for (int c = 0; c < Q; ++c) {
#pragma HLS UNROLL
          t[k][c] += aik * (int64_t)x[xo + base + i * Q + c];
        }
      }
  hadamard_right_loop:
    for (int k = 0; k < P; ++k)
      for (int c2 = 0; c2 < Q; ++c2) {
#pragma HLS PIPELINE II=1
        int64_t s = 0;
        for (int c = 0; c < Q; ++c) {
#pragma HLS UNROLL
          s += t[k][c] * (int64_t)prm[bo + c * Q + c2];
        }
        out[oo + base + k * Q + c2] = (int32_t)sat32(round_shift(s * MULT, SHIFT));
      }
  }
}

// The fast form of snn.fixed_hadamard, where b = diag(s) H with H Sylvester's matrix (the
// power-of-two factor online-hadamard makes; nscc.quant.hadamard.is_signed_sylvester) and
// P <= 64. a (-1, 0 or 1) is two ROMs of bit masks, row i's +1 columns in AP[i] and its -1
// columns in AN[i]; the signs s are the bits of SN (1: -1), 64 to a word. Every product is
// then a select, not a multiplier, and an iteration reads one word of each ROM. Per row, V
// inputs a cycle go into all P sums of a^T X at once (P x V adders); then each row of t,
// times s, goes through the log2 Q butterfly stages of the Walsh-Hadamard transform, V
// outputs a cycle: 2 P Q / V cycles a row where the general form takes P P + P Q, after
// Q / 64 words of signs a call. x and out lie in an arena (V consecutive elements in V
// banks). The sums are exact integers, so their order changes nothing: the values are the
// general form's.
template <int ROWS, int P, int Q, int64_t MULT, int SHIFT, int V>
void fixed_hadamard_fast(const int32_t* x, int64_t xo, const uint64_t* AP, const uint64_t* AN, const uint64_t* SN, int32_t* out,
                         int64_t oo) {
  constexpr int SW = (Q + 63) / 64;
  uint64_t sn[SW];
#pragma HLS ARRAY_PARTITION variable=sn type=complete
hadamard_fast_signs_loop:
  for (int w = 0; w < SW; ++w) {
#pragma HLS PIPELINE II=1
    sn[w] = SN[w];
  }
  int64_t t[P][Q];
#pragma HLS ARRAY_PARTITION variable=t type=complete dim=1
#pragma HLS ARRAY_PARTITION variable=t type=cyclic factor=V dim=2
hadamard_fast_rows_loop:
  for (int r = 0; r < ROWS; ++r) {
    const int64_t base = (int64_t)r * P * Q;
  hadamard_fast_left_loop:
    for (int i = 0; i < P; ++i)
      for (int c0 = 0; c0 < Q; c0 += V) {
#pragma HLS PIPELINE II=1
        const uint64_t ap = AP[i], an = AN[i];
        for (int l = 0; l < V; ++l) {
#pragma HLS UNROLL
          const int64_t v = x[xo + base + i * Q + c0 + l];
          for (int k = 0; k < P; ++k) {
#pragma HLS UNROLL
            const int64_t term = (ap >> k) & 1 ? v : ((an >> k) & 1 ? -v : 0);
            t[k][c0 + l] = (i ? t[k][c0 + l] : 0) + term;
          }
        }
      }
  hadamard_fast_right_loop:
    for (int k = 0; k < P; ++k) {
      int64_t w[Q];
#pragma HLS ARRAY_PARTITION variable=w type=complete
      for (int c = 0; c < Q; ++c) {
#pragma HLS UNROLL
        w[c] = (sn[c / 64] >> (c % 64)) & 1 ? -t[k][c] : t[k][c];
      }
      for (int h = 1; h < Q; h *= 2)
        for (int j = 0; j < Q; ++j) {
#pragma HLS UNROLL
          if (!(j & h)) {
            const int64_t u = w[j], d = w[j + h];
            w[j] = u + d;
            w[j + h] = u - d;
          }
        }
      for (int c0 = 0; c0 < Q; c0 += V) {
#pragma HLS PIPELINE II=1
        for (int l = 0; l < V; ++l) {
#pragma HLS UNROLL
          out[oo + base + k * Q + c0 + l] = (int32_t)sat32(round_shift(w[c0 + l] * MULT, SHIFT));
        }
      }
    }
  }
}

// x sigmoid(alpha x); LOG2E, C1, C2 as for softmax, ALPHA at ALPHA_BITS
template <int N, int F, int64_t ALPHA, int64_t LOG2E, int64_t C1, int64_t C2, int V>
void fixed_silu(const int32_t* x, int64_t xo, int32_t* out, int64_t oo) {
silu_loop:
  for (int i = 0; i < N; i += V) {
#pragma HLS PIPELINE II=1
    for (int l = 0; l < V; ++l) {
#pragma HLS UNROLL
      out[oo + i + l] = silu_value(x[xo + i + l], F, ALPHA, LOG2E, C1, C2);
    }
  }
}

// Base-2 softmax; LOG2E, C1, C2 from nscc.semantics.fixed.softmax_constants(F)
template <int OUTER, int N, int INNER, int F, int64_t LOG2E, int64_t C1, int64_t C2>
void fixed_softmax(const int32_t* x, int64_t xo, int32_t* out, int64_t oo) {
  int64_t e[N];
softmax_outer_loop:
  for (int o = 0; o < OUTER; ++o)
    for (int in = 0; in < INNER; ++in) {
      const int64_t base = (int64_t)o * N * INNER + in;
      int64_t mx = x[xo + base];
    softmax_max_loop:
      for (int j = 1; j < N; ++j) {
#pragma HLS PIPELINE II=1
        int64_t v = x[xo + base + j * INNER];
        mx = v > mx ? v : mx;
      }
      int64_t total = 0;
    softmax_exp_loop:
      for (int j = 0; j < N; ++j) {
#pragma HLS PIPELINE II=1
        e[j] = exp_value((int64_t)x[xo + base + j * INNER] - mx, F, LOG2E, C1, C2);
        total += e[j];
      }
    softmax_out_loop:
      for (int j = 0; j < N; ++j) {
#pragma HLS PIPELINE II=1
        out[oo + base + j * INNER] = (int32_t)softmax_share(e[j], total, F);
      }
    }
}

// snn.feature_map (Hedgehog's map of linear attention): ROWS positions of D counts, row r of head
// h = (r / S) % H. Its FD logits t = round_shift((x . W[h]) * mult[h], SHIFT) (mult: an int64 ROM) take D x FD
// pipelined steps (count x int8 weight, weights in the parameters, [H, D, FD]); then the base-2
// softmax of t and of -t (as snn.fixed_softmax), each share a count of DIVISOR units, at most
// LEVELS: out [ROWS, 2 FD].
template <int ROWS, int H, int S, int D, int FD, int SHIFT, int F, int64_t DIVISOR, int64_t LEVELS, int64_t LOG2E, int64_t C1, int64_t C2, class TI,
          class TO>
void feature_map(const TI* x, int64_t xo, const int32_t* prm, int64_t wo, const int64_t* mult, TO* out, int64_t oo) {
  int64_t t[FD], e[FD];
feature_map_rows_loop:
  for (int r = 0; r < ROWS; ++r) {
    const int h = (r / S) % H;
    for (int j = 0; j < FD; ++j) t[j] = 0;
  feature_map_dot_loop:
    for (int a = 0; a < D; ++a)
      for (int j = 0; j < FD; ++j) {
#pragma HLS PIPELINE II=1
        t[j] += (int64_t)x[xo + (int64_t)r * D + a] * (int64_t)prm[wo + ((int64_t)h * D + a) * FD + j];
      }
  feature_map_scale_loop:
    for (int j = 0; j < FD; ++j) {
#pragma HLS PIPELINE II=1
      t[j] = round_shift(t[j] * mult[h], SHIFT);
    }
  feature_map_halves_loop:
    for (int half = 0; half < 2; ++half) {  // softmax of t, then of -t
      const int64_t sign = half ? -1 : 1;
      int64_t mx = INT64_MIN, total = 0;
    feature_map_max_loop:
      for (int j = 0; j < FD; ++j) {
#pragma HLS PIPELINE II=1
        mx = sign * t[j] > mx ? sign * t[j] : mx;
      }
    feature_map_exp_loop:
      for (int j = 0; j < FD; ++j) {
#pragma HLS PIPELINE II=1
        e[j] = exp_value(sign * t[j] - mx, F, LOG2E, C1, C2);
        total += e[j];
      }
    feature_map_out_loop:
      for (int j = 0; j < FD; ++j) {
#pragma HLS PIPELINE II=1
        out[oo + ((int64_t)r * 2 + half) * FD + j] = (TO)feature_count(softmax_share(e[j], total, F), DIVISOR, LEVELS);
      }
    }
  }
}

// nn.gather along one axis of a table in device memory (embeddings: axis 0; positional tables at the
// position): out[o, j, :] = table[o, idx[j], :]
template <int OUTER, int NIDX, int ROWS, int INNER, class TI>
void gather_rows(const int32_t* prm, int64_t to, const TI* idx, int64_t io, int32_t* out, int64_t oo) {
gather_outer_loop:
  for (int o = 0; o < OUTER; ++o)
  gather_loop:
    for (int j = 0; j < NIDX; ++j) {
      int64_t r = (int64_t)idx[io + j];
      if (r < 0) r += ROWS;
      if (r < 0 || r >= ROWS) r = 0;  // out of range: row 0 (the host checks token ids)
    gather_row_loop:
      for (int i = 0; i < INNER; ++i) {
#pragma HLS PIPELINE II=1
        out[oo + ((int64_t)o * NIDX + j) * INNER + i] = prm[to + ((int64_t)o * ROWS + r) * INNER + i];
      }
    }
}

}  // namespace nscc
#endif
