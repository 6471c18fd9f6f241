// Producer and Consumer against Apache Kafka: round trip with murmur2
// partition checks, listener-chosen start offsets, cooperative rebalance
// between two members, listener failure, close paths, delivery errors the
// broker returns, forced settings and error translation on the run's shared
// cluster (unique topic and group names per test); the producer through an
// outage of a private single-node cluster.
#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>
#include <thread>

#include "common/kafka/consumer.h"
#include "common/kafka/errors.h"
#include "common/kafka/partitioner.h"
#include "common/kafka/producer.h"
#include "tests/harness/kafka/kafka_cluster.h"
#include "tests/harness/util/process.h"

namespace attest::kafka {
namespace {

using attest::testing::CreateTopics;
using attest::testing::KafkaCluster;
using attest::testing::UniqueName;
using namespace std::chrono_literals;

constexpr int32_t kPartitions = 12;

// Records every listener call; assigns from `start` (default: beginning).
class RecordingListener : public RebalanceListener {
 public:
  Result<void> OnAssigned(std::vector<TopicPartition>& parts) override {
    if (fail) return MakeError(errc::failed, "listener says no");
    for (auto& p : parts) {
      auto it = start.find(p.partition);
      p.offset = it == start.end() ? kOffsetBeginning : it->second;
      assigned.push_back(p.partition);
    }
    return Ok();
  }
  void OnRevoked(const std::vector<TopicPartition>& parts) override {
    for (const auto& p : parts) revoked.push_back(p.partition);
  }
  void OnLost(const std::vector<TopicPartition>& parts) override {
    for (const auto& p : parts) lost.push_back(p.partition);
  }

  bool fail = false;
  std::map<int32_t, int64_t> start;
  std::vector<int32_t> assigned, revoked, lost;
};

struct Produced {
  std::mutex mu;
  std::vector<Result<Delivery>> results;
  std::vector<std::string> keys;
};

ConsumerConfig GroupConfig(const std::string& bootstrap, const std::string& group,
                           const std::string& topic) {
  ConsumerConfig c;
  c.bootstrap_servers = bootstrap;
  c.group_id = group;
  c.topics = {topic};
  // The broker's floor (group.min.session.timeout.ms); a short heartbeat
  // makes members rejoin quickly when a rebalance starts.
  c.session_timeout = 6000ms;
  c.heartbeat_interval = 500ms;
  c.first_assignment_timeout = 20000ms;
  return c;
}

std::unique_ptr<Producer> MakeProducer(const std::string& bootstrap,
                                       std::chrono::milliseconds timeout = 10000ms) {
  ProducerConfig pc;
  pc.bootstrap_servers = bootstrap;
  pc.delivery_timeout = timeout;
  // Reconnect quickly after the fault test brings the brokers back.
  pc.extra = {{"reconnect.backoff.ms", "100"}, {"reconnect.backoff.max.ms", "500"}};
  auto p = Producer::Create(pc);
  EXPECT_TRUE(p.ok()) << p.error().ToString();
  return p.ok() ? std::move(*p) : nullptr;
}

// Polls until `want` messages arrived or `budget` passed.
std::vector<Message> PollN(Consumer& c, size_t want, std::chrono::seconds budget) {
  std::vector<Message> got;
  const auto deadline = std::chrono::steady_clock::now() + budget;
  while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
    auto batch = c.Poll(200ms);
    if (!batch.ok()) {
      ADD_FAILURE() << batch.error().ToString();
      break;
    }
    for (auto& m : *batch) got.push_back(std::move(m));
  }
  return got;
}

// Each test has its own topics and group on the shared cluster: nothing a
// test writes or commits is seen by another.
class KafkaClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CreateTopics(kafka_, {{topic_, kPartitions, 0, {}}, {seek_topic_, 3, 0, {}}});
  }
  ConsumerConfig Group(const std::string& topic) const {
    return GroupConfig(kafka_.bootstrap(), group_, topic);
  }
  // A consumer of topic_ that has taken every partition (the group's only
  // member); null, with a test failure, when it did not.
  std::unique_ptr<Consumer> SoleMember(RecordingListener& listener) const {
    auto c = Consumer::Create(Group(topic_), &listener);
    EXPECT_TRUE(c.ok());
    if (!c.ok()) return nullptr;
    const bool all = testing::WaitFor(
        [&] { return (*c)->Poll(100ms).ok() && (*c)->Assignment().size() == kPartitions; }, 20s);
    EXPECT_TRUE(all);
    return all ? std::move(c).value() : nullptr;
  }
  // Polls both members until each holds a share and together every partition.
  static bool SplitBetween(Consumer& a, Consumer& b) {
    return testing::WaitFor(
        [&] {
          EXPECT_TRUE(a.Poll(50ms).ok());
          EXPECT_TRUE(b.Poll(50ms).ok());
          return !a.Assignment().empty() && !b.Assignment().empty() &&
                 a.Assignment().size() + b.Assignment().size() == kPartitions;
        },
        30s);
  }

  KafkaCluster& kafka_ = KafkaCluster::Shared();
  const std::string topic_ = UniqueName("client.evidence");
  const std::string seek_topic_ = UniqueName("client.seek");
  const std::string group_ = UniqueName("client.group");
};

TEST_F(KafkaClientTest, RoundTripLandsOnMurmur2Partition) {
  Produced produced;  // before the producer: its callbacks write here
  auto producer = MakeProducer(kafka_.bootstrap());
  ASSERT_TRUE(producer);
  constexpr int kCount = 60;
  for (int i = 0; i < kCount; ++i) {
    std::string key = "agent-" + std::to_string(i * 7919);
    ASSERT_TRUE(
        producer
            ->Produce(topic_, key, "evidence-" + key,
                      {{"content-type", "application/x-protobuf"}, {"n", std::to_string(i)}},
                      [&produced, key](const Result<Delivery>& r) {
                        std::lock_guard lock(produced.mu);
                        produced.results.push_back(r);
                        produced.keys.push_back(key);
                      })
            .ok());
  }
  ASSERT_TRUE(producer->Flush(15s).ok());
  EXPECT_EQ(producer->InFlight(), 0);
  std::map<std::pair<int32_t, int64_t>, std::string> where;  // (partition, offset) -> key
  {
    std::lock_guard lock(produced.mu);
    ASSERT_EQ(produced.results.size(), static_cast<size_t>(kCount));
    for (size_t i = 0; i < produced.results.size(); ++i) {
      const auto& r = produced.results[i];
      ASSERT_TRUE(r.ok()) << r.error().ToString();
      EXPECT_EQ(r->topic, topic_);
      EXPECT_EQ(r->partition, PartitionFor(produced.keys[i], kPartitions)) << produced.keys[i];
      where[{r->partition, r->offset}] = produced.keys[i];
    }
  }

  RecordingListener listener;
  auto consumer = Consumer::Create(Group(topic_), &listener);
  ASSERT_TRUE(consumer.ok()) << consumer.error().ToString();
  auto got = PollN(**consumer, kCount, 30s);
  ASSERT_EQ(got.size(), static_cast<size_t>(kCount));
  std::set<std::string> seen;
  for (const auto& m : got) {
    EXPECT_EQ(m.topic, topic_);
    EXPECT_EQ(m.partition, PartitionFor(m.key, kPartitions)) << m.key;
    EXPECT_EQ(m.value, "evidence-" + m.key);
    EXPECT_EQ(where[std::make_pair(m.partition, m.offset)], m.key)
        << "offset mismatch for " << m.key;
    ASSERT_EQ(m.headers.size(), 2u);
    EXPECT_EQ(m.headers[0], (Header{"content-type", "application/x-protobuf"}));
    EXPECT_EQ(m.headers[1].name, "n");
    EXPECT_GT(m.timestamp_ms, 0);
    seen.insert(m.key);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kCount));  // no duplicates
  EXPECT_EQ(listener.assigned.size(), static_cast<size_t>(kPartitions));
  EXPECT_EQ((*consumer)->Assignment().size(), static_cast<size_t>(kPartitions));

  ASSERT_TRUE((*consumer)->Close().ok());
  EXPECT_EQ(listener.revoked.size(), static_cast<size_t>(kPartitions));  // orderly close revokes
  EXPECT_TRUE(listener.lost.empty());
  EXPECT_EQ((*consumer)->Poll(10ms).error().code, make_error_code(errc::closed));
}

TEST_F(KafkaClientTest, ListenerChoosesStartOffsets) {
  auto producer = MakeProducer(kafka_.bootstrap());
  ASSERT_TRUE(producer);
  const std::string key = "4b7a1c2e-0000-4000-8000-000000000001";
  const int32_t partition = PartitionFor(key, 3);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(producer->Produce(seek_topic_, key, std::to_string(i), {}, nullptr).ok());
  }
  ASSERT_TRUE(producer->Flush(15s).ok());

  RecordingListener listener;
  listener.start[partition] = 6;  // as a worker would from PostgreSQL
  auto consumer = Consumer::Create(Group(seek_topic_), &listener);
  ASSERT_TRUE(consumer.ok());
  auto got = PollN(**consumer, 4, 30s);
  // Nothing else may arrive after the four records 6..9.
  auto more = (*consumer)->Poll(500ms);
  ASSERT_TRUE(more.ok());
  EXPECT_TRUE(more->empty());
  ASSERT_EQ(got.size(), 4u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].partition, partition);
    EXPECT_EQ(got[i].offset, static_cast<int64_t>(6 + i));
    EXPECT_EQ(got[i].value, std::to_string(6 + i));
  }
}

TEST_F(KafkaClientTest, CooperativeRebalanceSplitsWithoutOverlap) {
  RecordingListener la, lb;
  auto a = SoleMember(la);
  ASSERT_TRUE(a);

  auto b = Consumer::Create(Group(topic_), &lb);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(SplitBetween(*a, **b));
  std::set<int32_t> both;
  for (const auto& tp : a->Assignment()) both.insert(tp.partition);
  for (const auto& tp : (*b)->Assignment()) EXPECT_TRUE(both.insert(tp.partition).second);
  EXPECT_EQ(both.size(), static_cast<size_t>(kPartitions));
  // Incremental: A gave up exactly what B got, and kept the rest throughout.
  EXPECT_EQ(la.revoked.size(), lb.assigned.size());
  EXPECT_EQ(la.assigned.size(), static_cast<size_t>(kPartitions));
  EXPECT_TRUE(la.lost.empty());

  // Both leave in order, B first (A is then closed while the group
  // rebalances after B's departure).
  ASSERT_TRUE((*b)->Close().ok());
  EXPECT_EQ(lb.revoked.size(), lb.assigned.size());
  ASSERT_TRUE(a->Close().ok());
}

// The path librdkafka 2.0.2 is weakest on: a member closes while a
// cooperative rebalance is half done (it has just given partitions up, the
// second round is pending). Close must return and the other member must end
// up with every partition. A hang here fails by the CTest timeout.
TEST_F(KafkaClientTest, CloseDuringCooperativeRebalance) {
  RecordingListener la, lb;
  auto a = SoleMember(la);
  ASSERT_TRUE(a);
  auto b = Consumer::Create(Group(topic_), &lb);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        EXPECT_TRUE(a->Poll(50ms).ok());
        EXPECT_TRUE((*b)->Poll(50ms).ok());
        return !la.revoked.empty();
      },
      30s));
  ASSERT_TRUE(a->Close().ok());
  EXPECT_EQ(la.revoked.size(), la.assigned.size());  // everything it held was revoked
  EXPECT_TRUE(testing::WaitFor(
      [&] { return (*b)->Poll(100ms).ok() && (*b)->Assignment().size() == kPartitions; }, 30s));
  ASSERT_TRUE((*b)->Close().ok());
}

// A log sink that, while armed, holds the consumer's thread on each of its
// log lines: the loaded machine on which the consumer thread falls behind
// the group (librdkafka's threads and the broker keep going).
class SlowConsumerLog : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::atomic<bool> armed{false};
  std::atomic<int> held{0};

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (!armed) return;
    const std::string_view text(msg.payload.data(), msg.payload.size());
    if (text.starts_with("kafka consumer:")) {
      ++held;
      std::this_thread::sleep_for(500ms);
    }
  }
  void flush_() override {}
};

// Close() while a rebalance has an assignment queued for this member (its
// peer has just left): librdkafka serves it inside rd_kafka_consumer_close
// after the group has started leaving, treats it as an unassign, and the
// group terminates before the revoke queued behind it is served. The old
// consumer asked rd_kafka_rebalance_protocol() there, got NULL and crashed
// (SIGSEGV, the CI failure). It also handed the queued partitions to the
// listener only for them to be revoked at once (a worker would claim them in
// PostgreSQL while shutting down). The slow log makes the consumer's thread
// lose that race every time.
TEST_F(KafkaClientTest, CloseWithAQueuedAssignmentOnASlowThread) {
  RecordingListener la, lb;
  auto a = SoleMember(la);
  ASSERT_TRUE(a);
  auto b = Consumer::Create(Group(topic_), &lb);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(SplitBetween(*a, **b));
  // Let A acknowledge the last round of B's join, so that it is steady.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(a->Poll(100ms).ok());
  ASSERT_TRUE((*b)->Close().ok());
  const size_t given = la.assigned.size();
  // A is not polled: its heartbeat learns that B left, it rejoins and the
  // assignment of B's partitions waits in its queue.
  std::this_thread::sleep_for(3s);

  auto slow = std::make_shared<SlowConsumerLog>();
  auto previous = spdlog::default_logger();
  auto logger =
      std::make_shared<spdlog::logger>("slow", previous->sinks().begin(), previous->sinks().end());
  logger->sinks().push_back(slow);
  spdlog::set_default_logger(logger);
  slow->armed = true;
  const bool closed = a->Close().ok();
  slow->armed = false;
  spdlog::set_default_logger(previous);

  EXPECT_TRUE(closed);
  EXPECT_GT(slow->held.load(), 0);
  EXPECT_TRUE(a->Assignment().empty());
  // The queued partitions never reached the listener, and everything that
  // did was revoked.
  EXPECT_EQ(la.assigned.size(), given);
  std::multiset<int32_t> assigned(la.assigned.begin(), la.assigned.end());
  std::multiset<int32_t> revoked(la.revoked.begin(), la.revoked.end());
  EXPECT_EQ(revoked, assigned);
  EXPECT_TRUE(la.lost.empty());
}

TEST_F(KafkaClientTest, CloseBeforeFirstAssignmentDoesNotHang) {
  RecordingListener listener;
  auto consumer = Consumer::Create(Group(topic_), &listener);
  ASSERT_TRUE(consumer.ok());
  ASSERT_TRUE((*consumer)->Close().ok());
  EXPECT_TRUE((*consumer)->HasBeenAssigned());
  EXPECT_EQ(listener.revoked.size(), listener.assigned.size());
  EXPECT_TRUE((*consumer)->Close().ok());  // idempotent
}

TEST_F(KafkaClientTest, FailingListenerStopsConsumptionAndStillCloses) {
  auto producer = MakeProducer(kafka_.bootstrap());
  ASSERT_TRUE(producer);
  ASSERT_TRUE(producer->Produce(topic_, "k", "v", {}, nullptr).ok());
  ASSERT_TRUE(producer->Flush(15s).ok());

  RecordingListener listener;
  listener.fail = true;
  auto consumer = Consumer::Create(Group(topic_), &listener);
  ASSERT_TRUE(consumer.ok());
  Result<std::vector<Message>> polled = std::vector<Message>{};
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        polled = (*consumer)->Poll(100ms);
        EXPECT_TRUE(!polled.ok() || polled->empty()) << "consumed despite failed assignment";
        return !polled.ok();
      },
      20s));
  EXPECT_EQ(polled.error().code, make_error_code(errc::rebalance_failed));
  EXPECT_NE(polled.error().message.find("listener says no"), std::string::npos);
  EXPECT_TRUE((*consumer)->Close().ok());
}

// Errors only a real broker returns, typed: a record over the topic's
// max.message.bytes (but under the client's own limit, so the broker is the
// one refusing it) is errc::message_too_large, and a topic that does not exist
// (no auto-creation) is errc::unknown_topic. The idempotent producer carries
// on: a permanent failure of one record must not leave it fatal or reorder
// the records around it.
TEST_F(KafkaClientTest, BrokerRejectionsAreTypedAndTheProducerCarriesOn) {
  const std::string small = UniqueName("client.small");
  CreateTopics(kafka_, {{small, 1, 0, {{"max.message.bytes", "10000"}}}});
  ProducerConfig pc;
  pc.bootstrap_servers = kafka_.bootstrap();
  pc.delivery_timeout = 20000ms;
  // Give up on a missing topic after 1 s instead of librdkafka's 30 s.
  pc.extra = {{"topic.metadata.propagation.max.ms", "1000"}};
  std::mutex mu;  // before the producer: its callbacks write here
  std::map<std::string, Result<Delivery>> outcomes;
  auto track = [&](const std::string& name) {
    return [&, name](const Result<Delivery>& r) {
      std::lock_guard lock(mu);
      outcomes.emplace(name, r);
    };
  };
  auto created = Producer::Create(pc);
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  auto& producer = *created;
  ASSERT_TRUE(producer->Produce(small, "k", "before", {}, track("before")).ok());
  ASSERT_TRUE(producer->Flush(20s).ok());
  // Flushed alone: librdkafka would put a record produced right after it into
  // the same batch, and the broker refuses a batch as a whole.
  ASSERT_TRUE(producer->Produce(small, "k", std::string(20000, 'x'), {}, track("big")).ok());
  ASSERT_TRUE(producer->Flush(30s).ok());
  ASSERT_TRUE(producer->Produce(small, "k", "after", {}, track("after")).ok());
  ASSERT_TRUE(producer->Produce(UniqueName("client.missing"), "k", "v", {}, track("missing")).ok());
  ASSERT_TRUE(producer->Flush(30s).ok());
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(outcomes.size(), 4u);
    ASSERT_TRUE(outcomes.at("before").ok()) << outcomes.at("before").error().ToString();
    ASSERT_FALSE(outcomes.at("big").ok());
    EXPECT_EQ(outcomes.at("big").error().code, make_error_code(errc::message_too_large))
        << outcomes.at("big").error().ToString();
    ASSERT_FALSE(outcomes.at("missing").ok());
    EXPECT_EQ(outcomes.at("missing").error().code, make_error_code(errc::unknown_topic))
        << outcomes.at("missing").error().ToString();
    ASSERT_TRUE(outcomes.at("after").ok()) << outcomes.at("after").error().ToString();
    EXPECT_GT(outcomes.at("after")->offset, outcomes.at("before")->offset);
  }
  // Still usable after the rejections.
  ASSERT_TRUE(producer->Produce(small, "k", "later", {}, track("later")).ok());
  ASSERT_TRUE(producer->Flush(20s).ok());
  {
    std::lock_guard lock(mu);
    ASSERT_TRUE(outcomes.at("later").ok()) << outcomes.at("later").error().ToString();
  }

  // The topic holds exactly the accepted records, in order.
  RecordingListener listener;
  auto consumer = Consumer::Create(Group(small), &listener);
  ASSERT_TRUE(consumer.ok()) << consumer.error().ToString();
  auto got = PollN(**consumer, 3, 30s);
  auto more = (*consumer)->Poll(500ms);
  ASSERT_TRUE(more.ok());
  EXPECT_TRUE(more->empty());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].value, "before");
  EXPECT_EQ(got[1].value, "after");
  EXPECT_EQ(got[2].value, "later");
}

// Every delivery outcome of a producer, by record value.
class Ledger {
 public:
  DeliveryCallback Track(std::string value) {
    return [this, value = std::move(value)](const Result<Delivery>& r) {
      std::lock_guard lock(mu_);
      ++calls_;
      if (!r.ok()) ++failed_;
      outcomes_.emplace(value, r);
    };
  }
  int calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  int failed() const {
    std::lock_guard lock(mu_);
    return failed_;
  }
  std::map<std::string, Result<Delivery>> outcomes() const {
    std::lock_guard lock(mu_);
    return outcomes_;
  }

 private:
  mutable std::mutex mu_;
  int calls_ = 0;
  int failed_ = 0;
  std::map<std::string, Result<Delivery>> outcomes_;
};

// Kafka cannot take writes (its only node is stopped) and comes back, with a
// producer writing all along. A record whose delivery timeout ends during the
// outage fails with errc::possibly_written (a timeout is an unknown outcome)
// and, never sent here, is not written; every record of a
// producer whose timeout outlasts the outage is delivered exactly once and in
// order per key: what was in flight when the broker went away is retried after
// the reconnect and deduplicated by the broker (idempotence), not written
// twice. A private cluster: the shared one must stay up.
TEST(KafkaProducerOutage, RecordsOutlastingTheOutageAreDeliveredOnceInOrder) {
  KafkaCluster kafka({.nodes = 1});
  const std::string topic = UniqueName("client.outage");
  CreateTopics(kafka, {{topic, 3, 0, {}}});
  // Declared before the producers: a producer's destructor may still run
  // callbacks that write here.
  Ledger ledger;
  std::mutex mu;
  std::optional<Result<Delivery>> outcome;
  auto record = [&](const Result<Delivery>& r) {
    std::lock_guard lock(mu);
    outcome = r;
  };
  auto patient = MakeProducer(kafka.bootstrap(), 120s);
  auto hasty = MakeProducer(kafka.bootstrap(), 2000ms);
  ASSERT_TRUE(patient && hasty);
  ASSERT_TRUE(hasty->Produce(topic, "hasty", "hasty-warm", {}, nullptr).ok());
  ASSERT_TRUE(hasty->Flush(20s).ok());

  // key "agent-<i % 5>", value "<i>": per key, values must come back rising.
  std::atomic<bool> stop{false};
  std::atomic<int> produced{0};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      auto r = patient->Produce(topic, "agent-" + std::to_string(i % 5), std::to_string(i), {},
                                ledger.Track(std::to_string(i)));
      if (!r.ok()) {
        ADD_FAILURE() << "produce " << i << ": " << r.error().ToString();
        return;
      }
      ++produced;
      std::this_thread::sleep_for(10ms);
    }
  });
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Joiner() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } joiner{stop, writer};

  ASSERT_TRUE(testing::WaitFor([&] { return ledger.calls() >= 50; }, 30s));
  const auto down_at = std::chrono::steady_clock::now();
  kafka.StopAll();

  ASSERT_TRUE(hasty->Produce(topic, "hasty", "hasty-lost", {}, record).ok());
  ASSERT_TRUE(hasty->Flush(20s).ok());
  {
    std::lock_guard lock(mu);
    ASSERT_TRUE(outcome.has_value());
    ASSERT_FALSE(outcome->ok());
    EXPECT_EQ(outcome->error().code, make_error_code(errc::possibly_written))
        << outcome->error().ToString();
    outcome.reset();
  }
  // The patient producer fails nothing and keeps what it cannot deliver.
  EXPECT_EQ(ledger.failed(), 0);
  const int waiting = produced.load() - ledger.calls();
  EXPECT_GT(waiting, 0);

  kafka.StartAll();
  const auto outage = std::chrono::steady_clock::now() - down_at;
  const int at_restart = produced.load();
  ASSERT_TRUE(testing::WaitFor([&] { return ledger.calls() >= at_restart + 50; }, 60s))
      << ledger.calls() << " of " << produced.load() << " records settled\n"
      << kafka.Log();
  stop = true;
  writer.join();
  ASSERT_TRUE(patient->Flush(60s).ok());
  const int total = produced.load();
  EXPECT_EQ(ledger.calls(), total);
  EXPECT_EQ(ledger.failed(), 0);
  const auto outcomes = ledger.outcomes();
  for (const auto& [value, r] : outcomes) {
    EXPECT_TRUE(r.ok()) << value << ": " << r.error().ToString();
  }

  // The short-timeout producer works again too.
  int again = 0;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        {
          std::lock_guard lock(mu);
          outcome.reset();
        }
        EXPECT_TRUE(
            hasty->Produce(topic, "hasty", "hasty-again-" + std::to_string(again++), {}, record)
                .ok());
        EXPECT_TRUE(hasty->Flush(10s).ok());
        std::lock_guard lock(mu);
        return outcome && outcome->ok();
      },
      30s));

  // Read everything back: each record once, at the offset its delivery
  // report named, in produce order per key; the timed-out record absent.
  RecordingListener listener;
  auto consumer =
      Consumer::Create(GroupConfig(kafka.bootstrap(), UniqueName("outage"), topic), &listener);
  ASSERT_TRUE(consumer.ok()) << consumer.error().ToString();
  const size_t want = static_cast<size_t>(total) + 2;  // + hasty-warm + the delivered hasty-again
  auto got = PollN(**consumer, want, 60s);
  auto extra = PollN(**consumer, 1, 1s);  // a duplicate would come after `want`
  got.insert(got.end(), extra.begin(), extra.end());
  std::map<std::string, int> seen;
  std::map<std::string, int> last_of_key;
  int hasty_again = 0;
  for (const auto& m : got) {
    ++seen[m.value];
    if (m.key == "hasty") {
      EXPECT_NE(m.value, "hasty-lost") << "a record that timed out was written";
      if (m.value.rfind("hasty-again-", 0) == 0) ++hasty_again;
      continue;
    }
    auto it = outcomes.find(m.value);
    ASSERT_NE(it, outcomes.end()) << "unexpected record " << m.key << "=" << m.value;
    ASSERT_TRUE(it->second.ok());
    EXPECT_EQ(it->second->partition, m.partition) << m.value;
    EXPECT_EQ(it->second->offset, m.offset) << m.value;
    const int i = std::stoi(m.value);
    auto [last, first] = last_of_key.try_emplace(m.key, i);
    if (!first) {
      EXPECT_GT(i, last->second) << "out of order on " << m.key;
      last->second = i;
    }
  }
  for (const auto& [value, n] : seen) EXPECT_EQ(n, 1) << value << " read " << n << " times";
  EXPECT_EQ(hasty_again, 1);
  EXPECT_EQ(got.size(), want)
      << "produced " << total << " records through an outage of "
      << std::chrono::duration_cast<std::chrono::milliseconds>(outage).count() << " ms";
  ASSERT_TRUE((*consumer)->Close().ok());
}

TEST(KafkaConfig, ForcedSettingsCannotBeWeakened) {
  ProducerConfig pc;
  pc.bootstrap_servers = "127.0.0.1:1";
  pc.extra = {{"acks", "1"}};
  auto p = Producer::Create(pc);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, make_error_code(errc::invalid_config));
  EXPECT_NE(p.error().message.find("acks"), std::string::npos);

  pc.extra = {{"enable.idempotence", "false"}};
  EXPECT_FALSE(Producer::Create(pc).ok());
  pc.extra = {{"partitioner", "consistent_random"}};
  EXPECT_FALSE(Producer::Create(pc).ok());
  pc.extra = {{"no.such.property", "1"}};
  EXPECT_FALSE(Producer::Create(pc).ok());
  pc.extra = {{"acks", "all"}, {"compression.type", "lz4"}};  // same value / unrelated: fine
  EXPECT_TRUE(Producer::Create(pc).ok());

  ConsumerConfig cc = GroupConfig("127.0.0.1:1", "g", "t");
  for (auto [key, value] : {std::pair{"enable.auto.commit", "true"},
                            {"enable.auto.offset.store", "true"},
                            {"partition.assignment.strategy", "range"}}) {
    cc.extra = {{key, value}};
    auto c = Consumer::Create(cc, nullptr);
    ASSERT_FALSE(c.ok()) << key;
    EXPECT_EQ(c.error().code, make_error_code(errc::invalid_config));
  }
  cc.extra.clear();
  cc.topics.clear();
  EXPECT_FALSE(Consumer::Create(cc, nullptr).ok());
}

TEST(KafkaErrors, TranslatesLibrdkafkaCodes) {
  EXPECT_EQ(ClassifyKafkaError(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT), errc::timed_out);
  EXPECT_EQ(ClassifyKafkaError(RD_KAFKA_RESP_ERR__QUEUE_FULL), errc::queue_full);
  EXPECT_EQ(ClassifyKafkaError(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN), errc::unavailable);
  EXPECT_EQ(ClassifyKafkaError(RD_KAFKA_RESP_ERR__FATAL), errc::fatal);
  Error e = ErrorFromKafka(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "produce to 'x'");
  EXPECT_EQ(e.code, make_error_code(errc::unknown_topic));
  EXPECT_NE(e.message.find("produce to 'x'"), std::string::npos);
  EXPECT_NE(e.message.find("UNKNOWN_TOPIC_OR_PART"), std::string::npos);
  EXPECT_EQ(e.code.category().name(), std::string("attest.kafka"));
}

}  // namespace
}  // namespace attest::kafka
