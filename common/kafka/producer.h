// An idempotent Kafka producer with per-record delivery callbacks.
//
// Safety settings are forced (an `extra` property trying to weaken them is an
// invalid_config error): enable.idempotence=true, acks=all and
// partitioner=murmur2_random, Kafka's Java-compatible partitioner, so a
// record's partition is PartitionFor(key, n) (see partitioner.h). An empty key
// means "no key" and lands on a random partition.
//
// Polling design: the Producer owns one poll thread that serves librdkafka's
// queue (rd_kafka_poll every 100 ms or when woken by an event). Every
// DeliveryCallback and the error callback run on that thread, exactly once per
// accepted record, so callbacks must be quick and must not call Flush() or
// destroy the Producer. The destructor flushes for at most
// `config.close_timeout`, purges what is left (those callbacks then report
// errc::closed) and joins the thread; no callback runs after it returns.
//
// Thread-safety: Produce() and Flush() may be called from any thread
// concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/base/result.h"
#include "common/kafka/handles.h"
#include "common/kafka/header.h"

namespace attest::kafka {

struct ProducerConfig {
  std::string bootstrap_servers;  // "host:port,host:port"
  std::string client_id = "attest";
  std::chrono::milliseconds linger{5};
  // A record not acknowledged within this time fails with
  // errc::possibly_written: it may have been sent and written without an
  // answer (librdkafka cannot tell reliably), so it is not "not written".
  std::chrono::milliseconds delivery_timeout{30000};
  std::chrono::milliseconds close_timeout{10000};
  // Any other librdkafka property (e.g. "security.protocol"); may not change
  // the forced ones above.
  std::map<std::string, std::string> extra;
};

// Where an acknowledged record landed.
struct Delivery {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
};

using DeliveryCallback = std::function<void(const Result<Delivery>&)>;

class Producer {
 public:
  static Result<std::unique_ptr<Producer>> Create(const ProducerConfig& config);
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Enqueues one record without blocking. On success `on_delivery` (may be
  // empty) is called later on the poll thread with the outcome; on error it is
  // never called (errc::queue_full: back off and retry; errc::fatal: the
  // producer is unusable and must be recreated).
  Result<void> Produce(std::string_view topic, std::string_view key, std::string_view value,
                       const std::vector<Header>& headers, DeliveryCallback on_delivery);

  // Blocks until no record is in flight (every delivery callback has run), or
  // `timeout` passes (errc::timed_out).
  Result<void> Flush(std::chrono::milliseconds timeout);

  // Number of records whose delivery callback has not run yet.
  int64_t InFlight() const { return in_flight_.load(); }

 private:
  explicit Producer(std::chrono::milliseconds close_timeout);
  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* msg, void* opaque);
  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  void PollLoop();
  void Completed();

  std::chrono::milliseconds close_timeout_;
  KafkaPtr rk_;
  std::thread poller_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> in_flight_{0};
  std::mutex mu_;
  std::condition_variable drained_;
};

}  // namespace attest::kafka
