#include "common/db/migrations.h"

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>

#include "common/db/connection.h"
#include "common/db/errors.h"
#include "common/db/sql_script.h"

namespace attest::db {
namespace {

constexpr std::uintmax_t kMaxMigrationBytes = 4 * 1024 * 1024;

constexpr const char* kCreateTable = R"(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version     integer PRIMARY KEY CHECK (version >= 0),
  name        text NOT NULL,
  checksum    text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
  applied_at  timestamptz NOT NULL DEFAULT now(),
  duration_ms integer NOT NULL DEFAULT 0
))";

std::string Sha256Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) return "";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

Error Invalid(const std::string& msg) { return MakeError(errc::invalid_migrations, msg); }

// First line of a server message ("ERROR:  syntax error at or near ...").
std::string FirstLine(const std::string& s) {
  std::string line = s.substr(0, s.find('\n'));
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

// Releases the session advisory lock however the run ends. If the
// connection broke, the server already released it with the session.
class AdvisoryLock {
 public:
  explicit AdvisoryLock(pqxx::connection_base& conn) : conn_(conn) {
    pqxx::nontransaction tx(conn_, "migration lock");
    tx.exec("SELECT pg_advisory_lock(" + std::to_string(kMigrationLockKey) + ")");
  }
  ~AdvisoryLock() {
    try {
      pqxx::nontransaction tx(conn_, "migration unlock");
      tx.exec("SELECT pg_advisory_unlock(" + std::to_string(kMigrationLockKey) + ")");
    } catch (...) {
      // Nothing to do: a broken session has no locks left.
    }
  }
  AdvisoryLock(const AdvisoryLock&) = delete;
  AdvisoryLock& operator=(const AdvisoryLock&) = delete;

 private:
  pqxx::connection_base& conn_;
};

// Runs one migration in its own transaction.
Result<void> ApplyOne(pqxx::connection_base& conn, const MigrationFile& m) {
  auto statements = SplitSqlScript(m.sql);
  if (!statements) {
    return MakeError(errc::migration_failed, m.name + ": " + statements.error().message);
  }
  for (const auto& st : *statements) {
    std::string kw = FirstKeyword(st.text);
    if (kw == "BEGIN" || kw == "COMMIT" || kw == "ROLLBACK" || kw == "START" || kw == "END" ||
        kw == "ABORT") {
      return MakeError(errc::migration_failed,
                       m.name + " line " + std::to_string(st.line) + ": " + kw +
                           " is not allowed: the runner applies each migration in its own "
                           "transaction");
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  try {
    pqxx::work tx(conn, "migration");
    for (const auto& st : *statements) {
      try {
        tx.exec(st.text);
      } catch (const pqxx::sql_error& e) {
        std::string state = e.sqlstate().empty() ? "" : " [" + e.sqlstate() + "]";
        return MakeError(errc::migration_failed,
                         m.name + " line " + std::to_string(ErrorLine(st, e.what())) + ": " +
                             FirstLine(e.what()) + state + " (statement starting at line " +
                             std::to_string(st.line) + "); rolled back");
      }
    }
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    tx.exec_params(
        "INSERT INTO schema_migrations (version, name, checksum, duration_ms) "
        "VALUES ($1, $2, $3, $4)",
        m.version, m.name, m.checksum, static_cast<int>(std::min<long long>(ms, INT32_MAX)));
    tx.commit();
  } catch (...) {
    Error e = TranslateCurrentException("migration " + m.name);
    if (e.code != make_error_code(errc::in_doubt)) e.code = make_error_code(errc::migration_failed);
    return e;
  }
  return Ok();
}

std::vector<AppliedMigration> ReadApplied(pqxx::connection_base& conn) {
  pqxx::nontransaction tx(conn, "list migrations");
  auto exists = tx.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
  std::vector<AppliedMigration> out;
  if (!exists[0][0].as<bool>()) return out;
  auto rows = tx.exec(
      "SELECT version, name, checksum, applied_at::text FROM schema_migrations ORDER BY version");
  for (const auto& r : rows) {
    out.push_back(
        {r[0].as<int>(), r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<std::string>()});
  }
  return out;
}

}  // namespace

Result<std::vector<MigrationFile>> LoadMigrations(const std::filesystem::path& dir) {
  static const std::regex kName(R"(^([0-9]{3,9})_([a-z0-9_]+)\.sql$)");
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return Invalid("migrations directory " + dir.string() + " does not exist");
  }
  std::vector<MigrationFile> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string fname = entry.path().filename().string();
    if (entry.path().extension() != ".sql") continue;
    std::smatch m;
    if (!std::regex_match(fname, m, kName)) {
      return Invalid(dir.string() + ": " + fname +
                     " is not named NNN_name.sql (digits, underscore, [a-z0-9_])");
    }
    if (!entry.is_regular_file(ec)) return Invalid(fname + " is not a regular file");
    auto size = entry.file_size(ec);
    if (ec || size > kMaxMigrationBytes) {
      return Invalid(fname + ": unreadable or larger than 4 MiB");
    }
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream os;
    os << in.rdbuf();
    if (!in && !in.eof()) return Invalid("cannot read " + entry.path().string());
    MigrationFile f;
    f.version = std::stoi(m[1].str());
    f.name = fname;
    f.path = entry.path();
    f.sql = os.str();
    f.checksum = Sha256Hex(f.sql);
    if (f.checksum.empty()) return Invalid(fname + ": SHA-256 failed");
    out.push_back(std::move(f));
  }
  if (ec) return Invalid("cannot list " + dir.string() + ": " + ec.message());
  std::sort(out.begin(), out.end(),
            [](const MigrationFile& a, const MigrationFile& b) { return a.version < b.version; });
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i].version == out[i - 1].version) {
      return Invalid("duplicate migration version " + std::to_string(out[i].version) + ": " +
                     out[i - 1].name + " and " + out[i].name);
    }
  }
  return out;
}

Result<std::vector<AppliedMigration>> ListAppliedMigrations(pqxx::connection_base& conn) {
  return Guard("list applied migrations", [&] { return ReadApplied(conn); });
}

Result<MigrationReport> ApplyMigrations(pqxx::connection_base& conn,
                                        const std::filesystem::path& dir) {
  auto files = LoadMigrations(dir);
  if (!files) return files.error();

  std::optional<AdvisoryLock> lock;
  if (auto r = Guard("take migration lock", [&] { lock.emplace(conn); }); !r) return r.error();

  auto applied_rows = Guard("read schema_migrations", [&] {
    {
      pqxx::work tx(conn, "bootstrap");
      tx.exec(kCreateTable);
      tx.commit();
    }
    return ReadApplied(conn);
  });
  if (!applied_rows) return applied_rows.error();

  std::map<int, AppliedMigration> applied;
  for (auto& a : *applied_rows) applied.emplace(a.version, a);
  const int max_applied = applied.empty() ? 0 : applied.rbegin()->first;

  MigrationReport report;
  std::vector<const MigrationFile*> pending;
  for (const auto& f : *files) {
    auto it = applied.find(f.version);
    if (it == applied.end()) {
      if (f.version < max_applied) {
        return Invalid(f.name + " is not applied but version " + std::to_string(max_applied) +
                       " is: migrations must be added with a version above every applied one");
      }
      pending.push_back(&f);
      continue;
    }
    if (it->second.checksum != f.checksum || it->second.name != f.name) {
      return MakeError(errc::checksum_mismatch,
                       f.name + " was changed after it was applied (applied as " + it->second.name +
                           " with sha256 " + it->second.checksum + ", file now has " + f.checksum +
                           "); migrations are forward-only: add a new file instead");
    }
    report.already_applied.push_back(f.name);
    applied.erase(it);
  }
  for (const auto& [version, row] : applied) report.unknown_versions.push_back(version);

  report.schema_version = max_applied;
  for (const MigrationFile* f : pending) {
    if (auto r = ApplyOne(conn, *f); !r) return r.error();
    report.applied.push_back(f->name);
    report.schema_version = std::max(report.schema_version, f->version);
  }
  return report;
}

Result<MigrationReport> MigrateDatabase(const std::string& conninfo,
                                        const std::filesystem::path& dir) {
  auto conn = Connection::Open(conninfo);
  if (!conn) return conn.error();
  return ApplyMigrations(conn->raw(), dir);
}

}  // namespace attest::db
