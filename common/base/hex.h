// Hex text, the one encoder and decoder for every module (TPM names and
// digests, IMA and event-log digests, tokens, escaped bytes).
//
// Encoding is always lower case, two digits a byte, no prefix or separator.
// The decoders accept exactly an even number of hex digits in either case
// ("aB09" and "AB09" alike) and refuse everything else: an odd number of
// digits, whitespace, signs, separators and any other character. A "0x" or
// "0X" prefix is refused unless the caller passes HexPrefix::kAllow (the TPM
// and event-log inputs, where tools print it); then it is skipped once.
// Empty text decodes to no bytes.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace attest {

// 0-15 for [0-9a-fA-F], -1 otherwise.
constexpr int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Lower-case hex of `bytes`.
inline std::string HexEncode(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}

enum class HexPrefix { kRefuse, kAllow };

// Decodes exactly out.size() bytes (hex.size() == 2 * out.size(), no prefix);
// false otherwise, and `out` is then unspecified.
inline bool HexDecodeInto(std::string_view hex, std::span<uint8_t> out) {
  if (hex.size() != out.size() * 2) return false;
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = HexDigitValue(hex[2 * i]), lo = HexDigitValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

// The bytes of `hex`; nullopt when it is not accepted (see the top).
inline std::optional<std::vector<uint8_t>> HexDecode(std::string_view hex,
                                                     HexPrefix prefix = HexPrefix::kRefuse) {
  if (prefix == HexPrefix::kAllow && hex.size() >= 2 && hex[0] == '0' &&
      (hex[1] == 'x' || hex[1] == 'X')) {
    hex.remove_prefix(2);
  }
  if (hex.size() % 2 != 0) return std::nullopt;
  std::vector<uint8_t> out(hex.size() / 2);
  if (!HexDecodeInto(hex, out)) return std::nullopt;
  return out;
}

}  // namespace attest
