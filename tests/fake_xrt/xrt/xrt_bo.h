// A stand-in for XRT's native API, for tests only: buffers are host memory and a
// kernel run calls nscc_top (the C-simulation build of the kernel) directly, so
// the generated host program runs end to end on this machine.
#pragma once
#include <cstddef>
#include <memory>
#include <vector>

enum xclBOSyncDirection { XCL_BO_SYNC_BO_TO_DEVICE = 0, XCL_BO_SYNC_BO_FROM_DEVICE = 1 };

namespace xrt {
class device;
class bo {
 public:
  bo(device&, size_t bytes, int) : mem_(std::make_shared<std::vector<char>>(bytes + 64)) {}
  template <class T>
  T map() {
    return reinterpret_cast<T>(mem_->data());
  }
  void sync(xclBOSyncDirection) {}
  char* data() const { return mem_->data(); }

 private:
  std::shared_ptr<std::vector<char>> mem_;
};
}  // namespace xrt
