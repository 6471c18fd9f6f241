// Test helper: one member of a consumer group. Joins --group on --topic and
// writes its current assignment to --state as "p1,p2,...\n" (atomically, on
// every change, once the first assignment is applied). Runs until SIGTERM or
// SIGINT, then closes the consumer and exits 0.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <ctime>
#include <iostream>
#include <string>

#include "common/kafka/consumer.h"
#include "tools/devbroker/dev_broker.h"  // WriteFileAtomically

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

  auto consumer = attest::kafka::Consumer::Create(config, nullptr);
  if (!consumer) {
    std::cerr << "kafka_group_member: " << consumer.error().ToString() << "\n";
    return 1;
  }
  std::string written = "-";  // never equal to a real state
  const timespec no_wait{0, 0};
  while (sigtimedwait(&stop, nullptr, &no_wait) < 0) {
    auto polled = (*consumer)->Poll(std::chrono::milliseconds(100));
    if (!polled) {
      std::cerr << "kafka_group_member: " << polled.error().ToString() << "\n";
      return 1;
    }
    if (!(*consumer)->HasBeenAssigned()) continue;
    std::string now;
    for (const auto& tp : (*consumer)->Assignment()) {
      if (!now.empty()) now += ",";
      now += std::to_string(tp.partition);
    }
    now += "\n";
    if (now != written) {
      if (auto w = attest::devbroker::WriteFileAtomically(state, now); !w) {
        std::cerr << "kafka_group_member: " << w.error().ToString() << "\n";
        return 1;
      }
      written = now;
    }
  }
  auto closed = (*consumer)->Close();
  return closed ? 0 : 1;
}
