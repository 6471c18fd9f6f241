// The libcurl client against the project's TLS server on loopback, directly
// and through a real tinyproxy (HTTP CONNECT) or the recording ConnectProxy
// of net_doubles.h; the no_proxy rules as a table.
#include "common/httpclient/client.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>

#include "common/http/server.h"
#include "tests/harness/pki/pki.h"
#include "tests/harness/util/process.h"
#include "tests/httpclient/net_doubles.h"

namespace attest::httpclient {
namespace {

using namespace std::chrono_literals;
using attest::testing::ConnectProxy;
using attest::testing::FreePort;
using attest::testing::HalfOpenListener;
using attest::testing::ReadFile;
using attest::testing::Subprocess;
using attest::testing::TempDir;
using attest::testing::WaitFor;

// Sets or clears environment variables for one test and restores them.
class ScopedEnv {
 public:
  ~ScopedEnv() {
    for (const auto& [k, v] : saved_) {
      if (v)
        ::setenv(k.c_str(), v->c_str(), 1);
      else
        ::unsetenv(k.c_str());
    }
  }
  void Set(const std::string& k, const std::optional<std::string>& v) {
    if (!saved_.count(k)) {
      const char* old = std::getenv(k.c_str());
      saved_[k] = old ? std::optional<std::string>(old) : std::nullopt;
    }
    if (v)
      ::setenv(k.c_str(), v->c_str(), 1);
    else
      ::unsetenv(k.c_str());
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

class TinyProxy {
 public:
  TinyProxy(const std::filesystem::path& dir, int connect_port) : port_(FreePort()) {
    log_ = dir / "tinyproxy.log";
    auto conf = dir / "tinyproxy.conf";
    std::ofstream(conf) << "Port " << port_ << "\nListen 127.0.0.1\nTimeout 30\n"
                        << "LogFile \"" << log_.string() << "\"\nLogLevel Connect\n"
                        << "PidFile \"" << (dir / "tinyproxy.pid").string() << "\"\n"
                        << "MaxClients 20\nAllow 127.0.0.1\nConnectPort " << connect_port << "\n";
    proc_ = std::make_unique<Subprocess>(
        std::vector<std::string>{"tinyproxy", "-d", "-c", conf.string()},
        (dir / "tinyproxy.out").string());
    if (!WaitFor([&] { return attest::testing::PortOpen(port_); }, 10s)) {
      throw std::runtime_error("tinyproxy did not start");
    }
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string Log() const {
    std::error_code ec;
    return std::filesystem::exists(log_, ec) ? ReadFile(log_) : "";
  }
  void Stop() { proc_->Stop(); }

 private:
  int port_;
  std::filesystem::path log_;
  std::unique_ptr<Subprocess> proc_;
};

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Whatever the machine running the tests has configured must not leak in.
    for (const char* k : {"https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy",
                          "ALL_PROXY", "no_proxy", "NO_PROXY"}) {
      env_.Set(k, std::nullopt);
    }
    pki_ = std::make_unique<attest::testing::TestPki>(dir_.path());
    auto cert = pki_->IssueServer("server");
    http::ServerOptions o;
    o.name = "client-test";
    o.cert_file = cert.cert;
    o.key_file = cert.key;
    http::Router r;
    ASSERT_TRUE(r.Add("GET", "/hello", [](http::RequestPtr, http::Responder res) {
                   res.Send(http::Response::Text(200, "hello"));
                 }).ok());
    ASSERT_TRUE(r.Add("POST", "/echo", [](http::RequestPtr req, http::Responder res) {
                   res.Send(
                       http::Response::Binary(200, std::string(req->content_type()), req->body()));
                 }).ok());
    ASSERT_TRUE(r.Add("GET", "/busy", [](http::RequestPtr, http::Responder res) {
                   res.Send(http::Problem(503, "queue full").RetryAfter(7s));
                 }).ok());
    ASSERT_TRUE(r.Add("GET", "/big", [](http::RequestPtr, http::Responder res) {
                   res.Send(http::Response::Text(200, std::string(64 << 10, 'x')));
                 }).ok());
    ASSERT_TRUE(r.Add("GET", "/park", [this](http::RequestPtr, http::Responder res) {
                   std::lock_guard lock(mu_);
                   parked_.push_back(res);
                 }).ok());
    server_ = std::make_unique<http::Server>(o, std::move(r), nullptr);
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override {
    server_->Stop(0ms);
    std::lock_guard lock(mu_);
    parked_.clear();
  }

  ClientOptions Options() {
    ClientOptions o;
    o.base_url = "https://127.0.0.1:" + std::to_string(server_->port());
    o.ca_file = pki_->ca_cert();
    o.total_timeout = 10s;
    return o;
  }
  Client Make(ClientOptions o) {
    auto c = Client::Create(std::move(o));
    EXPECT_TRUE(c.ok()) << c.error().ToString();
    return std::move(c.value());
  }
  std::string DeadProxy() { return "http://127.0.0.1:" + std::to_string(FreePort()); }

  ScopedEnv env_;
  TempDir dir_{"httpclient-test"};
  std::unique_ptr<attest::testing::TestPki> pki_;
  std::unique_ptr<http::Server> server_;
  std::mutex mu_;
  std::vector<http::Responder> parked_;
};

TEST_F(ClientTest, PostAndGet) {
  auto c = Make(Options());
  auto r = c.Post("/echo", "application/x-protobuf", std::string("\x00\x01\x02", 3));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, std::string("\x00\x01\x02", 3));
  EXPECT_EQ(r->header("content-type"), "application/x-protobuf");
  r = c.Get("/hello");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "hello");
  EXPECT_EQ(c.connections_opened(), 1);
}

TEST_F(ClientTest, HttpErrorIsAResponseWithRetryAfter) {
  auto c = Make(Options());
  auto r = c.Get("/busy");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  ASSERT_TRUE(r->retry_after().has_value());
  EXPECT_EQ(*r->retry_after(), 7s);
}

TEST_F(ClientTest, RetryAfterHttpDate) {
  Response r;
  r.headers = {{"Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"}};
  ASSERT_TRUE(r.retry_after().has_value());
  EXPECT_EQ(*r.retry_after(), 0s);  // in the past
  r.headers = {{"Retry-After", "soon"}};
  EXPECT_FALSE(r.retry_after().has_value());
  r.headers = {{"Retry-After", "99999999999999"}};
  EXPECT_FALSE(r.retry_after().has_value());
}

// A stop ends a request that the server parks, long before the timeouts:
// a stopping agent does not wait out a server that never answers.
TEST_F(ClientTest, AStopEndsAParkedRequestWithinAboutASecond) {
  auto o = Options();
  o.total_timeout = 60s;
  auto c = Make(o);
  std::stop_source stop;
  std::thread stopper([&] {
    std::this_thread::sleep_for(300ms);
    stop.request_stop();
  });
  const auto t0 = std::chrono::steady_clock::now();
  auto r = c.Get("/park", stop.get_token());
  const auto took = std::chrono::steady_clock::now() - t0;
  stopper.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, make_error_code(errc::cancelled)) << r.error().message;
  EXPECT_FALSE(IsConnectionFailure(r.error())) << "the server may have the request";
  EXPECT_LT(took, 3s);
  // The client stays usable.
  auto again = c.Get("/hello");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->status, 200);
}

TEST_F(ClientTest, RefusedConnectionIsConnectionFailure) {
  auto o = Options();
  o.base_url = "https://127.0.0.1:" + std::to_string(FreePort());
  auto c = Make(o);
  auto r = c.Get("/hello");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsConnectionFailure(r.error())) << r.error().ToString();
}

TEST_F(ClientTest, UntrustedServerIsTlsError) {
  attest::testing::TestPki other(dir_.path(), "other-ca");
  auto o = Options();
  o.ca_file = other.ca_cert();
  auto c = Make(o);
  auto r = c.Get("/hello");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, errc::tls_error) << r.error().ToString();
}

TEST_F(ClientTest, PinnedPublicKey) {
  std::string pub;
  ASSERT_EQ(
      attest::testing::RunCommand(
          {"openssl", "x509", "-in", (dir_.path() / "server.pem").string(), "-pubkey", "-noout"},
          &pub),
      0);
  std::ofstream(dir_.path() / "server.pub") << pub;
  auto o = Options();
  o.pinned_public_key = (dir_.path() / "server.pub").string();
  auto good = Make(o);
  auto r = good.Get("/hello");
  ASSERT_TRUE(r.ok()) << r.error().ToString();

  pki_->IssueServer("impostor");
  pub.clear();
  ASSERT_EQ(
      attest::testing::RunCommand(
          {"openssl", "x509", "-in", (dir_.path() / "impostor.pem").string(), "-pubkey", "-noout"},
          &pub),
      0);
  std::ofstream(dir_.path() / "impostor.pub") << pub;
  o.pinned_public_key = (dir_.path() / "impostor.pub").string();
  auto bad = Make(o);
  r = bad.Get("/hello");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, errc::tls_error) << r.error().ToString();
}

TEST_F(ClientTest, ResponseSizeIsBounded) {
  auto o = Options();
  o.max_response_bytes = 1024;
  auto c = Make(o);
  auto r = c.Get("/big");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, errc::too_large);
}

TEST_F(ClientTest, TimeoutAfterConnectingIsNotConnectionFailure) {
  auto o = Options();
  o.total_timeout = 300ms;
  auto c = Make(o);
  auto r = c.Get("/park");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, errc::timeout) << r.error().ToString();
  EXPECT_FALSE(IsConnectionFailure(r.error()));
}

TEST_F(ClientTest, ProxyFromConfigUsesConnect) {
  TinyProxy proxy(dir_.path(), server_->port());
  auto o = Options();
  o.proxy = proxy.url();
  auto c = Make(o);
  auto r = c.Get("/hello");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->body, "hello");
  std::string connect = "CONNECT 127.0.0.1:" + std::to_string(server_->port());
  EXPECT_TRUE(WaitFor([&] { return proxy.Log().find(connect) != std::string::npos; }, 5s))
      << proxy.Log();
  // Only the proxy leads to the server: without it the request fails.
  proxy.Stop();
  auto again = Make(o);
  r = again.Get("/hello");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsConnectionFailure(r.error())) << r.error().ToString();
}

TEST_F(ClientTest, ProxyFromEnvironment) {
  TinyProxy proxy(dir_.path(), server_->port());
  env_.Set("HTTPS_PROXY", proxy.url());
  auto c = Make(Options());
  auto r = c.Get("/hello");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  std::string connect = "CONNECT 127.0.0.1:" + std::to_string(server_->port());
  EXPECT_TRUE(WaitFor([&] { return proxy.Log().find(connect) != std::string::npos; }, 5s))
      << proxy.Log();
}

TEST_F(ClientTest, NoProxyFromEnvironmentBypassesProxy) {
  env_.Set("HTTPS_PROXY", DeadProxy());
  {
    auto c = Make(Options());
    auto r = c.Get("/hello");
    ASSERT_FALSE(r.ok()) << "the dead proxy was not used";
    EXPECT_TRUE(IsConnectionFailure(r.error()));
  }
  env_.Set("NO_PROXY", "localhost,127.0.0.1");
  auto c = Make(Options());
  auto r = c.Get("/hello");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
}

TEST_F(ClientTest, ConfigOverridesEnvironment) {
  TinyProxy proxy(dir_.path(), server_->port());
  env_.Set("HTTPS_PROXY", DeadProxy());
  auto o = Options();
  o.proxy = proxy.url();
  auto via = Make(o);
  auto r = via.Get("/hello");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  o.proxy = "";  // explicitly direct
  auto direct = Make(o);
  r = direct.Get("/hello");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  // A configured no_proxy beats the environment's proxy too.
  auto o2 = Options();
  o2.no_proxy = "127.0.0.1";
  auto bypass = Make(o2);
  r = bypass.Get("/hello");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
}

TEST_F(ClientTest, ConfigNoProxyBypassesConfiguredProxy) {
  auto o = Options();
  o.proxy = DeadProxy();
  o.no_proxy = "127.0.0.1";
  auto c = Make(o);
  auto r = c.Get("/hello");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
}

TEST_F(ClientTest, TimeoutOnAReusedConnectionIsNotConnectionFailure) {
  // libcurl reports no TLS handshake time for a kept-alive connection: the
  // old check called this timeout "server not reached", and the agent sent
  // the same evidence to another gateway while the first might write it.
  auto o = Options();
  o.total_timeout = 300ms;
  auto c = Make(o);
  ASSERT_TRUE(c.Get("/hello").ok());
  auto r = c.Get("/park");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(c.connections_opened(), 1) << "the second request reused the connection";
  EXPECT_EQ(r.error().code, errc::timeout) << r.error().ToString();
  EXPECT_FALSE(IsConnectionFailure(r.error()));
}

TEST(NoProxy, WhatMatches) {
  struct Case {
    const char* list;
    const char* host;
    int port;
    bool match;
  };
  const Case cases[] = {
      {"", "gw.example.com", 8881, false},
      {"*", "gw.example.com", 8881, true},
      {" * ", "10.0.0.1", 8881, true},
      {"other,*", "gw.example.com", 8881, true},  // libcurl: "*" only alone
      // Names: the name and its subdomains, either spelling, any case.
      {"example.com", "example.com", 8881, true},
      {"example.com", "gw.example.com", 8881, true},
      {".example.com", "gw.example.com", 8881, true},
      {".example.com", "example.com", 8881, true},
      {"example.com.", "GW.Example.COM", 8881, true},
      {"example.com", "gw.example.com.", 8881, true},
      {"example.com", "notexample.com", 8881, false},
      {"gw.example.com", "example.com", 8881, false},
      {"localhost", "127.0.0.1", 8881, false},  // never resolved
      {"127.0.0.1", "localhost", 8881, false},
      // Separators: commas and blanks.
      {"a.test, b.test\tc.test,,d.test", "c.test", 8881, true},
      {"a.test b.test", "d.test", 8881, false},
      // Addresses and ranges.
      {"10.1.2.3", "10.1.2.3", 8881, true},
      {"10.1.2.3", "10.1.2.4", 8881, false},
      {"10.0.0.0/8", "10.200.1.1", 8881, true},
      {"10.0.0.0/8", "11.0.0.1", 8881, false},
      {"192.168.4.0/22", "192.168.7.255", 8881, true},
      {"192.168.4.0/22", "192.168.8.0", 8881, false},
      {"0.0.0.0/0", "8.8.8.8", 8881, true},
      {".0.0.1", "127.0.0.1", 8881, false},  // a leading dot is for names only
      {"::1", "::1", 8881, true},
      {"[::1]", "::1", 8881, true},
      {"fd00::/8", "fd12:3456::1", 8881, true},
      {"fd00::/8", "fe80::1", 8881, false},
      {"10.0.0.0/8", "fd00::1", 8881, false},
      // Ports: only that port (libcurl 7.88 ignores such entries).
      {"127.0.0.1:8443", "127.0.0.1", 8443, true},
      {"127.0.0.1:8443", "127.0.0.1", 8881, false},
      {"gw.example.com:8881", "gw.example.com", 8881, true},
      {"example.com:8881", "gw.example.com", 8891, false},
      {"[::1]:8881", "::1", 8881, true},
      {"[::1]:8881", "::1", 8891, false},
      // Malformed entries match nothing (and ValidateNoProxy names them).
      {"10.0.0.0/33", "10.0.0.1", 8881, false},
      {"*.example.com", "gw.example.com", 8881, false},
      {"gw:http", "gw", 8881, false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(NoProxyMatches(c.list, c.host, c.port), c.match)
        << "no_proxy \"" << c.list << "\" for " << c.host << ":" << c.port;
  }
  for (const char* bad : {"10.0.0.0/33", "*.example.com", "gw:http", "gw:0", ":8881", "[::1",
                          "[::1]8881", "gw/8", "1.2.3.4/x"}) {
    auto v = ValidateNoProxy(std::string("localhost,") + bad);
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_NE(v.error().message.find(std::string("'") + bad + "'"), std::string::npos)
        << v.error().message;
  }
  EXPECT_TRUE(ValidateNoProxy("*, localhost .internal,10.0.0.0/8 [fd00::1]:8881 gw:8881").ok());
}

TEST_F(ClientTest, ProxyChoiceFollowsLibcurlsEnvironmentRules) {
  auto proxy_of = [&](const std::string& url) {
    auto o = Options();
    o.base_url = url;
    return Make(o).proxy();
  };
  const std::string https = "https://gw.example.com:8881", http = "http://gw.example.com:8881";
  EXPECT_EQ(proxy_of(https), "");
  env_.Set("HTTPS_PROXY", "http://upper:1");
  EXPECT_EQ(proxy_of(https), "http://upper:1");
  env_.Set("https_proxy", "http://lower:1");
  EXPECT_EQ(proxy_of(https), "http://lower:1") << "the lower-case name wins";
  EXPECT_EQ(proxy_of(http), "");
  env_.Set("HTTP_PROXY", "http://cgi:1");
  EXPECT_EQ(proxy_of(http), "") << "HTTP_PROXY is never read (CGI sets it from a header)";
  env_.Set("ALL_PROXY", "http://all:1");
  EXPECT_EQ(proxy_of(http), "http://all:1");
  env_.Set("NO_PROXY", ".example.com");
  EXPECT_EQ(proxy_of(https), "");
  env_.Set("no_proxy", "other.test");
  EXPECT_EQ(proxy_of(https), "http://lower:1") << "the lower-case no_proxy wins";
  // The options override the environment, the empty proxy meaning none.
  auto o = Options();
  o.base_url = https;
  o.proxy = "";
  EXPECT_EQ(Make(o).proxy(), "");
  o.proxy = "http://conf:1";
  EXPECT_EQ(Make(o).proxy(), "http://conf:1");
  o.no_proxy = "gw.example.com:8881";
  EXPECT_EQ(Make(o).proxy(), "");
  o.no_proxy = "";
  EXPECT_EQ(Make(o).proxy(), "http://conf:1") << "an empty no_proxy option bypasses nothing";
  // A malformed entry: an error from the options, ignored from the environment.
  o.no_proxy = "gw.example.com:http";
  auto bad = Client::Create(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, errc::invalid_argument);
  env_.Set("no_proxy", "gw.example.com:http,.example.com");
  EXPECT_EQ(proxy_of(https), "");
}

TEST_F(ClientTest, AProxyThatIsDownIsNamedAsSuch) {
  const std::string dead = DeadProxy();
  auto o = Options();
  o.proxy = dead;
  auto c = Make(o);
  auto started = std::chrono::steady_clock::now();
  auto r = c.Get("/hello");
  ASSERT_FALSE(r.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  EXPECT_EQ(r.error().code, errc::proxy_unreachable) << r.error().ToString();
  EXPECT_TRUE(IsConnectionFailure(r.error()));
  EXPECT_NE(r.error().message.find("proxy " + dead + " is unreachable"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("was not sent to the server"), std::string::npos)
      << r.error().message;
  // Credentials in the proxy URL stay out of the message.
  o.proxy = "http://agent:s3cret@127.0.0.1:" + std::to_string(attest::testing::FreePort());
  r = Make(o).Get("/hello");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, errc::proxy_unreachable);
  EXPECT_EQ(r.error().message.find("s3cret"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("http://***@127.0.0.1:"), std::string::npos)
      << r.error().message;
  // Nor when libcurl cannot use the URL and quotes it whole ("Unsupported
  // proxy syntax in '...'"), or the password has a raw '@' or '/' in it.
  for (const std::string proxy :
       {"http://agent:s3cret@pro xy:3128", "ftp://agent:s3cret@127.0.0.1:3128",
        "http://agent:s3cret@[bad:3128", "http://agent:p@s3cret@127.0.0.1:1",
        "http://agent:pa/s3cret@127.0.0.1:1"}) {
    o.proxy = proxy;
    auto made = Client::Create(o);
    if (!made) {
      EXPECT_EQ(made.error().message.find("s3cret"), std::string::npos) << made.error().message;
      continue;
    }
    r = made->Get("/hello");
    ASSERT_FALSE(r.ok()) << proxy;
    EXPECT_EQ(r.error().message.find("s3cret"), std::string::npos) << r.error().message;
  }
  EXPECT_EQ(RedactProxy("http://agent:p@ss@proxy:3128"), "http://***@proxy:3128");
  EXPECT_EQ(RedactProxy("agent:pa/ss@proxy:3128"), "***@proxy:3128");
  EXPECT_EQ(RedactProxy("http://proxy:3128"), "http://proxy:3128");
  // A proxy whose host drops connection attempts: the same, after the
  // connect timeout.
  HalfOpenListener hung;
  o.proxy = "http://127.0.0.1:" + std::to_string(hung.port());
  o.connect_timeout = 300ms;
  started = std::chrono::steady_clock::now();
  r = Make(o).Get("/hello");
  ASSERT_FALSE(r.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_EQ(r.error().code, errc::proxy_unreachable) << r.error().ToString();
}

TEST_F(ClientTest, AProxyThatCannotOpenTheTunnelIsAConnectionFailureOfTheServer) {
  const std::string server = "127.0.0.1:" + std::to_string(server_->port());
  {
    ConnectProxy refusing(ConnectProxy::Mode::kRefuse);
    auto o = Options();
    o.proxy = refusing.url();
    auto r = Make(o).Get("/hello");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, errc::connect_failed) << r.error().ToString();
    EXPECT_NE(r.error().message.find("answered CONNECT " + server + " with 403"), std::string::npos)
        << r.error().message;
  }
  {
    ConnectProxy forwarding;  // to a port nobody listens on: 502
    auto o = Options();
    o.base_url = "https://127.0.0.1:" + std::to_string(attest::testing::FreePort());
    o.proxy = forwarding.url();
    auto r = Make(o).Get("/hello");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, errc::connect_failed) << r.error().ToString();
    EXPECT_NE(r.error().message.find("with 502"), std::string::npos) << r.error().message;
  }
  {
    ConnectProxy closing(ConnectProxy::Mode::kCloseAtOnce);
    auto o = Options();
    o.proxy = closing.url();
    auto r = Make(o).Get("/hello");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, errc::connect_failed) << r.error().ToString();
    EXPECT_NE(r.error().message.find("did not answer CONNECT " + server), std::string::npos)
        << r.error().message;
  }
  ConnectProxy working;
  auto o = Options();
  o.proxy = working.url();
  auto r = Make(o).Get("/hello");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(working.targets(), std::vector<std::string>{server});
}

TEST_F(ClientTest, RejectsBadBaseUrl) {
  auto o = Options();
  o.base_url = "ftp://x";
  EXPECT_FALSE(Client::Create(o).ok());
}

}  // namespace
}  // namespace attest::httpclient
