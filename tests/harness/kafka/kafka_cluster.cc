#include "tests/harness/kafka/kafka_cluster.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

#include "common/kafka/topics.h"

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
    // ATTEST_TEST_KAFKA_DIR (the user's, for a second ctest run beside the
    // first in the same build) wins over the build's default.
    const char* dir = std::getenv("ATTEST_TEST_KAFKA_DIR");
    if (!dir || !*dir) dir = std::getenv("ATTEST_TEST_KAFKA_DEFAULT_DIR");
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

namespace {

void CreateAndAwait(const KafkaCluster& cluster, const std::vector<kafka::NewTopicSpec>& specs) {
  kafka::AdminConfig config;
  config.bootstrap_servers = cluster.bootstrap();
  auto admin = kafka::TopicAdmin::Create(config);
  if (!admin) throw std::runtime_error("kafka admin client: " + admin.error().message);
  auto outcomes = (*admin)->CreateTopics(specs, std::chrono::seconds(60));
  if (!outcomes)
    throw std::runtime_error("CreateTopics: " + outcomes.error().message + "\n" + cluster.Log());
  std::vector<std::string> names;
  for (const auto& o : *outcomes) {
    if (o.status != kafka::CreateOutcome::Status::kCreated) {
      throw std::runtime_error(
          "create topic " + o.name + ": " +
          (o.status == kafka::CreateOutcome::Status::kExists ? "exists" : o.error));
    }
    names.push_back(o.name);
  }
  const bool led = WaitFor(
      [&] {
        auto view = (*admin)->Describe(names, false, std::chrono::seconds(5));
        if (!view) return false;
        for (size_t i = 0; i < view->topics.size(); ++i) {
          const auto& t = view->topics[i];
          if (!t.exists || t.partitions != specs[i].partitions ||
              t.partitions_without_leader != 0) {
            return false;
          }
        }
        return true;
      },
      std::chrono::seconds(30));
  if (!led) throw std::runtime_error("created topics have no leaders after 30 s\n" + cluster.Log());
}

}  // namespace

void CreateTopics(const KafkaCluster& cluster, const std::vector<TopicSpec>& topics) {
  std::vector<kafka::NewTopicSpec> specs;
  for (const auto& t : topics) {
    specs.push_back({.name = t.name,
                     .partitions = t.partitions,
                     .replication_factor = t.replication_factor > 0
                                               ? t.replication_factor
                                               : kafka::ReplicationFor(cluster.nodes()).factor,
                     .configs = t.configs,
                     .need = {}});
  }
  CreateAndAwait(cluster, specs);
}

std::string UniqueName(const std::string& base) {
  static std::atomic<int> counter{0};
  static const unsigned salt = std::random_device{}();
  return base + "." + std::to_string(::getpid()) + "." + std::to_string(++counter) + "." +
         std::to_string(salt % 100000);
}

PipelineTopics CreatePipelineTopics(const KafkaCluster& cluster, int evidence_partitions) {
  // The product's own table (common/kafka/topics.h): what the lab and
  // `attestctl kafka topics create` make, and what the services check at start.
  kafka::PipelineTopicOptions options;
  options.evidence = UniqueName("attestation.evidence");
  options.verdicts = UniqueName("attestation.verdicts");
  options.revocations = UniqueName("attestation.revocations");
  options.evidence_partitions = evidence_partitions;
  CreateAndAwait(cluster, kafka::PipelineTopics(options, cluster.nodes()));
  return {options.evidence, options.verdicts, options.revocations};
}

}  // namespace attest::testing
