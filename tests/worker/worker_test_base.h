// The in-process worker fixture of the worker tests: a migrated database
// and the pipeline's three topics (unique names, on the run's Apache Kafka)
// per test, a verdict collector, StartWorker / StopWorker and small database
// helpers.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/kafka/producer.h"
#include "tests/worker/worker_fixture.h"
#include "verifier-workers/worker.h"

namespace attest::worker::test {

class WorkerTest : public attest::testing::MigratedPostgresTest {
 public:
  static void SetUpTestSuite() {
    MigratedPostgresTest::SetUpTestSuite();
    kafka_ = &attest::testing::KafkaCluster::Shared();
  }

 protected:
  void SetUp() override {
    MigratedPostgresTest::SetUp();
    db_ = Connect();
    topics_ = attest::testing::CreatePipelineTopics(*kafka_, kPartitions);
    kafka::ProducerConfig pc;
    pc.bootstrap_servers = kafka_->bootstrap();
    // As the gateway produces by default (its kafka.message_max_bytes and
    // kafka.compression): evidence up to the 2 MiB body limit fits.
    pc.extra = {{"message.max.bytes", "2162688"}, {"compression.type", "lz4"}};
    auto p = kafka::Producer::Create(pc);
    ASSERT_TRUE(p.ok()) << p.error().message;
    producer_ = std::move(*p);
    collector_ = std::make_unique<Collector>(kafka_->bootstrap(), topics_);
  }
  void TearDown() override {
    StopWorker();
    collector_.reset();
    producer_.reset();
  }

  void StartWorker(std::function<void(WorkerConfig&)> tweak = {}) {
    worker_group_ = attest::testing::UniqueName("workers");
    auto config = MakeConfig(kafka_->bootstrap(), topics_, conninfo(), keys_, worker_group_);
    if (tweak) tweak(config);
    auto w = Worker::Create(config, &registry_, clock_);
    ASSERT_TRUE(w.ok()) << w.error().message;
    worker_ = std::move(*w);
    thread_ = std::thread([this] {
      auto r = worker_->Run();
      if (!r) ADD_FAILURE() << r.error().message;
    });
  }
  void StopWorker() {
    if (!worker_) return;
    worker_->RequestStop();
    thread_.join();
    worker_.reset();
  }

  void Send(const SimAgent& a, const std::string& envelope) { Send(a.uuid, envelope); }
  void Send(const std::string& uuid, const std::string& envelope) {
    auto r = producer_->Produce(topics_.evidence, uuid, envelope, {}, {});
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_TRUE(producer_->Flush(std::chrono::seconds(10)).ok());
  }

  pqxx::row AgentRow(const SimAgent& a) { return AgentRow(a.uuid); }
  pqxx::row AgentRow(const std::string& uuid) {
    pqxx::work tx(*db_);
    return tx.exec_params1(
        "SELECT state::text, sequence, ima_offset, coalesce(quote_clock, -1), "
        "coalesce(quote_reset_count, -1), boot_log_requested FROM enrolments WHERE agent_id = $1",
        uuid);
  }
  int64_t Count(const std::string& sql, const std::string& uuid) {
    pqxx::work tx(*db_);
    return tx.exec_params1(sql, uuid)[0].as<int64_t>();
  }
  bool OutboxEmpty() {
    pqxx::work tx(*db_);
    return tx.exec1("SELECT count(*) FROM outbox")[0].as<int64_t>() == 0;
  }

  // Enrols, then sends entries [0, 30) and waits for the PASS verdict.
  v1::Verdict FirstPass(SimAgent& a) {
    Enrol(*db_, a, 30);
    a.ExtendTo(30);
    Send(a, a.Envelope(keys_set_, 0));
    auto v = collector_->WaitVerdict(a.uuid, 1);
    if (!v) {
      ADD_FAILURE() << "no verdict 1";
      return {};
    }
    return *v;
  }

  static inline attest::testing::KafkaCluster* kafka_ = nullptr;
  PipelineTopics topics_;
  attest::testing::TempDir dir_{"attest-worker-test"};
  KeyFiles keys_{dir_.path()};
  token::KeySet keys_set_ = TestKeys();
  const attest::SystemClock clock_;  // outlives the workers
  metrics::Registry registry_;
  std::unique_ptr<pqxx::connection> db_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<Collector> collector_;
  std::unique_ptr<Worker> worker_;
  std::string worker_group_;
  std::thread thread_;
};

}  // namespace attest::worker::test
