// Error codes of the PostgreSQL adapter (connections, queries, migrations).
// pqxx exceptions are translated into these at the module edge (see
// connection.h: TranslateException), so callers never catch pqxx types.
#pragma once

#include <system_error>

namespace attest::db {

enum class errc {
  ok = 0,
  connection_failed = 1,     // could not connect, or the connection broke
  query_failed = 2,          // the server refused a statement (syntax, missing object, ...)
  constraint_violation = 3,  // unique / foreign key / check / not-null violated
  retryable = 4,             // serialization failure or deadlock: run the transaction again
  in_doubt = 5,              // the connection broke during COMMIT: outcome unknown
  migration_failed = 6,      // a migration file failed; message names file and line
  checksum_mismatch = 7,     // an applied migration file was edited afterwards
  invalid_migrations = 8,    // the migrations directory is unreadable or malformed
  usage_error = 9,           // the caller misused the API (e.g. nested transactions)
  pool_full = 10,            // Pool: the work queue is at its limit; job refused
  pool_timeout = 11,         // Pool: the job waited longer than max_wait for a connection
  pool_stopped = 12,         // Pool: stopping; job refused or not run
};

const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

}  // namespace attest::db

template <>
struct std::is_error_code_enum<attest::db::errc> : std::true_type {};
