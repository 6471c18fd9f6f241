#include "agent/errors.h"

#include <string>

namespace attest::agent {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "attest.agent"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::ok:
        return "ok";
      case errc::io_error:
        return "i/o error";
      case errc::state_corrupt:
        return "state file corrupt";
      case errc::protocol_error:
        return "protocol error";
      case errc::http_status:
        return "HTTP error status";
      case errc::tpm_error:
        return "TPM error";
      case errc::invalid_challenge:
        return "invalid challenge";
      case errc::stopped:
        return "stopped";
      case errc::not_attested:
        return "not attested";
    }
    return "unknown error";
  }
};

}  // namespace

const std::error_category& category() {
  static const Category instance;
  return instance;
}

}  // namespace attest::agent
