// The worker's enumerations of database values: an enrolment's state and a
// policy's kind. Text appears only at the edges: Parse* where the store
// reads a row, ToText where it writes SQL parameters, logs and metrics, and
// ToProto for the verdict. A text this worker does not know (a newer schema)
// is an errc::unknown_value error, never a crash and never a guess.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <ostream>
#include <string_view>

#include "attest/v1/verdict.pb.h"
#include "common/base/result.h"

namespace attest::worker {

// enrolments.state (schemas/sql/003_enrolments.sql, type agent_state).
enum class EnrolmentState : uint8_t { kEnrolled, kPass, kFailed, kOffline };

// policies.kind (schemas/sql/002_policies.sql, type policy_kind).
enum class PolicyKind : uint8_t { kPcr, kRuntime, kMeasuredBoot };

// "ENROLLED" | "PASS" | "FAILED" | "OFFLINE".
Result<EnrolmentState> ParseEnrolmentState(std::string_view text);
std::string_view ToText(EnrolmentState s);
v1::AgentState ToProto(EnrolmentState s);

// "pcr" | "runtime" | "mb".
Result<PolicyKind> ParsePolicyKind(std::string_view text);
std::string_view ToText(PolicyKind k);

// For logs and test messages.
inline std::ostream& operator<<(std::ostream& os, EnrolmentState s) { return os << ToText(s); }
inline std::ostream& operator<<(std::ostream& os, PolicyKind k) { return os << ToText(k); }

// attestation_history.result: "pass" | "fail" | "offline" | "resumed" |
// "rejected" | "log_requested" (UNSPECIFIED, never written, reads "rejected").
std::string_view HistoryResultText(v1::VerdictResult r);

}  // namespace attest::worker
