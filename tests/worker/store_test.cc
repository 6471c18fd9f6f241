// The worker's SQL on a real database: the batch update is HOT for a
// passing agent (migration 016's lazy deadline), liveness counts from when
// the gateway received the evidence, the sweep tells agents past their real
// deadline from candidates still alive (up to the time a partition has been
// read through), and the batch writes carry any text and bytes unchanged.
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
  // The SQL for time point `t` (exact to the microsecond, like timestamptz).
  static std::string At(Clock::time_point t) {
    const auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
    return "(timestamptz 'epoch' + " + std::to_string(us) + " * interval '1 microsecond')";
  }
  // One attestation of kAgent, received by the gateway at `received`, written
  // as the batch writes it; returns the HOT updates of enrolments it made.
  int Attest(Clock::time_point received = Clock::now()) {
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
    // Not max'ed with the stored value here: the store must keep
    // last_attestation_at from moving backwards on its own.
    row.attested_at = received;
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
    auto overdue = LockOverdueAgents(tx, {{0, std::nullopt}}, 100);
    ASSERT_TRUE(overdue.ok()) << overdue.error().message;
    EXPECT_TRUE(overdue->empty());
    tx.commit();
  }
  // Its stored deadline is the real one now: no longer a candidate.
  EXPECT_EQ(Value("SELECT liveness_deadline - last_attestation_at FROM enrolments"), "00:03:00");
  // Silent for an hour: overdue.
  Exec("UPDATE enrolments SET last_attestation_at = now() - interval '1 hour'");
  pqxx::work tx(*conn_);
  auto overdue = LockOverdueAgents(tx, {{0, std::nullopt}}, 100);
  ASSERT_TRUE(overdue.ok()) << overdue.error().message;
  EXPECT_EQ(*overdue, std::vector<std::string>{kAgent});
}

// The sweep compares deadlines with the time through which the worker has
// read the agent's partition: an agent whose deadline passed after that time
// may have evidence waiting in the backlog, so it is not overdue yet.
TEST_F(StoreTest, SweepCountsToThePartitionsSeenThroughTime) {
  // Silent for an hour (real deadline 57 minutes ago, stored as such).
  Exec(
      "UPDATE enrolments SET last_attestation_at = now() - interval '1 hour', "
      "liveness_deadline = now() - interval '57 min', updated_at = now()");
  auto overdue_at = [&](std::optional<Clock::time_point> seen) {
    pqxx::work tx(*conn_);
    auto overdue = LockOverdueAgents(tx, {{0, seen}}, 100);
    EXPECT_TRUE(overdue.ok()) << overdue.error().message;
    tx.commit();
    return overdue.ok() ? *overdue : std::vector<std::string>{};
  };
  const auto now = Clock::now();
  // Read through two hours ago: its deadline is still ahead of that.
  EXPECT_TRUE(overdue_at(now - std::chrono::hours(2)).empty());
  EXPECT_EQ(overdue_at(now - std::chrono::minutes(30)), std::vector<std::string>{kAgent});
  EXPECT_EQ(overdue_at(std::nullopt), std::vector<std::string>{kAgent});
  // Another partition's time does not apply to it.
  {
    pqxx::work tx(*conn_);
    auto overdue = LockOverdueAgents(tx, {{1, std::nullopt}}, 100);
    ASSERT_TRUE(overdue.ok()) << overdue.error().message;
    EXPECT_TRUE(overdue->empty());
  }
  // A seen-through time ahead of the database clock (a gateway clock ahead)
  // counts as now(): an agent attested 10 s ago is alive, and as a candidate
  // (stored deadline passed) it gets its real deadline stored.
  Exec(
      "UPDATE enrolments SET last_attestation_at = now() - interval '10 s', "
      "liveness_deadline = now() - interval '1 s', updated_at = now()");
  EXPECT_TRUE(overdue_at(now + std::chrono::hours(24)).empty());
  EXPECT_EQ(Value("SELECT liveness_deadline - last_attestation_at FROM enrolments"), "00:03:00");
}

// Evidence that waited in Kafka counts from when the gateway received it:
// last_attestation_at and the real deadline follow the received time, the
// stored deadline stays a lower bound of the real one, and an older received
// time (evidence reordered between gateways) never moves them backwards.
TEST_F(StoreTest, AttestationCountsFromTheReceivedTime) {
  const Clock::time_point received = Clock::now() - std::chrono::seconds(100);
  Attest(received);
  EXPECT_EQ(Value("SELECT last_attestation_at = " + At(received) + " FROM enrolments"), "t");
  EXPECT_EQ(Value("SELECT liveness_deadline - " + At(received) + " FROM agent_last_attestation"),
            "00:03:00");
  // The deadline stored at enrolment (now + 180 s) is past the real one (now
  // + 80 s): keeping it would delay the sweep, so the real one is stored.
  EXPECT_EQ(Value("SELECT liveness_deadline <= enrolment_liveness_due(e) FROM enrolments e"), "t");
  EXPECT_EQ(Value("SELECT liveness_deadline = enrolment_liveness_due(e) FROM enrolments e"), "t");

  Attest(received - std::chrono::seconds(50));
  EXPECT_EQ(Value("SELECT last_attestation_at = " + At(received) + " FROM enrolments"), "t");
  EXPECT_EQ(Value("SELECT liveness_deadline <= enrolment_liveness_due(e) FROM enrolments e"), "t");

  // A later one within half the grace window of the stored deadline keeps it
  // (HOT) and the real deadline still follows the received time.
  const Clock::time_point later = received + std::chrono::seconds(20);
  EXPECT_EQ(Attest(later), 1);
  EXPECT_EQ(Value("SELECT last_attestation_at = " + At(later) + " FROM enrolments"), "t");
  EXPECT_EQ(Value("SELECT liveness_deadline = " + At(received) +
                  " + interval '180 s' "
                  "FROM enrolments"),
            "t");
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
  h.result = v1::VERDICT_RESULT_FAIL;
  h.state = EnrolmentState::kFailed;
  h.failures_json = failures;
  OutboxRecord o{"attestation.verdicts", kAgent, "application/x-protobuf", payload, 0};
  {
    pqxx::work tx(*conn_);
    auto rows = LoadAgents(tx, {kAgent}, {}, false);
    ASSERT_TRUE(rows.ok());
    AgentRow& row = rows->at(kAgent);
    row.state = EnrolmentState::kFailed;
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
