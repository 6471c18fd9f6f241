// Pure tests of VerifyEvidence with software-built quotes: results, state
// transitions (replay, reboot, IMA offsets) and failure ids.
#include <gtest/gtest.h>

#include "common/eventlog/event_log.h"
#include "common/eventlog/policy.h"
#include "common/eventlog/replay.h"
#include "tests/verifier/soft_tpm.h"
#include "tests/verifier/test_util.h"

namespace attest::verifier::test {
namespace {

constexpr int64_t kNow = 1'700'000'000;

class VerifierTest : public ::testing::Test {
 protected:
  void SetUp() override { agent_.ak = tpm_.Ak(); }

  Verdict Run(const Evidence& ev, const AgentState& st, const tpm::Bytes& nonce = kNonce) {
    return VerifyEvidence(ev, nonce, agent_, st, kNow);
  }

  // Extends entries [from, to) of the Keylime list into PCR 10 and returns
  // them as IMA evidence starting at `from`.
  ImaEvidence ExtendIma(size_t from, size_t to, std::string* buffer) {
    ima::Hasher h;
    for (size_t i = from; i < to; ++i) {
      const auto& e = log_.entries[i];
      auto d = e.IsViolation() ? ima::Digest::Filled(32, 0xff)
                               : h.Hash(ima::HashAlg::kSha256, ima::AsBytes(e.data));
      tpm_.Extend(10, tpm::Bytes(d.view().begin(), d.view().end()));
    }
    *buffer = AsciiSlice(log_, from, to);
    ImaEvidence ima;
    ima.entries = *buffer;
    ima.start_offset = from;
    return ima;
  }

  SoftTpm tpm_;
  Agent agent_;
  ima::Log log_ = KeylimeImaLog();
};

TEST_F(VerifierTest, FirstQuotePassesAndStoresClock) {
  auto q = tpm_.Quote(kNonce, {0, 1, 10});
  auto v = Run(q.MakeEvidence(), {});
  EXPECT_EQ(v.result, Outcome::kPass) << Describe(v);
  ASSERT_TRUE(v.new_state.clock);
  EXPECT_EQ(v.new_state.clock->clock, 2000u);
  EXPECT_EQ(v.new_state.last_verified_at, kNow);
  EXPECT_FALSE(v.reboot);
}

TEST_F(VerifierTest, AkFromTpm2bPublicBytesWorksToo) {
  TPM2B_PUBLIC pub{};
  pub.publicArea = tpm_.public_area();
  auto area = tpm::MarshalPublicArea(pub.publicArea);
  ASSERT_TRUE(area.ok());
  tpm::Bytes bytes{static_cast<uint8_t>(area->size() >> 8), static_cast<uint8_t>(area->size())};
  bytes.insert(bytes.end(), area->begin(), area->end());
  agent_.ak.reset();
  agent_.ak_public = bytes;
  auto q = tpm_.Quote(kNonce, {0, 10});
  EXPECT_EQ(Run(q.MakeEvidence(), {}).result, Outcome::kPass);
  agent_.ak_public = {};  // no AK at all: rejected, never crashes
  auto v = Run(q.MakeEvidence(), {});
  EXPECT_EQ(v.result, Outcome::kRejected);
  EXPECT_NE(Find(v, "quote.invalid_signature"), nullptr);
}

TEST_F(VerifierTest, WrongNonceIsRejectedWithoutStateChange) {
  AgentState st;
  st.ima_next_offset = 7;
  st.ima_pcr = tpm::Bytes(32, 1);
  auto q = tpm_.Quote(kNonce, {0, 10});
  auto v = Run(q.MakeEvidence(), st, tpm::Bytes{1, 2, 3});
  EXPECT_EQ(v.result, Outcome::kRejected);
  EXPECT_NE(Find(v, "quote.nonce_mismatch"), nullptr) << Describe(v);
  EXPECT_FALSE(v.new_state.clock);
  EXPECT_EQ(v.new_state.ima_next_offset, 7u);
  EXPECT_EQ(v.new_state.ima_pcr, st.ima_pcr);
}

TEST_F(VerifierTest, TamperedPcrValueIsRejected) {
  auto q = tpm_.Quote(kNonce, {0, 10});
  q.pcrs[TPM2_ALG_SHA256][0][0] ^= 1;
  auto v = Run(q.MakeEvidence(), {});
  EXPECT_EQ(v.result, Outcome::kRejected);
  EXPECT_NE(Find(v, "quote.pcr_digest_mismatch"), nullptr) << Describe(v);
}

TEST_F(VerifierTest, ReplayedAndOlderQuotesAreRejectedWithoutStateChange) {
  auto older = tpm_.Quote(kNonce, {0, 10});
  auto newer = tpm_.Quote(kNonce, {0, 10});
  auto v1 = Run(newer.MakeEvidence(), {});
  ASSERT_EQ(v1.result, Outcome::kPass) << Describe(v1);

  auto again = Run(newer.MakeEvidence(), v1.new_state);  // a duplicate delivery
  EXPECT_EQ(again.result, Outcome::kRejected) << Describe(again);
  EXPECT_NE(Find(again, "quote.replay"), nullptr);
  EXPECT_EQ(again.new_state.clock->clock, v1.new_state.clock->clock);

  auto old = Run(older.MakeEvidence(), v1.new_state);
  EXPECT_EQ(old.result, Outcome::kRejected) << Describe(old);
  EXPECT_EQ(old.new_state.clock->clock, v1.new_state.clock->clock);
}

TEST_F(VerifierTest, RebootResetsImaAndRequestsBootLog) {
  agent_.policies.measured_boot = std::make_shared<eventlog::ReferenceState>();
  auto first = tpm_.Quote(kNonce, {0, 10});
  AgentState st = Run(first.MakeEvidence(), {}).new_state;
  st.boot_log_accepted = true;  // as if the log had been verified
  st.uefi_log_withheld = 0;
  st.ima_next_offset = 25;
  st.ima_pcr = tpm::Bytes(32, 0xab);
  st.boot_time = 100;

  // Same boot, no log: passes.
  auto same = tpm_.Quote(kNonce, {0, 10});
  auto v0 = Run(same.MakeEvidence(), st);
  EXPECT_EQ(v0.result, Outcome::kPass) << Describe(v0);
  EXPECT_EQ(v0.new_state.ima_next_offset, 25u);

  tpm_.Reboot();
  auto q = tpm_.Quote(kNonce, {0, 10});
  auto v = Run(q.MakeEvidence(), st);
  EXPECT_EQ(v.result, Outcome::kLogRequested) << Describe(v);
  EXPECT_TRUE(v.reboot);
  EXPECT_TRUE(v.uefi_log_requested);
  EXPECT_EQ(v.new_state.ima_next_offset, 0u);
  EXPECT_TRUE(v.new_state.ima_pcr.empty());  // all zero: a fresh boot
  EXPECT_FALSE(v.new_state.boot_log_accepted);
  EXPECT_EQ(v.new_state.clock->reset_count, 1u);

  // Until the log arrives, every evidence asks for it.
  auto q2 = tpm_.Quote(kNonce, {0, 10});
  auto v2 = Run(q2.MakeEvidence(), v.new_state);
  EXPECT_EQ(v2.result, Outcome::kLogRequested) << Describe(v2);
  EXPECT_FALSE(v2.reboot);
}

TEST_F(VerifierTest, UnsafeClockAfterPowerLossIsANoticeNotAFailure) {
  auto q1 = tpm_.Quote(kNonce, {0, 10});
  AgentState st = Run(q1.MakeEvidence(), {}).new_state;
  tpm_.Reboot();
  tpm_.SetClockSafe(false);
  auto q2 = tpm_.Quote(kNonce, {0, 10});
  auto v = Run(q2.MakeEvidence(), st);
  EXPECT_EQ(v.result, Outcome::kPass) << Describe(v);
  EXPECT_TRUE(v.reboot);
  ASSERT_EQ(v.notices.size(), 1u);
  EXPECT_EQ(v.notices[0].event_id, "quote.clock_unsafe");
  // The old boot's quote is still refused.
  EXPECT_EQ(Run(q1.MakeEvidence(), v.new_state).result, Outcome::kRejected);
}

TEST_F(VerifierTest, ChangedBootTimeIsAReboot) {
  AgentState st;
  st.boot_time = 100;
  st.ima_next_offset = 3;
  st.ima_pcr = tpm::Bytes(32, 7);
  auto q = tpm_.Quote(kNonce, {0, 10});
  auto ev = q.MakeEvidence();
  ev.boot_time = 200;
  auto v = Run(ev, st);
  EXPECT_TRUE(v.reboot);
  EXPECT_EQ(v.result, Outcome::kPass) << Describe(v);  // no measured-boot policy
  EXPECT_EQ(v.new_state.boot_time, 200);
  EXPECT_EQ(v.new_state.ima_next_offset, 0u);
}

TEST_F(VerifierTest, NoBootBaselineRequestsLog) {
  agent_.policies.measured_boot = std::make_shared<eventlog::ReferenceState>();
  auto q = tpm_.Quote(kNonce, {0, 10});
  auto v = Run(q.MakeEvidence(), {});
  EXPECT_EQ(v.result, Outcome::kLogRequested) << Describe(v);
  EXPECT_TRUE(v.uefi_log_requested);
  EXPECT_FALSE(v.reboot);
}

TEST_F(VerifierTest, ImaOffsetAheadRequestsFullLog) {
  std::string buf;
  AgentState st;
  auto ima0 = ExtendIma(0, 10, &buf);
  auto q0 = tpm_.Quote(kNonce, {10});
  auto ev0 = q0.MakeEvidence();
  ev0.ima = ima0;
  st = Run(ev0, st).new_state;
  ASSERT_EQ(st.ima_next_offset, 10u);

  std::string buf2;
  auto ima = ExtendIma(10, 20, &buf2);
  ima.start_offset = 15;  // entries 10..14 missing
  auto q = tpm_.Quote(kNonce, {10});
  auto ev = q.MakeEvidence();
  ev.ima = ima;
  auto v = Run(ev, st);
  EXPECT_EQ(v.result, Outcome::kLogRequested) << Describe(v);
  ASSERT_TRUE(v.requested_ima_offset);
  EXPECT_EQ(*v.requested_ima_offset, 0u);
  EXPECT_EQ(v.new_state.ima_next_offset, 0u);

  // The full list then verifies from zero.
  std::string full = AsciiSlice(log_, 0, 20);
  auto q2 = tpm_.Quote(kNonce, {10});
  auto ev2 = q2.MakeEvidence();
  ev2.ima = ImaEvidence{full, ima::Format::kAscii, 0, 20, {}, {}};
  auto v2 = Run(ev2, v.new_state);
  EXPECT_EQ(v2.result, Outcome::kPass) << Describe(v2);
  EXPECT_EQ(v2.new_state.ima_next_offset, 20u);
}

TEST_F(VerifierTest, ImaIncrementalSkipsVerifiedPrefix) {
  agent_.policies.runtime = [&] {
    auto c = std::make_shared<CompiledRuntimePolicy>();
    c->policy = ima::GeneratePolicy(log_);
    return std::shared_ptr<const CompiledRuntimePolicy>(c);
  }();
  AgentState st;
  std::string b1, b2, b3;
  auto q1_ima = ExtendIma(0, 20, &b1);
  auto q1 = tpm_.Quote(kNonce, {10});
  auto ev1 = q1.MakeEvidence();
  ev1.ima = q1_ima;
  auto v1 = Run(ev1, st);
  ASSERT_EQ(v1.result, Outcome::kPass) << Describe(v1);
  EXPECT_EQ(v1.stats.ima_entries_checked, 20u);
  EXPECT_EQ(v1.new_state.ima_next_offset, 20u);
  EXPECT_EQ(v1.new_state.ima_pcr, ImaPcr(log_, 20));

  auto q2_ima = ExtendIma(20, 40, &b2);
  auto q2 = tpm_.Quote(kNonce, {10});
  auto ev2 = q2.MakeEvidence();
  ev2.ima = q2_ima;
  auto v2 = Run(ev2, v1.new_state);
  ASSERT_EQ(v2.result, Outcome::kPass) << Describe(v2);
  EXPECT_EQ(v2.new_state.ima_next_offset, 40u);

  // Entries sent again from an earlier offset: the verified prefix is skipped.
  (void)ExtendIma(40, 50, &b3);
  std::string overlap = AsciiSlice(log_, 30, 50);
  auto q3 = tpm_.Quote(kNonce, {10});
  auto ev3 = q3.MakeEvidence();
  ev3.ima = ImaEvidence{overlap, ima::Format::kAscii, 30, std::nullopt, {}, {}};
  auto v3 = Run(ev3, v2.new_state);
  ASSERT_EQ(v3.result, Outcome::kPass) << Describe(v3);
  EXPECT_EQ(v3.stats.ima_entries_skipped, 10u);
  EXPECT_EQ(v3.stats.ima_entries_checked, 10u);
  EXPECT_EQ(v3.new_state.ima_next_offset, 50u);
  EXPECT_EQ(v3.new_state.ima_pcr, ImaPcr(log_, 50));
}

TEST_F(VerifierTest, ImaBinaryFormatAndEntryCount) {
  ima::Log part;
  part.template_hash_alg = log_.template_hash_alg;
  part.entries.assign(log_.entries.begin(), log_.entries.begin() + 12);
  std::string bin = ima::WriteBinary(part);
  std::string unused;
  (void)ExtendIma(0, 12, &unused);
  auto q = tpm_.Quote(kNonce, {10});
  auto ev = q.MakeEvidence();
  ev.ima = ImaEvidence{bin, ima::Format::kBinary, 0, 12, {}, {}};
  auto v = Run(ev, {});
  EXPECT_EQ(v.result, Outcome::kPass) << Describe(v);
  EXPECT_EQ(v.new_state.ima_next_offset, 12u);

  ev.ima->entry_count = 13;
  auto bad = Run(ev, {});
  EXPECT_NE(Find(bad, "ima.entry_count_mismatch"), nullptr) << Describe(bad);

  ev.ima = ImaEvidence{
      std::string_view(bin).substr(0, bin.size() - 3), ima::Format::kBinary, 0, {}, {}, {}};
  auto trunc = Run(ev, {});
  EXPECT_EQ(trunc.result, Outcome::kFail);
  EXPECT_NE(Find(trunc, "ima.log_malformed"), nullptr) << Describe(trunc);
}

TEST_F(VerifierTest, ImaEntryOutsidePolicyFailsWithIndex) {
  ima::Log known;
  known.entries.assign(log_.entries.begin(), log_.entries.begin() + 30);
  known.template_hash_alg = log_.template_hash_alg;
  auto c = std::make_shared<CompiledRuntimePolicy>();
  c->policy = ima::GeneratePolicy(known);
  agent_.policies.runtime = c;

  std::string buf;
  auto ima = ExtendIma(0, 30, &buf);
  auto q = tpm_.Quote(kNonce, {10});
  auto ev = q.MakeEvidence();
  ev.ima = ima;
  auto v = Run(ev, {});
  ASSERT_EQ(v.result, Outcome::kPass) << Describe(v);

  // One more entry whose path the policy does not know.
  tpm::Bytes digest(32, 0x42);
  auto evil = ima::MakeEntry(ima::Template::kImaNg, "sha256", digest, "/usr/bin/evil");
  ASSERT_TRUE(evil.ok());
  ima::Hasher h;
  evil->template_hash = h.Hash(ima::HashAlg::kSha1, ima::AsBytes(evil->data));
  log_.entries.insert(log_.entries.begin() + 30, *evil);
  std::string buf2;
  auto ima2 = ExtendIma(30, 31, &buf2);
  auto q2 = tpm_.Quote(kNonce, {10});
  auto ev2 = q2.MakeEvidence();
  ev2.ima = ima2;
  auto v2 = Run(ev2, v.new_state);
  EXPECT_EQ(v2.result, Outcome::kFail);
  const Failure* f = Find(v2, "ima.validation.ima-ng.not_in_allowlist");
  ASSERT_NE(f, nullptr) << Describe(v2);
  EXPECT_EQ(Context(*f)["entry"], 30);
  EXPECT_EQ(Context(*f)["path"], "/usr/bin/evil");
  // The list is authentic (PCR 10 matches), so the state advances past it.
  EXPECT_EQ(v2.new_state.ima_next_offset, 31u);
}

TEST_F(VerifierTest, ImaPcrMismatchKeepsState) {
  std::string buf;
  auto ima = ExtendIma(0, 10, &buf);
  tpm_.Extend(10, tpm::Bytes(32, 0x99));  // something extended outside the list
  auto q = tpm_.Quote(kNonce, {10});
  auto ev = q.MakeEvidence();
  ev.ima = ima;
  auto v = Run(ev, {});
  EXPECT_EQ(v.result, Outcome::kFail);
  const Failure* f = Find(v, "ima.pcr_mismatch");
  ASSERT_NE(f, nullptr) << Describe(v);
  EXPECT_EQ(Context(*f)["quoted"], tpm::ToHex(tpm_.Get(10)));
  EXPECT_EQ(v.new_state.ima_next_offset, 0u);
  EXPECT_TRUE(v.new_state.ima_pcr.empty());
}

TEST_F(VerifierTest, QuoteLaggingTheListKeepsOnlyTheQuotedPrefix) {
  std::string buf;
  (void)ExtendIma(0, 10, &buf);
  auto q = tpm_.Quote(kNonce, {10});  // covers 10 entries
  std::string more;
  (void)ExtendIma(10, 15, &more);
  std::string sent = AsciiSlice(log_, 0, 15);  // list read after the quote
  auto ev = q.MakeEvidence();
  ev.ima = ImaEvidence{sent, ima::Format::kAscii, 0, 15, {}, {}};
  auto v = Run(ev, {});
  EXPECT_EQ(v.result, Outcome::kPass) << Describe(v);
  EXPECT_EQ(v.new_state.ima_next_offset, 10u);
  EXPECT_EQ(v.new_state.ima_pcr, ImaPcr(log_, 10));
}

// Issue 16.3: a list longer than one evidence may carry arrives in parts.
// Each part is checked entry by entry as it arrives; until a quoted PCR 10
// anchors the chain the verdict is LOG_REQUESTED with ima.catching_up (never
// PASS, never FAIL); a violation in any part is FAIL.
TEST_F(VerifierTest, ImaListInPartsCatchesUpThenPasses) {
  const size_t n = log_.entries.size();
  ASSERT_GE(n, 45u);
  auto c = std::make_shared<CompiledRuntimePolicy>();
  c->policy = ima::GeneratePolicy(log_);
  agent_.policies.runtime = c;
  std::string all;
  (void)ExtendIma(0, n, &all);  // the TPM has measured the whole list
  auto part = [&](size_t from, size_t to, std::optional<uint64_t> list, const AgentState& st) {
    std::string text = AsciiSlice(log_, from, to);
    auto q = tpm_.Quote(kNonce, {10});
    auto ev = q.MakeEvidence();
    ev.ima = ImaEvidence{text, ima::Format::kAscii, from, to - from, list, {}};
    return Run(ev, st);
  };
  auto v1 = part(0, 20, n, {});
  ASSERT_EQ(v1.result, Outcome::kLogRequested) << Describe(v1);
  EXPECT_TRUE(v1.ima_catching_up);
  ASSERT_EQ(v1.notices.size(), 1u);
  EXPECT_EQ(v1.notices[0].event_id, kImaCatchingUp);
  EXPECT_EQ(v1.requested_ima_offset, 20u);
  EXPECT_EQ(v1.new_state.ima_next_offset, 20u);
  EXPECT_EQ(v1.new_state.ima_pcr, ImaPcr(log_, 20));

  auto v2 = part(20, 40, n, v1.new_state);
  ASSERT_EQ(v2.result, Outcome::kLogRequested) << Describe(v2);
  EXPECT_EQ(v2.new_state.ima_next_offset, 40u);

  auto v3 = part(40, n, n, v2.new_state);
  ASSERT_EQ(v3.result, Outcome::kPass) << Describe(v3);
  EXPECT_FALSE(v3.ima_catching_up);
  EXPECT_EQ(v3.new_state.ima_next_offset, n);
  EXPECT_EQ(v3.new_state.ima_pcr, ImaPcr(log_, n));

  // The last part claimed as complete but not matching the quote: mismatch.
  auto short_last = part(40, n - 1, std::nullopt, v2.new_state);
  EXPECT_EQ(short_last.result, Outcome::kFail);
  EXPECT_NE(Find(short_last, "ima.pcr_mismatch"), nullptr) << Describe(short_last);
  EXPECT_EQ(short_last.new_state.ima_next_offset, 40u);
}

// A compromised agent cannot stay "catching up" for ever: parts that never
// reach the quote fail with ima.not_anchored once the first part is older
// than kImaCatchUpMaxSeconds; an empty part never counts as catching up.
TEST_F(VerifierTest, ImaPartsNeverAnchoredFailInTime) {
  const size_t n = log_.entries.size();
  auto c = std::make_shared<CompiledRuntimePolicy>();
  c->policy = ima::GeneratePolicy(log_);
  agent_.policies.runtime = c;
  std::string all;
  (void)ExtendIma(0, n, &all);
  auto part = [&](size_t from, size_t to, uint64_t list, const AgentState& st, int64_t now) {
    std::string text = AsciiSlice(log_, from, to);
    auto q = tpm_.Quote(kNonce, {10});
    auto ev = q.MakeEvidence();
    ev.ima = ImaEvidence{text, ima::Format::kAscii, from, to - from, list, {}};
    return VerifyEvidence(ev, kNonce, agent_, st, now);
  };
  auto v1 = part(0, 10, n + 1000, {}, kNow);
  ASSERT_EQ(v1.result, Outcome::kLogRequested) << Describe(v1);
  EXPECT_EQ(v1.new_state.ima_catch_up_since, kNow);
  auto v2 = part(10, 20, n + 1000, v1.new_state, kNow + 600);
  ASSERT_EQ(v2.result, Outcome::kLogRequested) << Describe(v2);
  EXPECT_EQ(v2.new_state.ima_catch_up_since, kNow);
  auto v3 = part(20, 30, n + 1000, v2.new_state, kNow + kImaCatchUpMaxSeconds + 1);
  EXPECT_EQ(v3.result, Outcome::kFail);
  EXPECT_NE(Find(v3, kImaNotAnchored), nullptr) << Describe(v3);
  EXPECT_EQ(v3.new_state.ima_next_offset, 20u);
  // The honest end of the list anchors it and clears the clock.
  auto done = part(20, n, n, v2.new_state, kNow + 700);
  ASSERT_EQ(done.result, Outcome::kPass) << Describe(done);
  EXPECT_EQ(done.new_state.ima_catch_up_since, 0);
  // No entries but "more follow": a mismatch, not catching up.
  auto empty = part(20, 20, n, v2.new_state, kNow + 700);
  EXPECT_EQ(empty.result, Outcome::kFail);
  EXPECT_NE(Find(empty, "ima.pcr_mismatch"), nullptr) << Describe(empty);
}

TEST_F(VerifierTest, ImaViolationInAPartNotYetAnchoredFails) {
  const size_t n = log_.entries.size();
  ima::Log known;
  known.template_hash_alg = log_.template_hash_alg;
  for (size_t i = 0; i < n; ++i) {
    if (i != 25) known.entries.push_back(log_.entries[i]);
  }
  auto c = std::make_shared<CompiledRuntimePolicy>();
  c->policy = ima::GeneratePolicy(known);
  agent_.policies.runtime = c;
  std::string all;
  (void)ExtendIma(0, n, &all);
  AgentState st;
  std::string first = AsciiSlice(log_, 0, 20);
  auto q1 = tpm_.Quote(kNonce, {10});
  auto ev1 = q1.MakeEvidence();
  ev1.ima = ImaEvidence{first, ima::Format::kAscii, 0, 20, n, {}};
  auto v1 = Run(ev1, st);
  ASSERT_EQ(v1.result, Outcome::kLogRequested) << Describe(v1);
  std::string second = AsciiSlice(log_, 20, 40);
  auto q2 = tpm_.Quote(kNonce, {10});
  auto ev2 = q2.MakeEvidence();
  ev2.ima = ImaEvidence{second, ima::Format::kAscii, 20, 20, n, {}};
  auto v2 = Run(ev2, v1.new_state);
  if (Find(v2, "ima.validation.ima-ng.not_in_allowlist") == nullptr &&
      Find(v2, "ima.validation.ima-ng.runtime_policy_hash") == nullptr) {
    ADD_FAILURE() << Describe(v2);
  }
  EXPECT_EQ(v2.result, Outcome::kFail);
  EXPECT_FALSE(v2.ima_catching_up);
  EXPECT_EQ(v2.new_state.ima_next_offset, 20u);  // not advanced past the violation
}

TEST_F(VerifierTest, RuntimePolicyWithoutPcr10Fails) {
  agent_.policies.runtime = std::make_shared<CompiledRuntimePolicy>();
  auto q = tpm_.Quote(kNonce, {0, 1});
  auto v = Run(q.MakeEvidence(), {});
  EXPECT_NE(Find(v, "ima.pcr_not_quoted"), nullptr) << Describe(v);
}

TEST_F(VerifierTest, PcrPolicyFailureIds) {
  auto policy = std::make_shared<checks::PcrPolicy>();
  policy->allowed[TPM2_ALG_SHA256][0] = {tpm::Bytes(32, 0)};
  policy->allowed[TPM2_ALG_SHA256][1] = {tpm::Bytes(32, 5), tpm::Bytes(32, 6)};
  policy->allowed[TPM2_ALG_SHA256][7] = {tpm::Bytes(32, 0)};
  agent_.policies.pcr = policy;
  auto q = tpm_.Quote(kNonce, {0, 1, 10});
  auto v = Run(q.MakeEvidence(), {});
  EXPECT_EQ(v.result, Outcome::kFail);
  EXPECT_EQ(Find(v, "pcr_validation.invalid_pcr_0"), nullptr) << Describe(v);
  const Failure* bad = Find(v, "pcr_validation.invalid_pcr_1");
  ASSERT_NE(bad, nullptr) << Describe(v);
  EXPECT_EQ(Context(*bad)["bank"], "sha256");
  EXPECT_NE(Find(v, "pcr_validation.missing_pcr_7"), nullptr) << Describe(v);

  policy->allowed[TPM2_ALG_SHA256][1].insert(tpm::Bytes(32, 0));
  policy->allowed[TPM2_ALG_SHA256].erase(7);
  auto q2 = tpm_.Quote(kNonce, {0, 1, 10});
  EXPECT_EQ(Run(q2.MakeEvidence(), v.new_state).result, Outcome::kPass);
}

// Measured boot with a software TPM holding the replayed PCRs of a real log.
class MeasuredBootTest : public VerifierTest {
 protected:
  void SetUp() override {
    VerifierTest::SetUp();
    std::string s = attest::testing::ReadFile(KeylimeDir() / "uefi" / "binary_bios_measurements");
    bytes_.assign(s.begin(), s.end());
    auto log = eventlog::ParseEventLog(bytes_);
    ASSERT_TRUE(log.ok()) << log.error().message;
    auto pcrs = eventlog::Replay(*log);
    ASSERT_TRUE(pcrs.ok());
    for (uint32_t i = 0; i < 9; ++i) tpm_.Set(i, pcrs->at(eventlog::alg::kSha256).at(i));
    agent_.policies.measured_boot =
        std::make_shared<eventlog::ReferenceState>(eventlog::GenerateReferenceState(*log));
  }
  // PCR 8: the reference state judges GRUB's kernel command line.
  Quoted Quote() { return tpm_.Quote(kNonce, {0, 1, 2, 3, 4, 5, 6, 7, 8, 10}); }
  tpm::Bytes bytes_;
};

TEST_F(MeasuredBootTest, LogAcceptedThenPcrChangeWithoutRebootFails) {
  auto q = Quote();
  auto ev = q.MakeEvidence();
  ev.uefi_log = bytes_;
  auto v = Run(ev, {});
  ASSERT_EQ(v.result, Outcome::kPass) << Describe(v);
  EXPECT_TRUE(v.stats.measured_boot_evaluated);
  EXPECT_TRUE(v.new_state.boot_log_accepted);

  auto q2 = Quote();
  auto v2 = Run(q2.MakeEvidence(), v.new_state);
  EXPECT_EQ(v2.result, Outcome::kPass) << Describe(v2);

  tpm_.Extend(4, tpm::Bytes(32, 1));
  auto q3 = Quote();
  auto v3 = Run(q3.MakeEvidence(), v2.new_state);
  EXPECT_EQ(v3.result, Outcome::kFail);
  EXPECT_NE(Find(v3, "measured_boot.pcrs_changed"), nullptr) << Describe(v3);
}

TEST_F(MeasuredBootTest, BadLogsFail) {
  auto q = Quote();
  auto ev = q.MakeEvidence();
  tpm::Bytes garbage = {1, 2, 3};
  ev.uefi_log = garbage;
  auto v = Run(ev, {});
  EXPECT_EQ(v.result, Outcome::kFail);
  EXPECT_NE(Find(v, "measured_boot.log_malformed"), nullptr) << Describe(v);
  EXPECT_FALSE(v.new_state.boot_log_accepted);

  tpm_.Set(5, tpm::Bytes(32, 5));
  auto q2 = Quote();
  auto ev2 = q2.MakeEvidence();
  ev2.uefi_log = bytes_;
  auto v2 = Run(ev2, {});
  EXPECT_EQ(v2.result, Outcome::kFail);
  const Failure* f = Find(v2, "measured_boot.invalid_pcr_5");
  ASSERT_NE(f, nullptr) << Describe(v2);
  EXPECT_EQ(Context(*f)["pcr"], 5);
  EXPECT_FALSE(Context(*f)["events"].empty());
}

}  // namespace
}  // namespace attest::verifier::test
