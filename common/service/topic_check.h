// The start-up topic check of a Kafka-using service (kafka::CheckTopicsAtStart)
// set up from the service's [kafka] keys, so each main() only says which
// topics it needs.
//
// Thread-safety: a pure function.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "common/kafka/topics.h"

namespace attest::service {

struct KafkaKeys {
  std::string bootstrap_servers;              // kafka.bootstrap_servers
  std::map<std::string, std::string> extra;   // kafka.properties
  std::chrono::milliseconds startup_timeout;  // kafka.startup_timeout_ms
};

// `service` names the log lines ("gateway"); `client_id` the admin client.
// The caller sets `needs`.
kafka::StartupCheck StartupCheckFor(std::string service, std::string client_id,
                                    const KafkaKeys& keys);

}  // namespace attest::service
