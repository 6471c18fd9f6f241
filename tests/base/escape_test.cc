// EscapeBytes: lossless, always valid UTF-8, no control characters; the one
// escaping of agent-controlled bytes (docs/soc.md).
#include "common/base/escape.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

namespace attest {
namespace {

TEST(EscapeTest, PlainPathsAndUtf8AreUnchanged) {
  EXPECT_EQ(EscapeBytes("/usr/bin/bash"), "/usr/bin/bash");
  EXPECT_EQ(EscapeBytes("/home/j\xc3\xbcrgen/a b"), "/home/j\xc3\xbcrgen/a b");
  EXPECT_EQ(EscapeBytes("\xf0\x9f\x94\x91"), "\xf0\x9f\x94\x91");  // U+1F511
}

TEST(EscapeTest, ControlsInvalidBytesAndBackslashesAreEscaped) {
  EXPECT_EQ(EscapeBytes(std::string("/tmp/a\nb\xff", 9)), "/tmp/a\\x0ab\\xff");
  EXPECT_EQ(EscapeBytes(std::string("\0", 1)), "\\x00");
  EXPECT_EQ(EscapeBytes("\x1b[31mred"), "\\x1b[31mred");
  EXPECT_EQ(EscapeBytes("a\\xff"), "a\\\\xff");
  EXPECT_EQ(EscapeBytes("\x7f"), "\\x7f");
  EXPECT_EQ(EscapeBytes("\xc2\x9b"), "\\xc2\\x9b");                    // C1 CSI
  EXPECT_EQ(EscapeBytes("\xe2\x80\xae"), "\\xe2\\x80\\xae");           // RIGHT-TO-LEFT OVERRIDE
  EXPECT_EQ(EscapeBytes("\xc0\xaf"), "\\xc0\\xaf");                    // overlong '/'
  EXPECT_EQ(EscapeBytes("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // surrogate
  EXPECT_EQ(EscapeBytes("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  EXPECT_EQ(EscapeBytes("\xe2\x82"), "\\xe2\\x82");                    // truncated
}

TEST(EscapeTest, RoundTripsEveryByteAndIsValidJsonString) {
  std::mt19937 rng(7);
  for (int n = 0; n < 2000; ++n) {
    std::string in(static_cast<size_t>(rng() % 64), '\0');
    for (auto& c : in) c = static_cast<char>(rng() % 256);
    const std::string out = EscapeBytes(in);
    auto back = UnescapeBytes(out);
    ASSERT_TRUE(back.has_value());
    ASSERT_EQ(*back, in);
    for (unsigned char c : out) ASSERT_FALSE(c < 0x20 || c == 0x7f);
    // Valid UTF-8: nlohmann's strict dump would throw otherwise.
    EXPECT_NO_THROW((void)nlohmann::json(out).dump());
    EXPECT_EQ(TerminalSafe(out), out);  // already safe text passes unchanged
  }
}

TEST(EscapeTest, TerminalSafeKeepsBackslashesAndEscapesControls) {
  EXPECT_EQ(TerminalSafe("a\\b"), "a\\b");
  EXPECT_EQ(TerminalSafe("\x1b]0;owned\x07"), "\\x1b]0;owned\\x07");
  EXPECT_EQ(TerminalSafe("\xff"), "\\xff");
}

TEST(EscapeTest, UnescapeRefusesWhatEscapeNeverWrites) {
  EXPECT_FALSE(UnescapeBytes("a\\").has_value());
  EXPECT_FALSE(UnescapeBytes("\\q").has_value());
  EXPECT_FALSE(UnescapeBytes("\\x4").has_value());
  EXPECT_EQ(*UnescapeBytes("\\x41\\\\"), "A\\");
}

}  // namespace
}  // namespace attest
