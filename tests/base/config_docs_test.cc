// Issue 19.4: the configuration reference is the code's. For each binary,
// docs/configuration.md's `| key | default | meaning |` table is read and
// compared with what the parser of a minimal configuration asked for
// (ConfigFile::AskedKeys): every documented key is read by the code, every
// key the code reads is documented, every documented default is the
// getter's default and every key documented as required ("-") is refused
// when absent. Also: every TOML file the project ships or renders parses
// (the strict parsers refuse dead keys), and a default agent's evidence fits
// a default gateway's body limit.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "agent/config.h"
#include "attest/v1/attestation.pb.h"
#include "common/base/config.h"
#include "ingest-gateway/config.h"
#include "registrar/config.h"
#include "verifier-workers/config.h"

namespace attest {
namespace {

namespace fs = std::filesystem;
const fs::path kSource = ATTEST_SOURCE_DIR;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A documented row: its key (generic form, "servers[].registrars") and its
// default cell split per key.
struct DocRow {
  std::string key;
  std::string default_text;  // the cell's part for this key, trimmed
  int line = 0;
};

std::string Trim(std::string s) {
  const auto b = s.find_first_not_of(" \t");
  const auto e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<std::string> SplitOn(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    const size_t next = s.find(sep, pos);
    out.push_back(Trim(s.substr(pos, next == std::string::npos ? next : next - pos)));
    if (next == std::string::npos) return out;
    pos = next + sep.size();
  }
}

// The rows of the first `| key | default | meaning |` table under "## <section>".
std::vector<DocRow> DocumentedKeys(const std::string& section) {
  std::istringstream in(ReadFile(kSource / "docs/configuration.md"));
  std::vector<DocRow> rows;
  std::string line;
  int n = 0;
  bool in_section = false, in_table = false;
  while (std::getline(in, line)) {
    ++n;
    if (line.starts_with("## ")) {
      if (in_section) break;
      in_section = line == "## " + section;
      continue;
    }
    if (!in_section) continue;
    if (line == "| key | default | meaning |") {
      in_table = true;
      continue;
    }
    if (!in_table || line.starts_with("|---")) continue;
    if (!line.starts_with("|")) {
      if (!rows.empty()) break;  // the table ended
      continue;
    }
    const auto cells = SplitOn(line.substr(1), "|");
    if (cells.size() < 3) continue;
    std::vector<std::string> keys;
    for (const std::string& k : SplitOn(cells[0], " / ")) {
      std::string key = k;
      if (key.size() >= 2 && key.front() == '`' && key.back() == '`') {
        key = key.substr(1, key.size() - 2);
      }
      // "[[servers]].registrars": the generic form AskedKeys uses.
      static const std::regex array_of_tables(R"(^\[\[(\w+)\]\]\.)");
      key = std::regex_replace(key, array_of_tables, "$1[].");
      keys.push_back(key);
    }
    std::vector<std::string> defaults = SplitOn(cells[1], " / ");
    if (defaults.size() != keys.size()) defaults.assign(keys.size(), Trim(cells[1]));
    for (size_t i = 0; i < keys.size(); ++i) rows.push_back({keys[i], defaults[i], n});
  }
  return rows;
}

// A minimal configuration as (dotted key, TOML value) pairs; "servers[].k"
// goes into one [[servers]] block.
using Minimal = std::vector<std::pair<std::string, std::string>>;

std::string Render(const Minimal& m) {
  std::map<std::string, std::vector<std::string>> tables;  // "" = top level
  for (const auto& [key, value] : m) {
    const size_t dot = key.rfind('.');
    const std::string table = dot == std::string::npos ? "" : key.substr(0, dot);
    tables[table].push_back(key.substr(dot + 1) + " = " + value);
  }
  std::string out;
  for (const auto& [table, lines] : tables) {
    if (table.ends_with("[]")) {
      out += "[[" + table.substr(0, table.size() - 2) + "]]\n";
    } else if (!table.empty()) {
      out += "[" + table + "]\n";
    }
    for (const auto& l : lines) out += l + "\n";
  }
  return out;
}

// Parses with one binary's parser; the ConfigFile is kept for AskedKeys.
using Parser = std::function<Result<void>(const ConfigFile&)>;

struct Binary {
  std::string section;
  Minimal minimal;
  Parser parse;
  // Defaults the documentation states in words (or as another key), with the
  // code's default they stand for.
  std::map<std::string, std::pair<std::string, std::string>> computed;
};

std::string HostName() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

const char kEnvConninfo[] = "host=from-the-environment";

std::vector<Binary> Binaries() {
  return {
      {"attest-agent",
       {{"servers[].verifiers", R"(["gw.example.com"])"}},
       [](const ConfigFile& f) -> Result<void> {
         auto c = agent::ParseAgentConfig(f);
         if (!c) return c.error();
         return Ok();
       },
       {}},
      {"attest-registrar",
       {{"server.cert", R"("r.pem")"},
        {"server.key", R"("r.key")"},
        {"ek.trust_store", R"("/etc/attest/ek-ca")"},
        {"admin.token_file", R"("/etc/attest/admin.token")"},
        {"kafka.bootstrap_servers", R"("k:9092")"}},
       [](const ConfigFile& f) -> Result<void> {
         auto c = registrar::ParseRegistrarConfig(f, kEnvConninfo);
         if (!c) return c.error();
         return Ok();
       },
       {{"database.conninfo", {"`$ATTEST_DATABASE`", kEnvConninfo}}}},
      {"attest-gateway",
       {{"server.cert_file", R"("g.pem")"},
        {"server.key_file", R"("g.key")"},
        {"token.key_files", R"(["t.key"])"},
        {"database.conninfo", R"("host=db")"},
        {"kafka.bootstrap_servers", R"("k:9092")"}},
       [](const ConfigFile& f) -> Result<void> {
         auto c = gateway::ParseGatewayConfig(f);
         if (!c) return c.error();
         return Ok();
       },
       {{"gateway_id", {"host name", HostName()}}}},
      {"attest-worker",
       {{"kafka.bootstrap_servers", R"("k:9092")"},
        {"database.conninfo", R"("host=db")"},
        {"token.key_files", R"(["t.key"])"},
        {"revocation.signing_key_file", R"("rev.key")"},
        {"revocation.key_id", R"("rev-1")"}},
       [](const ConfigFile& f) -> Result<void> {
         auto c = worker::ParseWorkerConfig(f);
         if (!c) return c.error();
         return Ok();
       },
       {{"worker_id", {"host name + pid", HostName() + "-" + std::to_string(getpid())}},
        {"backend_id", {"`kafka.group_id`", "attest-workers"}}}},
  };
}

// The value a documented default cell states: `""` is the empty string,
// otherwise the first `code span` ("`info`", "`/sys/...` (`ascii_...` for
// `ascii`)").
std::optional<std::string> Literal(const std::string& cell) {
  if (cell.empty() || cell.front() != '`') return std::nullopt;
  const size_t end = cell.find('`', 1);
  if (end == std::string::npos) return std::nullopt;
  std::string v = cell.substr(1, end - 1);
  if (v == "\"\"") return std::string();
  return v;
}

void PrintTo(const Binary& b, std::ostream* os) { *os << b.section; }

class ConfigDocs : public testing::TestWithParam<Binary> {};

TEST_P(ConfigDocs, EveryDocumentedDefaultIsTheCodesAndEveryKeyIsDocumented) {
  const Binary& b = GetParam();
  const auto rows = DocumentedKeys(b.section);
  ASSERT_FALSE(rows.empty()) << "no key table under ## " << b.section;
  auto file = ConfigFile::Parse(Render(b.minimal), b.section + ".toml");
  ASSERT_TRUE(file.ok()) << file.error().message;
  auto parsed = b.parse(*file);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const auto asked = file->AskedKeys();

  std::set<std::string> documented;
  for (const DocRow& r : rows) {
    SCOPED_TRACE("docs/configuration.md:" + std::to_string(r.line) + ": " + r.key);
    documented.insert(r.key);
    auto it = asked.find(r.key);
    if (it == asked.end()) {
      ADD_FAILURE() << "documented, but the code never reads it";
      continue;
    }
    const std::optional<std::string>& code = it->second;
    if (auto c = b.computed.find(r.key); c != b.computed.end()) {
      EXPECT_EQ(r.default_text, c->second.first);
      EXPECT_EQ(code, c->second.second);
    } else if (r.default_text == "-") {
      // Required: without it the parser refuses the file, naming the key
      // (some parsers read "" and explain why it is needed).
      Minimal without;
      for (const auto& kv : b.minimal) {
        if (kv.first != r.key) without.push_back(kv);
      }
      EXPECT_NE(without.size(), b.minimal.size()) << "documented as required: add it to the "
                                                     "test's minimal configuration";
      auto f = ConfigFile::Parse(Render(without), "min.toml");
      ASSERT_TRUE(f.ok());
      auto p = b.parse(*f);
      EXPECT_FALSE(p.ok()) << "documented as required, accepted without it";
      if (!p.ok()) {
        EXPECT_NE(p.error().message.find("'" + r.key + "'"), std::string::npos)
            << p.error().message;
      }
    } else if (r.default_text.starts_with("- (")) {
      // Required in some cases only (the meaning says when): checked by the
      // parser's own tests.
    } else if (auto lit = Literal(r.default_text)) {
      EXPECT_EQ(code, lit) << "documented default " << r.default_text;
    } else {
      ADD_FAILURE() << "default '" << r.default_text
                    << "' is neither a `value`, '-' nor a known computed default";
    }
  }
  for (const auto& [key, fallback] : asked) {
    // The array of tables itself: documented by its keys ([[servers]].x).
    if (asked.count(key + "[]") || std::any_of(asked.begin(), asked.end(), [&](const auto& kv) {
          return kv.first.starts_with(key + "[].");
        })) {
      continue;
    }
    EXPECT_TRUE(documented.count(key))
        << key << " (default " << fallback.value_or("none")
        << ") is read by the code but not documented under ## " << b.section;
  }
}

INSTANTIATE_TEST_SUITE_P(Binaries, ConfigDocs, testing::ValuesIn(Binaries()),
                         [](const testing::TestParamInfo<Binary>& i) {
                           std::string n = i.param.section.substr(7);  // "attest-"
                           return n;
                         });

// --- Every TOML the project ships or renders parses -----------------------

// ${NAME} filled from `env` (scripts/lab/render.sh's rule: an unset name is
// an error).
std::string RenderTemplate(const std::string& text, const std::map<std::string, std::string>& env) {
  static const std::regex placeholder(R"(\$\{(\w+)\})");
  std::string out;
  auto begin = std::sregex_iterator(text.begin(), text.end(), placeholder);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    out += text.substr(last, it->position() - last);
    auto v = env.find((*it)[1].str());
    EXPECT_NE(v, env.end()) << "${" << (*it)[1].str() << "} has no test value";
    if (v != env.end()) out += v->second;
    last = it->position() + it->length();
  }
  return out + text.substr(last);
}

// The lab's values (scripts/lab.sh) and compose's SASL properties
// (scripts/lab/compose-service.sh).
std::map<std::string, std::string> LabEnv(const std::string& kafka_properties) {
  return {{"AGENT_BOOT_TIME", "1700000000"},
          {"AGENT_DIR", "/lab/agent1"},
          {"AGENT_REGISTRARS", "\"https://127.0.0.1:8891\""},
          {"AGENT_VERIFIERS", "\"https://127.0.0.1:8881\""},
          {"AGENT_TCTI", "swtpm:host=127.0.0.1,port=2321"},
          {"AGENT_UUID", "d432fbb3-d2f1-4a97-9ef7-75bd81c00000"},
          {"ATTEST_INTERVAL", "5"},
          {"CHALLENGE_PCRS", "10"},
          {"EVIDENCE_PARTITIONS", "6"},
          {"GATEWAY_DATABASE", "host=db user=gw"},
          {"GATEWAY_ID", "gw1"},
          {"GATEWAY_LISTEN", "127.0.0.1:8881"},
          {"KAFKA_BOOTSTRAP", "127.0.0.1:9092"},
          {"KAFKA_PROPERTIES", kafka_properties},
          {"METRICS_LISTEN", "127.0.0.1:9464"},
          {"PKI_DIR", "/lab/pki"},
          {"REGISTRAR_BULK_ENROLMENT", "false"},
          {"REGISTRAR_DATABASE", "host=db user=reg"},
          {"REGISTRAR_LISTEN", "127.0.0.1"},
          {"REGISTRAR_PORT", "8891"},
          {"SECRETS_DIR", "/lab/secrets"},
          {"VERDICT_ENCODING", "json"},
          {"WORKER_DATABASE", "host=db user=w"},
          {"WORKER_ID", "worker1"}};
}

TEST(ShippedConfigs, TheAgentExampleParses) {
  // Parsed, not loaded: LoadAgentConfig also wants /etc/attest/ca.pem.
  auto f = ConfigFile::Load((kSource / "agent/agent.example.toml").string());
  ASSERT_TRUE(f.ok()) << f.error().message;
  auto c = agent::ParseAgentConfig(*f);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->servers.size(), 2u);
}

// The example says it lists every key with its default: it does, and the
// values are the code's (the [[servers]] blocks aside).
TEST(ShippedConfigs, TheAgentExampleListsEveryKeyWithItsDefault) {
  auto example = ConfigFile::Load((kSource / "agent/agent.example.toml").string());
  ASSERT_TRUE(example.ok()) << example.error().message;
  ASSERT_TRUE(agent::ParseAgentConfig(*example).ok());
  auto minimal = ConfigFile::Parse("[[servers]]\nverifiers = [\"g\"]\n", "min.toml");
  ASSERT_TRUE(minimal.ok());
  ASSERT_TRUE(agent::ParseAgentConfig(*minimal).ok());
  for (const auto& [key, fallback] : minimal->AskedKeys()) {
    if (key.starts_with("servers")) continue;
    SCOPED_TRACE(key);
    EXPECT_TRUE(example->Has(key)) << "not in agent/agent.example.toml";
    if (!example->Has(key) || !fallback) continue;
    std::string value;
    if (auto s = example->String(key); s) {
      value = *s;
    } else if (auto i = example->Int(key); i) {
      value = std::to_string(*i);
    } else if (auto b = example->Bool(key); b) {
      value = *b ? "true" : "false";
    }
    EXPECT_EQ(value, *fallback) << "agent/agent.example.toml gives another value than the default";
  }
}

struct Template {
  std::string name;
  Parser parse;
};

TEST(ShippedConfigs, TheLabAndComposeTemplatesRenderAndParse) {
  const std::vector<Template> templates = {
      {"agent.toml",
       [](const ConfigFile& f) -> Result<void> {
         auto c = agent::ParseAgentConfig(f);
         if (!c) return c.error();
         return Ok();
       }},
      {"registrar.toml",
       [](const ConfigFile& f) -> Result<void> {
         auto c = registrar::ParseRegistrarConfig(f);
         if (!c) return c.error();
         return Ok();
       }},
      {"gateway.toml",
       [](const ConfigFile& f) -> Result<void> {
         auto c = gateway::ParseGatewayConfig(f);
         if (!c) return c.error();
         return Ok();
       }},
      {"worker.toml",
       [](const ConfigFile& f) -> Result<void> {
         auto c = worker::ParseWorkerConfig(f);
         if (!c) return c.error();
         return Ok();
       }},
  };
  std::set<std::string> on_disk;
  for (const auto& e : fs::directory_iterator(kSource / "scripts/lab/config")) {
    if (e.path().extension() == ".toml") on_disk.insert(e.path().filename().string());
  }
  std::set<std::string> tested;
  for (const Template& t : templates) tested.insert(t.name);
  EXPECT_EQ(on_disk, tested) << "a template without a parser check";
  // The lab (no properties) and compose (SASL/SCRAM properties).
  for (const std::string& props :
       {std::string(), std::string("\"security.protocol=SASL_PLAINTEXT\", "
                                   "\"sasl.mechanism=SCRAM-SHA-512\", \"sasl.username=gateway\", "
                                   "\"sasl.password=0123abcd\"")}) {
    for (const Template& t : templates) {
      SCOPED_TRACE(t.name + (props.empty() ? " (lab)" : " (compose)"));
      const std::string text =
          RenderTemplate(ReadFile(kSource / "scripts/lab/config" / t.name), LabEnv(props));
      auto f = ConfigFile::Parse(text, t.name);
      ASSERT_TRUE(f.ok()) << f.error().message;
      auto r = t.parse(*f);
      EXPECT_TRUE(r.ok()) << r.error().message << "\n" << text;
    }
  }
}

// --- Size limits ------------------------------------------------------------

// Issue 19.4: a default agent's largest evidence (a UEFI log of
// uefi_log_max_bytes, an IMA part of ima_max_batch_bytes, a quote of every
// PCR of the largest bank, the largest signature) fits a default gateway's
// server.max_body_bytes, even from a gateway that does not send its limit in
// the challenge (the agent then sizes nothing down).
TEST(SizeLimits, ADefaultAgentsLargestEvidenceFitsADefaultGateway) {
  auto af = ConfigFile::Parse("[[servers]]\nverifiers = [\"g\"]\n", "agent.toml");
  ASSERT_TRUE(af.ok());
  auto a = agent::ParseAgentConfig(*af);
  ASSERT_TRUE(a.ok());
  auto gf = ConfigFile::Parse(R"([server]
cert_file = "g.pem"
key_file = "g.key"
[token]
key_files = ["t.key"]
[database]
conninfo = "host=db"
[kafka]
bootstrap_servers = "k:9092"
)",
                              "gateway.toml");
  ASSERT_TRUE(gf.ok());
  auto g = gateway::ParseGatewayConfig(*gf);
  ASSERT_TRUE(g.ok()) << g.error().message;

  v1::Evidence ev;
  ev.set_agent_uuid("d432fbb3-d2f1-4a97-9ef7-75bd81c00000");
  ev.set_challenge_token(std::string(1024, 't'));  // gateway tokens are ~200 bytes
  auto* q = ev.mutable_quote();
  q->set_attest(std::string(1024, 'a'));     // TPMS_ATTEST: ~150 bytes + nonce
  q->set_signature(std::string(1024, 's'));  // RSA 4096: 518 bytes
  for (auto alg : {v1::HASH_ALGORITHM_SHA512}) {
    auto* bank = q->add_pcrs();
    bank->set_hash_algorithm(alg);
    for (uint32_t i = 0; i < 24; ++i) (*bank->mutable_values())[i] = std::string(64, 'p');
  }
  ev.set_uefi_log(std::string(static_cast<size_t>(a->uefi_log_max_bytes), 'u'));
  ev.mutable_ima()->set_data(std::string(static_cast<size_t>(a->ima_max_batch_bytes), 'i'));
  ev.mutable_ima()->set_entry_count(100000);
  ev.mutable_ima()->set_start_offset(1u << 30);
  ev.mutable_ima()->set_format(v1::IMA_LOG_FORMAT_BINARY);
  ev.mutable_boot_time()->set_seconds(1700000000);
  auto* caps = ev.mutable_capabilities();
  for (int i = 0; i < 4; ++i) caps->add_hash_algorithms(v1::HASH_ALGORITHM_SHA256);
  caps->set_agent_version(std::string(64, 'v'));
  caps->set_ima_entry_count(1u << 30);

  EXPECT_LE(ev.ByteSizeLong(), g->server.max_body_bytes)
      << "agent ima_max_batch_bytes " << a->ima_max_batch_bytes << " + uefi_log_max_bytes "
      << a->uefi_log_max_bytes << " + quote do not fit the gateway's server.max_body_bytes";
  // The declared budget the defaults keep to, with room for larger quotes.
  EXPECT_LE(a->ima_max_batch_bytes + a->uefi_log_max_bytes + agent::kEvidenceOverheadBytes,
            static_cast<int64_t>(g->server.max_body_bytes));
  // And the gateway's least body limit takes a default agent's UEFI log.
  EXPECT_GE(static_cast<int64_t>(gateway::kMinBodyBytes),
            a->uefi_log_max_bytes + agent::kEvidenceOverheadBytes);
}

}  // namespace
}  // namespace attest
