// The real attest-gateway binary: SIGTERM while an evidence request waits for
// its delivery report. The request is answered 202, the record is on the
// topic, and the process exits 0. Also: a bad config exits 2.
#include <signal.h>

#include <fmt/format.h>

#include <fstream>
#include <future>
#include <thread>

#include "tests/gateway/fixture.h"

namespace attest::gateway::testing {
namespace {

using namespace std::chrono_literals;

class GatewayBinaryTest : public GatewayTest {
 protected:
  std::string WriteConfig(int port, const std::string& extra_kafka) {
    auto path = (dir_->path() / fmt::format("gateway-{}.toml", port)).string();
    std::ofstream(path) << fmt::format(R"(gateway_id = "gw-binary"
[server]
listen = "127.0.0.1:{}"
cert_file = "{}"
key_file = "{}"
io_threads = 2
drain_timeout_ms = 15000
[token]
key_files = ["{}"]
[database]
conninfo = "{} connect_timeout=2"
pool_size = 1
[kafka]
bootstrap_servers = "{}"
topic = "{}"
properties = [{}]
)",
                                       port, cert_->cert.string(), cert_->key.string(), key_file_,
                                       conninfo(), kafka().bootstrap(), topics().evidence,
                                       extra_kafka);
    return path;
  }
};

TEST_F(GatewayBinaryTest, SigtermDrainsAnInFlightEvidence) {
  const int port = attest::testing::FreePort();
  // A long linger keeps the record in the producer for ~2 s: the request is
  // in flight when SIGTERM arrives.
  auto config = WriteConfig(port, R"("linger.ms=2000", "reconnect.backoff.ms=100")");
  auto log = (dir_->path() / fmt::format("gateway-{}.log", port)).string();
  attest::testing::Subprocess gw({ATTEST_GATEWAY_BINARY, "--config", config}, log);

  httpclient::ClientOptions o;
  o.base_url = fmt::format("https://127.0.0.1:{}", port);
  o.ca_file = pki_->ca_cert().string();
  o.proxy = "";
  auto make_client = [&] { return std::move(httpclient::Client::Create(o)).value(); };
  auto probe = make_client();
  ASSERT_TRUE(attest::testing::WaitFor(
      [&] {
        auto r = probe.Get("/readyz");
        return r.ok() && r->status == 200;
      },
      30s))
      << attest::testing::ReadFile(log);

  const std::string uuid = NewUuid();
  InsertAgent(uuid);
  v1::ChallengeRequest req;
  auto ch_resp = probe.Post("/v1/agents/" + uuid + "/challenges", "application/x-protobuf", "");
  ASSERT_TRUE(ch_resp.ok());
  v1::Challenge ch;
  ASSERT_EQ(ch_resp->status, 200) << ch_resp->body;
  ASSERT_TRUE(ch.ParseFromString(ch_resp->body));
  const std::string body = MakeEvidence(uuid, ch.token(), ch.ima_offset()).SerializeAsString();

  auto in_flight = std::async(std::launch::async, [&] {
    auto client = make_client();
    auto r = client.Post("/v1/agents/" + uuid + "/evidence", "application/x-protobuf", body);
    return r.ok() ? r->status : -1;
  });
  ASSERT_TRUE(attest::testing::WaitFor(
      [&] {
        auto r = probe.Get("/metrics");
        return r.ok() && r->body.find("\ngateway_producer_queue_depth 1") != std::string::npos;
      },
      10s));
  ASSERT_EQ(::kill(gw.pid(), SIGTERM), 0);
  EXPECT_EQ(in_flight.get(), 202);
  EXPECT_EQ(gw.Wait(20s), 0) << attest::testing::ReadFile(log);
  EXPECT_EQ(RecordsOf(uuid).size(), 1u);
}

TEST_F(GatewayBinaryTest, BadConfigurationExits2) {
  auto path = (dir_->path() / "bad.toml").string();
  std::ofstream(path) << "[server]\nlisten = \"nowhere\"\n";
  std::string out;
  EXPECT_EQ(attest::testing::RunCommand({ATTEST_GATEWAY_BINARY, "--config", path}, &out), 2);
  EXPECT_NE(out.find("server.listen"), std::string::npos) << out;
}

}  // namespace
}  // namespace attest::gateway::testing
