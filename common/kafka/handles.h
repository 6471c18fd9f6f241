// RAII owners for librdkafka's C handles. Each unique_ptr calls the matching
// librdkafka destructor, so no path (early return, exception) leaks a handle.
//
// Note: rd_kafka_new() takes ownership of the conf only on success, so callers
// release() a ConfPtr exactly when rd_kafka_new() returned non-null.
//
// Thread-safety: as the underlying handles (rd_kafka_t is thread-safe; the
// others are not).
#pragma once

#include <librdkafka/rdkafka.h>

#include <memory>

namespace attest::kafka {

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* msg) const { rd_kafka_message_destroy(msg); }
};
struct HeadersDeleter {
  void operator()(rd_kafka_headers_t* hdrs) const { rd_kafka_headers_destroy(hdrs); }
};
struct ErrorDeleter {
  void operator()(rd_kafka_error_t* error) const { rd_kafka_error_destroy(error); }
};

using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, HeadersDeleter>;
using KafkaErrorPtr = std::unique_ptr<rd_kafka_error_t, ErrorDeleter>;

}  // namespace attest::kafka
