// common/base/uuid.h: the one UUID rule. Where the five copies it replaced
// disagreed, both sides are tested: case (receivers accept either, the agent
// and stored state only lower case) and digits (ASCII only, not the locale).
#include "common/base/uuid.h"

#include <gtest/gtest.h>

#include <clocale>

namespace attest {
namespace {

constexpr std::string_view kLower = "0f8fad5b-d9cb-469f-a165-70867728950e";
constexpr std::string_view kUpper = "0F8FAD5B-D9CB-469F-A165-70867728950E";
constexpr std::string_view kMixed = "0f8FAD5b-d9Cb-469f-A165-70867728950e";

TEST(UuidTest, EitherCaseIsAUuidOnlyLowerCaseIsCanonical) {
  for (auto t : {kLower, kUpper, kMixed}) EXPECT_TRUE(IsUuid(t)) << t;
  EXPECT_TRUE(IsCanonicalUuid(kLower));
  EXPECT_FALSE(IsCanonicalUuid(kUpper));
  EXPECT_FALSE(IsCanonicalUuid(kMixed));
  static_assert(IsCanonicalUuid("00000000-0000-0000-0000-000000000000"));
}

TEST(UuidTest, ParseCanonicalisesAnyCase) {
  for (auto t : {kLower, kUpper, kMixed}) {
    auto u = ParseUuid(t);
    ASSERT_TRUE(u.ok()) << t;
    EXPECT_EQ(*u, kLower);
  }
}

TEST(UuidTest, EverythingElseIsRefusedWithATypedError) {
  for (std::string_view bad : {
           std::string_view(""), std::string_view("0f8fad5b"),
           std::string_view("0f8fad5b-d9cb-469f-a165-70867728950"),    // 35
           std::string_view("0f8fad5b-d9cb-469f-a165-70867728950e0"),  // 37
           std::string_view("0f8fad5bxd9cb-469f-a165-70867728950e"),   // dash
           std::string_view("0f8fad5b-d9cb-469f-a165-70867728950g"),   // digit
           std::string_view("0f8fad5bd-9cb-469f-a165-70867728950e"),   // dash moved
           std::string_view("{f8fad5b-d9cb-469f-a165-70867728950}"),   // braces
           std::string_view(" 0f8fad5b-d9cb-469f-a165-70867728950e"),  // space
           std::string_view("0f8fad5b-d9cb-469f-a165-70867728950\0", 36),
           std::string_view("0f8fad5b-d9cb-469f-a165-7086772895\xc3\xa9"),  // non-ASCII
       }) {
    EXPECT_FALSE(IsUuid(bad)) << bad;
    auto u = ParseUuid(bad);
    ASSERT_FALSE(u.ok()) << bad;
    EXPECT_EQ(u.error().code, base::errc::invalid_value);
    EXPECT_NE(u.error().message.find("is not a UUID (8-4-4-4-12 hex digits)"), std::string::npos);
  }
}

TEST(UuidTest, TheMessageShowsPrintableAsciiOnlyAndAtMost64Characters) {
  auto u = ParseUuid(std::string("\x1b[31m") + std::string(100, 'a'));
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().message.find('\x1b'), std::string::npos);
  EXPECT_EQ(u.error().message,
            "'?[31m" + std::string(59, 'a') + "' is not a UUID (8-4-4-4-12 hex digits)");
}

// The worker and the registrar matched digits with std::isxdigit, which a
// locale may widen; the helper matches ASCII whatever the locale.
TEST(UuidTest, DigitsAreAsciiWhateverTheLocale) {
  const char* old = std::setlocale(LC_CTYPE, nullptr);
  const std::string saved = old != nullptr ? old : "C";
  std::setlocale(LC_CTYPE, "C.UTF-8");
  EXPECT_FALSE(IsUuid("0f8fad5b-d9cb-469f-a165-70867728950\xe9"));
  EXPECT_TRUE(IsUuid(kUpper));
  std::setlocale(LC_CTYPE, saved.c_str());
}

TEST(UuidTest, SameUuidComparesAnyCaseWithTheCanonicalForm) {
  EXPECT_TRUE(SameUuid(kUpper, kLower));
  EXPECT_TRUE(SameUuid(kMixed, kLower));
  EXPECT_TRUE(SameUuid(kLower, kLower));
  EXPECT_FALSE(SameUuid("0f8fad5b-d9cb-469f-a165-70867728950f", kLower));
  EXPECT_FALSE(SameUuid("", ""));  // not a UUID, even if equal
  EXPECT_FALSE(SameUuid(kLower.substr(1), kLower.substr(1)));
}

TEST(UuidTest, TextAndVersion4) {
  std::array<uint8_t, 16> b{};
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(0xf0 + i);
  EXPECT_EQ(UuidText(b), "f0f1f2f3-f4f5-f6f7-f8f9-fafbfcfdfeff");
  const std::string v4 = UuidText(UuidV4(b));
  EXPECT_EQ(v4, "f0f1f2f3-f4f5-46f7-b8f9-fafbfcfdfeff");
  EXPECT_TRUE(IsCanonicalUuid(v4));
  std::array<uint8_t, 16> zero{};
  EXPECT_EQ(UuidText(UuidV4(zero)), "00000000-0000-4000-8000-000000000000");
}

}  // namespace
}  // namespace attest
