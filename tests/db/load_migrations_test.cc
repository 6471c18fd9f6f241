// Reading a migrations directory: naming rules, order, checksums. The real
// schemas/sql must satisfy them too.
#include <gtest/gtest.h>

#include <fstream>

#include "common/db/errors.h"
#include "common/db/migrations.h"
#include "tests/harness/util/process.h"

namespace attest::db {
namespace {

using attest::testing::TempDir;

void Write(const std::filesystem::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary) << s;
}

TEST(LoadMigrations, SortsByVersionAndIgnoresOtherFiles) {
  TempDir dir;
  Write(dir.path() / "010_later.sql", "SELECT 10;");
  Write(dir.path() / "002_second.sql", "SELECT 2;");
  Write(dir.path() / "001_first.sql", "SELECT 1;");
  Write(dir.path() / "README.md", "not sql");
  auto r = LoadMigrations(dir.path());
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].name, "001_first.sql");
  EXPECT_EQ((*r)[1].version, 2);
  EXPECT_EQ((*r)[2].version, 10);
  // sha256("SELECT 1;") as computed by sha256sum
  EXPECT_EQ((*r)[0].checksum, "17db4fd369edb9244b9f91d9aeed145c3d04ad8ba6e95d06247f07a63527d11a");
  EXPECT_EQ((*r)[0].checksum.size(), 64u);
  EXPECT_NE((*r)[0].checksum, (*r)[1].checksum);
}

TEST(LoadMigrations, RefusesBadNamesAndDuplicates) {
  {
    TempDir dir;
    Write(dir.path() / "1_short.sql", "SELECT 1;");
    auto r = LoadMigrations(dir.path());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, make_error_code(errc::invalid_migrations));
    EXPECT_NE(r.error().message.find("1_short.sql"), std::string::npos);
  }
  {
    TempDir dir;
    Write(dir.path() / "001_a.sql", "SELECT 1;");
    Write(dir.path() / "001_b.sql", "SELECT 1;");
    auto r = LoadMigrations(dir.path());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("duplicate migration version 1"), std::string::npos);
  }
  {
    auto r = LoadMigrations("/nonexistent/migrations");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, make_error_code(errc::invalid_migrations));
  }
}

TEST(LoadMigrations, SourceTreeSchemasAreWellFormed) {
  auto r = LoadMigrations(std::filesystem::path(ATTEST_SOURCE_DIR) / "schemas/sql");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_GE(r->size(), 7u);
  EXPECT_EQ(r->front().version, 1);
}

}  // namespace
}  // namespace attest::db
