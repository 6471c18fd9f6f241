// The gateway's Kafka readiness probe on a private three-node Apache Kafka
// cluster (issue 18 fault campaign, docs/faults.md): one node unreachable
// (SIGSTOP: its connections stay open and nothing answers) leaves two nodes
// that serve every partition, so the probe must not call Kafka unreachable
// for the whole outage (it did: librdkafka kept sending its metadata
// requests to the hung node, the "least idle" one, until socket.timeout.ms,
// 60 s, and the gateway answered every evidence 503).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "ingest-gateway/probes.h"
#include "tests/harness/kafka/kafka_cluster.h"

namespace attest::gateway::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Whether the probe says Kafka is ready again within `grace` and stays so
// until `hold` has passed; the longest not-ready stretch otherwise.
struct Watch {
  bool ok = true;
  Clock::duration longest_not_ready{};
};

Watch WatchProbe(const Probes& probes, Clock::duration grace, Clock::duration hold) {
  Watch w;
  const auto start = Clock::now();
  auto not_ready_since = Clock::time_point::max();
  while (Clock::now() - start < hold) {
    const auto now = Clock::now();
    if (probes.kafka_ok()) {
      not_ready_since = Clock::time_point::max();
    } else {
      if (not_ready_since == Clock::time_point::max()) not_ready_since = now;
      w.longest_not_ready = std::max(w.longest_not_ready, now - not_ready_since);
      if (now - start > grace) w.ok = false;
    }
    std::this_thread::sleep_for(100ms);
  }
  return w;
}

TEST(GatewayProbeTest, OneOfThreeNodesUnreachableDoesNotMakeKafkaUnreachable) {
  attest::testing::KafkaCluster kafka({.nodes = 3});
  const auto topics = attest::testing::CreatePipelineTopics(kafka, 6);
  ProbeOptions o;
  o.kafka_bootstrap = kafka.bootstrap();
  o.topic = topics.evidence;
  o.database_conninfo = "host=127.0.0.1 port=1 dbname=none connect_timeout=1";  // not tested
  const attest::SystemClock clock;
  auto probes = Probes::Start(o, clock);
  ASSERT_TRUE(probes.ok()) << probes.error().ToString();
  const auto deadline = Clock::now() + 30s;
  while (!(*probes)->kafka_ok() && Clock::now() < deadline) std::this_thread::sleep_for(100ms);
  ASSERT_TRUE((*probes)->kafka_ok()) << (*probes)->Status();

  // Every node in turn: one of them is the broker the probe's client uses.
  for (int id = 1; id <= kafka.nodes(); ++id) {
    kafka.PauseNode(id);
    // A round in flight on the hung node may fail (1 s), and the next one
    // must go elsewhere; 12 s is longer than the brokers' session timeout
    // (6 s), after which the controller fences the node and moves its
    // leaders.
    const Watch w = WatchProbe(**probes, 5s, 12s);
    kafka.ResumeNode(id);
    EXPECT_TRUE(w.ok)
        << "node " << id << " unreachable: Kafka not ready for "
        << std::chrono::duration_cast<std::chrono::milliseconds>(w.longest_not_ready).count()
        << " ms (" << (*probes)->Status() << ")";
    const auto back = Clock::now() + 30s;
    while (!(*probes)->kafka_ok() && Clock::now() < back) std::this_thread::sleep_for(100ms);
    ASSERT_TRUE((*probes)->kafka_ok())
        << "after node " << id << " is back: " << (*probes)->Status();
  }
}

}  // namespace
}  // namespace attest::gateway::testing
