// Statement splitting: what psql would run as separate statements, with the
// line each starts on, so migration errors point at the right line.
#include "common/db/sql_script.h"

#include <gtest/gtest.h>

#include "common/db/errors.h"

namespace attest::db {
namespace {

std::vector<SqlStatement> Split(std::string_view s) {
  auto r = SplitSqlScript(s);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : std::vector<SqlStatement>{};
}

TEST(SqlScript, SplitsOnTopLevelSemicolonsWithLines) {
  auto st = Split("-- header\nCREATE TABLE a (x int);\n\n  INSERT INTO a VALUES (1);\nSELECT 1");
  ASSERT_EQ(st.size(), 3u);
  EXPECT_EQ(st[0].text, "CREATE TABLE a (x int);");
  EXPECT_EQ(st[0].line, 2);
  EXPECT_EQ(st[1].text, "INSERT INTO a VALUES (1);");
  EXPECT_EQ(st[1].line, 4);
  EXPECT_EQ(st[2].text, "SELECT 1");
  EXPECT_EQ(st[2].line, 5);
}

TEST(SqlScript, SemicolonsInsideQuotesAndCommentsDoNotSplit) {
  auto st = Split(
      "SELECT 'a;b', 'it''s;', E'x\\';y', \"we;ird\" /* c; /* nested; */ still; */ FROM t;\n"
      "-- comment; here\n"
      "SELECT 2;");
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[1].text, "SELECT 2;");
  EXPECT_EQ(st[1].line, 3);
}

TEST(SqlScript, DollarQuotedBodiesAreOneStatement) {
  auto st = Split(
      "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 1;\nEND;\n$$;\n"
      "DO $body$ BEGIN PERFORM 1; END $body$;\n"
      "SELECT a$b, $1 FROM t;");
  ASSERT_EQ(st.size(), 3u);
  EXPECT_EQ(st[1].line, 6);
  EXPECT_EQ(FirstKeyword(st[1].text), "DO");
  EXPECT_EQ(st[2].line, 7);
}

TEST(SqlScript, LinesCountInsideMultiLineTokens) {
  auto st = Split("SELECT 'a\nb\nc';\n/* x\ny */ SELECT $$\n$$;\nSELECT 3;");
  ASSERT_EQ(st.size(), 3u);
  EXPECT_EQ(st[1].line, 5);
  EXPECT_EQ(st[2].line, 7);
}

TEST(SqlScript, EmptyAndCommentOnlyScripts) {
  EXPECT_TRUE(Split("").empty());
  EXPECT_TRUE(Split("  -- nothing\n/* at all */\n;;\n").empty());
}

TEST(SqlScript, UnterminatedTokensAreErrorsWithTheirLine) {
  for (const char* bad : {"SELECT 1;\nSELECT 'abc", "SELECT 1;\n/* open",
                          "SELECT 1;\nDO $x$ abc $y$", "SELECT 1;\nSELECT \"abc"}) {
    auto r = SplitSqlScript(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, make_error_code(errc::invalid_migrations));
    EXPECT_NE(r.error().message.find("line 2"), std::string::npos) << r.error().message;
  }
}

TEST(SqlScript, ErrorLineUsesLibpqPosition) {
  SqlStatement st{"CREATE TABLE x (\n  a int,\n  b nosuchtype\n);", 10};
  EXPECT_EQ(ErrorLine(st, "ERROR:  type \"nosuchtype\" does not exist\nLINE 3:   b nosuchtype\n"),
            12);
  EXPECT_EQ(ErrorLine(st, "ERROR:  division by zero\n"), 10);
  EXPECT_EQ(ErrorLine(st, "ERROR:  LINE 99: is not a marker mid-line\n"), 10);
}

TEST(SqlScript, FirstKeyword) {
  EXPECT_EQ(FirstKeyword("begin;"), "BEGIN");
  EXPECT_EQ(FirstKeyword("Create table"), "CREATE");
  EXPECT_EQ(FirstKeyword("(SELECT 1)"), "");
}

}  // namespace
}  // namespace attest::db
