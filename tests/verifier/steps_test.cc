// The verifier's steps after the quote (common/verifier/steps.h), called
// directly: no quote, no signature, only the state transitions each owns.
#include "common/verifier/steps.h"

#include <gtest/gtest.h>

#include <memory>

namespace attest::verifier {
namespace {

tpm::PcrValues Pcr10(TPMI_ALG_HASH bank, size_t size) {
  tpm::PcrValues pcrs;
  pcrs[bank][10] = tpm::Bytes(size, 0);
  return pcrs;
}

TEST(BootStep, AWithheldLogIsCountedAndFailsAtTheLimit) {
  Agent agent;
  agent.policies.measured_boot = std::make_shared<eventlog::ReferenceState>();
  agent.uefi_log_max_rounds = 2;
  Evidence ev;
  ev.uefi_log_asked = true;
  AgentState s;
  Verdict v1;
  EXPECT_TRUE(detail::CheckBoot(ev, agent, {}, s, v1));
  EXPECT_TRUE(v1.uefi_log_requested);
  EXPECT_TRUE(v1.uefi_log_withheld);
  EXPECT_EQ(s.uefi_log_withheld, 1u);
  EXPECT_TRUE(v1.failures.empty());
  Verdict v2;
  EXPECT_TRUE(detail::CheckBoot(ev, agent, {}, s, v2));
  ASSERT_EQ(v2.failures.size(), 1u);
  EXPECT_EQ(v2.failures[0].event_id, failure_id::kUefiLogWithheld);
}

TEST(BootStep, AVersionOneTokenIsNotCountedAndNoPolicyAsksForNothing) {
  Agent agent;
  agent.policies.measured_boot = std::make_shared<eventlog::ReferenceState>();
  Evidence ev;  // uefi_log_asked unknown
  AgentState s;
  Verdict v;
  EXPECT_TRUE(detail::CheckBoot(ev, agent, {}, s, v));
  EXPECT_FALSE(v.uefi_log_withheld);
  EXPECT_EQ(s.uefi_log_withheld, 0u);
  Agent none;
  Verdict w;
  EXPECT_FALSE(detail::CheckBoot(ev, none, {}, s, w));
  EXPECT_FALSE(w.uefi_log_requested);
}

TEST(ImaStep, NoPcr10IsAFailureAndTheStateStays) {
  AgentState s;
  s.ima_next_offset = 5;
  Verdict v;
  EXPECT_FALSE(detail::CheckIma(Evidence{}, nullptr, {}, s, v, 100));
  ASSERT_EQ(v.failures.size(), 1u);
  EXPECT_EQ(v.failures[0].event_id, failure_id::kImaPcrNotQuoted);
  EXPECT_EQ(s.ima_next_offset, 5u);
}

TEST(ImaStep, AnOffsetAheadOrAnotherBankAsksForTheWholeList) {
  Evidence ev;
  ev.ima = ImaEvidence{};
  ev.ima->start_offset = 9;
  AgentState s;
  s.ima_next_offset = 4;
  Verdict v;
  EXPECT_TRUE(detail::CheckIma(ev, nullptr, Pcr10(TPM2_ALG_SHA256, 32), s, v, 100));
  EXPECT_EQ(v.requested_ima_offset, 0u);
  EXPECT_EQ(s.ima_next_offset, 0u);

  AgentState t;
  t.ima_next_offset = 4;  // verified in sha256; only sha384 quoted now
  Verdict w;
  EXPECT_TRUE(detail::CheckIma(Evidence{}, nullptr, Pcr10(TPM2_ALG_SHA384, 48), t, w, 100));
  EXPECT_EQ(w.requested_ima_offset, 0u);
  EXPECT_EQ(t.ima_bank, TPM2_ALG_SHA384);
  EXPECT_EQ(t.ima_next_offset, 0u);
}

TEST(ImaStep, AnEmptyListOnAFreshStateMatchesAZeroPcr10) {
  AgentState s;
  Verdict v;
  EXPECT_FALSE(detail::CheckIma(Evidence{}, nullptr, Pcr10(TPM2_ALG_SHA256, 32), s, v, 100));
  EXPECT_TRUE(v.failures.empty());
  EXPECT_EQ(s.ima_pcr, tpm::Bytes(32, 0));
}

}  // namespace
}  // namespace attest::verifier
