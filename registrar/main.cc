// attest-registrar: agent registration/activation and the operators'
// control-plane API (see registrar/registrar.h, docs/registrar.md).
// Exit codes: 0 stopped by SIGTERM/SIGINT, 1 runtime failure (also: Kafka did
// not answer within kafka.startup_timeout_ms, the evidence topic is missing,
// or its partition count differs from kafka.evidence_partitions), 2 bad
// command line or configuration.
#include <pthread.h>
#include <signal.h>

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>

#include "common/base/logging.h"
#include "common/db/connection.h"
#include "common/db/migrations.h"
#include "common/kafka/topics.h"
#include "registrar/config.h"
#include "registrar/registrar.h"

int main(int argc, char** argv) {
  // libtss2-mu logs parse errors of (attacker-controlled) TPM structures;
  // silence it before any tss2 call. The registrar reports its own errors.
  setenv("TSS2_LOG", "all+NONE", 1);

  CLI::App app{"attest-registrar: TPM agent registration and control-plane API"};
  std::string config_path = "/etc/attest/registrar.toml";
  std::string migrations = ATTEST_DEFAULT_MIGRATIONS_DIR;
  bool no_migrate = false;
  app.add_option("--config", config_path, "registrar configuration (TOML)");
  app.add_flag("--no-migrate", no_migrate, "do not apply database migrations at start-up");
  app.add_option("--migrations", migrations, "directory of NNN_name.sql migrations");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  auto config = attest::registrar::LoadRegistrarConfig(config_path);
  if (!config) {
    std::fprintf(stderr, "attest-registrar: %s\n", config.error().ToString().c_str());
    return 2;
  }
  attest::LogOptions log;
  log.format = config->log_format == "json" ? attest::LogOptions::Format::kJson
                                            : attest::LogOptions::Format::kHuman;
  log.level = config->log_level;
  log.component = "registrar";
  if (auto r = attest::InitLogging(log); !r) {
    std::fprintf(stderr, "attest-registrar: %s\n", r.error().ToString().c_str());
    return 2;
  }

  // enrolments.partition = PartitionFor(uuid, n) must use the evidence
  // topic's real count n, or the workers' liveness timers (per partition)
  // would watch agents on the wrong partitions: read it from the cluster.
  attest::kafka::StartupCheck check;
  check.service = "registrar";
  check.admin.bootstrap_servers = config->kafka_bootstrap;
  check.admin.client_id = "attest-registrar";
  check.admin.extra = config->kafka_properties;
  check.timeout = config->kafka_startup_timeout;
  check.needs = [topic = config->kafka_evidence_topic](int32_t) {
    attest::kafka::TopicRequirement need;  // exists, with any count; configs are the writers'
    need.name = topic;
    need.check_configs = false;
    return std::vector<attest::kafka::TopicRequirement>{need};
  };
  auto cluster = attest::kafka::CheckTopicsAtStart(check);
  if (!cluster) {
    spdlog::critical("registrar: refusing to start: {}", cluster.error().message);
    return 1;
  }
  const int32_t partitions = cluster->topics.at(0).partitions;
  if (config->expected_evidence_partitions > 0 &&
      config->expected_evidence_partitions != partitions) {
    spdlog::critical(
        "registrar: refusing to start: kafka.evidence_partitions is {} but topic {} has {} "
        "partitions; remove the key (the count is read from Kafka) or correct it",
        config->expected_evidence_partitions, config->kafka_evidence_topic, partitions);
    return 1;
  }
  spdlog::info("registrar: evidence topic {} has {} partitions", config->kafka_evidence_topic,
               partitions);

  if (!no_migrate) {
    auto report = attest::db::MigrateDatabase(config->db_conninfo, migrations);
    if (!report) {
      std::fprintf(stderr, "attest-registrar: migrations: %s\n", report.error().ToString().c_str());
      return 1;
    }
  }

  // Signals go to a dedicated thread; the main thread stops the server.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto registrar = attest::registrar::Registrar::Create(std::move(config).value(), partitions);
  if (!registrar) {
    std::fprintf(stderr, "attest-registrar: %s\n", registrar.error().ToString().c_str());
    return 2;
  }
  if (auto r = (*registrar)->Start(); !r) {
    std::fprintf(stderr, "attest-registrar: %s\n", r.error().ToString().c_str());
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  (*registrar)->Stop(std::chrono::seconds(10));
  return 0;
}
