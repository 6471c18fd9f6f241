// Splits a SQL script (a migration file) into statements the way psql does
// for the constructs our migrations use, so each statement can be run alone
// and an error can be mapped back to a line of the file.
//
// Understood: -- and nested /* */ comments, '...' strings ('' escapes),
// E'...' strings (backslash escapes), "..." identifiers and $tag$...$tag$
// dollar quoting (function bodies, DO blocks). Not understood: SQL-standard
// function bodies (BEGIN ATOMIC ... END) and psql meta-commands: use $$.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"

namespace attest::db {

struct SqlStatement {
  std::string text;  // from its first token to its terminating ';' (if any)
  int line = 1;      // 1-based line of text[0] in the script
};

// Statements in order; comments and blanks between statements are dropped.
// Fails (errc::invalid_migrations) on an unterminated string, identifier,
// comment or dollar quote, naming the line where it starts.
Result<std::vector<SqlStatement>> SplitSqlScript(std::string_view script);

// Maps a server error to a line of the script: when `server_message`
// contains libpq's "LINE n:" marker (an error position inside the
// statement), returns statement.line + n - 1; otherwise statement.line.
int ErrorLine(const SqlStatement& statement, std::string_view server_message);

// The first keyword of a statement, upper-cased ("CREATE", "BEGIN", ...).
std::string FirstKeyword(std::string_view statement);

}  // namespace attest::db
