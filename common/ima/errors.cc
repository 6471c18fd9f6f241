#include "common/ima/errors.h"

#include <string>

namespace attest::ima {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "attest.ima"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::ok:
        return "ok";
      case errc::parse_error:
        return "malformed IMA measurement list";
      case errc::policy_error:
        return "invalid runtime policy";
      case errc::key_error:
        return "invalid public key";
      case errc::limit_exceeded:
        return "input exceeds limits";
      case errc::invalid_argument:
        return "invalid argument";
    }
    return "unknown error";
  }
};

}  // namespace

const std::error_category& category() {
  static const Category instance;
  return instance;
}

}  // namespace attest::ima
