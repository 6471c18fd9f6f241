// Per-evidence processing, without I/O: decode the envelope, check the
// challenge token, run the verifier entry point (common/verifier), decide the
// agent's state transition and build the verdict, the history row and the
// outbox rows. The caller (worker.cc) loads the rows, runs this on its thread
// pool and writes the results in one transaction per batch.
//
// State machine: state_table.h (NextState, docs/worker.md); a transition to
// FAILED also gives a signed revocation. Every verdict increments the
// agent's sequence; (agent, sequence) is unique. Finding ids: findings.h.
//
// Thread-safety: functions are reentrant; a Context is immutable.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attest/v1/attestation.pb.h"
#include "attest/v1/verdict.pb.h"
#include "common/base/boot_time.h"
#include "common/base/uuid.h"
#include "common/token/token.h"
#include "common/verifier/verifier.h"
#include "verifier-workers/config.h"
#include "verifier-workers/revocation.h"
#include "verifier-workers/state_table.h"
#include "verifier-workers/states.h"

namespace attest::worker {

using Clock = std::chrono::system_clock;

// One enrolments row joined with its registration (the columns the worker
// reads and writes).
struct AgentRow {
  std::string agent_id;  // lower-case canonical UUID text
  bool registration_active = false;
  std::string ak_name;    // TPM name of the AK (nameAlg | digest)
  std::string ak_public;  // TPM2B_PUBLIC; empty unless loaded
  EnrolmentState state = EnrolmentState::kEnrolled;
  std::optional<std::string> state_reason;  // set on a transition
  int64_t pcr_policy_id = 0, runtime_policy_id = 0, mb_policy_id = 0;
  int32_t partition = 0;
  int64_t sequence = 0;
  bool boot_log_requested = true;
  // FAILED in the boot with this TPM resetCount: a PASS in a later boot (a
  // higher resetCount, so PCRs and the IMA list measured from scratch)
  // brings the agent back without an operator. kNoRecovery: only a
  // re-enrolment does (a TPM rollback). nullopt: not failed since enrolment.
  std::optional<int64_t> failed_reset_count;
  static constexpr int64_t kNoRecovery = worker::kNoRecovery;
  verifier::AgentState vstate;
  bool attested = false;  // authenticated evidence: the agent is alive
  // When the gateway received the latest authenticated evidence (attested):
  // liveness counts from here, not from when a worker got to it.
  Clock::time_point attested_at{};
  // When the gateway received the evidence whose TPM counters are stored
  // (vstate.clock): a challenge issued after it proves a fresh quote.
  Clock::time_point quote_received_at{};
  bool dirty = false;  // needs an UPDATE
};

// A policy version compiled once (cached by policy_id; versions are immutable).
struct CachedPolicy {
  int64_t id = 0;
  int64_t version = 0;
  PolicyKind kind = PolicyKind::kPcr;
  std::shared_ptr<const checks::PcrPolicy> pcr;
  std::shared_ptr<const verifier::CompiledRuntimePolicy> runtime;
  std::shared_ptr<const eventlog::ReferenceState> mb;
  std::string error;  // non-empty: the body does not compile
};
// Compiles a policy body of `kind`.
std::shared_ptr<const CachedPolicy> CompilePolicy(int64_t id, int64_t version, PolicyKind kind,
                                                  const std::string& body);

struct AgentPolicyRefs {
  std::shared_ptr<const CachedPolicy> pcr, runtime, mb;
};

struct Context {
  const token::KeySet* keys = nullptr;
  token::VerifyOptions token_options;
  const RevocationSigner* signer = nullptr;
  std::string worker_id;
  std::string backend_id;  // in verdicts and revocations (docs/soc.md)
  // Verdicts signed by `signer` (outbox rows in the SignedVerdict form).
  bool sign_verdicts = false;
  std::string verdict_topic;
  std::string revocation_topic;
  Encoding encoding = Encoding::kProtobuf;
  // Boot times closer than this are the same boot (challenge.boot_time_tolerance_seconds).
  std::chrono::seconds boot_time_tolerance = kDefaultBootTimeTolerance;
  // Evidence in a row without an asked-for UEFI log, then FAIL.
  uint32_t uefi_log_max_rounds = verifier::kDefaultUefiLogMaxRounds;
};

struct OutboxRecord {
  std::string topic;
  std::string key;  // agent UUID
  std::string content_type;
  std::string payload;
  int32_t partition = 0;  // evidence partition (owner publishes)
};

struct HistoryRecord {
  std::string agent_id;
  int64_t sequence = 0;
  v1::VerdictResult result = v1::VERDICT_RESULT_UNSPECIFIED;
  EnrolmentState state = EnrolmentState::kEnrolled;
  std::string failures_json = "[]";
  int64_t pcr_policy_id = 0, runtime_policy_id = 0, mb_policy_id = 0;
  std::optional<int64_t> quote_clock, quote_reset_count, quote_restart_count;
  std::optional<int64_t> ima_entries;
  std::optional<int32_t> kafka_partition;
  std::optional<int64_t> kafka_offset;
  std::optional<int64_t> verify_micros;
};

struct Outcome {
  // UNSPECIFIED when not even a REJECTED verdict could be built (see
  // ProcessRecord; `error` says why), or when the record is a second copy of
  // the evidence verified last (ProcessEvidence; `error` empty): the record
  // is then skipped, without a verdict or a history row.
  v1::VerdictResult result = v1::VERDICT_RESULT_UNSPECIFIED;
  // Non-empty when processing threw: what the caller logs with the record's
  // partition, offset and agent.
  std::string error;
  HistoryRecord history;
  std::vector<OutboxRecord> outbox;  // verdict, then the revocation (if any)
  int64_t verify_micros = 0;
  // A second copy of the evidence verified last (result UNSPECIFIED).
  bool copy = false;
};

struct EvidenceRef {
  int32_t partition = 0;
  int64_t offset = 0;
};

// Processes one decoded envelope for `row` (updated in place). `ak` may be
// null when the registered AK does not parse (then the quote fails).
Outcome ProcessEvidence(const Context& ctx, const v1::EvidenceEnvelope& envelope,
                        const EvidenceRef& ref, AgentRow& row,
                        std::shared_ptr<const verifier::AttestationKey> ak,
                        const AgentPolicyRefs& policies, Clock::time_point now);

// The worker's unit of containment: one Kafka record of `row`'s agent, from
// its bytes to its outcome. Decodes the envelope and runs ProcessEvidence.
// Total: never throws, and every record gives exactly one verdict, except a
// second copy of the evidence verified last (same gateway receipt time and
// TPM clock: Kafka holds the record twice), which gives none:
//   - bytes that are not an envelope, or an envelope naming another agent
//     than the record's key: REJECTED (evidence.malformed);
//   - an exception while processing: `row` is restored to what it was and
//     the verdict is REJECTED (worker.processing_error) with Outcome::error
//     set, so one hostile record can never stop a worker or its partition.
Outcome ProcessRecord(const Context& ctx, std::string_view value, const EvidenceRef& ref,
                      AgentRow& row, std::shared_ptr<const verifier::AttestationKey> ak,
                      const AgentPolicyRefs& policies, Clock::time_point now) noexcept;

// The liveness sweep's verdict: `row` goes OFFLINE.
Outcome MakeOffline(const Context& ctx, AgentRow& row, Clock::time_point now);

// Encodes a verdict / signed revocation per ctx.encoding.
OutboxRecord EncodeVerdict(const Context& ctx, const v1::Verdict& verdict, int32_t partition);

// Record keys and envelope UUIDs: common/base/uuid.h (IsUuid, ParseUuid,
// SameUuid).

}  // namespace attest::worker
