// Issue 17.4 on a real (software) TPM: swtpm's state directory is copied (a
// VM snapshot), the TPM runs on (a reboot, its clock set forward, another
// reboot) and the verifier accepts its quotes; then the earlier copy is
// restored (the snapshot rolled back) and the TPM answers a fresh challenge.
// Its resetCount/clock are below the stored ones in a quote it really signed
// for that challenge: FAIL with quote.tpm_rollback (not the REJECTED
// quote.replay that left such an agent OFFLINE for ever, unrevoked), in
// VerifyEvidence and through the worker's record path with a signed
// revocation. A re-enrolment (counters cleared) lets it pass again.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "common/esys/context.h"
#include "common/esys/keys.h"
#include "common/esys/pcr.h"
#include "common/esys/quote.h"
#include "tests/harness/swtpm/swtpm.h"
#include "tests/quote/soft_quote.h"
#include "tests/verifier/test_util.h"
#include "verifier-workers/processor.h"

namespace attest::verifier::test {
namespace {

namespace fs = std::filesystem;

constexpr char kAgent[] = "3c9e0b7d-6a5f-4e2d-9c1b-0a8f7e6d5c4b";
const std::vector<uint32_t> kPcrs = {10};

class RollbackSwtpm : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    auto ctx = esys::EsysContext::Open(swtpm_.tcti());
    ASSERT_TRUE(ctx.ok()) << ctx.error().message;
    ctx_.emplace(std::move(*ctx));
    auto ek = esys::CreateEk(*ctx_, esys::KeyType::kEccP256);
    ASSERT_TRUE(ek.ok()) << ek.error().message;
    auto ak = esys::LoadOrCreateAk(*ctx_, *ek, swtpm_.dir() / "ak.key", esys::KeyType::kEccP256,
                                   esys::SigScheme::kEcdsa);
    ASSERT_TRUE(ak.ok()) << ak.error().message;
    auto cached = AttestationKey::FromTpm2bPublic(ak->public_bytes);
    ASSERT_TRUE(cached.ok()) << cached.error().message;
    agent_.ak = *cached;
    ak_.emplace(std::move(*ak));
  }
  void Close() {
    ak_.reset();
    ctx_.reset();
  }
  // swtpm stopped (its state on disk), `between` run, started again: a TPM
  // Reset (resetCount + 1 over the state on disk).
  template <typename F>
  void PowerCycle(F between) {
    Close();
    swtpm_.Stop();
    between();
    swtpm_.Start();
    Open();
  }
  void Snapshot() {
    PowerCycle([&] { fs::copy(State(), snapshot_.path() / "state", fs::copy_options::recursive); });
  }
  void RestoreSnapshot() {
    PowerCycle([&] {
      fs::remove_all(State());
      fs::copy(snapshot_.path() / "state", State(), fs::copy_options::recursive);
    });
  }
  fs::path State() const { return swtpm_.dir() / "state"; }

  struct TpmQuote {
    tpm::Bytes nonce;
    esys::QuoteResult quote;
    tpm::PcrValues pcrs;
    ClockState clock;
    Evidence MakeEvidence() const {
      Evidence ev;
      ev.quote = quote.attest;
      ev.signature = quote.signature;
      ev.pcrs = pcrs;
      return ev;
    }
  };
  TpmQuote Quote(const tpm::Bytes& nonce) {
    std::this_thread::sleep_for(std::chrono::milliseconds(3));  // the TPM clock counts ms
    TpmQuote out;
    out.nonce = nonce;
    auto q = esys::Quote(*ctx_, *ak_, nonce, TPM2_ALG_SHA256, kPcrs);
    EXPECT_TRUE(q.ok()) << q.error().message;
    if (q.ok()) out.quote = std::move(*q);
    auto values = esys::ReadPcrs(*ctx_, TPM2_ALG_SHA256, kPcrs);
    EXPECT_TRUE(values.ok()) << values.error().message;
    if (values.ok()) {
      for (const auto& v : *values) out.pcrs[TPM2_ALG_SHA256][v.index] = v.digest;
    }
    auto attest = tpm::ParseAttest(out.quote.attest);
    EXPECT_TRUE(attest.ok());
    if (attest.ok()) {
      out.clock = ClockState{attest->clockInfo.clock, attest->clockInfo.resetCount,
                             attest->clockInfo.restartCount, attest->clockInfo.safe == TPM2_YES};
    }
    return out;
  }
  tpm::Bytes Nonce() {
    ++nonces_;
    tpm::Bytes n(32, 0x4e);
    n[0] = static_cast<uint8_t>(nonces_);
    return n;
  }
  Verdict Run(const TpmQuote& q, const AgentState& st, bool nonce_after_stored = true) {
    auto ev = q.MakeEvidence();
    ev.nonce_after_stored_quote = nonce_after_stored;
    return VerifyEvidence(ev, q.nonce, agent_, st, 1'700'000'000);
  }
  // TPM2_ClockSet forward by `ms` (owner auth is empty on swtpm): the TPM's
  // clock as a long-running machine's, far ahead of the snapshot's.
  void ClockForward(uint64_t from, uint64_t ms) {
    Close();  // tpm2-tools talks to the same swtpm: no open ESAPI context
    std::string out;
    ASSERT_EQ(swtpm_.RunTool({"tpm2_setclock", std::to_string(from + ms)}, &out), 0) << out;
    Open();
  }

  attest::testing::Swtpm swtpm_;
  attest::testing::TempDir snapshot_{"attest-snapshot"};
  std::optional<esys::EsysContext> ctx_;
  std::optional<esys::Key> ak_;
  Agent agent_;
  int nonces_ = 0;
};

TEST_F(RollbackSwtpm, RestoredStateFailsWithRollbackAndReenrolmentPasses) {
  auto q1 = Quote(Nonce());
  auto v1 = Run(q1, {});
  ASSERT_EQ(v1.result, Outcome::kPass) << Describe(v1);

  Snapshot();  // the copy holds resetCount R; running it again gives R + 1
  auto q2 = Quote(Nonce());
  auto v2 = Run(q2, v1.new_state);
  ASSERT_EQ(v2.result, Outcome::kPass) << Describe(v2);
  EXPECT_TRUE(v2.reboot);
  ClockForward(q2.clock.clock, 3'600'000);
  auto q3 = Quote(Nonce());
  auto v3 = Run(q3, v2.new_state);
  ASSERT_EQ(v3.result, Outcome::kPass) << Describe(v3);
  ASSERT_EQ(q3.clock.reset_count, q2.clock.reset_count);
  ASSERT_GE(q3.clock.clock, q2.clock.clock + 3'600'000);
  const AgentState same_boot = v3.new_state;

  PowerCycle([] {});  // a reboot after it: resetCount R + 2
  auto q4 = Quote(Nonce());
  auto v4 = Run(q4, same_boot);
  ASSERT_EQ(v4.result, Outcome::kPass) << Describe(v4);
  ASSERT_GT(q4.clock.reset_count, q3.clock.reset_count);
  const AgentState next_boot = v4.new_state;

  // The snapshot restored and started: resetCount R + 1 again, the clock of
  // an hour ago.
  RestoreSnapshot();
  auto q5 = Quote(Nonce());
  ASSERT_EQ(q5.clock.reset_count, q3.clock.reset_count) << "the restored TPM's reset";
  ASSERT_LT(q5.clock.clock, q3.clock.clock);
  std::cout << "swtpm clockInfo (clock/resetCount/restartCount): accepted " << q3.clock.clock << "/"
            << q3.clock.reset_count << "/" << q3.clock.restart_count << ", next boot "
            << q4.clock.clock << "/" << q4.clock.reset_count << "/" << q4.clock.restart_count
            << ", restored " << q5.clock.clock << "/" << q5.clock.reset_count << "/"
            << q5.clock.restart_count << " safe=" << q5.clock.safe << "\n";

  for (const AgentState* stored : {&same_boot, &next_boot}) {
    SCOPED_TRACE(stored == &same_boot ? "clock went back" : "resetCount went back");
    auto v = Run(q5, *stored);
    ASSERT_EQ(v.result, Outcome::kFail) << Describe(v);
    const Failure* f = Find(v, "quote.tpm_rollback");
    ASSERT_NE(f, nullptr) << Describe(v);
    EXPECT_EQ(f->severity, Severity::kCritical);
    EXPECT_EQ(Context(*f)["previous_clock"], stored->clock->clock);
    EXPECT_EQ(Context(*f)["clock"], q5.clock.clock);
    EXPECT_EQ(Context(*f)["reset_count"], q5.clock.reset_count);
    EXPECT_EQ(Find(v, "quote.replay"), nullptr) << Describe(v);
    // The stored counters stay: later quotes of the restored TPM fail too.
    ASSERT_TRUE(v.new_state.clock.has_value());
    EXPECT_EQ(v.new_state.clock->clock, stored->clock->clock);
    EXPECT_EQ(v.new_state.clock->reset_count, stored->clock->reset_count);

    // Not known to be newer than the stored quote: an old quote, REJECTED.
    auto old = Run(q5, *stored, /*nonce_after_stored=*/false);
    EXPECT_EQ(old.result, Outcome::kRejected) << Describe(old);
    EXPECT_NE(Find(old, "quote.replay"), nullptr) << Describe(old);
  }
  // The next round of the restored TPM: still FAIL.
  auto q6 = Quote(Nonce());
  EXPECT_EQ(Run(q6, same_boot).result, Outcome::kFail);

  // The operator re-enrols: the registrar clears the counters (quote_clock,
  // quote_reset_count, quote_restart_count NULL), and the TPM passes.
  AgentState reenrolled = same_boot;
  reenrolled.clock.reset();
  auto q7 = Quote(Nonce());
  auto v7 = Run(q7, reenrolled);
  EXPECT_EQ(v7.result, Outcome::kPass) << Describe(v7);
  auto q8 = Quote(Nonce());
  EXPECT_EQ(Run(q8, v7.new_state).result, Outcome::kPass);
}

// The same through the worker's record path: the challenge token is the
// nonce, the restored TPM's quote ends in a FAIL verdict and a signed
// revocation.
TEST_F(RollbackSwtpm, WorkerFailsAndRevokesTheRestoredTpm) {
  token::KeySet keys = *token::KeySet::FromSecrets({std::string(32, 's')});
  auto signer = worker::RevocationSigner::FromPem(testing::NewP256KeyPem(), "rev-swtpm");
  ASSERT_TRUE(signer.ok()) << signer.error().message;
  worker::Context ctx;
  ctx.keys = &keys;
  ctx.signer = signer->get();
  ctx.worker_id = "w-swtpm";
  ctx.verdict_topic = "attestation.verdicts";
  ctx.revocation_topic = "attestation.revocations";
  worker::AgentRow row;
  row.agent_id = kAgent;
  row.registration_active = true;
  row.state = worker::EnrolmentState::kEnrolled;
  const auto t0 = worker::Clock::time_point(std::chrono::seconds(1'700'000'000));
  int64_t offset = 0;

  // One round at `now`: a token issued 2 s before, the TPM's quote over it.
  auto round = [&](worker::Clock::time_point now) {
    const auto issued = now - std::chrono::seconds(2);
    auto tok =
        token::Issue(keys, kAgent, issued, 0, token::Binding{TPM2_ALG_SHA256, 1u << 10, false});
    EXPECT_TRUE(tok.ok()) << tok.error().message;
    auto q = Quote(tpm::Bytes(tok->begin(), tok->end()));
    v1::EvidenceEnvelope env;
    env.set_evidence_id("e-" + std::to_string(offset));
    env.mutable_received_at()->set_seconds(
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count() - 1);
    auto* e = env.mutable_evidence();
    e->set_agent_uuid(kAgent);
    e->set_challenge_token(*tok);
    e->mutable_quote()->set_attest(std::string(q.quote.attest.begin(), q.quote.attest.end()));
    e->mutable_quote()->set_signature(
        std::string(q.quote.signature.begin(), q.quote.signature.end()));
    auto* bank = e->mutable_quote()->add_pcrs();
    bank->set_hash_algorithm(v1::HASH_ALGORITHM_SHA256);
    for (const auto& [i, v] : q.pcrs[TPM2_ALG_SHA256]) {
      (*bank->mutable_values())[i] = std::string(v.begin(), v.end());
    }
    std::string value;
    env.SerializeToString(&value);
    auto out = worker::ProcessRecord(ctx, value, worker::EvidenceRef{0, ++offset}, row, agent_.ak,
                                     {}, now);
    v1::Verdict verdict;
    EXPECT_TRUE(verdict.ParseFromString(out.outbox.at(0).payload));
    return std::pair{out, verdict};
  };

  auto [o1, r1] = round(t0);
  ASSERT_EQ(r1.result(), v1::VERDICT_RESULT_PASS) << r1.DebugString();
  Snapshot();
  auto [o2, r2] = round(t0 + std::chrono::seconds(60));
  ASSERT_EQ(r2.result(), v1::VERDICT_RESULT_PASS) << r2.DebugString();
  EXPECT_TRUE(r2.reboot());
  ClockForward(row.vstate.clock->clock, 3'600'000);
  auto [o3, r3] = round(t0 + std::chrono::seconds(120));
  ASSERT_EQ(r3.result(), v1::VERDICT_RESULT_PASS) << r3.DebugString();
  ASSERT_EQ(row.state, worker::EnrolmentState::kPass);
  const ClockState stored = *row.vstate.clock;

  RestoreSnapshot();
  auto [o4, r4] = round(t0 + std::chrono::seconds(180));
  ASSERT_EQ(r4.result(), v1::VERDICT_RESULT_FAIL) << r4.DebugString();
  ASSERT_GE(r4.failures_size(), 1);
  EXPECT_EQ(r4.failures(0).event_id(), "quote.tpm_rollback");
  EXPECT_EQ(row.state, worker::EnrolmentState::kFailed);
  EXPECT_EQ(row.state_reason, "quote.tpm_rollback");
  ASSERT_EQ(o4.outbox.size(), 2u) << "a verdict and a signed revocation";
  EXPECT_EQ(o4.outbox[1].topic, "attestation.revocations");
  EXPECT_NE(o4.outbox[1].payload.find("quote.tpm_rollback"), std::string::npos);
  EXPECT_EQ(row.vstate.clock->clock, stored.clock);

  auto [o5, r5] = round(t0 + std::chrono::seconds(240));
  EXPECT_EQ(r5.result(), v1::VERDICT_RESULT_FAIL) << r5.DebugString();
  EXPECT_EQ(o5.outbox.size(), 1u);  // revoked once

  // Re-enrolled (the registrar's reg_enrol: ENROLLED, counters NULL).
  row.state = worker::EnrolmentState::kEnrolled;
  row.vstate.clock.reset();
  auto [o6, r6] = round(t0 + std::chrono::seconds(300));
  EXPECT_EQ(r6.result(), v1::VERDICT_RESULT_PASS) << r6.DebugString();
  EXPECT_EQ(row.state, worker::EnrolmentState::kPass);
}

}  // namespace
}  // namespace attest::verifier::test
