// A verification failure in Keylime's style: a dotted event id naming the
// component and the check ("quote.nonce_mismatch",
// "pcr_validation.invalid_pcr_10"), a severity and a context string (a JSON
// object with the details an operator needs: expected/actual values, ...).
//
// Thread-safety: plain value types.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace attest::verify {

// Keylime's severity labels, least to most severe.
enum class Severity { kInfo, kNotice, kWarning, kError, kCritical, kAlert, kEmergency };

inline std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kInfo:
      return "info";
    case Severity::kNotice:
      return "notice";
    case Severity::kWarning:
      return "warning";
    case Severity::kError:
      return "error";
    case Severity::kCritical:
      return "critical";
    case Severity::kAlert:
      return "alert";
    case Severity::kEmergency:
      return "emergency";
  }
  return "unknown";
}

struct Failure {
  std::string event_id;
  Severity severity = Severity::kError;
  std::string context;  // JSON object text
};

using Failures = std::vector<Failure>;

}  // namespace attest::verify
