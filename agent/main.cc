// attest-agent: the push attestation agent (see agent/agent.h).
// Exit codes: 0 stopped by SIGTERM/SIGINT or --once done, 1 runtime failure
// (--once: fewer than verification_duplication blocks attested), 2 bad
// command line or configuration. `--status` prints the running agent's
// status file and exits 0 when verification_duplication blocks are serving,
// 1 when fewer are, 2 when there is no status to read.
#include <cstdio>
#include <stop_token>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/status.h"
#include "common/base/clock.h"
#include "common/service/main_shell.h"

namespace {

using attest::agent::AgentConfig;
namespace service = attest::service;

constexpr char kProgram[] = "attest-agent";

struct Flags {
  std::string log_format = "human";
  std::string log_level = "info";
  bool once = false;
  bool status = false;
};

void AddFlags(CLI::App& app, Flags& f) {
  app.add_flag("--once", f.once,
               "register if needed, attest once to verification_duplication blocks, then exit");
  app.add_flag("--status", f.status,
               "print which blocks the running agent uses and why (its state_dir/status.json)");
  app.add_option("--log-format", f.log_format, "human | json")
      ->check(CLI::IsMember({"human", "json"}));
  app.add_option("--log-level", f.log_level, "trace, debug, info, warn, error, critical, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
}

// --status: 0 when verification_duplication blocks are serving, 1 when fewer
// are, 2 when there is no status to read.
int PrintStatus(const AgentConfig& config) {
  auto s = attest::agent::ReadStatus(config.state_dir);
  if (!s) return service::Fail(kProgram, s.error().message, service::kExitUsage);
  std::fputs(attest::agent::FormatStatus(*s).c_str(), stdout);
  return s->Serving() >= s->verification_duplication ? 0 : 1;
}

int Run(AgentConfig config, const Flags& flags) {
  if (flags.status) return PrintStatus(config);
  // SIGTERM/SIGINT are handled by a thread that requests a stop; the agent
  // finishes the request in flight and returns.
  std::stop_source stop;
  service::StopSignals signals;
  signals.Watch([&stop](int) { stop.request_stop(); });
  int rc = service::kExitStopped;
  attest::SystemClock clock;  // the one clock of the agent (agent/agent.h)
  auto agent = attest::agent::Agent::Create(std::move(config), clock);
  if (!agent) {
    rc = service::Fail(kProgram, agent.error().message, service::kExitFailure);
  } else {
    auto run = (*agent)->Run(stop.get_token(), attest::agent::RunOptions{.once = flags.once});
    if (!run) rc = service::Fail(kProgram, run.error().message, service::kExitFailure);
  }
  signals.StopWatching();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  service::MainSpec<AgentConfig> spec;
  spec.program = kProgram;
  spec.description = "attest-agent: TPM push attestation agent";
  spec.default_config = "/etc/attest/agent.toml";
  spec.config_help = "agent configuration (TOML)";
  spec.flags = [&flags](CLI::App& app) { AddFlags(app, flags); };
  spec.load = attest::agent::LoadAgentConfig;
  spec.logging = [&flags](const AgentConfig&) {
    attest::LogOptions log;  // from the command line: the agent's config has no [log]
    log.format = flags.log_format == "json" ? attest::LogOptions::Format::kJson
                                            : attest::LogOptions::Format::kHuman;
    log.level = flags.log_level;
    log.component = "agent";
    return log;
  };
  spec.run = [&flags](AgentConfig config) { return Run(std::move(config), flags); };
  return service::RunMain(spec, argc, argv);
}
