// Error codes of the verifier worker (attest::worker::errc), in the pattern of
// common/base/errors.h.
#pragma once

#include <system_error>

namespace attest::worker {

enum class errc {
  ok = 0,
  invalid_config = 1,  // the configuration file is wrong (message names file:line and key)
  fenced = 2,          // another worker owns the partition now: the transaction was rolled back
  database = 3,        // PostgreSQL refused or is unreachable
  kafka = 4,           // the Kafka client failed
  crypto = 5,          // a key could not be loaded or used
  bad_input = 6,       // a record or file is malformed
  unknown_value = 7,   // the database holds a value this worker does not know (a newer schema)
};

const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

}  // namespace attest::worker

// Declares `name` from a Result expression or returns its error (the
// declaring form of ATTEST_ASSIGN_OR_RETURN).
#define WORKER_LET(name, expr)                      \
  auto name##_result = (expr);                      \
  if (!name##_result) return name##_result.error(); \
  auto name = std::move(name##_result).value()

template <>
struct std::is_error_code_enum<attest::worker::errc> : std::true_type {};
