#include "common/kafka/consumer.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/kafka/client_conf.h"
#include "common/kafka/errors.h"

namespace attest::kafka {
namespace {

std::vector<TopicPartition> ToVector(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  if (!list) return out;
  out.reserve(static_cast<size_t>(list->cnt));
  for (int i = 0; i < list->cnt; ++i) {
    const auto& p = list->elems[i];
    out.push_back(TopicPartition{p.topic, p.partition, kOffsetStored});
  }
  return out;
}

std::string Describe(const std::vector<TopicPartition>& parts) {
  std::string s;
  for (const auto& p : parts) {
    if (!s.empty()) s += ",";
    s += p.topic + "[" + std::to_string(p.partition) + "]";
  }
  return s.empty() ? "(none)" : s;
}

bool ValidStart(int64_t offset) {
  return offset >= 0 || offset == kOffsetBeginning || offset == kOffsetEnd ||
         offset == kOffsetStored;
}

Message Convert(const rd_kafka_message_t* msg) {
  Message m;
  m.topic = msg->rkt ? rd_kafka_topic_name(msg->rkt) : "";
  m.partition = msg->partition;
  m.offset = msg->offset;
  if (msg->key) m.key.assign(static_cast<const char*>(msg->key), msg->key_len);
  if (msg->payload) m.value.assign(static_cast<const char*>(msg->payload), msg->len);
  rd_kafka_timestamp_type_t ts_type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  int64_t ts = rd_kafka_message_timestamp(msg, &ts_type);
  m.timestamp_ms = ts_type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : ts;
  rd_kafka_headers_t* hdrs = nullptr;  // owned by msg
  if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    for (size_t i = 0;
         rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      m.headers.push_back(
          Header{name, value ? std::string(static_cast<const char*>(value), size) : ""});
    }
  }
  return m;
}

}  // namespace

Consumer::Consumer(RebalanceListener* listener, std::chrono::milliseconds first_assignment_timeout)
    : listener_(listener), first_assignment_timeout_(first_assignment_timeout) {}

Result<std::unique_ptr<Consumer>> Consumer::Create(const ConsumerConfig& config,
                                                   RebalanceListener* listener) {
  if (config.bootstrap_servers.empty() || config.group_id.empty() || config.topics.empty()) {
    return MakeError(errc::invalid_config,
                     "consumer: bootstrap servers, group id and topics must be set");
  }
  const Properties base = {
      {"bootstrap.servers", config.bootstrap_servers},
      {"group.id", config.group_id},
      {"client.id", config.client_id},
      {"session.timeout.ms", std::to_string(config.session_timeout.count())},
      {"heartbeat.interval.ms", std::to_string(config.heartbeat_interval.count())},
      {"auto.offset.reset", config.auto_offset_reset},
      // A broker that hangs (no RST, no answer) holds a fetch until this
      // passes; librdkafka's 60 s default kept a hung leader's partitions
      // unread for a minute after Kafka had moved them (docs/faults.md).
      // Group joins keep their own, longer timeout (max.poll.interval.ms).
      {"socket.timeout.ms", "10000"},
  };
  const Properties forced = {
      {"partition.assignment.strategy", "cooperative-sticky"},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"enable.partition.eof", "false"},
  };
  auto conf = BuildConf(base, config.extra, forced, "consumer");
  if (!conf) return conf.error();

  std::unique_ptr<Consumer> consumer(new Consumer(listener, config.first_assignment_timeout));
  rd_kafka_conf_set_opaque(conf->get(), consumer.get());
  rd_kafka_conf_set_rebalance_cb(conf->get(), &Consumer::OnRebalance);

  char errstr[512] = {0};
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), errstr, sizeof errstr);
  if (!rk) {
    return MakeError(errc::invalid_config, std::string("consumer: rd_kafka_new: ") + errstr);
  }
  conf->release();  // owned by rk now
  consumer->rk_.reset(rk);
  // Route the main queue (errors, rebalances) into the consumer queue so one
  // Poll() serves everything.
  rd_kafka_poll_set_consumer(rk);

  PartitionListPtr topics(
      rd_kafka_topic_partition_list_new(static_cast<int>(config.topics.size())));
  for (const auto& t : config.topics) {
    rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  if (rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics.get())) {
    consumer->closed_ = true;  // never joined: nothing to close
    return ErrorFromKafka(err, "consumer: subscribe");
  }
  return consumer;
}

Consumer::~Consumer() {
  if (!rk_) return;
  if (auto r = Close(); !r) spdlog::warn("kafka consumer: close: {}", r.error().ToString());
  rk_.reset();
}

void Consumer::OnRebalance(rd_kafka_t*, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  static_cast<Consumer*>(opaque)->HandleRebalance(err, partitions);
}

void Consumer::HandleRebalance(rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t* partitions) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
      HandleAssign(partitions);
      break;
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
      HandleRevoke(partitions);
      break;
    default:
      // Not expected from librdkafka; drop the assignment so the group can
      // recover on the next rebalance.
      spdlog::error("kafka consumer: rebalance error {}", rd_kafka_err2name(err));
      HandleRevoke(partitions);
  }
}

// The strategy is forced to cooperative-sticky, so every callback is
// incremental. The protocol is deliberately not asked for here:
// rd_kafka_rebalance_protocol() returns NULL once the group has terminated,
// which happens inside rd_kafka_consumer_close before the callbacks still
// queued there are served (a strcmp on that NULL crashed Close()).
void Consumer::HandleAssign(rd_kafka_topic_partition_list_t* partitions) {
  std::vector<TopicPartition> parts = ToVector(partitions);
  if (leaving_) {
    // An assignment that was still queued when Close() began. The group is
    // already leaving (librdkafka treats this acknowledgement as an unassign
    // and revokes these partitions with the rest): the listener would claim
    // work only to give it back at once, so it is not told (see HandleRevoke).
    KafkaErrorPtr error(rd_kafka_incremental_assign(rk_.get(), partitions));
    spdlog::info("kafka consumer: closing, not taking {}", Describe(parts));
    return;
  }
  Result<void> decided = Ok();
  if (failure_) {
    decided = *failure_;
  } else if (listener_) {
    decided = listener_->OnAssigned(parts);
  }
  bool pause = false;
  if (!decided) {
    // Keep librdkafka's state machine consistent (the assignment must be
    // acknowledged) but consume nothing: the partitions are paused and Poll()
    // reports the failure.
    failure_ = MakeError(errc::rebalance_failed, "consumer: assignment of " + Describe(parts) +
                                                     ": " + decided.error().ToString());
    pause = true;
  } else {
    for (const auto& p : parts) {
      rd_kafka_topic_partition_t* tp =
          rd_kafka_topic_partition_list_find(partitions, p.topic.c_str(), p.partition);
      if (!tp || !ValidStart(p.offset)) {
        failure_ = MakeError(errc::rebalance_failed,
                             "consumer: listener returned an invalid start for " + p.topic + "[" +
                                 std::to_string(p.partition) + "]: " + std::to_string(p.offset));
        pause = true;
        break;
      }
      tp->offset = p.offset;
    }
  }
  if (pause) {
    for (int i = 0; i < partitions->cnt; ++i) partitions->elems[i].offset = kOffsetEnd;
  }

  KafkaErrorPtr error(rd_kafka_incremental_assign(rk_.get(), partitions));
  if (error && !failure_) {
    failure_ = MakeError(errc::rebalance_failed, std::string("consumer: incremental_assign: ") +
                                                     rd_kafka_error_string(error.get()));
  }
  if (pause) rd_kafka_pause_partitions(rk_.get(), partitions);
  for (const auto& p : parts) assignment_.emplace(p.topic, p.partition);
  assigned_once_ = true;
  spdlog::info("kafka consumer: assigned {}", Describe(parts));
}

void Consumer::HandleRevoke(rd_kafka_topic_partition_list_t* partitions) {
  const bool lost = rd_kafka_assignment_lost(rk_.get()) != 0;
  std::vector<TopicPartition> parts = ToVector(partitions);
  if (leaving_) {
    // The revoke at close covers the group's whole assignment, including
    // partitions queued but never handed to the listener (HandleAssign).
    std::erase_if(parts, [this](const TopicPartition& p) {
      return !assignment_.contains({p.topic, p.partition});
    });
  }
  if (listener_) {
    if (lost) {
      listener_->OnLost(parts);
    } else {
      listener_->OnRevoked(parts);
    }
  }
  KafkaErrorPtr error(rd_kafka_incremental_unassign(rk_.get(), partitions));
  // While leaving, the group may already have dropped the whole assignment
  // (an acknowledged assign counts as an unassign then): nothing is wrong.
  if (error && !leaving_) {
    spdlog::warn("kafka consumer: incremental_unassign: {}", rd_kafka_error_string(error.get()));
  }
  for (const auto& p : parts) assignment_.erase({p.topic, p.partition});
  spdlog::info("kafka consumer: {} {}", lost ? "lost" : "revoked", Describe(parts));
}

Result<std::vector<Message>> Consumer::Poll(std::chrono::milliseconds timeout,
                                            size_t max_messages) {
  if (closed_ || closing_) return MakeError(errc::closed, "consumer: poll after close");
  if (failure_) return *failure_;
  std::vector<Message> out;
  out.reserve(std::min<size_t>(max_messages, 4096));
  int wait_ms = static_cast<int>(timeout.count());
  while (out.size() < max_messages) {
    MessagePtr msg(rd_kafka_consumer_poll(rk_.get(), wait_ms));
    wait_ms = 0;  // after the first, only take what is already there
    if (failure_) return *failure_;
    if (!msg) break;
    if (msg->err) {
      if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
      char reason[512] = {0};
      if (rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(rk_.get(), reason, sizeof reason)) {
        return MakeError(errc::fatal, std::string("consumer: fatal error ") +
                                          rd_kafka_err2name(fatal) + ": " + reason);
      }
      // Transient (broker down, rebalance in progress): librdkafka recovers.
      spdlog::warn("kafka consumer: {}", rd_kafka_message_errstr(msg.get()));
      continue;
    }
    out.push_back(Convert(msg.get()));
  }
  return out;
}

std::vector<TopicPartition> Consumer::Assignment() const {
  std::vector<TopicPartition> out;
  for (const auto& [topic, partition] : assignment_)
    out.push_back({topic, partition, kOffsetStored});
  return out;
}

std::optional<Consumer::Watermarks> Consumer::CachedWatermarks(const std::string& topic,
                                                               int32_t partition) const {
  if (closed_) return std::nullopt;
  int64_t low = RD_KAFKA_OFFSET_INVALID, high = RD_KAFKA_OFFSET_INVALID;
  if (rd_kafka_get_watermark_offsets(rk_.get(), topic.c_str(), partition, &low, &high) !=
          RD_KAFKA_RESP_ERR_NO_ERROR ||
      high < 0) {
    return std::nullopt;
  }
  return Watermarks{low < 0 ? 0 : low, high};
}

bool Consumer::AllPartitionsFetched() const {
  for (const auto& [topic, partition] : assignment_) {
    if (!CachedWatermarks(topic, partition)) return false;
  }
  return true;
}

Result<void> Consumer::Close() {
  if (closed_) return Ok();
  closing_ = true;
  // librdkafka 2.0.2 can hang or crash closing a cooperative consumer whose
  // first rebalance is still in flight: let it complete first (bounded).
  const auto deadline = std::chrono::steady_clock::now() + first_assignment_timeout_;
  while (!assigned_once_ && std::chrono::steady_clock::now() < deadline) {
    MessagePtr msg(rd_kafka_consumer_poll(rk_.get(), 100));
  }
  // Callbacks served from here on run while the group leaves (see
  // HandleAssign). No wait for a rebalance in progress is needed: librdkafka
  // finishes any join state itself and waits for these callbacks.
  leaving_ = true;
  rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk_.get());
  closed_ = true;
  assignment_.clear();  // everything was revoked or never taken
  if (err) return ErrorFromKafka(err, "consumer: close");
  return Ok();
}

}  // namespace attest::kafka
