// The I/O half of topics.h: TopicAdmin (librdkafka's admin API: metadata,
// DescribeConfigs, CreateTopics) and the services' start-up check. The pure
// table and CheckTopic are in topics.cc.
#include "common/kafka/topics.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "common/kafka/client_conf.h"
#include "common/kafka/errors.h"

namespace attest::kafka {

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
