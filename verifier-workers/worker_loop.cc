// The worker's loop thread: the consumer loop, the batch pipeline around the
// stages (batch.h, batch_prepare.h, commit_executor.h), the liveness sweep's
// schedule and the graceful drain. Everything here runs on the loop thread
// (worker.h lists what it owns).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "common/base/escape.h"
#include "verifier-workers/errors.h"
#include "verifier-workers/sweep.h"
#include "verifier-workers/worker.h"

namespace attest::worker {
namespace {

constexpr int kSweepLimit = 1000;
// After a failed batch, the loop waits this long before it retries.
constexpr auto kRetryBackoff = std::chrono::milliseconds(250);

}  // namespace

CommitTarget Worker::Target() const {
  return CommitTarget{config_.group_id, config_.evidence_topic, config_.worker_id, relay_.get()};
}

Result<std::unique_ptr<Batch>> Worker::PrepareBatch(std::vector<kafka::Message> msgs,
                                                    size_t session_index) {
  const Clock::time_point now = clock_.Now();
  std::unique_ptr<Batch> b = NewBatch(std::move(msgs), now);
  b->t0 = clock_.Monotonic();
  b->session_index = session_index;
  for (auto& [p, step] : b->partitions) {
    const OwnedPartition& o = owned_[p];
    step.expected = Claim{o.dispatched_next, o.claim.epoch};
    step.log_end = o.log_end;
  }
  auto give_back = [&](Error e) -> Error {
    b->tx.reset();
    for (auto& m : b->TakeMessages()) pending_.push_back(std::move(m));
    return e;
  };
  auto session = store_.Session(session_index);
  if (!session) return give_back(session.error());
  if (auto r = preparer_->Prepare(*b, **session, now); !r) {
    m_->db_errors->Inc();
    store_.Drop(session_index);
    return give_back(r.error());
  }
  return b;
}

Result<void> Worker::AwaitInflight() {
  if (!inflight_) return Ok();
  commit_.Wait();
  std::unique_ptr<Batch> b = std::move(inflight_);
  if (b->committed) {
    CompleteBatch(*b);
    return Ok();
  }
  // Not committed: its evidence goes first again, offsets back to the committed ones.
  std::vector<kafka::Message> msgs = b->TakeMessages();
  pending_.insert(pending_.begin(), std::make_move_iterator(msgs.begin()),
                  std::make_move_iterator(msgs.end()));
  for (auto& [p, o] : owned_) o.dispatched_next = o.claim.next_offset;
  if (b->fenced_partition) {
    m_->fenced->Inc();
    spdlog::warn("worker: {}", b->error ? b->error->message : "fenced");
    DropPartition(*b->fenced_partition, "fenced");
    return MakeError(errc::fenced, "batch fenced");
  }
  m_->db_errors->Inc();
  store_.Drop(b->session_index);
  return MakeError(errc::database, b->error ? b->error->message : "batch failed");
}

void Worker::CompleteBatch(Batch& b) {
  preparer_->Remember(b);
  for (const auto& [p, step] : b.partitions) {
    auto it = owned_.find(p);
    if (it == owned_.end()) continue;  // revoked meanwhile (its commit was fenced-safe)
    OwnedPartition& o = it->second;
    o.claim.next_offset = step.next;
    o.dispatched_next = std::max(o.dispatched_next, step.next);
    // A last record without a timestamp keeps the earlier time: an
    // earlier seen-through time only delays OFFLINE verdicts.
    if (step.last_time) o.committed_time = *step.last_time;
    if (o.log_end) o.log_end = std::max(*o.log_end, step.next);
    m_->position->With({std::to_string(p)}).Set(static_cast<double>(step.next));
    SetLagGauges(p, o);
  }
  std::vector<StoredOutbox> publish;
  publish.reserve(b.outbox_ids.size());
  CountRecords(b, publish);
  m_->evidence->Inc(b.records.size());
  m_->batch_size->Observe(static_cast<double>(b.records.size()));
  m_->commit_seconds->Observe(std::chrono::duration<double>(clock_.Monotonic() - b.t0).count());
  relay_->Publish(std::move(publish));
}

void Worker::CountRecords(Batch& b, std::vector<StoredOutbox>& publish) {
  size_t k = 0;
  for (Record& r : b.records) {
    const kafka::Message& m = r.msg;
    if (!r.outcome.error.empty()) {
      spdlog::error("worker: evidence {}[{}]@{} of agent {} could not be processed: {}", m.topic,
                    m.partition, m.offset, TerminalSafe(m.key.substr(0, 64)),
                    TerminalSafe(r.outcome.error));
      m_->processing_errors->Inc();
    }
    if (r.disposition != Disposition::kVerdict) {
      const char* reason = SkipReason(r.disposition);
      spdlog::warn("worker: skipped evidence {}[{}]@{} (key '{}'): {}", m.topic, m.partition,
                   m.offset, TerminalSafe(m.key.substr(0, 64)), reason);
      m_->skipped->With({reason}).Inc();
      continue;
    }
    m_->by_result[r.outcome.result]->Inc();
    m_->verify_seconds->Observe(static_cast<double>(r.outcome.verify_micros) / 1e6);
    for (auto& o : r.outcome.outbox) {
      if (k < b.outbox_ids.size()) publish.push_back(StoredOutbox{b.outbox_ids[k++], std::move(o)});
    }
  }
}

Result<void> Worker::ProcessBatch() {
  const bool pipelined = store_.size() >= 2;
  while (!pending_.empty()) {
    if (!pipelined) {
      if (auto r = AwaitInflight(); !r && r.error().code != make_error_code(errc::fenced)) {
        return r;
      }
    }
    // Only owned partitions, only offsets past what is committed or in flight.
    std::erase_if(pending_, [this](const kafka::Message& m) {
      auto it = owned_.find(m.partition);
      return it == owned_.end() || m.offset < it->second.dispatched_next;
    });
    if (pending_.empty()) return Ok();
    const size_t session_index = pipelined && inflight_ ? 1 - inflight_->session_index : 0;
    std::vector<kafka::Message> msgs;
    msgs.swap(pending_);
    auto prepared = PrepareBatch(std::move(msgs), session_index);
    // The previous batch first: this one may only write after it committed.
    auto prev = AwaitInflight();
    if (!prepared) return prepared.error();
    if (!prev) {
      (*prepared)->tx.reset();  // rolled back; retried after the previous one
      for (auto& m : (*prepared)->TakeMessages()) pending_.push_back(std::move(m));
      if (prev.error().code == make_error_code(errc::fenced)) continue;
      return prev.error();
    }
    // Dispatch: offsets move on optimistically (reset if the commit fails).
    for (const auto& [p, step] : (*prepared)->partitions) owned_[p].dispatched_next = step.next;
    inflight_ = std::move(*prepared);
    commit_.Submit([b = inflight_.get(), target = Target()] { CommitBatch(*b, target); });
    return Ok();
  }
  return Ok();
}

std::vector<SweepPartition> Worker::SweepPartitions() const {
  std::vector<SweepPartition> out;
  for (const auto& [p, o] : owned_) {
    if (auto view = SweepView(p, o.claim.next_offset, o.log_end, o.committed_time)) {
      out.push_back(*view);
    }
  }
  return out;
}

Result<void> Worker::Sweep() {
  // Committed first: the positions below are then everything read so far.
  if (auto r = AwaitInflight(); !r) return r;
  while (!owned_.empty()) {
    const std::vector<SweepPartition> parts = SweepPartitions();
    if (parts.empty()) return Ok();
    WORKER_LET(session, store_.Session());
    std::map<int32_t, int64_t> epochs;
    for (const auto& [p, o] : owned_) epochs[p] = o.claim.epoch;
    SweepResult swept;
    auto done =
        SweepOverdue(*session, ctx_, Target(), parts, epochs, clock_.Now(), kSweepLimit, swept);
    if (!done) {
      if (swept.fenced_partition) {
        m_->fenced->Inc();
        DropPartition(*swept.fenced_partition, "fenced (sweep)");
        continue;
      }
      m_->db_errors->Inc();
      store_.Drop(0);
      return done.error();
    }
    std::vector<StoredOutbox> publish;
    size_t k = 0;
    for (auto& o : swept.outcomes) {
      m_->by_result[o.result]->Inc();
      for (auto& rec : o.outbox)
        publish.push_back(StoredOutbox{swept.outbox_ids[k++], std::move(rec)});
    }
    if (!swept.outcomes.empty())
      spdlog::info("worker: {} agents went OFFLINE", swept.outcomes.size());
    relay_->Publish(std::move(publish));
    return Ok();
  }
  return Ok();
}

void Worker::UpdateLag() {
  for (auto& [p, o] : owned_) {
    if (auto wm = consumer_->CachedWatermarks(config_.evidence_topic, p)) {
      o.log_end = std::max(wm->high, o.claim.next_offset);
    }
    SetLagGauges(p, o);
  }
}

void Worker::SetLagGauges(int32_t partition, const OwnedPartition& o) {
  if (!o.log_end) return;
  const std::string label = std::to_string(partition);
  m_->log_end->With({label}).Set(static_cast<double>(*o.log_end));
  m_->lag->With({label}).Set(
      static_cast<double>(std::max<int64_t>(0, *o.log_end - o.claim.next_offset)));
}

Result<void> Worker::Run() {
  SweepSchedule sweeps(clock_, config_.sweep_period);
  auto backoff_until = attest::Clock::MonotonicTime{};
  const size_t max_pending = config_.batch_max_count * 4;
  while (!stop_.load()) {
    const auto now = clock_.Monotonic();
    last_loop_ = now;
    if (now < backoff_until) {
      clock_.SleepFor(std::chrono::milliseconds(50), {});
      continue;
    }
    // The batch in flight committed: publish its verdicts now.
    if (inflight_ && commit_.Idle()) {
      if (auto r = AwaitInflight(); !r) {
        spdlog::warn("worker: batch: {} (retrying)", r.error().message);
        if (r.error().code != make_error_code(errc::fenced)) {
          backoff_until = clock_.Monotonic() + kRetryBackoff;
          continue;
        }
      }
    }
    // Poll while there is room; the batch closes on count or time.
    if (pending_.size() < max_pending) {
      auto wait = std::chrono::milliseconds(inflight_ ? 2 : 100);
      if (!pending_.empty()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            batch_started_ + config_.batch_max_time - now);
        wait = std::max(std::chrono::milliseconds(0), std::min(wait, left));
      }
      auto msgs = consumer_->Poll(
          wait, config_.batch_max_count - std::min(config_.batch_max_count - 1, pending_.size()));
      if (!msgs) return MakeError(errc::kafka, msgs.error().message);
      for (auto& m : *msgs) {
        if (!owned_.count(m.partition)) continue;  // revoked meanwhile
        if (pending_.empty()) batch_started_ = clock_.Monotonic();
        pending_.push_back(std::move(m));
      }
      UpdateLag();  // before the batch: its commit records the log end offset
    }
    const bool full = pending_.size() >= config_.batch_max_count;
    const bool due =
        !pending_.empty() && clock_.Monotonic() >= batch_started_ + config_.batch_max_time;
    if (full || due) {
      if (auto r = ProcessBatch(); !r) {
        spdlog::warn("worker: batch: {} (retrying)", r.error().message);
        backoff_until = clock_.Monotonic() + kRetryBackoff;
        continue;
      }
    }
    if (sweeps.Due()) {
      if (auto r = Sweep(); !r) spdlog::warn("worker: sweep: {}", r.error().message);
    }
  }
  spdlog::info("worker: stopping");
  Drain();
  relay_->Stop(config_.outbox_drain_timeout);
  if (auto r = consumer_->Close(); !r) spdlog::warn("worker: close: {}", r.error().message);
  return Ok();
}

void Worker::Drain() {
  // Finish the batches, publish (the relay drains after), leave the group.
  const auto deadline = clock_.Monotonic() + config_.batch_drain_timeout;
  while (!pending_.empty() || inflight_) {
    auto r = ProcessBatch();
    if (r) r = AwaitInflight();
    if (r && pending_.empty()) break;
    if (clock_.Monotonic() + kRetryBackoff > deadline) break;
    clock_.SleepFor(kRetryBackoff, {});
  }
}

}  // namespace attest::worker
