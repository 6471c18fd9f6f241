#include "common/eventlog/errors.h"

#include <string>

namespace attest::eventlog {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "attest.eventlog"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::ok:
        return "ok";
      case errc::truncated:
        return "event log truncated";
      case errc::malformed:
        return "event log malformed";
      case errc::too_large:
        return "event log exceeds limits";
      case errc::unsupported:
        return "event log format not supported";
      case errc::inconsistent:
        return "event log inconsistent";
      case errc::policy_invalid:
        return "measured-boot policy invalid";
      case errc::crypto_error:
        return "digest computation failed";
    }
    return "unknown error";
  }
};

}  // namespace

const std::error_category& category() {
  static const Category instance;
  return instance;
}

}  // namespace attest::eventlog
