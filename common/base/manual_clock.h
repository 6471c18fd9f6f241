// A Clock that moves only when a test says so. Sleepers wake when Advance()
// reaches their deadline or their stop_token is requested; WaitForSleepers()
// lets a test wait (without sleeping) until the code under test is parked,
// so "advance past the backoff, then check" is deterministic.
//
// Thread-safety: all members may be called from any thread.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <list>
#include <mutex>
#include <vector>

#include "common/base/clock.h"

namespace attest {

class ManualClock final : public Clock {
 public:
  explicit ManualClock(SystemTime start = SystemTime{std::chrono::seconds(1'800'000'000)})
      : wall_(start) {}

  SystemTime Now() const override {
    std::lock_guard lock(mu_);
    return wall_;
  }
  MonotonicTime Monotonic() const override {
    std::lock_guard lock(mu_);
    return mono_;
  }
  bool SleepUntil(MonotonicTime deadline, std::stop_token stop) const override {
    std::unique_lock lock(mu_);
    ++sleepers_;
    const auto me = asleep_.insert(asleep_.end(), Sleeper{deadline, stop});
    cv_.notify_all();
    const bool reached = cv_.wait(lock, stop, [&] { return mono_ >= deadline; });
    asleep_.erase(me);
    --sleepers_;
    cv_.notify_all();
    return reached;
  }

  // Moves both clocks forward by `d` and wakes the sleepers whose deadline came.
  void Advance(Duration d) {
    std::lock_guard lock(mu_);
    wall_ += std::chrono::duration_cast<SystemTime::duration>(d);
    mono_ += d;
    cv_.notify_all();
  }
  // Sets the wall clock only (a clock step: NTP, an operator).
  void SetNow(SystemTime t) {
    std::lock_guard lock(mu_);
    wall_ = t;
  }
  // Blocks until at least `n` threads are inside SleepUntil.
  void WaitForSleepers(int n) const {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return sleepers_ >= n; });
  }
  // Blocks until at least `n` threads are parked in SleepUntil: their
  // deadline not reached and not stopped. A sleeper that Advance() or a stop
  // woke but that has not returned yet is not counted, so "advance to the
  // deadline, then wait for the next one" never sees the old sleep. Returns
  // the parked sleepers' deadlines, earliest first.
  std::vector<MonotonicTime> WaitForParked(size_t n) const {
    std::unique_lock lock(mu_);
    std::vector<MonotonicTime> parked;
    cv_.wait(lock, [&] {
      parked.clear();
      for (const Sleeper& s : asleep_) {
        if (s.deadline > mono_ && !s.stop.stop_requested()) parked.push_back(s.deadline);
      }
      return parked.size() >= n;
    });
    std::sort(parked.begin(), parked.end());
    return parked;
  }
  int Sleepers() const {
    std::lock_guard lock(mu_);
    return sleepers_;
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable_any cv_;
  SystemTime wall_;                            // guarded by mu_
  MonotonicTime mono_{std::chrono::hours(1)};  // guarded by mu_
  mutable int sleepers_ = 0;                   // guarded by mu_
  struct Sleeper {
    MonotonicTime deadline;
    std::stop_token stop;
  };
  mutable std::list<Sleeper> asleep_;  // guarded by mu_
};

}  // namespace attest
