// The gateway's handlers with fakes behind its seams (issue 20.3): an
// evidence sink, an enrolment lookup and readiness probes in memory, and a
// ManualClock. No Kafka, no PostgreSQL, no server, no sleeping.
#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <map>

#include "common/base/manual_clock.h"
#include "common/kafka/errors.h"
#include "ingest-gateway/gateway.h"

namespace attest::gateway {
namespace {

using namespace std::chrono_literals;

const std::string kUuid = "0f8fad5b-d9cb-469f-a165-70867728950e";
const std::string kSecret = std::string(64, 'a');  // hex: 32 bytes

// Publishes into memory; answers each record at once with `next_outcome`
// (or refuses it when `refuse` is set).
struct FakeSink final : EvidenceSink {
  struct Record {
    std::string key, value;
  };
  std::vector<Record> records;
  std::vector<Result<kafka::Delivery>> outcomes;  // one per Publish; ok when none left
  std::optional<Error> refuse;

  Result<void> Publish(std::string_view key, std::string_view value,
                       kafka::DeliveryCallback on_delivery) override {
    if (refuse) return *refuse;
    records.push_back({std::string(key), std::string(value)});
    Result<kafka::Delivery> d = kafka::Delivery{"evidence", 0, 7};
    if (!outcomes.empty()) {
      d = outcomes.front();
      outcomes.erase(outcomes.begin());
    }
    on_delivery(d);
    return Ok();
  }
  Result<void> Flush(std::chrono::milliseconds) override { return Ok(); }
  int64_t InFlight() const override { return 0; }
};

struct FakeLookup final : EnrolmentLookup {
  std::map<std::string, EnrolmentRow> rows;
  std::vector<std::string> asked;
  bool Lookup(std::string uuid, Callback callback) override {
    asked.push_back(uuid);
    auto it = rows.find(uuid);
    callback(it == rows.end() ? std::optional<EnrolmentRow>() : std::optional(it->second));
    return true;
  }
};

struct FakeReadiness final : Readiness {
  bool kafka = true;
  bool kafka_ok() const override { return kafka; }
  bool database_ok() const override { return true; }
  std::string Status() const override { return kafka ? "" : "kafka: down"; }
};

class HandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gateway-handler-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "token.key") << kSecret << "\n";
    GatewayConfig c;
    c.gateway_id = "gw-test";
    c.server.tls = false;
    c.token_key_files = {(dir_ / "token.key").string()};
    c.token_ttl = 60s;
    GatewayIo io;
    io.sink = std::make_unique<FakeSink>();
    io.enrolments = std::make_unique<FakeLookup>();
    io.readiness = std::make_unique<FakeReadiness>();
    sink_ = static_cast<FakeSink*>(io.sink.get());
    lookup_ = static_cast<FakeLookup*>(io.enrolments.get());
    readiness_ = static_cast<FakeReadiness*>(io.readiness.get());
    auto gw = Gateway::Create(std::move(c), clock_, std::move(io));
    ASSERT_TRUE(gw.ok()) << gw.error().ToString();
    gateway_ = std::move(gw).value();
    router_ = gateway_->MakeRouter();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Runs the route's handler; the fakes answer synchronously, so the
  // response is there when it returns.
  http::Response Call(const std::string& path, std::string body) {
    auto match = router_.Find("POST", path);
    EXPECT_EQ(match.kind, http::Router::Match::Kind::kFound);
    if (match.kind != http::Router::Match::Kind::kFound) return {};
    http::BeastRequest raw{boost::beast::http::verb::post, path, 11};
    raw.set(boost::beast::http::field::content_type, "application/x-protobuf");
    raw.body() = std::move(body);
    auto req = std::make_shared<http::Request>(std::move(raw), match.params, match.route->pattern,
                                               nullptr, "127.0.0.1:1");
    std::optional<http::Response> got;
    match.route->handler(req, http::Responder(std::make_shared<http::Responder::State>(
                                  [&](http::Response&& r) { got = std::move(r); })));
    EXPECT_TRUE(got.has_value());
    return got ? *got : http::Response{};
  }

  // A well-formed evidence body answering a token issued now.
  std::string EvidenceBody() {
    auto keys = token::KeySet::LoadFiles({(dir_ / "token.key").string()});
    EXPECT_TRUE(keys.ok());
    auto token = token::Issue(*keys, kUuid, clock_.Now(), 0, {});
    EXPECT_TRUE(token.ok()) << token.error().ToString();
    v1::Evidence e;
    e.set_agent_uuid(kUuid);
    e.set_challenge_token(*token);
    e.mutable_quote()->set_attest("a");
    e.mutable_quote()->set_signature("s");
    auto* bank = e.mutable_quote()->add_pcrs();
    bank->set_hash_algorithm(v1::HASH_ALGORITHM_SHA256);
    (*bank->mutable_values())[10] = std::string(32, '\0');
    return e.SerializeAsString();
  }

  ManualClock clock_;
  std::filesystem::path dir_;
  FakeSink* sink_ = nullptr;
  FakeLookup* lookup_ = nullptr;
  FakeReadiness* readiness_ = nullptr;
  std::unique_ptr<Gateway> gateway_;
  http::Router router_;
};

TEST_F(HandlerTest, AcceptedEvidenceIsPublishedKeyedByTheAgentUuid) {
  const auto received = clock_.Now();
  http::Response r = Call("/v1/agents/" + kUuid + "/evidence", EvidenceBody());
  ASSERT_EQ(r.status, 202) << r.body;
  ASSERT_EQ(sink_->records.size(), 1u);
  EXPECT_EQ(sink_->records[0].key, kUuid);
  v1::EvidenceEnvelope env;
  ASSERT_TRUE(env.ParseFromString(sink_->records[0].value));
  EXPECT_EQ(env.evidence().agent_uuid(), kUuid);
  EXPECT_EQ(env.gateway_id(), "gw-test");
  // The receipt time is the clock's.
  EXPECT_EQ(env.received_at().seconds(),
            std::chrono::duration_cast<std::chrono::seconds>(received.time_since_epoch()).count());
  v1::EvidenceAccepted accepted;
  ASSERT_TRUE(accepted.ParseFromString(r.body));
  EXPECT_EQ(accepted.evidence_id(), env.evidence_id());
}

TEST_F(HandlerTest, AnUppercaseUuidIsPublishedUnderItsCanonicalForm) {
  std::string upper = kUuid;
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  http::Response r = Call("/v1/agents/" + upper + "/evidence", EvidenceBody());
  ASSERT_EQ(r.status, 202) << r.body;
  ASSERT_EQ(sink_->records.size(), 1u);
  EXPECT_EQ(sink_->records[0].key, kUuid);
}

TEST_F(HandlerTest, ASinkThatRefusesIsA503ProblemWithRetryAfter) {
  sink_->refuse = Error{make_error_code(kafka::errc::queue_full), "queue full"};
  http::Response r = Call("/v1/agents/" + kUuid + "/evidence", EvidenceBody());
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.content_type, "application/problem+json");
  EXPECT_NE(r.body.find("kafka cannot take the evidence: queue full"), std::string::npos) << r.body;
  bool retry_after = false;
  for (const auto& [name, value] : r.headers) retry_after = retry_after || name == "Retry-After";
  EXPECT_TRUE(retry_after);
}

TEST_F(HandlerTest, AFailedDeliveryIsA503NotWritten) {
  sink_->outcomes.push_back(Error{make_error_code(kafka::errc::fatal), "broker says no"});
  http::Response r = Call("/v1/agents/" + kUuid + "/evidence", EvidenceBody());
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.content_type, "application/problem+json");
  EXPECT_NE(r.body.find("not written to Kafka: broker says no"), std::string::npos) << r.body;
}

// An unknown outcome is sent once more (the same bytes); twice unknown is
// answered as such.
TEST_F(HandlerTest, AnUnknownOutcomeIsSentAgainThenSaidToBeUnknown) {
  const Error unknown{make_error_code(kafka::errc::possibly_written), "timed out"};
  sink_->outcomes = {unknown, unknown};
  http::Response r = Call("/v1/agents/" + kUuid + "/evidence", EvidenceBody());
  EXPECT_EQ(r.status, 503);
  ASSERT_EQ(sink_->records.size(), 2u);
  EXPECT_EQ(sink_->records[0].value, sink_->records[1].value);
  EXPECT_NE(r.body.find("outcome unknown"), std::string::npos) << r.body;
}

TEST_F(HandlerTest, KafkaUnreachableRefusesEvidenceWithoutPublishing) {
  readiness_->kafka = false;
  http::Response r = Call("/v1/agents/" + kUuid + "/evidence", EvidenceBody());
  EXPECT_EQ(r.status, 503);
  EXPECT_TRUE(sink_->records.empty());
}

TEST_F(HandlerTest, AnExpiredTokenIs401ByTheClock) {
  const std::string body = EvidenceBody();
  clock_.Advance(66s);  // past token_ttl (60 s) and the skew allowed (5 s)
  http::Response r = Call("/v1/agents/" + kUuid + "/evidence", body);
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_TRUE(sink_->records.empty());
}

TEST_F(HandlerTest, AChallengeForAnUnknownAgentIs404) {
  v1::ChallengeRequest req;
  http::Response r = Call("/v1/agents/" + kUuid + "/challenges", req.SerializeAsString());
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(r.content_type, "application/problem+json");
  EXPECT_EQ(lookup_->asked, std::vector<std::string>{kUuid});
}

TEST_F(HandlerTest, AChallengeIsIssuedAtTheClocksTime) {
  EnrolmentRow row;
  row.registration_state = "active";
  row.enrolled = true;
  row.state = "PASS";
  row.interval_seconds = 60;
  lookup_->rows[kUuid] = row;
  v1::ChallengeRequest req;
  http::Response r = Call("/v1/agents/" + kUuid + "/challenges", req.SerializeAsString());
  ASSERT_EQ(r.status, 200) << r.body;
  v1::Challenge ch;
  ASSERT_TRUE(ch.ParseFromString(r.body));
  const auto now_s =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
  EXPECT_EQ(ch.issued_at().seconds(), now_s);
  EXPECT_EQ(ch.expires_at().seconds(), now_s + 60);
}

}  // namespace
}  // namespace attest::gateway
