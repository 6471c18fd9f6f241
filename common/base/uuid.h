// UUIDs in text: the one helper every service uses to check, canonicalise,
// compare and format agent and evidence ids.
//
// The rule (issue 20.4; before it, five copies disagreed):
//   - A UUID is 36 ASCII characters in the 8-4-4-4-12 layout: '-' at 8, 13,
//     18 and 23, hex digits [0-9a-fA-F] elsewhere. No braces, no "urn:uuid:",
//     no surrounding space. Digits are matched as ASCII, never through the
//     locale (std::isxdigit), which the worker and the registrar used to do.
//   - Its canonical form is lower case. What we produce or store (the agent's
//     configured and saved UUID, database keys, Kafka keys) is canonical;
//     what we receive (a path, a body, a record key, a command line) may be in
//     either case and is canonicalised at the edge with ParseUuid, as RFC 4122
//     asks. Every UUID a valid agent sends is canonical, so it passes both.
//
// Thread-safety: pure functions (header-only; ParseUuid's error needs
// attest_base for base::category()).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/base/errors.h"
#include "common/base/hex.h"
#include "common/base/result.h"

namespace attest {

inline constexpr size_t kUuidTextSize = 36;

namespace uuid_detail {

constexpr bool IsDashAt(size_t i) { return i == 8 || i == 13 || i == 18 || i == 23; }

// Lower case of an ASCII hex digit; other bytes unchanged.
constexpr char Lower(char c) { return c >= 'A' && c <= 'F' ? static_cast<char>(c - 'A' + 'a') : c; }

constexpr bool Matches(std::string_view text, bool lower_only) {
  if (text.size() != kUuidTextSize) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (IsDashAt(i)) {
      if (c != '-') return false;
    } else if (HexDigitValue(c) < 0 || (lower_only && c >= 'A' && c <= 'F')) {
      return false;
    }
  }
  return true;
}

}  // namespace uuid_detail

// True when `text` is a UUID in either case.
constexpr bool IsUuid(std::string_view text) { return uuid_detail::Matches(text, false); }
// True when `text` is a UUID in canonical (lower) case.
constexpr bool IsCanonicalUuid(std::string_view text) { return uuid_detail::Matches(text, true); }

// The canonical form of `text`, or base::errc::invalid_value with the message
// "'<text>' is not a UUID (8-4-4-4-12 hex digits)" (at most 64 characters of
// it shown, control and non-ASCII bytes as '?'). Callers map the code to
// their own (the gateway and the registrar: 400).
inline Result<std::string> ParseUuid(std::string_view text) {
  if (!IsUuid(text)) {
    std::string shown(text.substr(0, 64));
    for (char& c : shown) {
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
    }
    return MakeError(base::errc::invalid_value,
                     "'" + shown + "' is not a UUID (8-4-4-4-12 hex digits)");
  }
  std::string out(text);
  for (char& c : out) c = uuid_detail::Lower(c);
  return out;
}

// ParseUuid(text) == canonical, without allocating: false when `text` is not
// a UUID. `canonical` must be canonical.
constexpr bool SameUuid(std::string_view text, std::string_view canonical) {
  if (text.size() != canonical.size() || !IsUuid(text)) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (uuid_detail::Lower(text[i]) != canonical[i]) return false;
  }
  return true;
}

// The text of 16 bytes, as they are (canonical).
inline std::string UuidText(const std::array<uint8_t, 16>& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(kUuidTextSize);
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 0xf];
  }
  return out;
}

// `random` made a version-4 (random) RFC 4122 UUID: version and variant bits
// set. The caller supplies the 16 random bytes (RAND_bytes).
constexpr std::array<uint8_t, 16> UuidV4(std::array<uint8_t, 16> random) {
  random[6] = static_cast<uint8_t>((random[6] & 0x0f) | 0x40);  // version 4
  random[8] = static_cast<uint8_t>((random[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return random;
}

}  // namespace attest
