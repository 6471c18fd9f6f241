// `attest-bench run`: the agents of a state file run the real protocol
// against one or more gateways (POST challenges, a quote built in software
// with the token as nonce over the requested PCRs, the IMA entries from the
// requested offset, POST evidence) over HTTPS keep-alive, at a target rate or
// flat out, while a Kafka consumer of its own group reads the verdict topic
// from its end and matches verdicts to accepted evidence (tracker.h). After
// --duration no new round starts; in-flight requests finish, then the run
// waits up to --drain-timeout for the outstanding verdicts.
//
// Each simulated agent does one round at a time and starts its next round
// only after the verdict of the last one (or --verdict-timeout), at least
// interval_seconds later: like a real agent, it never races its own
// evidence. So the achievable rate is at most agents / interval_seconds.
// Every run is a reboot of every agent (resetCount = the run's start time in
// seconds, a new boot_time, an empty IMA list), so state files can be reused
// and the TPM clock (wall-clock ms) stays monotonic across runs.
//
// Thread-safety: RunBench is a blocking call using its own threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/base/result.h"
#include "tools/attest-bench/proc_stats.h"
#include "tools/attest-bench/tracker.h"

namespace attest::bench {

struct RunOptions {
  std::string state_file;
  std::vector<std::string> gateways;  // https://host:port
  std::string ca_file;
  std::string bootstrap;  // Kafka bootstrap servers
  std::string verdict_topic = "attestation.verdicts";
  int fetch_wait_ms = 10;  // the verdict consumer's fetch.wait.max.ms
  double rate = 0;         // attestations (rounds started) per second; 0 with flat_out
  bool flat_out = false;
  std::chrono::milliseconds duration{10'000};
  int connections = 64;
  int threads = 2;  // I/O threads
  uint32_t ima_entries_per_round = 5;
  std::chrono::milliseconds drain_timeout{30'000};
  std::chrono::milliseconds verdict_timeout{30'000};
  std::chrono::milliseconds request_timeout{30'000};
  int max_retries = 5;                             // evidence retries on 429/503/transport errors
  size_t max_agents = 0;                           // 0: every agent of the state file
  std::vector<std::pair<std::string, int>> watch;  // name, pid
  std::vector<std::pair<std::string, int>> watch_tree;  // name, pid (+ descendants)
};

struct RunReport {
  size_t agents = 0;
  double seconds = 0;        // load phase
  double drain_seconds = 0;  // after the load phase until all verdicts (or timeout)
  uint64_t rounds = 0;       // challenges asked
  std::map<int, uint64_t> challenge_refused;  // non-200 challenge answers by status
  std::map<int, uint64_t> refused;            // final non-202 evidence answers by status
  std::map<int, uint64_t> throttled;          // 429/503 answers (challenge or evidence)
  uint64_t retries = 0;                       // evidence re-sent
  uint64_t transport_errors = 0;
  uint64_t protocol_errors = 0;
  uint64_t verdict_timeouts = 0;  // agents re-queued without their verdict
  uint64_t connects = 0;
  TrackerCounts tracker;
  std::vector<WatchedProcess> processes;
  double self_cpu_seconds = 0;

  double attestations_per_second() const {
    return seconds > 0 ? static_cast<double>(tracker.accepted) / seconds : 0;
  }
};

Result<RunReport> RunBench(const RunOptions& options);

std::string RunReportJson(const RunReport& report, const RunOptions& options);
std::string RunReportText(const RunReport& report);

}  // namespace attest::bench
