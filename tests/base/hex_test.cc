// common/base/hex.h: the one encoder (lower case) and what the decoders
// accept (even number of digits, either case, "0x" only when allowed).
#include "common/base/hex.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace attest {
namespace {

using Bytes = std::vector<uint8_t>;

TEST(HexEncode, LowerCaseTwoDigitsPerByte) {
  EXPECT_EQ(HexEncode(Bytes{}), "");
  EXPECT_EQ(HexEncode(Bytes{0x00, 0x0f, 0xa0, 0xff, 0x5c}), "000fa0ff5c");
}

TEST(HexDecode, AcceptsEitherCase) {
  EXPECT_EQ(HexDecode("00ff5cA0"), (Bytes{0x00, 0xff, 0x5c, 0xa0}));
  EXPECT_EQ(HexDecode("ABCDEF"), (Bytes{0xab, 0xcd, 0xef}));
  EXPECT_EQ(HexDecode("aBcD"), (Bytes{0xab, 0xcd}));
}

TEST(HexDecode, EmptyIsNoBytes) {
  EXPECT_EQ(HexDecode(""), Bytes{});
  EXPECT_EQ(HexDecode("", HexPrefix::kAllow), Bytes{});
  EXPECT_EQ(HexDecode("0x", HexPrefix::kAllow), Bytes{});
}

TEST(HexDecode, RefusesOddLengthAndNonDigits) {
  EXPECT_FALSE(HexDecode("a"));
  EXPECT_FALSE(HexDecode("abc"));
  EXPECT_FALSE(HexDecode("0g"));
  EXPECT_FALSE(HexDecode("ab cd"));
  EXPECT_FALSE(HexDecode(" abcd"));
  EXPECT_FALSE(HexDecode("abcd\n"));
  EXPECT_FALSE(HexDecode("-1"));
  EXPECT_FALSE(HexDecode("ab:cd"));
  EXPECT_FALSE(HexDecode(std::string_view("a\0", 2)));
}

TEST(HexDecode, PrefixOnlyWhenAllowedAndOnlyOnce) {
  EXPECT_FALSE(HexDecode("0xab"));
  EXPECT_FALSE(HexDecode("0Xab"));
  EXPECT_EQ(HexDecode("0xab", HexPrefix::kAllow), Bytes{0xab});
  EXPECT_EQ(HexDecode("0XAB", HexPrefix::kAllow), Bytes{0xab});
  EXPECT_FALSE(HexDecode("0x0xab", HexPrefix::kAllow));
  EXPECT_FALSE(HexDecode("0xabc", HexPrefix::kAllow));
  EXPECT_FALSE(HexDecode("x0ab", HexPrefix::kAllow));
  // Without the x, a leading "0" is a digit like any other.
  EXPECT_EQ(HexDecode("0a", HexPrefix::kAllow), Bytes{0x0a});
}

TEST(HexDecodeInto, ExactLengthOnly) {
  std::array<uint8_t, 2> out{};
  EXPECT_TRUE(HexDecodeInto("beEF", out));
  EXPECT_EQ(out, (std::array<uint8_t, 2>{0xbe, 0xef}));
  EXPECT_FALSE(HexDecodeInto("bee", out));
  EXPECT_FALSE(HexDecodeInto("beef00", out));
  EXPECT_FALSE(HexDecodeInto("0xbe", out));
  EXPECT_FALSE(HexDecodeInto("bezz", out));
  std::array<uint8_t, 0> none{};
  EXPECT_TRUE(HexDecodeInto("", none));
}

TEST(Hex, RoundTripsEveryByte) {
  Bytes all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(HexDecode(HexEncode(all)), all);
}

TEST(HexDigitValue, DigitsOnly) {
  EXPECT_EQ(HexDigitValue('0'), 0);
  EXPECT_EQ(HexDigitValue('9'), 9);
  EXPECT_EQ(HexDigitValue('a'), 10);
  EXPECT_EQ(HexDigitValue('F'), 15);
  EXPECT_EQ(HexDigitValue('g'), -1);
  EXPECT_EQ(HexDigitValue('x'), -1);
  EXPECT_EQ(HexDigitValue(' '), -1);
}

}  // namespace
}  // namespace attest
