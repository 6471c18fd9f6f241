// The `main` every service shares: command line, configuration, logging,
// libprotobuf's log lines, stop signals and the documented exit codes
//   0 stopped by SIGTERM/SIGINT (after draining), or --help
//   1 start-up or runtime failure
//   2 bad command line or configuration
// A service's main() names its flags, its config loader and what it runs:
//
//   return service::RunMain<GatewayConfig>(
//       {.program = "attest-gateway", .description = "...",
//        .default_config = "/etc/attest/gateway.toml", .config_help = "gateway configuration
//        (TOML)", .load = LoadGatewayConfig, .logging = [](const GatewayConfig& c) { return c.log;
//        }, .run = Run},
//       argc, argv);
//
// where Run(config) blocks the stop signals (StopSignals), starts the service
// and returns one of the codes above. SIGHUP is not handled (its default
// action ends the process), as before the shell.
//
// Thread-safety: for main() only. StopSignals must be made before the
// service starts threads (they inherit its signal mask).
#pragma once

#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "common/base/logging.h"
#include "common/base/result.h"

namespace attest::service {

inline constexpr int kExitStopped = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Writes "program: message" to stderr (for errors before, or instead of,
// logging) and returns `code`.
int Fail(std::string_view program, std::string_view message, int code);

// Parses the command line: nullopt to go on, else the exit code (0 after
// --help, 2 after an error; CLI11 printed the text).
std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv);

// libprotobuf writes an ERROR line to stderr for every body with, e.g., a
// malformed UTF-8 string; clients control that, so such lines go to debug
// (FATAL to critical).
void RouteProtobufLogs();

// SIGTERM and SIGINT, blocked in the constructing thread and in every thread
// it starts afterwards, so that only Wait() or the watcher thread takes them.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();  // StopWatching()
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // Blocks until a stop signal arrives; returns its number.
  int Wait();
  // Starts a thread that calls on_signal(sig) for the first stop signal
  // (for services whose main thread runs the service loop). Once only.
  void Watch(std::function<void(int sig)> on_signal);
  // Ends the watcher thread, if any, without calling its callback if no
  // signal came; call it before what the callback uses goes away. The
  // signals stay blocked.
  void StopWatching();

 private:
  sigset_t set_;
  std::thread watcher_;
  std::atomic<bool> closing_{false};
};

template <typename Config>
struct MainSpec {
  std::string program;         // "attest-gateway": the prefix of stderr lines
  std::string description;     // the --help title
  std::string default_config;  // --config's default path
  std::string config_help;     // --config's help text
  // Adds the service's other flags (may be empty); they are parsed before load.
  std::function<void(CLI::App& app)> flags;
  std::function<Result<Config>(const std::string& path)> load;
  std::function<LogOptions(const Config& config)> logging;
  // Runs the service with logging set up; returns the exit code.
  std::function<int(Config config)> run;
};

// Command line, configuration (error: exit 2), logging (error: exit 2),
// libprotobuf's logs, then spec.run.
template <typename Config>
int RunMain(const MainSpec<Config>& spec, int argc, char** argv) {
  CLI::App app{spec.description};
  std::string config_path = spec.default_config;
  app.add_option("--config", config_path, spec.config_help);
  if (spec.flags) spec.flags(app);
  if (auto rc = ParseCommandLine(app, argc, argv)) return *rc;
  auto config = spec.load(config_path);
  if (!config) return Fail(spec.program, config.error().ToString(), kExitUsage);
  if (auto r = InitLogging(spec.logging(*config)); !r) {
    return Fail(spec.program, r.error().ToString(), kExitUsage);
  }
  RouteProtobufLogs();
  return spec.run(std::move(config).value());
}

}  // namespace attest::service
