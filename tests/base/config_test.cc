#include "common/base/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>

#include "common/base/errors.h"
#include "common/base/logging.h"

namespace attest {
namespace {

TEST(ConfigFile, ReadsTypedValuesWithDefaults) {
  auto cfg = ConfigFile::Parse(R"(
name = "w1"
[kafka]
batch_size = 100
brokers = ["a:9092", "b:9092"]
ratio = 1.5
tls = true
)",
                               "inline.toml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(*cfg->String("name"), "w1");
  EXPECT_EQ(*cfg->Int("kafka.batch_size", 1, 1, 1000), 100);
  EXPECT_EQ(*cfg->Int("kafka.missing", 7), 7);
  EXPECT_DOUBLE_EQ(*cfg->Double("kafka.ratio"), 1.5);
  EXPECT_TRUE(*cfg->Bool("kafka.tls"));
  EXPECT_EQ(cfg->StringList("kafka.brokers")->size(), 2u);
}

TEST(ConfigFile, BadValueNamesFileKeyAndLine) {
  auto cfg = ConfigFile::Parse("[kafka]\nbatch_size = \"many\"\n", "worker.toml");
  ASSERT_TRUE(cfg.ok());
  auto v = cfg->Int("kafka.batch_size", 1);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, base::errc::invalid_value);
  EXPECT_NE(v.error().message.find("worker.toml:2:"), std::string::npos) << v.error().message;
  EXPECT_NE(v.error().message.find("kafka.batch_size"), std::string::npos);
}

TEST(ConfigFile, OutOfRangeAndMissing) {
  auto cfg = ConfigFile::Parse("n = 0\n", "x.toml");
  ASSERT_TRUE(cfg.ok());
  auto v = cfg->Int("n", 1, 1, 10);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.error().message.find("[1, 10]"), std::string::npos);
  auto m = cfg->String("required");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, base::errc::missing_value);
}

TEST(ConfigFile, SyntaxErrorHasLocation) {
  auto cfg = ConfigFile::Parse("a = 1\nb = = 2\n", "broken.toml");
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().code, base::errc::parse_error);
  EXPECT_NE(cfg.error().message.find("broken.toml:2:"), std::string::npos) << cfg.error().message;
}

TEST(ConfigFile, TableListKeepsLocations) {
  auto cfg = ConfigFile::Parse("[[servers]]\nverifiers = [\"a\"]\n[[servers]]\nverifiers = 3\n",
                               "agent.toml");
  ASSERT_TRUE(cfg.ok());
  auto servers = cfg->TableList("servers");
  ASSERT_TRUE(servers.ok());
  ASSERT_EQ(servers->size(), 2u);
  EXPECT_EQ((*servers)[0].StringList("verifiers")->at(0), "a");
  auto bad = (*servers)[1].StringList("verifiers");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("servers[1].verifiers"), std::string::npos)
      << bad.error().message;
  EXPECT_NE(bad.error().message.find("agent.toml:4:"), std::string::npos);
}

TEST(ConfigFile, MissingFileIsIoError) {
  auto cfg = ConfigFile::Load("/nonexistent/attest.toml");
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().code, base::errc::io_error);
}

// Issue 19.4: keys nobody reads are errors, not silently ignored settings.
// A small parser in the shape of the agent's: top-level keys, [tls] and
// [[servers]] blocks.
Result<void> ParseLikeAnAgent(const ConfigFile& f) {
  if (auto r = f.String("proxy", ""); !r) return r.error();
  if (auto r = f.Int("connect_timeout_ms", 5000); !r) return r.error();
  if (auto r = f.String("tls.ca_file", ""); !r) return r.error();
  if (auto r = f.String("tls.client_cert", ""); !r) return r.error();
  auto blocks = f.TableList("servers");
  if (!blocks) return blocks.error();
  for (const ConfigFile& b : *blocks) {
    if (auto r = b.StringList("registrars", std::vector<std::string>{}); !r) return r.error();
    if (auto r = b.StringList("verifiers"); !r) return r.error();
  }
  return f.RejectUnknownKeys();
}

Result<void> ParseLikeAnAgent(std::string_view text) {
  auto f = ConfigFile::Parse(text, "/etc/attest/agent.toml");
  if (!f) return f.error();
  return ParseLikeAnAgent(*f);
}

TEST(ConfigFile, EveryKeyReadIsAccepted) {
  auto r = ParseLikeAnAgent(R"(proxy = "http://p:3128"
[tls]
ca_file = "/etc/attest/ca.pem"
[[servers]]
registrars = ["r1"]
verifiers = ["g1"]
[[servers]]
verifiers = ["g2"]
)");
  EXPECT_TRUE(r.ok()) << r.error().message;
  // Absent keys (every default) are fine too.
  EXPECT_TRUE(ParseLikeAnAgent("[[servers]]\nverifiers = [\"g\"]\n").ok());
}

TEST(ConfigFile, AnUnknownKeyNamesFileLineKeyAndTheKeyMeant) {
  auto r = ParseLikeAnAgent(R"(proxy = ""
[[servers]]
verifiers = ["g1"]
[[servers]]
verifiers = ["g2"]

registrar = ["r2"]
)");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, base::errc::unknown_key);
  EXPECT_EQ(r.error().message,
            "/etc/attest/agent.toml:7:1: key 'servers[1].registrar': unknown key; did you mean "
            "'registrars'?");
  // A top-level typo, a name unlike any other, and an unknown table: every
  // one is listed, in file order.
  r = ParseLikeAnAgent(R"(conect_timeout_ms = 1
colour = "blue"
[tsl]
ca_file = "x"
[[servers]]
verifiers = ["g"]
)");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "/etc/attest/agent.toml:1:1: key 'conect_timeout_ms': unknown key; did you mean "
            "'connect_timeout_ms'?\n"
            "/etc/attest/agent.toml:2:1: key 'colour': unknown key\n"
            "/etc/attest/agent.toml:3:2: key 'tsl': unknown table; did you mean 'tls'?");
}

TEST(ConfigFile, AKeyInTheWrongTableSaysWhereItBelongs) {
  // Keys written after [tls] land in it; ca_file needs [tls].
  auto r = ParseLikeAnAgent(R"(ca_file = "/etc/attest/ca.pem"
[tls]
client_cert = ""
proxy = "http://p:3128"
[[servers]]
verifiers = ["g"]
[tls.extra]
registrars = ["r"]
)");
  ASSERT_FALSE(r.ok());
  const std::string& m = r.error().message;
  EXPECT_NE(m.find("agent.toml:1:1: key 'ca_file': unknown key; 'ca_file' belongs in [tls]"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("agent.toml:4:1: key 'tls.proxy': unknown key; 'proxy' belongs at the top "
                   "level (before any [table] header)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("key 'tls.extra': unknown table"), std::string::npos) << m;
  // A near miss of a key of another table names that table.
  r = ParseLikeAnAgent("[[servers]]\nverifiers = [\"g\"]\nca_fle = \"x\"\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("key 'servers[0].ca_fle': unknown key; did you mean 'ca_file' "
                                   "in [tls]?"),
            std::string::npos)
      << r.error().message;
}

TEST(ConfigFile, AnUnknownArrayOfTablesOrEmptyTableIsRefused) {
  auto r = ParseLikeAnAgent("[[server]]\nverifiers = [\"g\"]\n[[servers]]\nverifiers = [\"g\"]\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("agent.toml:1:3: key 'server': unknown table; did you mean "
                                   "'servers'?"),
            std::string::npos)
      << r.error().message;
  r = ParseLikeAnAgent("[extra]\n[[servers]]\nverifiers = [\"g\"]\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("key 'extra': unknown table"), std::string::npos);
}

TEST(ConfigFile, AMissingKeyNamesANearMissOfTheSameTable) {
  auto f = ConfigFile::Parse("[[servers]]\nverifier = [\"g\"]\n", "agent.toml");
  ASSERT_TRUE(f.ok());
  auto blocks = f->TableList("servers");
  ASSERT_TRUE(blocks.ok());
  auto v = (*blocks)[0].StringList("verifiers");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, base::errc::missing_value);
  EXPECT_EQ(v.error().message,
            "agent.toml: key 'servers[0].verifiers': required key is missing (is 'verifier' at "
            "agent.toml:2:1 a misspelling?)");
}

TEST(ConfigFile, RecordsEveryKeyAskedWithItsDefault) {
  auto f = ConfigFile::Parse("[[servers]]\nverifiers = [\"g\"]\n[[servers]]\nverifiers = [\"h\"]\n",
                             "agent.toml");
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(ParseLikeAnAgent(*f).ok());
  EXPECT_TRUE(f->Double("ratio", 0.8).ok());
  EXPECT_TRUE(f->Bool("trusted", false).ok());
  EXPECT_TRUE(f->StringList("list", std::vector<std::string>{"a", "b"}).ok());
  EXPECT_FALSE(f->Has("tested"));
  const auto asked = f->AskedKeys();
  using Map = std::map<std::string, std::optional<std::string>>;
  EXPECT_EQ(asked, (Map{{"proxy", ""},
                        {"connect_timeout_ms", "5000"},
                        {"tls.ca_file", ""},
                        {"tls.client_cert", ""},
                        {"servers", std::nullopt},
                        {"servers[].registrars", "[]"},
                        {"servers[].verifiers", std::nullopt},
                        {"ratio", "0.8"},
                        {"trusted", "false"},
                        {"list", "[\"a\", \"b\"]"},
                        {"tested", std::nullopt}}));
  // A key tested with Has and then read keeps the getter's default.
  EXPECT_FALSE(f->Has("later"));
  EXPECT_TRUE(f->Int("later", 3).ok());
  EXPECT_EQ(f->AskedKeys().at("later"), "3");
}

TEST(ConfigFile, ElementErrorsPointAtTheElement) {
  auto f = ConfigFile::Parse("list = [\"a\",\n  \"b\"]\n", "x.toml");
  ASSERT_TRUE(f.ok());
  Error e = f->Invalid("list", 1, "bad");
  EXPECT_EQ(e.message, "x.toml:2:3: key 'list[1]': bad");
  EXPECT_EQ(f->Locate("list", 0), "x.toml:1:9");
  EXPECT_EQ(f->Locate("absent"), "x.toml");
}

// A key of 40 000 dotted parts (80 KB) overflowed toml++'s stack while
// parsing: a crash of every binary at start-up. It is a parse error now,
// and dots in strings, comments, floats and dates still parse.
TEST(ConfigFile, AKeyOfTensOfThousandsOfDottedPartsIsAnErrorNotACrash) {
  std::string deep = "a";
  for (int i = 0; i < 40000; ++i) deep += ".a";
  for (const std::string& text : {"x = 1\n" + deep + " = 1\n", "x = 1\n[" + deep + "]\n",
                                  "x = 1\n[[" + deep + "]]\n", "x = {" + deep + " = 1}\n"}) {
    auto f = ConfigFile::Parse(text, "deep.toml");
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.error().code, base::errc::parse_error);
    EXPECT_NE(f.error().message.find("deep.toml:"), std::string::npos) << f.error().message;
    EXPECT_NE(f.error().message.find("more than 32 dotted parts"), std::string::npos)
        << f.error().message;
  }
  std::string dots(200, '.');
  std::string floats, dotted = "k";
  for (int i = 0; i < 200; ++i) floats += (i ? ", " : "") + std::to_string(i) + ".5";
  for (int i = 0; i < 31; ++i) dotted += " . \"k\"";
  const std::string ok = "s = \"" + dots + "\\\"" + dots + "\"\nl = '" + dots + "'\nm = \"\"\"\n" +
                         dots + "\\\n" + dots + "\"\"\"\"\"\nml = '''" + dots + "\n" + dots +
                         "'''''\n# " + dots + "\nf = [" + floats +
                         "]\nd = 1979-05-27T07:32:00.999-07:00\n" + dotted + " = 1\n";
  auto f = ConfigFile::Parse(ok, "ok.toml");
  ASSERT_TRUE(f.ok()) << f.error().message << "\n" << ok;
  EXPECT_EQ(*f->String("m"), dots + dots + "\"\"");
  std::string path = "k";
  for (int i = 0; i < 31; ++i) path += ".k";
  EXPECT_TRUE(f->Has(path)) << "32 parts are still fine";
}

// A quoted key holding a dot is one name, not a path: "tls.ca_file" at the
// top level is not [tls] ca_file, which its author meant, and was accepted
// and ignored because its text equals the path the parser asked for.
TEST(ConfigFile, AQuotedKeyWithADotIsUnknownEvenWhenItReadsLikeAKeyAsked) {
  auto r = ParseLikeAnAgent(
      "\"tls.ca_file\" = \"/etc/evil.pem\"\n\"servers[0].registrars\" = [\"r\"]\n"
      "[tls]\n\"client_cert\" = \"\"\n[[servers]]\nverifiers = [\"g\"]\n");
  ASSERT_FALSE(r.ok());
  const std::string& m = r.error().message;
  EXPECT_NE(m.find("agent.toml:1:1: key 'tls.ca_file': unknown key; a quoted name with '.'"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("agent.toml:2:1: key 'servers[0].registrars': unknown key"), std::string::npos)
      << m;
  EXPECT_EQ(m.find("client_cert"), std::string::npos) << "a quoted plain name is that name\n" << m;
}

// A megabyte-long unknown key cost a megabyte-by-name edit-distance table
// per known name (seconds and hundreds of MB); thousands of unknown keys
// made an error of thousands of lines.
TEST(ConfigFile, AHugeUnknownKeyOrThousandsOfThemGiveAShortErrorQuickly) {
  const auto t0 = std::chrono::steady_clock::now();
  auto f = ConfigFile::Parse(std::string(1 << 20, 'k') + " = 1\n", "big.toml");
  ASSERT_TRUE(f.ok());
  for (int i = 0; i < 10; ++i) (void)f->Int("known_name_" + std::to_string(i), 1);
  auto r = f->RejectUnknownKeys();
  ASSERT_FALSE(r.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));

  std::string many;
  for (int i = 0; i < 200; ++i) many += "unknown_" + std::to_string(i) + " = 1\n";
  r = ParseLikeAnAgent(many + "[[servers]]\nverifiers = [\"g\"]\n");
  ASSERT_FALSE(r.ok());
  const std::string& m = r.error().message;
  EXPECT_EQ(std::count(m.begin(), m.end(), '\n'), 50) << m;
  EXPECT_NE(m.find("\n(and 150 more unknown keys)"), std::string::npos) << m;
}

TEST(Logging, JsonEscape) {
  EXPECT_EQ(JsonEscape("a\"b\\c\n\x01"), "a\\\"b\\\\c\\n\\u0001");
  EXPECT_FALSE(ParseLogFormat("xml").ok());
  EXPECT_TRUE(InitLogging({LogOptions::Format::kJson, "info", "", "test"}).ok());
  EXPECT_FALSE(InitLogging({LogOptions::Format::kHuman, "loud", "", "test"}).ok());
}

}  // namespace
}  // namespace attest
