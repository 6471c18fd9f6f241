#include "verifier-workers/sweep.h"

#include <set>

#include "verifier-workers/contain.h"
#include "verifier-workers/errors.h"
#include "verifier-workers/relay.h"

namespace attest::worker {
namespace {

Result<void> SweepIn(StoreTransaction& tx, const Context& ctx, const CommitTarget& target,
                     const std::vector<SweepPartition>& partitions,
                     const std::map<int32_t, int64_t>& epochs, Clock::time_point now, int limit,
                     SweepResult& out) {
  WORKER_LET(overdue, tx.LockOverdueAgents(partitions, limit));
  if (overdue.empty()) return Ok();
  WORKER_LET(rows, tx.LoadAgents(overdue, {}, false));
  // Fenced like a batch: still the owner of each partition touched?
  std::set<int32_t> touched;
  for (const auto& [id, row] : rows) touched.insert(row.partition);
  for (int32_t p : touched) {
    auto epoch = epochs.find(p);
    auto own = tx.CheckOwner({target.group_id, target.evidence_topic, p},
                             epoch == epochs.end() ? 0 : epoch->second);
    if (!own) {
      if (own.error().code == make_error_code(errc::fenced)) out.fenced_partition = p;
      return own.error();
    }
  }
  std::vector<const AgentRow*> dirty;
  for (auto& [id, row] : rows) {
    out.outcomes.push_back(MakeOffline(ctx, row, now));
    dirty.push_back(&row);
  }
  std::vector<const HistoryRecord*> history;
  std::vector<const OutboxRecord*> outbox;
  for (const auto& o : out.outcomes) {
    history.push_back(&o.history);
    for (const auto& rec : o.outbox) outbox.push_back(&rec);
  }
  ATTEST_ASSIGN_OR_RETURN(out.outbox_ids,
                          tx.WriteResults(dirty, history, outbox, target.worker_id));
  target.relay->Reserve(out.outbox_ids);
  return tx.Commit();
}

}  // namespace

bool SweepSchedule::Due() {
  const auto now = clock_.Monotonic();
  if (now < next_) return false;
  next_ = now + period_;
  return true;
}

std::optional<SweepPartition> SweepView(int32_t partition, int64_t committed_next,
                                        std::optional<int64_t> log_end,
                                        std::optional<Clock::time_point> committed_time) {
  if (log_end && committed_next >= *log_end) return SweepPartition{partition, std::nullopt};
  if (committed_time) return SweepPartition{partition, committed_time};
  return std::nullopt;
}

Result<void> SweepOverdue(StoreSession& session, const Context& ctx, const CommitTarget& target,
                          const std::vector<SweepPartition>& partitions,
                          const std::map<int32_t, int64_t>& epochs, Clock::time_point now,
                          int limit, SweepResult& out) {
  out = SweepResult{};
  auto tx = session.Begin();
  if (!tx) return tx.error();
  Result<void> done = Contained(
      "sweep", [&] { return SweepIn(**tx, ctx, target, partitions, epochs, now, limit, out); });
  tx->reset();  // rolls back unless committed
  if (!done) {
    target.relay->Release(out.outbox_ids);
    out.outcomes.clear();
  }
  return done;
}

}  // namespace attest::worker
