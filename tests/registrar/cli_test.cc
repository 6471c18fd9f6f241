// attestctl agents ... against a running registrar: enrol, update, show,
// list, remove with table and JSON output, and the exit codes (0 ok, 1 the
// registrar refused, 2 usage or input error).
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/registrar/fixture.h"

namespace attest::registrar::testing {
namespace {

class AttestctlAgentsTest : public RegistrarTest {
 protected:
  void SetUp() override {
    RegistrarTest::SetUp();
    auto id = SoftIdentity::Generate();
    ASSERT_TRUE(id.ok());
    id_ = std::make_unique<SoftIdentity>(std::move(id).value());
    server_ = Start(Config());
    ASSERT_NE(server_, nullptr);
    files_ = std::make_unique<TempDir>("attestctl-agents");
    pcr_ = Write("pcr.json", R"({"sha256": {"0": [")" + std::string(64, '0') + R"("]}})");
    pcr2_ = Write("pcr2.json", R"({"sha256": {"7": [")" + std::string(64, 'b') + R"("]}})");
    bad_ = Write("bad.json", R"({"sha256": {"99": []}})");
    mb_ = Write("mb.json", R"({"version": 1, "kernel_cmdlines": ["ro quiet"]})");
  }
  void TearDown() override {
    if (server_) server_->Stop(std::chrono::seconds(2));
  }

  std::string Write(const std::string& name, const std::string& text) {
    auto p = files_->path() / name;
    std::ofstream(p) << text;
    return p.string();
  }

  // Runs attestctl agents <args> with the connection options; exit code.
  int Ctl(std::vector<std::string> args, std::string* out, const std::string& token_file = "") {
    std::vector<std::string> argv = {ATTESTCTL_BINARY, "agents"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--registrar", "https://127.0.0.1:" + std::to_string(server_->port()),
                             "--ca-file", pki_->ca_cert().string(), "--token-file",
                             token_file.empty() ? *token_file_ : token_file});
    out->clear();
    return attest::testing::RunCommand(argv, out);
  }

  std::unique_ptr<SoftIdentity> id_;
  std::unique_ptr<Registrar> server_;
  std::unique_ptr<TempDir> files_;
  std::string pcr_, pcr2_, bad_, mb_;
};

TEST_F(AttestctlAgentsTest, EnrolUpdateShowListRemove) {
  Enrolable(server_->port(), *id_, kUuid);
  std::string out;
  ASSERT_EQ(
      Ctl({"enrol", kUuid, "--pcr-policy", pcr_, "--mb-policy", mb_, "--interval", "60", "--json"},
          &out),
      0)
      << out;
  auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << out;
  EXPECT_EQ(j["state"], "AGENT_STATE_ENROLLED");
  EXPECT_EQ(j["policyVersions"]["pcr"], "1");  // uint64 is a string in JSON

  ASSERT_EQ(Ctl({"update", kUuid, "--pcr-policy", pcr2_, "--json"}, &out), 0) << out;
  j = nlohmann::json::parse(out, nullptr, false);
  EXPECT_EQ(j["policyVersions"]["pcr"], "2") << out;
  EXPECT_EQ(Scalar("SELECT count(*) FROM policies WHERE kind = 'pcr'"), "2");

  ASSERT_EQ(Ctl({"show", kUuid}, &out), 0) << out;
  EXPECT_NE(out.find("ENROLLED"), std::string::npos) << out;
  EXPECT_NE(out.find("2/0/1"), std::string::npos) << out;  // pcr/runtime/mb versions

  ASSERT_EQ(Ctl({"list", "--json"}, &out), 0) << out;
  j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << out;
  ASSERT_EQ(j["agents"].size(), 1u);
  EXPECT_EQ(j["agents"][0]["agentUuid"], kUuid);
  ASSERT_EQ(Ctl({"list", "--state", "failed"}, &out), 0) << out;
  EXPECT_EQ(out.find(kUuid), std::string::npos) << out;

  // Refused by the registrar: exit 1 with the problem detail.
  const std::string before = Snapshot();
  EXPECT_EQ(Ctl({"update", kUuid, "--pcr-policy", bad_}, &out), 1) << out;
  EXPECT_NE(out.find("PCR policy"), std::string::npos) << out;
  EXPECT_EQ(Snapshot(), before);

  ASSERT_EQ(Ctl({"remove", kUuid}, &out), 0) << out;
  EXPECT_EQ(Scalar("SELECT count(*) FROM registrations"), "0");
  EXPECT_EQ(Ctl({"show", kUuid}, &out), 1) << out;
  EXPECT_NE(out.find("404"), std::string::npos) << out;
}

TEST_F(AttestctlAgentsTest, ExitCodes) {
  std::string out;
  auto wrong = Write("wrong.token", "definitely-not-the-token-123");
  EXPECT_EQ(Ctl({"list"}, &out, wrong), 1) << out;
  EXPECT_NE(out.find("403"), std::string::npos) << out;
  EXPECT_EQ(Ctl({"enrol", kUuid, "--interval", "0"}, &out), 2) << out;  // out of range
  EXPECT_EQ(Ctl({"enrol", kUuid, "--interval", "5", "--pcr-policy", "/nonexistent"}, &out), 2);
  EXPECT_EQ(Ctl({"bogus"}, &out), 2) << out;
  // Unreachable registrar: no answer is an input error, not a refusal.
  std::vector<std::string> argv = {
      ATTESTCTL_BINARY,
      "agents",
      "list",
      "--registrar",
      "https://127.0.0.1:" + std::to_string(attest::testing::FreePort()),
      "--token-file",
      *token_file_,
      "--ca-file",
      pki_->ca_cert().string()};
  EXPECT_EQ(attest::testing::RunCommand(argv, &out), 2) << out;
}

}  // namespace
}  // namespace attest::registrar::testing
