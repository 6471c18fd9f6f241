// Error codes of the agent (attest::agent::errc), the pattern of
// common/base/errors.h. Library errors (esys, httpclient) keep their own codes
// when passed through; these are for what the agent itself decides.
#pragma once

#include <system_error>

namespace attest::agent {

enum class errc {
  ok = 0,
  io_error = 1,           // a state file could not be read or written
  state_corrupt = 2,      // a state file exists but does not parse
  protocol_error = 3,     // a server answer is not what the API promises
  http_status = 4,        // a server answered with an error status (see message)
  tpm_error = 5,          // the TPM refused or failed an operation
  invalid_challenge = 6,  // a challenge the TPM cannot quote (nonce > 64 bytes, bad PCRs)
  stopped = 7,            // a stop was requested (SIGTERM/SIGINT)
  not_attested = 8,       // --once: fewer than N blocks attested (timeout, all failed)
};

const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

}  // namespace attest::agent

template <>
struct std::is_error_code_enum<attest::agent::errc> : std::true_type {};
