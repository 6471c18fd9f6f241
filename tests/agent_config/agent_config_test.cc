#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/config.h"
#include "agent/server_address.h"

namespace attest::agent {
namespace {

TEST(ServerAddress, DefaultsAndForms) {
  auto a = ParseServerAddress("reg1.example.com", kDefaultRegistrarPort);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->Url(), "https://reg1.example.com:8891");
  auto b = ParseServerAddress("https://reg2.example.com:9000", kDefaultRegistrarPort);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->port, 9000);
  auto c = ParseServerAddress("gw1.example.com:8881", kDefaultGatewayPort);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->Url(), "https://gw1.example.com:8881");
  auto d = ParseServerAddress("http://[::1]:1234", kDefaultGatewayPort);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->host, "::1");
  EXPECT_EQ(d->Url(), "http://[::1]:1234");
  auto e = ParseServerAddress("127.0.0.1", kDefaultGatewayPort);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->port, kDefaultGatewayPort);
}

TEST(ServerAddress, Rejects) {
  for (const char* bad : {"", "ftp://x", "host:0", "host:70000", "host:abc", "host:", "[::1",
                          "https://", "host/path", "ho st", "[::1]x"}) {
    EXPECT_FALSE(ParseServerAddress(bad, 1).ok()) << bad;
  }
  // Credentials are refused and kept out of the error (it goes to the
  // journal): they were quoted whole before.
  for (const char* bad : {"https://agent:s3cret@gw1.example.com", "agent:s3cret@gw1:8881",
                          "https://agent:p@s3cret@gw1", "https://agent:s3cret/x@gw1"}) {
    auto a = ParseServerAddress(bad, 1);
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_EQ(a.error().message.find("s3cret"), std::string::npos) << a.error().message;
    EXPECT_NE(a.error().message.find("user:password@) is not supported"), std::string::npos)
        << a.error().message;
  }
}

Result<AgentConfig> Parse(const std::string& text) {
  auto f = ConfigFile::Parse(text, "agent.toml");
  if (!f.ok()) return f.error();
  return ParseAgentConfig(*f);
}

TEST(AgentConfig, BriefExample) {
  auto c = Parse(R"(
verification_duplication = 2
[[servers]]
registrars = ["reg1.example.com", "https://reg2.example.com:8891"]
verifiers  = ["gw1.example.com:8881", "gw2.example.com"]
[[servers]]
registrars = ["reg3.example.com"]
verifiers  = ["gw3.example.com"]
)");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->verification_duplication, 2);
  ASSERT_EQ(c->servers.size(), 2u);
  EXPECT_EQ(c->servers[0].registrars.size(), 2u);
  EXPECT_EQ(c->servers[0].verifiers[1].Url(), "https://gw2.example.com:8881");
  EXPECT_EQ(c->servers[1].registrars[0].Url(), "https://reg3.example.com:8891");
  EXPECT_EQ(c->tcti, "device:/dev/tpmrm0");
}

TEST(AgentConfig, DuplicationLargerThanBlocksIsAnError) {
  auto c = Parse(R"(verification_duplication = 3
[[servers]]
verifiers = ["a"]
[[servers]]
verifiers = ["b"]
)");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("agent.toml:1:"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("verification_duplication"), std::string::npos);
  EXPECT_NE(c.error().message.find("2 [[servers]]"), std::string::npos);
}

TEST(AgentConfig, BlockWithoutVerifiersIsAnError) {
  auto c = Parse("[[servers]]\nregistrars = [\"r\"]\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("servers[0].verifiers"), std::string::npos) << c.error().message;
  auto d = Parse("[[servers]]\nverifiers = []\n");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("agent.toml:2:"), std::string::npos) << d.error().message;
}

TEST(AgentConfig, BadAddressAndEnumsNameTheKey) {
  auto c = Parse("[[servers]]\nverifiers = [\"gw:99999\"]\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("servers[0].verifiers"), std::string::npos);
  EXPECT_NE(c.error().message.find("gw:99999"), std::string::npos);
  auto d = Parse("ek_type = \"dsa\"\n[[servers]]\nverifiers = [\"g\"]\n");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("ek_type"), std::string::npos);
  EXPECT_FALSE(Parse("").ok());
  EXPECT_FALSE(Parse("[tls]\nclient_cert = \"c.pem\"\n[[servers]]\nverifiers = [\"g\"]\n").ok());
}

TEST(AgentConfig, AgentLoopKeys) {
  auto c = Parse(R"(boot_time = 1700000000
default_interval_seconds = 30
ima_max_batch_bytes = 65536
uefi_log_max_bytes = 2048
proxy = "http://proxy:3128"
no_proxy = "localhost"
[tls]
pinned_public_key = "sha256//abc="
[[servers]]
verifiers = ["g"]
)");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->boot_time, 1700000000);
  EXPECT_EQ(c->default_interval_seconds, 30);
  EXPECT_EQ(c->ima_max_batch_bytes, 65536);
  EXPECT_EQ(c->uefi_log_max_bytes, 2048);
  EXPECT_EQ(c->tls.proxy, "http://proxy:3128");
  EXPECT_EQ(c->tls.no_proxy, "localhost");
  EXPECT_EQ(c->tls.pinned_public_key, "sha256//abc=");
  auto d = Parse("[[servers]]\nverifiers = [\"g\"]\n");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->boot_time, 0);
  EXPECT_EQ(d->default_interval_seconds, 60);
  for (const char* bad : {"default_interval_seconds = 0", "ima_max_batch_bytes = 10",
                          "boot_time = -1", "retry_max_ms = 10\nretry_initial_ms = 100",
                          "no_proxy = \"localhost,exa$mple\"", "no_proxy = \"10.0.0.0/99\""}) {
    auto e = Parse(std::string(bad) + "\n[[servers]]\nverifiers = [\"g\"]\n");
    EXPECT_FALSE(e.ok()) << bad;
  }
}

// Issue 19.4: the typo of the issue, `registrar` for `registrars`, used to
// leave the block without registrars and say nothing.
TEST(AgentConfig, AnUnknownKeyIsAnErrorNamingFileLineAndKey) {
  auto c = Parse(R"(verification_duplication = 1
[[servers]]
registrars = ["reg1.example.com"]
verifiers = ["gw1.example.com"]

[[servers]]
registrar = ["reg2.example.com"]
verifiers = ["gw2.example.com"]
)");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message,
            "agent.toml:7:1: key 'servers[1].registrar': unknown key; did you mean 'registrars'?");
  c = Parse("ima_log_fromat = \"ascii\"\n[[servers]]\nverifiers = [\"g\"]\n");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message,
            "agent.toml:1:1: key 'ima_log_fromat': unknown key; did you mean 'ima_log_format'?");
}

TEST(AgentConfig, AKeyInTheWrongTableSaysWhereItBelongs) {
  // proxy written after [tls] is tls.proxy: the agent would have used no proxy.
  auto c = Parse(R"([tls]
ca_file = "/etc/attest/ca.pem"
proxy = "http://proxy:3128"
[[servers]]
verifiers = ["g"]
)");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message,
            "agent.toml:3:1: key 'tls.proxy': unknown key; 'proxy' belongs at the top level "
            "(before any [table] header)");
  c = Parse("registrars = [\"r\"]\n[[servers]]\nverifiers = [\"g\"]\n");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message,
            "agent.toml:1:1: key 'registrars': unknown key; 'registrars' belongs in [[servers]]");
  c = Parse("ca_file = \"/etc/attest/ca.pem\"\n[[servers]]\nverifiers = [\"g\"]\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("'ca_file' belongs in [tls]"), std::string::npos)
      << c.error().message;
  // A misspelt required key is named by the error about the missing one.
  c = Parse("[[servers]]\nverifier = [\"g\"]\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("is 'verifier' at agent.toml:2:1 a misspelling?"),
            std::string::npos)
      << c.error().message;
  c = Parse("[[server]]\nverifiers = [\"g\"]\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("is 'server' at agent.toml:1:3 a misspelling?"),
            std::string::npos)
      << c.error().message;
}

TEST(AgentConfig, AnAddressListedTwiceInABlockIsAnError) {
  // Same server after normalisation: case, default port, trailing dot.
  auto c = Parse(R"([[servers]]
verifiers = ["gw1.example.com",
             "https://GW1.Example.com.:8881"]
)");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message,
            "agent.toml:3:14: key 'servers[0].verifiers[1]': duplicate address: "
            "gw1.example.com:8881 is already listed as servers[0].verifiers[0] (agent.toml:2:14); "
            "list each server once");
  c = Parse("[[servers]]\nregistrars = [\"[::1]\", \"[0:0::1]:8891\"]\nverifiers = [\"g\"]\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("key 'servers[0].registrars[1]': duplicate address: [::1]:8891"),
            std::string::npos)
      << c.error().message;
  // libcurl reads "127.1", "0x7f.0.0.1", "0177.0.0.1", "2130706433" and
  // "[::ffff:127.0.0.1]" as 127.0.0.1: one server, whichever form (each was
  // accepted as a second server before).
  for (const char* other :
       {"127.1", "0x7f.0.0.1", "0177.0.0.1", "2130706433", "[::ffff:127.0.0.1]", "127.0.0.1."}) {
    c = Parse(std::string("[[servers]]\nverifiers = [\"https://127.0.0.1:8881\", \"") + other +
              "\"]\n");
    ASSERT_FALSE(c.ok()) << other;
    EXPECT_NE(c.error().message.find("duplicate address: 127.0.0.1:8881 is already listed"),
              std::string::npos)
        << c.error().message;
  }
  // Names are never resolved: "localhost" is not 127.0.0.1 here.
  EXPECT_TRUE(Parse("[[servers]]\nverifiers = [\"localhost\", \"127.0.0.1\"]\n").ok());
  // Another port is another server; a registrar and a gateway on one host too.
  EXPECT_TRUE(Parse("[[servers]]\nregistrars = [\"h\"]\nverifiers = [\"h\", \"h:9881\"]\n").ok());
}

TEST(AgentConfig, OverlappingBlocksAreAnError) {
  auto c = Parse(R"(verification_duplication = 2
[[servers]]
registrars = ["reg1.example.com"]
verifiers = ["gw1.example.com"]
[[servers]]
registrars = ["reg2.example.com"]
verifiers = ["gw2.example.com", "https://gw1.example.com:8881"]
)");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message,
            "agent.toml:7:33: key 'servers[1].verifiers[1]': overlapping [[servers]] blocks: "
            "gw1.example.com:8881 is also listed in block 0 as servers[0].verifiers[0] "
            "(agent.toml:4:14); each block must be its own backend (servers[0] and servers[1] "
            "would be the same backend counted twice by verification_duplication)");
  // Two identical blocks: the first address in common is named.
  c = Parse(R"([[servers]]
registrars = ["r"]
verifiers = ["g"]
[[servers]]
registrars = ["r"]
verifiers = ["g"]
)");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("agent.toml:5:15: key 'servers[1].registrars[0]': overlapping"),
            std::string::npos)
      << c.error().message;
}

TEST(AgentConfig, PlainHttpNeedsTrustedNetwork) {
  const std::string servers = R"(
[[servers]]
registrars = ["https://reg1.example.com"]
verifiers = ["gw1.example.com", "http://gw2.example.com:8080"]
)";
  auto c = Parse(servers);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message,
            "agent.toml:4:33: key 'servers[0].verifiers[1]': \"http://gw2.example.com:8080\" is "
            "plain http: refused unless trusted_network = true (set it only when the network "
            "between this node and its servers is trusted; use https otherwise)");
  c = Parse("trusted_network = true\n" + servers);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_TRUE(c->trusted_network);
  EXPECT_EQ(c->servers[0].verifiers[1].Url(), "http://gw2.example.com:8080");
  c = Parse(
      "trusted_network = false\n[[servers]]\nregistrars = [\"http://r\"]\nverifiers = "
      "[\"g\"]\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("key 'servers[0].registrars[0]'"), std::string::npos);
}

TEST(AgentConfig, BlockKeysDefaults) {
  auto c = Parse("[[servers]]\nverifiers = [\"g\"]\n");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->block_failover_seconds, 120);
  EXPECT_EQ(c->once_timeout_seconds, 300);
  EXPECT_FALSE(c->trusted_network);
  EXPECT_EQ(c->tls.ca_file, "/etc/attest/ca.pem");  // docs/configuration.md's default
}

// The CA file is read by libcurl at each connection: a missing one would be
// a TLS error every round. LoadAgentConfig refuses it at start instead.
TEST(AgentConfig, AnUnreadableCaFileStopsTheAgentAtStart) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("agent-config-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string servers = "[[servers]]\nverifiers = [\"g\"]\n";
  auto write = [&](const std::string& text) {
    std::ofstream(dir / "agent.toml") << text;
    return LoadAgentConfig((dir / "agent.toml").string());
  };
  auto c = write("[tls]\nca_file = \"" + (dir / "none.pem").string() + "\"\n" + servers);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("agent.toml:2:11: key 'tls.ca_file': cannot read"),
            std::string::npos)
      << c.error().message;
  std::ofstream(dir / "ca.pem") << "-----BEGIN CERTIFICATE-----\n";
  c = write("[tls]\nca_file = \"" + (dir / "ca.pem").string() + "\"\n" + servers);
  EXPECT_TRUE(c.ok()) << c.error().message;
  c = write("[tls]\nca_file = \"\"\n" + servers);  // the system store
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->tls.ca_file, "");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace attest::agent
