// Error codes of the TPM structures module (common/tpm).
#pragma once

#include <system_error>

namespace attest::tpm {

enum class errc {
  ok = 0,
  malformed = 1,     // bytes are not a valid marshalled structure (or have trailing bytes)
  unsupported = 2,   // valid TPM structure, but an algorithm/curve/size we do not handle
  crypto_error = 3,  // OpenSSL refused an operation (key import, hashing)
  invalid_key = 4,   // a key is of the wrong kind for its purpose (attributes, type)
};

const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

}  // namespace attest::tpm

template <>
struct std::is_error_code_enum<attest::tpm::errc> : std::true_type {};
