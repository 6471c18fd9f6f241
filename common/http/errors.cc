#include "common/http/errors.h"

#include <string>

namespace attest::http {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "attest.http"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::ok:
        return "ok";
      case errc::invalid_argument:
        return "invalid argument";
      case errc::tls_error:
        return "TLS set-up error";
      case errc::bind_error:
        return "cannot listen";
      case errc::state_error:
        return "invalid server state";
    }
    return "unknown error";
  }
};

}  // namespace

const std::error_category& category() {
  static const Category instance;
  return instance;
}

}  // namespace attest::http
