// Error codes of the Kafka adapter. librdkafka's rd_kafka_resp_err_t values are
// translated here (ErrorFromKafka), so callers see one small vocabulary and can
// decide, e.g., "retry later" (unavailable, queue_full, timed_out) versus "bug
// or misconfiguration" (invalid_config, fatal).
#pragma once

#include <librdkafka/rdkafka.h>

#include <string_view>
#include <system_error>

#include "common/base/result.h"

namespace attest::kafka {

enum class errc {
  ok = 0,
  invalid_config = 1,     // a property was rejected or would weaken a forced default
  queue_full = 2,         // the local producer queue is full: back off and retry
  timed_out = 3,          // a message or an operation did not complete in time
  unavailable = 4,        // no broker reachable / transport failure / leader unknown
  unknown_topic = 5,      // topic or partition does not exist
  message_too_large = 6,  // record exceeds message.max.bytes
  fatal = 7,              // the client hit a fatal error (e.g. idempotence broken): recreate it
  rebalance_failed = 8,   // a rebalance listener failed or assignment could not be applied
  closed = 9,             // the client is closed
  failed = 10,            // any other broker or client error (message has the details)
  topic_mismatch = 11,    // a topic exists but not as the pipeline needs it (topics.h)
  // A delivery failed after the record was sent: the broker may have written
  // it (librdkafka's "possibly persisted"). Unknown outcome, not a refusal.
  possibly_written = 12,
};

const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

// Maps a librdkafka error code to our errc.
errc ClassifyKafkaError(rd_kafka_resp_err_t err);

// Error{ClassifyKafkaError(err), "<what>: <librdkafka name>: <librdkafka text>"}.
Error ErrorFromKafka(rd_kafka_resp_err_t err, std::string_view what);

}  // namespace attest::kafka

template <>
struct std::is_error_code_enum<attest::kafka::errc> : std::true_type {};
