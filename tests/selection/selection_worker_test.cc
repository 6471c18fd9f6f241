// Issue 17, point 3, through the worker's record path (ProcessEvidence, no
// database or broker): an agent with a measured-boot reference state (from a
// real UEFI log) and a runtime policy answers challenges honestly, quoting
// exactly what it is asked, with quotes built in software over any bank and
// selection. A gateway that asks for sha1 or leaves out PCR 4 or 10 gets
// REJECTED verdicts (challenge.insufficient_selection), never FAIL, never a
// revocation, the agent's state untouched; an agent that quotes less than
// its token asked gets REJECTED (quote.selection_mismatch), never PASS; an
// honest full quote is PASS, with a version-2 token and a version-1 one.
#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/eventlog/event_log.h"
#include "common/eventlog/policy.h"
#include "common/eventlog/replay.h"
#include "common/ima/log.h"
#include "common/ima/policy.h"
#include "common/protoconv/hash_alg.h"
#include "tests/quote/soft_quote.h"
#include "tests/verifier/soft_tpm.h"
#include "tests/verifier/test_util.h"
#include "verifier-workers/processor.h"

namespace attest::worker {
namespace {

using verifier::test::KeylimeDir;

constexpr char kAgent[] = "3b1e0c52-5a1f-4c0e-b3f0-6e3f0f6f9a17";
constexpr uint32_t kAll = 0x0005ff;  // PCRs 0-8 and 10: what a default gateway asks

// Digest of IMA entry `e` as extended into PCR 10 of the sha256 bank.
tpm::Bytes ImaPcrDigest(const ima::Entry& e) {
  ima::Hasher h;
  auto d = e.IsViolation() ? ima::Digest::Filled(32, 0xff)
                           : h.Hash(ima::HashAlg::kSha256, ima::AsBytes(e.data));
  return tpm::Bytes(d.view().begin(), d.view().end());
}

struct Processed {
  Outcome out;
  AgentRow before;
  AgentRow row;
  v1::Verdict verdict;

  std::string FirstId() const {
    return verdict.failures_size() > 0 ? verdict.failures(0).event_id() : "";
  }
  std::string Describe() const { return verdict.DebugString(); }
};

class SelectionWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signer_ = *RevocationSigner::FromPem(testing::NewP256KeyPem(), "test");
    ctx_.keys = &keys_;
    ctx_.signer = signer_.get();
    ctx_.worker_id = "test";
    ctx_.verdict_topic = "attestation.verdicts";
    ctx_.revocation_topic = "attestation.revocations";
    ak_ = verifier::test::OrThrow(verifier::AttestationKey::FromPublic(tpm_.public_area()));

    // Measured boot: PCRs 0-7 hold the replay of a real log, and the
    // reference state accepts exactly that log.
    std::string s = attest::testing::ReadFile(KeylimeDir() / "uefi" / "binary_bios_measurements");
    uefi_log_ = s;
    uefi_bytes_.assign(s.begin(), s.end());
    auto log = eventlog::ParseEventLog(uefi_bytes_);
    ASSERT_TRUE(log.ok()) << log.error().message;
    auto pcrs = eventlog::Replay(*log);
    ASSERT_TRUE(pcrs.ok());
    // PCRs 0-8 (8: GRUB's command line, which the reference state judges).
    for (uint32_t i = 0; i < 9; ++i) {
      const auto& bank = pcrs->at(eventlog::alg::kSha256);
      if (bank.contains(i)) tpm_.Set(i, bank.at(i));
    }
    policies_.mb =
        CompilePolicy(3, 1, PolicyKind::kMeasuredBoot,
                      eventlog::SerializeReferenceState(eventlog::GenerateReferenceState(*log)));
    ASSERT_TRUE(policies_.mb->error.empty()) << policies_.mb->error;

    // IMA: the Keylime list, all of it extended and allowed.
    ima_ = verifier::test::KeylimeImaLog();
    ASSERT_FALSE(ima_.entries.empty());
    for (const auto& e : ima_.entries) tpm_.Extend(10, ImaPcrDigest(e));
    policies_.runtime =
        CompilePolicy(2, 1, PolicyKind::kRuntime, ima::GeneratePolicy(ima_).ToJson());
    ASSERT_TRUE(policies_.runtime->error.empty()) << policies_.runtime->error;
  }

  // An evidence answering `token` with a quote over `banks` (bank -> mask):
  // sha256 values are the TPM's, other banks' are made up (a real TPM has
  // them too).
  v1::EvidenceEnvelope Envelope(const std::string& token,
                                const std::vector<std::pair<TPMI_ALG_HASH, uint32_t>>& banks,
                                bool break_signature = false,
                                TPMI_ALG_HASH sign_hash = TPM2_ALG_SHA256) {
    TPML_PCR_SELECTION sel{};
    tpm::PcrValues values;
    for (const auto& [bank, mask] : banks) {
      auto& e = sel.pcrSelections[sel.count++];
      e.hash = bank;
      e.sizeofSelect = 3;
      for (uint32_t i = 0; i < 24; ++i) {
        if ((mask & (1u << i)) == 0) continue;
        e.pcrSelect[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
        values[bank][i] = bank == TPM2_ALG_SHA256
                              ? tpm_.Get(i)
                              : tpm::Bytes(tpm::HashAlgDigestSize(bank), static_cast<uint8_t>(i));
      }
    }
    tpm_.AdvanceClock(1000);
    const tpm::Bytes nonce(token.begin(), token.end());
    auto attest =
        verifier::test::OrThrow(simtpm::MakeQuote(nonce, sel, values, sign_hash, tpm_.clock()));
    auto sig = verifier::test::OrThrow(
        simtpm::SignLikeTpm(tpm_.ak(), tpm_.ak().scheme(), sign_hash, attest));
    if (break_signature) sig[sig.size() - 3] ^= 1;

    v1::EvidenceEnvelope env;
    env.set_evidence_id("e-" + std::to_string(++counter_));
    env.mutable_received_at()->set_seconds(
        std::chrono::duration_cast<std::chrono::seconds>(now_.time_since_epoch()).count());
    env.set_gateway_id("test");
    auto* ev = env.mutable_evidence();
    ev->set_agent_uuid(kAgent);
    ev->set_challenge_token(token);
    ev->mutable_quote()->set_attest(std::string(attest.begin(), attest.end()));
    ev->mutable_quote()->set_signature(std::string(sig.begin(), sig.end()));
    for (const auto& [bank, pcrs] : values) {
      auto* b = ev->mutable_quote()->add_pcrs();
      b->set_hash_algorithm(protoconv::ProtoHashAlg(bank));
      for (const auto& [i, v] : pcrs) (*b->mutable_values())[i] = std::string(v.begin(), v.end());
    }
    auto* ima = ev->mutable_ima();
    ima->set_start_offset(0);
    ima->set_entry_count(ima_.entries.size());
    ima->set_format(v1::IMA_LOG_FORMAT_ASCII);
    ima->set_data(ima::WriteAscii(ima_));
    ev->set_uefi_log(uefi_log_);
    ev->mutable_boot_time()->set_seconds(1'700'000'000);
    return env;
  }

  std::string Token(token::Binding b) {
    return verifier::test::OrThrow(token::Issue(keys_, kAgent, now_, 0, b));
  }
  std::string TokenV1() { return verifier::test::OrThrow(token::IssueV1(keys_, kAgent, now_, 0)); }

  // Processes `env` for an agent in `state` that has passed before.
  Processed Process(const v1::EvidenceEnvelope& env, EnrolmentState state = EnrolmentState::kPass) {
    Processed p;
    p.row.agent_id = kAgent;
    p.row.registration_active = true;
    p.row.state = state;
    p.row.sequence = 7;
    p.row.runtime_policy_id = 2;
    p.row.mb_policy_id = 3;
    if (policies_.pcr) p.row.pcr_policy_id = 1;
    p.before = p.row;
    p.out = ProcessEvidence(ctx_, env, EvidenceRef{0, 1}, p.row, ak_, policies_, now_);
    EXPECT_FALSE(p.out.outbox.empty());
    if (!p.out.outbox.empty()) {
      EXPECT_TRUE(p.verdict.ParseFromString(p.out.outbox[0].payload));
    }
    return p;
  }

  // REJECTED with `id` first, nothing else changed: no revocation, state,
  // liveness and verification state as before.
  static void ExpectRejected(const Processed& p, const std::string& id) {
    EXPECT_EQ(p.verdict.result(), v1::VERDICT_RESULT_REJECTED) << p.Describe();
    EXPECT_EQ(p.FirstId(), id) << p.Describe();
    EXPECT_EQ(p.out.outbox.size(), 1u) << "a revocation was published";
    EXPECT_EQ(p.row.state, p.before.state);
    EXPECT_FALSE(p.row.attested) << "REJECTED evidence extended the agent's liveness";
    EXPECT_FALSE(p.row.vstate.clock.has_value());
    EXPECT_FALSE(p.row.vstate.boot_log_accepted);
    EXPECT_EQ(p.row.vstate.ima_next_offset, 0u);
    EXPECT_EQ(p.row.sequence, p.before.sequence + 1);
  }

  token::KeySet keys_ = *token::KeySet::FromSecrets({std::string(32, 's')});
  std::shared_ptr<const RevocationSigner> signer_;
  Context ctx_;
  verifier::test::SoftTpm tpm_{true};
  std::shared_ptr<const verifier::AttestationKey> ak_;
  AgentPolicyRefs policies_;
  ima::Log ima_;
  std::string uefi_log_;
  tpm::Bytes uefi_bytes_;
  Clock::time_point now_ = Clock::now();
  int counter_ = 0;
};

TEST_F(SelectionWorkerTest, AnHonestFullQuotePasses) {
  auto p = Process(
      Envelope(Token({.pcr_bank = TPM2_ALG_SHA256, .pcr_mask = kAll, .uefi_log_requested = true}),
               {{TPM2_ALG_SHA256, kAll}}));
  ASSERT_EQ(p.verdict.result(), v1::VERDICT_RESULT_PASS) << p.Describe();
  EXPECT_TRUE(p.row.attested);
  EXPECT_TRUE(p.row.vstate.boot_log_accepted);
  EXPECT_EQ(p.row.vstate.ima_next_offset, ima_.entries.size());
}

// Rolling upgrade: a gateway of the previous release issues version-1
// tokens; an honest full quote still passes.
TEST_F(SelectionWorkerTest, AVersionOneTokenWithAFullQuotePasses) {
  auto p = Process(Envelope(TokenV1(), {{TPM2_ALG_SHA256, kAll}}));
  ASSERT_EQ(p.verdict.result(), v1::VERDICT_RESULT_PASS) << p.Describe();
}

// The attack: a gateway configured (or compromised) to ask for sha1. The
// agent quotes what it is asked. Before: quote.hash_alg_not_allowed, FAIL
// and a revocation of a healthy agent.
TEST_F(SelectionWorkerTest, AGatewayAskingForSha1IsRejectedNotFailed) {
  auto p = Process(
      Envelope(Token({.pcr_bank = TPM2_ALG_SHA1, .pcr_mask = kAll}), {{TPM2_ALG_SHA1, kAll}}));
  ExpectRejected(p, "challenge.insufficient_selection");
}

// The attack: a gateway leaving out PCR 4 (the boot applications). Before:
// measured_boot.pcrs_not_quoted, FAIL and a revocation.
TEST_F(SelectionWorkerTest, AGatewayLeavingOutPcr4IsRejectedNotFailed) {
  const uint32_t no4 = kAll & ~(1u << 4);
  auto p = Process(
      Envelope(Token({.pcr_bank = TPM2_ALG_SHA256, .pcr_mask = no4}), {{TPM2_ALG_SHA256, no4}}));
  ExpectRejected(p, "challenge.insufficient_selection");
  EXPECT_NE(p.verdict.failures(0).context().find("sha256:4"), std::string::npos) << p.Describe();
}

// The attack: a gateway leaving out PCR 10 (IMA). Before: ima.pcr_not_quoted,
// FAIL and a revocation.
TEST_F(SelectionWorkerTest, AGatewayLeavingOutPcr10IsRejectedNotFailed) {
  auto p = Process(Envelope(Token({.pcr_bank = TPM2_ALG_SHA256, .pcr_mask = 0x1ff}),
                            {{TPM2_ALG_SHA256, 0x1ff}}));
  ExpectRejected(p, "challenge.insufficient_selection");
  EXPECT_NE(p.verdict.failures(0).context().find("sha256:10"), std::string::npos) << p.Describe();
}

// A gateway whose Challenge message says sha1 while its token binds sha256:
// the agent quotes sha1 (as told). The quote is not what the token asked.
TEST_F(SelectionWorkerTest, AChallengeThatContradictsItsTokenIsRejected) {
  auto p = Process(
      Envelope(Token({.pcr_bank = TPM2_ALG_SHA256, .pcr_mask = kAll}), {{TPM2_ALG_SHA1, kAll}}));
  ExpectRejected(p, "quote.selection_mismatch");
  // ... or adds a sha1 bank to the asked one.
  auto both = Process(Envelope(Token({.pcr_bank = TPM2_ALG_SHA256, .pcr_mask = kAll}),
                               {{TPM2_ALG_SHA256, kAll}, {TPM2_ALG_SHA1, kAll}}));
  ExpectRejected(both, "quote.selection_mismatch");
}

// An agent that withholds PCR 4 from a quote whose token asked for it gets
// no verdict that counts: REJECTED (never PASS), so it goes OFFLINE.
TEST_F(SelectionWorkerTest, AQuoteWithholdingAnAskedPcrIsRejected) {
  for (uint32_t pcr : {4u, 10u}) {
    SCOPED_TRACE(pcr);
    auto p = Process(Envelope(Token({.pcr_bank = TPM2_ALG_SHA256, .pcr_mask = kAll}),
                              {{TPM2_ALG_SHA256, kAll & ~(1u << pcr)}}));
    ExpectRejected(p, "quote.selection_mismatch");
  }
  // Also from FAILED or OFFLINE: no PASS, no RESUMED.
  for (EnrolmentState state : {EnrolmentState::kFailed, EnrolmentState::kOffline}) {
    auto p = Process(Envelope(Token({.pcr_bank = TPM2_ALG_SHA256, .pcr_mask = kAll}),
                              {{TPM2_ALG_SHA256, kAll & ~(1u << 4)}}),
                     state);
    ExpectRejected(p, "quote.selection_mismatch");
  }
}

// A version-1 token (no binding) with a quote short of PCR 10: nobody can
// say whether the challenge or the agent left it out: REJECTED, not FAIL.
TEST_F(SelectionWorkerTest, AVersionOneTokenWithAShortQuoteIsRejected) {
  auto p = Process(Envelope(TokenV1(), {{TPM2_ALG_SHA256, 0xff}}));
  ExpectRejected(p, "challenge.insufficient_selection");
  auto sha1 = Process(Envelope(TokenV1(), {{TPM2_ALG_SHA1, kAll}}));
  ExpectRejected(sha1, "challenge.insufficient_selection");
}

// Authentication comes first: a forged quote is reported as such whatever
// it covers.
TEST_F(SelectionWorkerTest, AForgedQuoteIsReportedAsForged) {
  auto p = Process(Envelope(Token({.pcr_bank = TPM2_ALG_SHA256, .pcr_mask = kAll}),
                            {{TPM2_ALG_SHA256, 0xff}}, /*break_signature=*/true));
  EXPECT_EQ(p.verdict.result(), v1::VERDICT_RESULT_REJECTED) << p.Describe();
  EXPECT_EQ(p.FirstId(), "quote.invalid_signature") << p.Describe();
}

// The signing hash is the AK's (the agent quotes with its own scheme), not
// the challenge's: a sha1 signature stays the agent's FAIL, even when the
// quote's selection is off too.
TEST_F(SelectionWorkerTest, ASha1SignatureStaysTheAgentsFail) {
  auto p = Process(Envelope(Token({.pcr_bank = TPM2_ALG_SHA256, .pcr_mask = kAll}),
                            {{TPM2_ALG_SHA1, 1u << 10}}, false, TPM2_ALG_SHA1));
  EXPECT_EQ(p.verdict.result(), v1::VERDICT_RESULT_FAIL) << p.Describe();
  EXPECT_EQ(p.FirstId(), "quote.hash_alg_not_allowed") << p.Describe();
}

// A PCR policy naming PCR 14, which the gateway does not ask for.
TEST_F(SelectionWorkerTest, APcrPolicyPcrTheChallengeLeftOutIsRejected) {
  auto pcr = std::make_shared<CachedPolicy>();
  pcr->id = 1;
  pcr->version = 1;
  pcr->kind = PolicyKind::kPcr;
  auto policy = std::make_shared<checks::PcrPolicy>();
  policy->allowed[TPM2_ALG_SHA256][14] = {tpm::Bytes(32, 0)};
  pcr->pcr = policy;
  policies_.pcr = pcr;
  auto p = Process(
      Envelope(Token({.pcr_bank = TPM2_ALG_SHA256, .pcr_mask = kAll}), {{TPM2_ALG_SHA256, kAll}}));
  ExpectRejected(p, "challenge.insufficient_selection");
  // Asked for: PASS (PCR 14 is zero, as the policy allows).
  auto ok = Process(Envelope(Token({.pcr_bank = TPM2_ALG_SHA256, .pcr_mask = kAll | (1u << 14)}),
                             {{TPM2_ALG_SHA256, kAll | (1u << 14)}}));
  EXPECT_EQ(ok.verdict.result(), v1::VERDICT_RESULT_PASS) << ok.Describe();
}

}  // namespace
}  // namespace attest::worker
