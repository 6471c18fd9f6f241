#include "ingest-gateway/probes.h"

#include <spdlog/spdlog.h>

#include <memory>

#include "common/db/connection.h"
#include "common/kafka/client_conf.h"
#include "common/kafka/errors.h"
#include "common/kafka/handles.h"

namespace attest::gateway {

struct TopicDeleter {
  void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
};

namespace {

// librdkafka logs the probe's connection failures; the probe reports them
// itself (once per change), so these go to debug.
void ProbeLog(const rd_kafka_t*, int, const char* fac, const char* buf) {
  spdlog::debug("kafka readiness probe: {}: {}", fac, buf);
}

}  // namespace

struct Probes::Impl {
  ProbeOptions options;
  kafka::KafkaPtr rk;  // a producer handle that never produces: metadata only
  std::unique_ptr<rd_kafka_topic_t, TopicDeleter> topic;
  std::unique_ptr<db::Connection> db;
};

Result<std::unique_ptr<Probes>> Probes::Start(ProbeOptions options, const Clock& clock) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  // socket.timeout.ms = the probe's timeout: librdkafka sends metadata
  // requests to the least idle connected broker, so a hung one (SIGSTOP,
  // a dead host whose connection stays open) would get every round's request
  // until its default 60 s socket timeout drops the connection, and the
  // gateway would refuse all evidence while the other brokers serve.
  const kafka::Properties base = {
      {"bootstrap.servers", impl->options.kafka_bootstrap},
      {"client.id", "attest-gateway-probe"},
      {"reconnect.backoff.max.ms", "1000"},
      {"socket.timeout.ms", std::to_string(std::max<int64_t>(impl->options.timeout.count(), 100))},
  };
  auto conf = kafka::BuildConf(base, impl->options.kafka_properties, {}, "readiness probe");
  if (!conf) return conf.error();
  rd_kafka_conf_set_log_cb(conf->get(), &ProbeLog);
  char errstr[512] = {0};
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), errstr, sizeof errstr);
  if (!rk) {
    return MakeError(kafka::errc::invalid_config,
                     std::string("readiness probe: rd_kafka_new: ") + errstr);
  }
  conf->release();
  impl->rk.reset(rk);
  impl->topic.reset(rd_kafka_topic_new(rk, impl->options.topic.c_str(), nullptr));
  if (!impl->topic) {
    return MakeError(kafka::errc::invalid_config,
                     "readiness probe: cannot create topic handle '" + impl->options.topic + "'");
  }
  std::unique_ptr<Probes> p(new Probes(std::move(impl), clock));
  p->Round();
  p->thread_ = std::jthread([raw = p.get()](std::stop_token stop) { raw->Loop(stop); });
  return p;
}

Probes::Probes(std::unique_ptr<Impl> impl, const Clock& clock)
    : impl_(std::move(impl)), clock_(clock) {}

Probes::~Probes() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
}

std::string Probes::Status() const {
  std::lock_guard lock(mu_);
  std::string s;
  if (!kafka_error_.empty()) s += "kafka: " + kafka_error_;
  if (!database_error_.empty())
    s += std::string(s.empty() ? "" : "; ") + "database: " + database_error_;
  return s;
}

void Probes::Loop(std::stop_token stop) {
  while (clock_.SleepFor(impl_->options.interval, stop)) Round();
}

void Probes::Round() {
  const auto timeout_ms = static_cast<int>(impl_->options.timeout.count());
  std::string kafka_error;
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err =
      rd_kafka_metadata(impl_->rk.get(), 0, impl_->topic.get(), &md, timeout_ms);
  std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> owned(md);
  if (err) {
    kafka_error = std::string("metadata: ") + rd_kafka_err2str(err);
  } else if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt < 1) {
    kafka_error = "topic '" + impl_->options.topic + "' has no partitions" +
                  (md->topic_cnt == 1 && md->topics[0].err
                       ? std::string(": ") + rd_kafka_err2str(md->topics[0].err)
                       : std::string());
  } else if (md->broker_cnt < 1) {
    kafka_error = "no brokers in metadata";
  }

  std::string db_error;
  if (!impl_->db || !impl_->db->is_open()) {
    auto c = db::Connection::Open(impl_->options.database_conninfo);
    if (c) {
      impl_->db = std::make_unique<db::Connection>(std::move(c).value());
    } else {
      db_error = c.error().message;
    }
  }
  if (impl_->db && db_error.empty()) {
    auto r = db::Guard("readiness SELECT 1", [&] {
      pqxx::nontransaction tx(impl_->db->raw());
      tx.exec("SELECT 1");
    });
    if (!r) {
      db_error = r.error().message;
      impl_->db.reset();
    }
  }

  std::lock_guard lock(mu_);
  if (kafka_error != kafka_error_ && !kafka_error.empty()) {
    spdlog::warn("gateway: kafka not ready: {}", kafka_error);
  }
  if (db_error != database_error_ && !db_error.empty()) {
    spdlog::warn("gateway: database not ready: {}", db_error);
  }
  kafka_error_ = kafka_error;
  database_error_ = db_error;
  kafka_ok_ = kafka_error.empty();
  database_ok_ = db_error.empty();
}

}  // namespace attest::gateway
