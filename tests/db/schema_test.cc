// The schema of schemas/sql as the services will use it: constraints that
// refuse bad rows, triggers that maintain derived columns, the liveness
// sweep query, the dashboard views and the history partition functions.
#include <gtest/gtest.h>

#include "tests/harness/postgres/postgres_server.h"

namespace attest::testing {
namespace {

constexpr const char* kAgent = "6f1b8f4e-1f2a-4c3b-9d8e-0a1b2c3d4e5f";

class SchemaTest : public MigratedPostgresTest {
 protected:
  void Exec(const std::string& sql) {
    auto c = Connect();
    pqxx::work tx(*c);
    tx.exec(sql);
    tx.commit();
  }
  std::string Value(const std::string& sql) {
    auto c = Connect();
    pqxx::nontransaction tx(*c);
    auto r = tx.exec(sql);
    return r[0][0].is_null() ? "NULL" : r[0][0].as<std::string>();
  }
  void Register(const std::string& agent = kAgent) {
    Exec(
        "INSERT INTO registrations (agent_id, ek_public, ak_public, ak_name, state, activated_at) "
        "VALUES ('" +
        agent + "', '\\x0102', '\\x0304', '\\x000b' || sha256('ak'), 'active', now())");
  }
};

TEST_F(SchemaTest, AllTablesAndViewsExist) {
  for (const char* t :
       {"registrations", "policies", "policies_latest", "enrolments", "attestation_history",
        "consumer_offsets", "outbox", "schema_migrations", "agents_by_state", "failures_last_hour",
        "attestation_rate", "worker_lag"}) {
    EXPECT_EQ(Value(std::string("SELECT to_regclass('") + t + "')::text"), t);
    EXPECT_NO_THROW(Value(std::string("SELECT count(*) FROM ") + t)) << t;
  }
}

TEST_F(SchemaTest, PendingRegistrationNeedsASecretAndExpiry) {
  EXPECT_THROW(Exec(std::string("INSERT INTO registrations (agent_id, ek_public, ak_public, "
                                "ak_name) VALUES ('") +
                    kAgent + "', '\\x01', '\\x02', '\\x000b01')"),
               pqxx::check_violation);
  Exec(std::string("INSERT INTO registrations (agent_id, ek_public, ak_public, ak_name, "
                   "activation_secret_sha256, activation_expires_at) VALUES ('") +
       kAgent + "', '\\x01', '\\x02', '\\x000b01', sha256('s'), now() + interval '5 min')");
  EXPECT_EQ(Value("SELECT state::text FROM registrations"), "pending");
  // updated_at is maintained by trigger.
  Exec(
      "UPDATE registrations SET updated_at = '2000-01-01', state = 'active', activated_at = now()");
  EXPECT_EQ(Value("SELECT updated_at > '2001-01-01' FROM registrations"), "t");
}

TEST_F(SchemaTest, PolicyVersionsAreImmutableAndUnique) {
  Exec("INSERT INTO policies (kind, name, version, body) VALUES ('runtime', 'fleet', 1, '{}')");
  Exec(
      "INSERT INTO policies (kind, name, version, body) VALUES ('runtime', 'fleet', 2, "
      "'{\"a\":1}')");
  EXPECT_THROW(
      Exec("INSERT INTO policies (kind, name, version, body) VALUES ('runtime', 'fleet', 2, '{}')"),
      pqxx::unique_violation);
  EXPECT_THROW(Exec("UPDATE policies SET body = '{\"b\":2}' WHERE version = 1"),
               pqxx::integrity_constraint_violation);
  EXPECT_EQ(Value("SELECT version FROM policies_latest WHERE name = 'fleet'"), "2");
}

TEST_F(SchemaTest, LivenessDeadlineFollowsLastAttestation) {
  Register();
  Exec(std::string("INSERT INTO enrolments (agent_id, interval_seconds, grace_factor, partition) "
                   "VALUES ('") +
       kAgent + "', 60, 2.5, 3)");
  EXPECT_EQ(Value("SELECT liveness_deadline - enrolled_at FROM enrolments"), "00:02:30");
  Exec("UPDATE enrolments SET last_attestation_at = now() - interval '10 min', state = 'PASS'");
  EXPECT_EQ(Value("SELECT liveness_deadline - last_attestation_at FROM enrolments"), "00:02:30");
  // The worker's liveness sweep for its partitions finds the agent overdue.
  const std::string sweep =
      "SELECT count(*) FROM enrolments WHERE partition = ANY('{1,3}'::int[]) "
      "AND state <> 'OFFLINE' AND liveness_deadline < now()";
  EXPECT_EQ(Value(sweep), "1");
  EXPECT_EQ(Value("SELECT agents FROM agents_by_state WHERE state = 'PASS'"), "1");
  Exec("UPDATE enrolments SET state = 'OFFLINE'");
  EXPECT_EQ(Value(sweep), "0");
  EXPECT_EQ(Value("SELECT state_changed_at >= updated_at - interval '1 s' FROM enrolments"), "t");
  // Bad values are refused.
  EXPECT_THROW(Exec("UPDATE enrolments SET interval_seconds = 0"), pqxx::check_violation);
  EXPECT_THROW(Exec("UPDATE enrolments SET ima_pcr10 = '\\x0102'"), pqxx::check_violation);
  EXPECT_THROW(Exec("UPDATE enrolments SET state = 'BOGUS'"), pqxx::data_exception);
}

// A writer that sets updated_at itself (the worker's batch update, which
// also sets the deadline) skips the row trigger; any other update still gets
// it (migration 016).
TEST_F(SchemaTest, ExplicitDeadlineSkipsTheTrigger) {
  Register();
  Exec(std::string("INSERT INTO enrolments (agent_id, interval_seconds, grace_factor, partition) "
                   "VALUES ('") +
       kAgent + "', 60, 2, 3)");
  Exec(
      "UPDATE enrolments SET last_attestation_at = '2030-01-01', "
      "liveness_deadline = '2030-01-01 00:07', updated_at = '2001-01-01'");
  EXPECT_EQ(Value("SELECT liveness_deadline - last_attestation_at FROM enrolments"), "00:07:00");
  EXPECT_EQ(Value("SELECT updated_at = '2001-01-01' FROM enrolments"), "t");
  Exec("UPDATE enrolments SET interval_seconds = 30");
  EXPECT_EQ(Value("SELECT liveness_deadline - last_attestation_at FROM enrolments"), "00:01:00");
  EXPECT_EQ(Value("SELECT updated_at > '2001-01-01' FROM enrolments"), "t");
}

// Migration 015: the state index holds only agents that are not passing, so
// the update a PASS agent's evidence makes adds nothing to it.
TEST_F(SchemaTest, PassingUpdatesSkipTheStateIndex) {
  Exec(
      "INSERT INTO registrations (agent_id, ek_public, ak_public, ak_name, state, activated_at) "
      "SELECT gen_random_uuid(), '\\x01', '\\x02', '\\x000b' || sha256('ak'), 'active', now() "
      "FROM generate_series(1, 1000)");
  Exec(
      "INSERT INTO enrolments (agent_id, interval_seconds, partition, state) "
      "SELECT agent_id, 60, 0, 'PASS' FROM registrations");
  for (int i = 0; i < 3; ++i) {
    Exec(
        "UPDATE enrolments SET liveness_deadline = now() + interval '3 minutes', "
        "last_attestation_at = now(), sequence = sequence + 1");
  }
  // 3,000 new row versions and not one index entry: the metapage and an empty root.
  EXPECT_EQ(Value("SELECT pg_relation_size('enrolments_not_passing') <= 16384"), "t");
  Exec(
      "UPDATE enrolments SET state = 'OFFLINE' WHERE agent_id IN "
      "(SELECT agent_id FROM enrolments LIMIT 10)");
  EXPECT_EQ(Value("SET enable_seqscan = off; "
                  "SELECT count(*) FROM enrolments WHERE state = 'OFFLINE'"),
            "10");
}

TEST_F(SchemaTest, EnrolmentNeedsARegistration) {
  EXPECT_THROW(Exec(std::string("INSERT INTO enrolments (agent_id, interval_seconds, partition) "
                                "VALUES ('") +
                    kAgent + "', 60, 0)"),
               pqxx::foreign_key_violation);
}

TEST_F(SchemaTest, HistoryPartitionsAreCreatedMovedAndDropped) {
  const std::string parts =
      "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_inherits i "
      "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'attestation_history'::regclass "
      "AND c.relname < 'attestation_history_p2025'";
  // A row for a day without a partition lands in the default partition.
  Exec(std::string("INSERT INTO attestation_history (agent_id, attested_at, sequence, result, "
                   "state) VALUES ('") +
       kAgent + "', '2024-01-02 12:00:00+00', 1, 'pass', 'PASS')");
  EXPECT_EQ(Value("SELECT count(*) FROM attestation_history_default"), "1");

  EXPECT_EQ(Value("SELECT attestation_history_create_partitions(3, '2024-01-01')"), "4");
  EXPECT_EQ(Value(parts),
            "attestation_history_default,attestation_history_p20240101,"
            "attestation_history_p20240102,attestation_history_p20240103,"
            "attestation_history_p20240104");
  // The row moved to its day's partition and is still visible.
  EXPECT_EQ(Value("SELECT count(*) FROM attestation_history_default"), "0");
  EXPECT_EQ(Value("SELECT count(*) FROM attestation_history_p20240102"), "1");
  EXPECT_EQ(Value("SELECT count(*) FROM attestation_history"), "1");
  // Idempotent.
  EXPECT_EQ(Value("SELECT attestation_history_create_partitions(3, '2024-01-01')"), "0");
  // Day boundaries are UTC midnight.
  Exec(std::string("INSERT INTO attestation_history (agent_id, attested_at, sequence, result, "
                   "state) VALUES ('") +
       kAgent + "', '2024-01-03 23:59:59.999+00', 2, 'fail', 'FAILED'), ('" + kAgent +
       "', '2024-01-04 00:30:00+01', 3, 'pass', 'PASS')");
  EXPECT_EQ(Value("SELECT count(*) FROM attestation_history_p20240103"), "2");

  // Keep 2 days as of 2024-01-05: days before 2024-01-03 go.
  EXPECT_EQ(Value("SELECT attestation_history_drop_partitions(2, '2024-01-05')"), "2");
  EXPECT_EQ(Value(parts),
            "attestation_history_default,attestation_history_p20240103,"
            "attestation_history_p20240104");
  EXPECT_EQ(Value("SELECT count(*) FROM attestation_history"), "2");
  // Today's partitions (created by the migration) are untouched.
  EXPECT_NE(Value("SELECT to_regclass(attestation_history_partition_name("
                  "(now() AT TIME ZONE 'UTC')::date))::text"),
            "NULL");
  EXPECT_THROW(Value("SELECT attestation_history_drop_partitions(0)"), pqxx::sql_error);
}

TEST_F(SchemaTest, OutboxAndOffsetsConstraints) {
  Exec(
      "INSERT INTO outbox (topic, key, headers, payload, partition) "
      "VALUES ('attestation.verdicts', 'k', '{\"content-type\":\"application/x-protobuf\"}', "
      "'\\x00', 0)");
  EXPECT_THROW(Exec("INSERT INTO outbox (topic, payload, partition) VALUES ('bad topic!', '', 0)"),
               pqxx::check_violation);
  EXPECT_THROW(Exec("INSERT INTO outbox (topic, headers, payload, partition) "
                    "VALUES ('t', '[]', '', 0)"),
               pqxx::check_violation);
  Exec(
      "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset) "
      "VALUES ('workers', 'attestation.evidence', 0, 10)");
  EXPECT_THROW(Exec("INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset) "
                    "VALUES ('workers', 'attestation.evidence', 0, 11)"),
               pqxx::unique_violation);
  EXPECT_EQ(Value("SELECT outbox_pending FROM worker_lag WHERE partition = 0"), "1");
}

TEST_F(SchemaTest, ComponentRolesHaveLeastPrivilege) {
  const std::string gw = "gw_" + dbname().substr(0, 40);
  const std::string worker = "wk_" + dbname().substr(0, 40);
  Exec("CREATE ROLE " + gw + " LOGIN IN ROLE attest_gateway; CREATE ROLE " + worker +
       " LOGIN IN ROLE attest_worker");
  Register();
  Exec(std::string("INSERT INTO enrolments (agent_id, interval_seconds, partition) VALUES ('") +
       kAgent + "', 60, 0)");
  auto as = [&](const std::string& user) {
    return std::make_unique<pqxx::connection>(conninfo() + " user=" + user);
  };
  {
    auto c = as(gw);
    pqxx::nontransaction tx(*c);
    EXPECT_EQ(tx.exec("SELECT count(*) FROM enrolments")[0][0].as<int>(), 1);
    EXPECT_THROW(tx.exec("UPDATE enrolments SET ima_offset = 1"), pqxx::insufficient_privilege);
  }
  {
    auto c = as(gw);
    pqxx::nontransaction tx(*c);
    EXPECT_THROW(tx.exec("INSERT INTO outbox (topic, payload, partition) VALUES ('t', '', 0)"),
                 pqxx::insufficient_privilege);
  }
  {
    auto c = as(gw);
    pqxx::nontransaction tx(*c);
    EXPECT_THROW(tx.exec("SELECT attestation_history_create_partitions(1, '2030-01-01')"),
                 pqxx::insufficient_privilege);
  }
  {
    // Workers maintain partitions without owning the table.
    auto c = as(worker);
    pqxx::work tx(*c);
    EXPECT_EQ(
        tx.exec("SELECT attestation_history_create_partitions(1, '2030-01-01')")[0][0].as<int>(),
        2);
    tx.exec("UPDATE enrolments SET state = 'PASS'");
    tx.exec("INSERT INTO outbox (topic, payload, partition) VALUES ('t', '', 0)");
    tx.commit();
  }
  EXPECT_EQ(Value("SELECT to_regclass('attestation_history_p20300102')::text"),
            "attestation_history_p20300102");
}

}  // namespace
}  // namespace attest::testing
