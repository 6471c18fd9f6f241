#include "verifier-workers/state_table.h"

#include <algorithm>

#include "common/verifier/failure_ids.h"
#include "verifier-workers/findings.h"

namespace attest::worker {
namespace {

void Fail(const TransitionInput& in, Transition& t) {
  t.result = v1::VERDICT_RESULT_FAIL;
  // The boot this failure belongs to. A rolled-back TPM has no boot to wait
  // out: its counters are what cannot be trusted. Never lowered: a rollback
  // stays unrecoverable through any later failure (counters pushed forward,
  // then a garbage log) until an operator re-enrols.
  t.failed_reset_count = std::max(in.failed_reset_count.value_or(0),
                                  in.rollback || !in.reset_count ? kNoRecovery : *in.reset_count);
  if (in.state != EnrolmentState::kFailed) {
    t.state = EnrolmentState::kFailed;
    t.state_reason = in.first_failure.empty() ? std::string(findings::kReasonFailed)
                                              : std::string(in.first_failure);
  }
}

void Pass(const TransitionInput& in, Transition& t) {
  t.result = v1::VERDICT_RESULT_PASS;
  if (in.state == EnrolmentState::kOffline) {
    t.result = v1::VERDICT_RESULT_RESUMED;
    t.state = EnrolmentState::kPass;
    t.state_reason = std::string(findings::kReasonResumed);
  } else if (in.state == EnrolmentState::kFailed && in.reset_count &&
             *in.reset_count > in.failed_reset_count.value_or(kNoRecovery)) {
    // Rebooted since it failed (a TPM reset, not a suspend: PCRs and the IMA
    // list were measured again) and all of it verified: the machine runs
    // what is allowed again. A suspend/resume or a reported boot time alone
    // never clears a failure.
    t.state = EnrolmentState::kPass;
    t.state_reason = std::string(findings::kReasonRecovered);
    t.failed_reset_count.reset();
  } else if (in.state != EnrolmentState::kFailed) {
    // Also when a list that was catching up is anchored now (the gateway
    // paces agents by that reason).
    if (in.state != EnrolmentState::kPass || in.was_catching_up) {
      t.state_reason = std::string(findings::kReasonAttesting);
    }
    t.state = EnrolmentState::kPass;
  }
}

}  // namespace

Transition NextState(const TransitionInput& in) {
  Transition t;
  t.state = in.state;
  t.state_reason = in.state_reason;
  t.failed_reset_count = in.failed_reset_count;
  switch (in.judgement) {
    case Judgement::kCopy:
      t.verdict = false;
      t.result = v1::VERDICT_RESULT_UNSPECIFIED;
      break;
    case Judgement::kRejected:
      t.result = v1::VERDICT_RESULT_REJECTED;
      break;
    case Judgement::kFail:
      Fail(in, t);
      break;
    case Judgement::kLogRequested:
      t.result = v1::VERDICT_RESULT_LOG_REQUESTED;
      // A failed agent keeps its failure id as the reason.
      if (in.ima_catching_up && in.state != EnrolmentState::kFailed) {
        t.state_reason = verifier::failure_id::kImaCatchingUp;
      }
      break;
    case Judgement::kPass:
      Pass(in, t);
      break;
  }
  return t;
}

}  // namespace attest::worker
