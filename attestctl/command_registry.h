// Self-registering subcommands of attestctl. Each cmd_*.cc file defines a
// static CommandRegistration that adds its subcommands to the root app, so
// command groups can be added without editing a central list.
//
// Exit codes shared by every command: 0 pass/success, 1 verification failed,
// 2 usage or input error.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace attest::ctl {

inline constexpr int kExitPass = 0;
inline constexpr int kExitFail = 1;
inline constexpr int kExitUsage = 2;

// Thrown by a command to exit with a message on stderr and a code (usually
// kExitUsage for unreadable or malformed input).
struct CommandError {
  int exit_code;
  std::string message;
};

using Registrar = std::function<void(CLI::App& root)>;

struct CommandRegistration {
  explicit CommandRegistration(Registrar r);
};

std::vector<Registrar>& Registrations();

// Finds the subcommand `name` of `parent`, adding it when absent, so two files
// can contribute to one group (e.g. "policy").
CLI::App& Group(CLI::App& parent, const std::string& name, const std::string& description);

// Set by a command's callback; main() returns it.
void SetExitCode(int code);
int ExitCode();

}  // namespace attest::ctl
