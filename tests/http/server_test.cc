// The server on loopback with TLS, driven by the project's libcurl client and
// by a raw socket client for misbehaving peers.
#include "common/http/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "common/httpclient/client.h"
#include "common/metrics/metrics.h"
#include "tests/harness/pki/pki.h"
#include "tests/harness/util/process.h"
#include "tests/http/raw_client.h"

namespace attest::http {
namespace {

using namespace std::chrono_literals;
using testing::RawClient;

// A responder parked by a handler, completed by the test later.
class Parked {
 public:
  void Put(Responder r) {
    std::lock_guard lock(mu_);
    responder_ = std::move(r);
    cv_.notify_all();
  }
  bool Wait(std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return responder_.has_value(); });
  }
  Responder Take() {
    std::lock_guard lock(mu_);
    Responder r = *responder_;
    responder_.reset();
    return r;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Responder> responder_;
};

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir("http-test");
    pki_ = new testing::TestPki(dir_->path());
    server_cert_ = new testing::IssuedCert(pki_->IssueServer("server"));
    client_cert_ = new testing::IssuedCert(pki_->IssueClient("agent-1"));
  }
  static void TearDownTestSuite() {
    delete client_cert_;
    delete server_cert_;
    delete pki_;
    delete dir_;
  }

  ServerOptions Options() {
    ServerOptions o;
    o.name = "test";
    o.io_threads = 2;
    o.cert_file = server_cert_->cert;
    o.key_file = server_cert_->key;
    o.client_ca_file = pki_->ca_cert();
    o.max_body_bytes = 1024;
    return o;
  }

  Router DefaultRouter() {
    Router r;
    EXPECT_TRUE(r.Add("POST", "/v1/agents/{uuid}/evidence", [](RequestPtr req, Responder res) {
                   res.Send(
                       Response::Text(202, std::string(req->param("uuid")) + ":" + req->body()));
                 }).ok());
    EXPECT_TRUE(r.Add("GET", "/peer", [](RequestPtr req, Responder res) {
                   res.Send(Response::Text(200, req->peer()));
                 }).ok());
    EXPECT_TRUE(r.Add("GET", "/whoami", [](RequestPtr req, Responder res) {
                   res.Send(Response::Text(
                       200, req->client_cert() ? req->client_cert()->subject : "anonymous"));
                 }).ok());
    EXPECT_TRUE(
        r.Add("GET", "/park", [this](RequestPtr, Responder res) { parked_.Put(res); }).ok());
    EXPECT_TRUE(r.Add("GET", "/throw", [](RequestPtr, Responder) -> void {
                   throw std::runtime_error("boom");
                 }).ok());
    EXPECT_TRUE(r.Add("GET", "/drop", [](RequestPtr, Responder) {}).ok());
    return r;
  }

  void StartServer(ServerOptions o) {
    server_ = std::make_unique<Server>(std::move(o), DefaultRouter(), &registry_);
    auto r = server_->Start();
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    ASSERT_NE(server_->port(), 0);
  }

  httpclient::Client Client(bool with_cert = false, std::chrono::milliseconds timeout = 10s) {
    httpclient::ClientOptions o;
    o.base_url = "https://127.0.0.1:" + std::to_string(server_->port());
    o.ca_file = pki_->ca_cert();
    o.total_timeout = timeout;
    o.proxy = "";  // never through a proxy from the environment
    if (with_cert) {
      o.client_cert_file = client_cert_->cert;
      o.client_key_file = client_cert_->key;
    }
    auto c = httpclient::Client::Create(o);
    EXPECT_TRUE(c.ok());
    return std::move(c.value());
  }

  static testing::TempDir* dir_;
  static testing::TestPki* pki_;
  static testing::IssuedCert* server_cert_;
  static testing::IssuedCert* client_cert_;
  metrics::Registry registry_;
  Parked parked_;
  std::unique_ptr<Server> server_;
};

testing::TempDir* ServerTest::dir_ = nullptr;
testing::TestPki* ServerTest::pki_ = nullptr;
testing::IssuedCert* ServerTest::server_cert_ = nullptr;
testing::IssuedCert* ServerTest::client_cert_ = nullptr;

TEST_F(ServerTest, RoutesWithPathParams) {
  StartServer(Options());
  auto c = Client();
  auto r = c.Post("/v1/agents/d432fbb3-d2f1-4a97-9ef7-75bd81c00000/evidence",
                  "application/x-protobuf", "quote");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->status, 202);
  EXPECT_EQ(r->body, "d432fbb3-d2f1-4a97-9ef7-75bd81c00000:quote");
}

TEST_F(ServerTest, NotFoundAndMethodNotAllowedAreProblems) {
  StartServer(Options());
  auto c = Client();
  auto r = c.Get("/nope");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->header("Content-Type"), "application/problem+json");
  EXPECT_NE(r->body.find("\"status\":404"), std::string::npos);
  r = c.Get("/v1/agents/x/evidence");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->header("Allow"), "POST");
}

TEST_F(ServerTest, BodyTooLargeIs413) {
  StartServer(Options());
  auto c = Client();
  auto r = c.Post("/v1/agents/x/evidence", "text/plain", std::string(4096, 'a'));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->status, 413);
  // The connection closed after 413; the next request reconnects and works.
  r = c.Post("/v1/agents/x/evidence", "text/plain", std::string(1024, 'a'));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 202);
}

TEST_F(ServerTest, ContentLengthCheckedBeforeTheBodyIsRead) {
  StartServer(Options());
  RawClient raw(server_->port(), true);
  // Announces 1 GB and sends nothing: the answer must come from the header.
  ASSERT_TRUE(
      raw.Write("POST /v1/agents/x/evidence HTTP/1.1\r\nHost: a\r\n"
                "Content-Length: 1000000000\r\n\r\n"));
  std::string resp = raw.ReadResponse();
  EXPECT_EQ(resp.rfind("HTTP/1.1 413", 0), 0u) << resp;
  EXPECT_TRUE(raw.ReadEof());
}

TEST_F(ServerTest, ChunkedBodyLimitedWhileReading) {
  StartServer(Options());
  RawClient raw(server_->port(), true);
  std::string req =
      "POST /v1/agents/x/evidence HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 5; ++i) req += "200\r\n" + std::string(512, 'b') + "\r\n";
  req += "0\r\n\r\n";
  raw.Write(req);
  std::string resp = raw.ReadResponse();
  EXPECT_EQ(resp.rfind("HTTP/1.1 413", 0), 0u) << resp;
}

TEST_F(ServerTest, MalformedRequestIs400) {
  StartServer(Options());
  RawClient raw(server_->port(), true);
  raw.Write("GET /peer HTTP/1.1\r\nBad Header\r\n\r\n");
  std::string resp = raw.ReadResponse();
  EXPECT_EQ(resp.rfind("HTTP/1.1 400", 0), 0u) << resp;
}

TEST_F(ServerTest, ResponderCompletesLaterFromAnotherThread) {
  StartServer(Options());
  std::thread later([&] {
    ASSERT_TRUE(parked_.Wait());
    std::this_thread::sleep_for(50ms);
    parked_.Take().Send(Response::Text(202, "later"));
  });
  auto c = Client();
  auto r = c.Get("/park");
  later.join();
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->status, 202);
  EXPECT_EQ(r->body, "later");
}

TEST_F(ServerTest, ResponderAfterClientDisconnectIsHarmless) {
  StartServer(Options());
  {
    RawClient raw(server_->port(), true);
    raw.Write("GET /park HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_TRUE(parked_.Wait());
  }  // client gone
  Responder res = parked_.Take();
  res.Send(Response::Text(200, "nobody listens"));
  // And once more after the server is gone.
  std::thread t([&] {
    RawClient raw(server_->port(), true);
    raw.Write("GET /park HTTP/1.1\r\nHost: a\r\n\r\n");
    raw.ReadEof();
  });
  ASSERT_TRUE(parked_.Wait());
  Responder late = parked_.Take();
  server_->Stop(0ms);
  t.join();
  server_.reset();
  late.Send(Response::Text(200, "server gone"));
  EXPECT_TRUE(late.sent());
}

TEST_F(ServerTest, KeepAliveReusesTheConnection) {
  StartServer(Options());
  auto c = Client();
  std::string first;
  for (int i = 0; i < 4; ++i) {
    auto r = c.Get("/peer");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 200);
    if (i == 0) first = r->body;
    EXPECT_EQ(r->body, first);  // same client port: same connection
  }
  EXPECT_EQ(c.connections_opened(), 1);
}

TEST_F(ServerTest, HandlerExceptionOrDroppedResponderGives500) {
  StartServer(Options());
  auto c = Client();
  auto r = c.Get("/throw");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 500);
  r = c.Get("/drop");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 500);
}

TEST_F(ServerTest, MutualTlsRequired) {
  auto o = Options();
  o.client_auth = ClientAuth::kRequired;
  StartServer(o);
  auto anonymous = Client(false);
  auto r = anonymous.Get("/whoami");
  ASSERT_FALSE(r.ok()) << r->status;
  auto agent = Client(true);
  r = agent.Get("/whoami");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->body, "CN=agent-1,O=attest tests");
}

TEST_F(ServerTest, MutualTlsOptional) {
  auto o = Options();
  o.client_auth = ClientAuth::kOptional;
  StartServer(o);
  auto anonymous = Client(false);
  auto r = anonymous.Get("/whoami");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->body, "anonymous");
  auto agent = Client(true);
  r = agent.Get("/whoami");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "CN=agent-1,O=attest tests");
}

TEST_F(ServerTest, SlowHeadersAreCutOff) {
  auto o = Options();
  o.header_timeout = 300ms;
  StartServer(o);
  RawClient raw(server_->port(), true, 200ms);
  std::string req = "GET /peer HTTP/1.1\r\nHost: a\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
  bool cut = false;
  for (char ch : req) {
    // Each byte in time for nothing: the header as a whole takes ~5 s.
    if (!raw.Write(std::string_view(&ch, 1)) || raw.ReadEof()) {
      cut = true;
      break;
    }
  }
  EXPECT_TRUE(cut) << "the server answered a client that sent headers slower than the timeout";
  // The socket closes before the server's handler counts the timeout.
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        return registry_.Render().find("http_timeouts_total{phase=\"header\"} 1") !=
               std::string::npos;
      },
      5s));
}

TEST_F(ServerTest, GracefulStopWaitsForInFlightRequest) {
  StartServer(Options());
  auto c = Client();
  auto pending = std::async(std::launch::async, [&] { return c.Get("/park"); });
  ASSERT_TRUE(parked_.Wait());
  std::atomic<bool> stop_returned{false};
  std::thread stopper([&] {
    server_->Stop(10s);
    stop_returned = true;
  });
  // Stop does not return while the request is in flight; answering it lets
  // the drain finish. (No timing assertion: the order is what matters.)
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(stop_returned.load());
  parked_.Take().Send(Response::Text(200, "drained"));
  auto r = pending.get();
  stopper.join();
  EXPECT_TRUE(stop_returned.load());
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "drained");
  EXPECT_EQ(r->header("Connection"), "close");
  EXPECT_FALSE(testing::PortOpen(server_->port()));
}

TEST_F(ServerTest, MaxConnections) {
  auto o = Options();
  o.max_connections = 1;
  StartServer(o);
  RawClient first(server_->port(), true);
  ASSERT_TRUE(testing::WaitFor([&] { return server_->connections() == 1; }, 5s));
  EXPECT_THROW(RawClient(server_->port(), true), std::runtime_error);  // handshake refused
  first.Write("GET /peer HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(first.ReadResponse().rfind("HTTP/1.1 200", 0), 0u);
}

TEST_F(ServerTest, PlainHttpAndMetrics) {
  auto o = Options();
  o.tls = false;
  StartServer(o);
  httpclient::ClientOptions co;
  co.base_url = "http://127.0.0.1:" + std::to_string(server_->port());
  co.proxy = "";
  auto c = httpclient::Client::Create(co);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->Get("/peer")->status, 200);
  ASSERT_EQ(c->Get("/peer")->status, 200);
  ASSERT_EQ(c->Get("/missing")->status, 404);
  std::string text = registry_.Render();
  EXPECT_NE(text.find("http_requests_total{method=\"GET\",route=\"/peer\",status=\"200\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find("http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"} 1\n"),
      std::string::npos);
  EXPECT_NE(text.find("http_request_duration_seconds_count{method=\"GET\",route=\"/peer\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("http_requests_in_flight 0\n"), std::string::npos);
}

TEST_F(ServerTest, StartFailsOnBadCertificate) {
  auto o = Options();
  o.cert_file = (dir_->path() / "missing.pem").string();
  Server s(o, Router{}, nullptr);
  auto r = s.Start();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("missing.pem"), std::string::npos);
}

}  // namespace
}  // namespace attest::http
