// Forward-only schema migrations from a directory of NNN_name.sql files.
//
// Rules (see schemas/sql/README.md):
//  - a file is named NNN_name.sql (3+ digits, then [a-z0-9_]); other files
//    are ignored, a *.sql file with another name is an error;
//  - versions are unique; pending files are applied in version order, each
//    in its own transaction, recorded in schema_migrations with the SHA-256
//    of the file; an applied file must never change (checksum_mismatch);
//  - a pending version lower than the highest applied one is refused (a
//    migration merged out of order would silently run on some databases
//    before newer ones and after them on others);
//  - migrations must not contain BEGIN/COMMIT/ROLLBACK (the runner owns the
//    transaction).
// Concurrent runners serialize on a session advisory lock
// (kMigrationLockKey) held for the whole run, so each migration is applied
// exactly once and every runner returns success.
//
// Thread-safety: each call uses only the connection it is given.
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/base/result.h"

namespace attest::db {

// pg_advisory_lock key of the migration runner ("attestdb" in ASCII).
inline constexpr int64_t kMigrationLockKey = 0x6174746573746462;

struct MigrationFile {
  int version = 0;
  std::string name;  // file name, e.g. "001_registrations.sql"
  std::filesystem::path path;
  std::string sql;
  std::string checksum;  // lowercase hex SHA-256 of the file bytes
};

// Reads and validates the migration files of `dir`, sorted by version.
Result<std::vector<MigrationFile>> LoadMigrations(const std::filesystem::path& dir);

struct AppliedMigration {
  int version = 0;
  std::string name;
  std::string checksum;
  std::string applied_at;  // as text, server time zone
};

struct MigrationReport {
  std::vector<std::string> applied;          // files applied by this run, in order
  std::vector<std::string> already_applied;  // files found applied before this run
  std::vector<int> unknown_versions;         // applied in the DB, no file (newer schema)
  int schema_version = 0;                    // highest applied version after the run
};

// Applies the pending migrations of `dir`. A failing migration is rolled
// back and the error (errc::migration_failed) names the file and line; the
// migrations before it stay applied.
Result<MigrationReport> ApplyMigrations(pqxx::connection_base& conn,
                                        const std::filesystem::path& dir);

// The rows of schema_migrations (empty when the table does not exist yet).
Result<std::vector<AppliedMigration>> ListAppliedMigrations(pqxx::connection_base& conn);

// Opens a connection with `conninfo` and applies `dir`: what the services do
// at start-up (safe when several start at once: the runner takes a lock).
Result<MigrationReport> MigrateDatabase(const std::string& conninfo,
                                        const std::filesystem::path& dir);

}  // namespace attest::db
