// The worker in-process against real PostgreSQL and the dev broker, with
// software-quoted evidence: pass, tamper (+ signed revocation), replay,
// bad token, offline and back, reboot, policy update.
#include <gtest/gtest.h>

#include <fstream>

#include "common/kafka/producer.h"
#include "tests/worker/worker_fixture.h"
#include "verifier-workers/revocation.h"
#include "verifier-workers/worker.h"

namespace attest::worker::test {
namespace {

class WorkerTest : public attest::testing::MigratedPostgresTest {
 public:
  static void SetUpTestSuite() {
    MigratedPostgresTest::SetUpTestSuite();
    broker_ = new attest::testing::DevBroker();
  }
  static void TearDownTestSuite() {
    delete broker_;
    broker_ = nullptr;
  }

 protected:
  void SetUp() override {
    MigratedPostgresTest::SetUp();
    db_ = Connect();
    kafka::ProducerConfig pc;
    pc.bootstrap_servers = broker_->bootstrap();
    auto p = kafka::Producer::Create(pc);
    ASSERT_TRUE(p.ok()) << p.error().message;
    producer_ = std::move(*p);
    collector_ = std::make_unique<Collector>(broker_->bootstrap());
  }
  void TearDown() override {
    StopWorker();
    collector_.reset();
    producer_.reset();
  }

  void StartWorker(std::function<void(WorkerConfig&)> tweak = {}) {
    auto config = MakeConfig(broker_->bootstrap(), conninfo(), keys_, "g-" + RandomUuid());
    if (tweak) tweak(config);
    auto w = Worker::Create(config, &registry_);
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

  void Send(const SimAgent& a, const std::string& envelope) {
    auto r = producer_->Produce("attestation.evidence", a.uuid, envelope, {}, {});
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_TRUE(producer_->Flush(std::chrono::seconds(10)).ok());
  }

  pqxx::row AgentRow(const SimAgent& a) {
    pqxx::work tx(*db_);
    return tx.exec_params1(
        "SELECT state::text, sequence, ima_offset, coalesce(quote_clock, -1), "
        "coalesce(quote_reset_count, -1), boot_log_requested FROM enrolments WHERE agent_id = $1",
        a.uuid);
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

  static attest::testing::DevBroker* broker_;
  attest::testing::TempDir dir_{"attest-worker-test"};
  KeyFiles keys_{dir_.path()};
  token::KeySet keys_set_ = TestKeys();
  metrics::Registry registry_;
  std::unique_ptr<pqxx::connection> db_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<Collector> collector_;
  std::unique_ptr<Worker> worker_;
  std::thread thread_;
};

attest::testing::DevBroker* WorkerTest::broker_ = nullptr;

TEST_F(WorkerTest, EnrolledAgentPassesWithHistoryAndVerdictOnTopic) {
  StartWorker();
  SimAgent a;
  auto v = FirstPass(a);
  EXPECT_EQ(v.result(), v1::VERDICT_RESULT_PASS);
  EXPECT_EQ(v.previous_state(), v1::AGENT_STATE_ENROLLED);
  EXPECT_EQ(v.state(), v1::AGENT_STATE_PASS);
  EXPECT_EQ(v.policy_versions().runtime(), 1u);
  EXPECT_FALSE(v.evidence_id().empty());
  auto row = AgentRow(a);
  EXPECT_EQ(row[0].as<std::string>(), "PASS");
  EXPECT_EQ(row[1].as<int64_t>(), 1);
  EXPECT_EQ(row[2].as<int64_t>(), 30);
  EXPECT_EQ(Count("SELECT count(*) FROM attestation_history WHERE agent_id = $1 AND "
                  "result = 'pass' AND sequence = 1 AND kafka_offset IS NOT NULL",
                  a.uuid),
            1);
  // Delivered outbox rows are deleted.
  EXPECT_TRUE(attest::testing::WaitFor([&] { return OutboxEmpty(); }, std::chrono::seconds(20)));
  for (const auto& r : collector_->Records()) {
    if (r.key == a.uuid) {
      EXPECT_EQ(r.content_type, "application/x-protobuf");
    }
  }
  // Incremental: the next evidence carries only new entries.
  a.ExtendTo(40);
  Send(a, a.Envelope(keys_set_, 30));
  auto v2 = collector_->WaitVerdict(a.uuid, 2);
  ASSERT_TRUE(v2);
  EXPECT_EQ(v2->result(), v1::VERDICT_RESULT_FAIL)  // entries 30..39 are outside the policy
      << v2->DebugString();
}

TEST_F(WorkerTest, TamperFailsWithImaIdPathAndSignedRevocation) {
  StartWorker();
  SimAgent a;
  ASSERT_EQ(FirstPass(a).result(), v1::VERDICT_RESULT_PASS);
  a.AddEvilEntry("/usr/bin/evil");
  a.ExtendTo(31);
  Send(a, a.Envelope(keys_set_, 30));
  auto v = collector_->WaitVerdict(a.uuid, 2);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->result(), v1::VERDICT_RESULT_FAIL);
  EXPECT_EQ(v->state(), v1::AGENT_STATE_FAILED);
  bool found = false;
  for (const auto& f : v->failures()) {
    if (f.event_id().rfind("ima.validation", 0) == 0 &&
        f.context().find("/usr/bin/evil") != std::string::npos) {
      found = true;
    }
  }
  EXPECT_TRUE(found) << v->DebugString();
  EXPECT_EQ(AgentRow(a)[0].as<std::string>(), "FAILED");

  // The revocation event, signed with the configured key.
  std::optional<Record> rev;
  ASSERT_TRUE(attest::testing::WaitFor(
      [&] {
        for (const auto& r : collector_->Records()) {
          if (r.topic == "attestation.revocations" && r.key == a.uuid) rev = r;
        }
        return rev.has_value();
      },
      std::chrono::seconds(30)));
  v1::SignedRevocation sr;
  ASSERT_TRUE(sr.ParseFromString(rev->value));
  EXPECT_EQ(sr.signature_algorithm(), "ecdsa-p256-sha256");
  EXPECT_EQ(sr.key_id(), "test-key");
  auto pub = LoadPublicKeyPem(attest::testing::ReadFile(keys_.revocation_pub));
  ASSERT_TRUE(pub.ok()) << pub.error().message;
  EXPECT_TRUE(VerifyRevocation(sr, pub->get()).ok());
  v1::RevocationEvent ev;
  ASSERT_TRUE(ev.ParseFromString(sr.event()));
  EXPECT_EQ(ev.agent_uuid(), a.uuid);
  EXPECT_EQ(ev.sequence(), 2u);
  // attestctl revocation verify: 0 valid, 1 invalid, 2 bad input.
  const auto file = dir_.path() / "rev.bin";
  std::ofstream(file, std::ios::binary) << rev->value;
  std::string out;
  EXPECT_EQ(attest::testing::RunCommand({ATTEST_ATTESTCTL_BINARY, "revocation", "verify", "--key",
                                         keys_.revocation_pub.string(), file.string()},
                                        &out),
            0)
      << out;
  // A flipped bit does not verify.
  sr.mutable_event()->back() ^= 1;
  EXPECT_FALSE(VerifyRevocation(sr, pub->get()).ok());
  std::string flipped;
  sr.SerializeToString(&flipped);
  std::ofstream(file, std::ios::binary | std::ios::trunc) << flipped;
  EXPECT_EQ(attest::testing::RunCommand({ATTEST_ATTESTCTL_BINARY, "revocation", "verify", "--key",
                                         keys_.revocation_pub.string(), file.string()},
                                        &out),
            1)
      << out;
  std::ofstream(file, std::ios::binary | std::ios::trunc) << "garbage";
  EXPECT_EQ(attest::testing::RunCommand({ATTEST_ATTESTCTL_BINARY, "revocation", "verify", "--key",
                                         keys_.revocation_pub.string(), file.string()},
                                        &out),
            2)
      << out;
  // The failed agent stays failed, and is not revoked again.
  a.ExtendTo(31);
  Send(a, a.Envelope(keys_set_, 31));
  ASSERT_TRUE(collector_->WaitVerdict(a.uuid, 3));
  EXPECT_EQ(AgentRow(a)[0].as<std::string>(), "FAILED");
}

TEST_F(WorkerTest, ReplayedEvidenceIsRejectedWithoutStateChange) {
  StartWorker();
  SimAgent a;
  Enrol(*db_, a, 30);
  a.ExtendTo(20);
  const std::string first = a.Envelope(keys_set_, 0);
  Send(a, first);
  ASSERT_TRUE(collector_->WaitVerdict(a.uuid, 1));
  a.ExtendTo(30);
  Send(a, a.Envelope(keys_set_, 20));
  auto v2 = collector_->WaitVerdict(a.uuid, 2);
  ASSERT_TRUE(v2);
  ASSERT_EQ(v2->result(), v1::VERDICT_RESULT_PASS) << v2->DebugString();
  auto before = AgentRow(a);

  Send(a, first);  // the old record again
  auto v3 = collector_->WaitVerdict(a.uuid, 3);
  ASSERT_TRUE(v3);
  EXPECT_EQ(v3->result(), v1::VERDICT_RESULT_REJECTED) << v3->DebugString();
  ASSERT_GT(v3->failures_size(), 0);
  EXPECT_EQ(v3->failures(0).event_id(), "quote.replay");
  auto after = AgentRow(a);
  EXPECT_EQ(after[0].as<std::string>(), "PASS");
  EXPECT_EQ(after[2].as<int64_t>(), before[2].as<int64_t>());  // ima offset
  EXPECT_EQ(after[3].as<int64_t>(), before[3].as<int64_t>());  // quote clock
  EXPECT_EQ(after[1].as<int64_t>(), 3);                        // only the sequence moved
}

TEST_F(WorkerTest, BadTokenIsRejected) {
  StartWorker();
  SimAgent a;
  Enrol(*db_, a, 30);
  a.ExtendTo(30);
  Send(a, a.Envelope(keys_set_, 0, /*break_token=*/true));
  auto v = collector_->WaitVerdict(a.uuid, 1);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->result(), v1::VERDICT_RESULT_REJECTED);
  EXPECT_EQ(v->failures(0).event_id(), "token.invalid");
  EXPECT_EQ(AgentRow(a)[0].as<std::string>(), "ENROLLED");
}

TEST_F(WorkerTest, OfflineThenResumed) {
  StartWorker();
  SimAgent a;
  // A long interval until the first PASS: the consumer's first assignment
  // can take seconds, and the sweep must not beat the first evidence.
  Enrol(*db_, a, 30);
  a.ExtendTo(30);
  Send(a, a.Envelope(keys_set_, 0));
  auto v1_ = collector_->WaitVerdict(a.uuid, 1);
  ASSERT_TRUE(v1_);
  EXPECT_EQ(v1_->result(), v1::VERDICT_RESULT_PASS);
  {
    // The trigger recomputes the liveness deadline from the last attestation.
    pqxx::work tx(*db_);
    tx.exec_params(
        "UPDATE enrolments SET interval_seconds = 1, grace_factor = 1 WHERE agent_id = $1", a.uuid);
    tx.commit();
  }
  // Silent for longer than 1 s x 1: the sweep marks it OFFLINE.
  auto off = collector_->WaitVerdict(a.uuid, 2);
  ASSERT_TRUE(off);
  EXPECT_EQ(off->result(), v1::VERDICT_RESULT_OFFLINE);
  EXPECT_EQ(off->previous_state(), v1::AGENT_STATE_PASS);
  EXPECT_EQ(AgentRow(a)[0].as<std::string>(), "OFFLINE");
  EXPECT_EQ(Count("SELECT count(*) FROM attestation_history WHERE agent_id = $1 AND "
                  "result = 'offline'",
                  a.uuid),
            1);
  // Back: the next evidence resumes it.
  Send(a, a.Envelope(keys_set_, 30));
  auto back = collector_->WaitVerdict(a.uuid, 3);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->result(), v1::VERDICT_RESULT_RESUMED) << back->DebugString();
  EXPECT_EQ(back->state(), v1::AGENT_STATE_PASS);
}

TEST_F(WorkerTest, RebootResetsImaStateAndPassesWithTheNewBoot) {
  StartWorker();
  SimAgent a;
  ASSERT_EQ(FirstPass(a).result(), v1::VERDICT_RESULT_PASS);
  a.Reboot();
  a.ExtendTo(25);
  Send(a, a.Envelope(keys_set_, 0));
  auto v = collector_->WaitVerdict(a.uuid, 2);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->result(), v1::VERDICT_RESULT_PASS) << v->DebugString();
  EXPECT_TRUE(v->reboot());
  auto row = AgentRow(a);
  EXPECT_EQ(row[2].as<int64_t>(), 25);  // ima offset of the new boot
  EXPECT_EQ(row[4].as<int64_t>(), 1);   // resetCount
  EXPECT_TRUE(row[5].as<bool>());       // boot log asked for (evidence carried none)
}

TEST_F(WorkerTest, PolicyUpdateTakesEffectOnNextEvidence) {
  StartWorker();
  SimAgent a;
  ASSERT_EQ(FirstPass(a).result(), v1::VERDICT_RESULT_PASS);
  {
    pqxx::work tx(*db_);
    auto pid = tx.exec_params1(
                     "INSERT INTO policies (kind, name, agent_id, version, body) "
                     "VALUES ('runtime', $1::text, $1::uuid, 2, $2::jsonb) RETURNING policy_id",
                     a.uuid, a.RuntimePolicy(40))[0]
                   .as<int64_t>();
    tx.exec_params("UPDATE enrolments SET runtime_policy_id = $2 WHERE agent_id = $1", a.uuid, pid);
    tx.commit();
  }
  a.ExtendTo(40);
  Send(a, a.Envelope(keys_set_, 30));
  auto v = collector_->WaitVerdict(a.uuid, 2);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->result(), v1::VERDICT_RESULT_PASS) << v->DebugString();
  EXPECT_EQ(v->policy_versions().runtime(), 2u);
}

TEST_F(WorkerTest, JsonEncodingAndMetrics) {
  StartWorker([](WorkerConfig& c) { c.encoding = Encoding::kJson; });
  SimAgent a;
  Enrol(*db_, a, 30);
  a.ExtendTo(30);
  Send(a, a.Envelope(keys_set_, 0));
  std::optional<Record> rec;
  ASSERT_TRUE(attest::testing::WaitFor(
      [&] {
        for (const auto& r : collector_->Records()) {
          if (r.key == a.uuid) rec = r;
        }
        return rec.has_value();
      },
      std::chrono::seconds(60)));
  EXPECT_EQ(rec->content_type, "application/json");
  EXPECT_NE(rec->value.find("\"VERDICT_RESULT_PASS\""), std::string::npos) << rec->value;
  const std::string text = registry_.Render();
  EXPECT_NE(text.find("worker_verdicts_total{result=\"VERDICT_RESULT_PASS\"} 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("worker_evidence_total"), std::string::npos);
}

}  // namespace
}  // namespace attest::worker::test
