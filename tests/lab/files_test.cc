// Checks of the deployment files that need no running service:
// ops/docker-compose.yml validates with Debian's docker-compose, refers only
// to scripts and templates that exist, runs the Apache Kafka of
// ops/kafka/pom.xml with topics made by `attestctl kafka topics create`, and
// wires the attestctl service (Kafka's address, its login, the CA); the
// Grafana dashboard is valid JSON on views that the migrations create, and
// the lab's scripts parse and render.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

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

// --- Issue 17.7: each component gets only its own secrets ---------------

// The block of each top-level entry of `services:` (and of the x-* anchors),
// by indentation: enough for this file's plain layout.
std::map<std::string, std::string> ComposeBlocks() {
  const std::string compose = ReadFile(kSource / "ops/docker-compose.yml");
  std::map<std::string, std::string> blocks;
  std::istringstream in(compose);
  std::string line, name;
  bool in_services = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != ' ' && line[0] != '#') {
      in_services = line == "services:";
      name.clear();
      if (line.starts_with("x-")) name = line.substr(0, line.find(':'));
      continue;
    }
    std::smatch m;
    if (in_services && std::regex_match(line, m, std::regex(R"(  ([a-z0-9-]+):\s*)"))) {
      name = m[1].str();
      continue;
    }
    if (!name.empty()) blocks[name] += line + "\n";
  }
  return blocks;
}

std::set<std::string> MountedVolumes(const std::string& block) {
  std::set<std::string> v;
  std::regex mount(R"(\n\s+- ([a-z0-9-]+):/)");
  for (std::sregex_iterator it(block.begin(), block.end(), mount), end; it != end; ++it) {
    v.insert((*it)[1].str());
  }
  return v;
}

TEST(ComposeSecrets, NodesMountNoServiceSecrets) {
  auto blocks = ComposeBlocks();
  ASSERT_TRUE(blocks.count("node1") && blocks.count("x-attest") && blocks.count("registrar"));
  // Nothing is mounted for every service by the shared anchor.
  EXPECT_EQ(blocks["x-attest"].find("volumes:"), std::string::npos) << blocks["x-attest"];
  for (const char* node : {"node1", "node2", "node3"}) {
    const auto v = MountedVolumes(blocks[node]);
    EXPECT_EQ(v, (std::set<std::string>{"pki", std::string(node)})) << node;
    EXPECT_NE(blocks[node].find("pki:/etc/attest/pki:ro"), std::string::npos) << node;
  }
  // Each secrets volume: its component and the pki job that fills it.
  const std::map<std::string, std::set<std::string>> owners = {
      {"pki-master", {"pki"}},
      {"secrets-registrar", {"pki", "registrar"}},
      {"secrets-gateway", {"pki", "gateway"}},
      {"secrets-worker", {"pki", "x-worker"}},
      {"secrets-admin", {"pki", "enrol", "attestctl"}},
      {"secrets-db", {"pki", "postgres", "db-init"}},
      {"secrets-kafka", {"pki", "kafka", "kafka-init", "kafka-topics"}},
      {"secrets-soc", {"pki", "attestctl"}},
      {"secrets-grafana", {"pki", "grafana"}}};
  for (const auto& [volume, allowed] : owners) {
    std::set<std::string> users;
    for (const auto& [service, block] : blocks) {
      if (MountedVolumes(block).count(volume)) users.insert(service);
    }
    EXPECT_EQ(users, allowed) << volume;
  }
  for (const char* w : {"worker1", "worker2", "worker3"}) {
    EXPECT_EQ(blocks[w].find("volumes:"), std::string::npos) << w << " mounts more than x-worker";
  }
}

TEST(ComposeSecrets, EachDatabaseRoleHasItsOwnPassword) {
  const std::string compose = ReadFile(kSource / "ops/docker-compose.yml");
  // No password in a conninfo or the environment: passfiles from each
  // component's own volume.
  EXPECT_FALSE(std::regex_search(compose, std::regex(R"(dbname=\w+[^\n]* password=)")));
  EXPECT_EQ(compose.find("ATTEST_DB_PASSWORD"), std::string::npos);
  auto blocks = ComposeBlocks();
  const std::map<std::string, std::string> logins = {
      {"registrar", "lab_registrar"}, {"gateway", "lab_gateway"}, {"worker1", "lab_worker"}};
  for (const auto& [service, user] : logins) {
    EXPECT_NE(blocks[service].find("user=" + user +
                                   " dbname=attest passfile=/etc/attest/"
                                   "secrets/db.pgpass"),
              std::string::npos)
        << service;
  }
  EXPECT_NE(blocks["postgres"].find("POSTGRES_PASSWORD_FILE"), std::string::npos);
  // mkpki.sh: one password per login, in its component's directory only.
  TempDir dir("attest-lab-pki");
  std::string out;
  ASSERT_EQ(RunCommand({(kSource / "scripts/lab/mkpki.sh").string(), dir.path().string()}, &out), 0)
      << out;
  std::set<std::string> passwords;
  for (const char* role : {"admin", "registrar", "gateway", "worker", "readonly", "maintenance"}) {
    passwords.insert(ReadFile(dir.path() / "db" / (std::string(role) + ".password")));
  }
  EXPECT_EQ(passwords.size(), 6u);
  for (const char* c : {"registrar", "gateway", "worker", "readonly", "maintenance"}) {
    const std::string pgpass = ReadFile(dir.path() / c / "db.pgpass");
    EXPECT_NE(pgpass.find(std::string(":lab_") + c + ":"), std::string::npos) << c;
    EXPECT_EQ(pgpass.find('\n'), pgpass.size() - 1) << c << ": one login only";
  }
}

TEST(LabSecrets, EachComponentDirectoryHoldsOnlyItsOwnSecrets) {
  TempDir dir("attest-lab-pki");
  std::string out;
  ASSERT_EQ(RunCommand({(kSource / "scripts/lab/mkpki.sh").string(), dir.path().string()}, &out), 0)
      << out;
  auto files = [&](const char* sub) {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(dir.path() / sub)) {
      names.insert(e.path().filename().string());
      EXPECT_EQ(fs::status(e.path()).permissions() & fs::perms::all,
                fs::perms::owner_read | fs::perms::owner_write)
          << e.path();
    }
    EXPECT_EQ(fs::status(dir.path() / sub).permissions() & fs::perms::all, fs::perms::owner_all)
        << sub;
    return names;
  };
  using S = std::set<std::string>;
  EXPECT_EQ(files("registrar"),
            (S{"registrar.pem", "registrar.key", "admin.token", "db.pgpass", "kafka.password"}));
  EXPECT_EQ(files("gateway"),
            (S{"gateway.pem", "gateway.key", "token.key", "db.pgpass", "kafka.password"}));
  EXPECT_EQ(files("worker"), (S{"token.key", "revocation.key", "db.pgpass", "kafka.password"}));
  EXPECT_EQ(files("ca"), (S{"ca.key", "ca.srl"}));
  // Top level: public files and the operator's token only.
  for (const auto& e : fs::directory_iterator(dir.path())) {
    if (e.is_directory()) continue;
    const std::string n = e.path().filename().string();
    EXPECT_TRUE(n == "ca.pem" || n == "revocation.pub.pem" || n == "admin.token") << n;
  }
  EXPECT_EQ(fs::status(dir.path() / "admin.token").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  // The lab's templates read service keys from SECRETS_DIR, never PKI_DIR.
  for (const char* t : {"registrar.toml", "gateway.toml", "worker.toml", "agent.toml"}) {
    const std::string text = ReadFile(kSource / "scripts/lab/config" / t);
    EXPECT_EQ(std::regex_search(text, std::regex(R"(\$\{PKI_DIR\}/[^"]*\.(key|token))")), false)
        << t;
  }
  // Agents (nodes) are given no secrets directory at all.
  EXPECT_EQ(ReadFile(kSource / "scripts/lab/config/agent.toml").find("SECRETS_DIR"),
            std::string::npos);
}

TEST(ComposeSecrets, KafkaClientsAuthenticateWithScram) {
  auto blocks = ComposeBlocks();
  const std::string& kafka = blocks["kafka"];
  std::smatch m;
  ASSERT_TRUE(std::regex_search(kafka, m, std::regex(R"(\n\s*listeners=(\S+))")));
  const std::string listeners = m[1].str();
  ASSERT_TRUE(std::regex_search(kafka, m, std::regex(R"(listener.security.protocol.map=(\S+))")));
  const std::string map = m[1].str();
  // Every listener reachable from the network uses SASL; plaintext ones
  // bind the container's loopback only.
  std::regex item(R"(([A-Z]+)://([^:,]*):\d+)");
  int sasl = 0;
  for (std::sregex_iterator it(listeners.begin(), listeners.end(), item), end; it != end; ++it) {
    const std::string name = (*it)[1].str(), host = (*it)[2].str();
    const bool is_sasl = map.find(name + ":SASL_") != std::string::npos;
    sasl += is_sasl;
    if (!is_sasl) {
      EXPECT_EQ(host, "localhost") << name << " is plaintext on " << host;
    }
  }
  EXPECT_GE(sasl, 2);
  EXPECT_NE(kafka.find("sasl.enabled.mechanisms=SCRAM-SHA-512"), std::string::npos);
  for (const char* u : {"admin", "registrar", "gateway", "worker"}) {
    EXPECT_NE(kafka.find(std::string("name=") + u + ",password="), std::string::npos) << u;
  }
  EXPECT_NE(blocks["kafka-init"].find("--command-config"), std::string::npos);
  EXPECT_NE(blocks["gateway"].find("KAFKA_SASL_USERNAME: gateway"), std::string::npos);
  // The registrar reads the evidence topic's partition count from Kafka.
  EXPECT_NE(blocks["registrar"].find("KAFKA_SASL_USERNAME: registrar"), std::string::npos);
  EXPECT_NE(blocks["registrar"].find("- /opt/attest/scripts/lab/compose-service.sh\n"),
            std::string::npos);
  for (const char* w : {"worker1", "worker2", "worker3"}) {
    EXPECT_NE(blocks[w].find("KAFKA_SASL_USERNAME: worker"), std::string::npos) << w;
  }
  for (const char* t : {"registrar.toml", "gateway.toml", "worker.toml"}) {
    EXPECT_NE(
        ReadFile(kSource / "scripts/lab/config" / t).find("properties = [${KAFKA_PROPERTIES}]"),
        std::string::npos)
        << t;
  }
  // compose-service.sh turns the user and its password file into the
  // librdkafka properties of the rendered config.
  TempDir dir("attest-lab-sasl");
  fs::create_directories(dir.path() / "secrets");
  std::ofstream(dir.path() / "secrets/kafka.password") << "0123abcd\n";
  const fs::path out = dir.path() / "gateway.toml";
  std::string log;
  ASSERT_EQ(
      RunCommand({(kSource / "scripts/lab/compose-service.sh").string(),
                  (kSource / "scripts/lab/config/gateway.toml").string(), out.string()},
                 &log,
                 {"KAFKA_SASL_USERNAME=gateway", "SECRETS_DIR=" + (dir.path() / "secrets").string(),
                  "GATEWAY_ID=g", "GATEWAY_LISTEN=0.0.0.0:1", "PKI_DIR=/p", "GATEWAY_DATABASE=x",
                  "KAFKA_BOOTSTRAP=k:9092", "CHALLENGE_PCRS=10"}),
      0)
      << log;
  const std::string rendered = ReadFile(out);
  EXPECT_NE(rendered.find("properties = [\"security.protocol=SASL_PLAINTEXT\", "
                          "\"sasl.mechanism=SCRAM-SHA-512\", \"sasl.username=gateway\", "
                          "\"sasl.password=0123abcd\"]"),
            std::string::npos)
      << rendered;
}

// --- Issue 17 follow-up: SASL authenticates, the authorizer decides ------

// One ACL as kafka-init's `acl USER --operation OP... [--resource-pattern-type
// T] --topic|--group NAME | --cluster` lines grant it.
struct Acl {
  std::string principal, operation, resource, name, pattern;
  auto operator<=>(const Acl&) const = default;
};

std::vector<Acl> ComposeAcls(const std::string& init) {
  std::vector<Acl> acls;
  std::istringstream in(init);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, std::regex(R"(\s*acl ([A-Za-z0-9_-]+) (.*))"))) continue;
    std::istringstream words(m[2].str());
    std::vector<std::string> ops;
    std::string w, resource, name, pattern = "literal";
    while (words >> w) {
      if (w == "--operation" && words >> w) {
        ops.push_back(w);
      } else if (w == "--resource-pattern-type" && words >> w) {
        pattern = w;
      } else if ((w == "--topic" || w == "--group" || w == "--transactional-id") && words >> name) {
        resource = w.substr(2);
      } else if (w == "--cluster") {
        resource = "cluster";
      } else {
        ADD_FAILURE() << "acl line with an option this test does not know: " << line;
      }
    }
    EXPECT_FALSE(ops.empty() || resource.empty()) << line;
    for (const auto& op : ops) acls.push_back({m[1].str(), op, resource, name, pattern});
  }
  return acls;
}

TEST(ComposeKafka, AuthorizerOnAndEachClientGetsOnlyItsOwnOperations) {
  auto blocks = ComposeBlocks();
  const std::string& kafka = blocks["kafka"];
  // Without an authorizer every authenticated login may do anything.
  EXPECT_NE(
      kafka.find("authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n"),
      std::string::npos);
  EXPECT_EQ(kafka.find("allow.everyone.if.no.acl.found=true"), std::string::npos);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(kafka, m, std::regex(R"(\n\s*super.users=(\S+))")));
  std::set<std::string> supers;
  {
    std::istringstream in(m[1].str());
    for (std::string u; std::getline(in, u, ';');) supers.insert(u);
  }
  // admin creates topics and ACLs; ANONYMOUS is the plaintext controller and
  // inter-broker listeners, loopback only (KafkaClientsAuthenticateWithScram).
  EXPECT_EQ(supers, (std::set<std::string>{"User:admin", "User:ANONYMOUS"}));

  const auto acls = ComposeAcls(blocks["kafka-init"]);
  ASSERT_FALSE(acls.empty()) << "kafka-init grants no ACL";
  std::map<std::string, std::set<std::string>> granted;  // principal -> "Op resource:name"
  for (const auto& a : acls) {
    EXPECT_NE(a.operation, "All") << a.principal;
    EXPECT_NE(a.name, "*") << a.principal << " " << a.operation << " on every " << a.resource;
    EXPECT_EQ(supers.count("User:" + a.principal), 0u) << a.principal;
    EXPECT_NE(kafka.find("name=" + a.principal + ",password="), std::string::npos)
        << a.principal << " has ACLs but no SCRAM login";
    std::string what = a.operation + " " + a.resource;
    if (!a.name.empty()) what += ":" + a.name;
    if (a.pattern != "literal") what += " (" + a.pattern + ")";
    granted[a.principal].insert(what);
  }
  using S = std::set<std::string>;
  // The gateway writes evidence, nothing else: no verdict or revocation it
  // could forge, no seat in the workers' group (a member that holds
  // partitions and neither verifies nor sweeps them keeps those agents PASS).
  EXPECT_EQ(granted["gateway"],
            (S{"Write topic:attestation.evidence", "Describe topic:attestation.evidence",
               "IdempotentWrite cluster"}));
  for (const auto& a : acls) {
    if (a.principal != "gateway") continue;
    EXPECT_NE(a.resource, "group") << "gateway: " << a.operation << " on group " << a.name;
    EXPECT_FALSE(a.operation == "Write" &&
                 (a.name == "attestation.verdicts" || a.name == "attestation.revocations"))
        << "gateway may write " << a.name;
  }
  // The registrar sees the evidence topic (metadata: its partition count).
  EXPECT_EQ(granted["registrar"], (S{"Describe topic:attestation.evidence"}));
  EXPECT_EQ(granted["worker"],
            (S{"Read topic:attestation.evidence", "Describe topic:attestation.evidence",
               "Read group:attest-workers", "Write topic:attestation.verdicts",
               "Describe topic:attestation.verdicts", "Write topic:attestation.revocations",
               "Describe topic:attestation.revocations", "IdempotentWrite cluster"}));
  // The SOC's login reads verdicts and revocations in groups of its own.
  EXPECT_EQ(granted["soc"],
            (S{"Read topic:attestation.verdicts", "Describe topic:attestation.verdicts",
               "Read topic:attestation.revocations", "Describe topic:attestation.revocations",
               "Read group:attestctl-tail- (prefixed)"}));
  EXPECT_EQ(granted.size(), 4u);
  // The group granted to the workers is the one their template joins.
  EXPECT_NE(
      ReadFile(kSource / "scripts/lab/config/worker.toml").find("group_id = \"attest-workers\""),
      std::string::npos);
  // The acl helper adds allow rules as admin, on the SASL listener.
  EXPECT_NE(blocks["kafka-init"].find("kafka-acls.sh --bootstrap-server kafka:9092"),
            std::string::npos);
  EXPECT_NE(blocks["kafka-init"].find("--add --allow-principal \"User:$$1\""), std::string::npos);
  // mkpki.sh makes the soc login's password with the others.
  TempDir dir("attest-lab-pki");
  std::string out;
  ASSERT_EQ(RunCommand({(kSource / "scripts/lab/mkpki.sh").string(), dir.path().string()}, &out), 0)
      << out;
  for (const char* u : {"admin", "registrar", "gateway", "worker", "soc"}) {
    EXPECT_FALSE(ReadFile(dir.path() / "kafka" / (std::string(u) + ".password")).empty()) << u;
  }
}

// --- Issue 18: compose on the project's Apache Kafka ----------------------

// The `KEY: value` lines of a compose block (its environment, flattened).
std::map<std::string, std::string> BlockEnv(const std::string& block) {
  std::map<std::string, std::string> env;
  std::regex line(R"(\n\s+([A-Z][A-Z0-9_]*): ([^\n]*))");
  for (std::sregex_iterator it(block.begin(), block.end(), line), end; it != end; ++it) {
    std::string v = (*it)[2].str();
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    env[(*it)[1].str()] = v;
  }
  return env;
}

TEST(ComposeKafka, ImageIsTheVersionOfThePom) {
  std::smatch m;
  const std::string pom = ReadFile(kSource / "ops/kafka/pom.xml");
  ASSERT_TRUE(std::regex_search(pom, m, std::regex(R"(<kafka.version>([^<]+)</kafka.version>)")));
  const std::string version = m[1].str();
  const std::string compose = ReadFile(kSource / "ops/docker-compose.yml");
  std::regex image(R"(image: apache/kafka(-native)?:(\S+))");
  int images = 0;
  for (std::sregex_iterator it(compose.begin(), compose.end(), image), end; it != end; ++it) {
    ++images;
    EXPECT_EQ((*it)[2].str(), version)
        << "compose runs " << (*it)[0].str() << ", ops/kafka/pom.xml pins Apache Kafka " << version;
  }
  auto blocks = ComposeBlocks();
  EXPECT_NE(blocks["kafka"].find("image: apache/kafka:" + version + "\n"), std::string::npos);
  EXPECT_GE(images, 2) << "the broker and kafka-init";
}

TEST(ComposeKafka, TopicsAreCreatedByAttestctlWithTheirConfigurations) {
  auto blocks = ComposeBlocks();
  const std::string& job = blocks["kafka-topics"];
  ASSERT_FALSE(job.empty()) << "no kafka-topics job";
  // attestctl's table (common/kafka/topics.h), as the SCRAM user admin; the
  // evidence partitions are the ones the registrar is configured with.
  EXPECT_NE(job.find("entrypoint: [\"/opt/attest/scripts/lab/compose-attestctl.sh\"]"),
            std::string::npos);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      job, m,
      std::regex(R"re(command: \["kafka", "topics", "create", "--partitions", "(\d+)", )re"
                 R"re("--replication-factor", "1"\])re")))
      << job;
  const auto shared = BlockEnv(blocks["x-attest"]);
  ASSERT_TRUE(shared.count("EVIDENCE_PARTITIONS"));
  EXPECT_EQ(m[1].str(), shared.at("EVIDENCE_PARTITIONS"));
  const auto env = BlockEnv(job);
  EXPECT_EQ(env.count("KAFKA_BOOTSTRAP_SERVERS") ? env.at("KAFKA_BOOTSTRAP_SERVERS") : "",
            "kafka:9092");
  EXPECT_EQ(env.count("KAFKA_SASL_USERNAME") ? env.at("KAFKA_SASL_USERNAME") : "", "admin");
  EXPECT_EQ(env.count("KAFKA_PASSWORD_FILE") ? env.at("KAFKA_PASSWORD_FILE") : "",
            "/etc/attest/secrets/admin.password");
  EXPECT_NE(job.find("secrets-kafka:/etc/attest/secrets:ro"), std::string::npos);
  EXPECT_NE(job.find("kafka:\n        condition: service_healthy"), std::string::npos);
  // Nothing else creates topics (the broker does not either:
  // auto.create.topics.enable=false), and every Kafka client waits for them.
  EXPECT_EQ(blocks["kafka-init"].find("--create"), std::string::npos) << blocks["kafka-init"];
  EXPECT_NE(blocks["kafka"].find("auto.create.topics.enable=false"), std::string::npos);
  for (const char* client : {"gateway", "x-worker"}) {
    EXPECT_NE(blocks[client].find("kafka-topics:\n"), std::string::npos) << client;
  }
}

TEST(ComposeKafka, AttestctlServiceHasKafkaAddressLoginAndCa) {
  auto blocks = ComposeBlocks();
  const std::string& svc = blocks["attestctl"];
  ASSERT_FALSE(svc.empty());
  const auto env = BlockEnv(svc);
  auto get = [&](const char* k) { return env.count(k) ? env.at(k) : std::string(); };
  // Kafka's address: the variable attestctl reads, naming the listener the
  // broker advertises to the compose network.
  EXPECT_EQ(get("KAFKA_BOOTSTRAP_SERVERS"), "kafka:9092");
  EXPECT_NE(ReadFile(kSource / "attestctl/cmd_verdicts.cc").find("\"KAFKA_BOOTSTRAP_SERVERS\""),
            std::string::npos);
  EXPECT_NE(blocks["kafka"].find("CLIENT://kafka:9092"), std::string::npos);
  // The SOC's login (read verdicts and revocations only), from a volume
  // holding only its password; the registrar's CA from the public volume.
  EXPECT_EQ(get("KAFKA_SASL_USERNAME"), "soc");
  EXPECT_EQ(get("KAFKA_PASSWORD_FILE"), "/etc/attest/soc/soc.password");
  EXPECT_NE(svc.find("secrets-soc:/etc/attest/soc:ro"), std::string::npos);
  EXPECT_NE(ReadFile(kSource / "scripts/lab/compose-pki.sh")
                .find("give soc 0:0 \"$m/kafka/soc.password\""),
            std::string::npos);
  EXPECT_EQ(get("ATTEST_CA_FILE"), "/etc/attest/pki/ca.pem");
  EXPECT_NE(svc.find("pki:/etc/attest/pki:ro"), std::string::npos);
  EXPECT_EQ(get("ATTEST_ADMIN_TOKEN_FILE"), "/etc/attest/secrets/admin.token");
  EXPECT_NE(svc.find("entrypoint: [\"/opt/attest/scripts/lab/compose-attestctl.sh\"]"),
            std::string::npos);

  // The entrypoint with this environment (password file and attestctl
  // stubbed): the documented commands get the CA and the SASL login.
  TempDir dir("attest-lab-ctl");
  std::ofstream(dir.path() / "soc.password") << "0123abcd\n";
  const fs::path stub = dir.path() / "attestctl";
  std::ofstream(stub) << "#!/bin/sh\nprintf '%s\\n' \"$@\"\n";
  fs::permissions(stub, fs::perms::owner_all);
  std::vector<std::string> run_env = {
      "ATTESTCTL=" + stub.string(),
      "KAFKA_PASSWORD_FILE=" + (dir.path() / "soc.password").string()};
  for (const char* k : {"KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SASL_USERNAME", "ATTEST_CA_FILE"}) {
    run_env.push_back(std::string(k) + "=" + get(k));
  }
  const std::string entry = (kSource / "scripts/lab/compose-attestctl.sh").string();
  std::string out;
  ASSERT_EQ(RunCommand({entry, "agents", "list"}, &out, run_env), 0) << out;
  EXPECT_EQ(out, "agents\nlist\n--ca-file\n/etc/attest/pki/ca.pem\n");
  out.clear();
  ASSERT_EQ(RunCommand({entry, "verdicts", "tail", "--from-beginning"}, &out, run_env), 0) << out;
  EXPECT_EQ(out,
            "verdicts\ntail\n"
            "--kafka-property\nsecurity.protocol=SASL_PLAINTEXT\n"
            "--kafka-property\nsasl.mechanism=SCRAM-SHA-512\n"
            "--kafka-property\nsasl.username=soc\n"
            "--kafka-property\nsasl.password=0123abcd\n"
            "--from-beginning\n");
  // attestctl verdicts tail takes the flag the entrypoint adds.
  EXPECT_NE(ReadFile(kSource / "attestctl/cmd_verdicts.cc").find("\"--kafka-property\""),
            std::string::npos);
  // The caller's own --ca-file wins; other commands pass through untouched.
  out.clear();
  ASSERT_EQ(RunCommand({entry, "agents", "show", "u", "--ca-file", "/x.pem"}, &out, run_env), 0);
  EXPECT_EQ(out, "agents\nshow\nu\n--ca-file\n/x.pem\n");
  out.clear();
  ASSERT_EQ(RunCommand({entry, "--help"}, &out, run_env), 0);
  EXPECT_EQ(out, "--help\n");
}

TEST(LabSecrets, BulkEnrolmentIsOffUnlessAsked) {
  EXPECT_NE(ReadFile(kSource / "scripts/lab/config/registrar.toml")
                .find("bulk_enrolment = ${REGISTRAR_BULK_ENROLMENT}"),
            std::string::npos);
  EXPECT_NE(ReadFile(kSource / "scripts/lab.sh")
                .find("REGISTRAR_BULK_ENROLMENT=${LAB_BULK_ENROLMENT:-false}"),
            std::string::npos);
  EXPECT_NE(ComposeBlocks()["registrar"].find("REGISTRAR_BULK_ENROLMENT: \"false\""),
            std::string::npos);
}

}  // namespace
