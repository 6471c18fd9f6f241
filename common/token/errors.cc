#include "common/token/errors.h"

#include <string>

namespace attest::token {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "attest.token"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::ok:
        return "ok";
      case errc::invalid_key:
        return "invalid token key";
      case errc::malformed:
        return "malformed token";
      case errc::unknown_key:
        return "token made with an unknown key";
      case errc::bad_mac:
        return "token MAC does not verify";
      case errc::other_agent:
        return "token issued to another agent";
      case errc::expired:
        return "token expired";
      case errc::not_yet_valid:
        return "token issued in the future";
      case errc::rng_failed:
        return "random source failed";
    }
    return "unknown error";
  }
};

}  // namespace

const std::error_category& category() {
  static const Category instance;
  return instance;
}

}  // namespace attest::token
