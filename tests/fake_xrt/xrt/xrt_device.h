#pragma once
#include <string>

namespace xrt {
struct uuid {};
class device {
 public:
  explicit device(unsigned) {}
  uuid load_xclbin(const std::string&) { return {}; }
};
}  // namespace xrt
