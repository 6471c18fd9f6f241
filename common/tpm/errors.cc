#include "common/tpm/errors.h"

#include <string>

namespace attest::tpm {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "attest.tpm"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::ok:
        return "ok";
      case errc::malformed:
        return "malformed TPM structure";
      case errc::unsupported:
        return "unsupported TPM algorithm or parameter";
      case errc::crypto_error:
        return "cryptographic library error";
      case errc::invalid_key:
        return "invalid key";
    }
    return "unknown error";
  }
};

}  // namespace

const std::error_category& category() {
  static const Category instance;
  return instance;
}

}  // namespace attest::tpm
