#include "verifier-workers/errors.h"

#include <string>

namespace attest::worker {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "attest.worker"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::ok:
        return "ok";
      case errc::invalid_config:
        return "invalid configuration";
      case errc::fenced:
        return "partition fenced (owned by another worker)";
      case errc::database:
        return "database error";
      case errc::kafka:
        return "kafka error";
      case errc::crypto:
        return "crypto error";
      case errc::bad_input:
        return "bad input";
      case errc::unknown_value:
        return "unknown value";
    }
    return "unknown error";
  }
};

}  // namespace

const std::error_category& category() {
  static const Category instance;
  return instance;
}

}  // namespace attest::worker
