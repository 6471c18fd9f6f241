#include "tools/devbroker/dev_broker.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>

#include "common/kafka/errors.h"

namespace attest::devbroker {

Result<TopicSpec> ParseTopicSpec(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return MakeError(kafka::errc::invalid_config,
                     "topic spec '" + std::string(text) + "': expected name:partitions");
  }
  const std::string_view count = text.substr(colon + 1);
  int32_t partitions = 0;
  auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), partitions);
  if (ec != std::errc() || end != count.data() + count.size() || partitions < 1 ||
      partitions > 10000) {
    return MakeError(kafka::errc::invalid_config,
                     "topic spec '" + std::string(text) + "': partitions must be in [1, 10000]");
  }
  return TopicSpec{std::string(text.substr(0, colon)), partitions};
}

std::vector<TopicSpec> ResolveTopics(const Options& options) {
  std::vector<TopicSpec> out;
  for (auto name : kPipelineTopics) out.push_back({std::string(name), options.default_partitions});
  for (const auto& spec : options.topics) {
    bool replaced = false;
    for (auto& t : out) {
      if (t.name == spec.name) {
        t.partitions = spec.partitions;
        replaced = true;
      }
    }
    if (!replaced) out.push_back(spec);
  }
  return out;
}

Result<void> WriteFileAtomically(const std::filesystem::path& path, std::string_view content) {
  std::filesystem::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.flush();
    if (!out) {
      return MakeError(kafka::errc::failed, "cannot write " + tmp.string());
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return MakeError(kafka::errc::failed,
                     "cannot rename to " + path.string() + ": " + ec.message());
  }
  return Ok();
}

MockCluster::~MockCluster() {
  cluster_.reset();  // before the rd_kafka_t it is attached to
  rk_.reset();
}

Result<std::unique_ptr<MockCluster>> MockCluster::Start(const Options& options) {
  if (options.brokers < 1 || options.brokers > 16) {
    return MakeError(kafka::errc::invalid_config, "brokers must be in [1, 16]");
  }
  if (options.default_partitions < 1 || options.default_partitions > 10000) {
    return MakeError(kafka::errc::invalid_config, "partitions must be in [1, 10000]");
  }
  std::unique_ptr<MockCluster> mc(new MockCluster());
  mc->brokers_ = options.brokers;
  mc->topics_ = ResolveTopics(options);

  kafka::ConfPtr conf(rd_kafka_conf_new());
  char errstr[512] = {0};
  // The handle only hosts the mock cluster; it never connects anywhere.
  // log_level 4: hide the notice that this handle has no bootstrap.servers.
  for (auto [key, value] : {std::pair{"client.id", "attest-devbroker"}, {"log_level", "4"}}) {
    if (rd_kafka_conf_set(conf.get(), key, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      return MakeError(kafka::errc::invalid_config, std::string("devbroker conf: ") + errstr);
    }
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr);
  if (!rk) return MakeError(kafka::errc::failed, std::string("devbroker: rd_kafka_new: ") + errstr);
  conf.release();
  mc->rk_.reset(rk);

  mc->cluster_.reset(rd_kafka_mock_cluster_new(rk, options.brokers));
  if (!mc->cluster_) {
    return MakeError(kafka::errc::failed, "devbroker: rd_kafka_mock_cluster_new failed");
  }
  mc->bootstraps_ = rd_kafka_mock_cluster_bootstraps(mc->cluster_.get());
  const int replication = std::min(options.brokers, 3);
  for (const auto& t : mc->topics_) {
    if (rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc->cluster_.get(), t.name.c_str(),
                                                             t.partitions, replication)) {
      return kafka::ErrorFromKafka(err, "devbroker: create topic '" + t.name + "'");
    }
  }
  return mc;
}

Result<void> MockCluster::SetAllBrokersUp(bool up) {
  // Broker ids run 1..N. 2.0.2 does not document -1 as "all" for these calls,
  // so address each broker.
  for (int32_t id = 1; id <= brokers_; ++id) {
    rd_kafka_resp_err_t err = up ? rd_kafka_mock_broker_set_up(cluster_.get(), id)
                                 : rd_kafka_mock_broker_set_down(cluster_.get(), id);
    if (err) {
      return kafka::ErrorFromKafka(
          err, "devbroker: set broker " + std::to_string(id) + (up ? " up" : " down"));
    }
  }
  return Ok();
}

}  // namespace attest::devbroker
