// Error codes of the eventlog module (UEFI measured-boot log parsing, replay
// and reference-state policy), following the pattern of common/base/errors.h.
#pragma once

#include <system_error>

namespace attest::eventlog {

enum class errc {
  ok = 0,
  truncated = 1,       // the log ends inside a structure
  malformed = 2,       // a field holds a value the format does not allow
  too_large = 3,       // a size or count exceeds the configured limits
  unsupported = 4,     // valid but not handled (e.g. a SHA-1-only log)
  inconsistent = 5,    // fields contradict each other (e.g. a digest for an undeclared bank)
  policy_invalid = 6,  // a reference-state document is not valid
  crypto_error = 7,    // OpenSSL could not compute a digest
};

const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

}  // namespace attest::eventlog

template <>
struct std::is_error_code_enum<attest::eventlog::errc> : std::true_type {};
