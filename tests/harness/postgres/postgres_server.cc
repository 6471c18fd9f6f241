#include "tests/harness/postgres/postgres_server.h"

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <stdexcept>

#include "common/db/migrations.h"

namespace attest::testing {
namespace {

constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";

std::string Bin(const char* tool) { return std::string(kBinDir) + "/" + tool; }

// initdb and postgres refuse to run as root: drop to the postgres user.
std::vector<std::string> AsServerUser() {
  if (::geteuid() != 0) return {};
  return {"setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"};
}

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

void ChownToServerUser(const std::filesystem::path& p) {
  if (::geteuid() != 0) return;
  const passwd* pw = ::getpwnam("postgres");
  if (!pw) throw std::runtime_error("running as root but there is no `postgres` user");
  if (::chown(p.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    throw std::runtime_error("chown " + p.string() + " failed");
  }
}

void CheckDbName(const std::string& name) {
  if (name.empty() || name.size() > 63) throw std::invalid_argument("bad database name " + name);
  for (char c : name) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '_')) {
      throw std::invalid_argument("bad database name " + name);
    }
  }
}

}  // namespace

std::filesystem::path SourceMigrationsDir() { return ATTEST_MIGRATIONS_DIR; }

PostgresServer::PostgresServer() {
  ChownToServerUser(dir_.path());
  const std::filesystem::path data = dir_.path() / "data";
  // initdb is most of a cluster's start-up time: reuse a pristine copy kept
  // in the build tree (cp -a keeps the postgres ownership when root).
  const std::filesystem::path cache = ATTEST_PG_CACHE_DIR "/initdb-15-v1";
  std::string out;
  const bool from_cache = std::filesystem::exists(cache / "PG_VERSION") &&
                          RunCommand({"cp", "-a", cache.string(), data.string()}, &out) == 0;
  if (!from_cache) {
    std::filesystem::remove_all(data);
    out.clear();
    int rc = RunCommand(
        Concat(AsServerUser(), {Bin("initdb"), "-D", data.string(), "-U", user_, "-A", "trust",
                                "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"}),
        &out);
    if (rc != 0)
      throw std::runtime_error("initdb failed (exit " + std::to_string(rc) + "):\n" + out);
    // Publish the cache atomically (copy, then rename); losing a race or
    // failing to write is harmless.
    std::error_code ec;
    std::filesystem::create_directories(cache.parent_path(), ec);
    const std::string staging = cache.string() + ".tmp-" + std::to_string(::getpid());
    if (!ec && RunCommand({"cp", "-a", data.string(), staging}) == 0) {
      std::filesystem::rename(staging, cache, ec);
      if (ec) std::filesystem::remove_all(staging, ec);
    }
  }
  std::filesystem::create_directory(dir_.path() / "sock");
  ChownToServerUser(dir_.path() / "sock");
  port_ = FreePort();
  Start();
}

PostgresServer::~PostgresServer() {
  Stop();
  watchdog_.reset();
}

std::string PostgresServer::ConninfoFor(const std::string& dbname) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=" + user_ + " dbname=" + dbname +
         " connect_timeout=10";
}

void PostgresServer::Start() {
  if (postmaster_) return;
  const std::string log = (dir_.path() / "postgres.log").string();
  postmaster_ =
      std::make_unique<Subprocess>(Concat(AsServerUser(), {Bin("postgres"),
                                                           "-D",
                                                           (dir_.path() / "data").string(),
                                                           "-p",
                                                           std::to_string(port_),
                                                           "-k",
                                                           (dir_.path() / "sock").string(),
                                                           "-c",
                                                           "listen_addresses=127.0.0.1",
                                                           "-c",
                                                           "fsync=off",
                                                           "-c",
                                                           "synchronous_commit=off",
                                                           "-c",
                                                           "full_page_writes=off",
                                                           "-c",
                                                           "shared_buffers=32MB",
                                                           "-c",
                                                           "max_connections=200",
                                                           "-c",
                                                           "log_min_messages=warning"}),
                                   log);
  StartWatchdog();
  bool ready = WaitFor(
      [&] {
        if (!postmaster_->Running()) return true;  // died: report below
        try {
          pqxx::connection c(conninfo());
          return c.is_open();
        } catch (const std::exception&) {
          return false;
        }
      },
      std::chrono::seconds(60));
  if (!ready || !postmaster_->Running()) {
    postmaster_.reset();
    throw std::runtime_error("PostgreSQL did not start on port " + std::to_string(port_) +
                             "; log:\n" + Log());
  }
}

void PostgresServer::Stop() {
  if (!postmaster_) return;
  // SIGINT = fast shutdown: disconnects clients instead of waiting for them.
  postmaster_->Stop(SIGINT, std::chrono::seconds(30));
  postmaster_.reset();
}

void PostgresServer::StartWatchdog() {
  // If this process dies without destructors (crash, SIGKILL), stop the
  // server and remove its directory anyway.
  watchdog_.reset();
  const std::string script =
      "while kill -0 " + std::to_string(::getpid()) + " 2>/dev/null; do sleep 1; done; kill -INT " +
      std::to_string(postmaster_->pid()) + " 2>/dev/null; sleep 5; kill -KILL -" +
      std::to_string(postmaster_->pid()) + " 2>/dev/null; rm -rf '" + dir_.path().string() + "'";
  watchdog_ = std::make_unique<Subprocess>(std::vector<std::string>{"sh", "-c", script});
}

std::string PostgresServer::Log() const {
  try {
    return ReadFile(dir_.path() / "postgres.log");
  } catch (const std::exception& e) {
    return e.what();
  }
}

std::string PostgresServer::CreateDatabase(const std::string& name,
                                           const std::string& template_db) {
  CheckDbName(name);
  std::string sql = "CREATE DATABASE " + name;
  if (!template_db.empty()) {
    CheckDbName(template_db);
    sql += " TEMPLATE " + template_db;
  }
  pqxx::connection c(conninfo());
  pqxx::nontransaction tx(c);
  tx.exec(sql);
  return ConninfoFor(name);
}

void PostgresServer::Migrate(const std::string& conninfo, const std::filesystem::path& dir) {
  pqxx::connection c(conninfo);
  auto r = attest::db::ApplyMigrations(c, dir.empty() ? SourceMigrationsDir() : dir);
  if (!r) throw std::runtime_error("migrations failed: " + r.error().ToString());
}

namespace {

struct SharedServer {
  std::unique_ptr<PostgresServer> server;
  std::string error;
  bool template_ready = false;
};

SharedServer& Shared() {
  static SharedServer shared;  // lives until exit, so the server is shared per binary
  return shared;
}

std::string Sanitize(const std::string& s) {
  std::string out;
  for (char c : s) {
    out.push_back(std::isalnum(static_cast<unsigned char>(c))
                      ? static_cast<char>(std::tolower(static_cast<unsigned char>(c)))
                      : '_');
  }
  return out;
}

}  // namespace

void PostgresTest::SetUpTestSuite() {
  SharedServer& s = Shared();
  if (s.server || !s.error.empty()) return;
  try {
    s.server = std::make_unique<PostgresServer>();
  } catch (const std::exception& e) {
    s.error = e.what();
  }
}

PostgresServer& PostgresTest::server() {
  SetUpTestSuite();
  SharedServer& s = Shared();
  if (!s.server) throw std::runtime_error("PostgreSQL test server unavailable: " + s.error);
  return *s.server;
}

void PostgresTest::SetUp() {
  SetUpTestSuite();
  SharedServer& s = Shared();
  ASSERT_TRUE(s.server) << "PostgreSQL test server did not start: " << s.error;
  if (!s.server->running()) s.server->Start();  // a previous test stopped it
  static std::atomic<int> counter{0};
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  dbname_ = ("t" + std::to_string(++counter) + "_" + Sanitize(info->name())).substr(0, 63);
  try {
    if (migrated()) {
      if (!s.template_ready) {
        s.server->Migrate(s.server->CreateDatabase("attest_template"));
        s.template_ready = true;
      }
      conninfo_ = s.server->CreateDatabase(dbname_, "attest_template");
    } else {
      conninfo_ = s.server->CreateDatabase(dbname_);
    }
  } catch (const std::exception& e) {
    FAIL() << "cannot create test database " << dbname_ << ": " << e.what();
  }
}

}  // namespace attest::testing
