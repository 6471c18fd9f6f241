// The worker's own ids, one catalogue (the verification core's are in
// common/{checks,ima,verifier}/failure_ids.h; docs/worker.md explains each case).
//
// Finding ids, in verdicts (`failures[].event_id`) and history rows:
//   token.invalid               the challenge token: HMAC, agent or TTL at the gateway's receipt
//   policy.invalid              a policy version in force does not compile (an operator error)
//   evidence.malformed          not an envelope, another agent than its key, or PCR banks
//                               out of shape (too many, unknown algorithm, index/size)
//   quote.clock_out_of_range    a TPM clock above 2^63-1 (the database stores bigint)
//   worker.processing_error     processing threw: the row was restored, the record REJECTED
//   verdict.findings_truncated  more findings than one verdict carries (how many left out)
//   liveness.offline            the sweep: no attestation within interval x grace
//
// State reasons (enrolments.state_reason) the worker sets besides a finding id:
//   failed                      a FAIL without any finding
//   resumed                     OFFLINE -> PASS
//   recovered_after_reboot      FAILED -> PASS after a pass in a later boot
//   attesting                   ENROLLED -> PASS, or a catching-up IMA list anchored
//   no attestation within interval x grace factor   -> OFFLINE (the sweep)
//
// Skip reasons (worker_evidence_skipped_total{reason}): a record without a verdict:
//   bad_key                     its key is not a UUID
//   not_enrolled                its key names no enrolled agent (no sequence to give)
//   no_verdict                  not even a REJECTED verdict could be built (memory)
//   copy                        a second copy of the evidence verified last
//
// Thread-safety: constants.
#pragma once

#include <string_view>

namespace attest::worker::findings {

inline constexpr std::string_view kTokenInvalid = "token.invalid";
inline constexpr std::string_view kPolicyInvalid = "policy.invalid";
inline constexpr std::string_view kEvidenceMalformed = "evidence.malformed";
inline constexpr std::string_view kQuoteClockOutOfRange = "quote.clock_out_of_range";
inline constexpr std::string_view kProcessingError = "worker.processing_error";
inline constexpr std::string_view kFindingsTruncated = "verdict.findings_truncated";
inline constexpr std::string_view kLivenessOffline = "liveness.offline";

inline constexpr std::string_view kReasonFailed = "failed";
inline constexpr std::string_view kReasonResumed = "resumed";
inline constexpr std::string_view kReasonRecovered = "recovered_after_reboot";
inline constexpr std::string_view kReasonAttesting = "attesting";
inline constexpr std::string_view kReasonOffline = "no attestation within interval x grace factor";

inline constexpr std::string_view kSkipBadKey = "bad_key";
inline constexpr std::string_view kSkipNotEnrolled = "not_enrolled";
inline constexpr std::string_view kSkipNoVerdict = "no_verdict";
inline constexpr std::string_view kSkipCopy = "copy";

}  // namespace attest::worker::findings
