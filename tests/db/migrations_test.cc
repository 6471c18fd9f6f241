// The migration runner against a real PostgreSQL: fresh apply, no-op
// re-apply, concurrent runners, rollback of a failing file with its line,
// refusal of edited and out-of-order files.
#include "common/db/migrations.h"

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "common/db/errors.h"
#include "tests/harness/postgres/postgres_server.h"

namespace attest::testing {
namespace {

using attest::db::ApplyMigrations;
using attest::db::errc;

void Write(const std::filesystem::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << s;
}

class MigrationsTest : public PostgresTest {
 protected:
  int Count(pqxx::connection& c, const std::string& sql) {
    pqxx::nontransaction tx(c);
    return tx.exec(sql)[0][0].as<int>();
  }
  bool TableExists(pqxx::connection& c, const std::string& name) {
    pqxx::nontransaction tx(c);
    return !tx.exec_params("SELECT to_regclass($1)", name)[0][0].is_null();
  }
};

TEST_F(MigrationsTest, FreshApplyCreatesAllTablesAndRecordsChecksums) {
  auto files = db::LoadMigrations(SourceMigrationsDir());
  ASSERT_TRUE(files.ok());
  auto c = Connect();
  auto r = ApplyMigrations(*c, SourceMigrationsDir());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->applied.size(), files->size());
  EXPECT_TRUE(r->already_applied.empty());
  EXPECT_EQ(r->schema_version, files->back().version);
  for (const char* t : {"registrations", "policies", "enrolments", "attestation_history",
                        "attestation_history_default", "consumer_offsets", "outbox",
                        "schema_migrations", "agents_by_state", "worker_lag"}) {
    EXPECT_TRUE(TableExists(*c, t)) << t;
  }
  auto applied = db::ListAppliedMigrations(*c);
  ASSERT_TRUE(applied.ok());
  ASSERT_EQ(applied->size(), files->size());
  for (size_t i = 0; i < files->size(); ++i) {
    EXPECT_EQ((*applied)[i].version, (*files)[i].version);
    EXPECT_EQ((*applied)[i].name, (*files)[i].name);
    EXPECT_EQ((*applied)[i].checksum, (*files)[i].checksum);
  }
}

TEST_F(MigrationsTest, ReapplyIsANoOp) {
  auto c = Connect();
  ASSERT_TRUE(ApplyMigrations(*c, SourceMigrationsDir()).ok());
  const std::string snapshot =
      "SELECT string_agg(version || name || checksum || applied_at, ',' ORDER BY version) "
      "FROM schema_migrations";
  const std::string relations =
      "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace";
  std::string before;
  {
    pqxx::nontransaction tx(*c);
    before = tx.exec(snapshot)[0][0].as<std::string>();
  }
  const int relations_before = Count(*c, relations);
  auto again = ApplyMigrations(*c, SourceMigrationsDir());
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_TRUE(again->applied.empty());
  EXPECT_EQ(again->already_applied.size(),
            static_cast<size_t>(Count(*c, "SELECT count(*) FROM schema_migrations")));
  pqxx::nontransaction tx(*c);
  EXPECT_EQ(tx.exec(snapshot)[0][0].as<std::string>(), before);
  tx.commit();
  EXPECT_EQ(Count(*c, relations), relations_before);
}

TEST_F(MigrationsTest, MigrateDatabaseConnectsAndApplies) {
  // The start-up path of the registrar and of `attest-worker --migrate`.
  auto first = db::MigrateDatabase(conninfo(), SourceMigrationsDir());
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_FALSE(first->applied.empty());
  auto again = db::MigrateDatabase(conninfo(), SourceMigrationsDir());
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_TRUE(again->applied.empty());
  auto unreachable = db::MigrateDatabase("host=127.0.0.1 port=1 dbname=x connect_timeout=2",
                                         SourceMigrationsDir());
  EXPECT_FALSE(unreachable.ok());
}

TEST_F(MigrationsTest, ConcurrentRunnersApplyEachMigrationExactlyOnce) {
  constexpr int kRunners = 4;
  std::vector<Result<db::MigrationReport>> results(kRunners, Error{});
  std::vector<std::thread> threads;
  for (int i = 0; i < kRunners; ++i) {
    threads.emplace_back([&, i] {
      pqxx::connection c(conninfo());
      results[i] = ApplyMigrations(c, SourceMigrationsDir());
    });
  }
  for (auto& t : threads) t.join();
  auto files = db::LoadMigrations(SourceMigrationsDir());
  ASSERT_TRUE(files.ok());
  size_t total_applied = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.error().message;
    total_applied += r->applied.size();
    EXPECT_EQ(r->applied.size() + r->already_applied.size(), files->size());
  }
  EXPECT_EQ(total_applied, files->size());
  auto c = Connect();
  EXPECT_EQ(Count(*c, "SELECT count(*) FROM schema_migrations"), static_cast<int>(files->size()));
}

TEST_F(MigrationsTest, RunnerWaitsForTheAdvisoryLock) {
  auto holder = Connect();
  {
    pqxx::nontransaction tx(*holder);
    tx.exec("SELECT pg_advisory_lock(" + std::to_string(db::kMigrationLockKey) + ")");
  }
  Result<db::MigrationReport> result = Error{};
  std::thread runner([&] {
    pqxx::connection c(conninfo());
    result = ApplyMigrations(c, SourceMigrationsDir());
  });
  auto observer = Connect();
  // The runner shows up as a session waiting for our advisory lock...
  const bool waiting = WaitFor(
      [&] {
        return Count(*observer,
                     "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") ==
               1;
      },
      std::chrono::seconds(30));
  EXPECT_TRUE(waiting);
  // ...and has not touched the schema while it waits.
  EXPECT_FALSE(TableExists(*observer, "schema_migrations"));
  {
    pqxx::nontransaction tx(*holder);
    tx.exec("SELECT pg_advisory_unlock(" + std::to_string(db::kMigrationLockKey) + ")");
  }
  runner.join();
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_FALSE(result->applied.empty());
  // The runner released its lock when done.
  EXPECT_EQ(Count(*observer, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"), 0);
}

TEST_F(MigrationsTest, FailingMigrationRollsBackAndNamesFileAndLine) {
  TempDir dir;
  Write(dir.path() / "001_ok.sql", "CREATE TABLE ok_table (id int);\n");
  Write(dir.path() / "002_bad.sql",
        "-- a comment\nCREATE TABLE partial (id int);\n\nINSERT INTO partial VALUES (1);\n"
        "CREATE TABLE p2 (\n  a int,\n  b nosuchtype\n);\n");
  Write(dir.path() / "003_never.sql", "CREATE TABLE never (id int);\n");
  auto c = Connect();
  auto r = ApplyMigrations(*c, dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, make_error_code(errc::migration_failed));
  EXPECT_NE(r.error().message.find("002_bad.sql line 7:"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("nosuchtype"), std::string::npos) << r.error().message;
  EXPECT_TRUE(TableExists(*c, "ok_table"));
  EXPECT_FALSE(TableExists(*c, "partial"));  // rolled back with its file
  EXPECT_FALSE(TableExists(*c, "never"));    // nothing after a failure
  EXPECT_EQ(Count(*c, "SELECT count(*) FROM schema_migrations"), 1);

  // An error without a position names the line of its statement.
  Write(dir.path() / "002_bad.sql", "CREATE TABLE partial (id int);\n\nSELECT 1 / 0;\n");
  r = ApplyMigrations(*c, dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("002_bad.sql line 3:"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("division by zero"), std::string::npos) << r.error().message;
  EXPECT_FALSE(TableExists(*c, "partial"));

  // A failed file was never recorded, so fixing it is allowed.
  Write(dir.path() / "002_bad.sql", "CREATE TABLE partial (id int);\n");
  r = ApplyMigrations(*c, dir.path());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->applied, (std::vector<std::string>{"002_bad.sql", "003_never.sql"}));
  EXPECT_TRUE(TableExists(*c, "partial"));
  EXPECT_TRUE(TableExists(*c, "never"));
}

TEST_F(MigrationsTest, SyntaxErrorOnALaterLineOfAStatement) {
  TempDir dir;
  Write(dir.path() / "001_syntax.sql",
        "CREATE TABLE a (id int);\nCREATE TABLE b (\n  id int,\n  v text NOT NUL\n);\n");
  auto c = Connect();
  auto r = ApplyMigrations(*c, dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("001_syntax.sql line 4:"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("[42601]"), std::string::npos) << r.error().message;
  EXPECT_FALSE(TableExists(*c, "a"));
}

TEST_F(MigrationsTest, ChangedChecksumIsRefusedBeforeAnythingRuns) {
  TempDir dir;
  Write(dir.path() / "001_a.sql", "CREATE TABLE a (id int);\n");
  auto c = Connect();
  ASSERT_TRUE(ApplyMigrations(*c, dir.path()).ok());
  Write(dir.path() / "001_a.sql", "CREATE TABLE a (id bigint);\n");
  Write(dir.path() / "002_b.sql", "CREATE TABLE b (id int);\n");
  auto r = ApplyMigrations(*c, dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, make_error_code(errc::checksum_mismatch));
  EXPECT_NE(r.error().message.find("001_a.sql"), std::string::npos) << r.error().message;
  EXPECT_FALSE(TableExists(*c, "b"));
}

TEST_F(MigrationsTest, OutOfOrderMigrationIsRefused) {
  TempDir dir;
  Write(dir.path() / "001_a.sql", "CREATE TABLE a (id int);\n");
  Write(dir.path() / "003_c.sql", "CREATE TABLE c (id int);\n");
  auto c = Connect();
  ASSERT_TRUE(ApplyMigrations(*c, dir.path()).ok());
  Write(dir.path() / "002_b.sql", "CREATE TABLE b (id int);\n");
  auto r = ApplyMigrations(*c, dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, make_error_code(errc::invalid_migrations));
  EXPECT_NE(r.error().message.find("002_b.sql"), std::string::npos) << r.error().message;
  EXPECT_FALSE(TableExists(*c, "b"));
}

TEST_F(MigrationsTest, TransactionControlInAFileIsRefused) {
  TempDir dir;
  Write(dir.path() / "001_tx.sql", "CREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE b (id int);\n");
  auto c = Connect();
  auto r = ApplyMigrations(*c, dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, make_error_code(errc::migration_failed));
  EXPECT_NE(r.error().message.find("001_tx.sql line 2"), std::string::npos) << r.error().message;
  EXPECT_FALSE(TableExists(*c, "a"));
}

TEST_F(MigrationsTest, VersionsUnknownToThisBinaryAreReportedNotFatal) {
  TempDir dir;
  Write(dir.path() / "001_a.sql", "CREATE TABLE a (id int);\n");
  Write(dir.path() / "002_b.sql", "CREATE TABLE b (id int);\n");
  auto c = Connect();
  ASSERT_TRUE(ApplyMigrations(*c, dir.path()).ok());
  std::filesystem::remove(dir.path() / "002_b.sql");  // an older binary's migrations
  auto r = ApplyMigrations(*c, dir.path());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->unknown_versions, std::vector<int>{2});
  EXPECT_EQ(r->schema_version, 2);
}

}  // namespace
}  // namespace attest::testing
