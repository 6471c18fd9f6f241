// Whether an agent's reported boot time names another boot than the stored
// one: the one rule of the gateway (a rebooted agent is challenged at once)
// and the verifier (a reboot resets the IMA state and asks for the UEFI log).
//
// A boot time is derived (btime of /proc/stat: now minus uptime), so it
// jitters by a second or so between readings of the same boot; an exact
// comparison would call that jitter a reboot. Both sides take the tolerance
// from the same configuration key, challenge.boot_time_tolerance_seconds
// (default kDefaultBootTimeTolerance).
//
// Thread-safety: pure.
#pragma once

#include <chrono>
#include <cstdint>

namespace attest {

inline constexpr std::chrono::seconds kDefaultBootTimeTolerance{2};

// True when `reported` differs from `stored` by more than `tolerance` (all in
// one unit; a negative tolerance counts as 0). Exact for any values (no overflow: the difference is
// taken in unsigned arithmetic).
template <class Rep, class Period>
constexpr bool IsNewBoot(std::chrono::duration<Rep, Period> stored,
                         std::chrono::duration<Rep, Period> reported,
                         std::chrono::duration<Rep, Period> tolerance) {
  static_assert(sizeof(Rep) <= sizeof(uint64_t));
  const auto s = static_cast<uint64_t>(stored.count());
  const auto r = static_cast<uint64_t>(reported.count());
  // Two's complement: the wrapped difference is the magnitude of the signed one.
  const uint64_t diff = stored.count() > reported.count() ? s - r : r - s;
  const uint64_t tol = tolerance.count() > 0 ? static_cast<uint64_t>(tolerance.count()) : 0;
  return diff > tol;
}

}  // namespace attest
