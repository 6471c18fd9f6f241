#include "common/base/listen_address.h"

#include <gtest/gtest.h>

#include "common/base/errors.h"

namespace attest {
namespace {

TEST(ListenAddressTest, ParsesIpv4AndBracketedIpv6) {
  auto a = ParseListenAddress("0.0.0.0:8881");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->host, "0.0.0.0");
  EXPECT_EQ(a->port, 8881);
  EXPECT_EQ(a->ToString(), "0.0.0.0:8881");

  auto b = ParseListenAddress("[::1]:9464");
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->host, "::1");  // unbracketed: what the server binds
  EXPECT_EQ(b->port, 9464);
  EXPECT_EQ(b->ToString(), "[::1]:9464");

  auto any = ParseListenAddress("[::]:0");
  ASSERT_TRUE(any) << any.error().message;
  EXPECT_EQ(any->host, "::");
  EXPECT_EQ(any->port, 0);  // any free port
}

TEST(ListenAddressTest, PortBounds) {
  EXPECT_TRUE(ParseListenAddress("127.0.0.1:0"));
  EXPECT_TRUE(ParseListenAddress("127.0.0.1:65535"));
  for (const char* bad :
       {"127.0.0.1:65536", "127.0.0.1:99999", "127.0.0.1:", "127.0.0.1:-1", "127.0.0.1:80x",
        "127.0.0.1: 80", "127.0.0.1:+80", "127.0.0.1:184467440737095516160"}) {
    auto r = ParseListenAddress(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, base::errc::invalid_value);
    EXPECT_NE(r.error().message.find("port"), std::string::npos) << r.error().message;
  }
}

TEST(ListenAddressTest, RefusesEmptyHostsNamesAndBareIpv6) {
  for (const char* bad : {"", ":8881", "nohost", "localhost:8881", "[]:80", "::1:80", "[::1:80",
                          "1.2.3:80", "256.0.0.1:80", "[127.0.0.1:80", "[gg::1]:80"}) {
    auto r = ParseListenAddress(bad);
    EXPECT_FALSE(r) << bad;
  }
}

TEST(ListenAddressTest, HostAloneAcceptsBracketsAndRefusesEmpty) {
  auto h = ParseListenHost("[::]");
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(*h, "::");
  EXPECT_EQ(*ParseListenHost("::1"), "::1");
  EXPECT_EQ(*ParseListenHost("10.0.0.1"), "10.0.0.1");
  EXPECT_FALSE(ParseListenHost(""));
  EXPECT_FALSE(ParseListenHost("example.org"));
  EXPECT_FALSE(ParseListenHost(std::string(5000, 'a')));
}

TEST(ListenAddressTest, KeyErrorsNameTheFileAndTheKey) {
  auto f = ConfigFile::Parse("[server]\nlisten = \"0.0.0.0:70000\"\n", "gw.toml");
  ASSERT_TRUE(f);
  auto r = ListenAddressKey(*f, "server.listen", "0.0.0.0:8881");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("gw.toml:2"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("server.listen"), std::string::npos) << r.error().message;

  auto empty = ConfigFile::Parse("", "gw.toml");
  ASSERT_TRUE(empty);
  auto d = ListenAddressKey(*empty, "server.listen", "0.0.0.0:8881");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->ToString(), "0.0.0.0:8881");
}

}  // namespace
}  // namespace attest
