#include "verifier-workers/states.h"

#include <string>

#include "verifier-workers/errors.h"

namespace attest::worker {
namespace {

Error Unknown(std::string_view what, std::string_view text) {
  // The value comes from our own database, but keep the message bounded.
  return MakeError(errc::unknown_value,
                   "unknown " + std::string(what) + " '" + std::string(text.substr(0, 64)) + "'");
}

}  // namespace

Result<EnrolmentState> ParseEnrolmentState(std::string_view t) {
  if (t == "ENROLLED") return EnrolmentState::kEnrolled;
  if (t == "PASS") return EnrolmentState::kPass;
  if (t == "FAILED") return EnrolmentState::kFailed;
  if (t == "OFFLINE") return EnrolmentState::kOffline;
  return Unknown("agent state", t);
}

std::string_view ToText(EnrolmentState s) {
  switch (s) {
    case EnrolmentState::kEnrolled:
      return "ENROLLED";
    case EnrolmentState::kPass:
      return "PASS";
    case EnrolmentState::kFailed:
      return "FAILED";
    case EnrolmentState::kOffline:
      return "OFFLINE";
  }
  return "ENROLLED";
}

v1::AgentState ToProto(EnrolmentState s) {
  switch (s) {
    case EnrolmentState::kEnrolled:
      return v1::AGENT_STATE_ENROLLED;
    case EnrolmentState::kPass:
      return v1::AGENT_STATE_PASS;
    case EnrolmentState::kFailed:
      return v1::AGENT_STATE_FAILED;
    case EnrolmentState::kOffline:
      return v1::AGENT_STATE_OFFLINE;
  }
  return v1::AGENT_STATE_UNSPECIFIED;
}

Result<PolicyKind> ParsePolicyKind(std::string_view t) {
  if (t == "pcr") return PolicyKind::kPcr;
  if (t == "runtime") return PolicyKind::kRuntime;
  if (t == "mb") return PolicyKind::kMeasuredBoot;
  return Unknown("policy kind", t);
}

std::string_view ToText(PolicyKind k) {
  switch (k) {
    case PolicyKind::kPcr:
      return "pcr";
    case PolicyKind::kRuntime:
      return "runtime";
    case PolicyKind::kMeasuredBoot:
      return "mb";
  }
  return "pcr";
}

std::string_view HistoryResultText(v1::VerdictResult r) {
  switch (r) {
    case v1::VERDICT_RESULT_PASS:
      return "pass";
    case v1::VERDICT_RESULT_FAIL:
      return "fail";
    case v1::VERDICT_RESULT_OFFLINE:
      return "offline";
    case v1::VERDICT_RESULT_RESUMED:
      return "resumed";
    case v1::VERDICT_RESULT_REJECTED:
      return "rejected";
    case v1::VERDICT_RESULT_LOG_REQUESTED:
      return "log_requested";
    default:
      return "rejected";
  }
}

}  // namespace attest::worker
