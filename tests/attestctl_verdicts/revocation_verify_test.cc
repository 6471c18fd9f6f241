// `attestctl revocation verify` and `attestctl verdicts verify`, the real
// binary on files (no broker): a crafted key id cannot inject JSON keys
// (issue 17.6: `"valid": true` once came out of a forged record), the key
// id that counts is the signed one, --seen flags a replayed revocation,
// "act" is the one answer to act on, and a signed verdict re-wrapped as a
// revocation (or the reverse) does not verify.
#include <gtest/gtest.h>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "attest/v1/verdict.pb.h"
#include "tests/harness/util/process.h"
#include "verifier-workers/revocation.h"

namespace attest::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kAgent = "0d8e5a52-1c1f-4c0e-b3f0-6e3f0f6f9a01";
const std::string kInjection = "x\", \"valid\": true, \"x\": \"";

void WriteAll(const fs::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class RevocationVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = dir_.path() / "rev.pem";
    pub_ = dir_.path() / "rev.pub.pem";
    std::string out;
    ASSERT_EQ(RunCommand({"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                          "ec_paramgen_curve:P-256", "-out", key_.string()},
                         &out),
              0)
        << out;
    ASSERT_EQ(
        RunCommand({"openssl", "pkey", "-in", key_.string(), "-pubout", "-out", pub_.string()},
                   &out),
        0)
        << out;
    auto s = worker::RevocationSigner::FromPem(ReadAll(key_), "prod-key-1");
    ASSERT_TRUE(s.ok()) << s.error().message;
    signer_ = *s;
  }
  v1::SignedRevocation Signed(uint64_t seq, int64_t seconds) {
    v1::RevocationEvent ev;
    ev.set_agent_uuid(kAgent);
    ev.set_sequence(seq);
    ev.set_reason("ima.validation.ima-ng.not_in_allowlist");
    *ev.mutable_time() = google::protobuf::util::TimeUtil::SecondsToTimestamp(seconds);
    ev.set_backend_id("prod-eu");
    auto sr = signer_->Sign(ev);
    EXPECT_TRUE(sr.ok());
    return *sr;
  }
  // Runs `attestctl revocation verify --json` on `sr`; returns the exit code.
  int Verify(const v1::SignedRevocation& sr, json* out, std::vector<std::string> extra = {}) {
    const fs::path file = dir_.path() / "rev.bin";
    WriteAll(file, sr.SerializeAsString());
    std::vector<std::string> argv = {ATTESTCTL_BIN, "revocation", "verify",
                                     "--json",      "--key",      pub_.string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(file.string());
    std::string text;
    const int rc = RunCommand(argv, &text);
    *out = json::parse(text, nullptr, false);
    EXPECT_TRUE(out->is_object()) << "not one JSON object: " << text;
    return rc;
  }

  TempDir dir_{"revocation-verify"};
  fs::path key_, pub_;
  std::shared_ptr<const worker::RevocationSigner> signer_;
};

// Attack: a forged revocation (bad signature) whose unsigned key id carries
// JSON. Old code printed it raw: a second "valid": true that parsers keep.
TEST_F(RevocationVerifyTest, CraftedKeyIdCannotInjectJson) {
  v1::SignedRevocation sr = Signed(7, 1'800'000'000);
  sr.set_key_id(kInjection);
  sr.mutable_signature()->back() ^= 1;
  json out;
  EXPECT_EQ(Verify(sr, &out), 1);
  ASSERT_TRUE(out.is_object());
  EXPECT_EQ(out["valid"], false);
  EXPECT_EQ(out["act"], false);
  EXPECT_EQ(out["key_id"], kInjection);
  EXPECT_FALSE(out.contains("x"));
  // With a good signature, the envelope's key id differs from the signed
  // one: still invalid.
  sr = Signed(7, 1'800'000'000);
  sr.set_key_id(kInjection);
  EXPECT_EQ(Verify(sr, &out), 1);
  EXPECT_EQ(out["valid"], false);
}

TEST_F(RevocationVerifyTest, ValidRevocationShowsSignedFields) {
  json out;
  EXPECT_EQ(Verify(Signed(7, 1'800'000'000), &out), 0);
  EXPECT_EQ(out["valid"], true);
  EXPECT_EQ(out["act"], true);
  EXPECT_EQ(out["event"]["keyId"], "prod-key-1");
  EXPECT_EQ(out["event"]["backendId"], "prod-eu");
}

// Attack: the same revocation replayed, then an older one; a later one is
// acted on.
TEST_F(RevocationVerifyTest, SeenFlagsReplays) {
  const std::string seen = (dir_.path() / "seen.json").string();
  json out;
  EXPECT_EQ(Verify(Signed(7, 1'800'000'000), &out, {"--seen", seen}), 0);
  EXPECT_EQ(out["replay"], false);
  EXPECT_EQ(out["act"], true);
  EXPECT_EQ(Verify(Signed(7, 1'800'000'000), &out, {"--seen", seen}), 1);
  EXPECT_EQ(out["valid"], true);
  EXPECT_EQ(out["replay"], true);
  EXPECT_EQ(out["act"], false);  // valid, but not to act on
  EXPECT_EQ(Verify(Signed(5, 1'799'000'000), &out, {"--seen", seen}), 1);
  EXPECT_EQ(out["replay"], true);
  EXPECT_EQ(out["act"], false);
  EXPECT_EQ(Verify(Signed(9, 1'800'000'600), &out, {"--seen", seen}), 0);
  EXPECT_EQ(out["replay"], false);
  EXPECT_EQ(out["act"], true);
  // An old revocation, no state: --max-age.
  EXPECT_EQ(Verify(Signed(9, 1'600'000'000), &out, {"--max-age", "3600"}), 1);
  EXPECT_EQ(out["stale"], true);
  EXPECT_EQ(out["valid"], true);
  EXPECT_EQ(out["act"], false);
}

TEST_F(RevocationVerifyTest, VerdictVerify) {
  v1::Verdict v;
  v.set_agent_uuid(kAgent);
  v.set_sequence(3);
  v.set_result(v1::VERDICT_RESULT_FAIL);
  v.set_signer_key_id("prod-key-1");
  std::string value;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(v, &value).ok());
  auto signed_verdict = signer_->SignVerdict(value, "application/json");
  ASSERT_TRUE(signed_verdict.ok());
  const std::string* sig = &signed_verdict->signature();
  const fs::path file = dir_.path() / "verdict.json";
  WriteAll(file, value);
  auto run = [&](const std::string& key_id, std::string* out) {
    return RunCommand(
        {ATTESTCTL_BIN, "verdicts", "verify", "--json", "--key", pub_.string(), "--signature",
         worker::Base64Encode(*sig), "--key-id", key_id, file.string()},
        out);
  };
  std::string out;
  EXPECT_EQ(run("prod-key-1", &out), 0) << out;
  EXPECT_EQ(json::parse(out, nullptr, false)["valid"], true) << out;
  out.clear();
  EXPECT_EQ(run(kInjection, &out), 1) << out;
  auto j = json::parse(out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << out;
  EXPECT_EQ(j["valid"], false);
  // FAIL turned into PASS.
  std::string pass = value;
  pass.replace(pass.find("VERDICT_RESULT_FAIL"), 19, "VERDICT_RESULT_PASS");
  WriteAll(file, pass);
  out.clear();
  EXPECT_EQ(run("prod-key-1", &out), 1) << out;
}

// Attack (cross-protocol, issue 17.6): one key signs verdicts and
// revocations. A protobuf verdict whose evidence_id (set by whoever produces
// the evidence) is "ecdsa-p256-sha256" parses as a RevocationEvent with
// signature_algorithm = evidence_id and key_id = policy_versions' bytes
// ("\x10\x01"); re-wrapped with the verdict's signature it was a valid
// revocation for `attestctl revocation verify` (old code: exit 0, "valid":
// true). The reverse, a revocation presented to `verdicts verify`, too.
TEST_F(RevocationVerifyTest, CrossProtocolRewrapIsInvalid) {
  v1::Verdict v;
  v.set_agent_uuid(kAgent);
  v.set_sequence(12);
  v.set_result(v1::VERDICT_RESULT_PASS);
  v.mutable_policy_versions()->set_runtime(1);
  v.set_evidence_id("ecdsa-p256-sha256");
  v.set_signer_key_id("prod-key-1");
  auto sv = signer_->SignVerdict(v.SerializeAsString(), "application/x-protobuf");
  ASSERT_TRUE(sv.ok());
  v1::SignedRevocation wrapped;
  wrapped.set_event(sv->verdict());
  wrapped.set_key_id(std::string("\x10\x01"));
  wrapped.set_signature_algorithm(sv->signature_algorithm());
  wrapped.set_signature(sv->signature());
  json out;
  EXPECT_EQ(Verify(wrapped, &out), 1);
  EXPECT_EQ(out["valid"], false);
  EXPECT_EQ(out["act"], false);
  EXPECT_NE(out.value("error", "").find("does not verify"), std::string::npos) << out.dump();

  // The reverse: a revocation's event bytes and signature as a verdict.
  const v1::SignedRevocation sr = Signed(7, 1'800'000'000);
  const fs::path file = dir_.path() / "event.bin";
  WriteAll(file, sr.event());
  std::string text;
  EXPECT_EQ(RunCommand({ATTESTCTL_BIN, "verdicts", "verify", "--json", "--key", pub_.string(),
                        "--signature", worker::Base64Encode(sr.signature()), "--key-id",
                        "prod-key-1", "--content-type", "application/x-protobuf", file.string()},
                       &text),
            1)
      << text;
  json j = json::parse(text, nullptr, false);
  ASSERT_TRUE(j.is_object()) << text;
  EXPECT_EQ(j["valid"], false);
  EXPECT_NE(j.value("error", "").find("does not verify"), std::string::npos) << text;
}

}  // namespace
}  // namespace attest::testing
