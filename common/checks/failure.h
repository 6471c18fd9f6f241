// A verification failure in Keylime's style: a dotted event id naming the
// component and the check ("quote.nonce_mismatch",
// "pcr_validation.invalid_pcr_10"), a severity and a context: the details an
// operator needs (a message, expected/actual values, the IMA path, ...).
//
// The context is structured data. Its text values may hold any bytes (an IMA
// path is whatever the kernel logged; a parser message may quote input), so
// the verification core never renders it: ContextJson, at the edge, turns it
// into a JSON object with every text value passed through EscapeBytes
// (common/base/escape.h), so the result is valid UTF-8 without control
// characters whatever the agent sent.
//
// Thread-safety: plain value types; ContextJson is pure.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace attest::checks {

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

// One key of a failure's context. Text is raw bytes (escaped when rendered).
struct Detail {
  using Value =
      std::variant<std::string, int64_t, uint64_t, std::vector<std::string>, std::vector<uint64_t>>;

  Detail(std::string k, std::string_view v) : key(std::move(k)), value(std::string(v)) {}
  Detail(std::string k, const char* v) : key(std::move(k)), value(std::string(v)) {}
  Detail(std::string k, std::string v) : key(std::move(k)), value(std::move(v)) {}
  template <std::integral T>
  Detail(std::string k, T v) : key(std::move(k)) {
    if constexpr (std::is_signed_v<T>) {
      value = static_cast<int64_t>(v);
    } else {
      value = static_cast<uint64_t>(v);
    }
  }
  Detail(std::string k, std::vector<std::string> v) : key(std::move(k)), value(std::move(v)) {}
  Detail(std::string k, std::vector<uint64_t> v) : key(std::move(k)), value(std::move(v)) {}

  std::string key;
  Value value;
};

using Context = std::vector<Detail>;

struct Failure {
  std::string event_id;
  Severity severity = Severity::kError;
  Context context;

  // The text value of `key`, or empty.
  std::string_view Text(std::string_view key) const {
    for (const auto& d : context) {
      if (d.key == key) {
        if (const auto* s = std::get_if<std::string>(&d.value)) return *s;
      }
    }
    return {};
  }
};

using Failures = std::vector<Failure>;

// The context as one JSON object ({"message": ..., "path": ...}), text
// escaped with EscapeBytes; valid UTF-8, never throws on any bytes. Bounded:
// a text value keeps its first 4,096 bytes (PATH_MAX: a path is never cut)
// and a list its first 64 items; `<key>_total` then gives the bytes or items
// there were.
std::string ContextJson(const Context& context);

}  // namespace attest::checks
