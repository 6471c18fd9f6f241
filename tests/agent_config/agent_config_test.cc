#include <gtest/gtest.h>

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
                          "boot_time = -1", "retry_max_ms = 10\nretry_initial_ms = 100"}) {
    auto e = Parse(std::string(bad) + "\n[[servers]]\nverifiers = [\"g\"]\n");
    EXPECT_FALSE(e.ok()) << bad;
  }
}

}  // namespace
}  // namespace attest::agent
