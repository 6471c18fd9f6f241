// Error codes of the ingest gateway. Request errors carry their HTTP meaning
// (HttpStatus maps them), so decoding code stays independent of the server.
#pragma once

#include <system_error>

namespace attest::gateway {

enum class errc {
  ok = 0,
  invalid_config = 1,          // the configuration file is wrong (message names file and key)
  bad_request = 2,             // 400: malformed body, bad UUID, bad field
  unsupported_media_type = 3,  // 415
  unauthorized = 4,            // 401: invalid or expired challenge token
  forbidden = 5,               // 403: token issued to another agent
  not_found = 6,               // 404: unknown or unenrolled agent
  too_early = 7,               // 429: challenge before the interval
  unavailable = 8,             // 503: Kafka or PostgreSQL cannot serve now
  internal = 9,                // 500: a bug or an unexpected library failure
};

const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

// The HTTP status of a request error (500 for codes that are not).
int HttpStatus(errc e);

}  // namespace attest::gateway

template <>
struct std::is_error_code_enum<attest::gateway::errc> : std::true_type {};
