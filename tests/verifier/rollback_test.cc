// Issue 17.4 without a TPM: a quote whose TPM counters went back, signed for
// a challenge issued after the stored quote, is FAIL (quote.tpm_rollback) and
// revoked through the worker's record path; a delayed old evidence stays
// REJECTED; a re-enrolment (counters cleared) lets the restored TPM pass. And
// one boot-time rule (IsNewBoot) with one tolerance in the verifier, the
// worker's configuration and the gateway (tests/gateway/unit_test.cc).
// tests/verifier/rollback_swtpm_test.cc does the same with swtpm's state
// restored from an earlier copy.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/base/boot_time.h"
#include "common/base/config.h"
#include "tests/quote/soft_quote.h"
#include "tests/verifier/record_fixture.h"
#include "tests/verifier/soft_tpm.h"
#include "tests/verifier/test_util.h"
#include "verifier-workers/config.h"
#include "verifier-workers/processor.h"

namespace attest::verifier::test {
namespace {

constexpr int64_t kNow = 1'700'000'000;

// ---- One boot-time rule ----

TEST(BootTime, IsNewBootIsSymmetricWithAnInclusiveTolerance) {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  EXPECT_FALSE(IsNewBoot(seconds(100), seconds(100), seconds(2)));
  EXPECT_FALSE(IsNewBoot(seconds(100), seconds(101), seconds(2)));
  EXPECT_FALSE(IsNewBoot(seconds(101), seconds(100), seconds(2)));
  EXPECT_FALSE(IsNewBoot(seconds(100), seconds(102), seconds(2)));
  EXPECT_TRUE(IsNewBoot(seconds(100), seconds(103), seconds(2)));
  EXPECT_TRUE(IsNewBoot(seconds(103), seconds(100), seconds(2)));
  EXPECT_TRUE(IsNewBoot(seconds(100), seconds(101), seconds(0)));
  EXPECT_FALSE(IsNewBoot(milliseconds(100'000), milliseconds(101'999), milliseconds(2'000)));
  EXPECT_TRUE(IsNewBoot(milliseconds(100'000), milliseconds(102'001), milliseconds(2'000)));
  // Extremes do not overflow.
  EXPECT_TRUE(IsNewBoot(seconds(INT64_MIN), seconds(INT64_MAX), seconds(2)));
  EXPECT_FALSE(IsNewBoot(seconds(INT64_MIN), seconds(INT64_MIN + 1), seconds(2)));
  EXPECT_TRUE(IsNewBoot(seconds(0), seconds(1), seconds(-5)));  // negative: 0
}

class VerifierBootTime : public ::testing::Test {
 protected:
  void SetUp() override { agent_.ak = tpm_.Ak(); }
  Verdict Run(int64_t stored_boot, int64_t reported_boot) {
    AgentState stored;
    stored.boot_time = stored_boot;
    tpm_.Extend(10, tpm::Bytes(32, 1));
    auto first = tpm_.Quote(kNonce, {10});
    auto v0 = VerifyEvidence(first.MakeEvidence(), kNonce, agent_, stored, kNow);
    EXPECT_EQ(v0.result, Outcome::kPass) << Describe(v0);
    auto q = tpm_.Quote(kNonce, {10});
    auto ev = q.MakeEvidence();
    ev.boot_time = reported_boot;
    return VerifyEvidence(ev, kNonce, agent_, v0.new_state, kNow);
  }
  SoftTpm tpm_;
  Agent agent_;
};

// The agent's boot time is btime of /proc/stat (now - uptime): it jitters by
// a second between readings. The worker compared it exactly, so such jitter
// was a reboot there (IMA state dropped, UEFI log asked again) while the
// gateway (2 s tolerance) saw the same boot.
TEST_F(VerifierBootTime, OneSecondJitterIsNotAReboot) {
  auto v = Run(1'699'990'000, 1'699'990'001);
  EXPECT_FALSE(v.reboot) << Describe(v);
  EXPECT_EQ(v.result, Outcome::kPass) << Describe(v);
  v = Run(1'699'990'001, 1'699'990'000);
  EXPECT_FALSE(v.reboot) << Describe(v);
}

TEST_F(VerifierBootTime, ALargeChangeIsAReboot) {
  auto v = Run(1'699'990'000, 1'699'990'060);
  EXPECT_TRUE(v.reboot) << Describe(v);
  EXPECT_EQ(v.new_state.boot_time, 1'699'990'060);
  v = Run(1'699'990'000, 1'699'990'003);  // just past the default 2 s
  EXPECT_TRUE(v.reboot) << Describe(v);
}

TEST_F(VerifierBootTime, TheToleranceIsAnInput) {
  agent_.boot_time_tolerance = std::chrono::seconds(10);
  EXPECT_FALSE(Run(1'699'990'000, 1'699'990'009).reboot);
  EXPECT_TRUE(Run(1'699'990'000, 1'699'990'011).reboot);
  agent_.boot_time_tolerance = std::chrono::seconds(0);
  EXPECT_TRUE(Run(1'699'990'000, 1'699'990'001).reboot);
}

std::string WorkerToml(std::string_view extra) {
  return std::string(R"(
[kafka]
bootstrap_servers = "k:9092"
[database]
conninfo = "host=db"
[token]
key_files = ["/k"]
[revocation]
signing_key_file = "/r"
key_id = "r1"
)") + std::string(extra);
}

TEST(WorkerConfig, BootTimeToleranceIsTheGatewaysKeyAndDefault) {
  auto f = ConfigFile::Parse(WorkerToml(""), "<inline>");
  ASSERT_TRUE(f.ok()) << f.error().message;
  auto c = worker::ParseWorkerConfig(*f);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->boot_time_tolerance, std::chrono::seconds(2));
  EXPECT_EQ(c->boot_time_tolerance, kDefaultBootTimeTolerance);

  f = ConfigFile::Parse(WorkerToml("[challenge]\nboot_time_tolerance_seconds = 7\n"), "<inline>");
  ASSERT_TRUE(f.ok()) << f.error().message;
  c = worker::ParseWorkerConfig(*f);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->boot_time_tolerance, std::chrono::seconds(7));

  for (const char* bad : {"[challenge]\nboot_time_tolerance_seconds = -1\n",
                          "[challenge]\nboot_time_tolerance_seconds = 3601\n",
                          "[challenge]\nboot_time_tolerance_seconds = \"2\"\n"}) {
    f = ConfigFile::Parse(WorkerToml(bad), "<inline>");
    ASSERT_TRUE(f.ok()) << f.error().message;
    EXPECT_FALSE(worker::ParseWorkerConfig(*f).ok()) << bad;
  }
}

// ---- The rollback through the worker's record path (soft quotes) ----

constexpr char kAgent[] = "5b0f7a1e-2d3c-4b5a-8c7d-6e5f4a3b2c1d";

class WorkerRollback : public ::testing::Test {
 protected:
  using Clock = worker::Clock;

  void SetUp() override {
    auto k = AttestationKey::FromPublic(ak_.pub);
    ASSERT_TRUE(k.ok()) << k.error().message;
    key_ = *k;
    auto s = worker::RevocationSigner::FromPem(testing::NewP256KeyPem(), "rev-test");
    ASSERT_TRUE(s.ok()) << s.error().message;
    signer_ = *s;
    ctx_.keys = &keys_;
    ctx_.signer = signer_.get();
    ctx_.worker_id = "w-test";
    ctx_.verdict_topic = "attestation.verdicts";
    ctx_.revocation_topic = "attestation.revocations";
    row_.agent_id = kAgent;
    row_.registration_active = true;
    row_.state = worker::EnrolmentState::kPass;
    row_.sequence = 7;
  }

  // An envelope whose sha256 PCR 10 quote carries `clock`, for a token
  // issued at `issued` and received 1 s later.
  std::string Envelope(const testing::SoftClock& clock, Clock::time_point issued) {
    return SignedRecord(keys_, kAgent, ak_, clock, {10}, false, issued,
                        issued + std::chrono::seconds(1));
  }

  using Result = RecordResult;
  Result Process(const std::string& value) {
    return Result(worker::ProcessRecord(ctx_, value, worker::EvidenceRef{0, ++offset_}, row_, key_,
                                        {}, now_));
  }

  // The stored quote: clock 50000, resetCount 4, received a minute ago.
  void StoreQuote() {
    row_.vstate.clock = ClockState{50'000, 4, 1, true};
    row_.attested_at = now_ - std::chrono::seconds(60);
  }

  testing::SoftAk ak_ = testing::MakeEccAk();
  std::shared_ptr<const AttestationKey> key_;
  token::KeySet keys_ = *token::KeySet::FromSecrets({std::string(32, 'k')});
  std::shared_ptr<const worker::RevocationSigner> signer_;
  worker::Context ctx_;
  worker::AgentRow row_;
  Clock::time_point now_ = Clock::time_point(std::chrono::seconds(kNow));
  int64_t offset_ = 100;
};

// The attack: the VM (and its vTPM) restored from a snapshot taken before
// the stored quote; the agent answers a fresh challenge. Before issue 17 this
// was REJECTED (quote.replay) and the agent went OFFLINE for ever, unrevoked.
TEST_F(WorkerRollback, ARestoredTpmFailsAndIsRevoked) {
  StoreQuote();
  const auto stored = *row_.vstate.clock;
  auto r = Process(Envelope({40'000, 4, 1, true}, now_ - std::chrono::seconds(5)));
  ASSERT_EQ(r.verdict.result(), v1::VERDICT_RESULT_FAIL) << r.verdict.DebugString();
  EXPECT_TRUE(r.has("quote.tpm_rollback")) << r.verdict.DebugString();
  EXPECT_FALSE(r.has("quote.replay")) << r.verdict.DebugString();
  EXPECT_EQ(row_.state, worker::EnrolmentState::kFailed);
  EXPECT_EQ(row_.state_reason, "quote.tpm_rollback");
  ASSERT_EQ(r.out.outbox.size(), 2u);  // the verdict and a signed revocation
  EXPECT_EQ(r.out.outbox[1].topic, "attestation.revocations");
  EXPECT_NE(r.out.outbox[1].payload.find("quote.tpm_rollback"), std::string::npos);
  // The stored counters stay: the restored TPM's next quotes fail as well.
  ASSERT_TRUE(row_.vstate.clock.has_value());
  EXPECT_EQ(row_.vstate.clock->clock, stored.clock);
  EXPECT_EQ(row_.vstate.clock->reset_count, stored.reset_count);
  auto json = nlohmann::json::parse(r.out.history.failures_json);
  ASSERT_FALSE(json.empty());
  EXPECT_EQ(json.dump().find("replay"), std::string::npos) << json.dump();

  // Lower resetCount (a snapshot from an earlier boot), next round: FAIL
  // again, no second revocation (the agent is FAILED already).
  now_ += std::chrono::seconds(60);
  r = Process(Envelope({90'000, 3, 0, true}, now_ - std::chrono::seconds(2)));
  EXPECT_EQ(r.verdict.result(), v1::VERDICT_RESULT_FAIL) << r.verdict.DebugString();
  EXPECT_TRUE(r.has("quote.tpm_rollback")) << r.verdict.DebugString();
  EXPECT_EQ(r.out.outbox.size(), 1u);
  EXPECT_EQ(row_.vstate.clock->clock, stored.clock);

  // The operator re-enrols (registrar: state ENROLLED, counters NULL): the
  // TPM as it is now is the reference, and it passes.
  row_.state = worker::EnrolmentState::kEnrolled;
  row_.vstate.clock.reset();
  now_ += std::chrono::seconds(60);
  r = Process(Envelope({40'100, 4, 1, true}, now_ - std::chrono::seconds(1)));
  EXPECT_EQ(r.verdict.result(), v1::VERDICT_RESULT_PASS) << r.verdict.DebugString();
  EXPECT_EQ(row_.state, worker::EnrolmentState::kPass);
  EXPECT_EQ(row_.vstate.clock->clock, 40'100u);
}

// An evidence whose challenge predates the stored quote's arrival (a gateway
// that was slow to produce it, a reordering): not provably a rollback, and an
// honest agent must never be revoked for it. REJECTED, state unchanged.
TEST_F(WorkerRollback, AnOldEvidenceDelayedOnItsWayStaysRejected) {
  StoreQuote();
  for (auto issued : {row_.attested_at - std::chrono::seconds(30), row_.attested_at,
                      row_.attested_at + std::chrono::seconds(4)}) {  // within the skew
    auto r = Process(Envelope({49'000, 4, 1, true}, issued));
    EXPECT_EQ(r.verdict.result(), v1::VERDICT_RESULT_REJECTED) << r.verdict.DebugString();
    EXPECT_TRUE(r.has("quote.replay")) << r.verdict.DebugString();
    EXPECT_FALSE(r.has("quote.tpm_rollback")) << r.verdict.DebugString();
    EXPECT_EQ(row_.state, worker::EnrolmentState::kPass);
    EXPECT_EQ(r.out.outbox.size(), 1u);
  }
}

// The same quote re-sent (equal clockInfo) is a replay even for a fresh
// challenge, and a forward quote passes.
TEST_F(WorkerRollback, EqualClockIsAReplayAndForwardPasses) {
  StoreQuote();
  auto r = Process(Envelope({50'000, 4, 1, true}, now_ - std::chrono::seconds(5)));
  EXPECT_EQ(r.verdict.result(), v1::VERDICT_RESULT_REJECTED) << r.verdict.DebugString();
  EXPECT_TRUE(r.has("quote.replay"));
  r = Process(Envelope({50'001, 4, 1, true}, now_ - std::chrono::seconds(5)));
  EXPECT_EQ(r.verdict.result(), v1::VERDICT_RESULT_PASS) << r.verdict.DebugString();
}

// The fault campaign's duplicate (docs/faults.md): the gateway's idempotent
// producer re-sent a batch under a new epoch and Kafka held the same
// evidence record twice. The copy gets no verdict (it got a second,
// REJECTED quote.replay one); the same quote received again by a gateway
// (another request: another receipt time) is still a replay, and another
// quote received in the same second still passes.
TEST_F(WorkerRollback, ASecondCopyOfTheEvidenceVerifiedLastGetsNoVerdict) {
  StoreQuote();
  const std::string value = Envelope({50'001, 4, 1, true}, now_ - std::chrono::seconds(5));
  auto r = Process(value);
  ASSERT_EQ(r.verdict.result(), v1::VERDICT_RESULT_PASS) << r.verdict.DebugString();
  const int64_t sequence = row_.sequence;

  const worker::Outcome copy =
      worker::ProcessRecord(ctx_, value, worker::EvidenceRef{0, ++offset_}, row_, key_, {}, now_);
  EXPECT_EQ(copy.result, v1::VERDICT_RESULT_UNSPECIFIED);
  EXPECT_TRUE(copy.copy);
  EXPECT_EQ(copy.error, "");
  EXPECT_TRUE(copy.outbox.empty());
  EXPECT_EQ(row_.sequence, sequence);
  EXPECT_EQ(row_.state, worker::EnrolmentState::kPass);

  r = Process(Envelope({50'001, 4, 1, true}, now_ - std::chrono::seconds(3)));
  EXPECT_EQ(r.verdict.result(), v1::VERDICT_RESULT_REJECTED) << r.verdict.DebugString();
  EXPECT_TRUE(r.has("quote.replay")) << r.verdict.DebugString();
  r = Process(Envelope({50'002, 4, 1, true}, now_ - std::chrono::seconds(5)));
  EXPECT_EQ(r.verdict.result(), v1::VERDICT_RESULT_PASS) << r.verdict.DebugString();
}

// The worker passes its configured tolerance to the verifier.
TEST_F(WorkerRollback, TheWorkersBootTimeToleranceReachesTheVerifier) {
  row_.vstate.boot_time = kNow - 3600;
  auto with_boot = [&](int64_t boot, uint64_t clock) {
    auto value = Envelope({clock, 4, 1, true}, now_ - std::chrono::seconds(5));
    v1::EvidenceEnvelope env;
    EXPECT_TRUE(env.ParseFromString(value));
    env.mutable_evidence()->mutable_boot_time()->set_seconds(boot);
    env.SerializeToString(&value);
    return Process(value);
  };
  auto r = with_boot(kNow - 3599, 1000);  // 1 s of jitter
  EXPECT_EQ(r.verdict.result(), v1::VERDICT_RESULT_PASS) << r.verdict.DebugString();
  EXPECT_FALSE(r.verdict.reboot());
  ctx_.boot_time_tolerance = std::chrono::seconds(0);
  r = with_boot(kNow - 3600, 1001);
  EXPECT_TRUE(r.verdict.reboot());
  ctx_.boot_time_tolerance = kDefaultBootTimeTolerance;
  r = with_boot(kNow - 3000, 1002);  // ten minutes: another boot
  EXPECT_TRUE(r.verdict.reboot());
}

}  // namespace
}  // namespace attest::verifier::test
