// C-simulation testbench: loads the weights and the golden vectors that nscc's
// reference interpreter produced, calls nscc_top once per step, and compares
// every output word. Exit 0 only when all are equal. A decoder's kernel is its
// decode-step function: the state port holds the function's state arguments,
// which the kernel updates in place; this testbench keeps that buffer between
// steps (zero before the first token), as the host does on the board.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "nscc_model.h"
#include "tb_io.h"

static std::vector<char> slurp(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    std::fprintf(stderr, "tb: cannot open %s\n", path.c_str());
    std::exit(2);
  }
  std::fseek(f, 0, SEEK_END);
  long n = std::ftell(f);
  std::fseek(f, 0, SEEK_SET);
  std::vector<char> buf(n > 0 ? n : 0);
  if (n > 0 && std::fread(buf.data(), 1, n, f) != (size_t)n) {
    std::fprintf(stderr, "tb: short read of %s\n", path.c_str());
    std::exit(2);
  }
  std::fclose(f);
  return buf;
}

template <class T>
static std::vector<T> load(const std::string& path, size_t n) {
  std::vector<char> raw = slurp(path);
  if (raw.size() != n * sizeof(T)) {
    std::fprintf(stderr, "tb: %s has %zu bytes, expected %zu\n", path.c_str(), raw.size(), n * sizeof(T));
    std::exit(2);
  }
  std::vector<T> out(n);
  std::memcpy(out.data(), raw.data(), raw.size());
  return out;
}

int main(int argc, char** argv) {
  std::string root = argc > 1 ? argv[1] : ".";
  std::vector<char> wraw = slurp(root + "/weights/weights.bin"), wraw2 = slurp(root + "/weights/weights_b.bin");
  std::vector<nscc::word_t> wgt(NSCC_WGT_WORDS), wgt2(NSCC_WGT2_WORDS);  // the two banks: even and odd words
  for (size_t i = 0; i < wgt.size() && (i + 1) * 64 <= wraw.size(); ++i) nscc_tb_word(wgt[i], wraw.data() + 64 * i);
  for (size_t i = 0; i < wgt2.size() && (i + 1) * 64 <= wraw2.size(); ++i) nscc_tb_word(wgt2[i], wraw2.data() + 64 * i);
  std::vector<int32_t> prm = load<int32_t>(root + "/weights/params.bin", NSCC_PRM_WORDS);
  std::vector<nscc::word_t> state(NSCC_STATE_WORDS + 1);  // the step function's state arguments, zero before the first token
  for (size_t i = 0; i < state.size(); ++i)
    for (int u = 0; u < 8; ++u) nscc::set64(state[i], u, 0);
  long passed = 0, failed = 0;
  NSCC_TB_LOAD(wgt, wgt2, prm, state);  // mode 1: the resident layers' weights into on-chip memory
  for (int step = 0; step < NSCC_TB_STEPS; ++step) {
    NSCC_TB_STEP(root, step, wgt, wgt2, prm, state, passed, failed);
  }
  std::printf("csim: %ld passed, %ld failed (%d steps)\n", passed, failed, NSCC_TB_STEPS);
  return failed == 0 && passed > 0 ? 0 : 1;
}
