// The schema of schemas/sql as the services will use it: constraints that
// refuse bad rows, triggers that maintain derived columns, and the history
// partition functions.
#include <gtest/gtest.h>

#include "tests/harness/postgres/postgres_server.h"

namespace attest::testing {
namespace {

class SchemaTest : public MigratedPostgresTest {};

TEST_F(SchemaTest, AllTablesExist) {
  auto c = Connect();
  pqxx::nontransaction tx(*c);
  for (const char* t : {"registrations", "policies", "enrolments", "attestation_history",
                        "consumer_offsets", "outbox", "schema_migrations"}) {
    EXPECT_FALSE(tx.exec_params("SELECT to_regclass($1)", t)[0][0].is_null()) << t;
  }
}

}  // namespace
}  // namespace attest::testing
