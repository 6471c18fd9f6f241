// Building what a decided verdict writes: the Verdict message (outbox),
// the signed revocation of a transition to FAILED (outbox), the history row.
// Findings are structured (id, severity, context fields) until here; their
// context is rendered to text once, here, for the verdict and the history.
// Internal to the processor (processor.cc, its tests).
//
// Thread-safety: reentrant; a Context is immutable.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/checks/failure.h"
#include "verifier-workers/processor.h"

namespace attest::worker {

struct Finding {
  std::string event_id;
  v1::Severity severity = v1::SEVERITY_CRITICAL;
  checks::Context context;
};

// A critical finding whose context is {"message": message}.
Finding MakeFinding(std::string_view id, std::string_view message);
// A finding of the verification core.
Finding ToFinding(const checks::Failure& f);

// Everything Finish needs besides the context and the row.
struct VerdictInput {
  v1::VerdictResult result = v1::VERDICT_RESULT_REJECTED;
  EnrolmentState previous_state = EnrolmentState::kEnrolled;
  std::vector<Finding> findings;
  bool reboot = false;
  std::string_view evidence_id;    // outlives the call
  std::optional<EvidenceRef> ref;  // nullopt: the sweep (no record)
  AgentPolicyRefs policies;
  Clock::time_point received{}, now{};
  int64_t verify_micros = 0;
  std::optional<int64_t> ima_entries;
};

// Builds verdict + history + outbox for a decided result and advances the
// row's sequence (the row's state is already the new one). At most 64
// findings / 256 KB of them are kept, and one more says how many were left
// out: a verdict and its revocation stay one Kafka message each.
Outcome Finish(const Context& ctx, AgentRow& row, VerdictInput in);

}  // namespace attest::worker
