// Shared set-up of the gateway tests: the run's Apache Kafka (the pipeline
// topics under unique names, created once per binary) and one test PKI per
// binary, a migrated PostgreSQL database per test, an in-process Gateway on
// a free port, and helpers to insert agents, ask for challenges and build
// evidence. A test that takes Kafka down calls UsePrivateKafka() first: the
// shared cluster's nodes are never stopped.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "attest/v1/attestation.pb.h"
#include "common/httpclient/client.h"
#include "common/token/token.h"
#include "ingest-gateway/config.h"
#include "ingest-gateway/gateway.h"
#include "tests/harness/kafka/kafka_cluster.h"
#include "tests/harness/pki/pki.h"
#include "tests/harness/postgres/postgres_server.h"
#include "tests/harness/util/process.h"

namespace attest::gateway::testing {

// Partitions of the evidence topic; enrolments rows and the checks of a
// record's partition use the same count.
inline constexpr int kEvidencePartitions = 12;

struct AgentRow {
  std::string registration = "active";  // active | pending | none
  bool enrolled = true;
  std::string state = "ENROLLED";
  int interval_seconds = 60;
  std::string last_attestation_sql = "NULL";  // e.g. "now()"
  uint64_t ima_offset = 0;
  std::optional<int64_t> boot_time_seconds{};
  bool boot_log_requested = true;
};

// Replaces the dynamic configuration of `topic` with `configs` (Kafka's
// AlterConfigs: keys left out return to the broker's defaults) and waits
// until the broker reports the new values. Throws std::runtime_error.
void SetTopicConfig(const attest::testing::KafkaCluster& cluster, const std::string& topic,
                    const std::map<std::string, std::string>& configs);

class GatewayTest : public attest::testing::PostgresTest {
 public:
  static void SetUpTestSuite();
  static void TearDownTestSuite();

 protected:
  void SetUp() override;
  void TearDown() override;

  // A private single-node cluster with its own pipeline topics for this test
  // (~5 s): MakeConfig, RecordsOf and kafka() use it from now on.
  void UsePrivateKafka();
  attest::testing::KafkaCluster& kafka() const { return *kafka_; }
  const attest::testing::PipelineTopics& topics() const { return topics_; }

  GatewayConfig MakeConfig() const;
  void StartGateway(GatewayConfig config);
  static std::string NewUuid();
  void InsertAgent(const std::string& uuid, const AgentRow& row = {});

  httpclient::Response Post(const std::string& path, std::string_view content_type,
                            std::string_view body);
  httpclient::Response Get(const std::string& path);
  // POST .../challenges with a protobuf ChallengeRequest.
  httpclient::Response AskChallenge(const std::string& uuid,
                                    std::optional<int64_t> boot_time_seconds = std::nullopt);
  v1::Challenge ChallengeOf(const httpclient::Response& r);
  // A well-formed Evidence answering `token` with IMA from `ima_offset`.
  static v1::Evidence MakeEvidence(const std::string& uuid, const std::string& token,
                                   uint64_t ima_offset);
  httpclient::Response PostEvidence(const std::string& uuid, const v1::Evidence& e);
  // Records on the evidence topic with key == uuid; each must be on
  // partition kafka::PartitionFor(uuid, kEvidencePartitions).
  std::vector<v1::EvidenceEnvelope> RecordsOf(const std::string& uuid);

  static attest::testing::PipelineTopics* suite_topics_;  // on the shared cluster
  static attest::testing::TempDir* dir_;
  static attest::testing::TestPki* pki_;
  static attest::testing::IssuedCert* cert_;
  static std::string key_file_;
  static std::string old_key_file_;
  static std::string migrations_;

  // This test's cluster and topics: the shared ones unless UsePrivateKafka().
  attest::testing::KafkaCluster* kafka_ = nullptr;
  attest::testing::PipelineTopics topics_;
  std::unique_ptr<attest::testing::KafkaCluster> private_kafka_;

  const SystemClock clock_;  // outlives gateway_
  std::unique_ptr<Gateway> gateway_;
  std::optional<httpclient::Client> client_;
};

}  // namespace attest::gateway::testing
