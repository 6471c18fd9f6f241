// Issue 17, points 2 and 5 through the worker's record path (soft quotes):
// a UEFI log asked for and withheld is FAIL (measured_boot.log_withheld) and
// revoked after verification.uefi_log_max_rounds evidence, and such evidence
// does not keep the agent alive; a changed reference state asks for the log
// again; a FAILED agent is back to PASS after a reboot that verifies clean
// (a higher TPM resetCount), never after a suspend or a rollback.
#include <gtest/gtest.h>

#include "common/eventlog/policy.h"
#include "tests/quote/soft_quote.h"
#include "tests/verifier/record_fixture.h"
#include "tests/verifier/soft_tpm.h"
#include "tests/verifier/test_util.h"
#include "verifier-workers/processor.h"

namespace attest::verifier::test {
namespace {

constexpr int64_t kNow = 1'700'000'000;
constexpr char kAgent[] = "0c4d2b1a-7e6f-4a5b-9c8d-1e2f3a4b5c6d";

class BootLogRounds : public ::testing::Test {
 protected:
  using Clock = worker::Clock;

  void SetUp() override {
    key_ = *AttestationKey::FromPublic(ak_.pub);
    signer_ = *worker::RevocationSigner::FromPem(testing::NewP256KeyPem(), "rev-test");
    ctx_.keys = &keys_;
    ctx_.signer = signer_.get();
    ctx_.worker_id = "w-test";
    ctx_.verdict_topic = "attestation.verdicts";
    ctx_.revocation_topic = "attestation.revocations";
    row_.agent_id = kAgent;
    row_.registration_active = true;
    row_.state = worker::EnrolmentState::kEnrolled;
    row_.sequence = 1;
  }

  // Evidence quoting sha256 PCRs 0-7 and 10 (all zero), TPM counters
  // `clock`, for a challenge that did (or did not) ask for the UEFI log.
  std::string Envelope(const testing::SoftClock& clock, bool uefi_asked,
                       std::chrono::seconds issued_ago = std::chrono::seconds(2)) {
    return SignedRecord(keys_, kAgent, ak_, clock, {0, 1, 2, 3, 4, 5, 6, 7, 10}, uefi_asked,
                        now_ - issued_ago, now_ - std::chrono::seconds(1));
  }

  using Result = RecordResult;
  Result Process(const std::string& value) {
    row_.attested = false;  // a fresh batch
    return Result(worker::ProcessRecord(ctx_, value, worker::EvidenceRef{0, ++offset_}, row_, key_,
                                        policies_, now_));
  }

  void UseReferenceState(int64_t id) {
    policies_.mb =
        worker::CompilePolicy(id, 1, worker::PolicyKind::kMeasuredBoot, R"({"version": 1})");
    ASSERT_TRUE(policies_.mb->error.empty()) << policies_.mb->error;
    row_.mb_policy_id = id;
  }

  testing::SoftAk ak_ = testing::MakeEccAk();
  std::shared_ptr<const AttestationKey> key_;
  token::KeySet keys_ = *token::KeySet::FromSecrets({std::string(32, 'k')});
  std::shared_ptr<const worker::RevocationSigner> signer_;
  worker::Context ctx_;
  worker::AgentRow row_;
  worker::AgentPolicyRefs policies_;
  Clock::time_point now_ = Clock::time_point(std::chrono::seconds(kNow));
  int64_t offset_ = 100;
};

TEST_F(BootLogRounds, WithheldLogFailsAndIsRevokedAndNeverKeepsTheAgentAlive) {
  UseReferenceState(11);
  ctx_.uefi_log_max_rounds = 3;
  uint64_t clock = 10'000;
  for (int round = 1; round <= 2; ++round) {
    SCOPED_TRACE(round);
    auto r = Process(Envelope({clock += 1000, 4, 0, true}, /*uefi_asked=*/true));
    EXPECT_EQ(r.verdict.result(), v1::VERDICT_RESULT_LOG_REQUESTED);
    EXPECT_FALSE(row_.attested) << "withheld evidence extended the agent's liveness";
    EXPECT_TRUE(row_.boot_log_requested);
    EXPECT_EQ(row_.vstate.uefi_log_withheld, static_cast<uint32_t>(round));
  }
  auto r = Process(Envelope({clock += 1000, 4, 0, true}, true));
  EXPECT_EQ(r.verdict.result(), v1::VERDICT_RESULT_FAIL);
  EXPECT_TRUE(r.has(kUefiLogWithheld));
  EXPECT_TRUE(r.revoked());
  EXPECT_EQ(row_.state, worker::EnrolmentState::kFailed);
  EXPECT_EQ(row_.state_reason.value_or(""), kUefiLogWithheld);
  EXPECT_FALSE(row_.attested);

  // A reboot does not start the count over.
  r = Process(Envelope({500, 5, 0, false}, true));
  EXPECT_EQ(r.verdict.result(), v1::VERDICT_RESULT_FAIL);
  EXPECT_TRUE(r.has(kUefiLogWithheld));
}

TEST_F(BootLogRounds, ALogTheChallengeDidNotAskForIsNotWithheld) {
  UseReferenceState(11);
  ctx_.uefi_log_max_rounds = 1;
  auto r = Process(Envelope({10'000, 4, 0, true}, /*uefi_asked=*/false));
  EXPECT_EQ(r.verdict.result(), v1::VERDICT_RESULT_LOG_REQUESTED);
  EXPECT_FALSE(r.has(kUefiLogWithheld));
  EXPECT_TRUE(row_.attested);
  EXPECT_EQ(row_.vstate.uefi_log_withheld, 0u);
}

TEST_F(BootLogRounds, AChangedReferenceStateAsksForTheLogAgain) {
  UseReferenceState(11);
  // The boot log was accepted against policy 11.
  row_.state = worker::EnrolmentState::kPass;
  row_.vstate.boot_log_accepted = true;
  row_.vstate.boot_log_policy_id = 11;
  auto r = Process(Envelope({10'000, 4, 0, true}, false));
  EXPECT_EQ(r.verdict.result(), v1::VERDICT_RESULT_PASS);
  // The operator changes the reference state (a new policy version).
  UseReferenceState(12);
  r = Process(Envelope({11'000, 4, 0, true}, false));
  EXPECT_EQ(r.verdict.result(), v1::VERDICT_RESULT_LOG_REQUESTED);
  EXPECT_FALSE(row_.vstate.boot_log_accepted);
  EXPECT_TRUE(row_.boot_log_requested);
}

TEST_F(BootLogRounds, AFailedAgentRecoversAfterACleanRebootOnly) {
  row_.state = worker::EnrolmentState::kFailed;
  row_.state_reason = "ima.validation.ima-ng.not_in_allowlist";
  row_.failed_reset_count = 4;
  row_.vstate.clock = ClockState{50'000, 4, 0, true};
  // Same boot (or a suspend: restartCount moves, resetCount does not).
  auto r = Process(Envelope({51'000, 4, 1, true}, false));
  EXPECT_EQ(r.verdict.result(), v1::VERDICT_RESULT_PASS);
  EXPECT_EQ(row_.state, worker::EnrolmentState::kFailed);
  // Rebooted: resetCount 5, everything verified from scratch.
  r = Process(Envelope({600, 5, 0, false}, false));
  EXPECT_EQ(r.verdict.result(), v1::VERDICT_RESULT_PASS);
  EXPECT_TRUE(r.verdict.reboot());
  EXPECT_EQ(row_.state, worker::EnrolmentState::kPass);
  EXPECT_EQ(row_.state_reason.value_or(""), "recovered_after_reboot");
  EXPECT_FALSE(row_.failed_reset_count.has_value());
  EXPECT_EQ(r.verdict.previous_state(), v1::AGENT_STATE_FAILED);
}

TEST_F(BootLogRounds, AFailureRecordsItsBootAndARollbackNeverRecoversByItself) {
  row_.state = worker::EnrolmentState::kPass;
  UseReferenceState(11);
  ctx_.uefi_log_max_rounds = 1;
  auto r = Process(Envelope({10'000, 4, 0, true}, true));
  ASSERT_EQ(r.verdict.result(), v1::VERDICT_RESULT_FAIL);
  EXPECT_EQ(row_.failed_reset_count, 4);

  row_.failed_reset_count = worker::AgentRow::kNoRecovery;  // as after quote.tpm_rollback
  policies_ = {};
  row_.mb_policy_id = 0;
  r = Process(Envelope({600, 5, 0, false}, false));
  EXPECT_EQ(r.verdict.result(), v1::VERDICT_RESULT_PASS);
  EXPECT_EQ(row_.state, worker::EnrolmentState::kFailed);
}

TEST_F(BootLogRounds, ARollbackStaysUnrecoverableThroughLaterFailures) {
  row_.state = worker::EnrolmentState::kFailed;
  row_.state_reason = "quote.tpm_rollback";
  row_.failed_reset_count = worker::AgentRow::kNoRecovery;
  row_.vstate.clock = ClockState{50'000, 4, 0, true};
  // Counters pushed forward (a reset after a power loss), then any failure:
  // the withheld log here.
  UseReferenceState(11);
  ctx_.uefi_log_max_rounds = 1;
  auto r = Process(Envelope({60'000, 5, 0, false}, true));
  ASSERT_EQ(r.verdict.result(), v1::VERDICT_RESULT_FAIL);
  EXPECT_EQ(row_.failed_reset_count, worker::AgentRow::kNoRecovery);
  // Another reset and clean evidence: still FAILED.
  policies_ = {};
  row_.mb_policy_id = 0;
  r = Process(Envelope({70'000, 6, 0, false}, false));
  EXPECT_EQ(r.verdict.result(), v1::VERDICT_RESULT_PASS);
  EXPECT_EQ(row_.state, worker::EnrolmentState::kFailed);
}

// Evidence that does not extend liveness (a withheld log) still dates the
// TPM counters it stored: an older evidence delivered after it (a gateway
// slow to produce) is a delayed quote, not a rollback of an honest TPM.
TEST_F(BootLogRounds, CountersOfAWithheldRoundDateALaterRollbackCheck) {
  UseReferenceState(11);
  row_.state = worker::EnrolmentState::kPass;
  row_.attested_at = now_ - std::chrono::seconds(600);  // liveness last extended long ago
  row_.vstate.clock = ClockState{10'000, 4, 0, true};
  auto r = Process(Envelope({20'000, 4, 0, true}, true));  // received 1 s ago
  ASSERT_EQ(r.verdict.result(), v1::VERDICT_RESULT_LOG_REQUESTED);
  ASSERT_FALSE(row_.attested);
  // Issued 30 s ago, before that evidence arrived; lower counters.
  r = Process(Envelope({15'000, 4, 0, true}, true, std::chrono::seconds(30)));
  EXPECT_EQ(r.verdict.result(), v1::VERDICT_RESULT_REJECTED);
  EXPECT_TRUE(r.has("quote.replay"));
  EXPECT_FALSE(r.has("quote.tpm_rollback"));
  EXPECT_FALSE(r.revoked());
}

}  // namespace
}  // namespace attest::verifier::test
