// The worker's SQL on a real database: the batch update is HOT for a
// passing agent (migration 016's lazy deadline), the sweep tells agents
// past their real deadline from candidates still alive, and the batch
// writes carry any text and bytes unchanged.
#include <gtest/gtest.h>

#include "tests/harness/postgres/postgres_server.h"
#include "verifier-workers/store.h"

namespace attest::worker {
namespace {

constexpr const char* kAgent = "0b6f3a5e-8d7c-4e2a-9f10-2c3d4e5f6a7b";

class StoreTest : public attest::testing::MigratedPostgresTest {
 protected:
  void SetUp() override {
    MigratedPostgresTest::SetUp();
    conn_ = Connect();
    PrepareStoreStatements(*conn_);
    Exec(
        "INSERT INTO registrations (agent_id, ek_public, ak_public, ak_name, state, activated_at) "
        "VALUES ('" +
        std::string(kAgent) + "', '\\x01', '\\x02', '\\x000b' || sha256('ak'), 'active', now())");
    // Interval 60 s x grace 3: the real deadline is 180 s after the last attestation.
    Exec(
        "INSERT INTO enrolments (agent_id, interval_seconds, grace_factor, partition, state) "
        "VALUES ('" +
        std::string(kAgent) + "', 60, 3, 0, 'PASS')");
  }
  void Exec(const std::string& sql) {
    pqxx::work tx(*conn_);
    tx.exec0(sql);
    tx.commit();
  }
  std::string Value(const std::string& sql) {
    pqxx::work tx(*conn_);
    return tx.exec1(sql)[0].c_str();
  }
  // One attestation of kAgent written as the batch writes it; returns the
  // HOT updates of enrolments it made.
  int Attest() {
    pqxx::work tx(*conn_);
    // Counts not yet flushed to the statistics include earlier transactions.
    auto hot_updates = [&] {
      return tx
          .exec1(
              "SELECT n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'enrolments'")[0]
          .as<int>();
    };
    const int hot_before = hot_updates();
    auto rows = LoadAgents(tx, {kAgent}, {}, false);
    EXPECT_TRUE(rows.ok());
    AgentRow& row = rows->at(kAgent);
    row.sequence += 1;
    row.attested = true;
    row.dirty = true;
    EXPECT_TRUE(WriteResults(tx, {&row}, {}, {}, "w1").ok());
    const int hot = hot_updates() - hot_before;
    tx.commit();
    return hot;
  }
  std::unique_ptr<pqxx::connection> conn_;
};

TEST_F(StoreTest, PassingAttestationKeepsAFarDeadlineAndIsHot) {
  const std::string before = Value("SELECT liveness_deadline FROM enrolments");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Attest(), 1) << "attestation " << i;
  EXPECT_EQ(Value("SELECT liveness_deadline FROM enrolments"), before);
  EXPECT_EQ(Value("SELECT sequence FROM enrolments"), "3");
  // The real deadline follows the last attestation (dashboards read it).
  EXPECT_EQ(Value("SELECT liveness_deadline - last_attestation_at FROM agent_last_attestation"),
            "00:03:00");
}

TEST_F(StoreTest, DeadlineLessThanHalfTheWindowAheadMoves) {
  // Stored deadline 60 s ahead, under half of 180 s: it moves to the real one.
  Exec(
      "UPDATE enrolments SET liveness_deadline = now() + interval '60 s', "
      "updated_at = '2001-01-01'");
  Attest();
  EXPECT_EQ(Value("SELECT liveness_deadline - last_attestation_at FROM enrolments"), "00:03:00");
  EXPECT_EQ(Value("SELECT updated_at > '2001-01-01' FROM enrolments"), "t");
}

TEST_F(StoreTest, SweepReturnsOnlyAgentsPastTheRealDeadline) {
  // Candidate (stored deadline passed) but attested 10 s ago: alive.
  Exec(
      "UPDATE enrolments SET last_attestation_at = now() - interval '10 s', "
      "liveness_deadline = now() - interval '1 s', updated_at = now()");
  {
    pqxx::work tx(*conn_);
    auto overdue = LockOverdueAgents(tx, {0}, 100);
    ASSERT_TRUE(overdue.ok()) << overdue.error().message;
    EXPECT_TRUE(overdue->empty());
    tx.commit();
  }
  // Its stored deadline is the real one now: no longer a candidate.
  EXPECT_EQ(Value("SELECT liveness_deadline - last_attestation_at FROM enrolments"), "00:03:00");
  // Silent for an hour: overdue.
  Exec("UPDATE enrolments SET last_attestation_at = now() - interval '1 hour'");
  pqxx::work tx(*conn_);
  auto overdue = LockOverdueAgents(tx, {0}, 100);
  ASSERT_TRUE(overdue.ok()) << overdue.error().message;
  EXPECT_EQ(*overdue, std::vector<std::string>{kAgent});
}

// The batch writes pass every column as an array literal: quotes,
// backslashes and any byte must arrive unchanged.
TEST_F(StoreTest, BatchWritesKeepQuotesBackslashesAndBytes) {
  const std::string failures = R"([{"event_id":"ima.x","context":{"path":"/a\\\"b\\c"}}])";
  std::string payload;
  for (int c = 0; c < 256; ++c) payload += static_cast<char>(c);
  HistoryRecord h;
  h.agent_id = kAgent;
  h.sequence = 1;
  h.result = "fail";
  h.state = "FAILED";
  h.failures_json = failures;
  OutboxRecord o{"attestation.verdicts", kAgent, "application/x-protobuf", payload, 0};
  {
    pqxx::work tx(*conn_);
    auto rows = LoadAgents(tx, {kAgent}, {}, false);
    ASSERT_TRUE(rows.ok());
    AgentRow& row = rows->at(kAgent);
    row.state = "FAILED";
    row.state_reason = R"(say "no" \ twice)";
    auto ids = WriteResults(tx, {&row}, {&h}, {&o}, "w1");
    ASSERT_TRUE(ids.ok()) << ids.error().message;
    tx.commit();
  }
  pqxx::work tx(*conn_);
  EXPECT_EQ(tx.exec_params1("SELECT failures = $1::jsonb FROM attestation_history", failures)[0]
                .as<bool>(),
            true);
  EXPECT_EQ(tx.exec1("SELECT state_reason FROM enrolments")[0].as<std::string>(),
            R"(say "no" \ twice)");
  auto stored = LoadOutbox(tx, 0, 0, 10);
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ(stored->front().record.payload, payload);
  EXPECT_EQ(stored->front().record.key, kAgent);
}

}  // namespace
}  // namespace attest::worker
