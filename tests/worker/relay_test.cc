// The outbox relay's retries driven by a ManualClock (issue 20.3): a failed
// delivery is published again by the rescan 2 s after the last one, not
// before; a connection that cannot be opened is retried 200 ms later;
// delivered rows are deleted at the next 50 ms tick; Stop() waits for
// deliveries up to its drain time. Fakes stand for Kafka and PostgreSQL; the
// test waits for the relay's thread to park on the clock, it never sleeps.
#include <gtest/gtest.h>

#include <deque>
#include <mutex>
#include <thread>

#include "common/base/manual_clock.h"
#include "common/kafka/errors.h"
#include "verifier-workers/errors.h"
#include "verifier-workers/relay.h"

namespace attest::worker {
namespace {

using namespace std::chrono_literals;

// What the fakes saw, shared with the test (the relay owns the fakes).
struct World {
  std::mutex mu;
  std::vector<int64_t> produced;                    // row ids, in order
  std::deque<kafka::DeliveryCallback> undelivered;  // oldest first
  std::map<int32_t, std::vector<StoredOutbox>> outbox;
  std::vector<int64_t> deleted;
  int opens = 0, failing_opens = 0, scans = 0;

  // Answers the oldest delivery outside the lock (the callback takes the
  // relay's).
  void Deliver(bool ok) {
    kafka::DeliveryCallback cb;
    {
      std::lock_guard lock(mu);
      ASSERT_FALSE(undelivered.empty());
      cb = std::move(undelivered.front());
      undelivered.pop_front();
    }
    if (ok) {
      cb(kafka::Delivery{"verdicts", 0, 1});
    } else {
      cb(Error{make_error_code(kafka::errc::timed_out), "timed out"});
    }
  }
  size_t Produced() {
    std::lock_guard lock(mu);
    return produced.size();
  }
};

struct FakeSink final : OutboxSink {
  explicit FakeSink(World* w) : w(w) {}
  Result<void> Produce(std::string_view, std::string_view key, std::string_view,
                       const std::vector<kafka::Header>&, kafka::DeliveryCallback cb) override {
    std::lock_guard lock(w->mu);
    w->produced.push_back(std::stoll(std::string(key)));
    w->undelivered.push_back(std::move(cb));
    return Ok();
  }
  World* w;
};

struct FakeStore final : OutboxStore {
  explicit FakeStore(World* w) : w(w) {}
  bool is_open() const override { return true; }
  Result<std::vector<StoredOutbox>> LoadOutbox(int32_t partition, int64_t, int) override {
    std::lock_guard lock(w->mu);
    ++w->scans;
    return w->outbox[partition];
  }
  Result<void> DeleteOutbox(const std::vector<int64_t>& ids) override {
    std::lock_guard lock(w->mu);
    for (int64_t id : ids) {
      w->deleted.push_back(id);
      for (auto& [p, rows] : w->outbox) {
        std::erase_if(rows, [id](const StoredOutbox& r) { return r.id == id; });
      }
    }
    return Ok();
  }
  World* w;
};

StoredOutbox Row(int64_t id) {
  StoredOutbox r;
  r.id = id;
  r.record.topic = "verdicts";
  r.record.key = std::to_string(id);  // the fake sink reads the id back from the key
  r.record.payload = "v";
  return r;
}

class RelayTest : public ::testing::Test {
 protected:
  RelayTest()
      : relay_(
            std::make_unique<FakeSink>(&world_),
            [this]() -> Result<std::unique_ptr<OutboxStore>> {
              std::lock_guard lock(world_.mu);
              ++world_.opens;
              if (world_.failing_opens > 0) {
                --world_.failing_opens;
                return MakeError(errc::database, "connection refused");
              }
              return std::unique_ptr<OutboxStore>(new FakeStore(&world_));
            },
            nullptr, clock_) {}

  // Moves the clock and waits until the relay's thread went around and
  // parked again; returns the deadline it parked on.
  attest::Clock::MonotonicTime Step(attest::Clock::Duration d) {
    clock_.Advance(d);
    return clock_.WaitForParked(1).front();
  }
  int Scans() {
    std::lock_guard lock(world_.mu);
    return world_.scans;
  }
  int Opens() {
    std::lock_guard lock(world_.mu);
    return world_.opens;
  }
  std::vector<int64_t> Deleted() {
    std::lock_guard lock(world_.mu);
    return world_.deleted;
  }

  ManualClock clock_;
  World world_;
  OutboxRelay relay_;
};

TEST_F(RelayTest, AFailedDeliveryIsRepublishedByTheRescanTwoSecondsAfterTheLastScan) {
  world_.outbox[0] = {Row(7)};
  relay_.SetOwned({0});
  relay_.Start();
  clock_.WaitForParked(1);
  relay_.Publish({Row(7)});
  ASSERT_EQ(world_.Produced(), 1u);
  world_.Deliver(false);
  EXPECT_EQ(relay_.InFlight(), 0u);
  EXPECT_EQ(relay_.Depth(), 1u);  // waits for the rescan

  Step(1s);
  Step(1s);  // exactly 2 s: not yet
  EXPECT_EQ(Scans(), 0);
  EXPECT_EQ(world_.Produced(), 1u);
  Step(50ms);
  EXPECT_EQ(Scans(), 1);
  ASSERT_EQ(world_.Produced(), 2u);
  EXPECT_EQ(world_.produced[1], 7);
  EXPECT_EQ(relay_.InFlight(), 1u);

  world_.Deliver(true);
  Step(50ms);  // the next delete tick
  EXPECT_EQ(Deleted(), std::vector<int64_t>{7});
  EXPECT_EQ(relay_.Deleted(), 1u);
  EXPECT_EQ(relay_.Depth(), 0u);
  relay_.Stop(0ms);
}

TEST_F(RelayTest, WithoutFailuresTheRescanComesEveryThirtySeconds) {
  relay_.SetOwned({0, 1});
  relay_.Start();
  clock_.WaitForParked(1);
  for (int i = 0; i < 29; ++i) Step(1s);
  Step(1s);  // 30 s: not past
  EXPECT_EQ(Scans(), 0);
  Step(50ms);
  EXPECT_EQ(Scans(), 2);  // one per owned partition
  relay_.Stop(0ms);
}

TEST_F(RelayTest, AConnectionThatCannotBeOpenedIsRetriedAfter200Ms) {
  world_.failing_opens = 2;
  const auto t0 = clock_.Monotonic();
  relay_.Start();
  EXPECT_EQ(clock_.WaitForParked(1).front(), t0 + 50ms);  // the delete tick
  EXPECT_EQ(Step(50ms), t0 + 250ms);                      // the open failed: the backoff
  EXPECT_EQ(Opens(), 1);
  EXPECT_EQ(Step(200ms), t0 + 300ms);  // then the tick
  EXPECT_EQ(Opens(), 1);
  EXPECT_EQ(Step(50ms), t0 + 500ms);  // failed again
  EXPECT_EQ(Opens(), 2);
  // A delivery does not cut the backoff short.
  relay_.Publish({Row(3)});
  world_.Deliver(true);
  EXPECT_EQ(clock_.WaitForParked(1).front(), t0 + 500ms);
  EXPECT_EQ(Step(200ms), t0 + 550ms);
  EXPECT_EQ(Step(50ms), t0 + 600ms);  // opened, the delivered row deleted
  EXPECT_EQ(Opens(), 3);
  EXPECT_EQ(Deleted(), std::vector<int64_t>{3});
  relay_.Stop(0ms);
}

TEST_F(RelayTest, StopWaitsForDeliveriesUpToTheDrainTime) {
  relay_.Start();
  clock_.WaitForParked(1);
  relay_.Publish({Row(1), Row(2)});
  std::thread stopper([&] { relay_.Stop(1000ms); });
  // Parked: the loop's tick and Stop's drain deadline.
  auto parked = clock_.WaitForParked(2);
  EXPECT_EQ(parked.back(), clock_.Monotonic() + 1000ms);
  world_.Deliver(true);
  world_.Deliver(true);
  clock_.Advance(50ms);  // deleted at the tick: nothing in flight, Stop returns
  stopper.join();
  EXPECT_EQ(Deleted(), (std::vector<int64_t>{1, 2}));
}

TEST_F(RelayTest, StopGivesUpOnDeliveriesAtTheDrainTime) {
  relay_.Start();
  clock_.WaitForParked(1);
  relay_.Publish({Row(1)});
  std::thread stopper([&] { relay_.Stop(1000ms); });
  clock_.WaitForParked(2);
  clock_.Advance(1000ms);
  stopper.join();
  EXPECT_EQ(relay_.InFlight(), 1u);
  EXPECT_TRUE(Deleted().empty());
  world_.Deliver(true);  // late: nobody deletes it
}

}  // namespace
}  // namespace attest::worker
