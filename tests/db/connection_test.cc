// Connection helper: pqxx exceptions become attest::Error with db::errc
// codes, and passwords never reach messages.
#include "common/db/connection.h"

#include <gtest/gtest.h>

#include "tests/harness/postgres/postgres_server.h"

namespace attest::testing {
namespace {

using attest::db::Connection;
using attest::db::errc;
using attest::db::RedactConninfo;

TEST(RedactConninfo, RemovesPasswords) {
  EXPECT_EQ(RedactConninfo("host=h password=s3cret user=u"), "host=h password=*** user=u");
  EXPECT_EQ(RedactConninfo("host=h password = 'se cr\\'et' user=u"),
            "host=h password = *** user=u");
  EXPECT_EQ(RedactConninfo("postgresql://alice:s3cret@db:5432/attest"),
            "postgresql://alice:***@db:5432/attest");
  EXPECT_EQ(RedactConninfo("postgres://db/attest?user=a&password=s3cret&sslmode=require"),
            "postgres://db/attest?user=a&password=***&sslmode=require");
  EXPECT_EQ(RedactConninfo("host=h user=u"), "host=h user=u");
}

TEST(ConnectionOpen, UnreachableServerIsConnectionFailedWithoutPassword) {
  const int port = FreePort();  // nothing listens there
  auto c = Connection::Open("host=127.0.0.1 port=" + std::to_string(port) +
                            " user=x password=topsecret dbname=x connect_timeout=5");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, make_error_code(errc::connection_failed));
  EXPECT_NE(c.error().message.find(std::to_string(port)), std::string::npos) << c.error().message;
  EXPECT_EQ(c.error().message.find("topsecret"), std::string::npos) << c.error().message;
}

TEST(ConnectionOpen, MalformedConninfoIsAnError) {
  auto c = Connection::Open("host=127.0.0.1 nosuchoption=1");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, make_error_code(errc::connection_failed));
}

class ConnectionTest : public PostgresTest {};

TEST_F(ConnectionTest, TransactCommitsAndReturnsValues) {
  auto c = Connection::Open(conninfo());
  ASSERT_TRUE(c.ok()) << c.error().message;
  auto created = c->Transact("create", [](pqxx::work& tx) {
    tx.exec("CREATE TABLE t (id int PRIMARY KEY)");
    tx.exec("INSERT INTO t VALUES (1)");
  });
  ASSERT_TRUE(created.ok()) << created.error().message;
  auto n = c->Transact(
      "count", [](pqxx::work& tx) { return tx.exec("SELECT count(*) FROM t")[0][0].as<int>(); });
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
}

TEST_F(ConnectionTest, ErrorsAreTranslatedAndRolledBack) {
  auto c = Connection::Open(conninfo());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c->Transact("setup", [](pqxx::work& tx) {
                 tx.exec("CREATE TABLE t (id int PRIMARY KEY)");
                 tx.exec("INSERT INTO t VALUES (1)");
               }).ok());

  auto dup = c->Transact("insert duplicate", [](pqxx::work& tx) {
    tx.exec("INSERT INTO t VALUES (2)");
    tx.exec("INSERT INTO t VALUES (1)");
  });
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, make_error_code(errc::constraint_violation));
  EXPECT_EQ(dup.error().message.rfind("insert duplicate: ", 0), 0u) << dup.error().message;

  auto syntax = c->Transact("bad sql", [](pqxx::work& tx) { tx.exec("SELEC 1"); });
  ASSERT_FALSE(syntax.ok());
  EXPECT_EQ(syntax.error().code, make_error_code(errc::query_failed));
  EXPECT_NE(syntax.error().message.find("[42601]"), std::string::npos) << syntax.error().message;

  auto retry = c->Transact("conflict", [](pqxx::work& tx) {
    tx.exec("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$");
  });
  ASSERT_FALSE(retry.ok());
  EXPECT_EQ(retry.error().code, make_error_code(errc::retryable)) << retry.error().message;

  // Nothing of the failed transactions stayed.
  auto n = c->Transact(
      "count", [](pqxx::work& tx) { return tx.exec("SELECT count(*) FROM t")[0][0].as<int>(); });
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
}

TEST_F(ConnectionTest, KilledSessionIsConnectionFailed) {
  auto victim = Connection::Open(conninfo());
  ASSERT_TRUE(victim.ok());
  auto pid = victim->Transact(
      "pid", [](pqxx::work& tx) { return tx.exec("SELECT pg_backend_pid()")[0][0].as<int>(); });
  ASSERT_TRUE(pid.ok());
  auto killer = Connect();
  {
    pqxx::nontransaction tx(*killer);
    tx.exec_params("SELECT pg_terminate_backend($1)", *pid);
  }
  auto r = victim->Transact("after kill", [](pqxx::work& tx) { tx.exec("SELECT 1"); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, make_error_code(errc::connection_failed)) << r.error().message;
}

}  // namespace
}  // namespace attest::testing
