// The pure half of topics.h: the pipeline's topic table and the check of a
// described topic against a need. The admin I/O is in topic_admin.cc.
#include "common/kafka/topics.h"

#include <algorithm>
#include <charconv>
#include <optional>

#include "common/kafka/errors.h"

namespace attest::kafka {
namespace {

// Retention of what `create` sets and of what a service accepts at least.
constexpr int64_t kEvidenceRetentionMs = 7 * kDayMs;
constexpr int64_t kVerdictRetentionMs = 30 * kDayMs;
constexpr int64_t kRevocationRetentionMs = 365 * kDayMs;
constexpr int64_t kEvidenceMinRetentionMs = 1 * kDayMs;
constexpr int64_t kVerdictMinRetentionMs = 1 * kDayMs;
constexpr int64_t kRevocationMinRetentionMs = 7 * kDayMs;

std::optional<int64_t> ParseInt(const std::string& text) {
  int64_t v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || p != end) return std::nullopt;
  return v;
}

std::string Duration(int64_t ms) {
  if (ms < 0) return "forever";
  if (ms % kDayMs == 0) return std::to_string(ms / kDayMs) + " d";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + " h";
  return std::to_string(ms) + " ms";
}

// A numeric config, or a kConfigNotReported mismatch appended to `out`.
std::optional<int64_t> NumericConfig(const TopicDescription& seen, const std::string& key,
                                     const std::string& need, std::vector<TopicMismatch>& out) {
  auto it = seen.configs.find(key);
  if (it == seen.configs.end()) {
    out.push_back({MismatchKind::kConfigNotReported, key, "not reported", need});
    return std::nullopt;
  }
  auto v = ParseInt(it->second);
  if (!v) out.push_back({MismatchKind::kConfigNotReported, key, "'" + it->second + "'", need});
  return v;
}

void ExactConfig(const TopicDescription& seen, const std::string& key, const std::string& want,
                 MismatchKind kind, std::vector<TopicMismatch>& out) {
  auto it = seen.configs.find(key);
  if (it == seen.configs.end()) {
    out.push_back({MismatchKind::kConfigNotReported, key, "not reported", want});
  } else if (it->second != want) {
    out.push_back({kind, key, it->second, want});
  }
}

}  // namespace

std::string_view RoleName(TopicRole role) {
  switch (role) {
    case TopicRole::kEvidence:
      return "evidence";
    case TopicRole::kVerdicts:
      return "verdicts";
    case TopicRole::kRevocations:
      return "revocations";
  }
  return "?";
}

std::string_view MismatchKindName(MismatchKind kind) {
  switch (kind) {
    case MismatchKind::kMissing:
      return "missing";
    case MismatchKind::kTooFewPartitions:
      return "too_few_partitions";
    case MismatchKind::kTooFewReplicas:
      return "too_few_replicas";
    case MismatchKind::kMinInsyncTooLow:
      return "min_insync_replicas_too_low";
    case MismatchKind::kMinInsyncAboveReplicas:
      return "min_insync_replicas_above_replicas";
    case MismatchKind::kMaxMessageBytesTooSmall:
      return "max_message_bytes_too_small";
    case MismatchKind::kRetentionTooShort:
      return "retention_too_short";
    case MismatchKind::kCleanupPolicy:
      return "cleanup_policy";
    case MismatchKind::kUncleanLeaderElection:
      return "unclean_leader_election";
    case MismatchKind::kCompressionType:
      return "compression_type";
    case MismatchKind::kConfigNotReported:
      return "config_not_reported";
    case MismatchKind::kConfigsUnreadable:
      return "configs_unreadable";
    case MismatchKind::kConfigsUnchecked:
      return "configs_unchecked";
  }
  return "?";
}

std::vector<TopicMismatch> CheckTopic(const TopicDescription& seen, const TopicRequirement& need) {
  std::vector<TopicMismatch> out;
  if (!seen.exists) {
    out.push_back({MismatchKind::kMissing, "topic", "absent", "exists"});
    return out;
  }
  if (seen.partitions < need.min_partitions) {
    out.push_back({MismatchKind::kTooFewPartitions, "partitions", std::to_string(seen.partitions),
                   "at least " + std::to_string(need.min_partitions)});
  }
  if (seen.replication_factor < need.min_replication_factor) {
    out.push_back({MismatchKind::kTooFewReplicas, "replication factor",
                   std::to_string(seen.replication_factor),
                   "at least " + std::to_string(need.min_replication_factor)});
  }
  if (!need.check_configs) return out;
  switch (seen.configs_state) {
    case TopicDescription::Configs::kKnown:
      break;
    case TopicDescription::Configs::kUnsupported:
      out.push_back({MismatchKind::kConfigsUnchecked, "configs", seen.configs_error,
                     "min.insync.replicas, max.message.bytes, retention.ms, cleanup.policy, "
                     "unclean.leader.election.enable checked",
                     /*warning=*/true});
      return out;
    case TopicDescription::Configs::kUnreadable:
    case TopicDescription::Configs::kNotAsked:
      out.push_back({MismatchKind::kConfigsUnreadable, "configs",
                     seen.configs_error.empty() ? "not described" : seen.configs_error,
                     "readable (DescribeConfigs on the topic)"});
      return out;
  }

  const std::string isr_need = "at least " + std::to_string(need.min_insync_replicas);
  if (auto isr = NumericConfig(seen, "min.insync.replicas", isr_need, out)) {
    if (*isr < need.min_insync_replicas) {
      out.push_back(
          {MismatchKind::kMinInsyncTooLow, "min.insync.replicas", std::to_string(*isr), isr_need});
    } else if (*isr > seen.replication_factor) {
      out.push_back({MismatchKind::kMinInsyncAboveReplicas, "min.insync.replicas",
                     std::to_string(*isr),
                     "at most the replication factor (" + std::to_string(seen.replication_factor) +
                         "), or every acks=all write fails"});
    }
  }
  if (need.min_max_message_bytes > 0) {
    const std::string want = "at least " + std::to_string(need.min_max_message_bytes);
    if (auto v = NumericConfig(seen, "max.message.bytes", want, out);
        v && *v < need.min_max_message_bytes) {
      out.push_back(
          {MismatchKind::kMaxMessageBytesTooSmall, "max.message.bytes", std::to_string(*v), want});
    }
  }
  if (need.min_retention_ms > 0) {
    const std::string want = "at least " + std::to_string(need.min_retention_ms) + " (" +
                             Duration(need.min_retention_ms) + ") or -1";
    if (auto v = NumericConfig(seen, "retention.ms", want, out);
        v && *v >= 0 && *v < need.min_retention_ms) {
      out.push_back({MismatchKind::kRetentionTooShort, "retention.ms",
                     std::to_string(*v) + " (" + Duration(*v) + ")", want});
    }
  }
  ExactConfig(seen, "cleanup.policy", "delete", MismatchKind::kCleanupPolicy, out);
  ExactConfig(seen, "unclean.leader.election.enable", "false", MismatchKind::kUncleanLeaderElection,
              out);
  if (need.producer_compression) {
    ExactConfig(seen, "compression.type", "producer", MismatchKind::kCompressionType, out);
  }
  return out;
}

std::string DescribeMismatch(const TopicMismatch& m) {
  switch (m.kind) {
    case MismatchKind::kMissing:
      return "the topic does not exist (or this client may not describe it)";
    case MismatchKind::kConfigsUnchecked:
      return "configs not checked: the cluster does not report them (" + m.seen + ")";
    case MismatchKind::kConfigsUnreadable:
      return "configs unreadable: " + m.seen;
    default:
      return m.what + " is " + m.seen + ", needs " + m.need;
  }
}

bool Meets(const std::vector<TopicMismatch>& mismatches) {
  return std::all_of(mismatches.begin(), mismatches.end(),
                     [](const TopicMismatch& m) { return m.warning; });
}

Replication ReplicationFor(int32_t brokers, int32_t explicit_factor) {
  Replication r;
  r.factor = explicit_factor > 0 ? explicit_factor : std::clamp(brokers, 1, 3);
  r.min_insync = std::min(2, r.factor);
  return r;
}

NewTopicSpec PipelineTopic(TopicRole role, const PipelineTopicOptions& o, int32_t brokers) {
  const Replication rep = ReplicationFor(brokers, o.replication_factor);
  NewTopicSpec s;
  s.partitions = std::max(1, o.evidence_partitions);
  s.replication_factor = rep.factor;
  s.need.role = role;
  s.need.min_replication_factor = rep.factor;
  s.need.min_insync_replicas = rep.min_insync;
  int64_t retention = 0;
  switch (role) {
    case TopicRole::kEvidence:
      s.name = o.evidence;
      s.need.min_partitions = s.partitions;
      s.need.min_max_message_bytes = o.evidence_message_max_bytes > 0
                                         ? o.evidence_message_max_bytes + kRecordBatchOverheadBytes
                                         : 0;
      // Stored as the gateway compressed it: the broker neither spends CPU
      // recompressing nor stores a batch larger than the gateway sized it.
      s.need.producer_compression = true;
      s.need.min_retention_ms = kEvidenceMinRetentionMs;
      retention = kEvidenceRetentionMs;
      break;
    case TopicRole::kVerdicts:
    case TopicRole::kRevocations: {
      const bool verdicts = role == TopicRole::kVerdicts;
      s.name = verdicts ? o.verdicts : o.revocations;
      s.need.min_partitions = 1;
      s.need.min_max_message_bytes = std::max(
          kKafkaDefaultMaxMessageBytes, o.output_message_max_bytes + kRecordBatchOverheadBytes);
      s.need.min_retention_ms = verdicts ? kVerdictMinRetentionMs : kRevocationMinRetentionMs;
      retention = verdicts ? kVerdictRetentionMs : kRevocationRetentionMs;
      break;
    }
  }
  s.need.name = s.name;
  const int64_t max_message_bytes =
      std::max(s.need.min_max_message_bytes, kKafkaDefaultMaxMessageBytes);
  s.configs = {
      {"cleanup.policy", "delete"},
      {"retention.ms", std::to_string(retention)},
      {"max.message.bytes", std::to_string(max_message_bytes)},
      {"min.insync.replicas", std::to_string(rep.min_insync)},
      {"unclean.leader.election.enable", "false"},
      {"compression.type", "producer"},
  };
  return s;
}

std::vector<NewTopicSpec> PipelineTopics(const PipelineTopicOptions& options, int32_t brokers) {
  return {PipelineTopic(TopicRole::kEvidence, options, brokers),
          PipelineTopic(TopicRole::kVerdicts, options, brokers),
          PipelineTopic(TopicRole::kRevocations, options, brokers)};
}

}  // namespace attest::kafka
