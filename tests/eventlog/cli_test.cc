// attestctl eventlog/policy commands: JSON shapes and exit codes (0 pass,
// 1 fail, 2 bad input with one line naming the file).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/eventlog/replay.h"
#include "tests/eventlog/test_logs.h"
#include "tests/harness/util/process.h"

namespace attest::eventlog {
namespace {

std::string Attestctl() { return std::string(ATTEST_BINARY_DIR) + "/attestctl/attestctl"; }

void WriteFile(const std::filesystem::path& p, const Bytes& b) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

int RunCtl(const std::vector<std::string>& args, std::string* out) {
  std::vector<std::string> argv{Attestctl()};
  argv.insert(argv.end(), args.begin(), args.end());
  out->clear();
  return attest::testing::RunCommand(argv, out);
}

class AttestctlEventlog : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(Attestctl())) GTEST_SKIP() << "attestctl not built";
  }
  attest::testing::TempDir tmp_{"eventlog-cli"};
};

TEST_F(AttestctlEventlog, ReplayJsonShape) {
  std::string out;
  auto log = testing::UefiDir() / "binary_bios_measurements";
  ASSERT_EQ(RunCtl({"eventlog", "replay", "--json", log.string()}, &out), 0) << out;
  auto j = nlohmann::json::parse(out);
  ASSERT_TRUE(j.is_object());
  ASSERT_EQ(j.size(), 1u);
  const auto& pcrs = j.at("pcrs");
  ASSERT_EQ(pcrs.size(), 2u);
  PcrValues expected = Replay(testing::ParseOrDie(testing::KeylimeLog())).value();
  for (const auto& [bank, values] : pcrs.items()) {
    auto alg_id = HashAlgFromName(bank);
    ASSERT_TRUE(alg_id.has_value()) << bank;
    ASSERT_EQ(values.size(), expected.at(*alg_id).size());
    for (const auto& [index, hex] : values.items()) {
      ASSERT_TRUE(hex.is_string());
      std::string h = hex.get<std::string>();
      EXPECT_EQ(h.size(), HashAlgSize(*alg_id) * 2);
      EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos) << h;
      EXPECT_EQ(h, ToHex(expected.at(*alg_id).at(static_cast<uint32_t>(std::stoul(index)))));
    }
  }
  EXPECT_TRUE(pcrs.at("sha256").contains("14"));
  EXPECT_FALSE(pcrs.at("sha256").contains("10"));  // not extended by this log
}

TEST_F(AttestctlEventlog, AcceptsBase64Log) {
  std::string out;
  auto b64 = testing::UefiDir() / "mb_log.b64";
  ASSERT_EQ(RunCtl({"eventlog", "replay", "--json", b64.string()}, &out), 0) << out;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j.at("pcrs").at("sha256").at("7").get<std::string>(),
            "b4d804679133a73c3988362ef234fbf597f0490d1a0cae072949b63a93fb7b39");
  ASSERT_EQ(RunCtl({"eventlog", "show", "--json", "--base64", b64.string()}, &out), 0) << out;
  EXPECT_EQ(nlohmann::json::parse(out).at("events").size(), 102u);
}

TEST_F(AttestctlEventlog, CheckExitCodes) {
  std::string out;
  auto b64 = testing::UefiDir() / "mb_log.b64";
  ASSERT_EQ(RunCtl({"policy", "mb-from-log", "--log", b64.string()}, &out), 0) << out;
  auto policy = tmp_.path() / "mb.json";
  WriteFile(policy, Bytes(out.begin(), out.end()));
  EXPECT_TRUE(nlohmann::json::parse(out).at("secureboot").at("required").get<bool>());

  EXPECT_EQ(RunCtl({"eventlog", "check", "--log", b64.string(), "--policy", policy.string()}, &out),
            0)
      << out;

  // Secure Boot off (digests recomputed): fails, naming the component.
  Bytes bytes = testing::MbLog();
  EventLog log = testing::ParseOrDie(bytes);
  const Event& sb = log.events[4];
  ASSERT_EQ(sb.variable->name, "SecureBoot");
  bytes[sb.data_offset + sb.data.size() - 1] = 0;
  testing::RecomputeDigests(bytes, sb);
  auto edited = tmp_.path() / "sb-off.bin";
  WriteFile(edited, bytes);
  EXPECT_EQ(
      RunCtl({"eventlog", "check", "--json", "--log", edited.string(), "--policy", policy.string()},
             &out),
      1)
      << out;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j.at("result"), "fail");
  EXPECT_EQ(j.at("failures").at(0).at("id"), "measured_boot.policy.secureboot_disabled");
  EXPECT_EQ(j.at("failures").at(0).at("context").at("event"), "4");

  // Bad inputs: exit 2, one line naming the file.
  auto bogus = testing::UefiDir() / "binary_bios_measurements-bogus";
  EXPECT_EQ(
      RunCtl({"eventlog", "check", "--log", bogus.string(), "--policy", policy.string()}, &out), 2);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_NE(out.find(bogus.string()), std::string::npos) << out;
  auto empty = testing::UefiDir() / "binary_bios_measurements-empty";
  EXPECT_EQ(RunCtl({"eventlog", "replay", empty.string()}, &out), 2);
  EXPECT_NE(out.find("empty event log"), std::string::npos) << out;
  auto bad_policy = tmp_.path() / "bad.json";
  WriteFile(bad_policy, Bytes{'{', '}'});
  EXPECT_EQ(
      RunCtl({"eventlog", "check", "--log", b64.string(), "--policy", bad_policy.string()}, &out),
      2);
  EXPECT_NE(out.find(bad_policy.string()), std::string::npos) << out;
  EXPECT_NE(out.find("version"), std::string::npos) << out;
}

}  // namespace
}  // namespace attest::eventlog
