// One simulated agent's round of the protocol on one HTTPS connection:
// POST a challenge request, build the quote and IMA entries the challenge
// asks for, POST the evidence (retrying 429/503 and transport errors), and
// hand the accepted evidence to the tracker. ConnectionLoop runs rounds on
// one connection until Shared::stop.
//
// Thread-safety: a connection's coroutines run on its io_context; Shared's
// scheduler, tracker and counters are shared by every connection.
#pragma once

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "common/tpm/tpm_crypto.h"
#include "tools/attest-bench/https_client.h"
#include "tools/attest-bench/run.h"
#include "tools/attest-bench/scheduler.h"
#include "tools/attest-bench/state_file.h"
#include "tools/simtpm/sim_ima.h"

namespace attest::bench {

using SteadyClock = std::chrono::steady_clock;

inline int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch())
      .count();
}
inline int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
constexpr int64_t kSecond = 1'000'000'000;

struct Counters {
  std::mutex mu;
  std::map<int, uint64_t> challenge_refused, refused, throttled;
  std::atomic<uint64_t> rounds{0}, retries{0}, transport{0}, protocol{0}, connects{0};
  void Add(std::map<int, uint64_t>& m, int status) {
    std::lock_guard lock(mu);
    ++m[status];
  }
};

struct Shared {
  const RunOptions& o;
  std::vector<Agent>& agents;
  const BenchState& state;
  const simtpm::ImaPool& pool;
  std::vector<tpm::EvpPkeyPtr> rsa_keys;  // loaded once; ECC keys per quote
  Scheduler& sched;
  Tracker& tracker;
  Counters& counters;
  uint32_t reset_count;
  int64_t boot_time;
  std::atomic<bool> stop{false};
  std::atomic<int> active{0};
};

// Rounds of the agents `s.sched` picks, on `conn`, until s.stop; then adds
// the connection's connects to the counters and decrements s.active.
boost::asio::awaitable<void> ConnectionLoop(Shared& s, std::unique_ptr<HttpsConnection> conn);

}  // namespace attest::bench
