// Kafka for the worker benchmarks, chosen by ATTEST_BENCH_KAFKA:
//   real (default)  a private Apache Kafka cluster (tests/harness/kafka) of
//                   ATTEST_BENCH_KAFKA_NODES nodes (1, default, or 3) with the
//                   pipeline's three topics under unique names;
//   dev             the dev broker (librdkafka's mock cluster) with the
//                   default topic names, to compare figures with it.
// Either is stopped on destruction.
//
// Thread-safety: none; use from one thread.
#pragma once

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

#include "tests/harness/broker/dev_broker.h"
#include "tests/harness/kafka/kafka_cluster.h"

namespace attest::worker::bench {

class BenchKafka {
 public:
  // Every topic of the dev broker, the evidence topic of Apache Kafka, gets
  // `evidence_partitions` partitions.
  explicit BenchKafka(int evidence_partitions) {
    const char* mode = std::getenv("ATTEST_BENCH_KAFKA");
    const std::string m = mode && *mode ? mode : "real";
    if (m == "dev") {
      dev_ = std::make_unique<attest::testing::DevBroker>(attest::testing::DevBrokerOptions{
          .brokers = 1, .partitions = evidence_partitions, .topics = {}});
      bootstrap_ = dev_->bootstrap();
      topics_ = {"attestation.evidence", "attestation.verdicts", "attestation.revocations"};
      return;
    }
    if (m != "real") throw std::runtime_error("ATTEST_BENCH_KAFKA must be real or dev, not " + m);
    const char* nodes_env = std::getenv("ATTEST_BENCH_KAFKA_NODES");
    nodes_ = nodes_env && *nodes_env ? std::atoi(nodes_env) : 1;
    if (nodes_ != 1 && nodes_ != 3) throw std::runtime_error("ATTEST_BENCH_KAFKA_NODES: 1 or 3");
    kafka_ = std::make_unique<attest::testing::KafkaCluster>(
        attest::testing::KafkaClusterOptions{.nodes = nodes_});
    bootstrap_ = kafka_->bootstrap();
    topics_ = attest::testing::CreatePipelineTopics(*kafka_, evidence_partitions);
  }

  const std::string& bootstrap() const { return bootstrap_; }
  const attest::testing::PipelineTopics& topics() const { return topics_; }
  bool dev() const { return dev_ != nullptr; }
  // Apache Kafka nodes (0 on the dev broker), for the benchmark's counters.
  int nodes() const { return kafka_ ? nodes_ : 0; }
  // "topic = ..." lines of a worker's [kafka] section.
  std::string WorkerTopics() const {
    return "evidence_topic = \"" + topics_.evidence + "\"\nverdict_topic = \"" + topics_.verdicts +
           "\"\nrevocation_topic = \"" + topics_.revocations + "\"\n";
  }

 private:
  std::unique_ptr<attest::testing::DevBroker> dev_;
  std::unique_ptr<attest::testing::KafkaCluster> kafka_;
  int nodes_ = 1;
  std::string bootstrap_;
  attest::testing::PipelineTopics topics_;
};

}  // namespace attest::worker::bench
