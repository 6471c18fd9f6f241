// CheckTopic and the topic table (common/kafka/topics.h): each mismatch on
// its own, and a topic created as the table says meets what it needs.
#include "common/kafka/topics.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace attest::kafka {
namespace {

// What a topic created from `spec` on a cluster looks like when described.
TopicDescription Created(const NewTopicSpec& spec) {
  TopicDescription d;
  d.name = spec.name;
  d.exists = true;
  d.partitions = spec.partitions;
  d.replication_factor = spec.replication_factor;
  d.configs_state = TopicDescription::Configs::kKnown;
  d.configs = spec.configs;
  // A real cluster reports every config, with defaults.
  d.configs.emplace("segment.bytes", "1073741824");
  return d;
}

std::vector<MismatchKind> Kinds(const std::vector<TopicMismatch>& ms) {
  std::vector<MismatchKind> kinds;
  for (const auto& m : ms) kinds.push_back(m.kind);
  return kinds;
}

class CheckTopicTest : public ::testing::Test {
 protected:
  // The evidence topic on a three-broker cluster: 3 replicas, min ISR 2.
  NewTopicSpec evidence_ = PipelineTopic(TopicRole::kEvidence, PipelineTopicOptions{}, 3);
  TopicDescription seen_ = Created(evidence_);

  std::vector<TopicMismatch> Check() const { return CheckTopic(seen_, evidence_.need); }
  void ExpectOnly(MismatchKind kind, const std::string& what) const {
    auto ms = Check();
    ASSERT_EQ(ms.size(), 1u) << ::testing::PrintToString(Kinds(ms));
    EXPECT_EQ(ms[0].kind, kind);
    EXPECT_EQ(ms[0].what, what);
    EXPECT_FALSE(ms[0].warning);
    EXPECT_FALSE(Meets(ms));
    EXPECT_NE(DescribeMismatch(ms[0]).find(what), std::string::npos) << DescribeMismatch(ms[0]);
  }
};

TEST_F(CheckTopicTest, CreatedAsTheTableSaysMeetsItsNeed) {
  EXPECT_TRUE(Check().empty()) << ::testing::PrintToString(Kinds(Check()));
  for (int brokers : {1, 2, 3, 5}) {
    for (const auto& spec : PipelineTopics(PipelineTopicOptions{}, brokers)) {
      EXPECT_TRUE(CheckTopic(Created(spec), spec.need).empty()) << spec.name << " " << brokers;
    }
  }
}

TEST_F(CheckTopicTest, Missing) {
  seen_ = TopicDescription{};
  seen_.name = evidence_.name;
  auto ms = Check();
  ASSERT_EQ(Kinds(ms), std::vector<MismatchKind>{MismatchKind::kMissing});
  EXPECT_FALSE(Meets(ms));
}

TEST_F(CheckTopicTest, TooFewPartitions) {
  seen_.partitions = 3;
  ExpectOnly(MismatchKind::kTooFewPartitions, "partitions");
  EXPECT_EQ(Check()[0].seen, "3");
  EXPECT_EQ(Check()[0].need, "at least 12");
  seen_.partitions = 24;  // more is fine: the registrar reads the count
  EXPECT_TRUE(Check().empty());
}

TEST_F(CheckTopicTest, TooFewReplicas) {
  seen_.replication_factor = 1;
  seen_.configs["min.insync.replicas"] = "1";
  auto ms = Check();
  // One replica: too few, and min ISR 1 is below the 2 that 3 brokers need.
  EXPECT_EQ(Kinds(ms), (std::vector<MismatchKind>{MismatchKind::kTooFewReplicas,
                                                  MismatchKind::kMinInsyncTooLow}));
}

TEST_F(CheckTopicTest, MinInsyncTooLow) {
  seen_.configs["min.insync.replicas"] = "1";
  ExpectOnly(MismatchKind::kMinInsyncTooLow, "min.insync.replicas");
}

TEST_F(CheckTopicTest, MinInsyncAboveReplicationFactor) {
  seen_.configs["min.insync.replicas"] = "4";
  ExpectOnly(MismatchKind::kMinInsyncAboveReplicas, "min.insync.replicas");
}

TEST_F(CheckTopicTest, MaxMessageBytesBelowTheGatewaysRecords) {
  seen_.configs["max.message.bytes"] = "1048588";
  ExpectOnly(MismatchKind::kMaxMessageBytesTooSmall, "max.message.bytes");
  // Exactly the producer's limit is not enough: the batch framing comes on top.
  seen_.configs["max.message.bytes"] = std::to_string(kDefaultEvidenceMessageMaxBytes);
  ExpectOnly(MismatchKind::kMaxMessageBytesTooSmall, "max.message.bytes");
  seen_.configs["max.message.bytes"] =
      std::to_string(kDefaultEvidenceMessageMaxBytes + kRecordBatchOverheadBytes);
  EXPECT_TRUE(Check().empty());
}

TEST_F(CheckTopicTest, RetentionTooShort) {
  seen_.configs["retention.ms"] = "3600000";
  ExpectOnly(MismatchKind::kRetentionTooShort, "retention.ms");
  EXPECT_NE(DescribeMismatch(Check()[0]).find("1 h"), std::string::npos);
  seen_.configs["retention.ms"] = "-1";  // forever
  EXPECT_TRUE(Check().empty());
}

TEST_F(CheckTopicTest, CompactedTopic) {
  seen_.configs["cleanup.policy"] = "compact";
  ExpectOnly(MismatchKind::kCleanupPolicy, "cleanup.policy");
  seen_.configs["cleanup.policy"] = "delete,compact";
  ExpectOnly(MismatchKind::kCleanupPolicy, "cleanup.policy");
}

TEST_F(CheckTopicTest, UncleanLeaderElection) {
  seen_.configs["unclean.leader.election.enable"] = "true";
  ExpectOnly(MismatchKind::kUncleanLeaderElection, "unclean.leader.election.enable");
}

TEST_F(CheckTopicTest, EvidenceRecompressedByTheBroker) {
  seen_.configs["compression.type"] = "gzip";
  ExpectOnly(MismatchKind::kCompressionType, "compression.type");
  // Verdicts and revocations do not care.
  auto verdicts = PipelineTopic(TopicRole::kVerdicts, PipelineTopicOptions{}, 3);
  auto seen = Created(verdicts);
  seen.configs["compression.type"] = "gzip";
  EXPECT_TRUE(CheckTopic(seen, verdicts.need).empty());
}

TEST_F(CheckTopicTest, ConfigNotReportedOrNotANumber) {
  seen_.configs.erase("min.insync.replicas");
  ExpectOnly(MismatchKind::kConfigNotReported, "min.insync.replicas");
  seen_ = Created(evidence_);
  seen_.configs["retention.ms"] = "seven days";
  ExpectOnly(MismatchKind::kConfigNotReported, "retention.ms");
}

TEST_F(CheckTopicTest, ConfigsUnreadableIsAnError) {
  seen_.configs_state = TopicDescription::Configs::kUnreadable;
  seen_.configs_error = "TOPIC_AUTHORIZATION_FAILED";
  ExpectOnly(MismatchKind::kConfigsUnreadable, "configs");
  EXPECT_NE(DescribeMismatch(Check()[0]).find("TOPIC_AUTHORIZATION_FAILED"), std::string::npos);
}

TEST_F(CheckTopicTest, ConfigsUnsupportedIsAWarningOnly) {
  // The dev broker (librdkafka's mock cluster) has no DescribeConfigs.
  seen_.configs_state = TopicDescription::Configs::kUnsupported;
  seen_.configs.clear();
  auto ms = Check();
  ASSERT_EQ(Kinds(ms), std::vector<MismatchKind>{MismatchKind::kConfigsUnchecked});
  EXPECT_TRUE(ms[0].warning);
  EXPECT_TRUE(Meets(ms));
  // Partitions and replicas are still checked.
  seen_.partitions = 1;
  EXPECT_FALSE(Meets(Check()));
}

TEST_F(CheckTopicTest, PartitionsAndReplicasOnlyWhenConfigsAreNotNeeded) {
  evidence_.need.check_configs = false;
  seen_.configs_state = TopicDescription::Configs::kNotAsked;
  seen_.configs.clear();
  EXPECT_TRUE(Check().empty());
}

TEST_F(CheckTopicTest, SeveralMismatchesAreAllReported) {
  seen_.partitions = 1;
  seen_.configs["max.message.bytes"] = "1000";
  seen_.configs["cleanup.policy"] = "compact";
  EXPECT_EQ(Check().size(), 3u);
}

TEST(TopicTable, ReplicationFollowsTheClusterSize) {
  EXPECT_EQ(ReplicationFor(1).factor, 1);
  EXPECT_EQ(ReplicationFor(1).min_insync, 1);
  EXPECT_EQ(ReplicationFor(2).factor, 2);
  EXPECT_EQ(ReplicationFor(2).min_insync, 2);
  EXPECT_EQ(ReplicationFor(3).factor, 3);
  EXPECT_EQ(ReplicationFor(3).min_insync, 2);
  EXPECT_EQ(ReplicationFor(7).factor, 3);
  EXPECT_EQ(ReplicationFor(0).factor, 1);
  // An operator's explicit factor wins, even a lower one.
  EXPECT_EQ(ReplicationFor(5, 1).factor, 1);
  EXPECT_EQ(ReplicationFor(5, 1).min_insync, 1);
  EXPECT_EQ(ReplicationFor(5, 5).min_insync, 2);
}

TEST(TopicTable, EvidenceHoldsTheGatewaysLargestRecord) {
  PipelineTopicOptions o;
  o.evidence_message_max_bytes = 8 << 20;
  auto s = PipelineTopic(TopicRole::kEvidence, o, 1);
  EXPECT_EQ(s.need.min_max_message_bytes, (8 << 20) + kRecordBatchOverheadBytes);
  EXPECT_EQ(std::stoll(s.configs.at("max.message.bytes")), s.need.min_max_message_bytes);
  EXPECT_EQ(s.configs.at("compression.type"), "producer");
  EXPECT_EQ(s.configs.at("cleanup.policy"), "delete");
  EXPECT_EQ(s.configs.at("unclean.leader.election.enable"), "false");
  EXPECT_EQ(s.partitions, 12);
  // A reader does not check the size.
  o.evidence_message_max_bytes = 0;
  EXPECT_EQ(PipelineTopic(TopicRole::kEvidence, o, 1).need.min_max_message_bytes, 0);
}

TEST(TopicTable, RetentionsRevocationsLongest) {
  auto t = PipelineTopics(PipelineTopicOptions{}, 3);
  ASSERT_EQ(t.size(), 3u);
  const int64_t evidence = std::stoll(t[0].configs.at("retention.ms"));
  const int64_t verdicts = std::stoll(t[1].configs.at("retention.ms"));
  const int64_t revocations = std::stoll(t[2].configs.at("retention.ms"));
  EXPECT_EQ(evidence, 7 * kDayMs);
  EXPECT_GT(verdicts, evidence);
  EXPECT_GT(revocations, verdicts);
  for (const auto& s : t) {
    EXPECT_LE(s.need.min_retention_ms, std::stoll(s.configs.at("retention.ms"))) << s.name;
    EXPECT_EQ(s.configs.at("min.insync.replicas"), "2") << s.name;
    EXPECT_EQ(s.replication_factor, 3) << s.name;
  }
  EXPECT_EQ(t[1].name, "attestation.verdicts");
  EXPECT_EQ(t[2].name, "attestation.revocations");
  // Verdicts and revocations keep Kafka's default size at least.
  EXPECT_EQ(t[1].need.min_max_message_bytes, kKafkaDefaultMaxMessageBytes);
}

}  // namespace
}  // namespace attest::kafka
