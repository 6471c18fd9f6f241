// attestctl ima check / policy runtime-from-log: exit codes and messages.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/ima/test_util.h"

namespace attest::ima {
namespace {

using attest::testing::RunCommand;

int Ctl(std::vector<std::string> args, std::string* out) {
  args.insert(args.begin(), ATTESTCTL_PATH);
  return RunCommand(args, out);
}

std::string Conf(const char* name) { return (test::ConformanceDir() / name).string(); }

TEST(ImaCli, PassAndFail) {
  std::string out;
  EXPECT_EQ(
      Ctl({"ima", "check", "--log", Conf("combined.log"), "--policy", Conf("policy-test.json")},
          &out),
      0)
      << out;
  EXPECT_NE(out.find("PASS"), std::string::npos);
  EXPECT_NE(out.find("pcr10 sha1: "), std::string::npos);
  out.clear();
  EXPECT_EQ(Ctl({"ima", "check", "--log", Conf("signatures.log"), "--keys",
                 (test::ConformanceDir() / "keys" / "rsa2048pub.pem").string()},
                &out),
            1)
      << out;
  EXPECT_NE(out.find("entry 1: ima.validator.ima-sig.invalid_signature: /usr/bin/zmore"),
            std::string::npos)
      << out;
  out.clear();
  EXPECT_EQ(Ctl({"ima", "check", "--log", Conf("measurements.log"), "--json", "--pcr10",
                 std::string(40, 'a')},
                &out),
            1);
  EXPECT_NE(out.find("ima.pcr_mismatch"), std::string::npos) << out;
}

TEST(ImaCli, MissingAndGarbageFiles) {
  std::string out;
  EXPECT_EQ(Ctl({"ima", "check", "--log", "/nonexistent/ima.log"}, &out), 2);
  EXPECT_NE(out.find("/nonexistent/ima.log: cannot open file"), std::string::npos) << out;
  attest::testing::TempDir dir;
  std::string garbage = (dir.path() / "garbage").string();
  std::ofstream(garbage) << "\x01\x02garbage that is no IMA list\n";
  out.clear();
  EXPECT_EQ(Ctl({"ima", "check", "--log", garbage}, &out), 2);
  EXPECT_NE(out.find(garbage + ": "), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  std::string text_garbage = (dir.path() / "text").string();
  std::ofstream(text_garbage) << "10 nothex ima-ng x y\n";
  out.clear();
  EXPECT_EQ(Ctl({"ima", "check", "--log", text_garbage}, &out), 2);
  EXPECT_NE(out.find(text_garbage + ": line 1: "), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(Ctl({"ima", "check", "--log", Conf("measurements.log"), "--policy", garbage}, &out), 2);
  EXPECT_NE(out.find(garbage + ": "), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(Ctl({"ima", "check"}, &out), 2);
}

TEST(ImaCli, GeneratedPolicyAcceptsLog) {
  attest::testing::TempDir dir;
  std::string log = (test::ImaDir() / "rust-keylime-ascii_runtime_measurements").string();
  std::string policy;
  ASSERT_EQ(Ctl({"policy", "runtime-from-log", "--log", log}, &policy), 0) << policy;
  std::string path = (dir.path() / "policy.json").string();
  std::ofstream(path) << policy;
  std::string out;
  EXPECT_EQ(Ctl({"ima", "check", "--log", log, "--policy", path}, &out), 0) << out;
}

}  // namespace
}  // namespace attest::ima
