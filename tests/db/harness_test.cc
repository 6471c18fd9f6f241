// The PostgreSQL harness itself: it serves queries, gives each test its own
// database, and survives Stop/Start with data intact.
#include <gtest/gtest.h>

#include "tests/harness/postgres/postgres_server.h"

namespace attest::testing {
namespace {

class HarnessTest : public PostgresTest {};

TEST_F(HarnessTest, EachTestGetsItsOwnEmptyDatabase) {
  auto c = Connect();
  pqxx::nontransaction tx(*c);
  EXPECT_EQ(tx.exec("SELECT current_database()")[0][0].as<std::string>(), dbname());
  EXPECT_EQ(tx.exec("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0][0].as<int>(),
            0);
  EXPECT_EQ(tx.exec("SELECT current_setting('server_version_num')::int / 10000")[0][0].as<int>(),
            15);
}

TEST_F(HarnessTest, RestartKeepsData) {
  {
    auto c = Connect();
    pqxx::work tx(*c);
    tx.exec("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)");
    tx.commit();
  }
  auto c = Connect();  // held across the restart: it must break, not hang
  server().Restart();
  EXPECT_TRUE(server().running());
  EXPECT_THROW(
      {
        pqxx::nontransaction tx(*c);
        tx.exec("SELECT 1");
      },
      pqxx::broken_connection);
  auto fresh = Connect();
  pqxx::nontransaction tx(*fresh);
  EXPECT_EQ(tx.exec("SELECT v FROM kept")[0][0].as<int>(), 42);
}

TEST_F(HarnessTest, StoppedServerRefusesConnections) {
  server().Stop();
  EXPECT_FALSE(PortOpen(server().port()));
  EXPECT_THROW(Connect(), pqxx::broken_connection);
  server().Start();
  EXPECT_NO_THROW(Connect());
}

}  // namespace
}  // namespace attest::testing
