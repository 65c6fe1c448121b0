// nscc C++/OpenMP simulator runtime: the kernels generated programs call.
//
// Every snn kernel implements docs/semantics.md exactly (integers, and the
// float32 steps of encode/decode in the stated order); build with
// -ffp-contract=off so that no multiply-add is fused. Float nn kernels follow
// the reference interpreter's order of operations where it is cheap to, and
// accumulate reductions in double; their tolerance is documented in
// docs/targets.md.
#pragma once

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <omp.h>
#include <type_traits>
#include <fcntl.h>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "nscc_int.h"
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace nscc {

using i64 = int64_t;

// Storage aligned to 64 bytes, for the arena and the model's inputs and outputs: with the
// arena's offsets also multiples of 64, a 512-bit load or store of a buffer's first element
// and of every 16th int32 after it stays within one cache line. std::vector's default
// storage is 16-byte aligned, and there each such access was split in two (half the speed
// of an aligned one on the machine of docs/targets.md).
template <class T>
struct Aligned64 {
  using value_type = T;
  Aligned64() = default;
  template <class U>
  Aligned64(const Aligned64<U>&) {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
  void deallocate(T* p, std::size_t) { ::operator delete(p, std::align_val_t(64)); }
  template <class U>
  bool operator==(const Aligned64<U>&) const { return true; }
  template <class U>
  bool operator!=(const Aligned64<U>&) const { return false; }
};
template <class T>
using aligned_vector = std::vector<T, Aligned64<T>>;

// ---------------------------------------------------------------- weights file
// "NSCCW1\0\0", u32 count, then per entry: u8 dtype, u8 bits, u16 ndim,
// u32 pad, u64 offset, u64 nbytes, i64 dims[ndim]; data at the offsets
// (64-byte aligned). Entries are addressed by index: names stay in the file.
struct Entry {
  uint8_t dtype, bits;
  std::vector<i64> dims;
  const uint8_t* data;
  uint64_t nbytes;
};

constexpr uint16_t MAX_DIMS = 16;
constexpr uint8_t MAX_DTYPE = 11;  // the codes of DTYPE_CODE in targets/cpp/__init__.py, 8 synapse tiles (nscc_synapse.hpp)

class Weights {
 public:
  explicit Weights(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDONLY);
    if (fd_ < 0) throw std::runtime_error(path + ": cannot open the weight file");
    struct stat st;
    if (fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) throw std::runtime_error(path + ": not a regular file");
    size_ = st.st_size;
    if (size_ < 12) throw std::runtime_error(path + ": not an nscc weight file");
    base_ = static_cast<const uint8_t*>(mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0));
    if (base_ == MAP_FAILED) throw std::runtime_error(path + ": cannot map the weight file");
    if (std::memcmp(base_, "NSCCW1\0\0", 8) != 0) throw std::runtime_error(path + ": not an nscc weight file");
    // Every field is checked before it is used: a crafted header must fail here, not crash later.
    const std::string bad = path + ": corrupt weight file header";
    uint32_t n;
    std::memcpy(&n, base_ + 8, 4);
    if (n > (size_ - 12) / 24) throw std::runtime_error(bad + " (entry count)");
    size_t p = 12;
    for (uint32_t i = 0; i < n; ++i) {
      Entry e;
      uint16_t ndim;
      uint64_t off;
      if (size_ - p < 24) throw std::runtime_error(bad + " (truncated entry)");
      e.dtype = base_[p];
      e.bits = base_[p + 1];
      std::memcpy(&ndim, base_ + p + 2, 2);
      std::memcpy(&off, base_ + p + 8, 8);
      std::memcpy(&e.nbytes, base_ + p + 16, 8);
      p += 24;
      if (ndim > MAX_DIMS || size_ - p < 8 * (size_t)ndim) throw std::runtime_error(bad + " (dimensions)");
      if (e.dtype > MAX_DTYPE || e.bits > 64) throw std::runtime_error(bad + " (element type)");
      e.dims.resize(ndim);
      std::memcpy(e.dims.data(), base_ + p, 8 * ndim);
      p += 8 * ndim;
      for (i64 d : e.dims)
        if (d < 0) throw std::runtime_error(bad + " (negative dimension)");
      if (off > size_ || e.nbytes > size_ - off || off % 64 != 0) throw std::runtime_error(path + ": truncated weight file");
      e.data = base_ + off;
      entries_.push_back(e);
    }
  }
  // The model reads entry i as `nbytes` bytes of `dtype`: a file from another model must not be read past its end.
  void expect(size_t i, uint8_t dtype, uint64_t nbytes) const {
    if (i >= entries_.size() || entries_[i].dtype != dtype || entries_[i].nbytes != nbytes)
      throw std::runtime_error("the weight file does not belong to this model (entry " + std::to_string(i) + ")");
  }
  ~Weights() {
    if (base_ && base_ != MAP_FAILED) munmap(const_cast<uint8_t*>(base_), size_);
    if (fd_ >= 0) ::close(fd_);
  }
  const Entry& at(size_t i) const { return entries_.at(i); }
  template <class T>
  const T* ptr(size_t i) const { return reinterpret_cast<const T*>(entries_.at(i).data); }
  size_t bytes() const { return size_; }
  size_t count() const { return entries_.size(); }

 private:
  int fd_ = -1;
  size_t size_ = 0;
  const uint8_t* base_ = nullptr;
  std::vector<Entry> entries_;
};

// ---------------------------------------------------------------- counters
struct LayerCounter {
  const char* name;
  i64 events = 0, sops = 0, elements = 0;
};

// ---------------------------------------------------------------- helpers
// A thread team costs a fork and a join: tens of microseconds with sleeping threads
// (OMP_WAIT_POLICY=passive, which nscc run sets, so that a shared machine is not
// spun on), far more when other work holds the cores. Loops of fewer elementary
// steps than this run on one thread: on benchmarks/simulator.py's GPT-2-small-sized
// model, 2^16 rather than 2^19 made a decoded token 40 % slower with sleeping threads
// (a team for each layer's attention step), on an Intel Xeon with 2 cores.
constexpr i64 PAR_MIN_WORK = i64(1) << 19;
inline bool parallel_worth(i64 work) { return work >= PAR_MIN_WORK && omp_get_max_threads() > 1; }
// The per-element kernels (fixed-point functions, requantization, elementwise ops, copies)
// spend several instructions on an element where the products of the synapses and of
// attention take a fraction of one: an element counts as 8 steps. On the same model, the
// elementwise ops over [128, 768] then run on both cores: 0.22 s to 0.16 s a 128-token
// forward with sleeping threads (best of 5 runs, interleaved).
inline bool parallel_elements(i64 n) { return parallel_worth(8 * n); }

#if defined(__AVX512F__) && defined(__AVX512DQ__)
#define NSCC_V8 1
// Eight values at a time, widened to int64 lanes (or held exactly in doubles): the synapse
// epilogues' chains (the code generator's vector loop), divisions by one divisor a row, SiLU's
// and attention's exp. Each helper is the vector form of its nscc_int.h namesake, bit for bit.
// `mul` is vpmuldq, one uop, for operands known to fit in 32 bits: g++ turns the scalar
// int64 products into vpmullq's three.
namespace v8 {
using V = __m512i;
inline V load(const int8_t* p) { return _mm512_cvtepi8_epi64(_mm_loadl_epi64((const __m128i*)p)); }
inline V load(const int16_t* p) { return _mm512_cvtepi16_epi64(_mm_loadu_si128((const __m128i*)p)); }
inline V load(const int32_t* p) { return _mm512_cvtepi32_epi64(_mm256_loadu_si256((const __m256i*)p)); }
inline V load(const int64_t* p) { return _mm512_loadu_si512(p); }
inline V set1(int64_t x) { return _mm512_set1_epi64(x); }
inline V mul(V a, V b) { return _mm512_mul_epi32(a, b); }
inline V mul64(V a, V b) { return _mm512_mullo_epi64(a, b); }
inline V shl(V a, int k) { return _mm512_sll_epi64(a, _mm_cvtsi32_si128(k)); }
inline V round_shift(V a, int k) { return k > 0 ? _mm512_sra_epi64(_mm512_add_epi64(a, set1(int64_t(1) << (k - 1))), _mm_cvtsi32_si128(k)) : a; }
inline V clamp(V a, int64_t lo, int64_t hi) { return _mm512_min_epi64(_mm512_max_epi64(a, set1(lo)), set1(hi)); }
inline V sat32(V a) { return clamp(a, INT32_MIN, INT32_MAX); }
// a C cast to a narrower signed type: the low `bits` bits, sign-extended
inline V wrap(V a, int bits) { return _mm512_sra_epi64(_mm512_sll_epi64(a, _mm_cvtsi32_si128(64 - bits)), _mm_cvtsi32_si128(64 - bits)); }
// requant_value(a * 2^bf + b, m, ...) as (a m) 2^bf + b m: the same int64 arithmetic
inline V requant(V am, V bm, int bias_frac, int shift, int64_t lo, int64_t hi) {
  return clamp(round_shift(_mm512_add_epi64(shl(am, bias_frac), bm), shift), lo, hi);
}
inline V fixed_mul(V ab, int f) { return sat32(round_shift(ab, f)); }
inline V fixed_add(V a, V b) { return sat32(_mm512_add_epi64(a, b)); }
inline __m512d decode(V a, double scale) { return _mm512_mul_pd(_mm512_cvtepi64_pd(a), _mm512_set1_pd(scale)); }
inline void store(int8_t* p, V a) { _mm_storel_epi64((__m128i*)p, _mm512_cvtepi64_epi8(a)); }
inline void store(int16_t* p, V a) { _mm_storeu_si128((__m128i*)p, _mm512_cvtepi64_epi16(a)); }
inline void store(int32_t* p, V a) { _mm256_storeu_si256((__m256i*)p, _mm512_cvtepi64_epi32(a)); }
inline void store(int64_t* p, V a) { _mm512_storeu_si512(p, a); }
inline void store(float* p, __m512d a) { _mm256_storeu_ps(p, _mm512_cvtpd_ps(a)); }
// FloorDivBy on eight integers held exactly in doubles; the quotients, also exact
inline __m512d floordiv_by(__m512d x, __m512d d, __m512d inv) {
  const __m512d one = _mm512_set1_pd(1.0);
  __m512d q = _mm512_roundscale_pd(_mm512_mul_pd(x, inv), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  const __m512d r = _mm512_fnmadd_pd(q, d, x);
  q = _mm512_mask_add_pd(q, _mm512_cmp_pd_mask(r, d, _CMP_GE_OQ), q, one);
  return _mm512_mask_sub_pd(q, _mm512_cmp_pd_mask(r, _mm512_setzero_pd(), _CMP_LT_OQ), q, one);
}
// eight int32 as doubles
inline __m512d load_pd(const int32_t* p) { return _mm512_cvtepi32_pd(_mm256_loadu_si256((const __m256i*)p)); }
// exp_value (nscc_int.h) of eight t <= 0 at f <= 25 fraction bits: t clamped to -2^(f+5)
// and every other factor below 2^31, so that each product is one vpmuldq
inline V exp_value(V t, int f, int64_t log2e, int64_t c1, int64_t c2) {
  t = _mm512_max_epi64(t, set1(-(int64_t(SOFTMAX_MIN) << f)));
  const V nu = _mm512_sub_epi64(_mm512_setzero_si512(), round_shift(mul(t, set1(log2e)), LOG2E_BITS));
  const V z = _mm512_sra_epi64(nu, _mm_cvtsi32_si128(f)), fr = _mm512_and_si512(nu, set1((int64_t(1) << f) - 1));
  const V p = _mm512_add_epi64(_mm512_sub_epi64(set1(int64_t(1) << f), round_shift(mul(fr, set1(c1)), f)),
                               round_shift(mul(round_shift(mul(fr, fr), f), set1(c2)), f));
  return _mm512_srav_epi64(p, _mm512_min_epi64(z, set1(62)));
}
}  // namespace v8
#else
#define NSCC_V8 0
#endif

// sat32, round_shift, round_div, isqrt and the per-element fixed-point functions: nscc_int.h
inline int popcount_abs(int64_t v) { return __builtin_popcountll((unsigned long long)(v < 0 ? -v : v)); }

// floor(n / d) for |n| < 2^53 and 0 < d < 2^53, as floordiv computes it, in a form that
// vectorises where a 64-bit integer division does not. Both convert to double exactly, and
// the quotient is correctly rounded: when n / d is not an integer k, it is at least 1 / d
// below the next one, more than half an ulp of n / d (n / d 2^-53) while |n| < 2^53, so
// rounding never carries it up to k, and its floor is floordiv's answer. The floor is a
// truncation less one below zero: g++ vectorises neither std::floor (it may not raise
// "inexact") nor a float-to-int conversion after it, and this takes no branch.
inline int64_t floordiv_small(int64_t n, int64_t d) {
  const double q = (double)n / (double)d;
  const int64_t t = (int64_t)q;  // |q| < 2^53: t and (double)t are exact
  return t - ((double)t > q);
}
// round_div(a, b) for |2 a + b| < 2^53 and 0 < b < 2^52
inline int64_t round_div_small(int64_t a, int64_t b) { return floordiv_small(2 * a + b, 2 * b); }
// floordiv_small by one divisor d >= 2 for a whole row: a product with 1/d where vdivpd
// took 16 cycles for eight. n (1/d) is within |n / d| 2^-52 < 1 of n / d (|n| < 2^53), so
// its floor q is floor(n / d) or one off either side; the remainder n - q d is an integer
// below 2^53, exact from one fused multiply-add, and says which.
struct FloorDivBy {
  double d, inv;
  explicit FloorDivBy(int64_t divisor) : d((double)divisor), inv(1.0 / (double)divisor) {}
  int64_t operator()(int64_t n) const {
    const double x = (double)n, q = std::floor(x * inv), r = std::fma(-q, d, x);
    return (int64_t)(q + (double)(r >= d) - (double)(r < 0.0));
  }
};
// round_div_small(a, b) by one b > 0 for a whole row
struct RoundDivBy {
  FloorDivBy div;
  int64_t b;
  explicit RoundDivBy(int64_t b_) : div(2 * b_), b(b_) {}
  int64_t operator()(int64_t a) const { return div(2 * a + b); }
};
// fixed_div_value for int32 operands at f <= 20 fraction bits, where 2 a 2^f + b < 2^53
inline int32_t fixed_div_value_small(int64_t a, int64_t b, int f) {
  // divides by 1 where b <= 0, so that the division need not sit under a branch (g++ keeps
  // a division that might raise an exception out of a vectorised select)
  const int32_t q = (int32_t)sat32(round_div_small(a * (int64_t(1) << f), std::max<int64_t>(b, 1)));
  return q & -(int32_t)(b > 0);
}
// snn.fixed_div of rows by one divisor a row (or one for all: bs = 0), as fixed_div_value_small:
// the per-token scales of dynamic quantization, over every activation of the model
inline void fixed_div_rows(const int32_t* a, const int32_t* b, i64 bs, i64 rows, i64 n, int f, int32_t* out) {
#pragma omp parallel for schedule(static) if (parallel_elements(rows * n))
  for (i64 r = 0; r < rows; ++r) {
    const int64_t br = b[r * bs];
    int32_t* o = out + r * n;
    if (br <= 0) {
      std::fill(o, o + n, 0);
      continue;
    }
    const RoundDivBy by(br);
    const int32_t* ar = a + r * n;
    i64 j = 0;
#if NSCC_V8
    // 2 a 2^f + b, exact in double (< 2^53), over 2 b; the clamp to int32 in double is sat32's
    const __m512d scale = _mm512_set1_pd((double)(int64_t(1) << (f + 1))), bv = _mm512_set1_pd((double)br), d = _mm512_set1_pd(by.div.d),
                  inv = _mm512_set1_pd(by.div.inv), lo = _mm512_set1_pd(INT32_MIN), hi = _mm512_set1_pd(INT32_MAX);
    for (; j + 8 <= n; j += 8) {
      const __m512d q = v8::floordiv_by(_mm512_fmadd_pd(v8::load_pd(ar + j), scale, bv), d, inv);
      _mm256_storeu_si256((__m256i*)(o + j), _mm512_cvtpd_epi32(_mm512_min_pd(_mm512_max_pd(q, lo), hi)));
    }
#endif
    for (; j < n; ++j) o[j] = (int32_t)sat32(by((int64_t)ar[j] * (int64_t(1) << f)));
  }
}

// ---------------------------------------------------------------- snn kernels
// n = clip(round_half_even(f32(x) / f32(theta)), lo, hi); theta[(i / inner) % C]
template <class TO>
void encode(const float* x, const float* theta, i64 n, i64 C, i64 inner, int lo, int hi, TO* out) {
  const i64 outer = n / (C * inner);
  if (inner == 1 && C > 1) {  // per-channel thresholds, channels last
#pragma omp parallel for schedule(static) if (parallel_elements(n))
    for (i64 o = 0; o < outer; ++o)
      for (i64 c = 0; c < C; ++c) {
        const i64 i = o * C + c;
        float q = x[i] / theta[c];
        float r = std::isnan(q) ? 0.f : (std::isinf(q) ? (q > 0 ? (float)hi : (float)lo) : std::nearbyint(q));
        out[i] = (TO)std::min<float>(std::max<float>(r, (float)lo), (float)hi);
      }
    return;
  }
#pragma omp parallel for collapse(2) schedule(static) if (parallel_elements(n))
  for (i64 o = 0; o < outer; ++o)
    for (i64 c = 0; c < C; ++c) {
      const float th = theta[c];
      const i64 base = (o * C + c) * inner;
      for (i64 i = base; i < base + inner; ++i) {
        float q = x[i] / th;
        float r;
        if (std::isnan(q)) r = 0.f;
        else if (std::isinf(q)) r = q > 0 ? (float)hi : (float)lo;
        else r = std::nearbyint(q);
        out[i] = (TO)std::min<float>(std::max<float>(r, (float)lo), (float)hi);
      }
    }
}

// Binary trains -> the counts they spell (the synapse sums them the same way).
template <class TI>
void slots_to_counts(const TI* s, i64 slots, i64 n, const int* slot_weight, int32_t* out) {
#pragma omp parallel for schedule(static) if (parallel_elements(n * slots))
  for (i64 i = 0; i < n; ++i) {
    int32_t c = 0;
    for (i64 t = 0; t < slots; ++t) c += slot_weight[t] * s[t * n + i];
    out[i] = c;
  }
}

template <class TI>
void expand(const TI* n, i64 size, i64 slots, bool bitplane, int8_t* out) {
#pragma omp parallel for schedule(static) if (parallel_elements(size * slots))
  for (i64 i = 0; i < size; ++i) {
    int v = n[i], mag = v < 0 ? -v : v, sg = v < 0 ? -1 : (v > 0);
    for (i64 t = 0; t < slots; ++t) {
      bool fired = bitplane ? ((mag >> t) & 1) : (mag >= t + 1);
      out[t * size + i] = fired ? sg : 0;
    }
  }
}

template <class TI, class TA>
void conv_synapse(const TI* x, i64 B, i64 C, i64 H, i64 W, const int8_t* w, i64 M, i64 kh, i64 kw, i64 sh, i64 sw, i64 pt, i64 pl, i64 dh, i64 dw,
                  i64 group, i64 OH, i64 OW, bool bitplane_events, TA* out, LayerCounter* ctr) {
  const i64 cg = C / group, mg = M / group;
  i64 sops = 0;
#pragma omp parallel for collapse(2) reduction(+ : sops) schedule(static) if (parallel_worth(B * M * OH * OW * cg * kh * kw))
  for (i64 b = 0; b < B; ++b)
    for (i64 m = 0; m < M; ++m) {
      const i64 g = m / mg;
      for (i64 oy = 0; oy < OH; ++oy)
        for (i64 ox = 0; ox < OW; ++ox) {
          int64_t acc = 0;
          for (i64 c = 0; c < cg; ++c)
            for (i64 a = 0; a < kh; ++a) {
              i64 iy = oy * sh - pt + a * dh;
              if (iy < 0 || iy >= H) continue;
              for (i64 e = 0; e < kw; ++e) {
                i64 ix = ox * sw - pl + e * dw;
                if (ix < 0 || ix >= W) continue;
                int32_t v = x[((b * C + g * cg + c) * H + iy) * W + ix];
                if (v == 0) continue;
                int32_t wt = w[((m * cg + c) * kh + a) * kw + e];
                if (wt == 0) continue;
                int32_t mag = v < 0 ? -v : v;
                sops += bitplane_events ? __builtin_popcount(mag) : mag;
                acc += int64_t(v) * wt;
              }
            }
          out[((b * M + m) * OH + oy) * OW + ox] = (TA)acc;
        }
    }
  if (ctr) {
    i64 events = 0, n = B * C * H * W;
    for (i64 i = 0; i < n; ++i) {
      int32_t v = x[i], mag = v < 0 ? -v : v;
      events += bitplane_events ? __builtin_popcount(mag) : mag;
    }
    ctr->events += events;
    ctr->sops += sops;
    ctr->elements += n;
  }
}

// y = f32(acc) * scale[c] + bias[c], channel c = (i / inner) % C
template <class TA>
void decode(const TA* acc, const float* scale, const float* bias, i64 n, i64 C, i64 inner, float* out) {
  const i64 outer = n / (C * inner);
  if (inner == 1) {  // channels last: vectorise along them
#pragma omp parallel for schedule(static) if (parallel_elements(n))
    for (i64 o = 0; o < outer; ++o) {
      const TA* a = acc + o * C;
      float* y = out + o * C;
      if (bias) {
#pragma omp simd
        for (i64 c = 0; c < C; ++c) {
          float v = (float)a[c] * scale[c];
          y[c] = v + bias[c];
        }
      } else {
#pragma omp simd
        for (i64 c = 0; c < C; ++c) y[c] = (float)a[c] * scale[c];
      }
    }
    return;
  }
#pragma omp parallel for collapse(2) schedule(static) if (parallel_elements(n))
  for (i64 o = 0; o < outer; ++o)
    for (i64 c = 0; c < C; ++c) {
      const float sc = scale[c], b = bias ? bias[c] : 0.f;
      const i64 base = (o * C + c) * inner;
      if (bias)
        for (i64 i = base; i < base + inner; ++i) {
          float y = (float)acc[i] * sc;
          out[i] = y + b;
        }
      else
        for (i64 i = base; i < base + inner; ++i) out[i] = (float)acc[i] * sc;
    }
}

#if defined(__AVX512F__)
// requant's rows for int32 sums and multipliers, channels last, no bias fraction:
// (a + b) m = a m + b m, a m one vpmuldq (signed 32 x 32 -> 64 bits) where g++ emits
// vpmullq's three uops, and b m once per channel. Exact: |a m|, |b m| < 2^62.
template <class TO>
void requant_rows_i32(const int32_t* acc, const int32_t* mult, const int32_t* bias, i64 outer, i64 C, int shift, int64_t lo, int64_t hi, TO* out) {
  std::vector<int64_t> bm(C, 0);
  if (bias)
    for (i64 c = 0; c < C; ++c) bm[c] = (int64_t)bias[c] * mult[c];
  const __m512i half = _mm512_set1_epi64(shift > 0 ? int64_t(1) << (shift - 1) : 0), vlo = _mm512_set1_epi64(lo), vhi = _mm512_set1_epi64(hi);
  const __m128i sh = _mm_cvtsi32_si128(shift);
#pragma omp parallel for schedule(static) if (parallel_elements(outer * C))
  for (i64 o = 0; o < outer; ++o) {
    const int32_t* a = acc + o * C;
    TO* y = out + o * C;  // may be acc: each group of 8 is read before it is written
    i64 c = 0;
    for (; c + 8 <= C; c += 8) {
      const __m512i av = _mm512_cvtepi32_epi64(_mm256_loadu_si256((const __m256i*)(a + c)));
      const __m512i mv = _mm512_cvtepi32_epi64(_mm256_loadu_si256((const __m256i*)(mult + c)));
      __m512i v = _mm512_add_epi64(_mm512_mul_epi32(av, mv), _mm512_loadu_si512(bm.data() + c));
      v = _mm512_min_epi64(_mm512_max_epi64(_mm512_sra_epi64(_mm512_add_epi64(v, half), sh), vlo), vhi);
      if constexpr (sizeof(TO) == 4)
        _mm256_storeu_si256((__m256i*)(y + c), _mm512_cvtepi64_epi32(v));
      else
        _mm_storel_epi64((__m128i*)(y + c), _mm512_cvtepi64_epi8(v));
    }
    for (; c < C; ++c) y[c] = (TO)requant_value((int64_t)a[c] + (bias ? (int64_t)bias[c] : 0), (int64_t)mult[c], shift, lo, hi);
  }
}
#endif

// Loops over (row, channel, inner) with no division per element, so that the
// 64-bit multiply, shift and clamp vectorise (vpmullq, vpsraq).
template <class TA, class TM, class TO>
void requant(const TA* acc, const TM* mult, const TM* bias, int bias_frac, i64 n, i64 C, i64 inner, int shift, int64_t lo, int64_t hi,
             TO* out) {
  const i64 outer = n / (C * inner);
#if defined(__AVX512F__)
  if constexpr (std::is_same<TA, int32_t>::value && std::is_same<TM, int32_t>::value &&
                (std::is_same<TO, int32_t>::value || sizeof(TO) == 1))
    if (inner == 1 && bias_frac == 0) {
      requant_rows_i32(acc, mult, bias, outer, C, shift, lo, hi, out);
      return;
    }
#endif
  if (inner == 1) {  // channels last
#pragma omp parallel for schedule(static) if (parallel_elements(n))
    for (i64 o = 0; o < outer; ++o) {
      const TA* a = acc + o * C;
      TO* y = out + o * C;
#pragma omp simd
      for (i64 c = 0; c < C; ++c)
        y[c] = (TO)requant_value(((int64_t)a[c] * (int64_t(1) << bias_frac)) + (bias ? (int64_t)bias[c] : 0), (int64_t)mult[c], shift, lo, hi);
    }
    return;
  }
#pragma omp parallel for collapse(2) schedule(static) if (parallel_elements(n))
  for (i64 o = 0; o < outer; ++o)
    for (i64 c = 0; c < C; ++c) {
      const int64_t m = mult[c], b = bias ? (int64_t)bias[c] : 0;
      const i64 base = (o * C + c) * inner;
#pragma omp simd
      for (i64 i = base; i < base + inner; ++i) out[i] = (TO)requant_value(((int64_t)acc[i] * (int64_t(1) << bias_frac)) + b, m, shift, lo, hi);
    }
}

template <class TI>
void neuron(const TI* cur, i64 T, i64 n, int64_t theta, int leak, bool is_signed, int8_t* out) {
#pragma omp parallel for schedule(static) if (parallel_elements(T * n))
  for (i64 i = 0; i < n; ++i) {
    int64_t v = 0;
    for (i64 t = 0; t < T; ++t) {
      if (leak) v = v - (v >> leak);
      v += (int64_t)cur[t * n + i];
      int s = v >= theta ? 1 : 0;
      if (is_signed && v <= -theta) s = -1;
      v -= (int64_t)s * theta;
      out[t * n + i] = (int8_t)s;
    }
  }
}

// snn.lif over [T, n]: each neuron's membrane in a register, the time axis inside.
// A parameter array of one element applies to every neuron.
template <class TI>
void lif(const TI* cur, i64 T, i64 n, const int32_t* decay, i64 nd, const int32_t* theta, i64 nt, const int32_t* reset, i64 nr, int8_t* out) {
#pragma omp parallel for schedule(static) if (parallel_elements(T * n))
  for (i64 i = 0; i < n; ++i) {
    const int64_t a = decay[nd > 1 ? i : 0], th = theta[nt > 1 ? i : 0], r = reset[nr > 1 ? i : 0];
    int64_t v = 0;
    for (i64 t = 0; t < T; ++t) {
      v = leak_step(v, a, (int64_t)cur[t * n + i]);
      const bool s = v > th;
      if (s) v = r;
      out[t * n + i] = (int8_t)s;
    }
  }
}

// snn.recurrent_lif over [T, n]: time outside (a step reads the spikes of the one before),
// a weight row added for each neuron that fired.
template <class TI>
void recurrent_lif(const TI* cur, i64 T, i64 n, const int32_t* w, const int32_t* decay, i64 nd, const int32_t* theta, i64 nt,
                   const int32_t* reset, i64 nr, int8_t* out) {
  std::vector<int64_t> v(n, 0);
  for (i64 t = 0; t < T; ++t) {
    for (i64 i = 0; i < n; ++i) v[i] = leak_step(v[i], decay[nd > 1 ? i : 0], (int64_t)cur[t * n + i]);
    if (t > 0)
      for (i64 j = 0; j < n; ++j)
        if (out[(t - 1) * n + j])
          for (i64 i = 0; i < n; ++i) v[i] += w[j * n + i];
    for (i64 i = 0; i < n; ++i) {
      const bool s = v[i] > (int64_t)theta[nt > 1 ? i : 0];
      if (s) v[i] = reset[nr > 1 ? i : 0];
      out[t * n + i] = (int8_t)s;
    }
  }
}

template <class TI>
void leaky_integrate(const TI* cur, i64 T, i64 n, const int32_t* decay, i64 nd, int32_t* out) {
#pragma omp parallel for schedule(static) if (parallel_elements(T * n))
  for (i64 i = 0; i < n; ++i) {
    const int64_t a = decay[nd > 1 ? i : 0];
    int64_t v = 0;
    for (i64 t = 0; t < T; ++t) {
      v = leak_step(v, a, (int64_t)cur[t * n + i]);
      out[t * n + i] = (int32_t)sat32(v);
    }
  }
}

// Linear attention, the sequential form of docs/semantics.md: per head h,
// S = S - (S >> s) + k_t^T v_t, z = z - (z >> s) + k_t, num_t = q_t S, den_t = q_t . z
template <class TQ, class TK, class TV, class TN, class TD, class TS>
void linear_attention(const TQ* q, const TK* k, const TV* v, i64 heads, i64 T, i64 dk, i64 dv, int s, TS* state, TS* norm, TN* num, TD* den,
                      LayerCounter* ctr) {
  i64 events = 0;
#pragma omp parallel for reduction(+ : events) schedule(static) if (parallel_worth(heads * T * dk * dv))
  for (i64 h = 0; h < heads; ++h) {
    std::vector<int64_t> S(dk * dv), z(dk);
    if (state)
      for (i64 i = 0; i < dk * dv; ++i) S[i] = state[h * dk * dv + i];
    if (norm)
      for (i64 i = 0; i < dk; ++i) z[i] = norm[h * dk + i];
    for (i64 t = 0; t < T; ++t) {
      const TQ* qt = q + (h * T + t) * dk;
      const TK* kt = k + (h * T + t) * dk;
      const TV* vt = v + (h * T + t) * dv;
      if (s) {
        for (i64 i = 0; i < dk * dv; ++i) S[i] -= S[i] >> s;
        for (i64 i = 0; i < dk; ++i) z[i] -= z[i] >> s;
      }
      for (i64 a = 0; a < dk; ++a) {
        int64_t ka = kt[a];
        if (ka == 0) continue;  // a silent key adds nothing
        events += ka < 0 ? -ka : ka;
        z[a] += ka;
        for (i64 b = 0; b < dv; ++b) S[a * dv + b] += ka * (int64_t)vt[b];
      }
      int64_t d = 0;
      std::vector<int64_t> o(dv, 0);
      for (i64 a = 0; a < dk; ++a) {
        int64_t qa = qt[a];
        if (qa == 0) continue;
        events += qa < 0 ? -qa : qa;
        d += qa * z[a];
        for (i64 b = 0; b < dv; ++b) o[b] += qa * S[a * dv + b];
      }
      for (i64 b = 0; b < dv; ++b) num[(h * T + t) * dv + b] = (TN)o[b];
      den[h * T + t] = (TD)d;
    }
    if (state)
      for (i64 i = 0; i < dk * dv; ++i) state[h * dk * dv + i] = (TS)S[i];
    if (norm)
      for (i64 i = 0; i < dk; ++i) norm[h * dk + i] = (TS)z[i];
  }
  if (ctr) {
    ctr->events += events;
    ctr->elements += 2 * heads * T * dk;
  }
}

// snn.linear_attention with bidirectional sums or a mask (encoders), the quadratic form of
// docs/semantics.md in int64: per batch entry z of `outer` and head h of H, query i sees key j
// when j <= limit + i (limit = 0: causal; S: every key) and, with a mask (its entry
// mask[z * mz + h * mh + i * mi + j * mj]), linear_attention_hides (nscc_int.h) is false;
// num_i = sum (q_i . k_j) v_j and den_i = sum q_i . k_j over the keys it sees. The counters are
// the recurrence's: every count of q and k is an event.
template <class TQ, class TK, class TV, class TN, class TD>
void linear_attention_visible(const TQ* q, const TK* k, const TV* v, const int32_t* mask, i64 mz, i64 mh, i64 mi, i64 mj, i64 outer, i64 H, i64 S,
                              i64 dk, i64 dv, i64 limit, int f, TN* num, TD* den, LayerCounter* ctr) {
#pragma omp parallel for collapse(3) schedule(static) if (parallel_worth(outer * H * S * S * (dk + dv)))
  for (i64 z = 0; z < outer; ++z)
    for (i64 h = 0; h < H; ++h)
      for (i64 i = 0; i < S; ++i) {
        const i64 zh = z * H + h;
        const TQ* qi = q + (zh * S + i) * dk;
        std::vector<int64_t> o(dv, 0);
        int64_t d = 0;
        for (i64 j = 0; j < S && j <= limit + i; ++j) {
          if (mask && linear_attention_hides(mask[z * mz + h * mh + i * mi + j * mj], f)) continue;
          const TK* kj = k + (zh * S + j) * dk;
          int64_t s = 0;
          for (i64 a = 0; a < dk; ++a) s += (int64_t)qi[a] * (int64_t)kj[a];
          if (s == 0) continue;
          d += s;
          const TV* vj = v + (zh * S + j) * dv;
          for (i64 b = 0; b < dv; ++b) o[b] += s * (int64_t)vj[b];
        }
        for (i64 b = 0; b < dv; ++b) num[(zh * S + i) * dv + b] = (TN)o[b];
        den[zh * S + i] = (TD)d;
      }
  if (ctr) {
    const i64 n = outer * H * S * dk;
    i64 events = 0;
    for (i64 i = 0; i < n; ++i) events += std::abs((int64_t)q[i]) + std::abs((int64_t)k[i]);
    ctr->events += events;
    ctr->elements += 2 * n;
  }
}

// ---------------------------------------------------------------- fixed point
inline void fixed_encode(const float* x, i64 n, int f, int32_t* out) {
#pragma omp parallel for schedule(static) if (parallel_elements(n))
  for (i64 i = 0; i < n; ++i) {
    double v = std::nearbyint((double)x[i] * (double)(int64_t(1) << f));
    if (std::isnan(v)) v = 0;
    out[i] = (int32_t)std::min(std::max(v, (double)INT32_MIN), (double)INT32_MAX);
  }
}

inline void fixed_decode(const int32_t* x, i64 n, int f, float* out) {
  const double scale = std::ldexp(1.0, -f);  // a libm call: once, not per element
#pragma omp parallel for schedule(static) if (parallel_elements(n))
  for (i64 i = 0; i < n; ++i) out[i] = (float)((double)x[i] * scale);
}

// snn.fixed_layer_norm, and snn.fixed_rms_norm where beta is null (no mean, no beta)
inline void fixed_layer_norm(const int32_t* x, const int32_t* gamma, const int32_t* beta, i64 rows, i64 n, int f, int r, int64_t eps, int32_t* out) {
#pragma omp parallel for schedule(static) if (parallel_elements(rows * n))
  for (i64 i = 0; i < rows; ++i) {
    const int32_t* xr = x + i * n;
    int64_t sum = 0;
    if (beta)
      for (i64 j = 0; j < n; ++j) sum += xr[j];
    int64_t mu = beta ? round_div(sum, n) : 0;
    int64_t ss = 0;
    for (i64 j = 0; j < n; ++j) {
      int64_t e = round_shift(xr[j] - mu, r);
      ss += e * e;
    }
    int64_t var = round_div(ss, n) + eps;
    int64_t sigma = std::max<int64_t>(isqrt(var), 1);
    if (f - r <= 19) {  // |d| < 2^32: the division is exact in double (round_div_small)
      const int64_t scale = int64_t(1) << (f - r);
      const RoundDivBy by_sigma(sigma);
      int32_t* o = out + i * n;
      i64 j = 0;
#if NSCC_V8
      // 2 (x - mu) 2^(f - r) + sigma, exact in double (< 2^53), over 2 sigma
      const __m512d sc = _mm512_set1_pd(2.0 * (double)scale), mu_d = _mm512_set1_pd((double)mu), sg = _mm512_set1_pd((double)sigma),
                    d = _mm512_set1_pd(by_sigma.div.d), inv = _mm512_set1_pd(by_sigma.div.inv);
      for (; j + 8 <= n; j += 8) {
        const __m512d y = v8::floordiv_by(_mm512_fmadd_pd(_mm512_sub_pd(v8::load_pd(xr + j), mu_d), sc, sg), d, inv);
        const v8::V g = v8::mul64(_mm512_cvtpd_epi64(y), v8::load(gamma + j));
        const v8::V b = beta ? v8::load(beta + j) : v8::set1(0);
        v8::store(o + j, v8::sat32(_mm512_add_epi64(v8::round_shift(g, GAMMA_BITS), b)));
      }
#endif
      for (; j < n; ++j) o[j] = layer_norm_affine(by_sigma((xr[j] - mu) * scale), gamma[j], beta ? beta[j] : 0);
    } else {
      for (i64 j = 0; j < n; ++j) out[i * n + j] = layer_norm_value(xr[j] - mu, sigma, f, r, gamma[j], beta ? beta[j] : 0);
    }
  }
}

inline void fixed_softmax(const int32_t* x, i64 outer, i64 n, i64 inner, int f, int64_t log2e, int64_t c1, int64_t c2, int32_t* out) {
#pragma omp parallel for collapse(2) schedule(static) if (parallel_elements(outer * n * inner))
  for (i64 o = 0; o < outer; ++o)
    for (i64 in = 0; in < inner; ++in) {
      const i64 base = o * n * inner + in;
      int64_t mx = INT64_MIN;
      for (i64 j = 0; j < n; ++j) mx = std::max<int64_t>(mx, x[base + j * inner]);
      std::vector<int64_t> e(n);
      int64_t total = 0;
      for (i64 j = 0; j < n; ++j) {
        e[j] = exp_value((int64_t)x[base + j * inner] - mx, f, log2e, c1, c2);
        total += e[j];
      }
      for (i64 j = 0; j < n; ++j) out[base + j * inner] = (int32_t)softmax_share(e[j], total, f);
    }
}

// snn.feature_map (docs/semantics.md): for each of the `outer` x H x S positions (head h), the
// logits t = round_shift((x . W[h]) * mult[h], shift) over the fd features (counts times int8
// weights, silent inputs skipped), then the integer softmax of t and of -t, each share a count
// of `divisor` units (at most `levels`): out [.., 2 fd]. Events: the non-zero counts read.
template <class TI, class TW, class TM, class TO>
void feature_map(const TI* x, const TW* w, const TM* mult, i64 outer, i64 H, i64 S, i64 d, i64 fd, int shift, int f, int64_t divisor,
                 int64_t levels, int64_t log2e, int64_t c1, int64_t c2, TO* out, LayerCounter* ctr) {
  i64 events = 0;
#pragma omp parallel for collapse(2) reduction(+ : events) schedule(static) if (parallel_worth(outer * H * S * d * fd))
  for (i64 zh = 0; zh < outer * H; ++zh)
    for (i64 i = 0; i < S; ++i) {
      const i64 h = zh % H, row = zh * S + i;
      const TW* wh = w + h * d * fd;
      std::vector<int64_t> t(fd, 0), e(fd);
      for (i64 a = 0; a < d; ++a) {
        const int64_t c = (int64_t)x[row * d + a];
        if (c == 0) continue;
        ++events;
        for (i64 j = 0; j < fd; ++j) t[j] += c * (int64_t)wh[a * fd + j];
      }
      for (i64 j = 0; j < fd; ++j) t[j] = round_shift(t[j] * (int64_t)mult[h], shift);
      for (int half = 0; half < 2; ++half) {  // softmax of t, then of -t
        const int64_t sign = half ? -1 : 1;
        int64_t mx = INT64_MIN, total = 0;
        for (i64 j = 0; j < fd; ++j) mx = std::max<int64_t>(mx, sign * t[j]);
        for (i64 j = 0; j < fd; ++j) {
          e[j] = exp_value(sign * t[j] - mx, f, log2e, c1, c2);
          total += e[j];
        }
        TO* o = out + (row * 2 + half) * fd;
        for (i64 j = 0; j < fd; ++j) o[j] = (TO)feature_count(softmax_share(e[j], total, f), divisor, levels);
      }
    }
  if (ctr) {
    ctr->events += events;
    ctr->sops += events * fd;
    ctr->elements += outer * H * S * 2 * fd;
  }
}

// silu_value with its one division in double: 2 2^2f + 2^f + e < 2^53 for f <= 25 (e <= 2^f),
// so round_div_small gives round_div's quotient, and the loop has no branch or int64
// division left to keep it from vectorising.
inline int32_t silu_value_small(int64_t x, int f, int64_t alpha, int64_t log2e, int64_t c1, int64_t c2) {
  const int64_t one = int64_t(1) << f;
  int64_t xs = round_shift(x * alpha, ALPHA_BITS);
  int64_t s = round_div_small(one << f, one + exp_value(xs < 0 ? xs : -xs, f, log2e, c1, c2));
  return (int32_t)sat32(round_shift(x * (xs >= 0 ? s : one - s), f));
}

inline void fixed_silu(const int32_t* x, i64 n, int f, int64_t alpha, int64_t log2e, int64_t c1, int64_t c2, int32_t* out) {
#if NSCC_V8
  // silu_value_small eight at a time, its products vpmuldq (g++ made each int64 product of
  // the scalar form three uops)
  if (f <= 25) {
    const i64 n8 = n / 8 * 8;
    const int64_t one = int64_t(1) << f;
    const __m512d two_2f1 = _mm512_set1_pd((double)(int64_t(1) << (2 * f + 1)));  // f <= 25
#pragma omp parallel for schedule(static) if (parallel_elements(n))
    for (i64 i = 0; i < n8; i += 8) {
      // x alpha: one vpmuldq, alpha below 2^31 (the verifier's rule); vpmullq's three uops
      // had cost 8% of SiLU
      const v8::V xv = v8::load(x + i), xs = v8::round_shift(v8::mul(xv, v8::set1(alpha)), ALPHA_BITS);
      const v8::V e = v8::exp_value(_mm512_sub_epi64(_mm512_setzero_si512(), _mm512_abs_epi64(xs)), f, log2e, c1, c2);
      // round_div_small(2^2f, 2^f + e): 2^(2f+1) + d over 2d, both exact in double, and the
      // correctly rounded quotient's floor (vrcp14pd refined twice measured slower than vdivpd,
      // and so did vdivps on floats with the remainder's correction)
      const __m512d dv = _mm512_cvtepi64_pd(_mm512_add_epi64(v8::set1(one), e));
      const __m512d num = _mm512_add_pd(two_2f1, dv);
      const v8::V s = _mm512_cvtpd_epi64(_mm512_roundscale_pd(_mm512_div_pd(num, _mm512_add_pd(dv, dv)), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC));
      const v8::V sx = _mm512_mask_sub_epi64(s, _mm512_cmplt_epi64_mask(xs, _mm512_setzero_si512()), v8::set1(one), s);
      v8::store(out + i, v8::sat32(v8::round_shift(v8::mul(xv, sx), f)));
    }
    for (i64 i = n8; i < n; ++i) out[i] = silu_value_small(x[i], f, alpha, log2e, c1, c2);
    return;
  }
#endif
  if (f <= 25) {
#pragma omp parallel for simd schedule(static) if (parallel : parallel_elements(n))
    for (i64 i = 0; i < n; ++i) out[i] = silu_value_small(x[i], f, alpha, log2e, c1, c2);
    return;
  }
#pragma omp parallel for schedule(static) if (parallel_elements(n))
  for (i64 i = 0; i < n; ++i) out[i] = silu_value(x[i], f, alpha, log2e, c1, c2);
}

inline void fixed_gelu(const int32_t* x, i64 n, int f, int64_t inv_sqrt2, int64_t b, int64_t a, int32_t* out) {
#pragma omp parallel for schedule(static) if (parallel_elements(n))
  for (i64 i = 0; i < n; ++i) out[i] = gelu_value(x[i], f, inv_sqrt2, b, a);
}

// ---------------------------------------------------------------- float and shape ops
// exp and tanh without branches, so that loops over them vectorise (libm's
// are scalar calls): exp by range reduction x = n ln2 + r and a degree-6
// polynomial, within 2 ulp of expf; tanh(x) = sign(x) (1 - 2 / (exp(2|x|) + 1)).
// Float islands are not bit-exact anyway (docs/targets.md gives the tolerance).
inline float fast_exp(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits = (int32_t(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}

inline float fast_tanh(float x) {
  const float a = std::fabs(x);
  const float t = 1.0f - 2.0f / (fast_exp(2.0f * a) + 1.0f);
  return a < 1e-4f ? x : std::copysign(t, x);
}

// Elementwise over an output of `ndim` dims; each input has its own strides
// (0 along broadcast dims).
struct Index {
  int ndim;
  i64 shape[8];
};

// The operands' offsets at the start of row `row` of ix's innermost axis (strides sa, sb, sc;
// a null one reads 0)
inline void row_offsets(const Index& ix, i64 row, const i64* sa, const i64* sb, const i64* sc, i64& oa, i64& ob, i64& oc) {
  oa = ob = oc = 0;
  for (int d = ix.ndim - 2; d >= 0; --d) {
    const i64 q = row % ix.shape[d];
    row /= ix.shape[d];
    oa += q * sa[d];
    if (sb) ob += q * sb[d];
    if (sc) oc += q * sc[d];
  }
}

// IA, IB, IC: the innermost strides when the generated code knows them to be 0 or 1 (a
// broadcast or a contiguous row; -1: read from the stride arrays). Known, the row's loop is
// plain loads and a broadcast, and the compiler vectorises the element's expression.
template <int IA = -1, int IB = -1, int IC = -1, class F>
void for_each_index(const Index& ix, i64 total, const i64* sa, const i64* sb, const i64* sc, F f) {
  // rows of the innermost dimension are split among threads; within a row the
  // offsets advance by the innermost strides (no division per element)
  const int last = ix.ndim - 1;
  const i64 inner = ix.shape[last], rows = inner ? total / inner : 0;
  const i64 ia = sa[last], ib = sb ? sb[last] : 0, ic = sc ? sc[last] : 0;
#pragma omp parallel for schedule(static) if (parallel_elements(total))
  for (i64 row = 0; row < rows; ++row) {
    i64 oa, ob, oc;
    row_offsets(ix, row, sa, sb, sc, oa, ob, oc);
    const i64 base = row * inner;
    if constexpr (IA >= 0 && IB >= 0 && IC >= 0) {
#pragma omp simd
      for (i64 j = 0; j < inner; ++j) f(base + j, oa + j * IA, ob + j * IB, oc + j * IC);
    } else {
      for (i64 j = 0; j < inner; ++j) f(base + j, oa + j * ia, ob + j * ib, oc + j * ic);
    }
  }
}

#if NSCC_V8
// for_each_index of a binary op whose operands' innermost strides are IA, IB (0 or 1): fv(i,
// oa, ob) computes outputs i .. i + 7 in v8 lanes, f the rest of each row
template <int IA, int IB, class F, class FV>
void for_each_index8(const Index& ix, i64 total, const i64* sa, const i64* sb, F f, FV fv) {
  const int last = ix.ndim - 1;
  const i64 inner = ix.shape[last], rows = inner ? total / inner : 0;
#pragma omp parallel for schedule(static) if (parallel_elements(total))
  for (i64 row = 0; row < rows; ++row) {
    i64 oa, ob, oc;
    row_offsets(ix, row, sa, sb, nullptr, oa, ob, oc);
    const i64 base = row * inner;
    i64 j = 0;
    for (; j + 8 <= inner; j += 8) fv(base + j, oa + j * IA, ob + j * IB);
    for (; j < inner; ++j) f(base + j, oa + j * IA, ob + j * IB, 0);
  }
}
#endif

template <class T>
void copy_strided(const T* x, const Index& ix, i64 total, const i64* sx, T* out) {
  auto copy = [&](i64 i, i64 oa, i64, i64) { out[i] = x[oa]; };
  if (ix.ndim > 0 && sx[ix.ndim - 1] == 1)  // rows stay rows (a split, a transpose of outer axes): row copies
    for_each_index<1, 0, 0>(ix, total, sx, nullptr, nullptr, copy);
  else
    for_each_index(ix, total, sx, nullptr, nullptr, copy);
}

template <class T>
void matmul(const T* a, const T* b, i64 batch, const i64* boff_a, const i64* boff_b, i64 M, i64 K, i64 N, T* out) {
#pragma omp parallel for collapse(2) schedule(static) if (parallel_worth(batch * M * K * N))
  for (i64 z = 0; z < batch; ++z)
    for (i64 i = 0; i < M; ++i) {
      const T* ar = a + boff_a[z] + i * K;
      const T* bz = b + boff_b[z];
      T* o = out + (z * M + i) * N;
      for (i64 j = 0; j < N; ++j) o[j] = T(0);
      for (i64 k = 0; k < K; ++k) {  // rows of b, scaled and added: the order BLAS kernels use too
        const T av = ar[k];
        const T* br = bz + k * N;
#pragma omp simd
        for (i64 j = 0; j < N; ++j) o[j] += av * br[j];
      }
    }
}

// e^x in the float kernels: fast_exp for float, libm's for double
template <class T>
inline T exp_of(T x) {
  if constexpr (std::is_same<T, float>::value) return fast_exp(x);
  else return std::exp(x);
}

// softmax along an axis; `log`: log_softmax, (x - max) - ln(sum e^(x - max))
template <class T>
void softmax(const T* x, i64 outer, i64 n, i64 inner, T* out, bool log = false) {
#pragma omp parallel for collapse(2) schedule(static) if (parallel_worth(outer * n * inner))
  for (i64 o = 0; o < outer; ++o)
    for (i64 in = 0; in < inner; ++in) {
      const i64 base = o * n * inner + in;
      T mx = -INFINITY;
      for (i64 j = 0; j < n; ++j) mx = std::max(mx, x[base + j * inner]);
      double s = 0;
      for (i64 j = 0; j < n; ++j) {
        T e = exp_of<T>(x[base + j * inner] - mx);
        if (!log) out[base + j * inner] = e;
        s += e;
      }
      if (log) {
        const T ls = std::log((T)s);
        for (i64 j = 0; j < n; ++j) out[base + j * inner] = T(x[base + j * inner] - mx) - ls;
        continue;
      }
      T sf = (T)s;
      for (i64 j = 0; j < n; ++j) out[base + j * inner] = out[base + j * inner] / sf;
    }
}

template <class T>
void layer_norm(const T* x, const T* scale, const T* bias, i64 rows, i64 n, T eps, T* out) {
#pragma omp parallel for schedule(static) if (parallel_elements(rows * n))
  for (i64 i = 0; i < rows; ++i) {
    const T* xr = x + i * n;
    double s = 0;
    for (i64 j = 0; j < n; ++j) s += xr[j];
    T mean = (T)(s / n);
    double v = 0;
    for (i64 j = 0; j < n; ++j) {
      T d = xr[j] - mean;
      v += (double)(d * d);
    }
    T den = std::sqrt((T)(v / n) + eps);
    for (i64 j = 0; j < n; ++j) {
      T y = (xr[j] - mean) / den * scale[j];
      out[i * n + j] = bias ? y + bias[j] : y;
    }
  }
}

// x / sqrt(mean(x^2) + eps) * scale over rows of n
template <class T>
void rms_norm(const T* x, const T* scale, i64 rows, i64 n, T eps, T* out) {
#pragma omp parallel for schedule(static) if (parallel_elements(rows * n))
  for (i64 i = 0; i < rows; ++i) {
    const T* xr = x + i * n;
    double v = 0;
    for (i64 j = 0; j < n; ++j) v += (double)(xr[j] * xr[j]);
    const T den = std::sqrt((T)(v / n) + eps);
    for (i64 j = 0; j < n; ++j) out[i * n + j] = xr[j] / den * scale[j];
  }
}

// inference batch normalisation, channels on axis 1: (x - mean) * (scale / sqrt(var + eps)) + bias
template <class T, class TS, class TM>
void batch_norm(const T* x, const TS* scale, const TS* bias, const TM* mean, const TM* var, i64 outer, i64 C, i64 inner, TM eps, T* out) {
#pragma omp parallel for collapse(2) schedule(static) if (parallel_elements(outer * C * inner))
  for (i64 o = 0; o < outer; ++o)
    for (i64 c = 0; c < C; ++c) {
      const T inv = T(scale[c] / std::sqrt(var[c] + eps));
      const i64 base = (o * C + c) * inner;
      for (i64 i = base; i < base + inner; ++i) out[i] = T(x[i] - T(mean[c])) * inv + T(bias[c]);
    }
}

// Max or average pooling over up to three spatial axes (fewer given as leading 1s) of
// x [BC, D, H, W]; sp, k, st, pad (begin), pad_end, dil, os: 3 each. Padding never wins a
// max; an average counts the cells of the explicit padding only with count_pad (never the
// extra end cells of ceil mode).
template <class T>
void pool(const T* x, i64 BC, const i64* sp, const i64* k, const i64* st, const i64* pad, const i64* pad_end, const i64* dil, const i64* os, bool is_max,
          bool count_pad, T* out) {
  const i64 isz = sp[0] * sp[1] * sp[2], osz = os[0] * os[1] * os[2];
#pragma omp parallel for schedule(static) if (parallel_worth(BC * osz * k[0] * k[1] * k[2]))
  for (i64 bc = 0; bc < BC; ++bc)
    for (i64 o = 0; o < osz; ++o) {
      const i64 oc[3] = {o / (os[1] * os[2]), (o / os[2]) % os[1], o % os[2]};
      double acc = is_max ? -INFINITY : 0.0;
      i64 cnt = 0;
      for (i64 a = 0; a < k[0] * k[1] * k[2]; ++a) {
        const i64 kc[3] = {a / (k[1] * k[2]), (a / k[2]) % k[1], a % k[2]};
        i64 at = 0;
        bool inside = true, padded = true;
        for (int d = 0; d < 3; ++d) {
          const i64 c = oc[d] * st[d] - pad[d] + kc[d] * dil[d];
          inside = inside && c >= 0 && c < sp[d];
          padded = padded && c >= -pad[d] && c < sp[d] + pad_end[d];
          at = at * sp[d] + c;
        }
        if (!inside) {
          cnt += count_pad && padded;
          continue;
        }
        const double v = x[bc * isz + at];
        acc = is_max ? std::max(acc, v) : acc + v;
        ++cnt;
      }
      if (!is_max && std::is_integral<T>::value)  // fixed point: round_div(sum, count), exact in double below 2^53
        out[bc * osz + o] = (T)round_div((int64_t)acc, cnt);
      else
        out[bc * osz + o] = (T)(is_max ? acc : acc / (double)cnt);
    }
}

// ONNX leaves out-of-range ids undefined; nscc refuses them (docs/semantics.md)
inline void check_indices(const int64_t* idx, i64 n, i64 axis_len) {
  for (i64 j = 0; j < n; ++j)
    if (idx[j] < -axis_len || idx[j] >= axis_len)
      throw std::runtime_error("gather index " + std::to_string(idx[j]) + " is out of range for an axis of " + std::to_string(axis_len));
}

template <class T>
void gather(const T* table, const int64_t* idx, i64 outer, i64 axis_len, i64 inner, i64 nidx, T* out) {
  check_indices(idx, nidx, axis_len);
#pragma omp parallel for collapse(2) schedule(static) if (parallel_elements(outer * nidx * inner))
  for (i64 o = 0; o < outer; ++o)
    for (i64 j = 0; j < nidx; ++j) {
      i64 r = idx[j] < 0 ? idx[j] + axis_len : idx[j];
      std::memcpy(out + (o * nidx + j) * inner, table + (o * axis_len + r) * inner, sizeof(T) * inner);
    }
}

// ---------------------------------------------------------------- more nn ops, any element type
// Integer arithmetic that wraps as numpy's does (in unsigned, where C++ signed overflow is undefined).
template <class T>
inline T wrap_add(T a, T b) {
  if constexpr (std::is_integral<T>::value) return T(uint64_t(a) + uint64_t(b));
  else return a + b;
}
template <class T>
inline T wrap_sub(T a, T b) {
  if constexpr (std::is_integral<T>::value) return T(uint64_t(a) - uint64_t(b));
  else return a - b;
}
template <class T>
inline T wrap_mul(T a, T b) {
  if constexpr (std::is_integral<T>::value) return T(uint64_t(a) * uint64_t(b));
  else return a * b;
}

// nn.mod: the sign of the divisor (Python's %), or with `fmod` of the dividend (C's fmod);
// an integer remainder by 0 is 0, as numpy's
template <class T>
inline T mod_value(T a, T b, bool fmod) {
  if constexpr (std::is_integral<T>::value) {
    if (b == 0) return T(0);
    if constexpr (std::is_signed<T>::value)
      if (b == T(-1)) return T(0);  // INT_MIN % -1 traps
    T r = T(a % b);
    if (!fmod && r != 0 && ((r < 0) != (b < 0))) r = T(r + b);
    return r;
  } else {
    T r = std::fmod(a, b);
    if (!fmod && r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
  }
}

// The offset of element `flat` of the first `ndim` axes of an Index, given their strides.
inline i64 offset_of(const Index& ix, const i64* s, i64 flat, int ndim) {
  i64 off = 0;
  for (int d = ndim - 1; d >= 0; --d) {
    const i64 q = flat % ix.shape[d];
    flat /= ix.shape[d];
    off += q * s[d];
  }
  return off;
}

// Reductions: out[o] over the reduced elements of x, the kept and the reduced axes each an
// Index with strides into x. kind: 0 sum, 1 mean, 2 max, 3 min, 4 prod, 5 sum of squares,
// 6 L2 norm. Sums in double (floats) or int64 (integers, wrapping); max and min keep NaN.
template <class TI, class TO>
void reduce(const TI* x, const Index& kept, const i64* sk, i64 n_out, const Index& red, const i64* sr, i64 n_red, int kind, TO* out) {
  using A = std::conditional_t<std::is_floating_point<TI>::value, double, int64_t>;
  const int last = red.ndim - 1;
  const i64 inner = red.shape[last], is = sr[last], rows = inner ? n_red / inner : 0;
#pragma omp parallel for schedule(static) if (parallel_elements(n_out * n_red))
  for (i64 o = 0; o < n_out; ++o) {
    const TI* base = x + offset_of(kept, sk, o, kept.ndim);
    A acc = kind == 4 ? A(1) : A(0);
    TI best = kind == 2 ? std::numeric_limits<TI>::lowest() : std::numeric_limits<TI>::max();
    if constexpr (std::is_floating_point<TI>::value) best = kind == 2 ? -INFINITY : INFINITY;
    for (i64 r = 0; r < rows; ++r) {
      const TI* p = base + offset_of(red, sr, r, last);
      for (i64 j = 0; j < inner; ++j) {
        const TI v = p[j * is];
        if (kind == 2) best = (v > best || v != v) && best == best ? v : best;
        else if (kind == 3) best = (v < best || v != v) && best == best ? v : best;
        else if (kind == 4) acc = wrap_mul(acc, A(v));
        else if (kind >= 5) acc = wrap_add(acc, A(TI(v * v)));
        else acc = wrap_add(acc, A(v));
      }
    }
    if (kind == 2 || kind == 3) out[o] = TO(best);
    else if (kind == 1) out[o] = TO(double(acc) / double(n_red));
    else if (kind == 6) out[o] = TO(std::sqrt(double(acc)));
    else out[o] = TO(acc);
  }
}

// argmax / argmin along an axis: the first extreme (the last with `last`); a NaN wins, as in numpy
template <class T>
void arg_reduce(const T* x, i64 outer, i64 n, i64 inner, bool is_max, bool last, int64_t* out) {
  if (n == 0) return;
#pragma omp parallel for collapse(2) schedule(static) if (parallel_elements(outer * n * inner))
  for (i64 o = 0; o < outer; ++o)
    for (i64 in = 0; in < inner; ++in) {
      const T* p = x + o * n * inner + in;
      i64 bi = 0;
      T best = p[0];
      bool nan = best != best;
      for (i64 j = 1; j < n && !(nan && !last); ++j) {
        const T v = p[j * inner];
        if (v != v) {
          if (!nan || last) bi = j;
          nan = true;
        } else if (!nan && (is_max ? (v > best || (last && v == best)) : (v < best || (last && v == best)))) {
          best = v;
          bi = j;
        }
      }
      out[o * inner + in] = bi;
    }
}

// running sums along an axis, in T (as numpy's cumsum with the input's dtype)
template <class T>
void cumsum(const T* x, i64 outer, i64 n, i64 inner, bool exclusive, bool reverse, T* out) {
#pragma omp parallel for collapse(2) schedule(static) if (parallel_elements(outer * n * inner))
  for (i64 o = 0; o < outer; ++o)
    for (i64 in = 0; in < inner; ++in) {
      T acc = T(0);
      for (i64 t = 0; t < n; ++t) {
        const i64 at = (o * n + (reverse ? n - 1 - t : t)) * inner + in;
        acc = wrap_add(acc, x[at]);
        out[at] = exclusive ? wrap_sub(acc, x[at]) : acc;
      }
    }
}

// the upper (j - i >= k) or lower (j - i <= k) triangle of each [n, m] matrix, zeros elsewhere
template <class T>
void trilu(const T* x, i64 batch, i64 n, i64 m, i64 k, bool upper, T* out) {
#pragma omp parallel for collapse(2) schedule(static) if (parallel_elements(batch * n * m))
  for (i64 b = 0; b < batch; ++b)
    for (i64 i = 0; i < n; ++i)
      for (i64 j = 0; j < m; ++j) {
        const i64 at = (b * n + i) * m + j;
        out[at] = (upper ? j - i >= k : j - i <= k) ? x[at] : T(0);
      }
}

// alpha op(A) op(B) (+ beta C), op transposing with ta / tb; C read at (i sc[0] + j sc[1])
template <class T>
void gemm(const T* a, const T* b, const T* c, const i64* sc, i64 M, i64 K, i64 N, bool ta, bool tb, T alpha, T beta, T* out) {
#pragma omp parallel for schedule(static) if (parallel_worth(M * K * N))
  for (i64 i = 0; i < M; ++i) {
    T* o = out + i * N;
    if (!tb) {
      for (i64 j = 0; j < N; ++j) o[j] = T(0);
      for (i64 k = 0; k < K; ++k) {
        const T av = ta ? a[k * M + i] : a[i * K + k];
        const T* br = b + k * N;
#pragma omp simd
        for (i64 j = 0; j < N; ++j) o[j] += av * br[j];
      }
    } else {
      for (i64 j = 0; j < N; ++j) {
        T s = T(0);
        for (i64 k = 0; k < K; ++k) s += (ta ? a[k * M + i] : a[i * K + k]) * b[j * K + k];
        o[j] = s;
      }
    }
    if (alpha != T(1))
      for (i64 j = 0; j < N; ++j) o[j] = o[j] * alpha;
    if (c)
      for (i64 j = 0; j < N; ++j) {
        const T cv = c[i * sc[0] + j * sc[1]];
        o[j] = o[j] + (beta == T(1) ? cv : T(cv * beta));
      }
  }
}

// Grouped cross-correlation over up to three spatial axes (fewer given as leading 1s):
// x [B, C, D, H, W], w [M, C / group, kd, kh, kw]; sp, k, st, pad (begin), dil, os: 3 each.
template <class T>
void conv(const T* x, const T* w, const T* bias, i64 B, i64 C, const i64* sp, i64 M, const i64* k, const i64* st, const i64* pad, const i64* dil,
          i64 group, const i64* os, T* out) {
  using A = std::conditional_t<std::is_floating_point<T>::value, double, int64_t>;
  const i64 cg = C / group, mg = M / group, isz = sp[0] * sp[1] * sp[2], osz = os[0] * os[1] * os[2], ksz = k[0] * k[1] * k[2];
#pragma omp parallel for collapse(2) schedule(static) if (parallel_worth(B * M * osz * cg * ksz))
  for (i64 b = 0; b < B; ++b)
    for (i64 m = 0; m < M; ++m) {
      const i64 g = m / mg;
      for (i64 oz = 0; oz < os[0]; ++oz)
        for (i64 oy = 0; oy < os[1]; ++oy)
          for (i64 ox = 0; ox < os[2]; ++ox) {
            A acc = 0;
            for (i64 c = 0; c < cg; ++c) {
              const T* xc = x + (b * C + g * cg + c) * isz;
              const T* wc = w + (m * cg + c) * ksz;
              for (i64 a = 0; a < k[0]; ++a) {
                const i64 iz = oz * st[0] - pad[0] + a * dil[0];
                if (iz < 0 || iz >= sp[0]) continue;
                for (i64 e = 0; e < k[1]; ++e) {
                  const i64 iy = oy * st[1] - pad[1] + e * dil[1];
                  if (iy < 0 || iy >= sp[1]) continue;
                  for (i64 f = 0; f < k[2]; ++f) {
                    const i64 ix = ox * st[2] - pad[2] + f * dil[2];
                    if (ix < 0 || ix >= sp[2]) continue;
                    acc += A(xc[(iz * sp[1] + iy) * sp[2] + ix]) * A(wc[(a * k[1] + e) * k[2] + f]);
                  }
                }
              }
            }
            const i64 at = ((b * M + m) * os[0] + oz) * os[1] * os[2] + oy * os[2] + ox;
            out[at] = bias ? T(T(acc) + bias[m]) : T(acc);
          }
    }
}

// Scaled dot-product attention in C (at least float), per batch entry z (q, k, v, mask at the
// offsets given): s = scale q k^T (+ mask), -inf where j > i if causal; softmax(s) v, a row
// with nothing to attend giving 0.
template <class TQ, class TK, class TV, class TM, class C, class TO>
void attention(const TQ* q, const TK* k, const TV* v, const TM* mask, i64 batch, const i64* qo, const i64* ko, const i64* vo, const i64* mo, i64 msi,
               i64 msj, i64 S, i64 L, i64 Dh, i64 Dv, C scale, bool causal, TO* out) {
#pragma omp parallel if (parallel_worth(batch * S * L * (Dh + Dv)))
  {
    std::vector<C> s(L > 0 ? L : 1), o(Dv > 0 ? Dv : 1);
#pragma omp for collapse(2) schedule(static)
    for (i64 z = 0; z < batch; ++z)
      for (i64 i = 0; i < S; ++i) {
        const TQ* qi = q + qo[z] + i * Dh;
        C top = -INFINITY;
        for (i64 j = 0; j < L; ++j) {
          const TK* kj = k + ko[z] + j * Dh;
          C dot = 0;
          for (i64 d = 0; d < Dh; ++d) dot += C(qi[d]) * C(kj[d]);
          C sj = dot * scale;
          if (mask) sj = sj + C(mask[mo[z] + i * msi + j * msj]);
          if (causal && j > i) sj = -INFINITY;
          s[j] = sj;
          top = std::max(top, sj);
        }
        const C sub = std::isfinite(top) ? top : C(0);
        double total = 0;
        for (i64 j = 0; j < L; ++j) {
          s[j] = s[j] == -INFINITY ? C(0) : exp_of<C>(s[j] - sub);
          total += s[j];
        }
        for (i64 d = 0; d < Dv; ++d) o[d] = C(0);
        if (total > 0)
          for (i64 j = 0; j < L; ++j) {
            const C p = s[j] / C(total);
            const TV* vj = v + vo[z] + j * Dv;
            for (i64 d = 0; d < Dv; ++d) o[d] += p * C(vj[d]);
          }
        for (i64 d = 0; d < Dv; ++d) out[(z * S + i) * Dv + d] = TO(o[d]);
      }
  }
}

// the linear-attention feature map: relu, or elu(x) + 1
template <class T>
inline T feature_of(T x, bool elu1) {
  return elu1 ? (x > T(0) ? T(x + T(1)) : T(std::exp(x))) : std::max(x, T(0));
}

// In place: v H for Sylvester's H of order q (a power of two), q log2 q additions.
template <class Acc>
inline void walsh_hadamard(Acc* v, i64 q) {
  for (i64 h = 1; h < q; h *= 2)
    for (i64 i = 0; i < q; i += 2 * h)
#pragma omp simd
      for (i64 j = i; j < i + h; ++j) {
        const Acc x = v[j], y = v[j + h];
        v[j] = x + y;
        v[j + h] = x - y;
      }
}

#if defined(__AVX512F__)
// log2 R levels of the Walsh-Hadamard transform along the rows of t (q rows of P doubles,
// P a multiple of 8), from distance h: the R rows j + m h are held in registers, eight
// columns at a time. The levels' order does not change an exact sum.
template <int R>
inline void walsh_hadamard_rows(double* t, i64 q, i64 P, i64 h) {
  for (i64 j0 = 0; j0 < q; j0 += R * h)
    for (i64 j = j0; j < j0 + h; ++j)
      for (i64 k = 0; k < P; k += 8) {
        __m512d v[R];
        for (int m = 0; m < R; ++m) v[m] = _mm512_loadu_pd(t + (j + m * h) * P + k);
        for (int d = 1; d < R; d *= 2)
          for (int m = 0; m < R; ++m)
            if (!(m & d)) {
              const __m512d x = v[m], y = v[m + d];
              v[m] = _mm512_add_pd(x, y);
              v[m + d] = _mm512_sub_pd(x, y);
            }
        for (int m = 0; m < R; ++m) _mm512_storeu_pd(t + (j + m * h) * P + k, v[m]);
      }
}
#endif

// The fast form of snn.fixed_hadamard (below). The p blocks of a row are transformed
// together: t is held transposed, t[c][k] = s_c sum_i a_ik X_ic for k padded to whole
// vectors, so that every butterfly of the Walsh-Hadamard transform, at any distance h, is a
// vector operation over k. The factors hold -1, 0 and 1, so every partial sum is within
// p q 2^31, below 2^53 where the caller takes this path (codegen: n < 2^22): the sums are
// exact in double, where a product costs one instruction rather than vpmullq's three.
template <class Acc, class T, class A, class B, class R, class Fin>
void hadamard_fast(const T* x, const A* a, const B* b, i64 rows, i64 p, i64 q, R* out, Fin finish) {
  using D = double;
  const i64 P = (p + 7) / 8 * 8;
  std::vector<D> ap(p * P, 0.0), sign(q);  // a's rows padded to whole vectors; s, b's first column
  for (i64 i = 0; i < p; ++i)
    for (i64 k = 0; k < p; ++k) ap[i * P + k] = (D)a[i * p + k];
  for (i64 c = 0; c < q; ++c) sign[c] = (D)b[c * q];
#pragma omp parallel if (parallel_worth(rows * p * q * (p + 8)))
  {
    std::vector<D> t(q * P), xd(p * q);
#pragma omp for schedule(static)
    for (i64 r = 0; r < rows; ++r) {
      const T* xr = x + r * p * q;
      for (i64 i = 0; i < p * q; ++i) xd[i] = (D)xr[i];  // once, not once per block of sums
      for (i64 k0 = 0; k0 < P; k0 += 8)  // eight sums in one register through the p terms
        for (i64 c = 0; c < q; ++c) {
          const D* xc = xd.data() + c;
          const D* ai = ap.data() + k0;
#if defined(__AVX512F__)
          // U columns at once: U independent chains of additions (eight fill both FMA units).
          // A fused multiply-add is exact here too: every product and sum is an integer below 2^53.
          auto columns = [&](auto width) {
            constexpr int U = decltype(width)::value;
            __m512d acc[U];
            for (int u = 0; u < U; ++u) acc[u] = _mm512_setzero_pd();
            for (i64 i = 0; i < p; ++i, xc += q, ai += P) {
              const __m512d av = _mm512_loadu_pd(ai);
              for (int u = 0; u < U; ++u) acc[u] = _mm512_fmadd_pd(av, _mm512_set1_pd(xc[u]), acc[u]);
            }
            for (int u = 0; u < U; ++u) _mm512_storeu_pd(t.data() + (c + u) * P + k0, _mm512_mul_pd(acc[u], _mm512_set1_pd(sign[c + u])));
            c += U - 1;
          };
          if (c + 8 <= q) {
            columns(std::integral_constant<int, 8>());
            continue;
          }
          if (c + 4 <= q) {
            columns(std::integral_constant<int, 4>());
            continue;
          }
#endif
          D acc[8] = {};
          for (i64 i = 0; i < p; ++i, xc += q, ai += P)
            for (int l = 0; l < 8; ++l) acc[l] += ai[l] * *xc;
          for (int l = 0; l < 8; ++l) t[c * P + k0 + l] = acc[l] * sign[c];
        }
#if defined(__AVX512F__)
      for (i64 h = 1; h < q;) {  // three levels a sweep over t where they remain: fewer loads and stores
        const i64 left = q / h;
        if (left >= 8) {
          walsh_hadamard_rows<8>(t.data(), q, P, h);
          h *= 8;
        } else if (left == 4) {
          walsh_hadamard_rows<4>(t.data(), q, P, h);
          h *= 4;
        } else {
          walsh_hadamard_rows<2>(t.data(), q, P, h);
          h *= 2;
        }
      }
#else
      for (i64 h = 1; h < q; h *= 2)
        for (i64 j0 = 0; j0 < q; j0 += 2 * h)
          for (i64 j = j0; j < j0 + h; ++j) {
            D* u = t.data() + j * P;
            D* v = u + h * P;
            for (i64 k = 0; k < P; ++k) {
              const D x0 = u[k], y0 = v[k];
              u[k] = x0 + y0;
              v[k] = x0 - y0;
            }
          }
#endif
      R* o = out + r * p * q;
      for (i64 k = 0; k < p; ++k)
#pragma omp simd
        for (i64 c = 0; c < q; ++c) o[k * q + c] = finish((Acc)t[c * P + k]);
    }
  }
}

// nn.hadamard and snn.fixed_hadamard: each row of n = p q values viewed as X (p x q), the sum
// a^T X b in Acc (exact in int64 for the fixed form), then `finish` per element.
template <class Acc, class T, class A, class B, class R, class Fin>
void hadamard(const T* x, const A* a, const B* b, i64 rows, i64 p, i64 q, bool fast, R* out, Fin finish) {
  // Both stages run along contiguous rows (of X, then of b) so that they vectorise. Every
  // term is an integer in the fixed form and the float form takes the slow path only when
  // not `fast`, where each output sums its terms in the order c = 0, 1, ..., as the
  // interpreter does.
  // `fast`: b = diag(s) H with H Sylvester's matrix (nscc.quant.hadamard.is_signed_sylvester,
  // checked at compile time, integer sums only): s is b's first column, and t b is the fast
  // Walsh-Hadamard transform of t * s.
  if constexpr (std::is_integral<Acc>::value)
    if (fast && p >= 8) {  // fewer blocks than a vector's lanes: the transform along each block's row is faster
      hadamard_fast<Acc>(x, a, b, rows, p, q, out, finish);
      return;
    }
#pragma omp parallel if (parallel_worth(rows * p * q * (p + (fast ? 8 : q))))
  {
    std::vector<Acc> t(p * q), s(q), sign(fast ? q : 0);
    for (i64 c = 0; c < (i64)sign.size(); ++c) sign[c] = (Acc)b[c * q];
#pragma omp for schedule(static)
    for (i64 r = 0; r < rows; ++r) {
      std::fill(t.begin(), t.end(), Acc(0));
      const T* xr = x + r * p * q;
      for (i64 i = 0; i < p; ++i)
        for (i64 k = 0; k < p; ++k) {
          const Acc aik = (Acc)a[i * p + k];
          if (aik == Acc(0)) continue;
          Acc* tk = t.data() + k * q;
#pragma omp simd
          for (i64 c = 0; c < q; ++c) tk[c] += aik * (Acc)xr[i * q + c];
        }
      for (i64 k = 0; k < p; ++k) {
        if (fast) {
          for (i64 c = 0; c < q; ++c) s[c] = t[k * q + c] * sign[c];
          walsh_hadamard(s.data(), q);
          for (i64 c2 = 0; c2 < q; ++c2) out[r * p * q + k * q + c2] = finish(s[c2]);
          continue;
        }
        std::fill(s.begin(), s.end(), Acc(0));
        for (i64 c = 0; c < q; ++c) {
          const Acc tkc = t[k * q + c];
          const B* bc = b + c * q;
#pragma omp simd
          for (i64 c2 = 0; c2 < q; ++c2) s[c2] += tkc * (Acc)bc[c2];
        }
        for (i64 c2 = 0; c2 < q; ++c2) out[r * p * q + k * q + c2] = finish(s[c2]);
      }
    }
  }
}

#if NSCC_V8
// The four levels of the Walsh-Hadamard transform inside sixteen int32 lanes: lane j meets
// lane j ^ h, and keeps the sum where bit h of j is clear, the difference where it is set.
inline __m512i walsh_hadamard16(__m512i x) {
  __m512i s = _mm512_shuffle_epi32(x, (_MM_PERM_ENUM)0xB1);
  x = _mm512_mask_sub_epi32(_mm512_add_epi32(x, s), 0xAAAA, s, x);
  s = _mm512_shuffle_epi32(x, (_MM_PERM_ENUM)0x4E);
  x = _mm512_mask_sub_epi32(_mm512_add_epi32(x, s), 0xCCCC, s, x);
  s = _mm512_shuffle_i32x4(x, x, 0xB1);
  x = _mm512_mask_sub_epi32(_mm512_add_epi32(x, s), 0xF0F0, s, x);
  s = _mm512_shuffle_i32x4(x, x, 0x4E);
  return _mm512_mask_sub_epi32(_mm512_add_epi32(x, s), 0xFF00, s, x);
}

// snn.fixed_hadamard in int32 lanes, sixteen columns of X a register, for b = diag(s) H
// (Sylvester's H, q a multiple of 16) and p q <= 2^14. Every step is an addition or a
// subtraction, and wrapping int32 arithmetic is exact modulo 2^32: the sums are exact
// wherever the results fit. A row with |x| < 2^31 / (p q) is transformed once; any other as
// x = hi 2^e + lo, two transforms whose results fit, joined in int64.
// Column k of a^T X takes min(#(+1), #(-1)) additions of rows of X where a's column is
// all +-1: +-(2 sum_{a_ik = c} X_i - S), with S the sum of all rows and c the rarer sign. Each
// such list is padded with a zero row to the longest, so that the loop's trip count is the
// same for every column and its branch predicted; and four slices of 16 columns (of up to
// four rows) share each term's offset. A column holding zeros adds its +1 rows and subtracts
// its -1 rows. Against the double form: a fifth of the instructions for a 36 x 16 block, and
// no transpose.
template <class A, class B>
void fixed_hadamard_lanes(const int32_t* x, const A* a, const B* b, i64 rows, i64 p, i64 q, int64_t mult, int shift, int32_t* out) {
  const i64 n = p * q, Q = q / 16;
  int e = 1;
  while ((i64(1) << e) < n) ++e;
  ++e;  // |hi| <= 2^(30 - e + 1) and lo < 2^e: both transforms stay below 2^31 (n <= 2^14)
  // A work row: X (a row of x, or its hi or lo part), S, then the zero row.
  const i64 SUM = n, ZERO = n + q, W = n + 2 * q;
  // Per column: the offsets of its terms; for a full column, the sign of the result
  // (lanes to negate), for one with zeros its +1 and -1 rows apart.
  std::vector<i64> pos(p * p), neg(p * p), np(p, 0), nn(p, 0), terms, mixed;
  std::vector<__mmask16> negate(p);
  for (i64 i = 0; i < p; ++i)  // branch-free: a's signs are random, and a branch on each cost 20 us a call
    for (i64 k = 0; k < p; ++k) {
      const auto v = a[i * p + k];
      pos[k * p + np[k]] = i * q, neg[k * p + nn[k]] = i * q;
      np[k] += v > 0, nn[k] += v < 0;
    }
  i64 L = 0;
  for (i64 k = 0; k < p; ++k)
    if (np[k] + nn[k] == p) L = std::max(L, std::min(np[k], nn[k]));
  terms.assign(p * L, ZERO);
  std::vector<i64> mixed_at(p + 1, 0);
  for (i64 k = 0; k < p; ++k) {
    const i64 *pk = pos.data() + k * p, *nk = neg.data() + k * p;
    if (np[k] + nn[k] == p) {
      negate[k] = np[k] <= nn[k] ? 0 : 0xFFFF;
      if (np[k] <= nn[k]) std::copy(pk, pk + np[k], terms.begin() + k * L);
      else std::copy(nk, nk + nn[k], terms.begin() + k * L);
    } else {
      negate[k] = 0;
      mixed.insert(mixed.end(), pk, pk + np[k]);
      mixed.insert(mixed.end(), nk, nk + nn[k]);
    }
    mixed_at[k + 1] = (i64)mixed.size();
  }
  std::vector<__mmask16> flip(Q, 0);  // the lanes whose column sign s_c is -1
  for (i64 c = 0; c < q; ++c)
    if (b[c * q] < 0) flip[c / 16] |= __mmask16(1u << (c % 16));
  const __m512i m = _mm512_set1_epi64(mult), half = _mm512_set1_epi64(shift > 0 ? int64_t(1) << (shift - 1) : 0);
  const __m128i count = _mm_cvtsi32_si128(shift);
  const i64 limit = (i64(1) << 31) / n, G = std::max<i64>(1, 4 / Q);  // G work rows make four slices or more
  const __m512i low = _mm512_set1_epi32((1 << e) - 1), zero = _mm512_setzero_si512();
#pragma omp parallel if (parallel_worth(rows * n * 8))
  {
    aligned_vector<int32_t> w(2 * G * W, 0), t(2 * G * n);  // every row of 16 int32 in one cache line
#pragma omp for schedule(static)
    for (i64 r0 = 0; r0 < rows; r0 += G) {
      // the batch's work rows: one a row of x, two a row split in hi and lo
      const i64 r1 = std::min(rows, r0 + G);
      bool split[8];
      i64 items = 0;
      for (i64 r = r0; r < r1; ++r) {
        const int32_t* xr = x + r * n;
        int32_t* wh = w.data() + items++ * W;
        __m512i big = zero;  // max |x| as unsigned (|-2^31| is 2^31), while x is copied in
        for (i64 i = 0; i < n; i += 16) {
          const __m512i v = _mm512_loadu_si512(xr + i);
          _mm512_storeu_si512(wh + i, v);
          big = _mm512_max_epu32(big, _mm512_abs_epi32(v));
        }
        split[r - r0] = (i64)_mm512_reduce_max_epu32(big) >= limit;
        if (!split[r - r0]) continue;
        int32_t* wl = w.data() + items++ * W;
        for (i64 i = 0; i < n; i += 16) {
          const __m512i v = _mm512_loadu_si512(xr + i);
          _mm512_storeu_si512(wh + i, _mm512_srai_epi32(v, e));
          _mm512_storeu_si512(wl + i, _mm512_and_si512(v, low));
        }
      }
      for (i64 it = 0; it < items; ++it)
        for (i64 u = 0; u < Q; ++u) {
          int32_t* wi = w.data() + it * W + 16 * u;
          __m512i s = zero;
          for (i64 i = 0; i < p; ++i) s = _mm512_add_epi32(s, _mm512_loadu_si512(wi + i * q));
          _mm512_storeu_si512(wi + SUM, s);
        }
      // t = a^T X diag(s) for every work row, four slices (work row, 16 columns) at a time,
      // then one at a time (a decoded token's single row of q = 16)
      const i64 slices = items * Q;
      for (i64 k = 0; k < p; ++k) {
        const i64* tk = terms.data() + k * L;
        const bool full = mixed_at[k + 1] == mixed_at[k];
        auto columns = [&](i64 v0, auto width) {
          constexpr int V = decltype(width)::value;
          const int32_t* base[V];
          __m512i y[V];
          for (int v = 0; v < V; ++v) base[v] = w.data() + (v0 + v) / Q * W + (v0 + v) % Q * 16, y[v] = zero;
          if (full) {
            for (i64 j = 0; j < L; ++j)
              for (int v = 0; v < V; ++v) y[v] = _mm512_add_epi32(y[v], _mm512_loadu_si512(base[v] + tk[j]));
            for (int v = 0; v < V; ++v) y[v] = _mm512_sub_epi32(_mm512_add_epi32(y[v], y[v]), _mm512_loadu_si512(base[v] + SUM));
          } else {
            for (i64 j = mixed_at[k]; j < mixed_at[k] + np[k]; ++j)
              for (int v = 0; v < V; ++v) y[v] = _mm512_add_epi32(y[v], _mm512_loadu_si512(base[v] + mixed[j]));
            for (i64 j = mixed_at[k] + np[k]; j < mixed_at[k + 1]; ++j)
              for (int v = 0; v < V; ++v) y[v] = _mm512_sub_epi32(y[v], _mm512_loadu_si512(base[v] + mixed[j]));
          }
          for (int v = 0; v < V; ++v) {
            const i64 it = (v0 + v) / Q, u = (v0 + v) % Q;
            _mm512_storeu_si512(t.data() + it * n + k * q + 16 * u, _mm512_mask_sub_epi32(y[v], flip[u] ^ negate[k], zero, y[v]));
          }
        };
        i64 v0 = 0;
        for (; v0 + 4 <= slices; v0 += 4) columns(v0, std::integral_constant<int, 4>());
        for (; v0 < slices; ++v0) columns(v0, std::integral_constant<int, 1>());
      }
      // t H along each row of q: the levels between registers, then the four inside them
      for (i64 row = 0; row < items * p; ++row) {
        int32_t* yk = t.data() + row * q;
        for (i64 h = 16; h < q; h *= 2)
          for (i64 j0 = 0; j0 < q; j0 += 2 * h)
            for (i64 j = j0; j < j0 + h; j += 16) {
              const __m512i y = _mm512_loadu_si512(yk + j), z = _mm512_loadu_si512(yk + j + h);
              _mm512_storeu_si512(yk + j, _mm512_add_epi32(y, z));
              _mm512_storeu_si512(yk + j + h, _mm512_sub_epi32(y, z));
            }
        for (i64 j = 0; j < q; j += 16) _mm512_storeu_si512(yk + j, walsh_hadamard16(_mm512_loadu_si512(yk + j)));
      }
      // out = sat32(round_shift(v mult, shift)), eight at a time (vpmovsqd saturates)
      const int32_t* ti = t.data();
      for (i64 r = r0; r < r1; ++r) {
        int32_t* o = out + r * n;
        for (i64 i = 0; i < n; i += 8) {
          __m512i v = _mm512_cvtepi32_epi64(_mm256_loadu_si256((const __m256i*)(ti + i)));
          if (!split[r - r0]) v = _mm512_mul_epi32(v, m);  // |v| < 2^31
          else v = _mm512_mullo_epi64(_mm512_add_epi64(_mm512_slli_epi64(v, e), _mm512_cvtepi32_epi64(_mm256_loadu_si256((const __m256i*)(ti + n + i)))), m);
          _mm256_storeu_si256((__m256i*)(o + i), _mm512_cvtsepi64_epi32(_mm512_sra_epi64(_mm512_add_epi64(v, half), count)));
        }
        ti += split[r - r0] ? 2 * n : n;
      }
    }
  }
}
#endif

// snn.fixed_hadamard: sat32(round_shift(v mult, shift)) of each sum v of hadamard (above)
template <class A, class B>
void fixed_hadamard(const int32_t* x, const A* a, const B* b, i64 rows, i64 p, i64 q, bool fast, int64_t mult, int shift, int32_t* out) {
#if NSCC_V8
  if (fast && q % 16 == 0 && p * q <= (i64(1) << 14)) {
    fixed_hadamard_lanes(x, a, b, rows, p, q, mult, shift, out);
    return;
  }
#endif
  hadamard<int64_t>(x, a, b, rows, p, q, fast, out, [=](int64_t v) { return (int32_t)sat32(round_shift(v * mult, shift)); });
}

#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
#define NSCC_ATTENTION_VNNI 1
// Keys [heads][T][dk] as vpdpbusd's signed operand: per head, blocks of 16 keys, each
// dk4 / 4 registers of 16 keys x 4 inputs, zero past T and dk; ksum their sums, for the
// offset that makes signed queries unsigned.
inline void pack_keys_vnni(const int8_t* k, i64 heads, i64 T, i64 dk, i64 T16, i64 dk4, aligned_vector<int8_t>& kp, aligned_vector<int32_t>& ksum) {
  kp.assign(heads * T16 * dk4, 0);
  ksum.assign(heads * T16, 0);
  for (i64 h = 0; h < heads; ++h)
    for (i64 j = 0; j < T; ++j) {
      const int8_t* kj = k + (h * T + j) * dk;
      int8_t* dst = kp.data() + h * T16 * dk4 + (j / 16) * 16 * dk4 + (j % 16) * 4;
      for (i64 a = 0; a + 4 <= dk; a += 4) std::memcpy(dst + a * 16, kj + a, 4);  // 4 inputs of key j, 64 bytes apart
      for (i64 a = dk / 4 * 4; a < dk; ++a) dst[(a / 4) * 64 + a % 4] = kj[a];
      int32_t sum = 0;
#pragma omp simd reduction(+ : sum)
      for (i64 a = 0; a < dk; ++a) sum += kj[a];
      ksum[h * T16 + j] = sum;
    }
}
// s_j = sum_a q_a k_ja for nb blocks of 16 keys, with qu = q + offset as unsigned bytes:
// sum_a qu_a k_ja - offset ksum_j. Every product and sum is an exact int32 (|sum| <= 2^15 dk).
inline void key_scores_vnni(const uint8_t* qu, const int8_t* kp, const int32_t* ksum, i64 nb, i64 dk4, int offset, int32_t* s) {
  for (i64 jb = 0; jb < nb; ++jb) {
    const int8_t* kb = kp + jb * 16 * dk4;
    __m512i acc = _mm512_setzero_si512();
    for (i64 a = 0; a < dk4; a += 4) {
      int32_t q4;
      std::memcpy(&q4, qu + a, 4);
      acc = _mm512_dpbusd_epi32(acc, _mm512_set1_epi32(q4), _mm512_loadu_si512(kb + a * 16));
    }
    if (offset) acc = _mm512_sub_epi32(acc, _mm512_mullo_epi32(_mm512_loadu_si512(ksum + jb * 16), _mm512_set1_epi32(offset)));
    _mm512_storeu_si512(s + jb * 16, acc);
  }
}
#else
#define NSCC_ATTENTION_VNNI 0
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define NSCC_WEIGH_VALUES 1
// acc[c] = sum_j share[j] v[j][c] over n keys of dv values (float or byte values), the sums
// held in registers: 64 columns (four vectors) at a time, keys in pairs, so that eight
// independent chains of multiply-adds keep both units busy, where a sum kept in memory
// waits on its own store each key. Exact in any order: every product and partial sum is an
// integer below 2^24 (spiking_attention's small_sums).
template <class V>
inline void weigh_values(const float* share, const V* v, i64 n, i64 dv, float* acc) {
  for (i64 c0 = 0; c0 < dv; c0 += 64) {
    __mmask16 m[4];
    for (int k = 0; k < 4; ++k) {
      const i64 left = dv - c0 - 16 * k;
      m[k] = left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1);
    }
    auto load = [&](i64 j, int k) -> __m512 {
      const V* at = v + j * dv + c0 + 16 * k;
      if constexpr (std::is_same<V, float>::value) return _mm512_maskz_loadu_ps(m[k], at);
      else if constexpr (std::is_signed<V>::value) return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m[k], at)));
      else return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m[k], at)));
    };
    __m512 a[8];
    for (auto& x : a) x = _mm512_setzero_ps();
    i64 j = 0;
    for (; j + 2 <= n; j += 2) {
      const __m512 p0 = _mm512_set1_ps(share[j]), p1 = _mm512_set1_ps(share[j + 1]);
      for (int k = 0; k < 4; ++k) {
        a[k] = _mm512_fmadd_ps(p0, load(j, k), a[k]);
        a[4 + k] = _mm512_fmadd_ps(p1, load(j + 1, k), a[4 + k]);
      }
    }
    if (j < n) {
      const __m512 p0 = _mm512_set1_ps(share[j]);
      for (int k = 0; k < 4; ++k) a[k] = _mm512_fmadd_ps(p0, load(j, k), a[k]);
    }
    for (int k = 0; k < 4; ++k) _mm512_mask_storeu_ps(acc + c0 + 16 * k, m[k], _mm512_add_ps(a[k], a[4 + k]));
  }
}
#else
#define NSCC_WEIGH_VALUES 0
#endif

// snn.attention (and the attention of snn.attention_step): for each of `outer` batch entries,
// H query heads over G key-value heads (head h reads h / (H / G)), S queries, T keys. Key j is
// visible to query i when j <= limit + i (limit = 0: causal; T: all; p - S + 1 for a step at p)
// and its mask entry (mask[z * mz + h * mh + i * mi + j * mj], if any) is above -2^30.
template <class TQ, class TK, class TV>
void spiking_attention(const TQ* q, const TK* k, const TV* v, const int32_t* mask, i64 mz, i64 mh, i64 mi, i64 mj, i64 outer, i64 H, i64 G, i64 S,
                       i64 T, i64 dk, i64 dv, int64_t mult, int shift, int f, i64 limit, int64_t log2e, int64_t c1, int64_t c2, int64_t* out,
                       LayerCounter* ctr) {
  // counts of at most 8 bits: q.k in int32 (|sum| <= 2^14 dk), which vectorises
  using Dot = std::conditional_t<(sizeof(TQ) == 1 && sizeof(TK) == 1), int32_t, int64_t>;
  // The shares p_j (at most 2^f each, their sum at most 2^f + T / 2 after rounding) weigh
  // byte values (|v| <= 128 signed, 255 unsigned): every product and partial sum of p . v
  // is an integer of at most 2^24 when (2^f + T) |v| <= 2^24, exact in float, which takes
  // 16 lanes an instruction where int64 products take three instructions for 8.
  const int64_t vmax = std::is_signed<TV>::value ? 128 : 255;
  const bool small_sums = sizeof(TV) == 1 && f <= 24 && ((int64_t(1) << f) + T) * vmax <= (int64_t(1) << 24);
  // converted once where several queries read each value (a whole sequence, grouped heads);
  // a decoded token's single query reads them once, converted where it reads them
  aligned_vector<float> vfloat(small_sums && S * (H / G) > 1 ? outer * G * T * dv : 0);
  for (i64 i = 0; i < (i64)vfloat.size(); ++i) vfloat[i] = (float)v[i];
  i64 events = 0;
#if NSCC_ATTENTION_VNNI
  // Many queries per key head (a whole sequence): the keys are laid out once for
  // vpdpbusd, 16 keys by 4 inputs a register, and each query's scores take dk / 4
  // instructions per 16 keys (key_scores_vnni).
  constexpr bool vnni_types = sizeof(TQ) == 1 && std::is_same<TK, int8_t>::value;
  const bool packed = vnni_types && !mask && S * (H / G) >= 16 && dk < (1 << 16);
  const int offset = std::is_signed<TQ>::value ? 128 : 0;
  const i64 T16 = (T + 15) / 16 * 16, dk4 = (dk + 3) / 4 * 4;
  aligned_vector<int8_t> kp;
  aligned_vector<int32_t> ksum;
  if (packed) pack_keys_vnni((const int8_t*)k, outer * G, T, dk, T16, dk4, kp, ksum);
#endif
#pragma omp parallel reduction(+ : events) if (parallel_worth(outer * H * S * T * (dk + dv)))
  {
    // Sized to whole blocks of 16 keys, so that the per-key loops below run over whole
    // vectors (a scalar remainder of exp_value costs as much as the vectors before it):
    // keys past `visible` are not seen, their e and share 0.
    const i64 TP = (T + 15) / 16 * 16;
    aligned_vector<int64_t> t(TP, 0), e(TP);
    std::vector<char> seen(TP, 0);
    aligned_vector<float> acc(small_sums ? dv : 0), share(small_sums ? TP : 0);
#if NSCC_ATTENTION_VNNI
    aligned_vector<uint8_t> qu(packed ? dk4 : 0, (uint8_t)offset);  // inputs past dk meet zero keys
    aligned_vector<int32_t> sc(packed ? T16 : 0);
#endif
    // queries dealt out in turn: a causal query's cost grows with its position, so that
    // blocks of whole heads left the thread holding a head's later half a tenth behind
#pragma omp for collapse(3) schedule(static, 1)
    for (i64 z = 0; z < outer; ++z)
      for (i64 h = 0; h < H; ++h)
        for (i64 i = 0; i < S; ++i) {
          const i64 g = h / (H / G);
          const TQ* qi = q + ((z * H + h) * S + i) * dk;
          const TK* kz = k + (z * G + g) * T * dk;
          const TV* vz = v + (z * G + g) * T * dv;
          int64_t mx = INT64_MIN;
          const i64 visible = std::min(T, limit + i + 1);
          const i64 vpad = std::min(TP, (visible + 15) / 16 * 16);
          i64 nseen = 0;
#if NSCC_ATTENTION_VNNI
          if (packed) {
            std::fill(seen.begin(), seen.begin() + visible, 1);
            std::fill(seen.begin() + visible, seen.end(), 0);
            for (i64 a = 0; a < dk; ++a) qu[a] = (uint8_t)((int)qi[a] + offset);
            const i64 zg = z * G + g;
            key_scores_vnni(qu.data(), kp.data() + zg * T16 * dk4, ksum.data() + zg * T16, vpad / 16, dk4, offset, sc.data());
#pragma omp simd reduction(max : mx)
            for (i64 j = 0; j < vpad; ++j) {
              t[j] = round_shift((int64_t)sc[j] * mult, shift);
              mx = std::max(mx, seen[j] ? t[j] : INT64_MIN);
            }
            nseen = visible;
          } else
#endif
          {
          std::fill(seen.begin(), seen.end(), 0);
          for (i64 j = 0; j < visible; ++j) {
            Dot s = 0;
#pragma omp simd reduction(+ : s)
            for (i64 a = 0; a < dk; ++a) s += (Dot)qi[a] * (Dot)kz[j * dk + a];
            int64_t tj = round_shift((int64_t)s * mult, shift);
            if (mask) {
              int64_t mk = mask[z * mz + h * mh + i * mi + j * mj];
              if (mk <= -(int64_t(1) << 30)) continue;
              tj += mk;
            }
            t[j] = tj;
            seen[j] = 1;
            mx = std::max(mx, tj);
            ++nseen;
          }
          }
          events += nseen * dk;
          int64_t total = 0;
          i64 j8 = 0;
#if NSCC_V8
          if (f <= 25) {  // v8::exp_value's bound
            v8::V tot = v8::set1(0);
            for (; j8 < vpad; j8 += 8) {  // vpad: whole blocks of 16
              const __mmask8 m = _mm512_test_epi64_mask(_mm512_cvtepi8_epi64(_mm_loadl_epi64((const __m128i*)(seen.data() + j8))), v8::set1(-1));
              const v8::V tv = _mm512_maskz_sub_epi64(m, _mm512_loadu_si512(t.data() + j8), v8::set1(mx));
              const v8::V ev = _mm512_maskz_mov_epi64(m, v8::exp_value(tv, f, log2e, c1, c2));
              _mm512_storeu_si512(e.data() + j8, ev);
              tot = _mm512_add_epi64(tot, ev);
            }
            total = _mm512_reduce_add_epi64(tot);
          }
#endif
          // without a branch, so that it vectorises: a hidden key's e is 0
#pragma omp simd reduction(+ : total)
          for (i64 j = j8; j < vpad; ++j) {
            const int64_t ej = exp_value(seen[j] ? t[j] - mx : 0, f, log2e, c1, c2);
            e[j] = seen[j] ? ej : 0;
            total += e[j];
          }
          int64_t* o = out + ((z * H + h) * S + i) * dv;
          for (i64 c = 0; c < dv; ++c) o[c] = 0;
          if (total <= 0) continue;
          events += nseen * dv;
          if (small_sums) {
            i64 s8 = 0;
#if NSCC_V8
            // one divisor for the query's keys: FloorDivBy on 2 e 2^f + total over 2 total, exact in
            // double (e <= 2^f, f <= 24); the quotient, at most 2^f, exact in float
            const FloorDivBy by(2 * total);
            const __m512d sc = _mm512_set1_pd((double)(int64_t(1) << (f + 1))), tt = _mm512_set1_pd((double)total), d = _mm512_set1_pd(by.d), inv = _mm512_set1_pd(by.inv);
            for (; s8 < vpad; s8 += 8) {
              const __m512d x = _mm512_fmadd_pd(_mm512_cvtepi64_pd(_mm512_loadu_si512(e.data() + s8)), sc, tt);
              _mm256_storeu_ps(share.data() + s8, _mm512_cvtpd_ps(v8::floordiv_by(x, d, inv)));
            }
#endif
#pragma omp simd
            for (i64 j = s8; j < vpad; ++j) share[j] = (float)round_div_small(e[j] << f, total);  // 0 where e is
            const i64 at = (z * G + g) * T * dv;
#if NSCC_WEIGH_VALUES
            if (vfloat.empty())
              weigh_values(share.data(), v + at, visible, dv, acc.data());
            else
              weigh_values(share.data(), vfloat.data() + at, visible, dv, acc.data());
#else
            std::fill(acc.begin(), acc.end(), 0.f);
            for (i64 j = 0; j < visible; ++j) {
              const float p = share[j];
              for (i64 c = 0; c < dv; ++c) acc[c] = std::fma(p, vfloat.empty() ? (float)v[at + j * dv + c] : vfloat[at + j * dv + c], acc[c]);
            }
#endif
            for (i64 c = 0; c < dv; ++c) o[c] = (int64_t)acc[c];
            continue;
          }
          for (i64 j = 0; j < visible; ++j) {
            if (!seen[j]) continue;
            const int64_t p = sat32(f <= 24 ? round_div_small(e[j] << f, total) : round_div(e[j] << f, total));  // e <= 2^f, total <= T 2^f
            const TV* vj = vz + j * dv;
#pragma omp simd
            for (i64 c = 0; c < dv; ++c) o[c] += p * (int64_t)vj[c];
          }
        }
  }
  if (ctr) {
    ctr->events += events;
    ctr->sops += events;
    ctr->elements += outer * H * S * dv;
  }
}

// snn.window_attention: for each of `outer` batch entries, H query heads over G key-value heads,
// S queries aligned at the end of T keys. Near keys (the last `window` up to the query, and
// the first `sinks`) get the integer softmax's exp; the others (far) the product of the
// feature counts pq . pk, summed exactly and weighed by r[h] / 2^fshift once per query.
template <class TQ, class TK, class TV, class TP>
void spiking_window_attention(const TQ* q, const TK* k, const TV* v, const TP* pq, const TP* pk, const int64_t* r, i64 outer, i64 H, i64 G,
                              i64 S, i64 T, i64 dk, i64 dv, i64 F, int64_t mult, int shift, int f, i64 window, i64 sinks, int fshift,
                              int64_t log2e, int64_t c1, int64_t c2, int64_t* out, LayerCounter* ctr) {
  i64 events = 0;
#pragma omp parallel reduction(+ : events) if (parallel_worth(outer * H * S * T * (dk + F + dv)))
  {
    std::vector<int64_t> t(T), num(dv), far(dv);
#pragma omp for collapse(3) schedule(static)
    for (i64 z = 0; z < outer; ++z)
      for (i64 h = 0; h < H; ++h)
        for (i64 i = 0; i < S; ++i) {
          const i64 g = h / (H / G), pos = i + T - S;
          const TQ* qi = q + ((z * H + h) * S + i) * dk;
          const TP* pi = pq + ((z * H + h) * S + i) * F;
          const TK* kz = k + (z * G + g) * T * dk;
          const TV* vz = v + (z * G + g) * T * dv;
          const TP* pz = pk + (z * G + g) * T * F;
          auto near = [&](i64 j) { return pos - j < window || j < sinks; };
          int64_t mx = INT64_MIN;
          for (i64 j = 0; j <= pos; ++j) {
            if (!near(j)) continue;
            int64_t s = 0;
            for (i64 a = 0; a < dk; ++a) s += (int64_t)qi[a] * (int64_t)kz[j * dk + a];
            t[j] = round_shift(s * mult, shift);
            mx = std::max(mx, t[j]);
            events += dk;
          }
          int64_t den = 0, far_den = 0;
          std::fill(num.begin(), num.end(), 0);
          std::fill(far.begin(), far.end(), 0);
          for (i64 j = 0; j <= pos; ++j) {
            const TV* vj = vz + j * dv;
            if (near(j)) {
              const int64_t e = exp_value(t[j] - mx, f, log2e, c1, c2);
              den += e;
              for (i64 c = 0; c < dv; ++c) num[c] += e * (int64_t)vj[c];
            } else {
              int64_t l = 0;
              for (i64 a = 0; a < F; ++a) l += (int64_t)pi[a] * (int64_t)pz[j * F + a];
              far_den += l;
              for (i64 c = 0; c < dv; ++c) far[c] += l * (int64_t)vj[c];
              events += F;
            }
            events += dv;
          }
          den += round_shift(r[h] * far_den, fshift);
          if (den < 1) den = 1;
          int64_t* o = out + ((z * H + h) * S + i) * dv;
          for (i64 c = 0; c < dv; ++c) o[c] = round_div((num[c] + round_shift(r[h] * far[c], fshift)) * (int64_t(1) << f), den);
        }
  }
  if (ctr) {
    ctr->events += events;
    ctr->sops += events;
    ctr->elements += outer * H * S * dv;
  }
}

// snn.window_attention_step at position p: the caches (C = sinks + window slots) and the far sums
// S [G, F, dv], z [G, F] (per key-value head, as the caches) copied to the new ones; the key
// p - window, unless a sink, leaves the window (its pk and v join S and z); k, v and pk are
// written at p's slot; then each query head attends as spiking_window_attention's query p does,
// the far sums read from its key-value head's S and z.
template <class TQ, class TK, class TV, class TP, class TKC, class TVC, class TPC>
void spiking_window_attention_step(const TQ* q, const TK* k, const TV* v, const TP* pq, const TP* pk, const int64_t* r, const TKC* kc,
                                   const TVC* vc, const TPC* pc, const int64_t* S, const int64_t* Z, int64_t p, i64 outer, i64 H, i64 G,
                                   i64 dk, i64 dv, i64 F, i64 window, i64 sinks, int64_t mult, int shift, int f, int fshift, int64_t log2e,
                                   int64_t c1, int64_t c2, int64_t* out, TKC* nkc, TVC* nvc, TPC* npc, int64_t* nS, int64_t* nZ,
                                   LayerCounter* ctr) {
  const i64 C = sinks + window;
  std::memcpy(nkc, kc, sizeof(TKC) * outer * G * C * dk);
  std::memcpy(nvc, vc, sizeof(TVC) * outer * G * C * dv);
  std::memcpy(npc, pc, sizeof(TPC) * outer * G * C * F);
  std::memcpy(nS, S, sizeof(int64_t) * outer * G * F * dv);
  std::memcpy(nZ, Z, sizeof(int64_t) * outer * G * F);
  const i64 old = p - window;
  if (old >= sinks) {
    const i64 slot = sinks + old % window;
    for (i64 zg = 0; zg < outer * G; ++zg) {
      const TPC* pj = npc + (zg * C + slot) * F;
      const TVC* vj = nvc + (zg * C + slot) * dv;
      for (i64 a = 0; a < F; ++a) {
        nZ[zg * F + a] += (int64_t)pj[a];
        for (i64 c = 0; c < dv; ++c) nS[(zg * F + a) * dv + c] += (int64_t)pj[a] * (int64_t)vj[c];
      }
    }
  }
  const i64 at = p < sinks ? p : sinks + p % window;
  for (i64 zg = 0; zg < outer * G; ++zg) {
    for (i64 a = 0; a < dk; ++a) nkc[(zg * C + at) * dk + a] = (TKC)k[zg * dk + a];
    for (i64 c = 0; c < dv; ++c) nvc[(zg * C + at) * dv + c] = (TVC)v[zg * dv + c];
    for (i64 a = 0; a < F; ++a) npc[(zg * C + at) * F + a] = (TPC)pk[zg * F + a];
  }
  std::vector<i64> near;
  for (i64 j = 0; j < std::min<i64>(sinks, p + 1); ++j) near.push_back(j);
  for (i64 j = std::max<i64>(sinks, p - window + 1); j <= p; ++j) near.push_back(sinks + j % window);
  const i64 n = (i64)near.size();
  std::vector<int64_t> t(n), num(dv);
  i64 events = 0;
  for (i64 z = 0; z < outer; ++z)
    for (i64 h = 0; h < H; ++h) {
      const i64 zh = z * H + h, zg = z * G + h / (H / G);
      const TQ* qi = q + zh * dk;
      int64_t mx = INT64_MIN;
      for (i64 u = 0; u < n; ++u) {
        int64_t s = 0;
        for (i64 a = 0; a < dk; ++a) s += (int64_t)qi[a] * (int64_t)nkc[(zg * C + near[u]) * dk + a];
        t[u] = round_shift(s * mult, shift);
        mx = std::max(mx, t[u]);
      }
      int64_t den = 0, far_den = 0;
      std::fill(num.begin(), num.end(), 0);
      for (i64 u = 0; u < n; ++u) {
        const int64_t e = exp_value(t[u] - mx, f, log2e, c1, c2);
        den += e;
        for (i64 c = 0; c < dv; ++c) num[c] += e * (int64_t)nvc[(zg * C + near[u]) * dv + c];
      }
      const TP* pi = pq + zh * F;
      for (i64 a = 0; a < F; ++a) far_den += (int64_t)pi[a] * nZ[zg * F + a];
      den += round_shift(r[h] * far_den, fshift);
      if (den < 1) den = 1;
      for (i64 c = 0; c < dv; ++c) {
        int64_t far = 0;
        for (i64 a = 0; a < F; ++a) far += (int64_t)pi[a] * nS[(zg * F + a) * dv + c];
        out[zh * dv + c] = round_div((num[c] + round_shift(r[h] * far, fshift)) * (int64_t(1) << f), den);
      }
      events += n * (dk + dv) + F * (dv + 1);
    }
  if (ctr) {
    ctr->events += events;
    ctr->sops += events;
    ctr->elements += outer * H * dv;
  }
}

// snn.attention_step: the caches copied to the new ones, k and v written at position p
template <class TK, class TC>
void kv_cache_write(const TC* cache, const TK* x, i64 rows, i64 n, i64 d, i64 p, TC* next) {
  std::memcpy(next, cache, sizeof(TC) * rows * n * d);
  for (i64 r = 0; r < rows; ++r)
    for (i64 a = 0; a < d; ++a) next[(r * n + p) * d + a] = (TC)x[r * d + a];
}

// nn.feature_map (Hedgehog's map) in C: per head h of H and position, z = x W[h] over the fd
// features, out = [softmax(z), softmax(-z)] ([.., 2 fd]; sums in double, as softmax's)
template <class C, class T, class TW, class TO>
void feature_map_float(const T* x, const TW* w, i64 outer, i64 H, i64 S, i64 d, i64 fd, TO* out) {
#pragma omp parallel for collapse(2) schedule(static) if (parallel_worth(outer * H * S * d * fd))
  for (i64 zh = 0; zh < outer * H; ++zh)
    for (i64 i = 0; i < S; ++i) {
      const i64 row = zh * S + i;
      const TW* wh = w + (zh % H) * d * fd;
      std::vector<C> z(fd, C(0)), e(fd);
      for (i64 a = 0; a < d; ++a) {
        const C xa = C(x[row * d + a]);
        for (i64 j = 0; j < fd; ++j) z[j] += xa * C(wh[a * fd + j]);
      }
      for (int half = 0; half < 2; ++half) {
        const C sign = half ? C(-1) : C(1);
        C mx = -INFINITY;
        for (i64 j = 0; j < fd; ++j) mx = std::max(mx, sign * z[j]);
        double total = 0;
        for (i64 j = 0; j < fd; ++j) {
          e[j] = exp_of<C>(sign * z[j] - mx);
          total += e[j];
        }
        for (i64 j = 0; j < fd; ++j) out[(row * 2 + half) * fd + j] = TO(e[j] / C(total));
      }
    }
}

// nn.linear_attention over whole sequences, per batch entry z (q, k, v at the offsets given):
// o_t = sum_s w(t, s) (phi(q_t) . phi(k_s)) v_s [/ (sum_s w(t, s) phi(q_t) . phi(k_s) + 1e-6)],
// w = decay^(t + m - n - s) for s <= t + m - n if causal (else 0), 1 if not causal, times
// exp(mask_ts - max_s mask_ts) with a (padding) mask, mask_ts = mask[mo[z] + t msi + s msj]
// (softmax's weighing by exp(mask), up to a constant per query, as the interpreter does; a
// maximum that is not finite, every key hidden, taken as 0).
template <class T, class TM>
void linear_attention_float(const T* q, const T* k, const T* v, const TM* mask, i64 nq, i64 nk, i64 batch, const i64* qo, const i64* ko,
                            const i64* vo, const i64* mo, i64 msi, i64 msj, i64 n, i64 m, i64 dk, i64 dv, bool elu1, double decay, bool causal,
                            bool normalize, T* out) {
  std::vector<T> fq(nq), fk(nk);
  for (i64 i = 0; i < nq; ++i) fq[i] = feature_of(q[i], elu1);
  for (i64 i = 0; i < nk; ++i) fk[i] = feature_of(k[i], elu1);
#pragma omp parallel if (parallel_worth(batch * n * m * (dk + dv)))
  {
    std::vector<T> o(dv > 0 ? dv : 1);
#pragma omp for collapse(2) schedule(static)
    for (i64 z = 0; z < batch; ++z)
      for (i64 t = 0; t < n; ++t) {
        const T* qt = fq.data() + qo[z] + t * dk;
        const TM* mt = mask ? mask + mo[z] + t * msi : nullptr;
        T top = -INFINITY;
        if (mask) {
          for (i64 s = 0; s < m; ++s) top = std::max(top, T(mt[s * msj]));
          if (!std::isfinite(top)) top = T(0);  // every key hidden: the query gets 0, as softmax's does
        }
        T den = T(0);
        for (i64 b = 0; b < dv; ++b) o[b] = T(0);
        for (i64 s = 0; s < m; ++s) {
          const i64 gap = t + m - n - s;
          if (causal && gap < 0) continue;
          const T* ks = fk.data() + ko[z] + s * dk;
          T sc = T(0);
          for (i64 a = 0; a < dk; ++a) sc += qt[a] * ks[a];
          if (causal) sc = sc * T(std::pow(decay, double(gap)));
          if (mask) sc = sc * T(std::exp(T(T(mt[s * msj]) - top)));  // exp(-inf) = 0: a hidden key adds nothing
          den += sc;
          const T* vs = v + vo[z] + s * dv;
          for (i64 b = 0; b < dv; ++b) o[b] += sc * vs[b];
        }
        for (i64 b = 0; b < dv; ++b) out[(z * n + t) * dv + b] = normalize ? T(o[b] / T(den + T(1e-6))) : o[b];
      }
  }
}

// nn.window_attention over whole sequences, per batch entry z: softmax weights exp(s - max)
// over the keys near query t (the last `window` before it and the first `sinks`), s =
// scale q_t . k_j + mask, and r (phi(q_t) . phi(k_j)) exp(mask - max_j mask) for the older
// ones; o_t = sum_j a_j v_j / (sum_j a_j + 1e-6), as the interpreter computes it.
template <class T, class TM>
void window_attention_float(const T* q, const T* k, const T* v, const T* pq, const T* pk, const T* r, const TM* mask, i64 batch,
                            const i64* qo, const i64* ko, const i64* vo, const i64* pqo, const i64* pko, const i64* ro, const i64* mo, i64 msi,
                            i64 msj, i64 n, i64 m, i64 dk, i64 dv, i64 f, T scale, i64 window, i64 sinks, T* out) {
#pragma omp parallel if (parallel_worth(batch * n * m * (dk + f + dv)))
  {
    std::vector<T> o(dv > 0 ? dv : 1), sc(m > 0 ? m : 1);
#pragma omp for collapse(2) schedule(static)
    for (i64 z = 0; z < batch; ++z)
      for (i64 t = 0; t < n; ++t) {
        const T* qt = q + qo[z] + t * dk;
        const T* pt = pq + pqo[z] + t * f;
        const TM* mt = mask ? mask + mo[z] + t * msi : nullptr;
        T mtop = T(0), top = -INFINITY;
        if (mask) {
          mtop = -INFINITY;
          for (i64 j = 0; j < m; ++j) mtop = std::max(mtop, T(mt[j * msj]));
          if (!std::isfinite(mtop)) mtop = T(0);
        }
        for (i64 j = 0; j < m; ++j) {
          const i64 gap = t + m - n - j;
          if (gap < 0 || !(gap < window || j < sinks)) continue;
          const T* kj = k + ko[z] + j * dk;
          T s = T(0);
          for (i64 a = 0; a < dk; ++a) s += qt[a] * kj[a];
          sc[j] = s * scale + (mask ? T(mt[j * msj]) : T(0));
          top = std::max(top, sc[j]);
        }
        if (!std::isfinite(top)) top = T(0);
        T den = T(0);
        for (i64 b = 0; b < dv; ++b) o[b] = T(0);
        for (i64 j = 0; j < m; ++j) {
          const i64 gap = t + m - n - j;
          if (gap < 0) continue;
          T a;
          if (gap < window || j < sinks) {
            a = std::exp(sc[j] - top);
          } else {
            const T* kj = pk + pko[z] + j * f;
            T s = T(0);
            for (i64 c = 0; c < f; ++c) s += pt[c] * kj[c];
            a = s * r[ro[z]];
            if (mask) a = a * T(std::exp(T(T(mt[j * msj]) - mtop)));
          }
          den += a;
          const T* vj = v + vo[z] + j * dv;
          for (i64 b = 0; b < dv; ++b) o[b] += a * vj[b];
        }
        for (i64 b = 0; b < dv; ++b) out[(z * n + t) * dv + b] = T(o[b] / T(den + T(1e-6)));
      }
  }
}

// nn.linear_attention_step: the causal recurrence from the state (S, z) over T tokens, in C
template <class C, class TQ, class TV, class TS, class TO>
void linear_attention_step_float(const TQ* q, const TQ* k, const TV* v, const TS* state, const TS* norm, i64 heads, i64 T, i64 dk, i64 dv, bool elu1,
                                 C decay, bool normalize, TO* out, TS* new_state, TS* new_norm) {
#pragma omp parallel for schedule(static) if (parallel_worth(heads * T * dk * dv))
  for (i64 h = 0; h < heads; ++h) {
    std::vector<C> S(dk * dv), z(dk), pq(dk), pk(dk);
    for (i64 i = 0; i < dk * dv; ++i) S[i] = C(state[h * dk * dv + i]);
    for (i64 i = 0; i < dk; ++i) z[i] = C(norm[h * dk + i]);
    for (i64 t = 0; t < T; ++t) {
      const i64 row = h * T + t;
      for (i64 a = 0; a < dk; ++a) {
        pq[a] = feature_of(C(q[row * dk + a]), elu1);
        pk[a] = feature_of(C(k[row * dk + a]), elu1);
      }
      for (i64 a = 0; a < dk; ++a) {
        for (i64 b = 0; b < dv; ++b) S[a * dv + b] = decay * S[a * dv + b] + pk[a] * C(v[row * dv + b]);
        z[a] = decay * z[a] + pk[a];
      }
      C d = 0;
      for (i64 a = 0; a < dk; ++a) d += pq[a] * z[a];
      for (i64 b = 0; b < dv; ++b) {
        C o = 0;
        for (i64 a = 0; a < dk; ++a) o += pq[a] * S[a * dv + b];
        out[row * dv + b] = TO(normalize ? o / (d + C(1e-6)) : o);
      }
    }
    for (i64 i = 0; i < dk * dv; ++i) new_state[h * dk * dv + i] = TS(S[i]);
    for (i64 i = 0; i < dk; ++i) new_norm[h * dk + i] = TS(z[i]);
  }
}

// Padding, each output element from the input at its index less the begin pads; outside the
// input: mode 0 the value, 1 reflected (edge not repeated), 2 the edge, 3 wrapped around.
template <class T>
void pad(const T* x, const Index& in, const Index& ix, const i64* before, int mode, T value, i64 total, T* out) {
#pragma omp parallel for schedule(static) if (parallel_elements(total))
  for (i64 i = 0; i < total; ++i) {
    i64 rem = i, off = 0, stride = 1;
    bool inside = true;
    for (int d = ix.ndim - 1; d >= 0 && inside; --d) {
      const i64 n = in.shape[d];
      i64 j = rem % ix.shape[d] - before[d];
      rem /= ix.shape[d];
      if (j < 0 || j >= n) {
        if (mode == 0 || n == 0) inside = false;
        else if (mode == 2) j = j < 0 ? 0 : n - 1;
        else if (mode == 3) j = ((j % n) + n) % n;
        else if (n == 1) j = 0;
        else {
          const i64 period = 2 * (n - 1);
          j = ((j % period) + period) % period;
          if (j >= n) j = period - j;
        }
      }
      off += j * stride;
      stride *= n;
    }
    out[i] = inside ? x[off] : value;
  }
}

// numpy's take_along_axis: x read at its strides sx (0 on the axis and where it broadcasts),
// plus the index (at strides si into idx) times the axis stride
template <class T>
void gather_elements(const T* x, const int64_t* idx, i64 nidx, const Index& ix, i64 total, const i64* sx, const i64* si, i64 axis_len, i64 axis_stride,
                     T* out) {
  check_indices(idx, nidx, axis_len);
  for_each_index(ix, total, sx, si, nullptr, [&](i64 i, i64 oa, i64 ob, i64) {
    const i64 r = idx[ob] < 0 ? idx[ob] + axis_len : idx[ob];
    out[i] = x[oa + r * axis_stride];
  });
}

// ONNX GatherND: per batch entry z (of nb, x at z * batch_stride) and index tuple l (of L, m
// coordinates over dims, strides), the slice of `inner` elements there
template <class T>
void gather_nd(const T* x, const int64_t* idx, i64 nb, i64 L, i64 m, const i64* dims, const i64* strides, i64 batch_stride, i64 inner, T* out) {
  for (i64 z = 0; z < nb; ++z)
    for (i64 l = 0; l < L; ++l) {
      i64 off = z * batch_stride;
      for (i64 j = 0; j < m; ++j) {
        const int64_t r = idx[(z * L + l) * m + j];
        check_indices(&r, 1, dims[j]);
        off += (r < 0 ? r + dims[j] : r) * strides[j];
      }
      std::memcpy(out + (z * L + l) * inner, x + off, sizeof(T) * inner);
    }
}

// start, start + delta, ...: n values computed in S (double or int64) as numpy's arange
template <class S, class T>
void arange(S start, S delta, i64 n, T* out) {
  for (i64 i = 0; i < n; ++i) out[i] = T(start + delta * S(i));
}

}  // namespace nscc

// snn.synapse: after the namespace closes, since it builds on LayerCounter and parallel_worth above
#include "nscc_synapse.hpp"
