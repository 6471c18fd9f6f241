// The test reader itself on the run's Apache Kafka node: a topic read the
// moment CreateTopics returns, before its partitions have settled leaders,
// reads as empty instead of failing (stop 24's CI failed on exactly that).
#include "tests/gateway/topic_reader.h"

#include <gtest/gtest.h>

#include "common/kafka/topics.h"
#include "tests/harness/kafka/kafka_cluster.h"

namespace attest::testing {
namespace {

TEST(TopicReader, ATopicReadTheMomentItIsCreatedIsEmpty) {
  const KafkaCluster& cluster = KafkaCluster::Shared();
  kafka::AdminConfig config;
  config.bootstrap_servers = cluster.bootstrap();
  auto admin = kafka::TopicAdmin::Create(config);
  ASSERT_TRUE(admin.ok()) << admin.error().message;
  for (int round = 0; round < 5; ++round) {
    const std::string name = UniqueName("reader.fresh");
    auto created = (*admin)->CreateTopics(
        {{.name = name, .partitions = 12, .replication_factor = 1, .configs = {}, .need = {}}},
        std::chrono::seconds(60));
    ASSERT_TRUE(created.ok()) << created.error().message;
    ASSERT_EQ(created->at(0).status, kafka::CreateOutcome::Status::kCreated)
        << created->at(0).error;
    EXPECT_TRUE(ReadTopic(cluster.bootstrap(), name).empty()) << name;
  }
}

}  // namespace
}  // namespace attest::testing
