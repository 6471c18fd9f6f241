#include "common/service/topic_check.h"

namespace attest::service {

kafka::StartupCheck StartupCheckFor(std::string service, std::string client_id,
                                    const KafkaKeys& keys) {
  kafka::StartupCheck check;
  check.service = std::move(service);
  check.admin.bootstrap_servers = keys.bootstrap_servers;
  check.admin.client_id = std::move(client_id);
  check.admin.extra = keys.extra;
  check.timeout = keys.startup_timeout;
  return check;
}

}  // namespace attest::service
