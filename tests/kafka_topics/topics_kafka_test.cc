// The topic table and the start-up check on a real Apache Kafka node (the
// run's shared cluster, tests/harness/kafka): `attestctl kafka topics
// create|check`, mismatches as the cluster reports them, services that refuse
// a missing or mismatched topic or a Kafka that does not answer, the
// registrar reading the partition count, and why the evidence topic needs
// more than the gateway's message.max.bytes.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/kafka/errors.h"
#include "common/kafka/producer.h"
#include "common/kafka/topics.h"
#include "tests/harness/kafka/kafka_cluster.h"
#include "tests/harness/util/process.h"

namespace attest::kafka {
namespace {

using attest::testing::KafkaCluster;
using attest::testing::RunCommand;
using attest::testing::UniqueName;

struct Names {
  std::string evidence = UniqueName("topics.evidence");
  std::string verdicts = UniqueName("topics.verdicts");
  std::string revocations = UniqueName("topics.revocations");
};

class TopicsKafkaTest : public ::testing::Test {
 protected:
  KafkaCluster& kafka_ = KafkaCluster::Shared();
  attest::testing::TempDir dir_{"attest-topics"};

  int Ctl(const std::vector<std::string>& args, const Names& n, std::string* out) {
    std::vector<std::string> argv = {ATTESTCTL_BINARY,
                                     "kafka",
                                     "topics",
                                     args.at(0),
                                     "--bootstrap-servers",
                                     kafka_.bootstrap(),
                                     "--evidence-topic",
                                     n.evidence,
                                     "--verdict-topic",
                                     n.verdicts,
                                     "--revocation-topic",
                                     n.revocations,
                                     "--timeout",
                                     "20"};
    argv.insert(argv.end(), args.begin() + 1, args.end());
    return RunCommand(argv, out);
  }

  Result<ClusterView> Describe(const std::vector<std::string>& topics) {
    AdminConfig ac;
    ac.bootstrap_servers = kafka_.bootstrap();
    auto admin = TopicAdmin::Create(ac);
    if (!admin) return admin.error();
    return (*admin)->Describe(topics, true, std::chrono::seconds(20));
  }

  std::string Write(const std::string& name, const std::string& text) {
    const auto path = (dir_.path() / name).string();
    std::ofstream(path) << text;
    return path;
  }

  // Runs a service binary to its exit (it must not start); returns the exit
  // code and its log.
  int RunService(const std::string& binary, const std::string& config, std::string* log,
                 std::chrono::milliseconds* took = nullptr) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::string> argv = {binary, "--config", config};
    if (binary == ATTEST_REGISTRAR_BINARY) argv.push_back("--no-migrate");
    const int rc = RunCommand(argv, log);
    if (took) {
      *took = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
    }
    return rc;
  }

  std::string GatewayConfig(const std::string& bootstrap, const std::string& topic,
                            int startup_timeout_ms = 10'000) {
    // Files are not read before the topic check, which comes first.
    std::ostringstream t;
    t << "gateway_id = \"gw-topics\"\n[server]\nlisten = \"127.0.0.1:0\"\n"
      << "cert_file = \"" << (dir_.path() / "none.pem").string() << "\"\n"
      << "key_file = \"" << (dir_.path() / "none.key").string() << "\"\n"
      << "[token]\nkey_files = [\"" << (dir_.path() / "none.token").string() << "\"]\n"
      << "[database]\nconninfo = \"host=/nonexistent\"\n"
      << "[kafka]\nbootstrap_servers = \"" << bootstrap << "\"\ntopic = \"" << topic << "\"\n"
      << "startup_timeout_ms = " << startup_timeout_ms << "\n";
    return Write("gateway.toml", t.str());
  }

  std::string WorkerConfig(const Names& n) {
    std::ostringstream t;
    t << "worker_id = \"w-topics\"\n[kafka]\nbootstrap_servers = \"" << kafka_.bootstrap()
      << "\"\nevidence_topic = \"" << n.evidence << "\"\nverdict_topic = \"" << n.verdicts
      << "\"\nrevocation_topic = \"" << n.revocations << "\"\nstartup_timeout_ms = 10000\n"
      << "[database]\nconninfo = \"host=/nonexistent\"\n"
      << "[token]\nkey_files = [\"" << (dir_.path() / "none.token").string() << "\"]\n"
      << "[revocation]\nsigning_key_file = \"" << (dir_.path() / "none.key").string()
      << "\"\nkey_id = \"k\"\n";
    return Write("worker.toml", t.str());
  }

  std::string RegistrarConfig(const std::string& topic, int expected_partitions) {
    std::ostringstream t;
    t << "[server]\ncert = \"none.pem\"\nkey = \"none.key\"\n[database]\nconninfo = "
         "\"host=/nonexistent\"\n[ek]\nrequire_cert = false\n[admin]\ntoken_file = \""
      << (dir_.path() / "none.token").string() << "\"\n[kafka]\nbootstrap_servers = \""
      << kafka_.bootstrap() << "\"\nevidence_topic = \"" << topic << "\"\n";
    if (expected_partitions > 0) t << "evidence_partitions = " << expected_partitions << "\n";
    return Write("registrar.toml", t.str());
  }
};

TEST_F(TopicsKafkaTest, CreateIsIdempotentAndCheckPasses) {
  Names n;
  std::string out;
  ASSERT_EQ(Ctl({"check"}, n, &out), 1) << out;  // nothing there yet
  EXPECT_NE(out.find(n.evidence + " evidence: MISSING"), std::string::npos) << out;

  out.clear();
  ASSERT_EQ(Ctl({"create", "--partitions", "4", "--replication-factor", "1"}, n, &out), 0) << out;
  EXPECT_NE(out.find(n.evidence + " evidence: created (4 partitions"), std::string::npos) << out;
  EXPECT_NE(out.find("max.message.bytes=2163712"), std::string::npos) << out;
  EXPECT_NE(out.find(n.revocations + " revocations: created"), std::string::npos) << out;

  out.clear();
  ASSERT_EQ(Ctl({"create", "--partitions", "4", "--replication-factor", "1"}, n, &out), 0) << out;
  EXPECT_NE(out.find(n.evidence + " evidence: ok"), std::string::npos) << out;

  out.clear();
  ASSERT_EQ(Ctl({"check", "--partitions", "4", "--json"}, n, &out), 0) << out;
  std::istringstream lines(out);
  std::string line;
  int topics = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["status"], "ok") << line;
    EXPECT_TRUE(j["mismatches"].empty()) << line;
    EXPECT_TRUE(j["warnings"].empty()) << line;
    EXPECT_EQ(j["replication_factor"], 1);
    EXPECT_EQ(j["configs"]["cleanup.policy"], "delete");
    ++topics;
  }
  EXPECT_EQ(topics, 3);

  // What the cluster reports meets the table exactly.
  auto view = Describe({n.evidence, n.verdicts, n.revocations});
  ASSERT_TRUE(view.ok()) << view.error().message;
  EXPECT_EQ(view->brokers, 1);
  PipelineTopicOptions o;
  o.evidence = n.evidence;
  o.verdicts = n.verdicts;
  o.revocations = n.revocations;
  o.evidence_partitions = 4;
  const auto specs = PipelineTopics(o, view->brokers);
  for (size_t i = 0; i < specs.size(); ++i) {
    const auto& seen = view->topics[i];
    EXPECT_EQ(seen.configs_state, TopicDescription::Configs::kKnown);
    EXPECT_EQ(seen.configs.at("retention.ms"), specs[i].configs.at("retention.ms"));
    EXPECT_TRUE(CheckTopic(seen, specs[i].need).empty()) << seen.name;
  }

  // Asking for more partitions than the topic has is reported.
  out.clear();
  EXPECT_EQ(Ctl({"check", "--partitions", "12"}, n, &out), 1) << out;
  EXPECT_NE(out.find("MISMATCH: partitions is 4, needs at least 12"), std::string::npos) << out;
}

TEST_F(TopicsKafkaTest, MismatchesAreReportedAndCreateDoesNotTouchThem) {
  Names n;
  attest::testing::CreateTopics(
      kafka_,
      {{n.evidence, 3, 1, {{"max.message.bytes", "1048588"}}},
       // One replica cannot satisfy two in-sync replicas: every
       // acks=all write would fail.
       {n.verdicts, 3, 1, {{"min.insync.replicas", "2"}}},
       {n.revocations, 3, 1, {{"retention.ms", "3600000"}, {"cleanup.policy", "compact"}}}});
  auto view = Describe({n.evidence, n.verdicts, n.revocations});
  ASSERT_TRUE(view.ok()) << view.error().message;
  PipelineTopicOptions o;
  o.evidence = n.evidence;
  o.verdicts = n.verdicts;
  o.revocations = n.revocations;
  const auto specs = PipelineTopics(o, view->brokers);
  auto kinds = [&](size_t i) {
    std::vector<MismatchKind> k;
    for (const auto& m : CheckTopic(view->topics[i], specs[i].need)) k.push_back(m.kind);
    return k;
  };
  EXPECT_EQ(kinds(0), (std::vector<MismatchKind>{MismatchKind::kTooFewPartitions,
                                                 MismatchKind::kMaxMessageBytesTooSmall}));
  EXPECT_EQ(kinds(1), std::vector<MismatchKind>{MismatchKind::kMinInsyncAboveReplicas});
  EXPECT_EQ(kinds(2), (std::vector<MismatchKind>{MismatchKind::kRetentionTooShort,
                                                 MismatchKind::kCleanupPolicy}));

  std::string out;
  EXPECT_EQ(Ctl({"check"}, n, &out), 1) << out;
  EXPECT_NE(out.find("partitions is 3, needs at least 12"), std::string::npos) << out;
  EXPECT_NE(out.find("max.message.bytes is 1048588, needs at least 2163712"), std::string::npos)
      << out;
  EXPECT_NE(out.find("min.insync.replicas is 2, needs at most the replication factor (1)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("cleanup.policy is compact, needs delete"), std::string::npos) << out;
  // create leaves existing topics alone and fails on the mismatch.
  out.clear();
  EXPECT_EQ(Ctl({"create"}, n, &out), 1) << out;
  EXPECT_NE(out.find(n.evidence + " evidence: MISMATCH"), std::string::npos) << out;
  auto again = Describe({n.evidence});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->topics[0].partitions, 3);
  EXPECT_EQ(again->topics[0].configs.at("max.message.bytes"), "1048588");
}

TEST_F(TopicsKafkaTest, GatewayRefusesAnEvidenceTopicTooSmallForItsRecords) {
  const std::string topic = UniqueName("topics.small");
  attest::testing::CreateTopics(kafka_, {{topic, 3, 1, {{"max.message.bytes", "1048588"}}}});
  std::string log;
  EXPECT_EQ(RunService(ATTEST_GATEWAY_BINARY, GatewayConfig(kafka_.bootstrap(), topic), &log), 1)
      << log;
  EXPECT_NE(log.find("gateway: refusing to start: topic " + topic +
                     " (evidence): max.message.bytes is 1048588, needs at least 2163712"),
            std::string::npos)
      << log;
}

TEST_F(TopicsKafkaTest, GatewayGivesUpOnAKafkaThatDoesNotAnswer) {
  const int port = attest::testing::FreePort();  // nothing listens there
  std::string log;
  std::chrono::milliseconds took{};
  EXPECT_EQ(RunService(ATTEST_GATEWAY_BINARY,
                       GatewayConfig("127.0.0.1:" + std::to_string(port), "attestation.evidence",
                                     /*startup_timeout_ms=*/3000),
                       &log, &took),
            1)
      << log;
  EXPECT_GE(took, std::chrono::milliseconds(2900));
  EXPECT_LT(took, std::chrono::milliseconds(15'000));
  EXPECT_NE(log.find("does not answer yet"), std::string::npos) << log;
  EXPECT_NE(log.find("did not answer within 3000 ms (kafka.startup_timeout_ms)"), std::string::npos)
      << log;
}

TEST_F(TopicsKafkaTest, WorkerRefusesAMissingOrMismatchedTopic) {
  Names n;
  std::string out;
  ASSERT_EQ(Ctl({"create", "--partitions", "2"}, n, &out), 0) << out;
  const Names missing{n.evidence, n.verdicts, UniqueName("topics.absent")};
  std::string log;
  EXPECT_EQ(RunService(ATTEST_WORKER_BINARY, WorkerConfig(missing), &log), 1) << log;
  EXPECT_NE(log.find("worker: refusing to start: kafka at " + kafka_.bootstrap() + ": topic(s) " +
                     missing.revocations + " do not exist"),
            std::string::npos)
      << log;

  const Names compacted{n.evidence, UniqueName("topics.compacted"), n.revocations};
  attest::testing::CreateTopics(kafka_,
                                {{compacted.verdicts, 2, 1, {{"cleanup.policy", "compact"}}}});
  log.clear();
  EXPECT_EQ(RunService(ATTEST_WORKER_BINARY, WorkerConfig(compacted), &log), 1) << log;
  EXPECT_NE(log.find("worker: refusing to start: topic " + compacted.verdicts +
                     " (verdicts): cleanup.policy is compact, needs delete"),
            std::string::npos)
      << log;

  // The topics `create` made are what the worker needs: it passes the check
  // (and stops later, at its missing key files).
  log.clear();
  EXPECT_NE(RunService(ATTEST_WORKER_BINARY, WorkerConfig(n), &log), 0);
  EXPECT_EQ(log.find("refusing to start"), std::string::npos) << log;
  EXPECT_NE(log.find("topic " + n.revocations + " (revocations): 2 partitions, 1 replicas"),
            std::string::npos)
      << log;
}

TEST_F(TopicsKafkaTest, RegistrarReadsThePartitionCountAndCrossChecksTheKey) {
  const std::string topic = UniqueName("topics.registrar");
  attest::testing::CreateTopics(kafka_, {{topic, 5, 1, {}}});
  std::string log;
  EXPECT_EQ(RunService(ATTEST_REGISTRAR_BINARY, RegistrarConfig(topic, 12), &log), 1) << log;
  EXPECT_NE(log.find("registrar: refusing to start: kafka.evidence_partitions is 12 but topic " +
                     topic + " has 5 partitions"),
            std::string::npos)
      << log;
  // Without the key (or with the right count) the count comes from the
  // cluster; the registrar then stops at its missing token file.
  for (int expected : {0, 5}) {
    log.clear();
    EXPECT_EQ(RunService(ATTEST_REGISTRAR_BINARY, RegistrarConfig(topic, expected), &log), 2)
        << log;
    EXPECT_NE(log.find("registrar: evidence topic " + topic + " has 5 partitions"),
              std::string::npos)
        << log;
  }
  log.clear();
  EXPECT_EQ(
      RunService(ATTEST_REGISTRAR_BINARY, RegistrarConfig(UniqueName("topics.none"), 0), &log), 1)
      << log;
  EXPECT_NE(log.find("do not exist"), std::string::npos) << log;
}

// The broker compares a record batch, not a record, with max.message.bytes:
// the largest evidence the gateway's producer accepts (message.max.bytes =
// kafka.message_max_bytes, lz4, incompressible bytes) does not fit a topic
// whose limit is exactly that, and fits the table's (+ kRecordBatchOverheadBytes).
TEST_F(TopicsKafkaTest, EvidenceAtTheGatewaysLimitNeedsTheBatchMargin) {
  const int64_t limit = kDefaultEvidenceMessageMaxBytes;
  const std::string exact = UniqueName("topics.exact");
  const std::string table = UniqueName("topics.table");
  attest::testing::CreateTopics(
      kafka_,
      {{exact, 1, 1, {{"max.message.bytes", std::to_string(limit)}}},
       {table, 1, 1, {{"max.message.bytes", std::to_string(limit + kRecordBatchOverheadBytes)}}}});
  ProducerConfig pc;
  pc.bootstrap_servers = kafka_.bootstrap();
  pc.linger = std::chrono::milliseconds(0);
  pc.delivery_timeout = std::chrono::milliseconds(20'000);
  pc.extra = {{"message.max.bytes", std::to_string(limit)}, {"compression.type", "lz4"}};
  auto producer = Producer::Create(pc);
  ASSERT_TRUE(producer.ok()) << producer.error().message;

  const std::string key = "6f1d2a53-0c4e-4b8e-9a61-000000000001";
  const std::vector<Header> headers = {{"content-type", "application/x-protobuf"}};
  std::string value(static_cast<size_t>(limit), '\0');
  std::mt19937_64 rng(7);
  for (char& c : value) c = static_cast<char>(rng());

  // The largest value the producer takes (Produce refuses larger ones at
  // once: its check counts the record's framing), written to the table's topic.
  std::promise<Result<Delivery>> on_table;
  for (;;) {
    auto r =
        (*producer)->Produce(table, key, value, headers,
                             [&on_table](const Result<Delivery>& d) { on_table.set_value(d); });
    if (r.ok()) break;
    ASSERT_EQ(r.error().code, errc::message_too_large) << r.error().message;
    value.pop_back();
  }
  ASSERT_GT(value.size(), static_cast<size_t>(limit) - 200);
  auto written = on_table.get_future().get();
  EXPECT_TRUE(written.ok()) << value.size() << " bytes: " << written.error().message;

  std::promise<Result<Delivery>> on_exact;
  ASSERT_TRUE((*producer)
                  ->Produce(exact, key, value, headers,
                            [&on_exact](const Result<Delivery>& d) { on_exact.set_value(d); })
                  .ok());
  auto refused = on_exact.get_future().get();
  ASSERT_FALSE(refused.ok()) << "a record of " << value.size() << " bytes fit " << exact;
  EXPECT_EQ(refused.error().code, errc::message_too_large) << refused.error().message;
}

}  // namespace
}  // namespace attest::kafka
