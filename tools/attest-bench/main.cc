// attest-bench: load generator for the attestation pipeline (see
// docs/attest-bench.md). Subcommands: enrol (bulk-enrol simulated agents),
// run (drive the protocol and measure end-to-end latency).
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "tools/attest-bench/enrol.h"
#include "tools/attest-bench/run.h"

namespace {

using namespace attest::bench;

int WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text << "\n";
  out.close();
  if (!out) {
    std::cerr << "attest-bench: cannot write " << path << "\n";
    return 1;
  }
  return 0;
}

struct EnrolFlags {
  EnrolOptions eo;
  std::string ak = "ecc";
  std::string json;  // --json: where to write the figures
};

struct RunFlags {
  RunOptions ro;
  double duration_s = 10, drain_s = 30, verdict_timeout_s = 30, request_timeout_s = 30;
  std::vector<std::string> watch, watch_tree;  // name=PID
  std::string json;                            // --json: where to write the results
};

CLI::App* AddEnrol(CLI::App& app, EnrolFlags& f) {
  auto* enrol = app.add_subcommand("enrol", "register and enrol simulated agents in bulk");
  enrol->add_option("--agents", f.eo.agents, "number of agents")->required();
  enrol->add_option("--registrar", f.eo.registrar_url, "https://host:port")->required();
  enrol->add_option("--admin-token-file", f.eo.admin_token_file, "registrar admin bearer token")
      ->required();
  enrol->add_option("--ca-file", f.eo.ca_file, "PEM CA of the registrar's certificate");
  enrol->add_option("--ak", f.ak, "rsa | ecc | mix")
      ->check(CLI::IsMember({"rsa", "ecc", "mix"}))
      ->capture_default_str();
  enrol->add_option("--rsa-keys", f.eo.rsa_keys, "distinct RSA AKs at most (shared beyond)")
      ->capture_default_str();
  enrol->add_option("--state-file", f.eo.state_file, "where to write the agents")->required();
  enrol->add_option("--interval", f.eo.interval_seconds, "attestation interval (s)")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  enrol->add_option("--grace-factor", f.eo.grace_factor, "OFFLINE after interval x this")
      ->check(CLI::Range(1.0, 1000.0))
      ->capture_default_str();
  enrol->add_option("--ima-pool", f.eo.ima_pool, "distinct simulated IMA entries")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  enrol->add_option("--batch", f.eo.batch, "agents per bulk request")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  enrol->add_option("--parallel", f.eo.parallel, "bulk requests in flight")->capture_default_str();
  enrol->add_option("--keygen-threads", f.eo.keygen_threads, "0: one per core");
  enrol->add_option("--policy-name", f.eo.policy_name, "name of the shared runtime policy");
  enrol->add_option("--json", f.json, "write the enrolment figures as JSON");

  return enrol;
}

CLI::App* AddRun(CLI::App& app, RunFlags& f) {
  auto* run = app.add_subcommand("run", "run the attestation protocol and measure");
  run->add_option("--state-file", f.ro.state_file, "agents made by enrol")->required();
  run->add_option("--gateway", f.ro.gateways, "https://host:port (repeatable)")->required();
  run->add_option("--ca-file", f.ro.ca_file, "PEM CA of the gateways' certificates");
  run->add_option("--bootstrap", f.ro.bootstrap, "Kafka bootstrap servers (verdicts)")->required();
  run->add_option("--verdict-topic", f.ro.verdict_topic)->capture_default_str();
  run->add_option("--fetch-wait-ms", f.ro.fetch_wait_ms, "verdict consumer fetch.wait.max.ms")
      ->capture_default_str();
  auto* rate = run->add_option("--rate", f.ro.rate, "attestation rounds started per second");
  auto* flat = run->add_flag("--flat-out", f.ro.flat_out, "no rate limit");
  rate->excludes(flat);
  run->add_option("--duration", f.duration_s, "load phase (s)")->capture_default_str();
  run->add_option("--connections", f.ro.connections, "keep-alive connections")
      ->capture_default_str();
  run->add_option("--threads", f.ro.threads, "I/O threads")->capture_default_str();
  run->add_option("--ima-entries-per-round", f.ro.ima_entries_per_round,
                  "IMA entries each agent adds per round")
      ->capture_default_str();
  run->add_option("--drain-timeout", f.drain_s, "wait for outstanding verdicts (s)")
      ->capture_default_str();
  run->add_option("--verdict-timeout", f.verdict_timeout_s,
                  "an agent without its verdict starts a new round after this (s)")
      ->capture_default_str();
  run->add_option("--request-timeout", f.request_timeout_s, "per HTTP request (s)")
      ->capture_default_str();
  run->add_option("--max-retries", f.ro.max_retries, "evidence retries after 429/503/errors")
      ->capture_default_str();
  run->add_option("--agents", f.ro.max_agents, "use the first N agents of the state (0: all)");
  run->add_option("--watch-pid", f.watch, "name=PID of a service to report CPU/RSS of");
  run->add_option("--watch-tree", f.watch_tree,
                  "name=PID of a service whose descendants count too (postgres)");
  run->add_option("--json", f.json, "write the results as JSON");

  return run;
}

int Enrol(EnrolFlags& f) {
  f.eo.ak = f.ak == "rsa" ? AkMode::kRsa : f.ak == "mix" ? AkMode::kMix : AkMode::kEcc;
  auto r = RunEnrol(f.eo);
  if (!r) {
    std::cerr << "attest-bench enrol: " << r.error().message << "\n";
    return 1;
  }
  std::cout << EnrolReportJson(*r) << "\n";
  return f.json.empty() ? 0 : WriteFile(f.json, EnrolReportJson(*r));
}

int Run(RunFlags& f) {
  for (auto [list, into] :
       {std::pair{&f.watch, &f.ro.watch}, std::pair{&f.watch_tree, &f.ro.watch_tree}}) {
    for (const auto& w : *list) {
      auto eq = w.find('=');
      int pid = 0;
      try {
        pid = eq == std::string::npos ? 0 : std::stoi(w.substr(eq + 1));
      } catch (const std::exception&) {
      }
      if (pid <= 0) {
        std::cerr << "attest-bench: --watch-pid/--watch-tree expect name=PID, got " << w << "\n";
        return 2;
      }
      into->emplace_back(w.substr(0, eq), pid);
    }
  }
  auto ms = [](double s) { return std::chrono::milliseconds(static_cast<int64_t>(s * 1000)); };
  f.ro.duration = ms(f.duration_s);
  f.ro.drain_timeout = ms(f.drain_s);
  f.ro.verdict_timeout = ms(f.verdict_timeout_s);
  f.ro.request_timeout = ms(f.request_timeout_s);
  auto r = RunBench(f.ro);
  if (!r) {
    std::cerr << "attest-bench run: " << r.error().message << "\n";
    return 1;
  }
  std::cout << RunReportText(*r);
  return f.json.empty() ? 0 : WriteFile(f.json, RunReportJson(*r, f.ro));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"attest-bench: simulated agents against the attestation pipeline"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")->capture_default_str();
  EnrolFlags enrol_flags;
  CLI::App* enrol = AddEnrol(app, enrol_flags);
  RunFlags run_flags;
  AddRun(app, run_flags);
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(log_level));
  if (enrol->parsed()) return Enrol(enrol_flags);
  return Run(run_flags);
}
