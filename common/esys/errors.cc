#include "common/esys/errors.h"

#include <tss2/tss2_rc.h>

#include <cstdio>
#include <string>

namespace attest::esys {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "attest.esys"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::ok:
        return "ok";
      case errc::tss_error:
        return "TPM/TSS error";
      case errc::tcti_error:
        return "TCTI error";
      case errc::invalid_argument:
        return "invalid argument";
      case errc::marshal_error:
        return "malformed TPM structure";
      case errc::io_error:
        return "i/o error";
      case errc::not_found:
        return "not found";
      case errc::mismatch:
        return "unexpected TPM answer";
    }
    return "unknown error";
  }
};

}  // namespace

const std::error_category& category() {
  static const Category instance;
  return instance;
}

Error TssError(TSS2_RC rc, std::string_view what, errc code) {
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%x", static_cast<unsigned>(rc));
  // Tss2_RC_Decode returns a pointer to a thread-local buffer: copy at once.
  std::string decoded = Tss2_RC_Decode(rc);
  return Error{make_error_code(code), std::string(what) + ": " + decoded + " (" + hex + ")"};
}

}  // namespace attest::esys
