// The liveness sweep: when it runs (SweepSchedule), which partitions it
// looks at and through which time (SweepView), and its transaction
// (SweepOverdue): the agents of the swept partitions past their deadline go
// OFFLINE, fenced like a batch.
//
// Contract: one transaction on the session given; locks at most `limit`
// overdue agents (SKIP LOCKED), checks that every partition they belong to
// is still owned at the epoch in `epochs` (errc::fenced and
// `fenced_partition` otherwise, nothing written), writes their OFFLINE
// verdicts and commits. The outbox ids are reserved at the relay before the
// commit and released when it fails; publishing them is the caller's.
//
// Thread-safety: the loop thread (it owns the session, `epochs` and the
// schedule).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "common/base/clock.h"
#include "common/base/result.h"
#include "verifier-workers/batch.h"
#include "verifier-workers/processor.h"
#include "verifier-workers/store_session.h"

namespace attest::worker {

// A sweep every `period` of the clock's monotonic time, the first one a
// period after construction; a late check does not make the next one early.
class SweepSchedule {
 public:
  SweepSchedule(const attest::Clock& clock, std::chrono::milliseconds period)
      : clock_(clock), period_(period), next_(clock.Monotonic() + period) {}
  // True when a sweep is due; the next one is then a period from now.
  bool Due();

 private:
  const attest::Clock& clock_;
  const std::chrono::milliseconds period_;
  attest::Clock::MonotonicTime next_;
};

// What the sweep may look at of one owned partition, read through which
// time: everything (seen_through nullopt: the database's now) once the
// committed position reached the log end, else the Kafka time of the last
// record committed; nothing (nullopt) while that time is unknown (claimed
// and behind, before its first batch commits), so a backlog never lets its
// agents go OFFLINE.
std::optional<SweepPartition> SweepView(int32_t partition, int64_t committed_next,
                                        std::optional<int64_t> log_end,
                                        std::optional<Clock::time_point> committed_time);

struct SweepResult {
  std::vector<Outcome> outcomes;    // one OFFLINE verdict per agent
  std::vector<int64_t> outbox_ids;  // in the order of the outcomes' outbox rows
  std::optional<int32_t> fenced_partition;
};

Result<void> SweepOverdue(StoreSession& session, const Context& ctx, const CommitTarget& target,
                          const std::vector<SweepPartition>& partitions,
                          const std::map<int32_t, int64_t>& epochs, Clock::time_point now,
                          int limit, SweepResult& out);

}  // namespace attest::worker
