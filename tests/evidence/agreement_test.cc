// Issue 20.4: the gateway and the worker agree. Evidence at the gateway's
// limits (every bank, every PCR) passes the gateway's CheckEvidence and is
// not refused by the worker's record path as evidence.malformed; evidence
// past the worker's hard cap is refused by both.
#include <gtest/gtest.h>

#include "common/evidence/evidence.h"
#include "fuzz/worker/record_harness.h"
#include "ingest-gateway/decode.h"
#include "tests/evidence/sample_evidence.h"

namespace attest {
namespace {

using fuzz::kAgent;

constexpr const auto& kAlgs = attest::testing::kWireHashAlgorithms;

// A signed record with `banks` PCR banks (the five algorithms, then repeats),
// each with PCRs 0..23 of its digest size, a valid token and quote.
std::string RecordWithBanks(size_t banks) {
  v1::EvidenceEnvelope env;
  env.set_evidence_id("e-1");
  auto* e = env.mutable_evidence();
  e->set_agent_uuid(kAgent);
  for (size_t b = 0; b < banks; ++b) {
    auto* bank = e->mutable_quote()->add_pcrs();
    const v1::HashAlgorithm alg = kAlgs[b % std::size(kAlgs)];
    bank->set_hash_algorithm(alg);
    for (uint32_t i = 0; i < 24; ++i) {
      (*bank->mutable_values())[i] = std::string(evidence::DigestSize(alg), '\0');
    }
  }
  std::string value;
  env.SerializeToString(&value);
  EXPECT_TRUE(fuzz::Authenticate(value, 0));
  return value;
}

Result<void> Gateway(const std::string& value) {
  v1::EvidenceEnvelope env;
  EXPECT_TRUE(env.ParseFromString(value));
  return gateway::CheckEvidence(kAgent, env.mutable_evidence(),
                                evidence::LimitsForBody(evidence::kDefaultBodyBytes));
}

v1::Verdict Worker(const std::string& value) {
  const worker::Context ctx = fuzz::MakeContext(false);
  worker::AgentRow row = fuzz::MakeRow(1);
  auto& setup = fuzz::TheSetup();
  worker::Outcome out = worker::ProcessRecord(ctx, value, worker::EvidenceRef{3, 42}, row,
                                              setup.key, setup.policies, setup.now);
  v1::Verdict v;
  EXPECT_FALSE(out.outbox.empty());
  if (!out.outbox.empty()) {
    EXPECT_TRUE(v.ParseFromString(out.outbox.at(0).payload));
  }
  return v;
}

bool Malformed(const v1::Verdict& v) {
  for (const auto& f : v.failures()) {
    if (f.event_id() == "evidence.malformed") return true;
  }
  return false;
}

TEST(GatewayWorkerAgreementTest, EvidenceAtTheGatewaysLimitIsAcceptedByBoth) {
  const std::string value = RecordWithBanks(evidence::Limits{}.max_banks);
  auto g = Gateway(value);
  ASSERT_TRUE(g.ok()) << g.error().message;
  const v1::Verdict v = Worker(value);
  EXPECT_FALSE(Malformed(v)) << v.DebugString();
  // Converted and judged by the verifier: the harness quotes the sha256 bank
  // only, so the other four banks' values are not covered by the quote.
  ASSERT_GT(v.failures_size(), 0) << v.DebugString();
  EXPECT_EQ(v.failures(0).event_id(), "quote.pcr_selection_mismatch") << v.DebugString();
}

TEST(GatewayWorkerAgreementTest, PastTheGatewaysLimitOnlyTheGatewayRefuses) {
  // Six banks repeat one: the gateway refuses; the worker's cap is higher.
  const std::string value = RecordWithBanks(evidence::Limits{}.max_banks + 1);
  EXPECT_FALSE(Gateway(value).ok());
  EXPECT_FALSE(Malformed(Worker(value)));
}

TEST(GatewayWorkerAgreementTest, PastTheWorkersCapBothRefuse) {
  const std::string value = RecordWithBanks(evidence::kMaxBanksCap + 1);
  EXPECT_FALSE(Gateway(value).ok());
  const v1::Verdict v = Worker(value);
  EXPECT_EQ(v.result(), v1::VERDICT_RESULT_REJECTED);
  ASSERT_TRUE(Malformed(v)) << v.DebugString();
}

}  // namespace
}  // namespace attest
