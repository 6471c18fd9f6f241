// Hex digits, the one helper for every parser of hex text (tokens, event
// logs, escaped bytes).
//
// Thread-safety: pure.
#pragma once

namespace attest {

// 0-15 for [0-9a-fA-F], -1 otherwise.
constexpr int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace attest
