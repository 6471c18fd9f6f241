#include "common/base/escape.h"

#include <cstdint>

#include "common/base/hex.h"

namespace attest {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void AppendHexByte(std::string& out, uint8_t b) {
  out += "\\x";
  out += kHex[b >> 4];
  out += kHex[b & 0xf];
}

// Length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlongs, no
// surrogates, at most U+10FFFF), 0 when it is not one; `cp` gets its code point.
size_t Utf8Sequence(std::string_view s, size_t i, uint32_t& cp) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  size_t len = 0;
  uint32_t min = 0;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  } else if ((b0 & 0xe0) == 0xc0) {
    len = 2, cp = b0 & 0x1f, min = 0x80;
  } else if ((b0 & 0xf0) == 0xe0) {
    len = 3, cp = b0 & 0x0f, min = 0x800;
  } else if ((b0 & 0xf8) == 0xf0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() - i < len) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<uint8_t>(s[i + k]);
    if ((b & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

// Code points that are valid UTF-8 but must not reach a reader raw.
bool Unsafe(uint32_t cp) {
  return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

void Append(std::string& out, std::string_view in, bool escape_backslash) {
  size_t i = 0;
  while (i < in.size()) {
    uint32_t cp = 0;
    const size_t len = Utf8Sequence(in, i, cp);
    if (len == 0) {
      AppendHexByte(out, static_cast<uint8_t>(in[i]));
      ++i;
      continue;
    }
    if (Unsafe(cp)) {
      for (size_t k = 0; k < len; ++k) AppendHexByte(out, static_cast<uint8_t>(in[i + k]));
    } else if (cp == '\\' && escape_backslash) {
      out += "\\\\";
    } else {
      out.append(in.substr(i, len));
    }
    i += len;
  }
}

}  // namespace

std::string EscapeBytes(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  Append(out, bytes, true);
  return out;
}

std::string TerminalSafe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  Append(out, text, false);
  return out;
}

std::optional<std::string> UnescapeBytes(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out += text[i];
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '\\') {
      out += '\\';
      ++i;
      continue;
    }
    if (i + 3 < text.size() && text[i + 1] == 'x') {
      const int hi = HexDigitValue(text[i + 2]), lo = HexDigitValue(text[i + 3]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>((hi << 4) | lo);
        i += 3;
        continue;
      }
    }
    return std::nullopt;
  }
  return out;
}

}  // namespace attest
