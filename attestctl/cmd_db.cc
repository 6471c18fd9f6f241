// attestctl db ...: schema migrations of the PostgreSQL database.
//   attestctl db migrate --database CONNINFO --migrations DIR
//   attestctl db status  --database CONNINFO [--migrations DIR]
// The conninfo can come from $ATTEST_DATABASE instead of the command line
// (keeps passwords out of `ps`). Exit 0 on success, 2 on any error.
#include <cstdio>
#include <memory>
#include <set>
#include <string>

#include "attestctl/command_registry.h"
#include "common/db/connection.h"
#include "common/db/migrations.h"

namespace attest::ctl {
namespace {

struct DbOptions {
  std::string database;
  std::string migrations;
};

void AddDatabaseOption(CLI::App& cmd, DbOptions& o) {
  cmd.add_option("--database", o.database,
                 "libpq conninfo or URI of the database (or $ATTEST_DATABASE)")
      ->envname("ATTEST_DATABASE")
      ->required();
}

db::Connection ConnectOrThrow(const std::string& conninfo) {
  auto c = db::Connection::Open(conninfo);
  if (!c) throw CommandError{kExitUsage, c.error().ToString()};
  return std::move(c).value();
}

void RunMigrate(const DbOptions& o) {
  auto conn = ConnectOrThrow(o.database);
  auto report = db::ApplyMigrations(conn.raw(), o.migrations);
  if (!report) throw CommandError{kExitUsage, report.error().ToString()};
  for (const auto& name : report->applied) std::printf("applied %s\n", name.c_str());
  for (int v : report->unknown_versions) {
    std::fprintf(stderr,
                 "warning: version %d is applied in the database but not in %s (newer schema)\n", v,
                 o.migrations.c_str());
  }
  std::printf("schema version %d (%zu applied now, %zu already applied)\n", report->schema_version,
              report->applied.size(), report->already_applied.size());
}

void RunStatus(const DbOptions& o) {
  auto conn = ConnectOrThrow(o.database);
  auto applied = db::ListAppliedMigrations(conn.raw());
  if (!applied) throw CommandError{kExitUsage, applied.error().ToString()};
  std::set<int> done;
  for (const auto& a : *applied) {
    std::printf("applied  %s  %s  sha256:%.12s\n", a.name.c_str(), a.applied_at.c_str(),
                a.checksum.c_str());
    done.insert(a.version);
  }
  if (o.migrations.empty()) return;
  auto files = db::LoadMigrations(o.migrations);
  if (!files) throw CommandError{kExitUsage, files.error().ToString()};
  for (const auto& f : *files) {
    if (!done.count(f.version)) std::printf("pending  %s\n", f.name.c_str());
  }
}

const CommandRegistration kRegistration([](CLI::App& root) {
  CLI::App& group = Group(root, "db", "PostgreSQL schema: apply and inspect migrations");

  auto migrate_opts = std::make_shared<DbOptions>();
  CLI::App* migrate =
      group.add_subcommand("migrate", "apply pending migrations (NNN_name.sql) in order");
  AddDatabaseOption(*migrate, *migrate_opts);
  migrate->add_option("--migrations", migrate_opts->migrations, "directory of NNN_name.sql files")
      ->required()
      ->check(CLI::ExistingDirectory);
  migrate->callback([migrate_opts] { RunMigrate(*migrate_opts); });

  auto status_opts = std::make_shared<DbOptions>();
  CLI::App* status = group.add_subcommand("status", "list applied (and pending) migrations");
  AddDatabaseOption(*status, *status_opts);
  status
      ->add_option("--migrations", status_opts->migrations,
                   "directory of NNN_name.sql files, to list pending ones")
      ->check(CLI::ExistingDirectory);
  status->callback([status_opts] { RunStatus(*status_opts); });
});

}  // namespace
}  // namespace attest::ctl
