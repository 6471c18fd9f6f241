#include "tools/attest-bench/errors.h"

#include <string>

namespace attest::bench {
namespace {

class Category : public std::error_category {
 public:
  const char* name() const noexcept override { return "attest-bench"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::ok:
        return "ok";
      case errc::invalid_argument:
        return "invalid argument";
      case errc::io_error:
        return "I/O error";
      case errc::bad_state:
        return "malformed state file";
      case errc::transport:
        return "transport error";
      case errc::protocol:
        return "protocol error";
      case errc::crypto:
        return "crypto error";
    }
    return "unknown attest-bench error";
  }
};

}  // namespace

const std::error_category& category() {
  static const Category c;
  return c;
}

}  // namespace attest::bench
