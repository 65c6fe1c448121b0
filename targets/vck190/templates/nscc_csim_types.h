// Stand-ins for ap_uint<512> and hls::stream, for a C simulation with plain g++
// (no Vitis, no ap_int headers): same bit layout, same lane order. Never
// synthesized: nscc_hls.h takes the real types under __SYNTHESIS__.
#ifndef NSCC_CSIM_TYPES_H
#define NSCC_CSIM_TYPES_H

#include <stdint.h>

#include <cstdio>
#include <cstdlib>
#include <deque>

namespace nscc {

struct word_t {
  uint64_t v[8];  // little-endian 64-bit limbs: bit i of the word is bit (i % 64) of v[i / 64]
};

template <int B>
inline int32_t lane(const word_t& w, int l) {
  const int bit = l * B;  // B divides 64: a lane never straddles two limbs
  uint64_t u = (w.v[bit >> 6] >> (bit & 63)) & ((uint64_t(1) << B) - 1);
  return u >= (uint64_t(1) << (B - 1)) ? (int32_t)u - (int32_t)(uint64_t(1) << B) : (int32_t)u;
}

template <int B>
inline void set_lane(word_t& w, int l, int32_t v) {
  const int bit = l * B;
  const uint64_t m = ((uint64_t(1) << B) - 1) << (bit & 63);
  w.v[bit >> 6] = (w.v[bit >> 6] & ~m) | (((uint64_t)(uint32_t)v << (bit & 63)) & m);
}

inline int64_t get64(const word_t& w, int i) { return (int64_t)w.v[i]; }
inline void set64(word_t& w, int i, int64_t v) { w.v[i] = (uint64_t)v; }

// As hls::stream in C simulation: unbounded, and reading an empty stream is an error.
template <class T>
struct stream {
  std::deque<T> q;
  void write(const T& v) { q.push_back(v); }
  T read() {
    if (q.empty()) {
      std::fprintf(stderr, "csim: a stream is read while empty\n");
      std::exit(3);
    }
    T v = q.front();
    q.pop_front();
    return v;
  }
  bool empty() const { return q.empty(); }
};

}  // namespace nscc
#endif
