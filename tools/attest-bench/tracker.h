// Matches verdicts (attestation.verdicts) to the evidence attest-bench got a
// 202 for, and keeps the counts the fault campaign checks: missing (202
// without a verdict), duplicates (a second verdict for one evidence or one
// (agent, sequence)), unexpected (a verdict naming evidence that was never
// accepted: refused, or never sent), and end-to-end latency (evidence sent
// -> verdict consumed by this process).
//
// A verdict may be consumed before the 202 that announces its evidence is
// parsed (the worker can be faster than the HTTP answer); it is then held
// until Accepted() for that evidence_id, and counted as unexpected if none
// comes.
//
// Thread-safety: all methods are thread-safe (one mutex).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace attest::bench {

struct AgentRound {
  uint32_t agent = 0;
  uint32_t round = 0;
};

struct TrackerCounts {
  uint64_t accepted = 0;
  uint64_t verdicts = 0;  // verdicts for this run's agents
  uint64_t matched = 0;   // verdicts matched to accepted evidence
  uint64_t missing = 0;   // accepted evidence without a verdict
  uint64_t duplicates = 0;
  uint64_t unexpected = 0;
  uint64_t no_evidence = 0;  // verdicts without evidence (OFFLINE from the liveness sweep)
  uint64_t foreign = 0;      // verdicts for agents outside this run
  std::map<std::string, uint64_t> by_result;
  std::vector<double> latencies_ms;  // matched verdicts, sorted by Snapshot(true)
};

class Tracker {
 public:
  // `uuids[i]` is agent i's canonical UUID.
  explicit Tracker(const std::vector<std::string>& uuids);

  // Evidence `evidence_id` of (agent, round) got a 202; sent at `sent_ns`
  // (steady clock). Returns true when its verdict was already consumed.
  bool Accepted(const std::string& evidence_id, AgentRound who, int64_t sent_ns);

  // A consumed verdict; returns the (agent, round) whose evidence it decides
  // when it matches accepted evidence for the first time.
  std::optional<AgentRound> OnVerdict(const std::string& agent_uuid, uint64_t sequence,
                                      const std::string& evidence_id, const std::string& result,
                                      int64_t received_ns);

  // Accepted evidence still waiting for its verdict.
  uint64_t Outstanding() const;
  TrackerCounts Snapshot() const;

 private:
  struct Sent {
    AgentRound who;
    int64_t sent_ns = 0;
    bool decided = false;
  };
  struct Early {
    int64_t received_ns = 0;
  };

  mutable std::mutex mu_;
  std::unordered_map<std::string, uint32_t> index_;
  std::unordered_map<std::string, Sent> sent_;
  std::unordered_map<std::string, Early> early_;
  std::unordered_set<uint64_t> sequences_;  // agent << 32 | low 32 bits of sequence
  TrackerCounts c_;
};

// p in [0, 1] of sorted values (nearest rank); 0 when empty.
double Percentile(const std::vector<double>& sorted, double p);

}  // namespace attest::bench
