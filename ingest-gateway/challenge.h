// The challenge decision, pure: given an agent's enrolment row (or none), its
// ChallengeRequest and the time, say 404, 429 (with when to come back) or
// which challenge to give.
//
// Rules (docs/gateway.md):
// - No registration, a registration that is not active, or no enrolment: 404.
// - Every enrolled state gets challenges, FAILED included: a failed agent
//   keeps sending evidence, so the verifier keeps a record and an operator who
//   re-enrols it sees fresh results at once.
// - Too early: last_attestation_at + interval x min_interval_fraction > now
//   -> 429, Retry-After = the rest of that wait. Except after a reboot: when
//   the agent reports a boot time that differs from the stored one by more
//   than the tolerance, it is let in at once ("I am back").
// - Catching up (the worker marked the row: the IMA list arrives in parts):
//   never too early, and the interval is challenge.catch_up_interval, so a
//   long list is delivered in seconds, not one part per interval.
// - IMA offset: the stored one; 0 after a reboot (the kernel's list starts
//   again). UEFI log requested when the row asks for it or after a reboot.
//
// Thread-safety: pure.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "attest/v1/attestation.pb.h"
#include "ingest-gateway/config.h"

namespace attest::gateway {

using SysClock = std::chrono::system_clock;

// What the gateway reads of an agent (registrations LEFT JOIN enrolments).
struct EnrolmentRow {
  std::string registration_state;  // "pending" | "active"
  bool enrolled = false;           // an enrolments row exists
  std::string state;               // ENROLLED | PASS | FAILED | OFFLINE
  int32_t interval_seconds = 0;
  std::optional<int64_t> last_attestation_ms;  // Unix ms
  uint64_t ima_offset = 0;
  bool boot_log_requested = true;
  std::optional<int64_t> boot_time_ms;  // Unix ms
  bool ima_catching_up = false;         // state_reason is ima.catching_up
};

struct ChallengeDecision {
  enum class Kind { kChallenge, kNotFound, kTooEarly };
  Kind kind = Kind::kNotFound;
  std::string detail;                        // for 404/429 problem bodies
  std::chrono::milliseconds retry_after{0};  // kTooEarly
  uint64_t ima_offset = 0;
  bool uefi_log_requested = false;
  bool reboot = false;
  uint32_t interval_seconds = 0;
};

ChallengeDecision Decide(std::string_view uuid, const std::optional<EnrolmentRow>& row,
                         const v1::ChallengeRequest& request, SysClock::time_point now,
                         const ChallengeConfig& config);

}  // namespace attest::gateway
