// A throwaway PostgreSQL 15 cluster for tests, and a GoogleTest fixture.
//
// PostgresServer runs initdb into a temp dir and a postmaster on a free
// 127.0.0.1 port (unix socket inside the temp dir, fsync off: test data is
// disposable). As root (initdb and postgres refuse root) both run as the
// `postgres` system user. The destructor stops the server (fast shutdown)
// and removes the directory, also when the test failed; a watchdog process
// does the same if the test binary dies without running destructors.
//
// Thread-safety: the object is driven from one thread; conninfo strings can
// be used from any thread.
#pragma once

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <filesystem>
#include <memory>
#include <string>

#include "tests/harness/util/process.h"

namespace attest::testing {

// Source-tree schemas/sql (compile definition ATTEST_MIGRATIONS_DIR).
std::filesystem::path SourceMigrationsDir();

class PostgresServer {
 public:
  // Creates the cluster and starts it; throws std::runtime_error (with the
  // server log) when it cannot.
  PostgresServer();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  int port() const { return port_; }
  const std::string& user() const { return user_; }
  // conninfo of the `postgres` database (TCP on 127.0.0.1).
  std::string conninfo() const { return ConninfoFor("postgres"); }
  std::string ConninfoFor(const std::string& dbname) const;

  // Creates database `name` (optionally as a copy of `template_db`) and
  // returns its conninfo. Names are [a-z0-9_], at most 63 characters.
  std::string CreateDatabase(const std::string& name, const std::string& template_db = "");
  // Applies schemas/sql (or `dir`) to the database; throws on failure.
  void Migrate(const std::string& conninfo, const std::filesystem::path& dir = {});

  // Stop: fast shutdown (clients are disconnected). Start: same data dir
  // and port. Both idempotent.
  void Stop();
  void Start();
  void Restart() {
    Stop();
    Start();
  }
  bool running() const { return postmaster_ != nullptr; }

  // The server log so far (for failure messages).
  std::string Log() const;

 private:
  void StartWatchdog();

  TempDir dir_{"attest-pg"};
  std::string user_ = "postgres";
  int port_ = 0;
  std::unique_ptr<Subprocess> postmaster_;
  std::unique_ptr<Subprocess> watchdog_;
};

// Fixture: one server per test binary (started by the first suite that
// needs it, stopped at exit), a fresh empty database per test.
class PostgresTest : public ::testing::Test {
 public:
  static void SetUpTestSuite();
  static PostgresServer& server();

 protected:
  void SetUp() override;
  // The conninfo of this test's database.
  const std::string& conninfo() const { return conninfo_; }
  const std::string& dbname() const { return dbname_; }
  std::unique_ptr<pqxx::connection> Connect() const {
    return std::make_unique<pqxx::connection>(conninfo_);
  }
  // Whether SetUp applies schemas/sql (from a migrated template database).
  virtual bool migrated() const { return false; }

 private:
  std::string conninfo_;
  std::string dbname_;
};

// Same, but each test's database already has every migration applied.
class MigratedPostgresTest : public PostgresTest {
 protected:
  bool migrated() const override { return true; }
};

}  // namespace attest::testing
