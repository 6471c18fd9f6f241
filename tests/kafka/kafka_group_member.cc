// Test helper: one member of a consumer group. Joins --group on --topic and
// writes the partitions it owns to --state as "p1,p2,...\n" (atomically: a
// temporary file renamed over it). The file is rewritten inside the rebalance
// listener, so a revoked partition leaves it before the consumer acknowledges
// the revocation to the group, i.e. before any other member can be given it:
// a test reading every member's file never sees one partition in two files
// unless two members really own it at once. Each change is also logged to
// stderr. Runs until SIGTERM or SIGINT, then closes the consumer (an orderly
// leave) and exits 0; exits 1 on a consumer error.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <set>
#include <string>

#include "common/base/errors.h"
#include "common/kafka/consumer.h"

namespace {

using attest::kafka::TopicPartition;

class StateFile : public attest::kafka::RebalanceListener {
 public:
  explicit StateFile(std::string path) : path_(std::move(path)) {}

  attest::Result<void> OnAssigned(std::vector<TopicPartition>& parts) override {
    for (const auto& p : parts) owned_.insert(p.partition);
    return Write("assigned", parts);
  }
  void OnRevoked(const std::vector<TopicPartition>& parts) override { Drop("revoked", parts); }
  void OnLost(const std::vector<TopicPartition>& parts) override { Drop("lost", parts); }

  // Writes the (possibly empty) state once the first assignment is applied.
  attest::Result<void> WriteIfNever() { return written_ ? attest::Ok() : Write("initial", {}); }
  bool failed() const { return failed_; }

 private:
  void Drop(const char* what, const std::vector<TopicPartition>& parts) {
    for (const auto& p : parts) owned_.erase(p.partition);
    if (!Write(what, parts)) failed_ = true;  // Poll() cannot report it from here
  }

  attest::Result<void> Write(const char* what, const std::vector<TopicPartition>& parts) {
    std::string text;
    for (int p : owned_) text += (text.empty() ? "" : ",") + std::to_string(p);
    text += "\n";
    const std::string tmp = path_ + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << text;
      if (!out.flush())
        return attest::MakeError(attest::base::errc::io_error, "cannot write " + tmp);
    }
    if (std::rename(tmp.c_str(), path_.c_str()) != 0) {
      return attest::MakeError(attest::base::errc::io_error,
                               "cannot rename " + tmp + " to " + path_);
    }
    written_ = true;
    std::string changed;
    for (const auto& p : parts) changed += " " + std::to_string(p.partition);
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    std::cerr << now.tv_sec << "." << now.tv_nsec / 1000000 << " kafka_group_member " << getpid()
              << ": " << what << changed << " -> owns " << text << std::flush;
    return attest::Ok();
  }

  std::string path_;
  std::set<int> owned_;
  bool written_ = false;
  bool failed_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kafka_group_member"};
  attest::kafka::ConsumerConfig config;
  std::string topic;
  std::string state;
  int session_ms = 6000;
  app.add_option("--bootstrap", config.bootstrap_servers)->required();
  app.add_option("--group", config.group_id)->required();
  app.add_option("--topic", topic)->required();
  app.add_option("--state", state)->required();
  app.add_option("--session-timeout-ms", session_ms);
  CLI11_PARSE(app, argc, argv);
  config.topics = {topic};
  config.client_id = "kafka_group_member";
  config.session_timeout = std::chrono::milliseconds(session_ms);
  config.heartbeat_interval = std::chrono::milliseconds(std::max(100, session_ms / 6));

  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  StateFile listener(state);
  auto consumer = attest::kafka::Consumer::Create(config, &listener);
  if (!consumer) {
    std::cerr << "kafka_group_member: " << consumer.error().ToString() << "\n";
    return 1;
  }
  const timespec no_wait{0, 0};
  while (sigtimedwait(&stop, nullptr, &no_wait) < 0) {
    auto polled = (*consumer)->Poll(std::chrono::milliseconds(100));
    if (!polled) {
      std::cerr << "kafka_group_member: " << polled.error().ToString() << "\n";
      return 1;
    }
    if ((*consumer)->HasBeenAssigned()) {
      if (auto w = listener.WriteIfNever(); !w) {
        std::cerr << "kafka_group_member: " << w.error().ToString() << "\n";
        return 1;
      }
    }
    if (listener.failed()) return 1;
  }
  auto closed = (*consumer)->Close();
  if (!closed) std::cerr << "kafka_group_member: " << closed.error().ToString() << "\n";
  return closed && !listener.failed() ? 0 : 1;
}
