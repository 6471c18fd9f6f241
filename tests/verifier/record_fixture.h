// Evidence records as a gateway publishes them, and what the worker's record
// path makes of them, for the tests that drive worker::ProcessRecord with
// software quotes (rollback_test, boot_log_rounds_test).
#pragma once

#include <chrono>
#include <initializer_list>
#include <string>
#include <string_view>

#include "attest/v1/attestation.pb.h"
#include "attest/v1/verdict.pb.h"
#include "common/token/token.h"
#include "tests/quote/soft_quote.h"
#include "verifier-workers/processor.h"

namespace attest::verifier::test {

// A serialized EvidenceEnvelope for `uuid`: sha256 PCRs `pcrs` (all zero, as
// before any measurement) quoted with TPM counters `clock` by `ak`, answering
// a version-2 token issued at `issued` that binds those PCRs and
// `uefi_asked`, received by a gateway at `received`.
inline std::string SignedRecord(const token::KeySet& keys, std::string_view uuid,
                                const testing::SoftAk& ak, const testing::SoftClock& clock,
                                std::initializer_list<uint32_t> pcrs, bool uefi_asked,
                                worker::Clock::time_point issued,
                                worker::Clock::time_point received) {
  uint32_t mask = 0;
  for (uint32_t pcr : pcrs) mask |= 1u << pcr;
  auto tok = token::Issue(keys, uuid, issued, 0, token::Binding{TPM2_ALG_SHA256, mask, uefi_asked});
  EXPECT_TRUE(tok.ok()) << tok.error().message;
  const tpm::Bytes nonce(tok->begin(), tok->end());
  tpm::PcrValues values;
  for (uint32_t pcr : pcrs) values[TPM2_ALG_SHA256][pcr] = tpm::Bytes(32, 0);
  auto quote = testing::MakeQuote(nonce, testing::Selection(TPM2_ALG_SHA256, pcrs), values,
                                  TPM2_ALG_SHA256, clock);
  auto sig = testing::SignLikeTpm(ak, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, quote);
  v1::EvidenceEnvelope env;
  env.set_evidence_id("e-" + std::to_string(clock.clock));
  env.mutable_received_at()->set_seconds(
      std::chrono::duration_cast<std::chrono::seconds>(received.time_since_epoch()).count());
  auto* e = env.mutable_evidence();
  e->set_agent_uuid(std::string(uuid));
  e->set_challenge_token(*tok);
  e->mutable_quote()->set_attest(std::string(quote.begin(), quote.end()));
  e->mutable_quote()->set_signature(std::string(sig.begin(), sig.end()));
  auto* bank = e->mutable_quote()->add_pcrs();
  bank->set_hash_algorithm(v1::HASH_ALGORITHM_SHA256);
  for (uint32_t pcr : pcrs) (*bank->mutable_values())[pcr] = std::string(32, '\0');
  std::string out;
  env.SerializeToString(&out);
  return out;
}

// ProcessRecord's outcome with its verdict decoded.
struct RecordResult {
  worker::Outcome out;
  v1::Verdict verdict;

  explicit RecordResult(worker::Outcome o) : out(std::move(o)) {
    EXPECT_EQ(out.error, "");
    EXPECT_TRUE(verdict.ParseFromString(out.outbox.at(0).payload));
  }
  bool has(std::string_view id) const {
    for (const auto& f : verdict.failures()) {
      if (f.event_id() == id) return true;
    }
    return false;
  }
  bool revoked() const { return out.outbox.size() == 2; }
};

}  // namespace attest::verifier::test
