// attest-bench run's simulated agents and the scheduler that decides which
// one starts a round next (see run.h for the protocol).
//
// Scheduler: agents wait in FIFO order; an agent is ready only while it may
// start a round (its interval passed, no verdict awaited); a token bucket
// limits the rate. `now` is an argument of every call (steady ns), so the
// scheduler is tested without sleeping. Thread-safety: its methods may be
// called from any thread (one mutex); an Agent's fields other than phase,
// round and next_ok_ns belong to the connection running its round.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include "tools/attest-bench/tracker.h"

namespace attest::bench {

enum class Phase : uint8_t { kReady, kBusy, kAwaiting };

// A simulated agent's TPM and IMA state during a run (the identity is in
// the state file).
struct Agent {
  std::string uuid;
  uint32_t key = 0;
  Phase phase = Phase::kReady;
  uint32_t round = 0;
  int64_t next_ok_ns = 0;
  uint64_t ima_count = 0;
  std::array<uint8_t, 32> pcr10{};
  uint64_t clock_ms = 0;
};

// Which agent goes next, and the rate limit.
class Scheduler {
 public:
  Scheduler(std::vector<Agent>& agents, double rate, int64_t interval_ns,
            int64_t verdict_timeout_ns)
      : agents_(agents),
        permit_ns_(rate > 0 ? static_cast<int64_t>(1e9 / rate) : 0),
        interval_ns_(interval_ns),
        verdict_timeout_ns_(verdict_timeout_ns) {
    for (uint32_t i = 0; i < agents.size(); ++i) ready_.push_back(i);
  }

  // An agent index to run now, or the time to wait (ns) before asking again.
  std::variant<uint32_t, int64_t> Next(int64_t now) {
    std::lock_guard lock(mu_);
    while (!awaiting_.empty() && awaiting_.front().deadline <= now) {
      auto [idx, round, deadline] = awaiting_.front();
      awaiting_.pop_front();
      Agent& a = agents_[idx];
      if (a.phase == Phase::kAwaiting && a.round == round) {
        ++verdict_timeouts_;
        a.phase = Phase::kReady;
        a.next_ok_ns = now;
        ready_.push_back(idx);
      }
    }
    if (ready_.empty()) return int64_t{5'000'000};
    Agent& a = agents_[ready_.front()];
    if (a.next_ok_ns > now) return std::min<int64_t>(a.next_ok_ns - now, 20'000'000);
    if (permit_ns_ > 0) {
      // Up to 100 ms of credit, so a short stall does not lose throughput.
      next_permit_ = std::max(next_permit_, now - 100'000'000);
      if (next_permit_ > now) return std::min<int64_t>(next_permit_ - now, 20'000'000);
      next_permit_ += permit_ns_;
    }
    uint32_t idx = ready_.front();
    ready_.pop_front();
    a.phase = Phase::kBusy;
    ++a.round;
    return idx;
  }
  // The round ended without accepted evidence: try again after `delay_ns`.
  void Retry(uint32_t idx, int64_t now, int64_t delay_ns) {
    std::lock_guard lock(mu_);
    agents_[idx].phase = Phase::kReady;
    agents_[idx].next_ok_ns = now + delay_ns;
    ready_.push_back(idx);
  }
  void Awaiting(uint32_t idx, int64_t now) {
    std::lock_guard lock(mu_);
    Agent& a = agents_[idx];
    a.phase = Phase::kAwaiting;
    awaiting_.push_back({idx, a.round, now + verdict_timeout_ns_});
  }
  // The verdict of (idx, round) arrived: the next round after the interval.
  void Decided(AgentRound who, int64_t now) {
    std::lock_guard lock(mu_);
    Agent& a = agents_[who.agent];
    if (a.phase != Phase::kAwaiting || a.round != who.round) return;
    a.phase = Phase::kReady;
    a.next_ok_ns = now + interval_ns_;
    ready_.push_back(who.agent);
  }
  uint64_t verdict_timeouts() {
    std::lock_guard lock(mu_);
    return verdict_timeouts_;
  }

 private:
  struct Wait {
    uint32_t idx;
    uint32_t round;
    int64_t deadline;
  };
  std::mutex mu_;
  std::vector<Agent>& agents_;
  std::deque<uint32_t> ready_;
  std::deque<Wait> awaiting_;
  int64_t permit_ns_;
  int64_t next_permit_ = 0;
  int64_t interval_ns_;
  int64_t verdict_timeout_ns_;
  uint64_t verdict_timeouts_ = 0;
};

}  // namespace attest::bench
