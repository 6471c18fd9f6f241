// attest-registrar: agent registration/activation and the operators'
// control-plane API (see registrar/registrar.h, docs/registrar.md).
// Exit codes: 0 stopped by SIGTERM/SIGINT, 1 runtime failure (also: Kafka did
// not answer within kafka.startup_timeout_ms, the evidence topic is missing,
// or its partition count differs from kafka.evidence_partitions), 2 bad
// command line or configuration.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "common/db/migrations.h"
#include "common/kafka/topics.h"
#include "common/service/main_shell.h"
#include "common/service/topic_check.h"
#include "registrar/config.h"
#include "registrar/errors.h"
#include "registrar/registrar.h"

namespace {

using attest::registrar::RegistrarConfig;
namespace service = attest::service;

constexpr char kProgram[] = "attest-registrar";

// enrolments.partition = PartitionFor(uuid, n) must use the evidence topic's
// real count n, or the workers' liveness timers (per partition) would watch
// agents on the wrong partitions: read it from the cluster.
attest::Result<int32_t> EvidencePartitions(const RegistrarConfig& c) {
  auto check =
      service::StartupCheckFor("registrar", "attest-registrar",
                               {c.kafka_bootstrap, c.kafka_properties, c.kafka_startup_timeout});
  check.needs = [topic = c.kafka_evidence_topic](int32_t) {
    attest::kafka::TopicRequirement need;  // exists, with any count; configs are the writers'
    need.name = topic;
    need.check_configs = false;
    return std::vector<attest::kafka::TopicRequirement>{need};
  };
  auto cluster = attest::kafka::CheckTopicsAtStart(check);
  if (!cluster) return cluster.error();
  const int32_t partitions = cluster->topics.at(0).partitions;
  if (c.expected_evidence_partitions > 0 && c.expected_evidence_partitions != partitions) {
    return attest::MakeError(
        attest::registrar::errc::config_error,
        fmt::format("kafka.evidence_partitions is {} but topic {} has {} partitions; remove the "
                    "key (the count is read from Kafka) or correct it",
                    c.expected_evidence_partitions, c.kafka_evidence_topic, partitions));
  }
  spdlog::info("registrar: evidence topic {} has {} partitions", c.kafka_evidence_topic,
               partitions);
  return partitions;
}

attest::LogOptions Logging(const RegistrarConfig& c) {
  attest::LogOptions log;
  log.format = c.log_format == "json" ? attest::LogOptions::Format::kJson
                                      : attest::LogOptions::Format::kHuman;
  log.level = c.log_level;
  log.component = "registrar";
  return log;
}

}  // namespace

int main(int argc, char** argv) {
  // libtss2-mu logs parse errors of (attacker-controlled) TPM structures;
  // silence it before any tss2 call. The registrar reports its own errors.
  setenv("TSS2_LOG", "all+NONE", 1);

  std::string migrations = ATTEST_DEFAULT_MIGRATIONS_DIR;
  bool no_migrate = false;
  service::MainSpec<RegistrarConfig> spec;
  spec.program = kProgram;
  spec.description = "attest-registrar: TPM agent registration and control-plane API";
  spec.default_config = "/etc/attest/registrar.toml";
  spec.config_help = "registrar configuration (TOML)";
  spec.flags = [&](CLI::App& app) {
    app.add_flag("--no-migrate", no_migrate, "do not apply database migrations at start-up");
    app.add_option("--migrations", migrations, "directory of NNN_name.sql migrations");
  };
  spec.load = attest::registrar::LoadRegistrarConfig;
  spec.logging = Logging;
  spec.run = [&](RegistrarConfig config) {
    auto partitions = EvidencePartitions(config);
    if (!partitions) {
      spdlog::critical("registrar: refusing to start: {}", partitions.error().message);
      return service::kExitFailure;
    }
    if (!no_migrate) {
      auto report = attest::db::MigrateDatabase(config.db_conninfo, migrations);
      if (!report) {
        return service::Fail(kProgram, "migrations: " + report.error().ToString(),
                             service::kExitFailure);
      }
    }
    service::StopSignals signals;  // a dedicated wait; the main thread stops the server
    auto registrar = attest::registrar::Registrar::Create(std::move(config), *partitions);
    if (!registrar)
      return service::Fail(kProgram, registrar.error().ToString(), service::kExitUsage);
    if (auto r = (*registrar)->Start(); !r) {
      return service::Fail(kProgram, r.error().ToString(), service::kExitFailure);
    }
    signals.Wait();
    (*registrar)->Stop(std::chrono::seconds(10));
    return service::kExitStopped;
  };
  return service::RunMain(spec, argc, argv);
}
