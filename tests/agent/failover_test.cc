// Failover within one [[servers]] block, path by path (issue 19.5): a 5xx, a
// timeout (a server that never answers, a half-open listener, a listener
// that accepts and stays silent, a kept-alive connection that stops
// answering), a refused connection, no_proxy bypassing the proxy for the
// listed hosts (proved with a proxy that records what it carried), and a
// proxy that is down. In process against agent::Endpoints with the agent's
// own config struct; the last tests run the real attest-agent on swtpm.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "agent/config.h"
#include "agent/endpoints.h"
#include "common/http/server.h"
#include "tests/agent/fake_backend.h"
#include "tests/harness/pki/pki.h"
#include "tests/harness/swtpm/swtpm.h"
#include "tests/harness/util/process.h"
#include "tests/httpclient/net_doubles.h"

namespace attest::agent {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::ConnectProxy;
using testing::FreePort;
using testing::HalfOpenListener;
using testing::SilentListener;
using testing::TempDir;
using Resend = Endpoints::Resend;

constexpr char kPath[] = "/v1/agents/11111111-2222-3333-4444-555555555555/challenges";

// A gateway double: answers every POST of the agent API as its mode says
// and counts the requests.
class TestServer {
 public:
  enum class Mode {
    kOk,            // 200
    kFail,          // `status` (5xx)
    kPark,          // never answers (TLS completed)
    kOkThenPark,    // answers the first request, parks the rest
    kFailEvidence,  // 200 except to evidence: `status`
  };
  TestServer(testing::TestPki& pki, Mode mode, int status = 500,
             const std::vector<std::string>& extra_dns = {})
      : mode_(mode), status_(status) {
    auto cert = pki.IssueServer("gw" + std::to_string(FreePort()), extra_dns);
    http::ServerOptions o;
    o.name = "failover-test";
    o.cert_file = cert.cert;
    o.key_file = cert.key;
    http::Router r;
    for (const char* op : {"challenges", "evidence", "register", "activate"}) {
      auto added = r.Add("POST", std::string("/v1/agents/{uuid}/") + op,
                         [this, op](http::RequestPtr, http::Responder res) {
                           Handle(res, std::string_view(op) == "evidence");
                         });
      if (!added) throw std::runtime_error(added.error().message);
    }
    server_ = std::make_unique<http::Server>(o, std::move(r), nullptr);
    if (auto s = server_->Start(); !s) throw std::runtime_error(s.error().message);
  }
  ~TestServer() {
    server_->Stop(0ms);
    std::lock_guard lock(mu_);
    parked_.clear();
  }
  int port() const { return static_cast<int>(server_->port()); }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port()); }
  int hits() const {
    std::lock_guard lock(mu_);
    return hits_;
  }

 private:
  void Handle(http::Responder res, bool evidence) {
    std::lock_guard lock(mu_);
    ++hits_;
    if (mode_ == Mode::kPark || (mode_ == Mode::kOkThenPark && hits_ > 1)) {
      parked_.push_back(res);
    } else if (mode_ == Mode::kFail || (mode_ == Mode::kFailEvidence && evidence)) {
      res.Send(http::Problem(status_, "broken on purpose").RetryAfter(status_ == 503 ? 30s : 0s));
    } else {
      res.Send(http::Response::Text(200, "ok"));
    }
  }

  const Mode mode_;
  const int status_;
  mutable std::mutex mu_;
  int hits_ = 0;
  std::vector<http::Responder> parked_;
  std::unique_ptr<http::Server> server_;
};

std::string DeadUrl() { return "https://127.0.0.1:" + std::to_string(FreePort()); }

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

class FailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* k : {"https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy",
                          "ALL_PROXY", "no_proxy", "NO_PROXY"}) {
      if (const char* v = std::getenv(k)) saved_env_.emplace_back(k, v);
      ::unsetenv(k);
    }
    config_.tls.ca_file = pki_.ca_cert().string();
    config_.connect_timeout_ms = 300;
    config_.request_timeout_ms = 1000;
  }
  void TearDown() override {
    for (const char* k : {"HTTPS_PROXY", "NO_PROXY"}) ::unsetenv(k);
    for (const auto& [k, v] : saved_env_) ::setenv(k.c_str(), v.c_str(), 1);
  }

  static std::vector<ServerAddress> Addresses(const std::vector<std::string>& urls) {
    std::vector<ServerAddress> out;
    for (const auto& u : urls) out.push_back(*ParseServerAddress(u, 8881));
    return out;
  }
  // Endpoints over `urls` whose random first pick is `first` (a seed that
  // gives it), so each test starts at the address it is about.
  std::unique_ptr<Endpoints> StartingAt(const std::vector<std::string>& urls,
                                        const std::string& first, uint64_t skip = 0) {
    for (uint64_t seed = 0; seed < 1000; ++seed) {
      auto rng = std::make_unique<std::mt19937_64>(seed);
      auto ep = std::make_unique<Endpoints>(Addresses(urls), config_, rng.get());
      if (ep->current_url() != first || skip-- > 0) continue;
      rngs_.push_back(std::move(rng));
      return ep;
    }
    throw std::logic_error("no seed starts at " + first);
  }
  static Result<httpclient::Response> Post(Endpoints& ep, Resend resend = Resend::kIfNotReached) {
    return ep.Post(kPath, "application/x-protobuf", "x", resend);
  }

  TempDir dir_{"failover-test"};
  testing::TestPki pki_{dir_.path()};
  AgentConfig config_;
  std::vector<std::unique_ptr<std::mt19937_64>> rngs_;
  std::vector<std::pair<std::string, std::string>> saved_env_;
};

// --- 5xx ---------------------------------------------------------------

TEST_F(FailoverTest, A5xxSendsAnIdempotentRequestToAnotherAddressAtOnce) {
  for (int status : {500, 502, 503}) {
    TestServer bad(pki_, TestServer::Mode::kFail, status);
    TestServer good(pki_, TestServer::Mode::kOk);
    auto ep = StartingAt({bad.url(), good.url()}, bad.url());
    auto started = Clock::now();
    auto r = Post(*ep, Resend::kIdempotent);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 200) << status;
    EXPECT_LT(Clock::now() - started, 500ms) << status;
    EXPECT_EQ(ep->current_url(), good.url());
    // The failing address is not asked again while the other one answers.
    for (int i = 0; i < 5; ++i) ASSERT_EQ(Post(*ep, Resend::kIdempotent)->status, 200);
    EXPECT_EQ(bad.hits(), 1) << status;
    EXPECT_EQ(good.hits(), 6) << status;
  }
}

TEST_F(FailoverTest, A5xxToEvidenceIsNotSentAgainButTheNextRoundGoesElsewhereAtOnce) {
  // A gateway's 503 may mean "Kafka may have written it": the same evidence
  // through another gateway would be a second copy (a replayed quote).
  TestServer bad(pki_, TestServer::Mode::kFail, 503);
  TestServer good(pki_, TestServer::Mode::kOk);
  auto ep = StartingAt({bad.url(), good.url()}, bad.url());
  auto r = Post(*ep);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(good.hits(), 0) << "the evidence went to a second gateway";
  // The caller rotates: another address that has not failed, so it may go
  // on at once (a new challenge) instead of backing off.
  EXPECT_TRUE(ep->Rotate());
  EXPECT_EQ(ep->current_url(), good.url());
  ASSERT_EQ(Post(*ep)->status, 200);
  EXPECT_EQ(bad.hits(), 1);
}

TEST_F(FailoverTest, EveryAddressFailsOnceBeforeAnyFailsTwice) {
  // Three gateways answering 5xx, the caller rotating after each (as the
  // agent does for evidence): each is asked once, then Rotate() says every
  // address failed (back off). Over many seeds, so a random pick that goes
  // back to the address that just failed would show.
  for (uint64_t skip = 0; skip < 12; ++skip) {
    TestServer a(pki_, TestServer::Mode::kFail), b(pki_, TestServer::Mode::kFail),
        c(pki_, TestServer::Mode::kFail);
    auto ep = StartingAt({a.url(), b.url(), c.url()}, a.url(), skip);
    std::vector<bool> rotated;
    for (int round = 0; round < 3; ++round) {
      ASSERT_EQ(Post(*ep)->status, 500);
      rotated.push_back(ep->Rotate());
    }
    EXPECT_EQ(a.hits(), 1) << "seed " << skip;
    EXPECT_EQ(b.hits(), 1) << "seed " << skip;
    EXPECT_EQ(c.hits(), 1) << "seed " << skip;
    EXPECT_EQ(rotated, (std::vector<bool>{true, true, false})) << "seed " << skip;
    // An idempotent request over the same block: one try each, the last 5xx
    // answer back, and the marks say back off.
    ASSERT_EQ(Post(*ep, Resend::kIdempotent)->status, 500);
    EXPECT_EQ(a.hits() + b.hits() + c.hits(), 6);
    EXPECT_FALSE(ep->Rotate());
  }
}

TEST_F(FailoverTest, GatewaysThatAnswerChallengesButFailEvidenceLeadToABackoffNotASpin) {
  // Kafka down: every gateway gives challenges and answers evidence 503. An
  // answered challenge must not make the gateway that failed the evidence a
  // fresh address again, or the rounds would go back and forth at once.
  TestServer a(pki_, TestServer::Mode::kFailEvidence, 503);
  TestServer b(pki_, TestServer::Mode::kFailEvidence, 503);
  auto ep = StartingAt({a.url(), b.url()}, a.url());
  const std::string evidence = "/v1/agents/11111111-2222-3333-4444-555555555555/evidence";
  std::vector<bool> rotated;
  for (int round = 0; round < 2; ++round) {
    ASSERT_EQ(Post(*ep, Resend::kIdempotent)->status, 200);
    ASSERT_EQ(ep->Post(evidence, "application/x-protobuf", "x")->status, 503);
    rotated.push_back(ep->Rotate());
  }
  EXPECT_EQ(rotated, (std::vector<bool>{true, false}));
  EXPECT_EQ(a.hits(), 2);
  EXPECT_EQ(b.hits(), 2);
}

// --- timeouts ----------------------------------------------------------

TEST_F(FailoverTest, AServerThatNeverAnswersIsLeftAfterTheRequestTimeout) {
  TestServer hung(pki_, TestServer::Mode::kPark);
  TestServer good(pki_, TestServer::Mode::kOk);
  // An idempotent request goes to the other address once the request
  // timeout has passed, without a backoff.
  auto ep = StartingAt({hung.url(), good.url()}, hung.url());
  auto started = Clock::now();
  auto r = Post(*ep, Resend::kIdempotent);
  auto took = Clock::now() - started;
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_GE(took, 1000ms);
  EXPECT_LT(took, 1800ms) << Seconds(took);
  EXPECT_EQ(ep->current_url(), good.url());

  // Evidence is not sent again (the hung gateway may still write it); the
  // caller's Rotate() moves on and allows a new round at once.
  auto ep2 = StartingAt({hung.url(), good.url()}, hung.url());
  int before = good.hits();
  r = Post(*ep2);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, httpclient::errc::timeout) << r.error().message;
  EXPECT_EQ(good.hits(), before);
  EXPECT_TRUE(ep2->Rotate());
  EXPECT_EQ(ep2->current_url(), good.url());
}

TEST_F(FailoverTest, AKeptAliveConnectionThatStopsAnsweringIsATimeoutNotAnUnreachedServer) {
  // The first request opens the connection and is answered; the evidence on
  // the same connection is not. The old client called that "not reached"
  // (no TLS time on a reused connection) and sent the evidence to the other
  // gateway as well.
  TestServer flaky(pki_, TestServer::Mode::kOkThenPark);
  TestServer good(pki_, TestServer::Mode::kOk);
  auto ep = StartingAt({flaky.url(), good.url()}, flaky.url());
  ASSERT_EQ(Post(*ep, Resend::kIdempotent)->status, 200);
  auto r = Post(*ep);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, httpclient::errc::timeout) << r.error().message;
  EXPECT_FALSE(httpclient::IsConnectionFailure(r.error()));
  EXPECT_EQ(good.hits(), 0) << "the evidence went to a second gateway";
}

TEST_F(FailoverTest, AHalfOpenListenerOrASilentOneIsLeftAfterTheConnectTimeout) {
  // No SYN-ACK (backlog full), or TCP accepted and no TLS answer: both are
  // "not reached" after connect_timeout_ms, so even evidence goes to the
  // other address, long before request_timeout_ms.
  config_.request_timeout_ms = 10000;
  HalfOpenListener half_open;
  SilentListener silent;
  TestServer good(pki_, TestServer::Mode::kOk);
  for (const std::string& hung : {half_open.url(), silent.url()}) {
    auto ep = StartingAt({hung, good.url()}, hung);
    auto started = Clock::now();
    auto r = Post(*ep);
    auto took = Clock::now() - started;
    ASSERT_TRUE(r.ok()) << hung << ": " << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_GE(took, 300ms) << hung;
    EXPECT_LT(took, 1500ms) << hung << ": " << Seconds(took);
    EXPECT_EQ(ep->current_url(), good.url());
  }
  EXPECT_GE(silent.connections(), 1);
}

// --- refused -----------------------------------------------------------

TEST_F(FailoverTest, ARefusedConnectionTriesEveryOtherAddressAtOnce) {
  TestServer good(pki_, TestServer::Mode::kOk);
  const std::vector<std::string> urls = {DeadUrl(), DeadUrl(), good.url()};
  for (const std::string& first : {urls[0], urls[1]}) {
    auto ep = StartingAt(urls, first);
    auto started = Clock::now();
    auto r = Post(*ep);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(Clock::now() - started, 250ms);
  }
  // None answers: a connection failure for the caller, whose Rotate() says
  // to back off.
  auto ep = StartingAt({urls[0], urls[1]}, urls[0]);
  auto r = Post(*ep);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(httpclient::IsConnectionFailure(r.error())) << r.error().message;
  EXPECT_FALSE(ep->Rotate());
}

// --- no_proxy ----------------------------------------------------------

class NoProxyTest : public FailoverTest {
 protected:
  // Posts to `url` with the current config; returns whether it answered.
  bool Reach(const std::string& url) {
    Endpoints ep(Addresses({url}), config_, &rng_);
    auto r = Post(ep);
    return r.ok() && r->status == 200;
  }
  // Whether the proxy carried a request to `hostport`.
  bool Carried(const std::string& hostport) {
    auto t = proxy_.targets();
    return std::find(t.begin(), t.end(), hostport) != t.end();
  }

  std::mt19937_64 rng_{1};
  ConnectProxy proxy_;
  // Two servers on loopback; their certificates name localhost and gw.test.
  TestServer a_{pki_, TestServer::Mode::kOk, 0, {"gw.test"}};
  TestServer b_{pki_, TestServer::Mode::kOk, 0, {"gw.test"}};
  std::string a_ip_ = "127.0.0.1:" + std::to_string(a_.port());
  std::string b_ip_ = "127.0.0.1:" + std::to_string(b_.port());
  std::string b_name_ = "localhost:" + std::to_string(b_.port());
};

TEST_F(NoProxyTest, ListedHostsGoDirectTheOthersThroughTheProxy) {
  config_.tls.proxy = proxy_.url();
  struct Case {
    std::string no_proxy, url;
    bool via_proxy;
  };
  const std::vector<Case> cases = {
      {"", "https://" + a_ip_, true},
      // By IP: the address, not the name that resolves to it.
      {"127.0.0.1", "https://" + a_ip_, false},
      {"127.0.0.1", "https://" + b_name_, true},
      // By name, with or without a leading dot.
      {"localhost", "https://" + b_name_, false},
      {"localhost", "https://" + a_ip_, true},
      {".localhost", "https://" + b_name_, false},
      // With a port: only that port of that host.
      {"127.0.0.1:" + std::to_string(a_.port()), "https://" + a_ip_, false},
      {"127.0.0.1:" + std::to_string(a_.port()), "https://" + b_ip_, true},
      {"localhost:" + std::to_string(b_.port()), "https://" + b_name_, false},
      // CIDR ranges match addresses only.
      {"127.0.0.0/8", "https://" + b_ip_, false},
      {"127.0.0.0/8", "https://" + b_name_, true},
      // Lists, "*".
      {"example.com, 10.0.0.0/8 127.0.0.1", "https://" + a_ip_, false},
      {"*", "https://" + b_name_, false},
  };
  for (const auto& c : cases) {
    config_.tls.no_proxy = c.no_proxy;
    const std::string hostport = c.url.substr(8);
    size_t before = proxy_.targets().size();
    EXPECT_TRUE(Reach(c.url)) << "no_proxy \"" << c.no_proxy << "\", " << c.url;
    bool carried = proxy_.targets().size() > before && proxy_.targets().back() == hostport;
    EXPECT_EQ(carried, c.via_proxy) << "no_proxy \"" << c.no_proxy << "\", " << c.url;
  }
}

TEST_F(NoProxyTest, ALeadingDotBypassesSubdomainsAndANameIsNeverResolvedForTheRule) {
  // gw.test resolves only at the proxy (it maps every name to loopback):
  // through the proxy it works, and listed under ".test" the client goes
  // direct, where the name does not resolve.
  config_.tls.proxy = proxy_.url();
  const std::string url = "https://gw.test:" + std::to_string(b_.port());
  EXPECT_TRUE(Reach(url));
  EXPECT_TRUE(Carried("gw.test:" + std::to_string(b_.port())));
  config_.tls.no_proxy = ".test";
  Endpoints ep(Addresses({url}), config_, &rng_);
  size_t before = proxy_.targets().size();
  auto r = Post(ep);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, httpclient::errc::connect_failed) << r.error().message;
  EXPECT_EQ(proxy_.targets().size(), before);
}

TEST_F(NoProxyTest, TheEnvironmentAppliesWhenTheKeysAreEmptyAndTheKeysWinOverIt) {
  ::setenv("HTTPS_PROXY", proxy_.url().c_str(), 1);
  ::setenv("NO_PROXY", a_ip_.c_str(), 1);  // a port, in the environment
  EXPECT_TRUE(Reach("https://" + a_ip_));
  EXPECT_FALSE(Carried(a_ip_));
  EXPECT_TRUE(Reach("https://" + b_ip_));
  EXPECT_TRUE(Carried(b_ip_));
  // The no_proxy key replaces NO_PROXY (it is not added to it).
  config_.tls.no_proxy = b_ip_;
  EXPECT_TRUE(Reach("https://" + a_ip_));
  EXPECT_TRUE(Carried(a_ip_));
  // The proxy key replaces HTTPS_PROXY: a proxy that is down is used.
  config_.tls.no_proxy = "";
  config_.tls.proxy = "http://127.0.0.1:" + std::to_string(FreePort());
  EXPECT_FALSE(Reach("https://" + b_ip_));
}

// --- a proxy that is down ----------------------------------------------

TEST_F(FailoverTest, AProxyThatIsDownFailsTheBlockOnceAndSaysSo) {
  TestServer a(pki_, TestServer::Mode::kOk), b(pki_, TestServer::Mode::kOk);
  // A proxy host that drops connection attempts: each try costs the connect
  // timeout, so a second try of the same proxy would show in the time.
  HalfOpenListener hung_proxy;
  const std::string proxy = "http://127.0.0.1:" + std::to_string(hung_proxy.port());
  config_.tls.proxy = proxy;
  config_.connect_timeout_ms = 500;
  auto ep = StartingAt({a.url(), b.url()}, a.url());
  auto started = Clock::now();
  auto r = Post(*ep, Resend::kIdempotent);
  auto took = Clock::now() - started;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, httpclient::errc::proxy_unreachable) << r.error().message;
  EXPECT_TRUE(httpclient::IsConnectionFailure(r.error()));
  EXPECT_NE(r.error().message.find("proxy " + proxy + " is unreachable"), std::string::npos)
      << r.error().message;
  EXPECT_LT(took, 900ms) << "the second address went through the same dead proxy: "
                         << Seconds(took);
  EXPECT_FALSE(ep->Rotate()) << "every address of the block failed: back off";
  EXPECT_EQ(a.hits() + b.hits(), 0);

  // An address that no_proxy lists is still tried, directly.
  config_.tls.no_proxy = "127.0.0.1:" + std::to_string(b.port());
  auto ep2 = StartingAt({a.url(), b.url()}, a.url());
  r = Post(*ep2);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(b.hits(), 1);
}

TEST_F(FailoverTest, AGatewayDownBehindAWorkingProxyFailsOverThroughIt) {
  ConnectProxy proxy;
  TestServer good(pki_, TestServer::Mode::kOk);
  const std::string dead = DeadUrl();
  config_.tls.proxy = proxy.url();
  auto ep = StartingAt({dead, good.url()}, dead);
  auto r = Post(*ep);  // not reached (the proxy answered 502): even evidence
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(proxy.targets(), (std::vector<std::string>{dead.substr(8), good.url().substr(8)}));
}

// --- the real agent ----------------------------------------------------

constexpr int64_t kBootTime = 1700000000;

class AgentFailoverTest : public FailoverTest {
 protected:
  void SetUp() override {
    FailoverTest::SetUp();
    std::ofstream(dir_.path() / "ima.txt") << "";
    std::ofstream(dir_.path() / "uefi.bin") << "fake UEFI event log";
  }
  std::filesystem::path config_path() const { return dir_.path() / "agent.toml"; }
  std::filesystem::path log_path() const { return dir_.path() / "agent.log"; }
  std::string Log() const {
    return std::filesystem::exists(log_path()) ? testing::ReadFile(log_path()) : "";
  }
  static std::string Quoted(const std::vector<std::string>& items) {
    std::string out = "[";
    for (const auto& i : items) out += (out.size() > 1 ? ", \"" : "\"") + i + "\"";
    return out + "]";
  }
  void WriteConfig(const std::vector<std::string>& registrars,
                   const std::vector<std::string>& verifiers, const std::string& extra) {
    std::ostringstream c;
    c << "state_dir = \"" << (dir_.path() / "state").string() << "\"\n"
      << "tcti = \"" << tpm_.tcti() << "\"\n"
      << "ek_type = \"ecc\"\nak_type = \"ecc\"\nima_log_format = \"ascii\"\n"
      << "ima_log = \"" << (dir_.path() / "ima.txt").string() << "\"\n"
      << "uefi_log = \"" << (dir_.path() / "uefi.bin").string() << "\"\n"
      << "boot_time = " << kBootTime << "\n"
      << extra << "\n"
      << "[tls]\nca_file = \"" << pki_.ca_cert().string() << "\"\n"
      << "[[servers]]\nregistrars = " << Quoted(registrars) << "\nverifiers = " << Quoted(verifiers)
      << "\n";
    std::ofstream(config_path()) << c.str();
  }
  std::unique_ptr<testing::Subprocess> Start(bool once) {
    std::vector<std::string> argv = {ATTEST_AGENT_BINARY, "--config", config_path().string(),
                                     "--log-level", "debug"};
    if (once) argv.push_back("--once");
    return std::make_unique<testing::Subprocess>(argv, log_path().string());
  }
  static int Count(const std::string& text, const std::string& what) {
    int n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  }

  testing::Swtpm tpm_;
};

TEST_F(AgentFailoverTest, AProxyThatIsDownIsLoggedAsTheProxyAndRetriedWithBackoff) {
  testing::FakeBackend be(pki_, "backend");
  const std::string proxy = "http://127.0.0.1:" + std::to_string(FreePort());
  WriteConfig({be.url(), DeadUrl()}, {be.url()},
              "retry_initial_ms = 200\nretry_max_ms = 800\nconnect_timeout_ms = 2000\n"
              "proxy = \"" +
                  proxy + "\"");
  auto agent = Start(false);
  std::this_thread::sleep_for(4s);
  ASSERT_TRUE(agent->Running()) << Log();
  agent->Stop();
  const std::string log = Log();
  EXPECT_TRUE(be.requests().empty());
  // Each attempt names the proxy as what failed (Endpoints' line and the
  // round's), and the other registrar behind the same proxy is not tried.
  const int lines = Count(log, "register: proxy " + proxy + " is unreachable");
  EXPECT_GE(lines, 4) << log;
  EXPECT_NE(log.find("addresses behind that proxy are not tried"), std::string::npos) << log;
  EXPECT_EQ(log.find("trying another address of the block"), std::string::npos) << log;
  // Backed off: 100-200, 200-400, then 400-800 ms between attempts, at most
  // about 12 in 4 s; a spinning agent would log thousands.
  EXPECT_LE(lines, 2 * 14) << log;
}

// The real agent leaves a failing gateway for another address of the block
// at once (challenges, registration and activation are sent again; after a
// failed evidence a new round starts at once elsewhere), not after a
// backoff (issue 19.5).

TEST_F(AgentFailoverTest, A5xxGatewayIsLeftAtOnceNotAfterABackoff) {
  testing::FakeBackend be(pki_, "backend");
  TestServer bad(pki_, TestServer::Mode::kFail, 500);
  // A backoff would take at least 10 s; a failover at once well under that.
  WriteConfig({be.url()}, {bad.url(), be.url()},
              "retry_initial_ms = 20000\nretry_max_ms = 20000\nconnect_timeout_ms = 2000\n");
  // The first pick is random: run until a round has started at the broken
  // gateway (at most a few runs).
  for (int run = 0; run < 10 && bad.hits() == 0; ++run) {
    auto started = Clock::now();
    auto agent = Start(true);
    ASSERT_EQ(agent->Wait(60s), 0) << Log();
    if (bad.hits() > 0) {
      EXPECT_LT(Clock::now() - started, 8s) << Log();
    }
  }
  ASSERT_EQ(bad.hits(), 1) << "the broken gateway was asked again, or never: " << Log();
}

TEST_F(AgentFailoverTest, AHungGatewayIsLeftAfterTheRequestTimeoutNotAfterABackoff) {
  testing::FakeBackend be(pki_, "backend");
  TestServer hung(pki_, TestServer::Mode::kPark);
  WriteConfig({be.url()}, {hung.url(), be.url()},
              "retry_initial_ms = 20000\nretry_max_ms = 20000\nconnect_timeout_ms = 2000\n"
              "request_timeout_ms = 2000\n");
  for (int run = 0; run < 10 && hung.hits() == 0; ++run) {
    auto started = Clock::now();
    auto agent = Start(true);
    ASSERT_EQ(agent->Wait(60s), 0) << Log();
    if (hung.hits() > 0) {
      EXPECT_LT(Clock::now() - started, 8s) << Log();
    }
  }
  ASSERT_EQ(hung.hits(), 1) << Log();
}

}  // namespace
}  // namespace attest::agent
