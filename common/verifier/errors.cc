#include "common/verifier/errors.h"

#include <string>

namespace attest::verifier {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "attest.verifier"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::ok:
        return "ok";
      case errc::invalid_key:
        return "invalid attestation key";
      case errc::invalid_policy:
        return "invalid policy";
    }
    return "unknown error";
  }
};

}  // namespace

const std::error_category& category() {
  static const Category instance;
  return instance;
}

}  // namespace attest::verifier
