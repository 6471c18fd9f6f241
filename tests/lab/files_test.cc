// Checks of the deployment files that need no running service:
// ops/docker-compose.yml validates with Debian's docker-compose, refers only
// to scripts and templates that exist, the Grafana dashboard is valid JSON on
// views that the migrations create, and the lab's scripts parse and render.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>

#include "tests/harness/util/process.h"

namespace {

namespace fs = std::filesystem;
using attest::testing::ReadFile;
using attest::testing::RunCommand;
using attest::testing::TempDir;

const fs::path kSource = ATTEST_SOURCE_DIR;

bool HaveCommand(const std::string& name) {
  return RunCommand({"sh", "-c", "command -v " + name}) == 0;
}

TEST(ComposeFile, ValidatesWithDockerCompose) {
  if (!HaveCommand("docker-compose")) {
    GTEST_SKIP() << "docker-compose is not installed (Debian package docker-compose; "
                    "scripts/install-deps.sh installs it)";
  }
  std::string out;
  int rc = RunCommand(
      {"docker-compose", "-f", (kSource / "ops/docker-compose.yml").string(), "config", "-q"},
      &out);
  EXPECT_EQ(rc, 0) << out;
}

TEST(ComposeFile, ReferencesExistingLabScriptsAndTemplates) {
  const std::string compose = ReadFile(kSource / "ops/docker-compose.yml");
  // In the image, scripts/lab/ is copied to /opt/attest/scripts/lab/.
  std::regex ref(R"(/opt/attest/scripts/lab/([A-Za-z0-9_./-]+))");
  std::set<std::string> seen;
  for (std::sregex_iterator it(compose.begin(), compose.end(), ref), end; it != end; ++it) {
    seen.insert((*it)[1].str());
  }
  ASSERT_FALSE(seen.empty());
  for (const auto& rel : seen) {
    EXPECT_TRUE(fs::exists(kSource / "scripts/lab" / rel)) << "compose refers to " << rel;
  }
  for (const char* t : {"registrar.toml", "gateway.toml", "worker.toml", "agent.toml"}) {
    EXPECT_TRUE(seen.count(std::string("config/") + t) || std::string(t) == "agent.toml")
        << "compose does not use the shared template " << t;
  }
  EXPECT_TRUE(fs::exists(kSource / "ops/Dockerfile"));
}

TEST(Grafana, DashboardIsValidJsonOnExistingViews) {
  const auto dash =
      nlohmann::json::parse(ReadFile(kSource / "ops/grafana/dashboards/attest-overview.json"));
  ASSERT_TRUE(dash.contains("panels"));
  std::string schema;
  for (const auto& e : fs::directory_iterator(kSource / "schemas/sql")) {
    if (e.path().extension() == ".sql") schema += ReadFile(e.path());
  }
  int queries = 0;
  for (const auto& p : dash["panels"]) {
    ASSERT_TRUE(p.contains("targets")) << p.dump();
    EXPECT_EQ(p["datasource"]["uid"], "attest-postgres");
    for (const auto& t : p["targets"]) {
      // extract(epoch FROM x) names no relation.
      const std::string sql = std::regex_replace(t["rawSql"].get<std::string>(),
                                                 std::regex(R"(epoch\s+FROM)"), "epoch_of");
      ++queries;
      std::regex from(R"(FROM\s+([a-z_]+))");
      for (std::sregex_iterator it(sql.begin(), sql.end(), from), end; it != end; ++it) {
        const std::string rel = (*it)[1].str();
        if (rel == "jsonb_array_elements") continue;
        const bool known = schema.find("CREATE VIEW " + rel) != std::string::npos ||
                           schema.find("CREATE TABLE " + rel) != std::string::npos;
        EXPECT_TRUE(known) << "the dashboard queries unknown relation " << rel;
      }
    }
  }
  EXPECT_GE(queries, 6);
  const std::string ds = ReadFile(kSource / "ops/grafana/provisioning/datasources/attest.yml");
  EXPECT_NE(ds.find("uid: attest-postgres"), std::string::npos);
}

TEST(LabScripts, ParseWithBash) {
  std::vector<fs::path> scripts = {kSource / "scripts/lab.sh"};
  for (const auto& e : fs::directory_iterator(kSource / "scripts/lab")) {
    if (e.path().extension() == ".sh") scripts.push_back(e.path());
  }
  for (const auto& s : scripts) {
    std::string out;
    EXPECT_EQ(RunCommand({"bash", "-n", s.string()}, &out), 0) << s << ": " << out;
  }
}

TEST(LabScripts, RenderFailsOnUnsetPlaceholderAndFillsSetOnes) {
  TempDir dir("attest-lab-render");
  const fs::path tmpl = dir.path() / "t.toml";
  std::ofstream(tmpl) << "a = \"${LAB_T_A}\"\nb = ${LAB_T_B}\n";
  const std::string render = (kSource / "scripts/lab/render.sh").string();
  const fs::path out = dir.path() / "out.toml";
  std::string log;
  EXPECT_NE(RunCommand({render, tmpl.string(), out.string()}, &log, {"LAB_T_A=x"}), 0);
  EXPECT_NE(log.find("LAB_T_B"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(out));
  ASSERT_EQ(RunCommand({render, tmpl.string(), out.string()}, &log, {"LAB_T_A=x", "LAB_T_B=7"}), 0)
      << log;
  EXPECT_EQ(ReadFile(out), "a = \"x\"\nb = 7\n");
}

TEST(LabScripts, ImaEntriesMatchKeylimeTemplateHashes) {
  // A line of Keylime's own ima-ng list: our generator must produce it
  // byte for byte from (path, file digest).
  const std::string want =
      "10 80255d9c7dad91ef5f21b18560a47642d6f4d653 ima-ng "
      "sha256:96d7fae8adb7286a419a88f78c13d35fb782d63df654b7db56f154765698b754 /data";
  std::string out;
  ASSERT_EQ(
      RunCommand({"sh", "-c",
                  "echo '/data 96d7fae8adb7286a419a88f78c13d35fb782d63df654b7db56f154765698b754'"
                  " | " +
                      (kSource / "scripts/lab/ima-entries.pl").string()},
                 &out),
      0)
      << out;
  EXPECT_EQ(out.substr(0, out.find('\t')), want);
}

}  // namespace
