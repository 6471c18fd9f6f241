// attest-agent: the push attestation agent (see agent/agent.h).
// Exit codes: 0 stopped by SIGTERM/SIGINT or --once done, 1 runtime failure
// (--once: fewer than verification_duplication blocks attested), 2 bad
// command line or configuration. `--status` prints the running agent's
// status file and exits 0 when verification_duplication blocks are serving,
// 1 when fewer are, 2 when there is no status to read.
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <stop_token>
#include <thread>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/status.h"
#include "common/base/clock.h"
#include "common/base/logging.h"

int main(int argc, char** argv) {
  CLI::App app{"attest-agent: TPM push attestation agent"};
  std::string config_path = "/etc/attest/agent.toml";
  std::string log_format = "human";
  std::string log_level = "info";
  bool once = false;
  bool status = false;
  app.add_option("--config", config_path, "agent configuration (TOML)");
  app.add_flag("--once", once,
               "register if needed, attest once to verification_duplication blocks, then exit");
  app.add_flag("--status", status,
               "print which blocks the running agent uses and why (its state_dir/status.json)");
  app.add_option("--log-format", log_format, "human | json")
      ->check(CLI::IsMember({"human", "json"}));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  attest::LogOptions log;
  log.format =
      log_format == "json" ? attest::LogOptions::Format::kJson : attest::LogOptions::Format::kHuman;
  log.level = log_level;
  log.component = "agent";
  if (auto r = attest::InitLogging(log); !r) {
    std::fprintf(stderr, "attest-agent: %s\n", r.error().message.c_str());
    return 2;
  }

  auto config = attest::agent::LoadAgentConfig(config_path);
  if (!config) {
    std::fprintf(stderr, "attest-agent: %s\n", config.error().message.c_str());
    return 2;
  }

  if (status) {
    auto s = attest::agent::ReadStatus(config->state_dir);
    if (!s) {
      std::fprintf(stderr, "attest-agent: %s\n", s.error().message.c_str());
      return 2;
    }
    std::fputs(attest::agent::FormatStatus(*s).c_str(), stdout);
    return s->Serving() >= s->verification_duplication ? 0 : 1;
  }

  // SIGTERM/SIGINT are handled by a thread that requests a stop; the agent
  // finishes the request in flight and returns.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::stop_source stop;
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    stop.request_stop();
  });
  int rc = 0;
  attest::SystemClock clock;  // the one clock of the agent (agent/agent.h)
  auto agent = attest::agent::Agent::Create(std::move(config).value(), clock);
  if (!agent) {
    std::fprintf(stderr, "attest-agent: %s\n", agent.error().message.c_str());
    rc = 1;
  } else {
    auto run = (*agent)->Run(stop.get_token(), attest::agent::RunOptions{.once = once});
    if (!run) {
      std::fprintf(stderr, "attest-agent: %s\n", run.error().message.c_str());
      rc = 1;
    }
  }
  // Wake the signal thread if no signal came (the signal stays blocked here).
  if (!stop.stop_requested()) pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  return rc;
}
