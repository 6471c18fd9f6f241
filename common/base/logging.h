// Process-wide logging set-up on top of spdlog. Called once from main() with
// the values of the component's config; libraries only call spdlog::info()
// etc. Human format for terminals, JSON lines for log shippers.
#pragma once

#include <string>

#include "common/base/result.h"

namespace attest {

struct LogOptions {
  enum class Format { kHuman, kJson };
  Format format = Format::kHuman;
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
  std::string file;            // empty: stderr
  std::string component;       // logger name, e.g. "worker"
};

// Parses "human"/"json".
Result<LogOptions::Format> ParseLogFormat(const std::string& text);

// Installs the default logger. Safe to call again (replaces the logger).
Result<void> InitLogging(const LogOptions& options);

// Escapes text for a JSON string body (no surrounding quotes).
std::string JsonEscape(std::string_view text);

}  // namespace attest
