// Error codes of attest-bench (tools/attest-bench).
#pragma once

#include <system_error>

namespace attest::bench {

enum class errc {
  ok = 0,
  invalid_argument = 1,  // bad option or URL
  io_error = 2,          // state file or /proc unreadable / unwritable
  bad_state = 3,         // state file malformed
  transport = 4,         // connection, TLS or timeout
  protocol = 5,          // unexpected answer (status or body)
  crypto = 6,            // key generation or signing failed
};

const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

}  // namespace attest::bench

template <>
struct std::is_error_code_enum<attest::bench::errc> : std::true_type {};
