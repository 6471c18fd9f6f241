// A whole pipeline on loopback for attest-bench's tests and measurements:
// PostgreSQL (harness, migrated), Kafka, attest-registrar, attest-gateway and
// `workers` attest-worker processes, as real binaries with TOML configurations
// in a temp dir, TLS from a test CA. Kafka is the run's shared Apache Kafka
// with this pipeline's own topics (tests), a private Apache Kafka cluster
// (measurements), or the dev broker (to compare figures with it). Everything
// it started is stopped in the destructor, also when a test fails.
//
// Thread-safety: none; use from the test thread.
#pragma once

#include <fstream>
#include <memory>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <vector>

#include "common/db/migrations.h"
#include "tests/harness/broker/dev_broker.h"
#include "tests/harness/kafka/kafka_cluster.h"
#include "tests/harness/pki/pki.h"
#include "tests/harness/postgres/postgres_server.h"
#include "tests/harness/util/process.h"

namespace attest::bench::test {

namespace fs = std::filesystem;
using attest::testing::FreePort;
using attest::testing::RunCommand;
using attest::testing::Subprocess;

enum class PipelineKafka {
  kShared,   // the run's Apache Kafka (KafkaCluster::Shared()), unique topics
  kPrivate,  // an Apache Kafka cluster of `kafka_nodes` started for this pipeline
  kDev,      // the dev broker (librdkafka's mock cluster), default topic names
};

struct PipelineOptions {
  int workers = 1;
  std::string verdict_encoding = "protobuf";
  int gateway_io_threads = 1;
  int gateway_db_pool = 2;
  PipelineKafka kafka = PipelineKafka::kShared;
  int kafka_nodes = 1;  // kPrivate: 1 or 3
  int evidence_partitions = 12;
  // The workers' fetch.wait.max.ms; 0: 10 on the dev broker, which answers a
  // fetch only after this wait (librdkafka's 500 ms default would be 0.5 s of
  // latency per hop), and librdkafka's default on Apache Kafka, which answers
  // as soon as data arrives.
  int worker_fetch_wait_ms = 0;
  // Empty: a harness PostgreSQL (fsync off). Else an existing database (e.g.
  // from `pg_virtualenv -o fsync=on` for durable commits), migrated here.
  std::string database;
  // Pipelines that stand for separate backends in one test give each its own
  // id and token key, so a token of one is refused by another's gateway.
  std::string gateway_id = "gw-test";
  std::string token_key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
};

class Pipeline {
 public:
  explicit Pipeline(PipelineOptions options = {}) : options_(options) {
    const fs::path d = dir_.path();
    StartKafka();
    pki_ = std::make_unique<attest::testing::TestPki>(d);
    auto server = pki_->IssueServer("localhost");
    Write(d / "token.key", options_.token_key + "\n");
    Write(d / "admin.token", "bench-admin-token-0123456789abcdef\n");
    std::string out;
    if (RunCommand({"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", (d / "revocation.pem").string()},
                   &out) != 0) {
      throw std::runtime_error("openssl genpkey: " + out);
    }
    if (options_.database.empty()) {
      pg_ = std::make_unique<attest::testing::PostgresServer>();
      conninfo_ = pg_->CreateDatabase("attest");
      pg_->Migrate(conninfo_);
    } else {
      conninfo_ = options_.database;
      auto m = db::MigrateDatabase(conninfo_, attest::testing::SourceMigrationsDir());
      if (!m) throw std::runtime_error("migrate: " + m.error().message);
    }

    registrar_port_ = FreePort();
    Write(d / "registrar.toml",
          "[server]\nlisten = \"127.0.0.1\"\nport = " + std::to_string(registrar_port_) +
              "\ncert = \"" + server.cert.string() + "\"\nkey = \"" + server.key.string() +
              "\"\nio_threads = 1\n[database]\nconninfo = \"" + conninfo_ +
              "\"\npool_size = 2\n[ek]\nrequire_cert = false\n[admin]\nbulk_enrolment = true\n"
              "token_file = \"" +
              (d / "admin.token").string() + "\"\n[kafka]\nbootstrap_servers = \"" + bootstrap_ +
              "\"\nevidence_topic = \"" + topics_.evidence +
              "\"\nevidence_partitions = " + std::to_string(options_.evidence_partitions) + "\n");
    StartRegistrarProcess();

    gateway_port_ = FreePort();
    Write(d / "gateway.toml",
          "gateway_id = \"" + options_.gateway_id + "\"\n[server]\nlisten = \"127.0.0.1:" +
              std::to_string(gateway_port_) + "\"\ncert_file = \"" + server.cert.string() +
              "\"\nkey_file = \"" + server.key.string() + "\"\nio_threads = " +
              std::to_string(options_.gateway_io_threads) + "\n[token]\nkey_files = [\"" +
              (d / "token.key").string() + "\"]\n[database]\nconninfo = \"" + conninfo_ +
              "\"\npool_size = " + std::to_string(options_.gateway_db_pool) +
              "\n[kafka]\nbootstrap_servers = \"" + bootstrap_ + "\"\ntopic = \"" +
              topics_.evidence + "\"\n[challenge]\nmin_interval_fraction = 0.8\n");
    StartGatewayProcess();

    for (int i = 0; i < options_.workers; ++i) StartWorker(i);
    if (!attest::testing::WaitFor(
            [&] {
              return attest::testing::PortOpen(registrar_port_) &&
                     attest::testing::PortOpen(gateway_port_);
            },
            std::chrono::seconds(30))) {
      throw std::runtime_error("registrar/gateway did not listen:\n" + Logs());
    }
  }

  void StartWorker(int i) {
    const fs::path d = dir_.path();
    const fs::path cfg = d / ("worker-" + std::to_string(i) + ".toml");
    int fetch_wait = options_.worker_fetch_wait_ms;
    if (fetch_wait == 0 && options_.kafka == PipelineKafka::kDev) fetch_wait = 10;
    const std::string properties =
        fetch_wait > 0 ? "properties = [\"fetch.wait.max.ms=" + std::to_string(fetch_wait) + "\"]\n"
                       : "";
    Write(cfg, "worker_id = \"w" + std::to_string(i) + "\"\n[kafka]\nbootstrap_servers = \"" +
                   bootstrap_ + "\"\nevidence_topic = \"" + topics_.evidence +
                   "\"\nverdict_topic = \"" + topics_.verdicts + "\"\nrevocation_topic = \"" +
                   topics_.revocations + "\"\nsession_timeout_ms = 6000\n" + properties +
                   "[database]\nconninfo = \"" + conninfo_ +
                   "\"\npool_size = 3\n[token]\nkey_files = [\"" + (d / "token.key").string() +
                   "\"]\n[revocation]\nsigning_key_file = \"" + (d / "revocation.pem").string() +
                   "\"\nkey_id = \"test\"\n[output]\nencoding = \"" + options_.verdict_encoding +
                   "\"\n[liveness]\nsweep_period_ms = 1000\n[metrics]\nlisten = \"\"\n");
    workers_.push_back(std::make_unique<Subprocess>(
        std::vector<std::string>{ATTEST_WORKER_BINARY, "--config", cfg.string()},
        (d / ("worker-" + std::to_string(i) + ".log")).string()));
  }

  std::string registrar_url() const {
    return "https://localhost:" + std::to_string(registrar_port_);
  }
  std::string gateway_url() const { return "https://localhost:" + std::to_string(gateway_port_); }
  std::string ca_file() const { return pki_->ca_cert().string(); }
  std::string admin_token_file() const { return (dir_.path() / "admin.token").string(); }
  const std::string& bootstrap() const { return bootstrap_; }
  const attest::testing::PipelineTopics& topics() const { return topics_; }
  // The Apache Kafka cluster (null on the dev broker) / the dev broker (null
  // on Apache Kafka).
  attest::testing::KafkaCluster* kafka() const { return kafka_; }
  attest::testing::DevBroker* dev_broker() const { return dev_.get(); }
  const std::string& conninfo() const { return conninfo_; }
  const fs::path& dir() const { return dir_.path(); }
  pid_t gateway_pid() const { return gateway_->pid(); }
  pid_t registrar_pid() const { return registrar_->pid(); }

  // A front end down (SIGTERM, waits for the exit) and back on the same port
  // and configuration (waits until it listens); the logs are appended to.
  // gateway_pid() and registrar_pid() need the process started.
  void StopRegistrar() { registrar_.reset(); }
  void StopGateway() { gateway_.reset(); }
  void StartRegistrar() {
    StartRegistrarProcess();
    WaitListening(registrar_port_, "registrar");
  }
  void StartGateway() {
    StartGatewayProcess();
    WaitListening(gateway_port_, "gateway");
  }
  pid_t worker_pid(size_t i) const { return workers_.at(i)->pid(); }
  // The postmaster's PID: the parent of a backend of ours.
  pid_t postgres_pid() const {
    pqxx::connection c(conninfo_);
    pqxx::work tx(c);
    int backend = tx.exec1("SELECT pg_backend_pid()")[0].as<int>();
    std::ifstream in("/proc/" + std::to_string(backend) + "/stat");
    std::string line;
    std::getline(in, line);
    auto close = line.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream rest(line.substr(close + 1));
    std::string state;
    int ppid = 0;
    rest >> state >> ppid;
    return ppid;
  }
  attest::testing::PostgresServer* postgres() { return pg_.get(); }

  std::string Logs() const {
    std::string out;
    for (const char* f : {"registrar.log", "gateway.log", "worker-0.log"}) {
      std::ifstream in(dir_.path() / f);
      std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (s.size() > 4000) s = s.substr(s.size() - 4000);
      out += std::string("--- ") + f + "\n" + s;
    }
    return out;
  }

 private:
  static void Write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

  void StartRegistrarProcess() {
    const fs::path d = dir_.path();
    registrar_ = std::make_unique<Subprocess>(
        std::vector<std::string>{ATTEST_REGISTRAR_BINARY, "--config",
                                 (d / "registrar.toml").string(), "--no-migrate"},
        (d / "registrar.log").string());
  }
  void StartGatewayProcess() {
    const fs::path d = dir_.path();
    gateway_ = std::make_unique<Subprocess>(
        std::vector<std::string>{ATTEST_GATEWAY_BINARY, "--config", (d / "gateway.toml").string()},
        (d / "gateway.log").string());
  }
  void WaitListening(int port, const std::string& what) {
    if (!attest::testing::WaitFor([&] { return attest::testing::PortOpen(port); },
                                  std::chrono::seconds(30))) {
      throw std::runtime_error(what + " did not listen again:\n" + Logs());
    }
  }

  void StartKafka() {
    switch (options_.kafka) {
      case PipelineKafka::kDev:
        dev_ = std::make_unique<attest::testing::DevBroker>(attest::testing::DevBrokerOptions{
            .brokers = 1, .partitions = options_.evidence_partitions, .topics = {}});
        bootstrap_ = dev_->bootstrap();
        topics_ = {"attestation.evidence", "attestation.verdicts", "attestation.revocations"};
        return;
      case PipelineKafka::kPrivate:
        own_kafka_ = std::make_unique<attest::testing::KafkaCluster>(
            attest::testing::KafkaClusterOptions{.nodes = options_.kafka_nodes});
        kafka_ = own_kafka_.get();
        break;
      case PipelineKafka::kShared:
        kafka_ = &attest::testing::KafkaCluster::Shared();
        break;
    }
    bootstrap_ = kafka_->bootstrap();
    topics_ = attest::testing::CreatePipelineTopics(*kafka_, options_.evidence_partitions);
  }

  PipelineOptions options_;
  attest::testing::TempDir dir_{"attest-bench-test"};
  std::unique_ptr<attest::testing::TestPki> pki_;
  std::unique_ptr<attest::testing::PostgresServer> pg_;
  std::unique_ptr<attest::testing::DevBroker> dev_;
  std::unique_ptr<attest::testing::KafkaCluster> own_kafka_;
  attest::testing::KafkaCluster* kafka_ = nullptr;
  std::string bootstrap_;
  attest::testing::PipelineTopics topics_;
  std::string conninfo_;
  int registrar_port_ = 0, gateway_port_ = 0;
  // Declared last: stopped first (before the broker and the database).
  std::unique_ptr<Subprocess> registrar_, gateway_;
  std::vector<std::unique_ptr<Subprocess>> workers_;
};

}  // namespace attest::bench::test
