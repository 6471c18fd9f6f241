// `attestctl db migrate|status` as an operator runs it.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/harness/postgres/postgres_server.h"

namespace attest::testing {
namespace {

class DbCliTest : public PostgresTest {
 protected:
  int Run(const std::vector<std::string>& args, std::string* out) {
    std::vector<std::string> argv = {ATTESTCTL_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, out);
  }
};

TEST_F(DbCliTest, MigrateAppliesThenIsANoOp) {
  const std::string dir = SourceMigrationsDir().string();
  std::string out;
  ASSERT_EQ(Run({"db", "migrate", "--database", conninfo(), "--migrations", dir}, &out), 0) << out;
  EXPECT_NE(out.find("applied 001_registrations.sql"), std::string::npos) << out;
  out.clear();
  ASSERT_EQ(Run({"db", "migrate", "--database", conninfo(), "--migrations", dir}, &out), 0) << out;
  EXPECT_NE(out.find("(0 applied now"), std::string::npos) << out;
  out.clear();
  ASSERT_EQ(Run({"db", "status", "--database", conninfo(), "--migrations", dir}, &out), 0) << out;
  EXPECT_NE(out.find("applied  001_registrations.sql"), std::string::npos) << out;
  EXPECT_EQ(out.find("pending"), std::string::npos) << out;
}

TEST_F(DbCliTest, FailingMigrationExitsTwoNamingFileAndLine) {
  TempDir dir;
  std::ofstream(dir.path() / "001_bad.sql")
      << "CREATE TABLE a (id int);\nCREATE TABLE b (x nosuch);\n";
  std::string out;
  EXPECT_EQ(
      Run({"db", "migrate", "--database", conninfo(), "--migrations", dir.path().string()}, &out),
      2);
  EXPECT_NE(out.find("001_bad.sql line 2"), std::string::npos) << out;
}

}  // namespace
}  // namespace attest::testing
