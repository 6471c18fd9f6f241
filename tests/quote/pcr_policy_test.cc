// PCR policy parsing and checking against the Keylime quote's PCR values.
#include <gtest/gtest.h>

#include "common/checks/pcr_policy.h"
#include "tests/quote/quote_test_util.h"

namespace attest {
namespace {

using testing::KeylimeQuoteDir;
using testing::ReadBytes;

tpm::PcrValues KeylimeValues() {
  return tpm::ParseTpm2ToolsPcrFile(ReadBytes(KeylimeQuoteDir() / "quotepcr.out"))->values;
}

const std::string k16 = "9dbb22387e019c04da95477333546082ce313152c4a7f8a6e1d5f0c77f4fb6f0";

TEST(PcrPolicy, PassesWhenEveryValueIsAllowed) {
  auto p = checks::ParsePcrPolicy(R"({"sha256": {"16": ["00", "0x)" + k16 + R"("], "15": [")" +
                                  std::string(64, '0') + R"("]}})");
  ASSERT_FALSE(p);  // "00" is not a 32-byte digest
  p = checks::ParsePcrPolicy(R"({"sha256": {"16": ["0x)" + k16 + R"("], "15": [")" +
                             std::string(64, '0') + R"("]}})");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_TRUE(checks::CheckPcrPolicy(*p, KeylimeValues()).empty());
  EXPECT_TRUE(checks::CheckPcrPolicy(*checks::ParsePcrPolicy("{}"), KeylimeValues()).empty());
}

TEST(PcrPolicy, InvalidAndMissingPcrs) {
  auto p = checks::ParsePcrPolicy(R"({"sha256": {"22": [")" + k16 + R"("], "10": [")" + k16 +
                                  R"("]}, "sha1": {"0": [")" + std::string(40, 'a') + R"("]}})");
  ASSERT_TRUE(p) << p.error().message;
  auto f = checks::CheckPcrPolicy(*p, KeylimeValues());
  ASSERT_EQ(f.size(), 3u);
  std::set<std::string> ids;
  for (const auto& x : f) ids.insert(x.event_id);
  EXPECT_TRUE(ids.contains("pcr_validation.invalid_pcr_22"));
  EXPECT_TRUE(ids.contains("pcr_validation.missing_pcr_10"));
  EXPECT_TRUE(ids.contains("pcr_validation.missing_pcr_0"));
  for (const auto& x : f) {
    if (x.event_id.ends_with("invalid_pcr_22")) {
      EXPECT_NE(checks::ContextJson(x.context).find(k16), std::string::npos);
      EXPECT_NE(checks::ContextJson(x.context).find(std::string(64, 'f')), std::string::npos);
    }
  }
}

TEST(PcrPolicy, RejectsMalformedPolicies) {
  for (const char* bad :
       {"", "[]", R"({"md5": {}})", R"({"sha256": {"24": ["00"]}})", R"({"sha256": {"x": ["00"]}})",
        R"({"sha256": {"1": []}})", R"({"sha256": {"1": [1]}})", R"({"sha256": []})"}) {
    EXPECT_FALSE(checks::ParsePcrPolicy(bad)) << bad;
  }
}

}  // namespace
}  // namespace attest
