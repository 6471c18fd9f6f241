// The liveness sweep's transaction: the agents of the swept partitions past
// their deadline go OFFLINE, fenced like a batch.
//
// Contract: one transaction on the session given; locks at most `limit`
// overdue agents (SKIP LOCKED), checks that every partition they belong to
// is still owned at the epoch in `epochs` (errc::fenced and
// `fenced_partition` otherwise, nothing written), writes their OFFLINE
// verdicts and commits. The outbox ids are reserved at the relay before the
// commit and released when it fails; publishing them is the caller's.
//
// Thread-safety: the loop thread (it owns the session and `epochs`).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "common/base/result.h"
#include "verifier-workers/batch.h"
#include "verifier-workers/processor.h"
#include "verifier-workers/store_session.h"

namespace attest::worker {

struct SweepResult {
  std::vector<Outcome> outcomes;     // one OFFLINE verdict per agent
  std::vector<int64_t> outbox_ids;   // in the order of the outcomes' outbox rows
  std::optional<int32_t> fenced_partition;
};

Result<void> SweepOverdue(StoreSession& session, const Context& ctx, const CommitTarget& target,
                          const std::vector<SweepPartition>& partitions,
                          const std::map<int32_t, int64_t>& epochs, Clock::time_point now,
                          int limit, SweepResult& out);

}  // namespace attest::worker
