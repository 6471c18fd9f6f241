#include "common/kafka/errors.h"

#include <string>

namespace attest::kafka {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "attest.kafka"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::ok:
        return "ok";
      case errc::invalid_config:
        return "invalid kafka configuration";
      case errc::queue_full:
        return "producer queue full";
      case errc::timed_out:
        return "kafka operation timed out";
      case errc::unavailable:
        return "kafka unavailable";
      case errc::unknown_topic:
        return "unknown topic or partition";
      case errc::message_too_large:
        return "message too large";
      case errc::fatal:
        return "fatal kafka client error";
      case errc::rebalance_failed:
        return "consumer rebalance failed";
      case errc::closed:
        return "kafka client closed";
      case errc::failed:
        return "kafka error";
      case errc::topic_mismatch:
        return "kafka topic does not match what the pipeline needs";
      case errc::possibly_written:
        return "kafka delivery failed but the record may have been written";
    }
    return "unknown error";
  }
};

}  // namespace

const std::error_category& category() {
  static const Category instance;
  return instance;
}

errc ClassifyKafkaError(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
      return errc::ok;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
      return errc::queue_full;
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
      return errc::timed_out;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
      return errc::unavailable;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
      return errc::unknown_topic;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
      return errc::message_too_large;
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
    case RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID:
      return errc::fatal;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__INVALID_TYPE:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PROTOCOL:
    case RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED:
      return errc::invalid_config;
    case RD_KAFKA_RESP_ERR__DESTROY:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
      return errc::closed;
    default:
      return errc::failed;
  }
}

Error ErrorFromKafka(rd_kafka_resp_err_t err, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += rd_kafka_err2name(err);
  message += ": ";
  message += rd_kafka_err2str(err);
  return MakeError(ClassifyKafkaError(err), std::move(message));
}

}  // namespace attest::kafka
