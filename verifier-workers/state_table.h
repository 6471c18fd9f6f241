// ProcessEvidence's state table as one pure function: what an evidence's
// judgement does to its agent's enrolment state (docs/worker.md, "Agent
// states and verdicts"). No I/O, no clock: tests/worker/state_table_test.cc
// drives it row by row.
//
//   judgement      stored state        new state                  verdict
//   copy           any                 unchanged                  none (record skipped)
//   rejected       any                 unchanged                  REJECTED
//   log requested  any                 unchanged                  LOG_REQUESTED
//   fail           any                 FAILED (reason: 1st id)    FAIL
//   pass           OFFLINE             PASS (resumed)             RESUMED
//   pass           FAILED, later boot  PASS (recovered_after_reboot) PASS
//   pass           FAILED, same boot   FAILED                     PASS
//   pass           ENROLLED, PASS      PASS                       PASS
// A FAIL records the boot it belongs to (failed_reset_count, never lowered);
// a TPM rollback, or a FAIL without TPM counters, records kNoRecovery, which
// no later boot reaches.
//
// Thread-safety: pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "attest/v1/verdict.pb.h"
#include "verifier-workers/states.h"

namespace attest::worker {

enum class Judgement : uint8_t {
  kCopy,          // a second copy of the evidence verified last
  kRejected,      // not judged (token, policy, shape, replay, selection)
  kFail,          // authentic and failed
  kLogRequested,  // authentic; a log (UEFI, IMA from an offset) is needed first
  kPass,          // authentic and passed
};

struct TransitionInput {
  Judgement judgement = Judgement::kRejected;
  EnrolmentState state = EnrolmentState::kEnrolled;  // stored
  std::optional<std::string> state_reason;           // stored
  std::optional<int64_t> failed_reset_count;         // stored (AgentRow's)
  // The TPM resetCount of the state the evidence leaves (nullopt: none known).
  std::optional<int64_t> reset_count;
  // Id of the first failure (empty: none). Owned: the caller's findings may
  // grow (reallocate) after it is set.
  std::string first_failure;
  bool rollback = false;         // a failure is quote.tpm_rollback
  bool ima_catching_up = false;  // the verifier is waiting for IMA parts
  bool was_catching_up = false;  // the stored IMA list was catching up
};

struct Transition {
  bool verdict = true;  // false: no verdict, sequence and row unchanged (a copy)
  v1::VerdictResult result = v1::VERDICT_RESULT_REJECTED;
  EnrolmentState state = EnrolmentState::kEnrolled;
  std::optional<std::string> state_reason;
  std::optional<int64_t> failed_reset_count;
};

// Failed since enrolment with no boot that can clear it (AgentRow's).
inline constexpr int64_t kNoRecovery = int64_t{1} << 32;

Transition NextState(const TransitionInput& in);

}  // namespace attest::worker
