// The development Kafka broker: librdkafka's mock cluster (rdkafka_mock.h)
// with the pipeline's topics created. For tests and the one-command lab only;
// no service depends on it.
//
// Limits of librdkafka 2.0.2's mock cluster, which callers must know:
//  - Brokers listen on 127.0.0.1 on kernel-chosen ports; 2.0.2 has no API to
//    pin a port, so read the bootstrap list after start (there is no --port).
//  - State is in memory: a restarted broker is an empty cluster on new ports.
//  - Taking brokers down/up (rd_kafka_mock_broker_set_down/up) drops their
//    connections and refuses new ones; partition leadership does not move.
//  - A group's first rebalance waits 3 s (like group.initial.rebalance.delay.ms)
//    and later ones about session.timeout.ms - 1 s. Consumers need
//    session.timeout.ms >= 3000 against it, or they time out while joining.
//
// Thread-safety: MockCluster methods may be called from any thread (the mock
// cluster runs its own I/O thread and serialises commands).
#pragma once

#include <librdkafka/rdkafka.h>
// rdkafka_mock.h must come after rdkafka.h.
#include <librdkafka/rdkafka_mock.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"
#include "common/kafka/handles.h"

namespace attest::devbroker {

struct TopicSpec {
  std::string name;
  int32_t partitions = 0;
};

struct Options {
  int brokers = 1;
  int32_t default_partitions = 12;
  // Overrides/additions, "name:partitions" already parsed.
  std::vector<TopicSpec> topics;
};

// The pipeline's topics, created on every start.
inline constexpr std::string_view kPipelineTopics[] = {
    "attestation.evidence", "attestation.verdicts", "attestation.revocations"};

// Parses "name:partitions" (partitions in [1, 10000]).
Result<TopicSpec> ParseTopicSpec(std::string_view text);

// The pipeline topics with default_partitions, overridden or extended by
// options.topics (a later spec for the same name wins).
std::vector<TopicSpec> ResolveTopics(const Options& options);

// Writes `content` to a temp file beside `path` and renames it over `path`,
// so a reader sees either no file or the whole content.
Result<void> WriteFileAtomically(const std::filesystem::path& path, std::string_view content);

class MockCluster {
 public:
  static Result<std::unique_ptr<MockCluster>> Start(const Options& options);
  ~MockCluster();
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  const std::string& bootstrap_servers() const { return bootstraps_; }
  const std::vector<TopicSpec>& topics() const { return topics_; }

  // Takes every broker down (connections dropped, new ones refused) or up.
  Result<void> SetAllBrokersUp(bool up);

 private:
  MockCluster() = default;

  int brokers_ = 0;
  kafka::KafkaPtr rk_;  // the handle the mock cluster is attached to
  struct ClusterDeleter {
    void operator()(rd_kafka_mock_cluster_t* c) const { rd_kafka_mock_cluster_destroy(c); }
  };
  std::unique_ptr<rd_kafka_mock_cluster_t, ClusterDeleter> cluster_;
  std::string bootstraps_;
  std::vector<TopicSpec> topics_;
};

}  // namespace attest::devbroker
