// Test fixture for the dev Kafka broker: runs the attest-devbroker binary as
// a child process, waits until it has written its bootstrap list, and stops
// it in the destructor even when the test fails.
//
//   attest::testing::DevBroker broker;            // started, 12 partitions
//   ProducerConfig pc{.bootstrap_servers = broker.bootstrap()};
//
// Stop()/Start() restart the broker: the mock cluster keeps no data and gets
// new ports, so bootstrap() changes. BrokersDown()/BrokersUp() keep the
// process and its data but drop and refuse connections (fault tests).
//
// Thread-safety: none; use from the test thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tests/harness/util/process.h"

namespace attest::testing {

struct DevBrokerOptions {
  int brokers = 1;
  int partitions = 12;
  std::vector<std::string> topics;  // extra "name:partitions" specs
};

class DevBroker {
 public:
  // Starts the broker; throws std::runtime_error if it is not ready in 20 s.
  explicit DevBroker(DevBrokerOptions options = {});
  ~DevBroker();
  DevBroker(const DevBroker&) = delete;
  DevBroker& operator=(const DevBroker&) = delete;

  // "127.0.0.1:port[,...]" of the running broker.
  const std::string& bootstrap() const { return bootstrap_; }
  bool Running() const;

  void Start();  // no-op when running
  void Stop();   // SIGTERM, waits; no-op when stopped
  void BrokersDown();
  void BrokersUp();

  // The broker's stdout/stderr, for failure messages.
  std::string Log() const;
  // The binary this fixture runs.
  static std::string BinaryPath();

 private:
  void Signal(int sig);

  DevBrokerOptions options_;
  TempDir dir_{"attest-devbroker"};
  std::unique_ptr<Subprocess> process_;
  std::string bootstrap_;
  int starts_ = 0;
};

}  // namespace attest::testing
