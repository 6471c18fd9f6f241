// Error codes of the HTTP server module.
#pragma once

#include <system_error>

namespace attest::http {

enum class errc {
  ok = 0,
  invalid_argument = 1,  // bad options or route pattern
  tls_error = 2,         // certificate, key or CA file could not be loaded
  bind_error = 3,        // the listening socket could not be opened
  state_error = 4,       // Start() called twice, or after Stop()
};

const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

}  // namespace attest::http

template <>
struct std::is_error_code_enum<attest::http::errc> : std::true_type {};
