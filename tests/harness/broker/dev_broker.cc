#include "tests/harness/broker/dev_broker.h"

#include <signal.h>

#include <filesystem>
#include <stdexcept>

namespace attest::testing {

DevBroker::DevBroker(DevBrokerOptions options) : options_(std::move(options)) { Start(); }

DevBroker::~DevBroker() { Stop(); }

std::string DevBroker::BinaryPath() { return ATTEST_DEVBROKER_BINARY; }

bool DevBroker::Running() const { return process_ && process_->pid() > 0; }

void DevBroker::Start() {
  if (process_ && process_->Running()) return;
  ++starts_;
  const auto file = dir_.path() / ("bootstrap-" + std::to_string(starts_) + ".txt");
  std::vector<std::string> argv = {BinaryPath(),
                                   "--brokers",
                                   std::to_string(options_.brokers),
                                   "--partitions",
                                   std::to_string(options_.partitions),
                                   "--bootstrap-file",
                                   file.string()};
  for (const auto& t : options_.topics) {
    argv.push_back("--topic");
    argv.push_back(t);
  }
  process_ = std::make_unique<Subprocess>(argv, (dir_.path() / "devbroker.log").string());
  const bool ready = WaitFor([&] { return std::filesystem::exists(file) || !process_->Running(); },
                             std::chrono::seconds(20));
  if (!ready || !std::filesystem::exists(file)) {
    std::string log = Log();
    process_.reset();
    throw std::runtime_error("attest-devbroker did not start: " + log);
  }
  bootstrap_ = ReadFile(file);
  while (!bootstrap_.empty() && (bootstrap_.back() == '\n' || bootstrap_.back() == '\r')) {
    bootstrap_.pop_back();
  }
}

void DevBroker::Stop() {
  if (!process_) return;
  process_->Stop(SIGTERM, std::chrono::seconds(10));
  process_.reset();
}

void DevBroker::Signal(int sig) {
  if (!process_ || process_->pid() <= 0) throw std::runtime_error("DevBroker: not running");
  ::kill(process_->pid(), sig);
}

void DevBroker::BrokersDown() { Signal(SIGUSR1); }
void DevBroker::BrokersUp() { Signal(SIGUSR2); }

std::string DevBroker::Log() const {
  try {
    return ReadFile(dir_.path() / "devbroker.log");
  } catch (const std::exception&) {
    return "";
  }
}

}  // namespace attest::testing
