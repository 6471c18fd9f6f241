#include "common/service/main_shell.h"

#include <google/protobuf/stubs/logging.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <cstdio>

namespace attest::service {
namespace {

void ProtobufLog(google::protobuf::LogLevel level, const char* file, int line,
                 const std::string& message) {
  if (level >= google::protobuf::LOGLEVEL_FATAL) {
    spdlog::critical("protobuf {}:{}: {}", file, line, message);
  } else {
    spdlog::debug("protobuf {}:{}: {}", file, line, message);
  }
}

}  // namespace

int Fail(std::string_view program, std::string_view message, int code) {
  std::fprintf(stderr, "%.*s: %.*s\n", static_cast<int>(program.size()), program.data(),
               static_cast<int>(message.size()), message.data());
  return code;
}

std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  return std::nullopt;
}

void RouteProtobufLogs() { google::protobuf::SetLogHandler(&ProtobufLog); }

StopSignals::StopSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

StopSignals::~StopSignals() { StopWatching(); }

void StopSignals::StopWatching() {
  if (!watcher_.joinable()) return;
  // Wake the watcher if no signal came (the signal is blocked, so it only
  // ends its sigwait).
  closing_.store(true);
  pthread_kill(watcher_.native_handle(), SIGTERM);
  watcher_.join();
}

int StopSignals::Wait() {
  int sig = 0;
  sigwait(&set_, &sig);
  return sig;
}

void StopSignals::Watch(std::function<void(int sig)> on_signal) {
  watcher_ = std::thread([this, on_signal = std::move(on_signal)] {
    const int sig = Wait();
    if (!closing_.load()) on_signal(sig);
  });
}

}  // namespace attest::service
