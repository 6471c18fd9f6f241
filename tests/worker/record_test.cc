// The worker's record path without a database or broker (ProcessRecord):
// hostile IMA paths end in a FAIL verdict naming the path escaped once, in
// the protobuf verdict, its JSON twin and the history row; records that are
// not envelopes, or name another agent, are REJECTED; and every record of the
// fuzzer's seed corpus (fuzz/worker/corpus) keeps the fuzzer's invariants,
// so the corpus runs in every test pass and under the sanitizers.
//
// ATTEST_WRITE_RECORD_SEEDS=dir writes the hostile records built here as
// seeds into dir (how fuzz/worker/corpus/hostile-* and real-* were made).
// The lab-* seeds are records of the lab's evidence topic (kcat), taken
// after `lab.sh tamper 1 $'/tmp/\xff\e[31mlab-evil'` and `lab.sh burst 2
// 1500000`: a steady round, the tampered round, a 1 MiB part of the burst.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/base/escape.h"
#include "common/checks/failure_ids.h"
#include "common/ima/failure_ids.h"
#include "common/ima/log.h"
#include "common/tpm/marshal.h"
#include "fuzz/worker/record_harness.h"

namespace attest::worker {
namespace {

using fuzz::kAgent;

// The PCR-10 value after `log` on a fresh boot (sha256 bank).
tpm::Bytes Pcr10(const ima::Log& log) {
  ima::Hasher h;
  ima::Digest pcr = ima::Digest::Filled(32, 0);
  for (const auto& e : log.entries) {
    auto d = h.Hash(ima::HashAlg::kSha256, ima::AsBytes(e.data));
    pcr = h.Hash2(ima::HashAlg::kSha256, pcr.view(), d.view());
  }
  return tpm::Bytes(pcr.view().begin(), pcr.view().end());
}

ima::Log LogWith(const std::string& path) {
  ima::Log log;
  auto e = ima::MakeEntry(ima::Template::kImaNg, "sha256", tpm::Bytes(32, 0x42), path);
  EXPECT_TRUE(e.ok());
  ima::Hasher h;
  e->template_hash = h.Hash(ima::HashAlg::kSha1, ima::AsBytes(e->data));
  log.entries.push_back(*e);
  return log;
}

// An unsigned envelope carrying `log` (ascii or binary) and its PCR 10.
std::string EnvelopeFor(const ima::Log& log, bool binary) {
  v1::EvidenceEnvelope env;
  env.set_evidence_id("e-1");
  auto* e = env.mutable_evidence();
  e->set_agent_uuid(kAgent);
  auto* bank = e->mutable_quote()->add_pcrs();
  bank->set_hash_algorithm(v1::HASH_ALGORITHM_SHA256);
  const tpm::Bytes pcr10 = Pcr10(log);
  (*bank->mutable_values())[10] = std::string(pcr10.begin(), pcr10.end());
  auto* ima = e->mutable_ima();
  ima->set_format(binary ? v1::IMA_LOG_FORMAT_BINARY : v1::IMA_LOG_FORMAT_ASCII);
  ima->set_entry_count(log.entries.size());
  ima->set_data(binary ? ima::WriteBinary(log) : ima::WriteAscii(log));
  std::string out;
  env.SerializeToString(&out);
  return out;
}

void MaybeWriteSeed(const std::string& name, uint8_t mode, uint8_t flags,
                    const std::string& value) {
  const char* dir = std::getenv("ATTEST_WRITE_RECORD_SEEDS");
  if (dir == nullptr) return;
  std::ofstream(std::filesystem::path(dir) / name, std::ios::binary)
      << static_cast<char>(mode) << static_cast<char>(flags) << value;
}

struct Processed {
  Outcome out;
  AgentRow row;
  v1::Verdict verdict;
};

Processed Process(const std::string& value, bool json, int state = 1) {
  const Context ctx = fuzz::MakeContext(json);
  Processed p;
  p.row = fuzz::MakeRow(state);
  const AgentRow before = p.row;
  auto& setup = fuzz::TheSetup();
  p.out =
      ProcessRecord(ctx, value, EvidenceRef{3, 42}, p.row, setup.key, setup.policies, setup.now);
  const char* broken = fuzz::CheckOutcome(ctx, before, p.row, p.out);
  EXPECT_EQ(broken, nullptr) << broken;
  if (json) {
    EXPECT_TRUE(
        google::protobuf::util::JsonStringToMessage(p.out.outbox.at(0).payload, &p.verdict).ok());
  } else {
    EXPECT_TRUE(p.verdict.ParseFromString(p.out.outbox.at(0).payload));
  }
  return p;
}

struct HostilePath {
  const char* name;
  std::string path;
  bool binary;  // the ascii list cannot carry a newline
  friend void PrintTo(const HostilePath& h, std::ostream* os) { *os << h.name; }
};

class HostilePathTest : public ::testing::TestWithParam<HostilePath> {};

TEST_P(HostilePathTest, FailsWithThePathEscapedOnceInEveryEncoding) {
  const HostilePath& h = GetParam();
  std::string value = EnvelopeFor(LogWith(h.path), h.binary);
  MaybeWriteSeed(std::string("hostile-") + h.name, 1, 0, value);
  ASSERT_TRUE(fuzz::Authenticate(value, 0));
  for (bool json : {false, true}) {
    SCOPED_TRACE(json ? "json" : "protobuf");
    Processed p = Process(value, json);
    ASSERT_EQ(p.verdict.result(), v1::VERDICT_RESULT_FAIL) << p.verdict.DebugString();
    EXPECT_EQ(p.row.state, EnrolmentState::kFailed);
    bool found = false;
    for (const auto& f : p.verdict.failures()) {
      if (f.event_id() != "ima.validation.ima-ng.not_in_allowlist") continue;
      auto ctx = nlohmann::json::parse(f.context());
      EXPECT_EQ(ctx.at("path"), EscapeBytes(h.path));
      EXPECT_EQ(UnescapeBytes(ctx.at("path").get<std::string>()), h.path);
      found = true;
    }
    EXPECT_TRUE(found) << p.verdict.DebugString();
    auto history = nlohmann::json::parse(p.out.history.failures_json);
    EXPECT_NE(history.dump().find(nlohmann::json(EscapeBytes(h.path)).dump()), std::string::npos);
    // The transition to FAILED is revoked: a signed revocation follows.
    ASSERT_EQ(p.out.outbox.size(), 2u);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Paths, HostilePathTest,
    ::testing::Values(HostilePath{"ff-escape", "/tmp/\xff\x1b[2J\x1b]0;owned\x07\\x41", false},
                      HostilePath{"space", "/opt/my app/run me", false},
                      HostilePath{"newline", "/tmp/a\nb", true},
                      HostilePath{"controls", "/tmp/\x01\x7f\xc2\x9b z", true},
                      HostilePath{"long", "/" + std::string(3999, 'p'), true}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (auto& c : n) c = c == '-' ? '_' : c;
      return n;
    });

// One authentic part full of unknown files must still give a verdict and a
// revocation that fit one Kafka message (the relay's producer keeps the 1 MB
// default): findings are capped and say how many were left out.
TEST(RecordTest, ThousandsOfViolationsGiveABoundedVerdict) {
  ima::Log log;
  ima::Hasher h;
  for (int i = 0; i < 3000; ++i) {
    auto e = ima::MakeEntry(ima::Template::kImaNg, "sha256", tpm::Bytes(32, 0x42),
                            "/opt/new/" + std::string(200, 'x') + std::to_string(i));
    ASSERT_TRUE(e.ok());
    e->template_hash = h.Hash(ima::HashAlg::kSha1, ima::AsBytes(e->data));
    log.entries.push_back(*e);
  }
  std::string value = EnvelopeFor(log, true);
  ASSERT_TRUE(fuzz::Authenticate(value, 0));
  Processed p = Process(value, false);
  ASSERT_EQ(p.verdict.result(), v1::VERDICT_RESULT_FAIL);
  ASSERT_EQ(p.verdict.failures_size(), 65);
  EXPECT_EQ(p.verdict.failures(64).event_id(), "verdict.findings_truncated");
  // 3,000 unknown files: 64 kept. (The harness quotes PCRs 0-7 and 10 as a
  // default gateway asks, so the PCR policy's PCR 0 is there.)
  EXPECT_EQ(nlohmann::json::parse(p.verdict.failures(64).context()).at("omitted"), 3000 - 64);
  ASSERT_EQ(p.out.outbox.size(), 2u);
  EXPECT_LT(p.out.outbox[0].payload.size(), 1'000'000u);
  EXPECT_LT(p.out.outbox[1].payload.size(), 10'000u);  // each event id once
}

TEST(RecordTest, TextBeyondPathMaxIsCutAndSaysSo) {
  const std::string path = "/" + std::string(5000, 'a');
  checks::Context ctx = {{"path", path}};
  auto j = nlohmann::json::parse(checks::ContextJson(ctx));
  EXPECT_EQ(j.at("path").get<std::string>().size(), 4096u);
  EXPECT_EQ(j.at("path_total"), 5001);
}

TEST(RecordTest, BytesThatAreNotAnEnvelopeAreRejected) {
  const std::string garbage("\xff\xff\xff\x0agarbage", 11);
  MaybeWriteSeed("hostile-garbage", 0, 0, garbage);
  Processed p = Process(garbage, false);
  EXPECT_EQ(p.verdict.result(), v1::VERDICT_RESULT_REJECTED);
  EXPECT_EQ(p.verdict.failures(0).event_id(), "evidence.malformed");
  EXPECT_EQ(p.row.state, EnrolmentState::kPass);
}

TEST(RecordTest, AnEnvelopeOfAnotherAgentIsRejected) {
  v1::EvidenceEnvelope env;
  env.mutable_evidence()->set_agent_uuid("11111111-1c1f-4c0e-b3f0-6e3f0f6f9a01");
  std::string value;
  env.SerializeToString(&value);
  Processed p = Process(value, true, 0);
  EXPECT_EQ(p.verdict.result(), v1::VERDICT_RESULT_REJECTED);
  EXPECT_EQ(p.verdict.failures(0).event_id(), "evidence.malformed");
  EXPECT_EQ(p.row.state, EnrolmentState::kEnrolled);
}

TEST(RecordTest, AReceiveTimeOutOfRangeCountsAsNow) {
  std::string value = EnvelopeFor(LogWith("/bin/sh"), false);
  ASSERT_TRUE(fuzz::Authenticate(value, 0));
  v1::EvidenceEnvelope env;
  ASSERT_TRUE(env.ParseFromString(value));
  env.mutable_received_at()->set_seconds(std::numeric_limits<int64_t>::max());
  env.SerializeToString(&value);
  MaybeWriteSeed("hostile-received-at", 0, 0, value);
  Processed p = Process(value, false);
  // The token is then checked at `now`: still valid (issued 1 s before).
  EXPECT_NE(p.verdict.result(), v1::VERDICT_RESULT_UNSPECIFIED);
  EXPECT_LE(p.row.attested_at, fuzz::TheSetup().now);
}

// An ima-buf entry loading `key` (DER) onto the .ima keyring.
ima::Log LogWithKey(const tpm::Bytes& key) {
  ima::Log log;
  ima::Hasher h;
  const ima::Digest digest = h.Hash(ima::HashAlg::kSha256, key);
  auto e = ima::MakeEntry(ima::Template::kImaBuf, "sha256", digest.view(), ".ima", key);
  EXPECT_TRUE(e.ok());
  e->template_hash = h.Hash(ima::HashAlg::kSha1, ima::AsBytes(e->data));
  log.entries.push_back(*e);
  return log;
}

// Re-signs the quote of an authenticated envelope with clockInfo.safe = NO,
// as after a power loss: quote.clock_unsafe, a notice.
void MakeClockUnsafe(std::string& value) {
  v1::EvidenceEnvelope env;
  ASSERT_TRUE(env.ParseFromString(value));
  auto* q = env.mutable_evidence()->mutable_quote();
  auto attest = tpm::ParseAttest(tpm::AsBytes(q->attest()));
  ASSERT_TRUE(attest.ok());
  attest->clockInfo.safe = TPM2_NO;
  auto quote = tpm::MarshalAttest(*attest);
  ASSERT_TRUE(quote.ok());
  auto sig = testing::SignLikeTpm(fuzz::TheSetup().ak, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, *quote);
  q->set_attest(std::string(quote->begin(), quote->end()));
  q->set_signature(std::string(sig.begin(), sig.end()));
  ASSERT_TRUE(env.SerializeToString(&value));
}

// Regression (f53588c): the FAILED reason is the first failure's id, read
// after the notices were appended to the same findings. With one failure
// the notice reallocates the vector; an id of <= 15 characters lives in the
// std::string's own buffer, so a view of it (the old string_view
// first_failure) read freed memory: ASan's heap-use-after-free, otherwise a
// garbled state_reason.
TEST(RecordTest, TheFailedReasonSurvivesTheNoticesAfterIt) {
  // An Ed25519 SubjectPublicKeyInfo (RFC 8410's example): a key, but neither
  // RSA nor EC, so ima.invalid_key (15 characters, inside SSO).
  const tpm::Bytes ed25519 = *tpm::FromHex(
      "302a300506032b657003210019bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1");
  ASSERT_EQ(std::string(ima::failure_id::kInvalidKey).size(), 15u);
  std::string value = EnvelopeFor(LogWithKey(ed25519), true);
  ASSERT_TRUE(fuzz::Authenticate(value, 0));
  MakeClockUnsafe(value);
  for (bool json : {false, true}) {
    SCOPED_TRACE(json ? "json" : "protobuf");
    Processed p = Process(value, json);
    ASSERT_EQ(p.verdict.result(), v1::VERDICT_RESULT_FAIL) << p.verdict.DebugString();
    // Exactly one failure, then the notice: the append that reallocates.
    ASSERT_EQ(p.verdict.failures_size(), 2) << p.verdict.DebugString();
    EXPECT_EQ(p.verdict.failures(0).event_id(), ima::failure_id::kInvalidKey);
    EXPECT_EQ(p.verdict.failures(1).event_id(), checks::failure_id::kQuoteClockUnsafe);
    EXPECT_EQ(p.row.state, EnrolmentState::kFailed);
    EXPECT_EQ(p.row.state_reason.value_or("<none>"), "ima.invalid_key");
  }
}

std::string ReadTestdata(const std::string& rel) {
  std::ifstream in(std::filesystem::path(ATTEST_TESTDATA_DIR) / "keylime" / rel, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Real logs (Keylime's IMA list and a UEFI log from a real machine) go the
// whole way: a verdict, never an exception; also seeds for the fuzzer.
TEST(RecordTest, RealLogsGiveAVerdict) {
  auto log = ima::ParseAscii(ReadTestdata("ima/rust-keylime-ascii_runtime_measurements"));
  ASSERT_TRUE(log.ok()) << log.error().message;
  const std::string uefi = ReadTestdata("uefi/binary_bios_measurements");
  ASSERT_FALSE(uefi.empty());
  for (bool binary : {false, true}) {
    std::string value = EnvelopeFor(*log, binary);
    v1::EvidenceEnvelope env;
    ASSERT_TRUE(env.ParseFromString(value));
    env.mutable_evidence()->set_uefi_log(uefi);
    env.mutable_evidence()->mutable_boot_time()->set_seconds(1'700'000'000);
    env.SerializeToString(&value);
    MaybeWriteSeed(binary ? "real-ima-binary-uefi" : "real-ima-ascii-uefi", 1, 0, value);
    ASSERT_TRUE(fuzz::Authenticate(value, 0));
    Processed p = Process(value, binary);
    EXPECT_EQ(p.verdict.result(), v1::VERDICT_RESULT_FAIL) << p.verdict.DebugString();
  }
}

// Every seed of the fuzzer keeps its invariants (ASan/UBSan in CI).
TEST(RecordTest, SeedCorpusKeepsTheInvariants) {
  const auto dir = std::filesystem::path(ATTEST_SOURCE_DIR) / "fuzz" / "worker" / "corpus";
  size_t n = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(f.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const char* broken =
        fuzz::RunRecord(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    EXPECT_EQ(broken, nullptr) << f.path() << ": " << broken;
    ++n;
  }
  EXPECT_GE(n, 5u);
}

}  // namespace
}  // namespace attest::worker
