#include "tests/gateway/fixture.h"

#include <librdkafka/rdkafka.h>
#include <openssl/rand.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "common/base/uuid.h"
#include "common/kafka/handles.h"
#include "common/kafka/partitioner.h"
#include "tests/gateway/topic_reader.h"

namespace attest::gateway::testing {

using namespace std::chrono_literals;

attest::testing::PipelineTopics* GatewayTest::suite_topics_ = nullptr;
attest::testing::TempDir* GatewayTest::dir_ = nullptr;
attest::testing::TestPki* GatewayTest::pki_ = nullptr;
attest::testing::IssuedCert* GatewayTest::cert_ = nullptr;
std::string GatewayTest::key_file_;
std::string GatewayTest::old_key_file_;
std::string GatewayTest::migrations_;

namespace {

// schemas/sql up to (not including) the first version two files share: other
// components add migrations in parallel, and a transient numbering clash must
// not stop the gateway's tests (they need only registrations and enrolments).
void CopyMigrations(const std::filesystem::path& to) {
  std::filesystem::create_directories(to);
  std::vector<std::filesystem::path> files;
  for (const auto& e :
       std::filesystem::directory_iterator(attest::testing::SourceMigrationsDir())) {
    if (e.path().extension() == ".sql") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::set<long> versions;
  for (const auto& f : files) {
    long v = std::strtol(f.filename().c_str(), nullptr, 10);
    if (!versions.insert(v).second) break;
    std::filesystem::copy_file(f, to / f.filename());
  }
}

// One admin request on `rk` about `topic`; the result event, or throws.
kafka::EventPtr TopicAdmin(rd_kafka_t* rk, bool alter, const std::string& topic,
                           const std::map<std::string, std::string>& configs) {
  kafka::ConfigResourcePtr res(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()));
  for (const auto& [k, v] : configs) {
    if (rd_kafka_ConfigResource_set_config(res.get(), k.c_str(), v.c_str())) {
      throw std::runtime_error("topic config " + k);
    }
  }
  kafka::QueuePtr queue(rd_kafka_queue_new(rk));
  rd_kafka_ConfigResource_t* raw = res.get();
  if (alter) {
    rd_kafka_AlterConfigs(rk, &raw, 1, nullptr, queue.get());
  } else {
    rd_kafka_DescribeConfigs(rk, &raw, 1, nullptr, queue.get());
  }
  kafka::EventPtr ev(rd_kafka_queue_poll(queue.get(), 30000));
  if (!ev) throw std::runtime_error("topic configs of " + topic + ": no answer in 30 s");
  if (rd_kafka_event_error(ev.get())) {
    throw std::runtime_error("topic configs of " + topic + ": " +
                             rd_kafka_event_error_string(ev.get()));
  }
  return ev;
}

}  // namespace

void SetTopicConfig(const attest::testing::KafkaCluster& cluster, const std::string& topic,
                    const std::map<std::string, std::string>& configs) {
  char err[512];
  kafka::ConfPtr conf(rd_kafka_conf_new());
  rd_kafka_conf_set(conf.get(), "bootstrap.servers", cluster.bootstrap().c_str(), err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof err);
  if (!rk) throw std::runtime_error(std::string("admin client: ") + err);
  (void)conf.release();  // owned by rk now
  kafka::KafkaPtr owner(rk);

  auto altered = TopicAdmin(rk, true, topic, configs);
  size_t n = 0;
  const rd_kafka_ConfigResource_t** res =
      rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(altered.get()), &n);
  for (size_t i = 0; i < n; ++i) {
    if (rd_kafka_ConfigResource_error(res[i])) {
      throw std::runtime_error("alter configs of " + topic + ": " +
                               rd_kafka_ConfigResource_error_string(res[i]));
    }
  }
  // The controller has the change; wait until the broker serving the topic
  // applies it too.
  auto applied = [&] {
    auto described = TopicAdmin(rk, false, topic, {});
    size_t rn = 0;
    const rd_kafka_ConfigResource_t** rs = rd_kafka_DescribeConfigs_result_resources(
        rd_kafka_event_DescribeConfigs_result(described.get()), &rn);
    if (rn != 1 || rd_kafka_ConfigResource_error(rs[0])) return false;
    size_t cn = 0;
    const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(rs[0], &cn);
    size_t matched = 0;
    for (size_t i = 0; i < cn; ++i) {
      auto it = configs.find(rd_kafka_ConfigEntry_name(entries[i]));
      const char* value = rd_kafka_ConfigEntry_value(entries[i]);
      if (it != configs.end() && value && it->second == value) ++matched;
    }
    return matched == configs.size();
  };
  if (!attest::testing::WaitFor(applied, 30s)) {
    throw std::runtime_error("topic " + topic + ": new configs not applied after 30 s");
  }
}

void GatewayTest::SetUpTestSuite() {
  PostgresTest::SetUpTestSuite();
  suite_topics_ = new attest::testing::PipelineTopics(attest::testing::CreatePipelineTopics(
      attest::testing::KafkaCluster::Shared(), kEvidencePartitions));
  dir_ = new attest::testing::TempDir("gateway-test");
  pki_ = new attest::testing::TestPki(dir_->path());
  cert_ = new attest::testing::IssuedCert(pki_->IssueServer("gateway"));
  key_file_ = (dir_->path() / "token.key").string();
  old_key_file_ = (dir_->path() / "token.old.key").string();
  std::ofstream(key_file_) << std::string(64, 'c') << "\n";
  std::ofstream(old_key_file_) << std::string(64, 'd') << "\n";
  migrations_ = (dir_->path() / "migrations").string();
  CopyMigrations(migrations_);
}

void GatewayTest::TearDownTestSuite() {
  delete cert_;
  delete pki_;
  delete dir_;
  delete suite_topics_;
  cert_ = nullptr;
  pki_ = nullptr;
  dir_ = nullptr;
  suite_topics_ = nullptr;
}

void GatewayTest::SetUp() {
  PostgresTest::SetUp();
  if (HasFatalFailure()) return;
  server().Migrate(conninfo(), migrations_);
  kafka_ = &attest::testing::KafkaCluster::Shared();
  topics_ = *suite_topics_;
}

void GatewayTest::TearDown() {
  client_.reset();
  gateway_.reset();  // flushes its producer while its cluster is still up
  private_kafka_.reset();
}

void GatewayTest::UsePrivateKafka() {
  private_kafka_ = std::make_unique<attest::testing::KafkaCluster>(
      attest::testing::KafkaClusterOptions{.nodes = 1});
  kafka_ = private_kafka_.get();
  topics_ = attest::testing::CreatePipelineTopics(*kafka_, kEvidencePartitions);
}

GatewayConfig GatewayTest::MakeConfig() const {
  GatewayConfig c;
  c.gateway_id = "gw-test";
  c.server.name = "gateway";
  c.server.metrics_prefix = "gateway_http";
  c.server.bind_address = "127.0.0.1";
  c.server.port = 0;
  c.server.cert_file = cert_->cert.string();
  c.server.key_file = cert_->key.string();
  c.server.io_threads = 2;
  c.server.max_body_bytes = kMinBodyBytes;  // the least ParseGatewayConfig accepts
  c.server.header_timeout = 1000ms;
  c.server.request_timeout = 1000ms;
  c.drain_timeout = 5000ms;
  c.token_key_files = {key_file_, old_key_file_};
  c.token_ttl = 60s;
  c.database_conninfo = conninfo() + " connect_timeout=2";
  c.database_pool_size = 2;
  c.kafka_bootstrap = kafka_->bootstrap();
  c.kafka_topic = topics_.evidence;
  c.kafka_delivery_timeout = 3000ms;
  c.kafka_properties = {{"reconnect.backoff.ms", "100"}};
  return c;
}

void GatewayTest::StartGateway(GatewayConfig config) {
  auto gw = Gateway::Create(std::move(config), clock_);
  ASSERT_TRUE(gw.ok()) << gw.error().ToString();
  gateway_ = std::move(gw).value();
  auto started = gateway_->Start();
  ASSERT_TRUE(started.ok()) << started.error().ToString();
  ASSERT_TRUE(attest::testing::WaitFor([&] { return gateway_->Ready(); }, 20s));
  httpclient::ClientOptions o;
  o.base_url = fmt::format("https://127.0.0.1:{}", gateway_->port());
  o.ca_file = pki_->ca_cert().string();
  o.proxy = "";
  o.total_timeout = 20s;
  auto c = httpclient::Client::Create(o);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  client_.emplace(std::move(c).value());
}

std::string GatewayTest::NewUuid() {
  std::array<uint8_t, 16> b{};
  RAND_bytes(b.data(), static_cast<int>(b.size()));
  return UuidText(UuidV4(b));
}

void GatewayTest::InsertAgent(const std::string& uuid, const AgentRow& row) {
  auto conn = Connect();
  pqxx::work tx(*conn);
  if (row.registration == "active") {
    tx.exec(fmt::format(
        "INSERT INTO registrations (agent_id, ek_public, ak_public, ak_name, state, activated_at) "
        "VALUES ('{}', '\\x01', '\\x02', '\\x000b00', 'active', now())",
        uuid));
  } else if (row.registration == "pending") {
    tx.exec(fmt::format(
        "INSERT INTO registrations (agent_id, ek_public, ak_public, ak_name, state, "
        "activation_secret_sha256, activation_expires_at) VALUES ('{}', '\\x01', '\\x02', "
        "'\\x000b00', 'pending', sha256('x'), now() + interval '1 hour')",
        uuid));
  }
  if (row.registration != "none" && row.enrolled) {
    tx.exec(fmt::format(
        "INSERT INTO enrolments (agent_id, interval_seconds, partition, state, "
        "last_attestation_at, ima_offset, boot_time, boot_log_requested) VALUES "
        "('{}', {}, {}, '{}', {}, {}, {}, {})",
        uuid, row.interval_seconds, kafka::PartitionFor(uuid, kEvidencePartitions), row.state,
        row.last_attestation_sql, row.ima_offset,
        row.boot_time_seconds ? fmt::format("to_timestamp({})", *row.boot_time_seconds) : "NULL",
        row.boot_log_requested ? "true" : "false"));
  }
  tx.commit();
}

httpclient::Response GatewayTest::Post(const std::string& path, std::string_view content_type,
                                       std::string_view body) {
  auto r = client_->Post(path, content_type, body);
  EXPECT_TRUE(r.ok()) << r.error().ToString();
  return r.ok() ? std::move(r).value() : httpclient::Response{};
}

httpclient::Response GatewayTest::Get(const std::string& path) {
  auto r = client_->Get(path);
  EXPECT_TRUE(r.ok()) << r.error().ToString();
  return r.ok() ? std::move(r).value() : httpclient::Response{};
}

httpclient::Response GatewayTest::AskChallenge(const std::string& uuid,
                                               std::optional<int64_t> boot_time_seconds) {
  v1::ChallengeRequest req;
  req.set_agent_uuid(uuid);
  req.mutable_capabilities()->add_hash_algorithms(v1::HASH_ALGORITHM_SHA256);
  if (boot_time_seconds)
    req.mutable_capabilities()->mutable_boot_time()->set_seconds(*boot_time_seconds);
  return Post("/v1/agents/" + uuid + "/challenges", "application/x-protobuf",
              req.SerializeAsString());
}

v1::Challenge GatewayTest::ChallengeOf(const httpclient::Response& r) {
  v1::Challenge ch;
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "application/x-protobuf");
  EXPECT_TRUE(ch.ParseFromString(r.body));
  return ch;
}

v1::Evidence GatewayTest::MakeEvidence(const std::string& uuid, const std::string& token,
                                       uint64_t ima_offset) {
  v1::Evidence e;
  e.set_agent_uuid(uuid);
  e.set_challenge_token(token);
  auto* q = e.mutable_quote();
  q->set_attest(std::string(145, '\x42'));
  q->set_signature(std::string(262, '\x17'));
  auto* bank = q->add_pcrs();
  bank->set_hash_algorithm(v1::HASH_ALGORITHM_SHA256);
  for (uint32_t i : {0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, 10u}) {
    (*bank->mutable_values())[i] = std::string(32, static_cast<char>(i));
  }
  auto* ima = e.mutable_ima();
  ima->set_start_offset(ima_offset);
  ima->set_entry_count(1);
  ima->set_format(v1::IMA_LOG_FORMAT_ASCII);
  ima->set_template_hash_algorithm(v1::HASH_ALGORITHM_SHA256);
  ima->set_data("10 " + std::string(64, 'a') + " ima-ng sha256:" + std::string(64, 'b') +
                " /usr/bin/true\n");
  return e;
}

httpclient::Response GatewayTest::PostEvidence(const std::string& uuid, const v1::Evidence& e) {
  return Post("/v1/agents/" + uuid + "/evidence", "application/x-protobuf", e.SerializeAsString());
}

std::vector<v1::EvidenceEnvelope> GatewayTest::RecordsOf(const std::string& uuid) {
  std::vector<v1::EvidenceEnvelope> out;
  for (const auto& rec : attest::testing::ReadTopic(kafka_->bootstrap(), topics_.evidence)) {
    if (rec.key != uuid) continue;
    EXPECT_EQ(rec.partition, kafka::PartitionFor(uuid, kEvidencePartitions));
    v1::EvidenceEnvelope env;
    EXPECT_TRUE(env.ParseFromString(rec.value));
    out.push_back(std::move(env));
  }
  return out;
}

}  // namespace attest::gateway::testing
