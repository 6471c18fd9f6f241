#include "common/kafka/producer.h"

#include <spdlog/spdlog.h>

#include "common/kafka/client_conf.h"
#include "common/kafka/errors.h"

namespace attest::kafka {

Producer::Producer(std::chrono::milliseconds close_timeout) : close_timeout_(close_timeout) {}

Result<std::unique_ptr<Producer>> Producer::Create(const ProducerConfig& config) {
  if (config.bootstrap_servers.empty()) {
    return MakeError(errc::invalid_config, "producer: bootstrap servers are empty");
  }
  const Properties base = {
      {"bootstrap.servers", config.bootstrap_servers},
      {"client.id", config.client_id},
      {"linger.ms", std::to_string(config.linger.count())},
      {"message.timeout.ms", std::to_string(config.delivery_timeout.count())},
  };
  const Properties forced = {
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"partitioner", "murmur2_random"},
  };
  auto conf = BuildConf(base, config.extra, forced, "producer");
  if (!conf) return conf.error();

  std::unique_ptr<Producer> producer(new Producer(config.close_timeout));
  rd_kafka_conf_set_opaque(conf->get(), producer.get());
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &Producer::OnDelivery);
  rd_kafka_conf_set_error_cb(conf->get(), &Producer::OnError);

  char errstr[512] = {0};
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), errstr, sizeof errstr);
  if (!rk) {
    return MakeError(errc::invalid_config, std::string("producer: rd_kafka_new: ") + errstr);
  }
  conf->release();  // owned by rk now
  producer->rk_.reset(rk);
  producer->poller_ = std::thread([p = producer.get()] { p->PollLoop(); });
  return producer;
}

Producer::~Producer() {
  if (!rk_) return;
  if (auto flushed = Flush(close_timeout_); !flushed) {
    spdlog::warn("kafka producer: closing with {} records undelivered, purging them", InFlight());
    rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    // Purged records report back through the poll thread; give it a moment.
    (void)Flush(std::chrono::milliseconds(2000));
  }
  stop_ = true;
  if (poller_.joinable()) poller_.join();
  // Anything still queued gets its callback here, on this thread, before
  // rd_kafka_destroy: a callback must run exactly once.
  rd_kafka_poll(rk_.get(), 0);
  rk_.reset();
}

void Producer::PollLoop() {
  while (!stop_.load()) rd_kafka_poll(rk_.get(), 100);
}

Result<void> Producer::Produce(std::string_view topic, std::string_view key, std::string_view value,
                               const std::vector<Header>& headers, DeliveryCallback on_delivery) {
  HeadersPtr hdrs(rd_kafka_headers_new(headers.size()));
  for (const auto& h : headers) {
    rd_kafka_resp_err_t err =
        rd_kafka_header_add(hdrs.get(), h.name.data(), static_cast<ssize_t>(h.name.size()),
                            h.value.data(), h.value.size());
    if (err) return ErrorFromKafka(err, "produce to '" + std::string(topic) + "': add header");
  }
  auto cb = std::make_unique<DeliveryCallback>(std::move(on_delivery));
  const std::string topic_name(topic);
  // An empty key is "no key": NULL makes murmur2_random pick a random partition.
  void* key_ptr = key.empty() ? nullptr : const_cast<char*>(key.data());
  ++in_flight_;
  rd_kafka_resp_err_t err = rd_kafka_producev(
      rk_.get(), RD_KAFKA_V_TOPIC(topic_name.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_KEY(key_ptr, key.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
      RD_KAFKA_V_HEADERS(hdrs.get()), RD_KAFKA_V_OPAQUE(cb.get()), RD_KAFKA_V_END);
  if (err) {
    Completed();
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      char reason[512] = {0};
      rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(rk_.get(), reason, sizeof reason);
      return MakeError(errc::fatal, "produce to '" + topic_name +
                                        "': producer is in fatal state: " +
                                        rd_kafka_err2name(fatal) + ": " + reason);
    }
    return ErrorFromKafka(err, "produce to '" + topic_name + "'");
  }
  hdrs.release();  // owned by the message now
  cb.release();    // freed in OnDelivery
  return Ok();
}

Result<void> Producer::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!drained_.wait_for(lock, timeout, [this] { return in_flight_.load() == 0; })) {
    return MakeError(errc::timed_out, "producer flush: " + std::to_string(in_flight_.load()) +
                                          " records still in flight after " +
                                          std::to_string(timeout.count()) + " ms");
  }
  return Ok();
}

void Producer::Completed() {
  std::lock_guard lock(mu_);
  if (--in_flight_ == 0) drained_.notify_all();
}

void Producer::OnDelivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
  auto* self = static_cast<Producer*>(opaque);
  std::unique_ptr<DeliveryCallback> cb(static_cast<DeliveryCallback*>(msg->_private));
  if (cb && *cb) {
    const char* topic = msg->rkt ? rd_kafka_topic_name(msg->rkt) : "";
    if (msg->err) {
      Error e = ErrorFromKafka(msg->err, std::string("delivery to '") + topic + "'");
      // Sent and not answered: the broker may hold the record. Callers must
      // not treat this as "not written". A timeout counts whatever status
      // librdkafka 2.0.2 gives: in the fault campaign a record reported
      // NOT_PERSISTED after a timeout across a cluster restart (sent, the
      // connection dropped, retried) was on the topic.
      if (rd_kafka_message_status(msg) == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED ||
          msg->err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT) {
        e.code = make_error_code(errc::possibly_written);
        e.message += " (possibly written)";
      }
      (*cb)(e);
    } else {
      (*cb)(Delivery{topic, msg->partition, msg->offset});
    }
  }
  self->Completed();
}

void Producer::OnError(rd_kafka_t* rk, int err, const char* reason, void*) {
  // Most errors here are transient (broker down, reconnecting); librdkafka
  // retries by itself. Fatal ones make every later Produce() fail with
  // errc::fatal.
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char fatal_reason[512] = {0};
    rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(rk, fatal_reason, sizeof fatal_reason);
    spdlog::error("kafka producer: fatal error {}: {}", rd_kafka_err2name(fatal), fatal_reason);
    return;
  }
  spdlog::warn("kafka producer: {}: {}", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)),
               reason);
}

}  // namespace attest::kafka
