// The libcurl client against the project's TLS server on loopback, directly
// and through a real tinyproxy (HTTP CONNECT).
#include "common/httpclient/client.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>

#include "common/http/server.h"
#include "tests/harness/pki/pki.h"
#include "tests/harness/util/process.h"

namespace attest::httpclient {
namespace {

using namespace std::chrono_literals;
using attest::testing::FreePort;
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

TEST_F(ClientTest, RejectsBadBaseUrl) {
  auto o = Options();
  o.base_url = "ftp://x";
  EXPECT_FALSE(Client::Create(o).ok());
}

}  // namespace
}  // namespace attest::httpclient
