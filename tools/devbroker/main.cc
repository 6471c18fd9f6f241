// attest-devbroker: a Kafka-protocol broker for development and tests, from
// librdkafka's mock cluster. Prints "bootstrap.servers=<list>" on stdout once
// ready, then runs until SIGINT/SIGTERM (exit 0).
//
// Fault injection by signal: SIGUSR1 takes every broker down (connections are
// dropped and refused), SIGUSR2 brings them back up (same ports).
//
// Exit codes: 0 clean stop, 1 start-up failure, 2 bad flags.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "tools/devbroker/dev_broker.h"

int main(int argc, char** argv) {
  CLI::App app{"attest-devbroker: development Kafka broker (librdkafka mock cluster)"};
  attest::devbroker::Options options;
  std::vector<std::string> topic_specs;
  std::string bootstrap_file;
  app.add_option("--brokers", options.brokers, "number of brokers")->check(CLI::Range(1, 16));
  app.add_option("--partitions", options.default_partitions, "partitions of each pipeline topic")
      ->check(CLI::Range(1, 10000));
  app.add_option("--topic", topic_specs,
                 "name:partitions, repeatable; overrides a pipeline topic or adds one");
  app.add_option("--bootstrap-file", bootstrap_file,
                 "also write the bootstrap list to this file (atomically)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help
  } catch (const CLI::ParseError& e) {
    (void)app.exit(e);
    return 2;
  }
  for (const auto& text : topic_specs) {
    auto spec = attest::devbroker::ParseTopicSpec(text);
    if (!spec) {
      std::cerr << "attest-devbroker: --topic: " << spec.error().ToString() << "\n";
      return 2;
    }
    options.topics.push_back(*spec);
  }

  // Block the signals before librdkafka starts its threads (they inherit the
  // mask), then take them synchronously with sigwait: no handler, no globals.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGUSR1, SIGUSR2}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto cluster = attest::devbroker::MockCluster::Start(options);
  if (!cluster) {
    std::cerr << "attest-devbroker: " << cluster.error().ToString() << "\n";
    return 1;
  }
  const std::string& bootstraps = (*cluster)->bootstrap_servers();
  for (const auto& t : (*cluster)->topics()) {
    std::cerr << "attest-devbroker: topic " << t.name << " partitions=" << t.partitions << "\n";
  }
  if (!bootstrap_file.empty()) {
    if (auto w = attest::devbroker::WriteFileAtomically(bootstrap_file, bootstraps + "\n"); !w) {
      std::cerr << "attest-devbroker: " << w.error().ToString() << "\n";
      return 1;
    }
  }
  std::cout << "bootstrap.servers=" << bootstraps << std::endl;

  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGUSR1 || sig == SIGUSR2) {
      const bool up = sig == SIGUSR2;
      auto r = (*cluster)->SetAllBrokersUp(up);
      std::cerr << "attest-devbroker: brokers " << (up ? "up" : "down")
                << (r ? "" : ": " + r.error().ToString()) << std::endl;
      continue;
    }
    break;  // SIGINT / SIGTERM
  }
  cluster->reset();
  return 0;
}
