// The one seam to time (as Envoy's TimeSource): services take a `Clock&` and
// never read std::chrono clocks or sleep directly, so tests drive backoff,
// sweeps and deadlines by hand (ManualClock) instead of sleeping.
//
//   Now()        wall time: timestamps, token issue/expiry, verdict times.
//   Monotonic()  intervals and deadlines (never goes back).
//   SleepUntil() blocks until Monotonic() >= deadline or `stop` is requested;
//                returns false when it was stopped, true when the deadline came.
//
// Thread-safety: every implementation may be called from any thread.
#pragma once

#include <chrono>
#include <stop_token>

namespace attest {

class Clock {
 public:
  using SystemTime = std::chrono::system_clock::time_point;
  using MonotonicTime = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;
  virtual SystemTime Now() const = 0;
  virtual MonotonicTime Monotonic() const = 0;
  virtual bool SleepUntil(MonotonicTime deadline, std::stop_token stop) const = 0;

  bool SleepFor(Duration d, std::stop_token stop) const {
    return SleepUntil(Monotonic() + d, std::move(stop));
  }
};

// The real clocks. Stateless: construct one in main() and pass it down.
class SystemClock final : public Clock {
 public:
  SystemTime Now() const override { return std::chrono::system_clock::now(); }
  MonotonicTime Monotonic() const override { return std::chrono::steady_clock::now(); }
  bool SleepUntil(MonotonicTime deadline, std::stop_token stop) const override;
};

}  // namespace attest
