#include "common/base/config.h"

#include <gtest/gtest.h>

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

TEST(Logging, JsonEscape) {
  EXPECT_EQ(JsonEscape("a\"b\\c\n\x01"), "a\\\"b\\\\c\\n\\u0001");
  EXPECT_FALSE(ParseLogFormat("xml").ok());
  EXPECT_TRUE(InitLogging({LogOptions::Format::kJson, "info", "", "test"}).ok());
  EXPECT_FALSE(InitLogging({LogOptions::Format::kHuman, "loud", "", "test"}).ok());
}

}  // namespace
}  // namespace attest
