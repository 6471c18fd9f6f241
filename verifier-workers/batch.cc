#include "verifier-workers/batch.h"

#include <algorithm>

#include "verifier-workers/contain.h"
#include "verifier-workers/errors.h"
#include "verifier-workers/findings.h"
#include "verifier-workers/relay.h"

namespace attest::worker {

const char* SkipReason(Disposition d) {
  switch (d) {
    case Disposition::kBadKey:
      return findings::kSkipBadKey.data();
    case Disposition::kCopy:
      return findings::kSkipCopy.data();
    case Disposition::kNoVerdict:
      return findings::kSkipNoVerdict.data();
    case Disposition::kNotEnrolled:
    case Disposition::kVerdict:
      break;
  }
  return findings::kSkipNotEnrolled.data();
}

std::vector<kafka::Message> Batch::TakeMessages() {
  std::vector<kafka::Message> out;
  out.reserve(records.size());
  for (auto& r : records) out.push_back(std::move(r.msg));
  records.clear();
  return out;
}

std::unique_ptr<Batch> NewBatch(std::vector<kafka::Message> msgs, Clock::time_point now) {
  auto b = std::make_unique<Batch>();
  b->records.resize(msgs.size());
  // A timestamp past now (nonsense, and past 2262 an overflow of the
  // clock's nanoseconds) counts as now.
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  for (size_t i = 0; i < msgs.size(); ++i) {
    Record& r = b->records[i];
    r.msg = std::move(msgs[i]);
    if (auto id = ParseUuid(r.msg.key)) {
      r.agent_id = std::move(id).value();
    } else {
      r.disposition = Disposition::kBadKey;
    }
    PartitionStep& step = b->partitions[r.msg.partition];
    step.next = r.msg.offset + 1;
    step.last_time = r.msg.timestamp_ms < 0
                         ? std::nullopt
                         : std::optional(Clock::time_point(std::chrono::milliseconds(
                               std::min<int64_t>(r.msg.timestamp_ms, now_ms))));
  }
  return b;
}

namespace {

Result<void> WriteAndCommit(Batch& b, const CommitTarget& t) {
  std::vector<const AgentRow*> dirty;
  for (const auto& [id, row] : b.rows) {
    if (row.dirty) dirty.push_back(&row);
  }
  std::vector<const HistoryRecord*> history;
  std::vector<const OutboxRecord*> outbox;
  for (const Record& r : b.records) {
    if (r.disposition != Disposition::kVerdict) continue;
    history.push_back(&r.outcome.history);
    for (const auto& o : r.outcome.outbox) outbox.push_back(&o);
  }
  ATTEST_ASSIGN_OR_RETURN(b.outbox_ids, b.tx->WriteResults(dirty, history, outbox, t.worker_id));
  t.relay->Reserve(b.outbox_ids);
  for (const auto& [p, step] : b.partitions) {
    OffsetKey key{t.group_id, t.evidence_topic, p};
    auto adv = b.tx->AdvanceOffset(key, step.expected, step.next, t.worker_id, step.log_end);
    if (!adv) {
      if (adv.error().code == make_error_code(errc::fenced)) b.fenced_partition = p;
      return adv.error();
    }
  }
  return b.tx->Commit();
}

}  // namespace

void CommitBatch(Batch& b, const CommitTarget& target) {
  Result<void> done = b.tx ? Contained("commit batch", [&] { return WriteAndCommit(b, target); })
                           : Result<void>(MakeError(errc::database, "batch without a transaction"));
  if (done) {
    b.committed = true;
  } else {
    target.relay->Release(b.outbox_ids);
    b.error = done.error();
  }
  b.tx.reset();  // rolls back when not committed
}

}  // namespace attest::worker
