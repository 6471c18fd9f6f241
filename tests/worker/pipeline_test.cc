// The worker pipeline's stages without a database or a broker (issue 20.1):
// the commit executor (one long-lived thread, one job at a time), a batch's
// records and partition steps, the commit stage and the sweep transaction
// against a fake store (fencing rolls back and releases the outbox ids).
#include <gtest/gtest.h>

#include <atomic>
#include <new>
#include <set>
#include <thread>

#include "verifier-workers/batch.h"
#include "verifier-workers/commit_executor.h"
#include "verifier-workers/errors.h"
#include "verifier-workers/relay.h"
#include "verifier-workers/sweep.h"

namespace attest::worker {
namespace {

// What a fake transaction saw; shared by the session and its transactions.
struct Log {
  std::vector<std::string> calls;
  size_t history = 0, outbox = 0;
  std::set<int32_t> fenced;  // AdvanceOffset / CheckOwner of these: errc::fenced
  std::map<std::string, AgentRow> agents;
  bool committed = false, rolled_back = false;
  bool throw_on_write = false;  // WriteResults throws (std::bad_alloc)
};

class FakeTransaction final : public StoreTransaction {
 public:
  explicit FakeTransaction(Log* log) : log_(log) {}
  ~FakeTransaction() override {
    if (!log_->committed) log_->rolled_back = true;
  }
  Result<std::map<std::string, AgentRow>> LoadAgents(const std::vector<std::string>& ids,
                                                     const std::vector<uint8_t>&, bool) override {
    log_->calls.push_back("load");
    std::map<std::string, AgentRow> out;
    for (const auto& id : ids) {
      if (auto it = log_->agents.find(id); it != log_->agents.end()) out.insert(*it);
    }
    return out;
  }
  Result<void> LoadAkPublics(const std::vector<AgentRow*>&) override { return Ok(); }
  Result<std::vector<PolicyRow>> LoadPolicies(const std::vector<int64_t>&) override {
    return std::vector<PolicyRow>{};
  }
  Result<std::vector<int64_t>> WriteResults(const std::vector<const AgentRow*>&,
                                            const std::vector<const HistoryRecord*>& history,
                                            const std::vector<const OutboxRecord*>& outbox,
                                            const std::string&) override {
    log_->calls.push_back("write");
    if (log_->throw_on_write) throw std::bad_alloc();
    log_->history = history.size();
    log_->outbox = outbox.size();
    std::vector<int64_t> ids;
    for (size_t i = 0; i < outbox.size(); ++i) ids.push_back(100 + static_cast<int64_t>(i));
    return ids;
  }
  Result<std::vector<std::string>> LockOverdueAgents(const std::vector<SweepPartition>&,
                                                     int) override {
    log_->calls.push_back("overdue");
    std::vector<std::string> ids;
    for (const auto& [id, row] : log_->agents) ids.push_back(id);
    return ids;
  }
  Result<void> AdvanceOffset(const OffsetKey& key, const Claim&, int64_t next, const std::string&,
                             std::optional<int64_t>) override {
    log_->calls.push_back("advance " + std::to_string(key.partition) + " " + std::to_string(next));
    if (log_->fenced.count(key.partition)) return MakeError(errc::fenced, "fenced");
    return Ok();
  }
  Result<void> CheckOwner(const OffsetKey& key, int64_t) override {
    log_->calls.push_back("check " + std::to_string(key.partition));
    if (log_->fenced.count(key.partition)) return MakeError(errc::fenced, "fenced");
    return Ok();
  }
  Result<void> Commit() override {
    log_->calls.push_back("commit");
    log_->committed = true;
    return Ok();
  }

 private:
  Log* log_;
};

class FakeSession final : public StoreSession {
 public:
  explicit FakeSession(Log* log) : log_(log) {}
  bool is_open() const override { return true; }
  Result<std::unique_ptr<StoreTransaction>> Begin() override {
    return std::unique_ptr<StoreTransaction>(new FakeTransaction(log_));
  }
  Result<Claim> ClaimPartition(const OffsetKey&, const std::string&) override { return Claim{}; }
  Result<std::vector<StoredOutbox>> LoadOutbox(int32_t, int64_t, int) override {
    return std::vector<StoredOutbox>{};
  }

 private:
  Log* log_;
};

kafka::Message Msg(int32_t partition, int64_t offset, std::string key, int64_t ts_ms = -1) {
  kafka::Message m;
  m.topic = "evidence";
  m.partition = partition;
  m.offset = offset;
  m.key = std::move(key);
  m.timestamp_ms = ts_ms;
  return m;
}

const std::string kAgent = "D432FBB3-D2F1-4A97-9EF7-75BD81C0000A";
const attest::SystemClock kClock;  // the relays' (never started)

TEST(CommitExecutorTest, RunsEveryJobOnOneLongLivedThread) {
  CommitExecutor exec;
  EXPECT_TRUE(exec.Idle());
  std::set<std::thread::id> threads;
  int runs = 0;
  for (int i = 0; i < 50; ++i) {
    std::atomic<bool> release{false};
    exec.Submit([&] {
      while (!release.load()) std::this_thread::yield();
      threads.insert(std::this_thread::get_id());
      ++runs;
    });
    EXPECT_FALSE(exec.Idle());
    release = true;
    exec.Wait();
    EXPECT_TRUE(exec.Idle());
  }
  EXPECT_EQ(runs, 50);
  ASSERT_EQ(threads.size(), 1u);
  EXPECT_NE(*threads.begin(), std::this_thread::get_id());
}

TEST(CommitExecutorTest, DestructorWaitsForTheJobInFlight) {
  std::atomic<bool> ran{false};
  {
    CommitExecutor exec;
    exec.Submit([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      ran = true;
    });
  }
  EXPECT_TRUE(ran.load());
}

TEST(BatchTest, OneRecordPerMessageAndOneStepPerPartition) {
  const Clock::time_point now = Clock::time_point(std::chrono::milliseconds(1'000'000));
  std::vector<kafka::Message> msgs;
  msgs.push_back(Msg(3, 10, kAgent, 900'000));
  msgs.push_back(Msg(1, 7, "not-a-uuid", 950'000));
  msgs.push_back(Msg(3, 11, kAgent, 5'000'000));  // past now: counts as now
  msgs.push_back(Msg(1, 8, kAgent));              // no timestamp
  auto b = NewBatch(std::move(msgs), now);
  ASSERT_EQ(b->records.size(), 4u);
  EXPECT_EQ(b->records[0].agent_id, ParseUuid(kAgent).value());
  EXPECT_EQ(b->records[0].disposition, Disposition::kNotEnrolled);
  EXPECT_EQ(b->records[1].agent_id, "");
  EXPECT_EQ(b->records[1].disposition, Disposition::kBadKey);
  ASSERT_EQ(b->partitions.size(), 2u);
  EXPECT_EQ(b->partitions[1].next, 9);
  EXPECT_FALSE(b->partitions[1].last_time.has_value());
  EXPECT_EQ(b->partitions[3].next, 12);
  EXPECT_EQ(b->partitions[3].last_time, now);
  auto msgs_back = b->TakeMessages();
  ASSERT_EQ(msgs_back.size(), 4u);
  EXPECT_EQ(msgs_back[2].offset, 11);
}

TEST(BatchTest, SkipReasons) {
  EXPECT_STREQ(SkipReason(Disposition::kBadKey), "bad_key");
  EXPECT_STREQ(SkipReason(Disposition::kCopy), "copy");
  EXPECT_STREQ(SkipReason(Disposition::kNoVerdict), "no_verdict");
  EXPECT_STREQ(SkipReason(Disposition::kNotEnrolled), "not_enrolled");
}

// A batch of two partitions: record 0 has a verdict with two outbox rows,
// record 1 is a copy (no verdict).
std::unique_ptr<Batch> TwoPartitionBatch(FakeSession& session) {
  std::vector<kafka::Message> msgs;
  msgs.push_back(Msg(0, 4, kAgent));
  msgs.push_back(Msg(2, 9, kAgent));
  auto b = NewBatch(std::move(msgs), Clock::now());
  b->records[0].disposition = Disposition::kVerdict;
  b->records[0].outcome.result = v1::VERDICT_RESULT_FAIL;
  b->records[0].outcome.outbox.resize(2);
  b->records[1].disposition = Disposition::kCopy;
  auto tx = session.Begin();
  b->tx = std::move(*tx);
  return b;
}

TEST(CommitBatchTest, WritesVerdictsAdvancesEveryPartitionAndCommits) {
  Log log;
  FakeSession session(&log);
  OutboxRelay relay(nullptr, "", nullptr, kClock);
  auto b = TwoPartitionBatch(session);
  CommitBatch(*b, CommitTarget{"g", "evidence", "w1", &relay});
  EXPECT_TRUE(b->committed);
  EXPECT_FALSE(b->tx);
  EXPECT_EQ(log.history, 1u);
  EXPECT_EQ(log.outbox, 2u);
  EXPECT_EQ(log.calls,
            (std::vector<std::string>{"write", "advance 0 5", "advance 2 10", "commit"}));
  EXPECT_EQ(b->outbox_ids, (std::vector<int64_t>{100, 101}));
  EXPECT_EQ(relay.InFlight(), 2u);  // reserved until published
}

TEST(CommitBatchTest, AFencedPartitionRollsBackAndReleasesTheOutboxIds) {
  Log log;
  log.fenced = {2};
  FakeSession session(&log);
  OutboxRelay relay(nullptr, "", nullptr, kClock);
  auto b = TwoPartitionBatch(session);
  CommitBatch(*b, CommitTarget{"g", "evidence", "w1", &relay});
  EXPECT_FALSE(b->committed);
  ASSERT_TRUE(b->fenced_partition.has_value());
  EXPECT_EQ(*b->fenced_partition, 2);
  ASSERT_TRUE(b->error.has_value());
  EXPECT_EQ(b->error->code, make_error_code(errc::fenced));
  EXPECT_TRUE(log.rolled_back);
  EXPECT_FALSE(log.committed);
  EXPECT_EQ(relay.InFlight(), 0u);
}

// An exception in a stage's work (here the write) fails the batch like a
// database error, rolled back and retried; it must not reach the commit
// thread's top, where it would end the process.
TEST(CommitBatchTest, AnExceptionFailsTheBatchNotTheProcess) {
  Log log;
  log.throw_on_write = true;
  FakeSession session(&log);
  OutboxRelay relay(nullptr, "", nullptr, kClock);
  auto b = TwoPartitionBatch(session);
  CommitBatch(*b, CommitTarget{"g", "evidence", "w1", &relay});
  EXPECT_FALSE(b->committed);
  ASSERT_TRUE(b->error.has_value());
  EXPECT_EQ(b->error->code, make_error_code(errc::database));
  EXPECT_NE(b->error->message.find("commit batch"), std::string::npos);
  EXPECT_TRUE(log.rolled_back);
  EXPECT_EQ(relay.InFlight(), 0u);
}

// One overdue PASS agent on partition 5 (claimed at epoch 3), swept once.
Log OneOverdueAgent() {
  Log log;
  AgentRow row;
  row.agent_id = ParseUuid(kAgent).value();
  row.partition = 5;
  row.state = EnrolmentState::kPass;
  log.agents[row.agent_id] = row;
  return log;
}

Result<void> SweepPartitionFive(Log& log, SweepResult& out) {
  FakeSession session(&log);
  OutboxRelay relay(nullptr, "", nullptr, kClock);
  Context ctx;
  return SweepOverdue(session, ctx, CommitTarget{"g", "evidence", "w1", &relay},
                      {SweepPartition{5, std::nullopt}}, {{5, 3}}, Clock::now(), 10, out);
}

TEST(SweepTest, AnExceptionFailsTheSweepNotTheProcess) {
  Log log = OneOverdueAgent();
  log.throw_on_write = true;
  SweepResult out;
  auto r = SweepPartitionFive(log, out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, make_error_code(errc::database));
  EXPECT_TRUE(log.rolled_back);
  EXPECT_FALSE(log.committed);
}

TEST(SweepTest, AFencedPartitionWritesNothing) {
  Log log = OneOverdueAgent();
  log.fenced = {5};
  SweepResult out;
  auto r = SweepPartitionFive(log, out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, make_error_code(errc::fenced));
  ASSERT_TRUE(out.fenced_partition.has_value());
  EXPECT_EQ(*out.fenced_partition, 5);
  EXPECT_TRUE(out.outcomes.empty());
  EXPECT_EQ(log.calls, (std::vector<std::string>{"overdue", "load", "check 5"}));
  EXPECT_TRUE(log.rolled_back);
}

}  // namespace
}  // namespace attest::worker
