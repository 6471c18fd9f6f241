#include "common/kafka/topics.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <thread>

#include "common/kafka/client_conf.h"
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

// ---- I/O ----

namespace {

// librdkafka logs every failed connection attempt; callers report what
// matters themselves.
void AdminLog(const rd_kafka_t*, int, const char* fac, const char* buf) {
  spdlog::debug("kafka admin: {}: {}", fac, buf);
}

int TimeoutMs(std::chrono::milliseconds t) {
  return static_cast<int>(std::clamp<int64_t>(t.count(), 1, 3'600'000));
}

Result<AdminOptionsPtr> Options(rd_kafka_t* rk, rd_kafka_admin_op_t op,
                                std::chrono::milliseconds timeout) {
  AdminOptionsPtr options(rd_kafka_AdminOptions_new(rk, op));
  char errstr[512] = {0};
  if (rd_kafka_AdminOptions_set_request_timeout(options.get(), TimeoutMs(timeout), errstr,
                                                sizeof errstr)) {
    return MakeError(errc::invalid_config, std::string("admin request timeout: ") + errstr);
  }
  if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS &&
      rd_kafka_AdminOptions_set_operation_timeout(options.get(), TimeoutMs(timeout), errstr,
                                                  sizeof errstr)) {
    return MakeError(errc::invalid_config, std::string("admin operation timeout: ") + errstr);
  }
  return options;
}

// Waits for the admin result of `type` on `queue`; the request has its own
// timeout, this one only guards against a lost answer.
Result<EventPtr> AwaitResult(rd_kafka_queue_t* queue, rd_kafka_event_type_t type,
                             std::chrono::milliseconds timeout, std::string_view what) {
  EventPtr ev(rd_kafka_queue_poll(queue, TimeoutMs(timeout) + 5000));
  if (!ev) {
    return MakeError(errc::timed_out, std::string(what) + ": no answer within " +
                                          std::to_string(timeout.count()) + " ms");
  }
  if (rd_kafka_event_type(ev.get()) != type) {
    return MakeError(errc::failed,
                     std::string(what) + ": unexpected event " + rd_kafka_event_name(ev.get()));
  }
  return ev;
}

bool UnsupportedByCluster(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE ||
         err == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION || err == RD_KAFKA_RESP_ERR_INVALID_REQUEST;
}

}  // namespace

TopicAdmin::~TopicAdmin() = default;

Result<std::unique_ptr<TopicAdmin>> TopicAdmin::Create(const AdminConfig& config) {
  if (config.bootstrap_servers.empty()) {
    return MakeError(errc::invalid_config, "kafka admin: bootstrap servers are empty");
  }
  const Properties base = {
      {"bootstrap.servers", config.bootstrap_servers},
      {"client.id", config.client_id},
      // Retry an unreachable broker within a second (the default backs off to 10 s).
      {"reconnect.backoff.max.ms", "1000"},
  };
  // Describing a topic must never create it (brokers with
  // auto.create.topics.enable would, with broker defaults).
  const Properties forced = {{"allow.auto.create.topics", "false"}};
  auto conf = BuildConf(base, config.extra, forced, "kafka admin");
  if (!conf) return conf.error();
  rd_kafka_conf_set_log_cb(conf->get(), &AdminLog);
  char errstr[512] = {0};
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), errstr, sizeof errstr);
  if (!rk) {
    return MakeError(errc::invalid_config, std::string("kafka admin: rd_kafka_new: ") + errstr);
  }
  conf->release();  // owned by rk now
  std::unique_ptr<TopicAdmin> admin(new TopicAdmin());
  admin->rk_.reset(rk);
  return admin;
}

Result<ClusterView> TopicAdmin::Describe(const std::vector<std::string>& topics, bool with_configs,
                                         std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const rd_kafka_metadata_t* raw = nullptr;
  // All topics: asking for one by name could create it on some brokers, and
  // a missing topic is simply absent from the answer.
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk_.get(), 1, nullptr, &raw, TimeoutMs(timeout));
  MetadataPtr md(raw);
  if (err) return ErrorFromKafka(err, "kafka metadata");
  ClusterView view;
  view.brokers = md->broker_cnt;
  for (const std::string& name : topics) {
    TopicDescription d;
    d.name = name;
    for (int i = 0; i < md->topic_cnt; ++i) {
      const rd_kafka_metadata_topic_t& t = md->topics[i];
      if (name != t.topic) continue;
      if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) break;
      if (t.err && t.partition_cnt == 0) {
        return ErrorFromKafka(t.err, "kafka metadata of topic '" + name + "'");
      }
      d.exists = true;
      d.partitions = t.partition_cnt;
      d.replication_factor = t.partition_cnt > 0 ? INT32_MAX : 0;
      for (int p = 0; p < t.partition_cnt; ++p) {
        d.replication_factor = std::min(d.replication_factor, t.partitions[p].replica_cnt);
        if (t.partitions[p].leader < 0) ++d.partitions_without_leader;
      }
      break;
    }
    view.topics.push_back(std::move(d));
  }
  if (with_configs && md->broker_cnt > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    ATTEST_RETURN_IF_ERROR(DescribeConfigs(view.topics, md->brokers[0].id,
                                           std::max(left, std::chrono::milliseconds(1000))));
  }
  return view;
}

Result<void> TopicAdmin::DescribeConfigs(std::vector<TopicDescription>& topics, int32_t broker,
                                         std::chrono::milliseconds timeout) {
  std::vector<ConfigResourcePtr> owned;
  std::vector<rd_kafka_ConfigResource_t*> resources;
  for (const auto& t : topics) {
    if (!t.exists) continue;
    owned.emplace_back(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, t.name.c_str()));
    resources.push_back(owned.back().get());
  }
  if (resources.empty()) return Ok();
  auto options = Options(rk_.get(), RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout);
  if (!options) return options.error();
  // Any broker answers for topics. Left to itself librdkafka asks the
  // controller, which clusters without DescribeConfigs (the dev broker) never
  // name: the request would wait out its timeout instead of failing at once.
  char errstr[512] = {0};
  if (rd_kafka_AdminOptions_set_broker(options->get(), broker, errstr, sizeof errstr)) {
    return MakeError(errc::invalid_config, std::string("admin broker: ") + errstr);
  }
  QueuePtr queue(rd_kafka_queue_new(rk_.get()));
  rd_kafka_DescribeConfigs(rk_.get(), resources.data(), resources.size(), options->get(),
                           queue.get());
  auto ev = AwaitResult(queue.get(), RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, timeout,
                        "kafka DescribeConfigs");
  if (!ev) return ev.error();
  if (rd_kafka_resp_err_t err = rd_kafka_event_error(ev->get())) {
    const char* why = rd_kafka_event_error_string(ev->get());
    if (!UnsupportedByCluster(err)) {
      return MakeError(ClassifyKafkaError(err), std::string("kafka DescribeConfigs: ") +
                                                    rd_kafka_err2name(err) + ": " +
                                                    (why ? why : ""));
    }
    for (auto& t : topics) {
      if (!t.exists) continue;
      t.configs_state = TopicDescription::Configs::kUnsupported;
      t.configs_error = std::string("DescribeConfigs: ") + (why ? why : rd_kafka_err2str(err));
    }
    return Ok();
  }
  const rd_kafka_DescribeConfigs_result_t* res = rd_kafka_event_DescribeConfigs_result(ev->get());
  size_t n = 0;
  const rd_kafka_ConfigResource_t** results = rd_kafka_DescribeConfigs_result_resources(res, &n);
  for (size_t i = 0; i < n; ++i) {
    const std::string name = rd_kafka_ConfigResource_name(results[i]);
    auto t = std::find_if(topics.begin(), topics.end(),
                          [&](const TopicDescription& d) { return d.name == name; });
    if (t == topics.end()) continue;
    if (rd_kafka_resp_err_t err = rd_kafka_ConfigResource_error(results[i])) {
      const char* why = rd_kafka_ConfigResource_error_string(results[i]);
      t->configs_state = UnsupportedByCluster(err) ? TopicDescription::Configs::kUnsupported
                                                   : TopicDescription::Configs::kUnreadable;
      t->configs_error =
          std::string(rd_kafka_err2name(err)) + (why && *why ? std::string(": ") + why : "");
      continue;
    }
    size_t cnt = 0;
    const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(results[i], &cnt);
    t->configs.clear();
    for (size_t e = 0; e < cnt; ++e) {
      const char* value = rd_kafka_ConfigEntry_value(entries[e]);
      if (value) t->configs[rd_kafka_ConfigEntry_name(entries[e])] = value;
    }
    t->configs_state = TopicDescription::Configs::kKnown;
  }
  for (auto& t : topics) {
    if (t.exists && t.configs_state == TopicDescription::Configs::kNotAsked) {
      t.configs_state = TopicDescription::Configs::kUnreadable;
      t.configs_error = "not in the DescribeConfigs answer";
    }
  }
  return Ok();
}

Result<std::vector<CreateOutcome>> TopicAdmin::CreateTopics(const std::vector<NewTopicSpec>& specs,
                                                            std::chrono::milliseconds timeout) {
  std::vector<CreateOutcome> outcomes;
  if (specs.empty()) return outcomes;
  std::vector<NewTopicPtr> owned;
  std::vector<rd_kafka_NewTopic_t*> raw;
  for (const auto& s : specs) {
    char errstr[512] = {0};
    NewTopicPtr nt(rd_kafka_NewTopic_new(s.name.c_str(), s.partitions, s.replication_factor, errstr,
                                         sizeof errstr));
    if (!nt) return MakeError(errc::invalid_config, "topic '" + s.name + "': " + errstr);
    for (const auto& [key, value] : s.configs) {
      if (rd_kafka_resp_err_t err =
              rd_kafka_NewTopic_set_config(nt.get(), key.c_str(), value.c_str())) {
        return ErrorFromKafka(err, "topic '" + s.name + "': config " + key);
      }
    }
    raw.push_back(nt.get());
    owned.push_back(std::move(nt));
  }
  auto options = Options(rk_.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout);
  if (!options) return options.error();
  QueuePtr queue(rd_kafka_queue_new(rk_.get()));
  rd_kafka_CreateTopics(rk_.get(), raw.data(), raw.size(), options->get(), queue.get());
  auto ev =
      AwaitResult(queue.get(), RD_KAFKA_EVENT_CREATETOPICS_RESULT, timeout, "kafka CreateTopics");
  if (!ev) return ev.error();
  if (rd_kafka_resp_err_t err = rd_kafka_event_error(ev->get())) {
    const char* why = rd_kafka_event_error_string(ev->get());
    return MakeError(ClassifyKafkaError(err), std::string("kafka CreateTopics: ") +
                                                  rd_kafka_err2name(err) + ": " + (why ? why : ""));
  }
  const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev->get());
  size_t n = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &n);
  for (const auto& s : specs) {
    CreateOutcome o;
    o.name = s.name;
    o.error = "not in the CreateTopics answer";
    for (size_t i = 0; i < n; ++i) {
      if (s.name != rd_kafka_topic_result_name(results[i])) continue;
      rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
      if (!err) {
        o.status = CreateOutcome::Status::kCreated;
        o.error.clear();
      } else if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        o.status = CreateOutcome::Status::kExists;
        o.error.clear();
      } else {
        const char* why = rd_kafka_topic_result_error_string(results[i]);
        o.error =
            std::string(rd_kafka_err2name(err)) + (why && *why ? std::string(": ") + why : "");
      }
      break;
    }
    outcomes.push_back(std::move(o));
  }
  return outcomes;
}

Result<ClusterView> CheckTopicsAtStart(const StartupCheck& check) {
  auto admin = TopicAdmin::Create(check.admin);
  if (!admin) return admin.error();
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + check.timeout;
  // The names come from the needs, which depend on the broker count; the
  // names do not, so ask with one broker first.
  std::vector<std::string> names;
  bool with_configs = false;
  for (const auto& need : check.needs(1)) {
    names.push_back(need.name);
    with_configs = with_configs || need.check_configs;
  }
  Result<ClusterView> view = MakeError(errc::timed_out, "not asked");
  for (int attempt = 1;; ++attempt) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    view = (*admin)->Describe(
        names, with_configs,
        // Short attempts: a warning every few seconds while Kafka is away.
        std::clamp(left, std::chrono::milliseconds(500), std::chrono::milliseconds(2'000)));
    if (view) break;
    const auto code = view.error().code;
    const bool transient = code == errc::unavailable || code == errc::timed_out;
    if (!transient) return view.error();
    const auto remaining =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (remaining.count() <= 0) {
      return MakeError(errc::timed_out,
                       "kafka at " + check.admin.bootstrap_servers + " did not answer within " +
                           std::to_string(check.timeout.count()) +
                           " ms (kafka.startup_timeout_ms): " + view.error().message);
    }
    spdlog::warn("{}: kafka at {} does not answer yet (attempt {}: {}); retrying for {} s more",
                 check.service, check.admin.bootstrap_servers, attempt, view.error().message,
                 (remaining.count() + 999) / 1000);
    std::this_thread::sleep_for(
        std::min<Clock::duration>(std::chrono::seconds(1), deadline - Clock::now()));
  }
  const auto needs = check.needs(view->brokers);
  std::string missing, mismatched;
  for (size_t i = 0; i < needs.size() && i < view->topics.size(); ++i) {
    const auto& seen = view->topics[i];
    const auto found = CheckTopic(seen, needs[i]);
    std::string errors;
    for (const auto& m : found) {
      if (m.warning) {
        spdlog::warn("{}: topic {}: {}", check.service, seen.name, DescribeMismatch(m));
        continue;
      }
      errors += (errors.empty() ? "" : "; ") + DescribeMismatch(m);
    }
    if (errors.empty()) {
      spdlog::info("{}: topic {} ({}): {} partitions, {} replicas, as needed", check.service,
                   seen.name, RoleName(needs[i].role), seen.partitions, seen.replication_factor);
    } else if (!seen.exists) {
      missing += (missing.empty() ? "" : ", ") + seen.name;
    } else {
      mismatched += (mismatched.empty() ? "" : " | ") + std::string("topic ") + seen.name + " (" +
                    std::string(RoleName(needs[i].role)) + "): " + errors;
    }
  }
  if (!missing.empty()) {
    return MakeError(errc::unknown_topic,
                     "kafka at " + check.admin.bootstrap_servers + ": topic(s) " + missing +
                         " do not exist; create them with `attestctl kafka topics create` "
                         "(docs/kafka.md)" +
                         (mismatched.empty() ? "" : "; and " + mismatched));
  }
  if (!mismatched.empty()) {
    return MakeError(errc::topic_mismatch,
                     mismatched + " (docs/kafka.md; `attestctl kafka topics check`)");
  }
  return view;
}

}  // namespace attest::kafka
