// Test fixture for a real Apache Kafka cluster (KRaft, combined nodes on
// loopback) run by scripts/kafka.sh.
//
//   auto& kafka = attest::testing::KafkaCluster::Shared();   // the suite's cluster
//   auto topics = attest::testing::CreatePipelineTopics(kafka);  // unique names
//   worker_config.evidence_topic = topics.evidence;
//
// Shared(): the cluster CTest's `kafka_cluster` fixture started for the whole
// run (ATTEST_TEST_KAFKA_DIR names its directory), or, when a test binary runs
// outside CTest, one this process starts on first use and stops at exit. Tests
// on it isolate themselves by unique topic and group names; they must not
// stop, pause or kill its nodes.
//
// A test that injects broker faults starts a private cluster instead:
//
//   attest::testing::KafkaCluster kafka({.nodes = 3});   // started, ~9 s
//   kafka.KillNode(kafka.Leader(topic, 0));
//
// Every call throws std::runtime_error (with the script's output) on failure.
// Thread-safety: none; use from the test thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/harness/util/process.h"

namespace attest::testing {

struct KafkaClusterOptions {
  int nodes = 1;  // 1 or 3
};

class KafkaCluster {
 public:
  // Starts a private cluster in a temporary directory; stopped on destruction.
  explicit KafkaCluster(KafkaClusterOptions options = {});
  ~KafkaCluster();
  KafkaCluster(const KafkaCluster&) = delete;
  KafkaCluster& operator=(const KafkaCluster&) = delete;

  // The suite's cluster (see the file comment).
  static KafkaCluster& Shared();

  // "127.0.0.1:port[,...]" of every node (fixed for the cluster's life).
  const std::string& bootstrap() const { return bootstrap_; }
  int nodes() const { return nodes_; }

  // Node faults; ids are 1..nodes(). KillNode waits until the process is gone,
  // StartNode until every running node serves again.
  void KillNode(int id);
  void StartNode(int id);
  void PauseNode(int id);   // SIGSTOP: connections hang, nothing is refused
  void ResumeNode(int id);  // SIGCONT
  // Every node down (SIGTERM, SIGKILL after 10 s) / up again on its data.
  void StopAll();
  void StartAll();
  // Node id leading (topic, partition), or -1 when the metadata names none.
  int Leader(const std::string& topic, int partition) const;

  // The last lines of every node's log, for failure messages.
  std::string Log() const;

 private:
  struct Attach {};
  KafkaCluster(Attach, std::filesystem::path dir);
  std::string Script(const std::vector<std::string>& args) const;

  std::unique_ptr<TempDir> temp_;  // null when attached to CTest's cluster
  std::filesystem::path dir_;
  bool owned_ = true;
  std::string bootstrap_;
  int nodes_ = 1;
};

// A topic to create. replication_factor 0 means min(3, nodes).
struct TopicSpec {
  std::string name;
  int partitions = 1;
  int replication_factor = 0;
  std::map<std::string, std::string> configs;
};

// Creates the topics (kafka::TopicAdmin) and waits until every partition
// has a leader. An existing topic is an error: names are meant to be unique.
void CreateTopics(const KafkaCluster& cluster, const std::vector<TopicSpec>& topics);

// "<base>.<pid>.<n>.<random>": a name no other test of this run uses, for
// topics and consumer groups on the shared cluster.
std::string UniqueName(const std::string& base);

// The pipeline's three topics under unique names, created from the product's
// table (kafka::PipelineTopics: what the lab creates and the services check).
struct PipelineTopics {
  std::string evidence;
  std::string verdicts;
  std::string revocations;
};
PipelineTopics CreatePipelineTopics(const KafkaCluster& cluster, int evidence_partitions = 12);

}  // namespace attest::testing
