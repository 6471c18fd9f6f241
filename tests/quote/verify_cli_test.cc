// `attestctl verify quote` on Keylime's real quote: exit 0 on the right
// nonce, 1 on a tampered input, 2 on unreadable input, and --json output.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "tests/harness/util/process.h"

namespace attest {
namespace {

using testing::RunCommand;
using testing::TestdataDir;

std::string Hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

class VerifyQuoteCli : public ::testing::Test {
 protected:
  std::string Dir() const { return (TestdataDir() / "keylime" / "quote").string(); }
  std::vector<std::string> Args(const std::string& nonce_hex,
                                const std::string& message = "") const {
    return {ATTESTCTL_PATH,
            "verify",
            "quote",
            "--ak",
            Dir() + "/akpub.pem",
            "--message",
            message.empty() ? Dir() + "/quote.out" : message,
            "--signature",
            Dir() + "/quotesig.out",
            "--pcrs",
            Dir() + "/quotepcr.out",
            "--nonce",
            nonce_hex};
  }
  std::string Nonce() const { return Hex(testing::ReadFile(Dir() + "/rand.out")); }
};

TEST_F(VerifyQuoteCli, PassesWithTheRightNonce) {
  std::string out;
  EXPECT_EQ(RunCommand(Args(Nonce()), &out), 0) << out;
}

TEST_F(VerifyQuoteCli, FailsWithAWrongNonce) {
  std::string nonce = Nonce();
  nonce[0] = nonce[0] == '0' ? '1' : '0';
  std::string out;
  EXPECT_EQ(RunCommand(Args(nonce), &out), 1) << out;
  EXPECT_NE(out.find("quote.nonce_mismatch"), std::string::npos) << out;
}

TEST_F(VerifyQuoteCli, JsonOutputIsParseable) {
  auto args = Args(Nonce());
  args.push_back("--json");
  std::string out;
  ASSERT_EQ(RunCommand(args, &out), 0) << out;
  auto doc = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << out;
}

TEST_F(VerifyQuoteCli, UnreadableOrGarbageInputIsAUsageError) {
  std::string out;
  EXPECT_EQ(RunCommand(Args(Nonce(), "/nonexistent/quote.out"), &out), 2) << out;
  EXPECT_NE(out.find("/nonexistent/quote.out"), std::string::npos) << out;

  testing::TempDir dir;
  std::string garbage = (dir.path() / "garbage.bin").string();
  std::ofstream(garbage) << "this is not a TPMS_ATTEST";
  out.clear();
  int rc = RunCommand(Args(Nonce(), garbage), &out);
  EXPECT_TRUE(rc == 1 || rc == 2) << rc << " " << out;
  EXPECT_EQ(out.find("Segmentation"), std::string::npos);

  out.clear();
  EXPECT_EQ(RunCommand({ATTESTCTL_PATH, "verify", "quote", "--ak"}, &out), 2) << out;
}

}  // namespace
}  // namespace attest
