// Error codes of the registrar. Most map one-to-one onto the HTTP status the
// request handlers answer with (HttpStatus()), so a check deep inside
// (trust store, DB store) decides the status where it knows the reason.
#pragma once

#include <system_error>

#include "common/base/result.h"

namespace attest::registrar {

enum class errc {
  ok = 0,
  bad_request = 1,        // 400: malformed body, bad UUID, bad key, bad policy
  unauthorized = 2,       // 401: admin call without credentials
  forbidden = 3,          // 403: wrong admin credentials, wrong auth_tag, EK not trusted
  not_found = 4,          // 404: unknown agent
  conflict = 5,           // 409: a different EK/AK for a known UUID, agent not active
  gone = 6,               // 410: the pending activation offer expired
  unsupported_media = 7,  // 415: content type neither protobuf nor JSON
  unavailable = 8,        // 503: PostgreSQL unreachable or the work queue is full
  internal = 9,           // 500: a bug or an unexpected library failure
  config_error = 10,      // start-up: bad configuration or unreadable files
};

const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

// The HTTP status for an error of this module (500 for foreign categories).
int HttpStatus(const Error& e);

}  // namespace attest::registrar

template <>
struct std::is_error_code_enum<attest::registrar::errc> : std::true_type {};
