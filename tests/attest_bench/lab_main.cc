// attest_bench_lab: the measurement driver behind docs/attest-bench.md's
// figures (not a test). Starts the pipeline of pipeline.h on this machine
// (gateway, Kafka, PostgreSQL, 1..n workers), enrols --agents with
// `attest-bench enrol`, prints the database size per agent, then runs
// `attest-bench run` with the services' PIDs watched (the Kafka nodes' or the
// dev broker's too). Arguments after `--` go to `attest-bench run` as they are.
//
// Kafka: --kafka real (default; or ATTEST_BENCH_KAFKA=real|dev) starts a
// private Apache Kafka of --kafka-nodes (1 or 3) nodes with the pipeline's
// topics; --kafka dev the dev broker, to compare figures with it. On Apache
// Kafka the consumers keep librdkafka's fetch.wait.max.ms (a fetch returns as
// soon as data arrives; attest-bench run gets --fetch-wait-ms 500 unless
// given after `--`), on the dev broker 10 ms.
//
//   attest_bench_lab --agents 100000 --workers 2 -- --rate 10000 --duration 30
//   pg_virtualenv -t -o fsync=on sh -c 'attest_bench_lab --database
//     "host=$PGHOST port=$PGPORT user=$PGUSER password=$PGPASSWORD dbname=$PGDATABASE" ...'
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include <unistd.h>

#include "tests/attest_bench/pipeline.h"

namespace {

using namespace attest::bench::test;

pid_t ChildNamed(const std::string& comm) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::ifstream in(e.path() / "stat");
    std::string line;
    if (!std::getline(in, line)) continue;
    auto open = line.find('('), close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 1));
    std::string state;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid == getpid() && line.substr(open + 1, close - open - 1) == comm) {
      return static_cast<pid_t>(std::stol(e.path().filename().string()));
    }
  }
  return 0;
}

// The process listening on `port` (a Kafka node started detached by
// scripts/kafka.sh, not our child), or 0.
pid_t ListenerPid(const std::string& port) {
  std::string out;
  if (RunCommand({"ss", "-Hltnp", "sport = :" + port}, &out) != 0) return 0;
  const auto at = out.find("pid=");
  return at == std::string::npos ? 0 : static_cast<pid_t>(std::atol(out.c_str() + at + 4));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"attest-bench against a pipeline started on this machine"};
  PipelineOptions po;
  size_t agents = 1000;
  int interval = 10, keep_seconds = 0;
  bool settle = false;
  std::string ak = "ecc", state_file;
  const char* kafka_env = std::getenv("ATTEST_BENCH_KAFKA");
  std::string kafka = kafka_env && *kafka_env ? kafka_env : "real";
  std::vector<std::string> run_args;
  app.add_option("--agents", agents)->capture_default_str();
  app.add_option("--interval", interval)->capture_default_str();
  app.add_option("--ak", ak)->capture_default_str();
  app.add_option("--workers", po.workers)->capture_default_str();
  app.add_option("--gateway-io-threads", po.gateway_io_threads)->capture_default_str();
  app.add_option("--gateway-db-pool", po.gateway_db_pool)->capture_default_str();
  app.add_option("--verdict-encoding", po.verdict_encoding)->capture_default_str();
  app.add_option("--worker-fetch-wait-ms", po.worker_fetch_wait_ms,
                 "0: 10 on the dev broker, librdkafka's default on Apache Kafka")
      ->capture_default_str();
  app.add_option("--kafka", kafka, "real (Apache Kafka, private) or dev (the dev broker)")
      ->check(CLI::IsMember({"real", "dev"}))
      ->capture_default_str();
  app.add_option("--kafka-nodes", po.kafka_nodes, "Apache Kafka nodes")
      ->check(CLI::IsMember({1, 3}))
      ->capture_default_str();
  app.add_option("--evidence-partitions", po.evidence_partitions)->capture_default_str();
  app.add_option("--database", po.database, "existing database (durable); default: harness");
  app.add_option("--state-file", state_file, "keep the agents here (default: temp dir)");
  app.add_option("--keep", keep_seconds, "keep the pipeline up this long after the run (s)");
  app.add_flag("--settle", settle,
               "VACUUM ANALYZE and CHECKPOINT after enrolment, so that the run does not also pay "
               "for the bulk load's autovacuum and checkpoint");
  app.add_option("run_args", run_args, "arguments for attest-bench run");
  app.allow_extras(false);
  CLI11_PARSE(app, argc, argv);
  if (kafka != "real" && kafka != "dev") {
    std::cerr << "attest_bench_lab: ATTEST_BENCH_KAFKA must be real or dev\n";
    return 2;
  }
  po.kafka = kafka == "dev" ? PipelineKafka::kDev : PipelineKafka::kPrivate;

  try {
    Pipeline p(po);
    if (state_file.empty()) state_file = (p.dir() / "agents.state").string();
    std::string out;
    auto t0 = std::chrono::steady_clock::now();
    int rc = RunCommand(
        {ATTEST_BENCH_BINARY, "enrol", "--agents", std::to_string(agents), "--ak", ak,
         "--registrar", p.registrar_url(), "--admin-token-file", p.admin_token_file(), "--ca-file",
         p.ca_file(), "--state-file", state_file, "--interval", std::to_string(interval)},
        &out);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << out;
    if (rc != 0) {
      std::cerr << "enrol failed\n" << p.Logs();
      return 1;
    }
    std::cout << "enrol (keys + bulk requests + state file): " << agents << " agents in " << secs
              << " s\n";
    {
      pqxx::connection c(p.conninfo());
      pqxx::work tx(c);
      auto r = tx.exec1(
          "SELECT sum(pg_total_relation_size(c.oid))::bigint, "
          "  (SELECT count(*) FROM registrations) "
          "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
          "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')");
      double bytes = r[0].as<double>(), n = r[1].as<double>();
      std::cout << "database size after enrolment: " << bytes / 1e6 << " MB, "
                << (n > 0 ? bytes / n : 0) << " bytes per agent\n";
    }
    if (settle) {
      const auto t = std::chrono::steady_clock::now();
      pqxx::connection c(p.conninfo());
      pqxx::nontransaction tx(c);
      tx.exec0("VACUUM ANALYZE");
      tx.exec0("CHECKPOINT");
      std::cout << "settled (VACUUM ANALYZE, CHECKPOINT) in "
                << std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count()
                << " s\n";
    }
    std::vector<std::string> argv_run = {
        ATTEST_BENCH_BINARY, "run",
        "--state-file",      state_file,
        "--gateway",         p.gateway_url(),
        "--ca-file",         p.ca_file(),
        "--bootstrap",       p.bootstrap(),
        "--verdict-topic",   p.topics().verdicts,
        "--watch-pid",       "gateway=" + std::to_string(p.gateway_pid())};
    for (int i = 0; i < po.workers; ++i) {
      argv_run.push_back("--watch-pid");
      argv_run.push_back("worker" + std::to_string(i) + "=" + std::to_string(p.worker_pid(i)));
    }
    if (p.dev_broker()) {
      if (pid_t b = ChildNamed("attest-devbroke")) {
        argv_run.push_back("--watch-pid");
        argv_run.push_back("devbroker=" + std::to_string(b));
      }
    } else {
      // "127.0.0.1:port,..." in node order: kafka1, kafka2, ...
      std::istringstream nodes(p.bootstrap());
      std::string node;
      for (int id = 1; std::getline(nodes, node, ','); ++id) {
        const pid_t pid = ListenerPid(node.substr(node.rfind(':') + 1));
        if (pid == 0) {
          std::cerr << "attest_bench_lab: no process listens on " << node << "\n";
          continue;
        }
        argv_run.push_back("--watch-pid");
        argv_run.push_back("kafka" + std::to_string(id) + "=" + std::to_string(pid));
      }
      if (std::find(run_args.begin(), run_args.end(), "--fetch-wait-ms") == run_args.end()) {
        argv_run.push_back("--fetch-wait-ms");
        argv_run.push_back("500");
      }
    }
    if (pid_t pg = p.postgres_pid()) {
      argv_run.push_back("--watch-tree");
      argv_run.push_back("postgres=" + std::to_string(pg));
    }
    argv_run.insert(argv_run.end(), run_args.begin(), run_args.end());
    out.clear();
    rc = RunCommand(argv_run, &out);
    std::cout << out;
    {
      pqxx::connection c(p.conninfo());
      pqxx::work tx(c);
      auto r = tx.exec(
          "SELECT c.relname, pg_total_relation_size(c.oid)::bigint "
          "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
          "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') "
          "ORDER BY 2 DESC LIMIT 8");
      std::cout << "largest tables after the run:";
      for (const auto& row : r) {
        std::cout << " " << row[0].as<std::string>() << " " << row[1].as<double>() / 1e6 << " MB;";
      }
      std::cout << "\n";
    }
    if (rc != 0) std::cerr << p.Logs();
    if (keep_seconds > 0) std::this_thread::sleep_for(std::chrono::seconds(keep_seconds));
    return rc;
  } catch (const std::exception& e) {
    std::cerr << "attest_bench_lab: " << e.what() << "\n";
    return 1;
  }
}
