// attest-worker: a verifier worker (see verifier-workers/worker.h).
// Exit codes: 0 stopped by SIGTERM/SIGINT after finishing its batch, 1
// start-up or runtime failure (also: a topic is missing or does not match
// what the worker needs, or Kafka did not answer within
// kafka.startup_timeout_ms), 2 bad command line or configuration.
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <charconv>

#include "common/base/clock.h"
#include "common/db/migrations.h"
#include "common/kafka/topics.h"
#include "common/metrics/metrics.h"
#include "common/service/main_shell.h"
#include "common/service/topic_check.h"
#include "verifier-workers/config.h"
#include "verifier-workers/worker.h"

namespace {

using attest::worker::WorkerConfig;
namespace service = attest::service;

constexpr char kProgram[] = "attest-worker";

// The worker reads evidence and writes verdicts and revocations (acks=all,
// idempotent): each topic must exist and keep what is written (docs/kafka.md).
attest::Result<void> CheckTopics(const attest::worker::WorkerConfig& c) {
  auto check =
      service::StartupCheckFor("worker", "attest-worker-" + c.worker_id,
                               {c.kafka_bootstrap, c.kafka_properties, c.kafka_startup_timeout});
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

int Run(WorkerConfig config, const std::string& migrations) {
  // Stop signals are taken by a dedicated thread (every other thread blocks them).
  service::StopSignals signals;
  if (auto r = CheckTopics(config); !r) {
    spdlog::critical("worker: refusing to start: {}", r.error().message);
    return service::kExitFailure;
  }
  if (!migrations.empty()) {
    auto report = attest::db::MigrateDatabase(config.database_conninfo, migrations);
    if (!report) {
      return service::Fail(kProgram, "migrations: " + report.error().ToString(),
                           service::kExitFailure);
    }
  }

  // Batches allocate and free MB-sized buffers (array literals, results,
  // protobufs) many times a second: keep them in the heap instead of an
  // mmap/munmap + page faults per buffer (a few % of the worker's CPU).
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);

  attest::metrics::Registry registry;
  const attest::SystemClock clock;  // outlives the worker
  auto worker = attest::worker::Worker::Create(std::move(config), &registry, clock);
  if (!worker) return service::Fail(kProgram, worker.error().message, service::kExitFailure);
  signals.Watch([&worker](int sig) {
    spdlog::info("worker: signal {}: finishing", sig);
    (*worker)->RequestStop();
  });
  auto r = (*worker)->Run();
  signals.StopWatching();  // before the worker goes
  if (!r) {
    spdlog::error("worker: {}", r.error().message);
    return service::kExitFailure;
  }
  spdlog::info("worker: stopped");
  return service::kExitStopped;
}

}  // namespace

int main(int argc, char** argv) {
  std::string migrations;
  service::MainSpec<WorkerConfig> spec;
  spec.program = kProgram;
  spec.description = "attest-worker: verifier worker (consumer group over attestation.evidence)";
  spec.default_config = "/etc/attest/worker.toml";
  spec.config_help = "worker configuration (TOML)";
  spec.flags = [&migrations](CLI::App& app) {
    app.add_option("--migrate", migrations,
                   "apply the NNN_name.sql migrations of this directory at start-up (the "
                   "database login needs DDL rights; off by default, the registrar migrates)");
  };
  spec.load = attest::worker::LoadWorkerConfig;
  spec.logging = [](const WorkerConfig& c) { return c.log; };
  spec.run = [&migrations](WorkerConfig config) { return Run(std::move(config), migrations); };
  return service::RunMain(spec, argc, argv);
}
