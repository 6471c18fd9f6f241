#include "tests/harness/kafka/kafka_cluster.h"

#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

#include "common/kafka/handles.h"

namespace attest::testing {
namespace {

constexpr const char* kScript = ATTEST_SOURCE_DIR "/scripts/kafka.sh";

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string Tail(const std::filesystem::path& file, size_t max_bytes) {
  std::string text;
  try {
    text = ReadFile(file);
  } catch (const std::exception&) {
    return "";
  }
  return text.size() > max_bytes ? text.substr(text.size() - max_bytes) : text;
}

struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
struct NewTopicDeleter {
  void operator()(rd_kafka_NewTopic_t* t) const { rd_kafka_NewTopic_destroy(t); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
};

kafka::KafkaPtr AdminClient(const std::string& bootstrap) {
  char err[512];
  kafka::ConfPtr conf(rd_kafka_conf_new());
  if (rd_kafka_conf_set(conf.get(), "bootstrap.servers", bootstrap.c_str(), err, sizeof err) !=
      RD_KAFKA_CONF_OK) {
    throw std::runtime_error(std::string("kafka admin conf: ") + err);
  }
  rd_kafka_conf_set(conf.get(), "log_level", "3", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof err);
  if (!rk) throw std::runtime_error(std::string("kafka admin client: ") + err);
  (void)conf.release();  // owned by rk now
  return kafka::KafkaPtr(rk);
}

// True when every partition of every topic has a leader in fresh metadata.
bool AllLed(rd_kafka_t* rk, const std::vector<TopicSpec>& topics) {
  const rd_kafka_metadata_t* raw = nullptr;
  if (rd_kafka_metadata(rk, 1, nullptr, &raw, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> md(raw);
  for (const auto& want : topics) {
    bool found = false;
    for (int i = 0; i < md->topic_cnt; ++i) {
      const auto& t = md->topics[i];
      if (want.name != t.topic) continue;
      if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR || t.partition_cnt != want.partitions) return false;
      for (int p = 0; p < t.partition_cnt; ++p) {
        if (t.partitions[p].leader < 0 || t.partitions[p].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          return false;
        }
      }
      found = true;
    }
    if (!found) return false;
  }
  return true;
}

}  // namespace

KafkaCluster::KafkaCluster(KafkaClusterOptions options)
    : temp_(std::make_unique<TempDir>("attest-kafka")), dir_(temp_->path()), nodes_(options.nodes) {
  bootstrap_ = Trim(Script({"start", dir_.string(), std::to_string(options.nodes)}));
  // The script prints progress before the list; the list is its last line.
  if (auto nl = bootstrap_.rfind('\n'); nl != std::string::npos)
    bootstrap_ = bootstrap_.substr(nl + 1);
}

KafkaCluster::KafkaCluster(Attach, std::filesystem::path dir)
    : dir_(std::move(dir)), owned_(false) {
  bootstrap_ = Trim(ReadFile(dir_ / "bootstrap"));
  nodes_ = std::stoi(Trim(ReadFile(dir_ / "nodes")));
}

KafkaCluster::~KafkaCluster() {
  if (!owned_) return;
  std::string out;
  RunCommand({kScript, "stop", dir_.string()}, &out);
}

KafkaCluster& KafkaCluster::Shared() {
  // Function-local: started on first use, stopped by static destruction.
  static std::unique_ptr<KafkaCluster> shared = [] {
    const char* dir = std::getenv("ATTEST_TEST_KAFKA_DIR");
    if (dir && *dir && std::filesystem::exists(std::filesystem::path(dir) / "bootstrap")) {
      return std::unique_ptr<KafkaCluster>(new KafkaCluster(Attach{}, dir));
    }
    return std::make_unique<KafkaCluster>();
  }();
  return *shared;
}

std::string KafkaCluster::Script(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {kScript};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out;
  const int rc = RunCommand(argv, &out);
  if (rc != 0) {
    throw std::runtime_error("scripts/kafka.sh " + args.front() + " failed (" + std::to_string(rc) +
                             "): " + out + "\n" + Log());
  }
  return out;
}

void KafkaCluster::KillNode(int id) { Script({"kill-node", dir_.string(), std::to_string(id)}); }
void KafkaCluster::StartNode(int id) { Script({"start-node", dir_.string(), std::to_string(id)}); }
void KafkaCluster::PauseNode(int id) { Script({"pause-node", dir_.string(), std::to_string(id)}); }
void KafkaCluster::ResumeNode(int id) {
  Script({"resume-node", dir_.string(), std::to_string(id)});
}
void KafkaCluster::StopAll() { Script({"stop", dir_.string()}); }
void KafkaCluster::StartAll() { Script({"restart", dir_.string()}); }

int KafkaCluster::Leader(const std::string& topic, int partition) const {
  const std::string out = Trim(Script({"leader", dir_.string(), topic, std::to_string(partition)}));
  try {
    return out.empty() ? -1 : std::stoi(out);
  } catch (const std::exception&) {
    return -1;
  }
}

std::string KafkaCluster::Log() const {
  std::string all;
  for (int id = 1; id <= nodes_; ++id) {
    all += "--- kafka node " + std::to_string(id) + " ---\n" +
           Tail(dir_ / ("node-" + std::to_string(id)) / "kafka.log", 3000);
  }
  return all;
}

void CreateTopics(const KafkaCluster& cluster, const std::vector<TopicSpec>& topics) {
  auto rk = AdminClient(cluster.bootstrap());
  char err[512];
  std::vector<std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDeleter>> owned;
  std::vector<rd_kafka_NewTopic_t*> raw;
  for (const auto& spec : topics) {
    const int rf =
        spec.replication_factor > 0 ? spec.replication_factor : std::min(3, cluster.nodes());
    rd_kafka_NewTopic_t* nt =
        rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions, rf, err, sizeof err);
    if (!nt) throw std::runtime_error("topic " + spec.name + ": " + err);
    owned.emplace_back(nt);
    for (const auto& [k, v] : spec.configs) {
      if (rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw std::runtime_error("topic " + spec.name + ": config " + k);
      }
    }
    raw.push_back(nt);
  }
  std::unique_ptr<rd_kafka_queue_t, QueueDeleter> queue(rd_kafka_queue_new(rk.get()));
  rd_kafka_CreateTopics(rk.get(), raw.data(), raw.size(), nullptr, queue.get());
  std::unique_ptr<rd_kafka_event_t, EventDeleter> ev(rd_kafka_queue_poll(queue.get(), 60000));
  if (!ev) throw std::runtime_error("CreateTopics: no answer in 60 s\n" + cluster.Log());
  if (rd_kafka_event_error(ev.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error(std::string("CreateTopics: ") + rd_kafka_event_error_string(ev.get()));
  }
  const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev.get());
  size_t n = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &n);
  for (size_t i = 0; i < n; ++i) {
    if (rd_kafka_topic_result_error(results[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* why = rd_kafka_topic_result_error_string(results[i]);
      throw std::runtime_error(std::string("create topic ") +
                               rd_kafka_topic_result_name(results[i]) + ": " + (why ? why : "?"));
    }
  }
  const bool led = WaitFor([&] { return AllLed(rk.get(), topics); }, std::chrono::seconds(30));
  if (!led) throw std::runtime_error("created topics have no leaders after 30 s\n" + cluster.Log());
}

std::string UniqueName(const std::string& base) {
  static std::atomic<int> counter{0};
  static const unsigned salt = std::random_device{}();
  return base + "." + std::to_string(::getpid()) + "." + std::to_string(++counter) + "." +
         std::to_string(salt % 100000);
}

PipelineTopics CreatePipelineTopics(const KafkaCluster& cluster, int evidence_partitions) {
  PipelineTopics t{UniqueName("attestation.evidence"), UniqueName("attestation.verdicts"),
                   UniqueName("attestation.revocations")};
  const std::string isr = cluster.nodes() >= 3 ? "2" : "1";
  CreateTopics(cluster, {
                            {t.evidence,
                             evidence_partitions,
                             0,
                             {{"max.message.bytes", "4194304"}, {"min.insync.replicas", isr}}},
                            {t.verdicts, 3, 0, {{"min.insync.replicas", isr}}},
                            {t.revocations, 3, 0, {{"min.insync.replicas", isr}}},
                        });
  return t;
}

}  // namespace attest::testing
