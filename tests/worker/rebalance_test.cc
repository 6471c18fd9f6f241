// Rebalancing through the worker's listener (issue 20.3): the worker's loop
// runs against a fake consumer (which calls the listener inside Poll, as
// librdkafka does), a fake store and a fake relay side, on a ManualClock. On
// assignment the partitions are claimed and consumption starts at the
// stored offsets, and the previous owner's outbox leftovers are published;
// on revocation the pending evidence of the revoked partition is committed
// (its offset advanced) before the partition is let go; on loss it is
// dropped without a write. No database, no broker, no sleeping.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <unistd.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>

#include <thread>

#include "common/base/manual_clock.h"
#include "verifier-workers/errors.h"
#include "verifier-workers/worker.h"

namespace attest::worker {
namespace {

using namespace std::chrono_literals;

const std::string kAgent = "d432fbb3-d2f1-4a97-9ef7-75bd81c0000a";

// Everything the fakes saw, in order.
struct Journal {
  std::mutex mu;
  std::vector<std::string> calls;
  std::map<int32_t, int64_t> stored;  // partition -> next_offset in the database
  std::map<int32_t, std::vector<StoredOutbox>> outbox;
  std::vector<std::string> published;  // outbox record keys sent to Kafka
  int failing_claims = 0;
  void Add(std::string c) {
    std::lock_guard lock(mu);
    calls.push_back(std::move(c));
  }
};

class Tx final : public StoreTransaction {
 public:
  explicit Tx(Journal* j) : j_(j) {}
  Result<std::map<std::string, AgentRow>> LoadAgents(const std::vector<std::string>&,
                                                     const std::vector<uint8_t>&, bool) override {
    return std::map<std::string, AgentRow>{};  // no agent is enrolled
  }
  Result<void> LoadAkPublics(const std::vector<AgentRow*>&) override { return Ok(); }
  Result<std::vector<PolicyRow>> LoadPolicies(const std::vector<int64_t>&) override {
    return std::vector<PolicyRow>{};
  }
  Result<std::vector<int64_t>> WriteResults(const std::vector<const AgentRow*>&,
                                            const std::vector<const HistoryRecord*>&,
                                            const std::vector<const OutboxRecord*>&,
                                            const std::string&) override {
    return std::vector<int64_t>{};
  }
  Result<std::vector<std::string>> LockOverdueAgents(const std::vector<SweepPartition>&,
                                                     int) override {
    return std::vector<std::string>{};
  }
  Result<void> AdvanceOffset(const OffsetKey& key, const Claim& expected, int64_t next,
                             const std::string&, std::optional<int64_t>) override {
    j_->Add("advance " + std::to_string(key.partition) + " " +
            std::to_string(expected.next_offset) + "->" + std::to_string(next));
    advanced_[key.partition] = next;
    return Ok();
  }
  Result<void> CheckOwner(const OffsetKey&, int64_t) override { return Ok(); }
  Result<void> Commit() override {
    std::lock_guard lock(j_->mu);
    for (const auto& [p, next] : advanced_) j_->stored[p] = next;
    j_->calls.push_back("commit");
    return Ok();
  }

 private:
  Journal* j_;
  std::map<int32_t, int64_t> advanced_;
};

class Session final : public StoreSession {
 public:
  explicit Session(Journal* j) : j_(j) {}
  bool is_open() const override { return true; }
  Result<std::unique_ptr<StoreTransaction>> Begin() override {
    return std::unique_ptr<StoreTransaction>(new Tx(j_));
  }
  Result<Claim> ClaimPartition(const OffsetKey& key, const std::string&) override {
    j_->Add("claim " + std::to_string(key.partition));
    std::lock_guard lock(j_->mu);
    if (j_->failing_claims > 0) {
      --j_->failing_claims;
      return MakeError(errc::database, "connection lost");
    }
    return Claim{j_->stored[key.partition], 1};
  }
  Result<std::vector<StoredOutbox>> LoadOutbox(int32_t partition, int64_t after_id, int) override {
    std::lock_guard lock(j_->mu);
    std::vector<StoredOutbox> out;
    for (const auto& r : j_->outbox[partition]) {
      if (r.id > after_id) out.push_back(r);
    }
    return out;
  }

 private:
  Journal* j_;
};

// Delivers at once; the relay's deletes go nowhere.
struct Sink final : OutboxSink {
  explicit Sink(Journal* j) : j(j) {}
  Result<void> Produce(std::string_view, std::string_view key, std::string_view,
                       const std::vector<kafka::Header>&, kafka::DeliveryCallback cb) override {
    {
      std::lock_guard lock(j->mu);
      j->published.emplace_back(key);
    }
    cb(kafka::Delivery{"verdicts", 0, 0});
    return Ok();
  }
  Journal* j;
};
struct NoOutboxStore final : OutboxStore {
  bool is_open() const override { return true; }
  Result<std::vector<StoredOutbox>> LoadOutbox(int32_t, int64_t, int) override {
    return std::vector<StoredOutbox>{};
  }
  Result<void> DeleteOutbox(const std::vector<int64_t>&) override { return Ok(); }
};

// One step per Poll: what the group does (calls on the listener) and the
// messages the poll returns. After the last step the worker is stopped.
struct Step {
  std::function<void(kafka::RebalanceListener&)> group;
  std::vector<kafka::Message> messages;
};

class ScriptedConsumer final : public EvidenceConsumer {
 public:
  ScriptedConsumer(kafka::RebalanceListener* l, std::vector<Step> steps, std::function<void()> stop)
      : listener_(l), steps_(std::move(steps)), stop_(std::move(stop)) {}
  Result<std::vector<kafka::Message>> Poll(std::chrono::milliseconds, size_t) override {
    if (next_ == steps_.size()) {
      stop_();
      return std::vector<kafka::Message>{};
    }
    Step& s = steps_[next_++];
    if (s.group) s.group(*listener_);
    return std::move(s.messages);
  }
  std::optional<kafka::Consumer::Watermarks> CachedWatermarks(const std::string&,
                                                              int32_t) const override {
    return std::nullopt;
  }
  Result<void> Close() override { return Ok(); }

 private:
  kafka::RebalanceListener* listener_;
  std::vector<Step> steps_;
  size_t next_ = 0;
  std::function<void()> stop_;
};

kafka::Message Msg(int32_t partition, int64_t offset) {
  kafka::Message m;
  m.topic = "evidence";
  m.partition = partition;
  m.offset = offset;
  m.key = kAgent;
  m.timestamp_ms = 1'000;
  return m;
}

std::vector<kafka::TopicPartition> Parts(std::initializer_list<int32_t> ps) {
  std::vector<kafka::TopicPartition> out;
  for (int32_t p : ps) out.push_back({"evidence", p, kafka::kOffsetStored});
  return out;
}

class RebalanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("worker-rebalance-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "token.key") << std::string(64, 'b') << "\n";
    EVP_PKEY* key = EVP_EC_gen("P-256");
    ASSERT_NE(key, nullptr);
    FILE* f = std::fopen((dir_ / "revocation.pem").c_str(), "w");
    ASSERT_NE(f, nullptr);
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    EVP_PKEY_free(key);
    config_.worker_id = "w1";
    config_.group_id = "g";
    config_.evidence_topic = "evidence";
    config_.token_key_files = {(dir_ / "token.key").string()};
    config_.revocation_key_file = (dir_ / "revocation.pem").string();
    config_.revocation_key_id = "k1";
    config_.batch_max_count = 1000;      // batches close on time only, and
    config_.outbox_drain_timeout = 0ms;  // the clock stands still
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Runs the worker's loop over `steps` on this thread.
  void Run(std::vector<Step> steps) {
    WorkerIo io;
    io.store = [this]() -> Result<std::unique_ptr<StoreSession>> {
      return std::unique_ptr<StoreSession>(new Session(&journal_));
    };
    io.relay = std::make_unique<OutboxRelay>(
        std::make_unique<Sink>(&journal_),
        []() -> Result<std::unique_ptr<OutboxStore>> {
          return std::unique_ptr<OutboxStore>(new NoOutboxStore());
        },
        nullptr, clock_);
    Worker* raw = nullptr;
    io.consumer = [&](kafka::RebalanceListener* l) -> Result<std::unique_ptr<EvidenceConsumer>> {
      return std::unique_ptr<EvidenceConsumer>(
          new ScriptedConsumer(l, std::move(steps), [&raw] { raw->RequestStop(); }));
    };
    auto w = Worker::Create(config_, &registry_, clock_, std::move(io));
    ASSERT_TRUE(w.ok()) << w.error().ToString();
    worker_ = std::move(w).value();
    raw = worker_.get();
    auto r = worker_->Run();
    ASSERT_TRUE(r.ok()) << r.error().ToString();
  }

  std::filesystem::path dir_;
  ManualClock clock_;
  metrics::Registry registry_;
  WorkerConfig config_;
  Journal journal_;
  std::unique_ptr<Worker> worker_;
};

TEST_F(RebalanceTest, AssignClaimsAtTheStoredOffsetsAndPublishesTheLeftovers) {
  journal_.stored = {{0, 40}, {1, 7}};
  StoredOutbox leftover;
  leftover.id = 5;
  leftover.record.topic = "verdicts";
  leftover.record.key = "left-by-the-previous-owner";
  journal_.outbox[1] = {leftover};
  std::vector<kafka::TopicPartition> assigned = Parts({0, 1});
  std::set<int32_t> owned;
  Run({{[&](kafka::RebalanceListener& l) {
          ASSERT_TRUE(l.OnAssigned(assigned).ok());
          owned = worker_->Owned();
        },
        {}}});
  EXPECT_EQ(assigned[0].offset, 40);  // consumption starts at the stored offsets
  EXPECT_EQ(assigned[1].offset, 7);
  EXPECT_EQ(owned, (std::set<int32_t>{0, 1}));
  EXPECT_EQ(journal_.published, std::vector<std::string>{"left-by-the-previous-owner"});
  EXPECT_EQ(journal_.calls, (std::vector<std::string>{"claim 0", "claim 1"}));
}

TEST_F(RebalanceTest, ARevokedPartitionsPendingEvidenceIsCommittedBeforeItIsLetGo) {
  journal_.stored = {{0, 40}, {1, 7}};
  std::vector<kafka::TopicPartition> assigned = Parts({0, 1});
  std::set<int32_t> owned_after;
  Run({{[&](kafka::RebalanceListener& l) { ASSERT_TRUE(l.OnAssigned(assigned).ok()); },
        {Msg(0, 40), Msg(1, 7), Msg(1, 8)}},
       {[&](kafka::RebalanceListener& l) {
          l.OnRevoked(Parts({1}));
          owned_after = worker_->Owned();
        },
        {}}});
  EXPECT_EQ(owned_after, std::set<int32_t>{0});
  // The pending batch (both partitions: still ours) commits inside OnRevoked.
  EXPECT_EQ(journal_.calls, (std::vector<std::string>{"claim 0", "claim 1", "advance 0 40->41",
                                                      "advance 1 7->9", "commit"}));
  EXPECT_EQ(journal_.stored[1], 9);
  EXPECT_EQ(journal_.stored[0], 41);
}

TEST_F(RebalanceTest, ALostPartitionsPendingEvidenceIsDroppedWithoutAWrite) {
  journal_.stored = {{0, 40}, {1, 7}};
  std::vector<kafka::TopicPartition> assigned = Parts({0, 1});
  std::set<int32_t> owned_after;
  Run({{[&](kafka::RebalanceListener& l) { ASSERT_TRUE(l.OnAssigned(assigned).ok()); },
        {Msg(1, 7), Msg(1, 8)}},
       {[&](kafka::RebalanceListener& l) {
          l.OnLost(Parts({1}));
          owned_after = worker_->Owned();
        },
        {}}});
  EXPECT_EQ(owned_after, std::set<int32_t>{0});
  EXPECT_EQ(journal_.calls, (std::vector<std::string>{"claim 0", "claim 1"}));
  EXPECT_EQ(journal_.stored[1], 7);  // the next owner starts where we did
}

// A claim that fails (the database is briefly away) is retried every 200 ms
// of the clock within the session timeout.
TEST_F(RebalanceTest, AFailedClaimIsRetriedEvery200MsOfTheClock) {
  journal_.stored = {{0, 40}};
  journal_.failing_claims = 3;
  std::vector<kafka::TopicPartition> assigned = Parts({0});
  bool claimed = false;
  std::thread loop([&] {
    Run({{[&](kafka::RebalanceListener& l) { claimed = l.OnAssigned(assigned).ok(); }, {}}});
  });
  for (int i = 0; i < 3; ++i) {
    // Parked: the relay's delete tick (50 ms) and the claim's backoff.
    const auto parked = clock_.WaitForParked(2);
    EXPECT_EQ(parked.back(), clock_.Monotonic() + 200ms);
    clock_.Advance(200ms);
  }
  loop.join();
  EXPECT_TRUE(claimed);
  EXPECT_EQ(assigned[0].offset, 40);
  EXPECT_EQ(journal_.calls.size(), 4u);  // three failed claims, then the one that held
}

}  // namespace
}  // namespace attest::worker
