// Who may erase attestation history (issue 17.7, 020_history_maintenance_role.sql):
// the worker's role writes history but can neither drop, detach nor
// truncate its partitions, directly or through the SECURITY DEFINER
// retention function; attest_maintenance runs retention, counting back from
// today only. On a real PostgreSQL, as the component logins.
#include <gtest/gtest.h>

#include "tests/harness/postgres/postgres_server.h"

namespace attest::testing {
namespace {

class HistoryRolesTest : public MigratedPostgresTest {
 protected:
  void SetUp() override {
    MigratedPostgresTest::SetUp();
    worker_ = "wk_" + dbname().substr(0, 40);
    maint_ = "mt_" + dbname().substr(0, 40);
    auto c = Connect();
    pqxx::work tx(*c);
    tx.exec("CREATE ROLE " + worker_ + " LOGIN IN ROLE attest_worker");
    tx.exec("CREATE ROLE " + maint_ + " LOGIN IN ROLE attest_maintenance");
    // Three old days of history, one row each (partitions 2024-01-01..03).
    tx.exec("SELECT attestation_history_create_partitions(2, '2024-01-01')");
    tx.exec(
        "INSERT INTO attestation_history (agent_id, attested_at, sequence, result, state) "
        "SELECT '6f1b8f4e-1f2a-4c3b-9d8e-0a1b2c3d4e5f', d, 1, 'pass', 'PASS' "
        "FROM generate_series(timestamptz '2024-01-01 12:00Z', '2024-01-03 12:00Z', "
        "'1 day') AS d");
    tx.commit();
  }
  std::unique_ptr<pqxx::connection> As(const std::string& user) const {
    return std::make_unique<pqxx::connection>(conninfo() + " user=" + user);
  }
  int Rows() const {
    auto c = Connect();
    pqxx::nontransaction tx(*c);
    return tx.exec1("SELECT count(*) FROM attestation_history")[0].as<int>();
  }
  int Partitions() const {
    auto c = Connect();
    pqxx::nontransaction tx(*c);
    return tx
        .exec1(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'attestation_history'::regclass "
            "AND inhrelid::regclass::text LIKE 'attestation_history_p2024%'")[0]
        .as<int>();
  }
  // Runs `sql` as `user` in its own transaction; expects permission denied.
  void Denied(const std::string& user, const std::string& sql) const {
    auto c = As(user);
    pqxx::work tx(*c);
    EXPECT_THROW(tx.exec(sql), pqxx::insufficient_privilege) << user << ": " << sql;
  }

  std::string worker_, maint_;
};

TEST_F(HistoryRolesTest, WorkerCannotDropOrDetachHistoryPartitions) {
  ASSERT_EQ(Rows(), 3);
  ASSERT_EQ(Partitions(), 3);
  // The attack on old code: retention through the SECURITY DEFINER function
  // with a day to come dropped every partition.
  Denied(worker_, "SELECT attestation_history_drop_partitions(1, '2999-01-01')");
  Denied(worker_, "SELECT attestation_history_drop_partitions(1)");
  Denied(worker_, "DROP TABLE attestation_history_p20240101");
  Denied(worker_, "ALTER TABLE attestation_history DETACH PARTITION attestation_history_p20240101");
  Denied(worker_, "ALTER TABLE attestation_history_p20240101 RENAME TO x");
  Denied(worker_, "TRUNCATE attestation_history");
  Denied(worker_, "TRUNCATE attestation_history_p20240102");
  Denied(worker_, "DELETE FROM attestation_history");
  Denied(worker_, "UPDATE attestation_history SET result = 'fail'");
  Denied(worker_, "DROP TABLE attestation_history_default");
  EXPECT_EQ(Rows(), 3);
  EXPECT_EQ(Partitions(), 3);

  // What the worker needs still works: partitions ahead, history rows.
  auto c = As(worker_);
  pqxx::work tx(*c);
  EXPECT_EQ(tx.exec1("SELECT attestation_history_create_partitions(0, '2024-01-04')")[0].as<int>(),
            1);
  tx.exec(
      "INSERT INTO attestation_history (agent_id, attested_at, sequence, result, state) VALUES "
      "('6f1b8f4e-1f2a-4c3b-9d8e-0a1b2c3d4e5f', '2024-01-04 01:00Z', 2, 'pass', 'PASS')");
  tx.commit();
  EXPECT_EQ(Rows(), 4);
}

TEST_F(HistoryRolesTest, MaintenanceRoleRunsRetentionFromTodayOnly) {
  {
    // Naming a future "today" would drop recent history: refused.
    auto c = As(maint_);
    pqxx::work tx(*c);
    EXPECT_THROW(tx.exec("SELECT attestation_history_drop_partitions(1, current_date + 2)"),
                 pqxx::sql_error);
  }
  EXPECT_EQ(Partitions(), 3);
  {
    // Retention of 1 day on 2024-01-04: 01-01 and 01-02 go, 01-03 stays.
    auto c = As(maint_);
    pqxx::work tx(*c);
    EXPECT_EQ(tx.exec1("SELECT attestation_history_drop_partitions(1, '2024-01-04')")[0].as<int>(),
              2);
    tx.commit();
  }
  EXPECT_EQ(Partitions(), 1);
  EXPECT_EQ(Rows(), 1);
  // Not directly, though: the partitions are not the maintenance role's.
  Denied(maint_, "DROP TABLE attestation_history_p20240103");
  Denied(maint_, "DELETE FROM attestation_history");
  // Nor by any other component role.
  const std::string gw = "gw_" + dbname().substr(0, 40);
  {
    auto c = Connect();
    pqxx::work tx(*c);
    tx.exec("CREATE ROLE " + gw + " LOGIN IN ROLE attest_gateway");
    tx.commit();
  }
  Denied(gw, "SELECT attestation_history_drop_partitions(1)");
}

}  // namespace
}  // namespace attest::testing
