#include "tests/gateway/topic_reader.h"

#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

#include "tests/harness/util/process.h"

namespace attest::testing {

std::vector<TopicRecord> ReadTopic(const std::string& bootstrap, const std::string& topic) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
  // librdkafka's assign() needs a group.id; the group is never joined nor
  // committed to. Unique, so concurrent readers on the run's cluster share
  // nothing.
  static std::atomic<int> readers{0};
  const std::string group = "topic-reader." + std::to_string(::getpid()) + "." +
                            std::to_string(++readers) + "." +
                            std::to_string(std::random_device{}() % 100000);
  rd_kafka_conf_set(conf, "group.id", group.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("reader: ") + err);
  }
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> owner(rk, [](rd_kafka_t* k) {
    rd_kafka_consumer_close(k);
    rd_kafka_destroy(k);
  });
  // 20 s to find the partitions and their ends, then 20 s to read them.
  // Kafka answers both questions with a retriable error for a moment after a
  // topic is created or its partitions are given leaders: ask again.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  const auto left = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                 std::chrono::steady_clock::now());
  };
  std::unique_ptr<rd_kafka_topic_t, void (*)(rd_kafka_topic_t*)> handle(
      rd_kafka_topic_new(rk, topic.c_str(), nullptr), &rd_kafka_topic_destroy);
  int partitions = 0;
  std::string why;
  const bool described = WaitFor(
      [&] {
        const rd_kafka_metadata_t* md = nullptr;
        const rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, handle.get(), &md, 5000);
        if (e) {
          why = rd_kafka_err2str(e);
          return false;
        }
        if (md->topic_cnt != 1) {
          why = "no topic";
        } else if (md->topics[0].err) {
          why = rd_kafka_err2str(md->topics[0].err);
        } else if ((partitions = md->topics[0].partition_cnt) == 0) {
          why = "no partitions";
        }
        rd_kafka_metadata_destroy(md);
        return partitions > 0;
      },
      left());
  if (!described) throw std::runtime_error("reader: no metadata for " + topic + ": " + why);

  // [low, high) of each partition in order; a retry resumes at the first
  // partition not yet answered.
  std::vector<std::pair<int64_t, int64_t>> marks;
  rd_kafka_resp_err_t refused = RD_KAFKA_RESP_ERR_NO_ERROR;
  const bool bounded = WaitFor(
      [&] {
        while (static_cast<int>(marks.size()) < partitions) {
          int64_t low = 0, high = 0;
          refused = rd_kafka_query_watermark_offsets(
              rk, topic.c_str(), static_cast<int32_t>(marks.size()), &low, &high, 5000);
          if (refused) return false;
          marks.emplace_back(low, high);
        }
        return true;
      },
      left());
  if (!bounded) {
    throw std::runtime_error("reader: no watermarks for " + topic + "[" +
                             std::to_string(marks.size()) + "]: " + rd_kafka_err2str(refused));
  }

  std::map<int32_t, int64_t> end;
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int32_t p = 0; p < partitions; ++p) {
    const auto [low, high] = marks[p];
    if (high > low) {
      end[p] = high;
      rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = low;
    }
  }
  const rd_kafka_resp_err_t assigned = rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (assigned)
    throw std::runtime_error(std::string("reader: assign: ") + rd_kafka_err2str(assigned));

  std::vector<TopicRecord> out;
  const auto read_by = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!end.empty()) {
    if (std::chrono::steady_clock::now() > read_by) throw std::runtime_error("reader: timed out");
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 200);
    if (!m) continue;
    if (!m->err) {
      TopicRecord r;
      r.partition = m->partition;
      r.offset = m->offset;
      if (m->key) r.key.assign(static_cast<const char*>(m->key), m->key_len);
      if (m->payload) r.value.assign(static_cast<const char*>(m->payload), m->len);
      out.push_back(std::move(r));
      auto it = end.find(m->partition);
      if (it != end.end() && m->offset + 1 >= it->second) end.erase(it);
    }
    rd_kafka_message_destroy(m);
  }
  return out;
}

}  // namespace attest::testing
