// Error codes of the IMA module (measurement-list parsing, runtime policies,
// signature keys). Same pattern as common/base/errors.h.
#pragma once

#include <system_error>

namespace attest::ima {

enum class errc {
  ok = 0,
  parse_error = 1,     // a measurement list is malformed
  policy_error = 2,    // a runtime policy is malformed or unsupported
  key_error = 3,       // a public key could not be loaded
  limit_exceeded = 4,  // an input is larger than the configured bounds
  invalid_argument = 5,
};

const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

}  // namespace attest::ima

template <>
struct std::is_error_code_enum<attest::ima::errc> : std::true_type {};
