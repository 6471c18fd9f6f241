// The gateway against real PostgreSQL (rows inserted here), Apache Kafka
// and TLS: challenge 404/429/200, evidence to Kafka (202 only from the
// acks=all delivery report, partition = PartitionFor(uuid)), bad input, Kafka
// down or hung (503, then recovery unattended), a record above the topic's
// max.message.bytes.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <random>
#include <set>
#include <thread>

#include "common/kafka/partitioner.h"
#include "tests/gateway/fixture.h"
#include "tests/http/raw_client.h"

namespace attest::gateway::testing {
namespace {

using namespace std::chrono_literals;
using google::protobuf::util::MessageDifferencer;

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

token::KeySet TestKeys() {
  auto k = token::KeySet::FromSecrets({std::string(32, '\xcc')});
  EXPECT_TRUE(k.ok());
  return std::move(k).value();
}

TEST_F(GatewayTest, ChallengeForUnknownOrUnenrolledAgentsIs404) {
  StartGateway(MakeConfig());
  const std::string unknown = NewUuid(), registered = NewUuid(), pending = NewUuid();
  InsertAgent(registered, {.enrolled = false});
  InsertAgent(pending, {.registration = "pending"});
  for (const auto& uuid : {unknown, registered, pending}) {
    auto r = AskChallenge(uuid);
    EXPECT_EQ(r.status, 404) << uuid << " " << r.body;
    EXPECT_EQ(r.header("Content-Type"), "application/problem+json");
  }
}

TEST_F(GatewayTest, ChallengeCarriesTokenSelectionOffsetAndInterval) {
  StartGateway(MakeConfig());
  const std::string uuid = NewUuid();
  InsertAgent(uuid, {.interval_seconds = 30, .ima_offset = 1234, .boot_log_requested = false});
  auto ch = ChallengeOf(AskChallenge(uuid));
  ASSERT_EQ(ch.token().size(), token::kTokenSize);
  auto claims = token::Verify(TestKeys(), ch.token(), uuid, std::chrono::system_clock::now());
  ASSERT_TRUE(claims.ok()) << claims.error().ToString();
  EXPECT_EQ(claims->ima_offset, 1234u);
  EXPECT_EQ(ch.ima_offset(), 1234u);
  EXPECT_EQ(ch.interval_seconds(), 30u);
  EXPECT_FALSE(ch.uefi_log_requested());
  EXPECT_EQ(ch.quote_hash_algorithm(), v1::HASH_ALGORITHM_SHA256);
  ASSERT_EQ(ch.pcr_selection_size(), 1);
  EXPECT_EQ(ch.pcr_selection(0).hash_algorithm(), v1::HASH_ALGORITHM_SHA256);
  EXPECT_EQ(ch.pcr_selection(0).pcrs_size(), 10);  // 0-8, 10
  EXPECT_EQ(ch.expires_at().seconds() - ch.issued_at().seconds(), 60);
  // The token binds what the challenge says (issue 17): sha256, PCRs 0-8
  // and 10, no UEFI log.
  ASSERT_TRUE(claims->binding.has_value());
  EXPECT_EQ(claims->version, token::kVersion);
  EXPECT_EQ(claims->binding->pcr_bank, 0x000b);
  uint32_t mask = 0;
  for (uint32_t p : ch.pcr_selection(0).pcrs()) mask |= 1u << p;
  EXPECT_EQ(claims->binding->pcr_mask, mask);
  EXPECT_EQ(claims->binding->pcr_mask, 0x0005ffu);
  EXPECT_FALSE(claims->binding->uefi_log_requested);

  // A UEFI log requested by the row is bound too.
  const std::string wants_log = NewUuid();
  InsertAgent(wants_log, {.boot_log_requested = true});
  auto ch2 = ChallengeOf(AskChallenge(wants_log));
  auto claims2 =
      token::Verify(TestKeys(), ch2.token(), wants_log, std::chrono::system_clock::now());
  ASSERT_TRUE(claims2.ok()) << claims2.error().ToString();
  EXPECT_TRUE(ch2.uefi_log_requested());
  ASSERT_TRUE(claims2->binding.has_value());
  EXPECT_TRUE(claims2->binding->uefi_log_requested);
}

TEST_F(GatewayTest, ChallengeBeforeTheIntervalIs429UnlessTheAgentRebooted) {
  StartGateway(MakeConfig());
  const std::string uuid = NewUuid();
  const int64_t boot = NowSeconds() - 3600;
  InsertAgent(uuid, {.state = "PASS",
                     .interval_seconds = 600,
                     .last_attestation_sql = "now()",
                     .ima_offset = 77,
                     .boot_time_seconds = boot,
                     .boot_log_requested = false});
  auto early = AskChallenge(uuid, boot);
  EXPECT_EQ(early.status, 429) << early.body;
  auto retry = early.retry_after();
  ASSERT_TRUE(retry.has_value());
  EXPECT_GT(retry->count(), 400);  // 600 s x 0.8 minus a moment
  EXPECT_LE(retry->count(), 480);
  // Same boot without a boot time: still too early.
  EXPECT_EQ(AskChallenge(uuid).status, 429);
  // A new boot is let in at once, with IMA from 0 and the UEFI log asked for.
  auto ch = ChallengeOf(AskChallenge(uuid, NowSeconds() - 10));
  EXPECT_EQ(ch.ima_offset(), 0u);
  EXPECT_TRUE(ch.uefi_log_requested());
}

TEST_F(GatewayTest, ChallengeAfterTheIntervalAndForFailedAgents) {
  StartGateway(MakeConfig());
  const std::string due = NewUuid(), failed = NewUuid();
  InsertAgent(due, {.state = "PASS",
                    .interval_seconds = 10,
                    .last_attestation_sql = "now() - interval '9 seconds'"});
  InsertAgent(failed, {.state = "FAILED", .interval_seconds = 10});
  EXPECT_EQ(AskChallenge(due).status, 200);  // 9 s > 10 s x 0.8
  EXPECT_EQ(AskChallenge(failed).status, 200);
}

TEST_F(GatewayTest, ChallengeRequestErrors) {
  StartGateway(MakeConfig());
  const std::string uuid = NewUuid();
  InsertAgent(uuid);
  EXPECT_EQ(Post("/v1/agents/not-a-uuid/challenges", "application/x-protobuf", "").status, 400);
  EXPECT_EQ(Post("/v1/agents/" + uuid + "/challenges", "text/plain", "").status, 415);
  v1::ChallengeRequest other;
  other.set_agent_uuid(NewUuid());
  EXPECT_EQ(Post("/v1/agents/" + uuid + "/challenges", "application/x-protobuf",
                 other.SerializeAsString())
                .status,
            400);
  // JSON in, JSON out; upper-case UUIDs are the same agent.
  std::string upper = uuid;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto r = Post("/v1/agents/" + upper + "/challenges", "application/json",
                R"({"agentUuid":")" + upper + R"(","capabilities":{"agentVersion":"1"}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  v1::Challenge ch;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &ch).ok()) << r.body;
  EXPECT_TRUE(token::Verify(TestKeys(), ch.token(), uuid, std::chrono::system_clock::now()).ok());
}

TEST_F(GatewayTest, AcceptedEvidenceIsOnTheTopicKeyedByUuid) {
  StartGateway(MakeConfig());
  const std::string uuid = NewUuid();
  InsertAgent(uuid, {.ima_offset = 5});
  auto ch = ChallengeOf(AskChallenge(uuid));
  v1::Evidence e = MakeEvidence(uuid, ch.token(), ch.ima_offset());
  auto r = PostEvidence(uuid, e);
  ASSERT_EQ(r.status, 202) << r.body;
  v1::EvidenceAccepted acc;
  ASSERT_TRUE(acc.ParseFromString(r.body));
  EXPECT_EQ(acc.evidence_id().size(), 36u);

  // The same evidence in the JSON mapping is accepted too.
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(e, &json).ok());
  auto rj = Post("/v1/agents/" + uuid + "/evidence", "application/json", json);
  ASSERT_EQ(rj.status, 202) << rj.body;
  EXPECT_EQ(rj.header("Content-Type"), "application/json");
  v1::EvidenceAccepted acc_json;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(rj.body, &acc_json).ok());

  auto records = RecordsOf(uuid);  // also checks partition == PartitionFor(uuid, 12)
  ASSERT_EQ(records.size(), 2u);
  std::set<std::string> ids;
  for (const auto& env : records) {
    ids.insert(env.evidence_id());
    EXPECT_TRUE(MessageDifferencer::Equals(env.evidence(), e));
    EXPECT_EQ(env.gateway_id(), "gw-test");
    EXPECT_EQ(env.token_ima_offset(), 5u);
    EXPECT_EQ(env.token_issued_at().seconds(), ch.issued_at().seconds());
    EXPECT_GT(env.received_at().seconds(), 0);
  }
  EXPECT_EQ(ids, (std::set<std::string>{acc.evidence_id(), acc_json.evidence_id()}));
  auto metrics = Get("/metrics").body;
  EXPECT_NE(metrics.find("gateway_produce_duration_seconds_count 2"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("gateway_producer_queue_depth"), std::string::npos);
  EXPECT_NE(metrics.find(R"(route="/v1/agents/{uuid}/evidence",status="202"} 2)"),
            std::string::npos);
}

TEST_F(GatewayTest, BadEvidenceGetsItsStatusAndNothingReachesKafka) {
  StartGateway(MakeConfig());
  const std::string uuid = NewUuid(), other = NewUuid();
  InsertAgent(uuid, {.ima_offset = 3});
  InsertAgent(other);
  const std::string path = "/v1/agents/" + uuid + "/evidence";
  auto ch = ChallengeOf(AskChallenge(uuid));
  auto other_ch = ChallengeOf(AskChallenge(other));
  const std::string good = MakeEvidence(uuid, ch.token(), 3).SerializeAsString();

  const token::Binding bind{.pcr_bank = 0x000b, .pcr_mask = 0x0004ff};
  auto expired_token =
      token::Issue(TestKeys(), uuid, std::chrono::system_clock::now() - 61s, 3, bind);
  ASSERT_TRUE(expired_token.ok());
  auto unknown_key = token::KeySet::FromSecrets({std::string(32, 'z')});
  auto foreign_token = token::Issue(*unknown_key, uuid, std::chrono::system_clock::now(), 3, bind);
  std::string forged = ch.token();
  forged[40] = static_cast<char>(forged[40] ^ 1);
  v1::Evidence no_quote = MakeEvidence(uuid, ch.token(), 3);
  no_quote.clear_quote();
  v1::Evidence bad_pcr = MakeEvidence(uuid, ch.token(), 3);
  (*bad_pcr.mutable_quote()->mutable_pcrs(0)->mutable_values())[0] = "short";
  v1::Evidence big_sig = MakeEvidence(uuid, ch.token(), 3);
  big_sig.mutable_quote()->set_signature(std::string(5000, 'x'));

  struct Case {
    const char* name;
    std::string content_type;
    std::string body;
    int status;
    std::string path_override;
  };
  std::vector<Case> cases = {
      {"text/plain", "text/plain", good, 415, ""},
      {"no content type", "", good, 415, ""},
      {"garbage protobuf", "application/x-protobuf", "\xff\xff\xff\xff garbage", 400, ""},
      {"truncated protobuf", "application/x-protobuf", good.substr(0, good.size() - 1), 400, ""},
      {"garbage JSON", "application/json", "{not json", 400, ""},
      {"empty body", "application/x-protobuf", "", 400, ""},
      {"uuid mismatch", "application/x-protobuf",
       MakeEvidence(other, ch.token(), 3).SerializeAsString(), 400, ""},
      {"bad path uuid", "application/x-protobuf", good, 400, "/v1/agents/xyz/evidence"},
      {"no quote", "application/x-protobuf", no_quote.SerializeAsString(), 400, ""},
      {"bad PCR size", "application/x-protobuf", bad_pcr.SerializeAsString(), 400, ""},
      {"oversized signature", "application/x-protobuf", big_sig.SerializeAsString(), 400, ""},
      {"IMA offset differs", "application/x-protobuf",
       MakeEvidence(uuid, ch.token(), 4).SerializeAsString(), 400, ""},
      {"truncated token", "application/x-protobuf",
       MakeEvidence(uuid, ch.token().substr(0, 32), 3).SerializeAsString(), 401, ""},
      {"forged token", "application/x-protobuf", MakeEvidence(uuid, forged, 3).SerializeAsString(),
       401, ""},
      {"expired token", "application/x-protobuf",
       MakeEvidence(uuid, *expired_token, 3).SerializeAsString(), 401, ""},
      {"unknown key", "application/x-protobuf",
       MakeEvidence(uuid, *foreign_token, 3).SerializeAsString(), 401, ""},
      {"other agent's token", "application/x-protobuf",
       MakeEvidence(uuid, other_ch.token(), 0).SerializeAsString(), 403, ""},
      {"oversized body", "application/x-protobuf", std::string(kMinBodyBytes + 1, 'x'), 413, ""},
  };
  for (const auto& c : cases) {
    auto r =
        client_->Post(c.path_override.empty() ? path : c.path_override, c.content_type, c.body);
    if (c.status == 413 && !r.ok()) continue;  // the server may close before curl reads the 413
    ASSERT_TRUE(r.ok()) << c.name << ": " << r.error().ToString();
    EXPECT_EQ(r->status, c.status) << c.name << ": " << r->body;
    if (c.status >= 400) {
      EXPECT_EQ(r->header("Content-Type"), "application/problem+json") << c.name;
    }
  }
  // Oversized by Content-Length, answered before the body is read.
  {
    attest::testing::RawClient raw(gateway_->port(), true);
    raw.Write("POST " + path +
              " HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
              "Content-Length: 10000000\r\n\r\n");
    EXPECT_NE(raw.ReadResponse().find(" 413 "), std::string::npos);
  }
  // A slow client (headers never completed) is disconnected.
  {
    attest::testing::RawClient raw(gateway_->port(), true, 5s);
    raw.Write("POST " + path + " HTTP/1.1\r\nHost: x\r\n");
    EXPECT_TRUE(raw.ReadEof());
  }
  // A slow body is disconnected too.
  {
    attest::testing::RawClient raw(gateway_->port(), true, 5s);
    raw.Write("POST " + path +
              " HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
              "Content-Length: 100\r\n\r\nabc");
    EXPECT_TRUE(raw.ReadEof());
  }
  // The gateway is still up and nothing reached Kafka for either agent.
  EXPECT_EQ(Get("/healthz").status, 200);
  EXPECT_TRUE(RecordsOf(uuid).empty());
  EXPECT_TRUE(RecordsOf(other).empty());
  // The good evidence still goes through afterwards.
  EXPECT_EQ(Post(path, "application/x-protobuf", good).status, 202);
  EXPECT_EQ(RecordsOf(uuid).size(), 1u);
}

TEST_F(GatewayTest, KafkaOutageGives503ThenEveryAcceptedEvidenceIsOnTheTopicOnce) {
  // Stops and pauses its broker: a private node, never the run's shared one.
  UsePrivateKafka();
  GatewayConfig config = MakeConfig();
  // Evidence quoted before a stop is retried after the restart: its token
  // must outlive a slow restart on a loaded machine.
  config.token_ttl = 300s;
  StartGateway(std::move(config));
  const std::string uuid = NewUuid();
  InsertAgent(uuid);
  auto fresh = [&] { return MakeEvidence(uuid, ChallengeOf(AskChallenge(uuid)).token(), 0); };
  std::set<std::string> accepted;
  auto submit = [&](const v1::Evidence& e) {
    auto r = PostEvidence(uuid, e);
    if (r.status == 202) {
      v1::EvidenceAccepted acc;
      EXPECT_TRUE(acc.ParseFromString(r.body));
      EXPECT_TRUE(accepted.insert(acc.evidence_id()).second);
    }
    return r;
  };
  auto expect_refused = [&](const httpclient::Response& r, const char* phase) {
    EXPECT_EQ(r.status, 503) << phase << ": " << r.body;
    EXPECT_EQ(r.header("Content-Type"), "application/problem+json") << phase;
    auto problem = nlohmann::json::parse(r.body, nullptr, false);
    EXPECT_TRUE(problem.is_object() && problem.value("status", 0) == 503 &&
                !problem.value("detail", "").empty())
        << phase << ": " << r.body;
    EXPECT_EQ(r.header("Retry-After"), "5") << phase;
  };
  // The agent retries its evidence until it is accepted.
  auto retry_until_accepted = [&](const v1::Evidence& e, const char* phase) {
    int status = 0;
    EXPECT_TRUE(attest::testing::WaitFor([&] { return (status = submit(e).status) == 202; }, 30s))
        << phase << ": last status " << status << "\n"
        << kafka().Log();
  };
  ASSERT_EQ(submit(fresh()).status, 202);

  // 1. The broker is down (connections refused). Whether the probe noticed
  // already (fast 503) or the delivery times out: 503, never 202.
  std::vector<v1::Evidence> stopped = {fresh(), fresh()};
  kafka().StopAll();
  expect_refused(submit(stopped[0]), "stopped");
  ASSERT_TRUE(attest::testing::WaitFor([&] { return !gateway_->Ready(); }, 10s));
  EXPECT_EQ(Get("/readyz").status, 503);
  expect_refused(submit(stopped[1]), "stopped, probe failing");
  kafka().StartAll();  // the same node on its data and port
  ASSERT_TRUE(attest::testing::WaitFor([&] { return gateway_->Ready(); }, 30s)) << kafka().Log();
  EXPECT_EQ(Get("/readyz").status, 200);
  for (const auto& e : stopped) retry_until_accepted(e, "after restart");

  // 2. The broker hangs (SIGSTOP): nothing refused, nothing acknowledged.
  v1::Evidence hung = fresh();
  kafka().PauseNode(1);
  expect_refused(submit(hung), "paused");
  ASSERT_TRUE(attest::testing::WaitFor([&] { return !gateway_->Ready(); }, 10s));
  kafka().ResumeNode(1);
  ASSERT_TRUE(attest::testing::WaitFor([&] { return gateway_->Ready(); }, 30s)) << kafka().Log();
  retry_until_accepted(hung, "after resume");

  // Every 202 is on the topic exactly once. (A 503 after a delivery timeout
  // may still have been written: "possibly persisted", docs/gateway.md.)
  ASSERT_EQ(accepted.size(), 4u);
  std::map<std::string, int> seen;
  for (const auto& env : RecordsOf(uuid)) ++seen[env.evidence_id()];
  for (const auto& id : accepted) EXPECT_EQ(seen[id], 1) << id;
}

TEST_F(GatewayTest, AnUnknownDeliveryOutcomeIsSentAgainAndNeverAnsweredAsNotWritten) {
  // A send Kafka may have written without saying so (its node hangs while
  // the request is in flight) is not a refusal: the gateway sends the same
  // bytes again (the worker skips a second copy), and when the outcome stays
  // unknown its 503 says so instead of "not written to Kafka", because the
  // record does reach the topic and gets a verdict (the fault campaign's
  // "verdict for refused evidence").
  UsePrivateKafka();
  GatewayConfig config = MakeConfig();
  config.token_ttl = 300s;
  config.kafka_delivery_timeout = 3s;
  StartGateway(std::move(config));
  const std::string uuid = NewUuid();
  InsertAgent(uuid);
  auto fresh = [&] { return MakeEvidence(uuid, ChallengeOf(AskChallenge(uuid)).token(), 0); };
  ASSERT_EQ(PostEvidence(uuid, fresh()).status, 202);

  // 1. Hung for both sends: 503 naming the unknown outcome, then the record
  // is on the topic once the node runs again.
  v1::Evidence hung = fresh();
  kafka().PauseNode(1);
  auto r = PostEvidence(uuid, hung);
  kafka().ResumeNode(1);
  ASSERT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("outcome unknown"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("not written to Kafka"), std::string::npos) << r.body;
  const auto problem = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_TRUE(problem.is_object()) << r.body;
  const std::string detail = problem.value("detail", "");
  const auto id_at = detail.find("evidence ");
  ASSERT_NE(id_at, std::string::npos) << detail;
  const std::string unknown_id = detail.substr(id_at + 9, 36);
  ASSERT_TRUE(attest::testing::WaitFor([&] { return gateway_->Ready(); }, 60s)) << kafka().Log();
  std::vector<v1::EvidenceEnvelope> copies;
  ASSERT_TRUE(attest::testing::WaitFor(
      [&] {
        copies.clear();
        for (auto& env : RecordsOf(uuid)) {
          if (env.evidence_id() == unknown_id) copies.push_back(env);
        }
        return !copies.empty();
      },
      30s))
      << "the 'unknown' evidence never reached the topic: then the answer could have said so";
  for (const auto& c : copies) {
    // Byte-identical copies: the worker's second-copy rule needs the same
    // receipt time.
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(c, copies.front()));
  }

  // 2. Hung for the first send only: the second is acknowledged, so 202.
  v1::Evidence late = fresh();
  kafka().PauseNode(1);
  std::thread resume([&] {
    std::this_thread::sleep_for(4s);  // the first send (3 s) timed out, the second waits
    kafka().ResumeNode(1);
  });
  auto r2 = PostEvidence(uuid, late);
  resume.join();
  EXPECT_EQ(r2.status, 202) << r2.body;
}

TEST_F(GatewayTest, EvidenceAboveTheTopicsMaxMessageBytesIsRefusedAndTheGatewayGoesOn) {
  // Its own topic, whose limit drops below the evidence after the gateway
  // started with it (an operator's change).
  const std::string topic = attest::testing::UniqueName("attestation.evidence.small");
  attest::testing::CreateTopics(
      kafka(), {{topic, kEvidencePartitions, 0, {{"max.message.bytes", "4194304"}}}});
  topics_.evidence = topic;
  StartGateway(MakeConfig());
  const std::string uuid = NewUuid();
  InsertAgent(uuid);
  SetTopicConfig(kafka(), topic, {{"max.message.bytes", "65536"}});

  // 256 KiB of IMA data that lz4 cannot shrink: under the gateway's body
  // limit, above the topic's.
  v1::Evidence big = MakeEvidence(uuid, ChallengeOf(AskChallenge(uuid)).token(), 0);
  std::string noise(256 * 1024, '\0');
  std::mt19937_64 rng{std::random_device{}()};
  for (char& c : noise) c = static_cast<char>(rng());
  big.mutable_ima()->set_format(v1::IMA_LOG_FORMAT_BINARY);
  big.mutable_ima()->set_data(noise);
  auto r = PostEvidence(uuid, big);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "application/problem+json");
  EXPECT_NE(r.body.find("too large"), std::string::npos) << r.body;

  // The producer is not broken by the refusal: small evidence still goes.
  EXPECT_EQ(Get("/healthz").status, 200);
  auto small = PostEvidence(uuid, MakeEvidence(uuid, ChallengeOf(AskChallenge(uuid)).token(), 0));
  EXPECT_EQ(small.status, 202) << small.body;
  auto records = RecordsOf(uuid);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].evidence().ima().format(), v1::IMA_LOG_FORMAT_ASCII);
  auto metrics = Get("/metrics").body;
  EXPECT_NE(metrics.find(R"(gateway_evidence_total{outcome="delivery_failed"} 1)"),
            std::string::npos)
      << metrics;
}

TEST_F(GatewayTest, HealthAndReadiness) {
  StartGateway(MakeConfig());
  EXPECT_EQ(Get("/healthz").status, 200);
  EXPECT_EQ(Get("/readyz").status, 200);
  EXPECT_EQ(Get("/nope").status, 404);
  EXPECT_EQ(Post("/healthz", "text/plain", "").status, 405);
  auto m = Get("/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("gateway_http_requests_total"), std::string::npos);
  EXPECT_NE(m.body.find("gateway_http_request_duration_seconds_bucket"), std::string::npos);
}

}  // namespace
}  // namespace attest::gateway::testing
