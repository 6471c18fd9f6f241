// The harness of the worker's whole record path without its I/O, as
// worker.cc runs it per Kafka record (ProcessRecord): record bytes ->
// envelope decode -> challenge token -> verification -> verdict, history row
// and outbox encoding (protobuf or JSON, signed revocation). Two modes, by the first byte:
//  - raw: the rest is the record value as is (decoding and the checks that
//    run before authentication see hostile bytes);
//  - signed: the rest, when it decodes as an envelope, gets a valid token for
//    the fixed agent (bound to sha256 PCRs 0-7 and 10, as a default gateway
//    asks) and a quote re-signed with its AK over the envelope's own sha256
//    PCR values plus zeros for asked PCRs it lacks, so the IMA list, the UEFI
//    log, the policies and the state machine are reached past authentication.
// Invariants (abort otherwise): exactly one verdict, which decodes; the
// history failures are a JSON array; every failure context is valid UTF-8
// without control characters (EscapeBytes at the edge); a REJECTED record
// leaves the agent's state alone.
//
// Shared by the libFuzzer target (record_fuzz.cc) and the seed-corpus replay
// in tests/worker/record_test.cc, which runs in every test pass and under the
// sanitizers.
#pragma once

#include <google/protobuf/util/json_util.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/base/escape.h"
#include "tests/quote/soft_quote.h"
#include "verifier-workers/processor.h"

namespace attest::fuzz {

inline constexpr char kAgent[] = "0d8e5a52-1c1f-4c0e-b3f0-6e3f0f6f9a01";

template <typename Fill>
inline std::shared_ptr<const worker::CachedPolicy> Policy(worker::PolicyKind kind, Fill fill) {
  auto p = std::make_shared<worker::CachedPolicy>();
  p->id = 1;
  p->version = 1;
  p->kind = kind;
  fill(*p);
  return p;
}

struct Setup {
  testing::SoftAk ak = testing::MakeEccAk();
  std::shared_ptr<const verifier::AttestationKey> key;
  token::KeySet keys = *token::KeySet::FromSecrets({std::string(32, 'k')});
  std::shared_ptr<const worker::RevocationSigner> signer =
      *worker::RevocationSigner::FromPem(testing::NewP256KeyPem(), "fuzz");
  worker::AgentPolicyRefs policies;
  worker::Clock::time_point now = worker::Clock::time_point(std::chrono::seconds(1'790'000'000));

  Setup() {
    auto k = verifier::AttestationKey::FromPublic(ak.pub);
    if (!k) std::abort();
    key = *k;
    policies.runtime = Policy(worker::PolicyKind::kRuntime, [](worker::CachedPolicy& p) {
      auto runtime = std::make_shared<verifier::CompiledRuntimePolicy>();
      runtime->policy.AddDigest("/bin/sh", tpm::Bytes(32, 1));
      runtime->policy.AddDigest("boot_aggregate", tpm::Bytes(20, 0));
      p.runtime = runtime;
    });
    policies.mb = Policy(worker::PolicyKind::kMeasuredBoot, [](worker::CachedPolicy& p) {
      auto ref = std::make_shared<eventlog::ReferenceState>();
      ref->secureboot_required = true;
      ref->boot_applications = std::vector<eventlog::RefEntry>{{std::string(64, 'a'), ""}};
      p.mb = ref;
    });
    policies.pcr = Policy(worker::PolicyKind::kPcr, [](worker::CachedPolicy& p) {
      auto pcr = std::make_shared<checks::PcrPolicy>();
      pcr->allowed[TPM2_ALG_SHA256][0] = {tpm::Bytes(32, 0)};
      p.pcr = pcr;
    });
  }
};

// The fixed setup, made once.
inline Setup& TheSetup() {
  static Setup setup;
  return setup;
}

// Signed mode: gives the envelope in `value` (when it decodes) a valid token
// for kAgent and a quote signed by the fixed AK over its own well-sized
// sha256 PCR values. False when nothing in it can be quoted.
inline bool Authenticate(std::string& value, uint64_t clock) {
  Setup& setup = TheSetup();
  v1::EvidenceEnvelope env;
  if (!env.ParseFromString(value)) return true;  // stays raw
  auto* e = env.mutable_evidence();
  e->set_agent_uuid(kAgent);
  const auto received = setup.now - std::chrono::seconds(1);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(received.time_since_epoch());
  env.mutable_received_at()->set_seconds(us.count() / 1'000'000);
  env.mutable_received_at()->set_nanos(0);
  // Bound and quoted as a default gateway asks (sha256, PCRs 0-7 and 10):
  // a selection short of what the policies need is REJECTED before the
  // checks this mode is for.
  constexpr uint32_t kAsked = 0x0004ff;
  auto tok = token::Issue(setup.keys, kAgent, received, e->ima().start_offset(),
                          token::Binding{.pcr_bank = TPM2_ALG_SHA256, .pcr_mask = kAsked},
                          [](uint8_t* out, size_t n) -> Result<void> {
                            std::fill(out, out + n, uint8_t{7});
                            return Ok();
                          });
  if (!tok) return false;
  e->set_challenge_token(*tok);
  TPML_PCR_SELECTION sel{};
  sel.count = 1;
  sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
  sel.pcrSelections[0].sizeofSelect = 3;
  tpm::PcrValues quoted;
  v1::PcrBank* sha256 = nullptr;
  for (auto& bank : *e->mutable_quote()->mutable_pcrs()) {
    if (bank.hash_algorithm() != v1::HASH_ALGORITHM_SHA256) continue;
    if (sha256 == nullptr) sha256 = &bank;
    for (const auto& [i, v] : bank.values()) {
      if (i >= 24 || v.size() != 32) continue;
      sel.pcrSelections[0].pcrSelect[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
      quoted[TPM2_ALG_SHA256][i] = tpm::Bytes(v.begin(), v.end());
    }
  }
  // The asked PCRs the envelope lacks: zero, as on a fresh TPM.
  if (sha256 == nullptr) {
    sha256 = e->mutable_quote()->add_pcrs();
    sha256->set_hash_algorithm(v1::HASH_ALGORITHM_SHA256);
  }
  for (uint32_t i = 0; i < 24; ++i) {
    if ((kAsked & (1u << i)) == 0 || quoted[TPM2_ALG_SHA256].contains(i)) continue;
    sel.pcrSelections[0].pcrSelect[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
    quoted[TPM2_ALG_SHA256][i] = tpm::Bytes(32, 0);
    (*sha256->mutable_values())[i] = std::string(32, '\0');
  }
  const tpm::Bytes nonce(tok->begin(), tok->end());
  testing::SoftClock tpm_clock{1000u + clock, 1, 0, true};
  try {
    auto quote = testing::MakeQuote(nonce, sel, quoted, TPM2_ALG_SHA256, tpm_clock);
    auto sig = testing::SignLikeTpm(setup.ak, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, quote);
    e->mutable_quote()->set_attest(std::string(quote.begin(), quote.end()));
    e->mutable_quote()->set_signature(std::string(sig.begin(), sig.end()));
  } catch (const std::exception&) {
    return false;
  }
  value.clear();
  return env.SerializeToString(&value);
}

inline worker::Context MakeContext(bool json) {
  Setup& setup = TheSetup();
  worker::Context ctx;
  ctx.keys = &setup.keys;
  ctx.signer = setup.signer.get();
  ctx.worker_id = "fuzz";
  ctx.verdict_topic = "attestation.verdicts";
  ctx.revocation_topic = "attestation.revocations";
  ctx.encoding = json ? worker::Encoding::kJson : worker::Encoding::kProtobuf;
  return ctx;
}

// The stored agent: state ENROLLED, PASS, FAILED or OFFLINE (state 0-3).
inline worker::AgentRow MakeRow(int state) {
  static constexpr worker::EnrolmentState kStates[] = {
      worker::EnrolmentState::kEnrolled, worker::EnrolmentState::kPass,
      worker::EnrolmentState::kFailed, worker::EnrolmentState::kOffline};
  worker::AgentRow row;
  row.agent_id = kAgent;
  row.registration_active = true;
  row.state = kStates[state & 3];
  row.sequence = 5;
  return row;
}

#define RECORD_CHECK(cond)     \
  do {                         \
    if (!(cond)) return #cond; \
  } while (0)

// The invariants of one processed record (`before`: the row before it).
inline const char* CheckOutcome(const worker::Context& ctx, const worker::AgentRow& before,
                                const worker::AgentRow& row, const worker::Outcome& out) {
  RECORD_CHECK(out.result != v1::VERDICT_RESULT_UNSPECIFIED);
  RECORD_CHECK(row.sequence == before.sequence + 1);
  RECORD_CHECK(!out.outbox.empty());
  v1::Verdict verdict;
  if (ctx.encoding == worker::Encoding::kJson) {
    RECORD_CHECK(google::protobuf::util::JsonStringToMessage(out.outbox[0].payload, &verdict).ok());
  } else {
    RECORD_CHECK(verdict.ParseFromString(out.outbox[0].payload));
  }
  RECORD_CHECK(verdict.result() == out.result);
  for (const auto& f : verdict.failures()) {
    RECORD_CHECK(TerminalSafe(f.context()) == f.context());
    RECORD_CHECK(nlohmann::json::parse(f.context(), nullptr, false).is_object());
  }
  RECORD_CHECK(nlohmann::json::parse(out.history.failures_json, nullptr, false).is_array());
  if (out.result == v1::VERDICT_RESULT_REJECTED) {
    RECORD_CHECK(row.state == before.state);
    RECORD_CHECK(row.vstate.ima_next_offset == before.vstate.ima_next_offset);
    RECORD_CHECK(!row.attested);
  }
  return nullptr;
}

#undef RECORD_CHECK

// Runs one input: byte 0 is the mode (bit 0: signed), byte 1 flags (bit 0:
// JSON encoding, bits 1-2: stored state, bits 4-6: drop the runtime, mb, pcr
// policy), the rest the record value. Returns the first broken invariant.
inline const char* RunRecord(const uint8_t* data, size_t size) {
  Setup& setup = TheSetup();
  if (size < 2) return nullptr;
  const uint8_t flags = data[1];
  std::string value(reinterpret_cast<const char*>(data) + 2, size - 2);
  if ((data[0] & 1) != 0 && !Authenticate(value, flags)) return nullptr;
  const worker::Context ctx = MakeContext((flags & 1) != 0);
  worker::AgentRow row = MakeRow(flags >> 1);
  worker::AgentPolicyRefs pol = setup.policies;
  if ((flags & 16) != 0) pol.runtime = nullptr;
  if ((flags & 32) != 0) pol.mb = nullptr;
  if ((flags & 64) != 0) pol.pcr = nullptr;
  const worker::AgentRow before = row;
  const worker::Outcome out =
      worker::ProcessRecord(ctx, value, worker::EvidenceRef{3, 42}, row, setup.key, pol, setup.now);
  return CheckOutcome(ctx, before, row, out);
}

}  // namespace attest::fuzz
