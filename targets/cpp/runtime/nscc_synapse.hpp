// snn.synapse on the CPU: exact integer dot products of spike counts and
// low-bit weights (docs/semantics.md, snn.synapse). Included by nscc_runtime.hpp.
//
// Weight layout in the weight file (dtype 8, "tiles"). W [K, N] is cut into
// tiles of 4 rows x 64 columns, K padded to a multiple of 4 and N to a
// multiple of 64 with zeros. Tiles run column-block-major (the K/4 tiles of
// columns 0-63, then those of 64-127, ...), so that the thread owning a column
// block reads one contiguous stretch. Inside a tile, W[4g + q, 64b + c] is
// element 4c + q: the order in which vpdpbusd multiplies the four bytes of a
// 32-bit lane by four broadcast counts. Values are offset binary, u = w +
// 2^(s-1) (unsigned: vpdpbusd's unsigned operand), at s = 2, 4 or 8 bits:
//   s = 8: 256 bytes, element e at byte e;
//   s = 4: 128 bytes, element e at byte e % 128, low nibble when e < 128;
//   s = 2: 64 bytes, element e at byte e % 64, bits 2 (e / 64) and 2 (e / 64) + 1.
// Unpacking a tile is then two or three vector operations per 64 weights.
//
// With u = w + off, sum_k c_k w_k = sum_k c_k u_k - off * sum_k c_k: the
// correction is one number per row (and group), and a silent input adds
// nothing to either side, so silent inputs are skipped with no bookkeeping.
#pragma once

#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
#include <immintrin.h>
#endif
#if defined(__AMX_INT8__) && defined(__AMX_TILE__)
#include <sys/syscall.h>
#endif

namespace nscc {

constexpr i64 BLOCK = 64;

struct SynapseWeights {
  const uint8_t* data;
  int bits;  // the stored width: 2, 4 or 8
  i64 K, N;
  const int8_t* group_scale;  // [K / group, N] or null
  i64 group;
  int max_count;           // |count| <= max_count for every input
  const int32_t* nnz_row;  // non-zero weights per row (written by nscc): SOPs, and pruned rows
  // set by synapse_prepare
  i64 K4 = 0, NB = 0, tile_bytes = 0;
  std::vector<uint8_t> live;  // per tile row (4 inputs): does any weight there differ from zero
};

inline void synapse_prepare(SynapseWeights& w) {
  w.K4 = (w.K + 3) / 4;
  w.NB = (w.N + BLOCK - 1) / BLOCK;
  w.tile_bytes = 256 * w.bits / 8;
  w.live.assign(w.K4, 0);
  for (i64 k = 0; k < w.K; ++k)
    if (w.nnz_row[k]) w.live[k / 4] = 1;
}

inline const uint8_t* tile_at(const SynapseWeights& w, i64 cb, i64 g) { return w.data + (cb * w.K4 + g) * w.tile_bytes; }

// What a kernel does with a finished run of sums: row r, columns j0 .. j0 + n - 1, as Acc.
// By default it stores them; a model's generated code may instead pass the chain of
// per-element ops that follows the synapse (requantization, the token scale, the residual
// add, the decode to float), which then runs on sums still in L1 instead of in passes over
// memory of their own: the LM head's logits are the largest array of a language model.
template <class TA>
struct StoreSums {
  TA* out;
  i64 N;
  template <class Acc>
  void operator()(i64 r, i64 j0, i64 n, const Acc* v) const {
    TA* __restrict o = out + r * N + j0;
#pragma omp simd
    for (i64 j = 0; j < n; ++j) o[j] = (TA)v[j];
  }
};

// A fused chain seen through two function pointers, one per sum type: every chain of a
// model then shares one instantiation of each kernel, where a lambda type apiece compiled
// them all again for each synapse (SmolLM2: 422 of them). The kernels hand over a block of
// rows at once (epi_rows): one indirect call a block, the chain inlined in the loop over its
// rows. A call per row of 32 sums had cost as much as the chain itself (the LM head's
// epilogue: a fifth of its samples on the call).
struct EpilogueRef {
  const void* self;
  void (*run32)(const void*, i64, i64, i64, i64, const int32_t*, i64);
  void (*run64)(const void*, i64, i64, i64, i64, const int64_t*, i64);
};

template <class F>
EpilogueRef epilogue_ref(const F& f) {
  return {&f,
          [](const void* s, i64 r0, i64 nr, i64 j0, i64 n, const int32_t* v, i64 ld) {
            for (i64 i = 0; i < nr; ++i) (*static_cast<const F*>(s))(r0 + i, j0, n, v + i * ld);
          },
          [](const void* s, i64 r0, i64 nr, i64 j0, i64 n, const int64_t* v, i64 ld) {
            for (i64 i = 0; i < nr; ++i) (*static_cast<const F*>(s))(r0 + i, j0, n, v + i * ld);
          }};
}

// rows r0 .. r0 + nr - 1 of a block of sums, row i's at v + i ld
template <class Epi, class A>
void epi_rows(const Epi& epi, i64 r0, i64 nr, i64 j0, i64 n, const A* v, i64 ld) {
  for (i64 i = 0; i < nr; ++i) epi(r0 + i, j0, n, v + i * ld);
}
inline void epi_rows(const EpilogueRef& epi, i64 r0, i64 nr, i64 j0, i64 n, const int32_t* v, i64 ld) { epi.run32(epi.self, r0, nr, j0, n, v, ld); }
inline void epi_rows(const EpilogueRef& epi, i64 r0, i64 nr, i64 j0, i64 n, const int64_t* v, i64 ld) { epi.run64(epi.self, r0, nr, j0, n, v, ld); }

// The 256 offset-binary values of a tile, one a byte.
inline void unpack_tile(int bits, const uint8_t* p, uint8_t* u) {
  if (bits == 8) {
    std::memcpy(u, p, 256);
  } else if (bits == 4) {
    for (int b = 0; b < 128; ++b) {
      u[b] = p[b] & 15;
      u[128 + b] = p[b] >> 4;
    }
  } else {
    for (int q = 0; q < 4; ++q)
      for (int b = 0; b < 64; ++b) u[64 * q + b] = (p[b] >> (2 * q)) & 3;
  }
}

// The portable path: any counts, any group size. Per column block, each tile
// is unpacked once and every row runs through it.
template <class TI, class TA, class Epi>
void synapse_generic(const TI* x, i64 rows, const SynapseWeights& w, const Epi& epi) {
  using Acc = std::conditional_t<(sizeof(TA) > 4), int64_t, int32_t>;
  const i64 K = w.K, N = w.N, G = w.group_scale ? w.group : K;
  const Acc off = Acc(1) << (w.bits - 1);
#pragma omp parallel if (parallel_worth(rows * K * N / 16))  // 16 products a vector instruction
  {
    aligned_vector<Acc> acc(rows * BLOCK), part(rows * BLOCK);
    alignas(64) uint8_t u[256];
    alignas(64) Acc wk[BLOCK];
#pragma omp for schedule(dynamic)
    for (i64 cb = 0; cb < w.NB; ++cb) {
      const i64 j0 = cb * BLOCK, width = std::min(BLOCK, N - j0);
      std::fill(acc.begin(), acc.end(), 0);
      std::fill(part.begin(), part.end(), 0);
      i64 grp = 0;
      auto flush = [&]() {  // acc += group scale x the group's sums
        if (!w.group_scale) return;
        const int8_t* m = w.group_scale + grp * N + j0;
        for (i64 r = 0; r < rows; ++r)
          for (i64 j = 0; j < width; ++j) {
            acc[r * BLOCK + j] += Acc(m[j]) * part[r * BLOCK + j];
            part[r * BLOCK + j] = 0;
          }
      };
      for (i64 g = 0; g < w.K4; ++g) {
        if (!w.live[g]) continue;
        unpack_tile(w.bits, tile_at(w, cb, g), u);
        for (i64 q = 0; q < 4 && 4 * g + q < K; ++q) {
          const i64 k = 4 * g + q;
          if (k / G != grp) {
            flush();
            grp = k / G;
          }
          for (i64 j = 0; j < BLOCK; ++j) wk[j] = Acc(u[4 * j + q]) - off;
          Acc* sum = w.group_scale ? part.data() : acc.data();
          for (i64 r = 0; r < rows; ++r) {
            const Acc c = x[r * K + k];
            if (c == 0) continue;
            Acc* s = sum + r * BLOCK;
#pragma omp simd
            for (i64 j = 0; j < BLOCK; ++j) s[j] += c * wk[j];
          }
        }
      }
      flush();
      epi_rows(epi, 0, rows, j0, width, acc.data(), BLOCK);
    }
  }
}

// Counts as bytes, `ld` to a row (rows and inputs past x's stay silent), and each row's
// count sum per group of G inputs: the offset correction's operand.
template <class TI>
void pack_counts(const TI* x, i64 rows, i64 K, i64 G, i64 ld, i64 ngroups, int8_t* xs, int64_t* csum) {
#pragma omp parallel for schedule(static) if (parallel_elements(rows * K))
  for (i64 r = 0; r < rows; ++r)
    for (i64 grp = 0; grp < ngroups; ++grp) {
      const TI* xr = x + r * K;
      int8_t* o = xs + r * ld;
      int64_t sum = 0;
      const i64 k1 = std::min(K, (grp + 1) * G);
#pragma omp simd reduction(+ : sum)
      for (i64 k = grp * G; k < k1; ++k) {
        o[k] = (int8_t)xr[k];
        sum += xr[k];
      }
      csum[r * ngroups + grp] = sum;
    }
}

#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
// The VNNI path: counts within [-127, 127] as signed bytes, weights as
// unsigned bytes, 64 products a vpdpbusd. Six rows share each unpacked tile,
// their 6 x 64 sums in 24 of the 32 registers (four rows measured 5-13 %
// slower); a tile row where none of the six rows fired is skipped. Sums stay
// in int32: |sum u c| <= 255 * 127 * K < 2^31 (the caller checks K). Cutting K
// into chunks that keep a column block's weights in L1 measured no faster
// (768 x 3072 at 4 bits: 258 against 347 GMAC/s on one core).
// RB: rows a tile serves, 6, or 1 for a decoded token, where the other five would be
// checked and skipped at every tile.
template <int RB, class TI, class TA, class Epi>
void synapse_vnni(const TI* x, i64 rows, const SynapseWeights& w, const Epi& epi) {
  using Acc = std::conditional_t<(sizeof(TA) > 4), int64_t, int32_t>;
  const i64 K = w.K, N = w.N, K4 = w.K4, G = w.group_scale ? w.group : 4 * K4;
  const i64 rb = (rows + RB - 1) / RB, ngroups = (4 * K4 + G - 1) / G;
  const int64_t off = int64_t(1) << (w.bits - 1);
  // counts as bytes, rows padded to RB and inputs to 4 K4 with silence; and each row's count sum per group
  aligned_vector<int8_t> xs(rb * RB * 4 * K4, 0);
  std::vector<int64_t> csum(rb * RB * ngroups, 0);
  pack_counts(x, rows, K, G, 4 * K4, ngroups, xs.data(), csum.data());
  const __m512i low4 = _mm512_set1_epi8(15), low2 = _mm512_set1_epi8(3);
  // Work: 64 products a vpdpbusd, or the bytes of weights streamed, whichever is more. A
  // decoded token waits on its weights' loads, not on products, and two cores keep twice
  // as many loads in flight: GPT-2-small-sized at 4 bits, 9.7 to 5.1 ms a token with sleeping
  // threads once its 768 x 2304 and larger layers took both (benchmarks/simulator.py).
#pragma omp parallel if (parallel_worth(std::max(rows * K * N / 64, K * N * w.bits / 8)))
  {
    alignas(64) int32_t part[RB][BLOCK];
    alignas(64) Acc acc[RB][BLOCK];
#pragma omp for schedule(dynamic) collapse(2)
    for (i64 cb = 0; cb < w.NB; ++cb)
      for (i64 b = 0; b < rb; ++b) {
        const i64 j0 = cb * BLOCK, width = std::min(BLOCK, N - j0);
        const int8_t* xb = xs.data() + b * RB * 4 * K4;
        for (i64 r = 0; r < RB; ++r) std::fill(acc[r], acc[r] + BLOCK, 0);
        for (i64 grp = 0; grp < ngroups; ++grp) {
          __m512i s[RB][4];
          for (int r = 0; r < RB; ++r)
            for (int v = 0; v < 4; ++v) s[r][v] = _mm512_setzero_si512();
          const i64 g1 = std::min(K4, (grp + 1) * G / 4);
          for (i64 g = grp * G / 4; g < g1; ++g) {
            uint32_t c[RB];
            for (int r = 0; r < RB; ++r) std::memcpy(&c[r], xb + r * 4 * K4 + 4 * g, 4);
            uint32_t fired = 0;
            for (int r = 0; r < RB; ++r) fired |= c[r];
            if (!fired || !w.live[g]) continue;
            const uint8_t* p = tile_at(w, cb, g);
            __m512i u[4];
            if (w.bits == 8) {
              for (int v = 0; v < 4; ++v) u[v] = _mm512_loadu_si512(p + 64 * v);
            } else if (w.bits == 4) {
              const __m512i a = _mm512_loadu_si512(p), h = _mm512_loadu_si512(p + 64);
              u[0] = _mm512_and_si512(a, low4);
              u[1] = _mm512_and_si512(h, low4);
              u[2] = _mm512_and_si512(_mm512_srli_epi16(a, 4), low4);
              u[3] = _mm512_and_si512(_mm512_srli_epi16(h, 4), low4);
            } else {
              const __m512i a = _mm512_loadu_si512(p);
              u[0] = _mm512_and_si512(a, low2);
              u[1] = _mm512_and_si512(_mm512_srli_epi16(a, 2), low2);
              u[2] = _mm512_and_si512(_mm512_srli_epi16(a, 4), low2);
              u[3] = _mm512_and_si512(_mm512_srli_epi16(a, 6), low2);
            }
            for (int r = 0; r < RB; ++r) {
              if (!c[r]) continue;
              const __m512i cr = _mm512_set1_epi32((int32_t)c[r]);
              for (int v = 0; v < 4; ++v) s[r][v] = _mm512_dpbusd_epi32(s[r][v], u[v], cr);
            }
          }
          for (int r = 0; r < RB; ++r)
            for (int v = 0; v < 4; ++v) _mm512_store_si512(part[r] + 16 * v, s[r][v]);
          for (i64 r = 0; r < RB; ++r) {
            const i64 row = b * RB + r;
            const Acc corr = row < rows ? Acc(off * csum[row * ngroups + grp]) : 0;
            if (w.group_scale) {
              const int8_t* m = w.group_scale + grp * N + j0;
              for (i64 j = 0; j < width; ++j) acc[r][j] += Acc(m[j]) * (Acc(part[r][j]) - corr);
            } else {
              for (i64 j = 0; j < BLOCK; ++j) acc[r][j] += Acc(part[r][j]) - corr;
            }
          }
        }
        const i64 nr = std::min<i64>(RB, rows - b * RB);
        epi_rows(epi, b * RB, nr, j0, width, &acc[0][0], BLOCK);
      }
  }
}
#endif

#if defined(__AMX_INT8__) && defined(__AMX_TILE__)
// The AMX path, for batches of rows (a whole sequence): one tdpbsud multiplies a
// 16 x 64 tile of signed counts by a 64 x 16 tile of unsigned weights, 16,384
// products where vpdpbusd does 64. An unpacked tile row (4 inputs x 64 columns,
// element 4c + q) is already AMX's B layout: the 64 bytes of columns 16v..16v+15
// are one row of the B tile of column group v, and the next B row is 256 bytes on.
// The same int32 sums, the same offset correction as the VNNI path.

// Linux hands out the AMX register state only on request; refused (an old kernel,
// a hypervisor that hides it) or NSCC_NO_AMX set, the VNNI path runs instead.
inline bool amx_ready() {
  static const bool ok = !std::getenv("NSCC_NO_AMX") && syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0;
  return ok;
}

struct AmxConfig {  // ldtilecfg's 64-byte operand, palette 1: eight tiles of 16 rows x 64 bytes
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
  AmxConfig() {
    for (int t = 0; t < 8; ++t) colsb[t] = 64, rows[t] = 16;
  }
};

template <class TI, class TA, class Epi>
void synapse_amx(const TI* x, i64 rows, const SynapseWeights& w, const Epi& epi) {
  using Acc = std::conditional_t<(sizeof(TA) > 4), int64_t, int32_t>;
  constexpr i64 MB = 32, NH = 32;  // a block of 32 rows x 32 columns: tiles 0-3 sums, 4-5 counts, 6-7 weights
  const i64 K = w.K, N = w.N, K4 = w.K4, G = w.group_scale ? w.group : 64 * ((K4 + 15) / 16);
  const i64 K64 = 64 * ((K4 + 15) / 16), rp = MB * ((rows + MB - 1) / MB), ngroups = (K64 + G - 1) / G;
  const int64_t off = int64_t(1) << (w.bits - 1);
  // counts as bytes, rows padded to MB and inputs to K64 with silence; each row's count sum per group
  aligned_vector<int8_t> xs(rp * K64, 0);  // 64-aligned: a tile row in one cache line
  std::vector<int64_t> csum(rows * ngroups, 0);
  pack_counts(x, rows, K, G, K64, ngroups, xs.data(), csum.data());
  // A product costs 1/64 of a step: a 128-row sequence through a 768 x 768 layer (GPT-2
  // small) is worth both threads, a whole sequence's forward 20-30% faster than one thread
  // per layer (1/1024) measured on this kernel.
  // Work items are a column block's rows split `ms` ways. Column blocks alone leave a thread
  // idle a third of the time where there are few (SmolLM2's keys and values: 3 blocks on 2
  // threads). ms minimises the finish time of equal row blocks dealt out in turn; a row split
  // repeats a block's unpacking, free where the weight file is the B operand.
  const bool in_place = w.bits == 8 && K4 % 16 == 0;
  const i64 nmb = (rows + MB - 1) / MB, T = parallel_worth(rows * K * N / 64) ? omp_get_max_threads() : 1;
  i64 ms = 1;
  if (in_place)
    for (i64 s = 2, best = (w.NB + T - 1) / T * nmb; s <= nmb; ++s) {
      const i64 finish = (w.NB * s + T - 1) / T * ((nmb + s - 1) / s);
      if (finish < best) best = finish, ms = s;
    }
  const i64 span = MB * ((nmb + ms - 1) / ms);  // rows an item
#pragma omp parallel if (parallel_worth(rows * K * N / 64))
  {
    const AmxConfig cfg;
    _tile_loadconfig(&cfg);
    // 8-bit tiles are stored unpacked: where K4 fills whole 64-input steps, the weight file
    // itself is the B operand (copying it cost an eighth of this kernel's time)
    aligned_vector<uint8_t> unpacked(in_place ? 0 : K64 / 4 * 256, 0);  // a column block's unpacked tile rows, zero past K4
    alignas(64) int32_t part[MB][NH];
    alignas(64) Acc acc[MB * NH];
#pragma omp for schedule(dynamic)
    for (i64 item = 0; item < w.NB * ms; ++item) {
      const i64 cb = item / ms, mlo = item % ms * span, mhi = std::min(rows, mlo + span);
      const i64 j0 = cb * BLOCK, width = std::min(BLOCK, N - j0);
      const uint8_t* wu = in_place ? tile_at(w, cb, 0) : unpacked.data();
      if (!in_place)
        for (i64 g = 0; g < K4; ++g) unpack_tile(w.bits, tile_at(w, cb, g), unpacked.data() + g * 256);
      for (i64 h = 0; h * NH < width; ++h)
        for (i64 m0 = mlo; m0 < mhi; m0 += MB) {
          const i64 nr = std::min(MB, rows - m0), nc = std::min(NH, width - h * NH), c0 = j0 + h * NH;
          for (i64 grp = 0; grp < ngroups; ++grp) {
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            for (i64 k0 = grp * G; k0 < std::min((grp + 1) * G, K64); k0 += 64) {
              const int8_t* a = xs.data() + m0 * K64 + k0;
              const uint8_t* b = wu + k0 / 4 * 256 + 2 * h * 64;
              _tile_loadd(4, a, K64);
              _tile_loadd(5, a + 16 * K64, K64);
              _tile_loadd(6, b, 256);
              _tile_loadd(7, b + 64, 256);
              _tile_dpbsud(0, 4, 6);
              _tile_dpbsud(1, 4, 7);
              _tile_dpbsud(2, 5, 6);
              _tile_dpbsud(3, 5, 7);
            }
            _tile_stored(0, &part[0][0], NH * 4);
            _tile_stored(1, &part[0][16], NH * 4);
            _tile_stored(2, &part[16][0], NH * 4);
            _tile_stored(3, &part[16][16], NH * 4);
            if (!w.group_scale) {  // one group: the sums less the correction are the output
              Acc* a0 = std::is_same<Acc, int32_t>::value ? (Acc*)part : acc;
              for (i64 r = 0; r < nr; ++r) {
                const Acc corr = Acc(off * csum[m0 + r]);
                Acc* ar = a0 + r * NH;
#pragma omp simd
                for (i64 j = 0; j < NH; ++j) ar[j] = Acc(part[r][j]) - corr;  // whole vectors: columns past nc are dropped by epi
              }
              epi_rows(epi, m0, nr, c0, nc, (const Acc*)a0, NH);
              continue;
            }
            const int8_t* m = w.group_scale + grp * N + c0;
            for (i64 r = 0; r < nr; ++r) {
              const Acc corr = Acc(off * csum[(m0 + r) * ngroups + grp]);
              Acc* ar = acc + r * NH;
              for (i64 j = 0; j < nc; ++j) ar[j] = (grp ? ar[j] : Acc(0)) + Acc(m[j]) * (Acc(part[r][j]) - corr);
            }
          }
          if (w.group_scale)
            epi_rows(epi, m0, nr, c0, nc, (const Acc*)acc, NH);
        }
    }
    _tile_release();
  }
}
#endif

// TA: the synapse's result type (int64 sums where int32 could overflow); epi receives them.
template <class TA, class TI, class Epi>
void synapse_kernels(const TI* x, i64 rows, const SynapseWeights& w, bool bitplane_events, LayerCounter* ctr, const Epi& epi) {
  if (ctr) {  // events (spikes) and synaptic operations, as the spike report counts them
    const i64 K = w.K;
    i64 events = 0, sops = 0;
#pragma omp parallel for reduction(+ : events, sops) schedule(static) if (parallel_elements(rows * K))
    for (i64 r = 0; r < rows; ++r) {
      i64 k = 0;
#if defined(__AVX512F__) && defined(__AVX512VPOPCNTDQ__)
      // byte counts, 16 at a time: |c| * nnz <= 255 * N stays in int32 (N < 2^23); the loop
      // had been scalar, 3% of SmolLM2's forward
      if constexpr (sizeof(TI) == 1) {
        if (w.N < (i64(1) << 23)) {
          const __m512i zero = _mm512_setzero_si512();
          __m512i ev = zero, s = zero;
          for (; k + 16 <= K; k += 16) {
            const __m128i b = _mm_loadu_si128((const __m128i*)(x + r * K + k));
            __m512i m = std::is_signed<TI>::value ? _mm512_abs_epi32(_mm512_cvtepi8_epi32(b)) : _mm512_cvtepu8_epi32(b);
            if (bitplane_events) m = _mm512_popcnt_epi32(m);
            ev = _mm512_add_epi32(ev, m);
            const __m512i p = _mm512_mullo_epi32(m, _mm512_loadu_si512(w.nnz_row + k));
            s = _mm512_add_epi64(s, _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(p)), _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(p, 1))));
          }
          events += _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(ev)), _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(ev, 1))));
          sops += _mm512_reduce_add_epi64(s);
        }
      }
#endif
      for (; k < K; ++k) {
        int32_t c = x[r * K + k];
        int32_t mag = c < 0 ? -c : c;
        int32_t ev = bitplane_events ? __builtin_popcount(mag) : mag;
        events += ev;
        sops += int64_t(ev) * w.nnz_row[k];
      }
    }
    ctr->events += events;
    ctr->sops += sops;
    ctr->elements += rows * K;
  }
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
  // within [-127, 127], groups of whole tile rows, and int32 sums that cannot overflow
  if (w.max_count <= 127 && (!w.group_scale || w.group % 4 == 0) && 4 * w.K4 * 255 * 127 < (i64(1) << 31)) {
#if defined(__AMX_INT8__) && defined(__AMX_TILE__)
    // a tile is 16 rows: fewer (a decoded token) would waste the tile and pay for unpacking every weight
    if (rows >= 16 && (!w.group_scale || w.group % 64 == 0) && amx_ready()) {
      synapse_amx<TI, TA>(x, rows, w, epi);
      return;
    }
#endif
    if (rows == 1)
      synapse_vnni<1, TI, TA>(x, rows, w, epi);
    else
      synapse_vnni<6, TI, TA>(x, rows, w, epi);
    return;
  }
#endif
  synapse_generic<TI, TA>(x, rows, w, epi);
}

template <class TI, class TA>
void synapse(const TI* x, i64 rows, const SynapseWeights& w, bool bitplane_events, TA* out, LayerCounter* ctr) {
  synapse_kernels<TA>(x, rows, w, bitplane_events, ctr, StoreSums<TA>{out, w.N});
}

// A synapse whose sums go to `f(r, j0, n, sums)` (a fused chain) instead of memory.
template <class TA, class TI, class F>
void synapse_with(const TI* x, i64 rows, const SynapseWeights& w, bool bitplane_events, LayerCounter* ctr, const F& f) {
  synapse_kernels<TA>(x, rows, w, bitplane_events, ctr, epilogue_ref(f));
}

}  // namespace nscc
