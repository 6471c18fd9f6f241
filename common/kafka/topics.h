// The pipeline's Kafka topics: the one table of how each is created and what
// each service needs from it, a pure check of a described topic against a
// need, and the I/O around them (librdkafka's admin API: metadata for
// partitions, replicas and brokers, DescribeConfigs, CreateTopics).
//
//   auto need = PipelineTopic(TopicRole::kEvidence, options, brokers).need;
//   for (const TopicMismatch& m : CheckTopic(seen, need)) ... DescribeMismatch(m)
//
// Replication: min(3, brokers) replicas and min.insync.replicas min(2, that),
// so an acks=all idempotent write (common/kafka/producer.h) survives the loss
// of a broker; an operator may ask for fewer replicas explicitly
// (PipelineTopicOptions::replication_factor). Every topic: cleanup.policy
// delete (compaction would keep only the last record of an agent) and no
// unclean leader election (it can drop acknowledged records). docs/kafka.md
// explains each value.
//
// Thread-safety: the pure functions are; a TopicAdmin may be used from one
// thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"
#include "common/kafka/handles.h"

namespace attest::kafka {

inline constexpr std::string_view kEvidenceTopic = "attestation.evidence";
inline constexpr std::string_view kVerdictTopic = "attestation.verdicts";
inline constexpr std::string_view kRevocationTopic = "attestation.revocations";
inline constexpr int32_t kDefaultEvidencePartitions = 12;
// The gateway's default kafka.message_max_bytes (ingest-gateway/config.h).
inline constexpr int64_t kDefaultEvidenceMessageMaxBytes = 2162688;
// librdkafka's default message.max.bytes (the workers' producer).
inline constexpr int64_t kLibrdkafkaMessageMaxBytes = 1000000;
// Kafka's default max.message.bytes: verdict and revocation topics keep it.
inline constexpr int64_t kKafkaDefaultMaxMessageBytes = 1048588;
// A record that fills a producer's message.max.bytes reaches the broker in a
// record batch (61-byte header) that the broker compares with the topic's
// max.message.bytes: the topic needs this much more, rounded up.
inline constexpr int64_t kRecordBatchOverheadBytes = 1024;

inline constexpr int64_t kDayMs = 24LL * 3600 * 1000;

enum class TopicRole { kEvidence, kVerdicts, kRevocations };
std::string_view RoleName(TopicRole role);  // "evidence", "verdicts", "revocations"

// A topic as the cluster reports it.
struct TopicDescription {
  std::string name;
  bool exists = false;
  int32_t partitions = 0;
  int32_t replication_factor = 0;  // the fewest replicas of any partition
  int32_t partitions_without_leader = 0;

  enum class Configs {
    kKnown,        // `configs` holds every config with its effective value
    kUnsupported,  // the cluster does not implement DescribeConfigs (the dev broker)
    kUnreadable,   // DescribeConfigs failed (e.g. not authorized): configs_error says why
    kNotAsked,     // Describe(..., with_configs = false)
  };
  Configs configs_state = Configs::kNotAsked;
  std::string configs_error;
  std::map<std::string, std::string> configs;
};

// What a service (or the operator's tool) needs from a topic. Always, when
// configs are checked: cleanup.policy = delete, unclean.leader.election.enable
// = false.
struct TopicRequirement {
  std::string name;
  TopicRole role = TopicRole::kEvidence;
  int32_t min_partitions = 1;
  int32_t min_replication_factor = 1;
  int32_t min_insync_replicas = 1;    // and at most the topic's replication factor
  int64_t min_max_message_bytes = 0;  // 0: any
  int64_t min_retention_ms = 0;       // 0: any; retention.ms -1 (forever) always meets it
  bool producer_compression = false;  // compression.type must be "producer"
  bool check_configs = true;          // false: partitions and replicas only
};

enum class MismatchKind {
  kMissing,
  kTooFewPartitions,
  kTooFewReplicas,
  kMinInsyncTooLow,
  kMinInsyncAboveReplicas,  // every acks=all write would fail
  kMaxMessageBytesTooSmall,
  kRetentionTooShort,
  kCleanupPolicy,
  kUncleanLeaderElection,
  kCompressionType,
  kConfigNotReported,  // the cluster did not report the config, or not as a number
  kConfigsUnreadable,  // DescribeConfigs failed
  kConfigsUnchecked,   // the cluster does not implement DescribeConfigs: a warning
};
std::string_view MismatchKindName(MismatchKind kind);  // "too_few_partitions", ...

struct TopicMismatch {
  MismatchKind kind;
  std::string what;  // "topic", "partitions", "replication factor" or a config name
  std::string seen;
  std::string need;
  bool warning = false;  // reported, but the topic may be used
};

// Every way `seen` falls short of `need` (empty: it meets it). Pure.
std::vector<TopicMismatch> CheckTopic(const TopicDescription& seen, const TopicRequirement& need);

// "max.message.bytes is 1048588, needs at least 2163712", for logs and users.
std::string DescribeMismatch(const TopicMismatch& mismatch);

// True when no mismatch is an error (warnings allowed).
bool Meets(const std::vector<TopicMismatch>& mismatches);

struct Replication {
  int32_t factor = 1;
  int32_t min_insync = 1;
};
// min(3, brokers) replicas, or `explicit_factor` when > 0 (an operator's
// choice, possibly lower); min.insync.replicas min(2, factor).
Replication ReplicationFor(int32_t brokers, int32_t explicit_factor = 0);

struct PipelineTopicOptions {
  std::string evidence{kEvidenceTopic};
  std::string verdicts{kVerdictTopic};
  std::string revocations{kRevocationTopic};
  // The evidence topic is created with this many partitions and must have at
  // least this many (verdicts and revocations are created with as many and
  // need one). A service that accepts any count sets 1.
  int32_t evidence_partitions = kDefaultEvidencePartitions;
  int32_t replication_factor = 0;  // 0: min(3, brokers)
  // The gateway's kafka.message_max_bytes; 0: not checked (a reader).
  int64_t evidence_message_max_bytes = kDefaultEvidenceMessageMaxBytes;
  // The workers' producer message.max.bytes (verdicts, revocations).
  int64_t output_message_max_bytes = kLibrdkafkaMessageMaxBytes;
};

// How to create a topic so it meets `need`, and `need` itself.
struct NewTopicSpec {
  std::string name;
  int32_t partitions = 1;
  int32_t replication_factor = 1;
  std::map<std::string, std::string> configs;
  TopicRequirement need;
};

// The table: one pipeline topic on a cluster of `brokers` brokers.
NewTopicSpec PipelineTopic(TopicRole role, const PipelineTopicOptions& options, int32_t brokers);
// Evidence, verdicts, revocations, in that order.
std::vector<NewTopicSpec> PipelineTopics(const PipelineTopicOptions& options, int32_t brokers);

// ---- I/O ----

struct AdminConfig {
  std::string bootstrap_servers;
  std::string client_id = "attest-admin";
  // Any librdkafka property (security.protocol, sasl.*, ssl.*). Properties of
  // producers or consumers only are ignored by librdkafka with a debug log.
  std::map<std::string, std::string> extra;
};

struct ClusterView {
  int32_t brokers = 0;
  std::vector<TopicDescription> topics;  // in the order asked
};

struct CreateOutcome {
  std::string name;
  enum class Status { kCreated, kExists, kFailed };
  Status status = Status::kFailed;
  std::string error;  // kFailed: the broker's reason
};

// An admin client (a librdkafka handle that never produces). It never
// creates a topic by asking for it (allow.auto.create.topics=false).
class TopicAdmin {
 public:
  static Result<std::unique_ptr<TopicAdmin>> Create(const AdminConfig& config);
  ~TopicAdmin();
  TopicAdmin(const TopicAdmin&) = delete;
  TopicAdmin& operator=(const TopicAdmin&) = delete;

  // The broker count and each topic's partitions, replicas and (with_configs)
  // configs. errc::unavailable or timed_out when the cluster did not answer
  // within `timeout`; a missing topic is not an error (exists = false).
  Result<ClusterView> Describe(const std::vector<std::string>& topics, bool with_configs,
                               std::chrono::milliseconds timeout);

  // Creates the topics; one outcome per spec, in order. An existing topic is
  // kExists (not checked here). Error only when the request got no answer.
  Result<std::vector<CreateOutcome>> CreateTopics(const std::vector<NewTopicSpec>& specs,
                                                  std::chrono::milliseconds timeout);

 private:
  TopicAdmin() = default;
  Result<void> DescribeConfigs(std::vector<TopicDescription>& topics, int32_t broker,
                               std::chrono::milliseconds timeout);
  KafkaPtr rk_;
};

// A service's start-up check of the topics it uses.
struct StartupCheck {
  std::string service;  // for log lines: "gateway", "worker", "registrar"
  AdminConfig admin;
  std::chrono::milliseconds timeout{60'000};
  // What the service needs, given the cluster's broker count.
  std::function<std::vector<TopicRequirement>(int32_t brokers)> needs;
};

// Describes and checks the topics. While the cluster does not answer it logs
// a warning and tries again until `timeout` (then errc::timed_out); warnings
// (what the cluster cannot report) are logged. Errors: errc::unknown_topic
// (a topic is missing), errc::topic_mismatch (every mismatch named). On
// success, the cluster as described (the registrar reads partition counts).
Result<ClusterView> CheckTopicsAtStart(const StartupCheck& check);

}  // namespace attest::kafka
