// A consumer-group member for the pipeline's workers and tools.
//
// Forced settings (an `extra` property trying to change them is an
// invalid_config error): partition.assignment.strategy=cooperative-sticky,
// enable.auto.commit=false, enable.auto.offset.store=false,
// enable.partition.eof=false. Offsets live where the application keeps them
// (the workers: PostgreSQL); a RebalanceListener tells the consumer where each
// newly assigned partition starts.
//
// Rebalances are incremental (cooperative): OnAssigned receives only the
// partitions added, OnRevoked/OnLost only those taken away; the rest keep
// flowing. Listener calls happen inside Poll() or Close(), on the caller's
// thread, so a listener may touch the same state as the message loop without
// locks.
//
// librdkafka 2.0.2 has bugs around cooperative rebalancing and close (fixed
// upstream in 2.1-2.10). Close() therefore first waits (bounded by
// `config.first_assignment_timeout`) for the first assignment to complete
// before calling rd_kafka_consumer_close. A rebalance may still be half done
// when Close() is called: its queued callbacks are served inside Close(); an
// assignment among them is acknowledged but never reaches the listener (the
// group is leaving, librdkafka drops it), and the listener is told of the
// revocation of exactly the partitions it was given.
//
// Thread-safety: not thread-safe; use one Consumer from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/base/result.h"
#include "common/kafka/handles.h"
#include "common/kafka/header.h"

namespace attest::kafka {

// Special start offsets, as librdkafka defines them.
inline constexpr int64_t kOffsetBeginning = RD_KAFKA_OFFSET_BEGINNING;
inline constexpr int64_t kOffsetEnd = RD_KAFKA_OFFSET_END;
inline constexpr int64_t kOffsetStored =
    RD_KAFKA_OFFSET_STORED;  // committed, else auto.offset.reset

struct TopicPartition {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = kOffsetStored;

  friend bool operator<(const TopicPartition& a, const TopicPartition& b) {
    return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
  }
  friend bool operator==(const TopicPartition& a, const TopicPartition& b) {
    return a.topic == b.topic && a.partition == b.partition && a.offset == b.offset;
  }
};

class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  // Partitions newly assigned to this member, each with offset =
  // kOffsetStored. Set each `offset` to where consumption must start (an
  // absolute offset or kOffsetBeginning/kOffsetEnd). An error stops the
  // consumer: Poll() then returns errc::rebalance_failed and the process
  // should exit so the group hands the partitions to a healthy member.
  virtual Result<void> OnAssigned(std::vector<TopicPartition>& partitions) = 0;
  // Partitions taken away in an orderly rebalance: finish or drop their work.
  virtual void OnRevoked(const std::vector<TopicPartition>& partitions) = 0;
  // Partitions lost without a handshake (session timed out): another member
  // may already own them; do not write anything more for them.
  virtual void OnLost(const std::vector<TopicPartition>& partitions) = 0;
};

struct ConsumerConfig {
  std::string bootstrap_servers;
  std::string group_id;
  std::string client_id = "attest";
  std::vector<std::string> topics;
  std::chrono::milliseconds session_timeout{45000};
  std::chrono::milliseconds heartbeat_interval{3000};
  // Where a partition without a stored offset starts: "earliest" or "latest".
  std::string auto_offset_reset = "earliest";
  // Close() waits at most this long for a first assignment (see above).
  std::chrono::milliseconds first_assignment_timeout{60000};
  std::map<std::string, std::string> extra;
};

struct Message {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string key;
  std::string value;
  std::vector<Header> headers;
  int64_t timestamp_ms = -1;  // -1 when the record has none
};

class Consumer {
 public:
  // Creates the consumer and subscribes to config.topics. `listener` may be
  // null (then partitions start at kOffsetStored); it must outlive the
  // Consumer.
  static Result<std::unique_ptr<Consumer>> Create(const ConsumerConfig& config,
                                                  RebalanceListener* listener);
  // Closes (see Close) if not closed yet.
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Waits up to `timeout` for the first message, then takes whatever else is
  // ready, up to `max_messages`. Runs rebalance callbacks. Transient broker
  // errors are logged and skipped; a fatal client error or a failed listener
  // is returned.
  Result<std::vector<Message>> Poll(std::chrono::milliseconds timeout, size_t max_messages = 100);

  // The partitions currently assigned to this member.
  std::vector<TopicPartition> Assignment() const;
  // The low and high watermark (log end offset) of a partition as last seen
  // in a fetch response (rd_kafka_get_watermark_offsets: cached, no broker
  // round trip, cheap enough to call per poll). nullopt until a fetch for
  // the partition has reported one (e.g. right after the assignment).
  struct Watermarks {
    int64_t low = 0;
    int64_t high = 0;  // the next offset the broker will assign
  };
  std::optional<Watermarks> CachedWatermarks(const std::string& topic, int32_t partition) const;
  // Whether every assigned partition has answered a fetch (has cached
  // watermarks). A start at kOffsetEnd is resolved only by that first fetch:
  // before it, records published now may still be skipped.
  bool AllPartitionsFetched() const;

  // True once the first assignment (possibly empty) has been applied.
  bool HasBeenAssigned() const { return assigned_once_; }

  // Leaves the group (revoking the assignment through the listener) and stops
  // the consumer. Idempotent. Messages not yet returned by Poll are dropped.
  Result<void> Close();

 private:
  Consumer(RebalanceListener* listener, std::chrono::milliseconds first_assignment_timeout);
  static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* partitions, void* opaque);
  void HandleRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions);
  void HandleAssign(rd_kafka_topic_partition_list_t* partitions);
  void HandleRevoke(rd_kafka_topic_partition_list_t* partitions);

  RebalanceListener* listener_;
  std::chrono::milliseconds first_assignment_timeout_;
  KafkaPtr rk_;
  std::set<std::pair<std::string, int32_t>> assignment_;
  bool assigned_once_ = false;
  bool closed_ = false;
  bool closing_ = false;
  bool leaving_ = false;          // inside rd_kafka_consumer_close
  std::optional<Error> failure_;  // sticky: set when the listener or an assign failed
};

}  // namespace attest::kafka
