// attest-worker: a verifier worker (see verifier-workers/worker.h).
// Exit codes: 0 stopped by SIGTERM/SIGINT after finishing its batch, 1
// start-up or runtime failure (also: a topic is missing or does not match
// what the worker needs, or Kafka did not answer within
// kafka.startup_timeout_ms), 2 bad command line or configuration.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>
#include <thread>

#include "common/base/logging.h"
#include "common/db/migrations.h"
#include "common/kafka/topics.h"
#include "common/metrics/metrics.h"
#include "verifier-workers/config.h"
#include "verifier-workers/worker.h"

namespace {

// The worker reads evidence and writes verdicts and revocations (acks=all,
// idempotent): each topic must exist and keep what is written (docs/kafka.md).
attest::Result<void> CheckTopics(const attest::worker::WorkerConfig& c) {
  attest::kafka::StartupCheck check;
  check.service = "worker";
  check.admin.bootstrap_servers = c.kafka_bootstrap;
  check.admin.client_id = "attest-worker-" + c.worker_id;
  check.admin.extra = c.kafka_properties;
  check.timeout = c.kafka_startup_timeout;
  // Verdicts and revocations must take the largest record the worker's
  // producer sends (librdkafka's default unless kafka.properties raises it).
  int64_t producer_max = attest::kafka::kLibrdkafkaMessageMaxBytes;
  if (auto it = c.kafka_properties.find("message.max.bytes"); it != c.kafka_properties.end()) {
    const std::string& v = it->second;
    std::from_chars(v.data(), v.data() + v.size(), producer_max);
  }
  check.needs = [&c, producer_max](int32_t brokers) {
    attest::kafka::PipelineTopicOptions o;
    o.evidence = c.evidence_topic;
    o.verdicts = c.verdict_topic;
    o.revocations = c.revocation_topic;
    o.evidence_partitions = 1;         // any count: the group spreads what there is
    o.evidence_message_max_bytes = 0;  // a reader: the gateway checks the size
    o.output_message_max_bytes = producer_max;
    std::vector<attest::kafka::TopicRequirement> needs;
    for (const auto& spec : attest::kafka::PipelineTopics(o, brokers)) needs.push_back(spec.need);
    return needs;
  };
  auto view = attest::kafka::CheckTopicsAtStart(check);
  if (!view) return view.error();
  return attest::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"attest-worker: verifier worker (consumer group over attestation.evidence)"};
  std::string config_path = "/etc/attest/worker.toml";
  app.add_option("--config", config_path, "worker configuration (TOML)");
  std::string migrations;
  app.add_option("--migrate", migrations,
                 "apply the NNN_name.sql migrations of this directory at start-up (the database "
                 "login needs DDL rights; off by default, the registrar migrates)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  auto config = attest::worker::LoadWorkerConfig(config_path);
  if (!config) {
    std::fprintf(stderr, "attest-worker: %s\n", config.error().message.c_str());
    return 2;
  }
  if (auto r = attest::InitLogging(config->log); !r) {
    std::fprintf(stderr, "attest-worker: %s\n", r.error().message.c_str());
    return 2;
  }
  // Stop signals are taken by a dedicated thread (every other thread blocks them).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (auto r = CheckTopics(*config); !r) {
    spdlog::critical("worker: refusing to start: {}", r.error().message);
    return 1;
  }

  if (!migrations.empty()) {
    auto report = attest::db::MigrateDatabase(config->database_conninfo, migrations);
    if (!report) {
      std::fprintf(stderr, "attest-worker: migrations: %s\n", report.error().ToString().c_str());
      return 1;
    }
  }

  // Batches allocate and free MB-sized buffers (array literals, results,
  // protobufs) many times a second: keep them in the heap instead of an
  // mmap/munmap + page faults per buffer (a few % of the worker's CPU).
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);

  attest::metrics::Registry registry;
  auto worker = attest::worker::Worker::Create(std::move(config).value(), &registry);
  if (!worker) {
    std::fprintf(stderr, "attest-worker: %s\n", worker.error().message.c_str());
    return 1;
  }
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("worker: signal {}: finishing", sig);
    (*worker)->RequestStop();
  });
  signal_thread.detach();
  auto r = (*worker)->Run();
  if (!r) {
    spdlog::error("worker: {}", r.error().message);
    return 1;
  }
  spdlog::info("worker: stopped");
  return 0;
}
