#include "ingest-gateway/challenge.h"

#include <fmt/format.h>

#include <cmath>

#include "common/base/boot_time.h"

namespace attest::gateway {

ChallengeDecision Decide(std::string_view uuid, const std::optional<EnrolmentRow>& row,
                         const v1::ChallengeRequest& request, SysClock::time_point now,
                         const ChallengeConfig& config) {
  using std::chrono::milliseconds;
  ChallengeDecision d;
  if (!row) {
    d.detail = fmt::format("agent {} is not registered", uuid);
    return d;
  }
  if (row->registration_state != "active") {
    d.detail = fmt::format("agent {} has not completed registration", uuid);
    return d;
  }
  if (!row->enrolled) {
    d.detail = fmt::format("agent {} is not enrolled", uuid);
    return d;
  }
  d.interval_seconds = row->interval_seconds > 0 ? static_cast<uint32_t>(row->interval_seconds) : 0;

  const int64_t now_ms = std::chrono::duration_cast<milliseconds>(now.time_since_epoch()).count();
  if (request.capabilities().has_boot_time() && row->boot_time_ms) {
    const auto& bt = request.capabilities().boot_time();
    // Bounded by the shape checks (year 1..9999), so this cannot overflow.
    const int64_t reported_ms = bt.seconds() * 1000 + bt.nanos() / 1'000'000;
    // The worker's rule too (VerifyEvidence step 2), with the same tolerance key.
    d.reboot = IsNewBoot(milliseconds(*row->boot_time_ms), milliseconds(reported_ms),
                         std::chrono::duration_cast<milliseconds>(config.boot_time_tolerance));
  }

  if (row->ima_catching_up && config.catch_up_interval.count() > 0) {
    d.interval_seconds = static_cast<uint32_t>(config.catch_up_interval.count());
  }
  if (!d.reboot && !row->ima_catching_up && row->last_attestation_ms) {
    const double wait_ms =
        static_cast<double>(row->interval_seconds) * 1000.0 * config.min_interval_fraction;
    const double earliest = static_cast<double>(*row->last_attestation_ms) + wait_ms;
    if (earliest > static_cast<double>(now_ms)) {
      d.kind = ChallengeDecision::Kind::kTooEarly;
      d.retry_after =
          milliseconds(static_cast<int64_t>(std::ceil(earliest - static_cast<double>(now_ms))));
      d.detail = fmt::format("agent {} attested less than {:.0f} s ago (interval {} s)", uuid,
                             wait_ms / 1000.0, row->interval_seconds);
      return d;
    }
  }
  d.kind = ChallengeDecision::Kind::kChallenge;
  d.ima_offset = d.reboot ? 0 : row->ima_offset;
  d.uefi_log_requested = row->boot_log_requested || d.reboot;
  return d;
}

}  // namespace attest::gateway
