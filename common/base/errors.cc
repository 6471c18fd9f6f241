#include "common/base/errors.h"

#include <string>

namespace attest::base {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "attest.base"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::ok:
        return "ok";
      case errc::io_error:
        return "i/o error";
      case errc::parse_error:
        return "parse error";
      case errc::invalid_value:
        return "invalid value";
      case errc::missing_value:
        return "missing value";
      case errc::unknown_key:
        return "unknown key";
    }
    return "unknown error";
  }
};

}  // namespace

const std::error_category& category() {
  static const Category instance;
  return instance;
}

}  // namespace attest::base
