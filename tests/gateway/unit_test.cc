// Pure parts of the gateway: configuration, request decoding and shape
// checks, the challenge decision.
#include <gtest/gtest.h>

#include "ingest-gateway/challenge.h"
#include "ingest-gateway/config.h"
#include "ingest-gateway/decode.h"
#include "ingest-gateway/errors.h"
#include "ingest-gateway/gateway.h"
#include "tests/evidence/sample_evidence.h"

namespace attest::gateway {
namespace {

using namespace std::chrono_literals;

const std::string kUuid = "0f8fad5b-d9cb-469f-a165-70867728950e";

Result<GatewayConfig> Parse(const std::string& text) {
  auto f = ConfigFile::Parse(text, "gw.toml");
  if (!f) return f.error();
  return ParseGatewayConfig(*f);
}

const std::string kMinimal = R"(
[server]
cert_file = "c.pem"
key_file = "k.pem"
[token]
key_files = ["a.key", "b.key"]
[database]
conninfo = "host=db"
[kafka]
bootstrap_servers = "k:9092"
)";

// Issue 19.4: a key the gateway does not read is an error, not a setting
// silently ignored.
TEST(GatewayConfigTest, UnknownKeysAndKeysInTheWrongTableAreErrors) {
  auto c = Parse(kMinimal + "[challenge]\npcr = \"10\"\n");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, make_error_code(errc::invalid_config));
  EXPECT_EQ(c.error().message,
            "gw.toml:12:1: key 'challenge.pcr': unknown key; did you mean 'pcrs'?");
  c = Parse(kMinimal + "max_body_bytes = 4194304\n");  // under [kafka]
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message,
            "gw.toml:11:1: key 'kafka.max_body_bytes': unknown key; 'max_body_bytes' belongs in "
            "[server]");
  c = Parse("gateway_id = \"g\"\n[tls]\ncert_file = \"c.pem\"\n" + kMinimal);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message, "gw.toml:2:2: key 'tls': unknown table");
}

TEST(GatewayConfigTest, DefaultsAndOverrides) {
  auto c = Parse(kMinimal);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->server.port, 8881);
  EXPECT_EQ(c->server.bind_address, "0.0.0.0");
  EXPECT_EQ(c->server.max_body_bytes, 2u << 20);
  EXPECT_EQ(c->kafka_message_max_bytes, (2u << 20) + kEnvelopeOverheadBytes);
  EXPECT_EQ(c->kafka_compression, "lz4");
  EXPECT_EQ(c->challenge.catch_up_interval, 2s);
  EXPECT_EQ(c->token_key_files.size(), 2u);
  EXPECT_EQ(c->kafka_topic, "attestation.evidence");
  EXPECT_EQ(c->challenge.pcrs, (std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 10}));
  EXPECT_DOUBLE_EQ(c->challenge.min_interval_fraction, 0.8);

  auto o = Parse(kMinimal + R"(
[challenge]
pcrs = "0,2-3"
pcr_bank = "sha384"
min_interval_fraction = 0.5
)");
  ASSERT_TRUE(o.ok()) << o.error().ToString();
  EXPECT_EQ(o->challenge.pcrs, (std::vector<uint32_t>{0, 2, 3}));
  EXPECT_EQ(o->challenge.pcr_bank, v1::HASH_ALGORITHM_SHA384);
}

// One produce request in flight per broker (the fault campaign's leader
// pause: with five, a timed-out request made librdkafka re-send the others
// under a bumped producer epoch and evidence reached the topic twice).
TEST(GatewayConfigTest, EvidenceProducerKeepsOneRequestInFlight) {
  auto c = Parse(kMinimal);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  const kafka::ProducerConfig pc = EvidenceProducerConfig(*c);
  EXPECT_EQ(pc.extra.at("max.in.flight.requests.per.connection"), "1");
  EXPECT_EQ(pc.delivery_timeout, c->kafka_delivery_timeout);
  EXPECT_EQ(pc.bootstrap_servers, "k:9092");

  // The operator's properties still win (a documented trade: duplicates
  // after a timed-out request).
  auto o = Parse(R"(
[server]
cert_file = "c.pem"
key_file = "k.pem"
[token]
key_files = ["a.key"]
[database]
conninfo = "host=db"
[kafka]
bootstrap_servers = "k:9092"
properties = ["max.in.flight.requests.per.connection=5"]
)");
  ASSERT_TRUE(o.ok()) << o.error().ToString();
  EXPECT_EQ(EvidenceProducerConfig(*o).extra.at("max.in.flight.requests.per.connection"), "5");
}

TEST(GatewayConfigTest, ErrorsNameTheKey) {
  struct Case {
    std::string text;
    std::string key;
  } cases[] = {
      {"[server]\nlisten = \"nohost\"\n", "server.listen"},
      {R"([server]
listen = "0.0.0.0:99999")",
       "server.listen"},
      {kMinimal + "[challenge]\npcrs = \"7-3\"\n", "challenge.pcrs"},
      {kMinimal + "[challenge]\npcrs = \"24\"\n", "challenge.pcrs"},
      {kMinimal + "[challenge]\nmin_interval_fraction = 1.5\n", "challenge.min_interval_fraction"},
      {kMinimal + "[challenge]\npcr_bank = \"md5\"\n", "challenge.pcr_bank"},
      // Issue 17: a gateway asking for a bank or PCRs the verifier cannot use
      // refuses to start.
      {kMinimal + "[challenge]\npcr_bank = \"sha1\"\n", "challenge.pcr_bank"},
      {kMinimal + "[challenge]\npcr_bank = \"sm3_256\"\n", "challenge.pcr_bank"},
      {kMinimal + "[challenge]\nquote_hash = \"sha1\"\n", "challenge.quote_hash"},
      {kMinimal + "compression = \"brotli\"\n", "kafka.compression"},
      {kMinimal + "properties = [\"message.max.bytes=99999999\"]\n", "kafka.message_max_bytes"},
      {kMinimal + "properties = [\"compression.type=gzip\"]\n", "kafka.compression"},
  };
  for (const auto& c : cases) {
    auto r = Parse(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_NE(r.error().message.find(c.key), std::string::npos) << r.error().message;
  }
  auto no_ca = Parse(R"(
[server]
cert_file = "c.pem"
key_file = "k.pem"
client_auth = "required"
)");
  ASSERT_FALSE(no_ca.ok());
  EXPECT_NE(no_ca.error().message.find("server.client_ca_file"), std::string::npos);
}

TEST(GatewayConfigTest, WeakBankRefusalSaysWhy) {
  auto r = Parse(kMinimal + "[challenge]\npcr_bank = \"sha1\"\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, errc::invalid_config);
  EXPECT_NE(r.error().message.find("sha256, sha384 or sha512"), std::string::npos)
      << r.error().message;
  for (const char* bank : {"sha256", "sha384", "sha512"}) {
    auto ok = Parse(kMinimal + "[challenge]\npcr_bank = \"" + bank + "\"\n");
    EXPECT_TRUE(ok.ok()) << bank << ": " << ok.error().ToString();
  }
  EXPECT_EQ(PcrMask({0, 1, 2, 3, 4, 5, 6, 7, 8, 10}), kPolicyPcrMask);
  // A smaller PCR set is allowed (the token binds it; the worker REJECTS
  // agents whose policies need more).
  auto lab = Parse(kMinimal + "[challenge]\npcrs = \"10\"\n");
  ASSERT_TRUE(lab.ok()) << lab.error().ToString();
  EXPECT_EQ(lab->challenge.pcrs, std::vector<uint32_t>{10});
  EXPECT_EQ(PcrMask({23}), 1u << 23);
  EXPECT_EQ(TpmAlgOf(v1::HASH_ALGORITHM_SHA256), 0x000b);
  EXPECT_EQ(TpmAlgOf(v1::HASH_ALGORITHM_SHA1), 0);
}

TEST(DecodeTest, ContentTypesAndUuids) {
  EXPECT_EQ(*FormatOf("application/x-protobuf"), BodyFormat::kProtobuf);
  EXPECT_EQ(*FormatOf("application/json"), BodyFormat::kJson);
  EXPECT_EQ(FormatOf("text/plain").error().code, errc::unsupported_media_type);
  EXPECT_EQ(FormatOf("").error().code, errc::unsupported_media_type);
  EXPECT_EQ(ResponseFormat("application/json", BodyFormat::kProtobuf), BodyFormat::kJson);
  EXPECT_EQ(ResponseFormat("*/*", BodyFormat::kProtobuf), BodyFormat::kProtobuf);
  EXPECT_EQ(*CanonicalUuid("0F8FAD5B-D9CB-469F-A165-70867728950E"), kUuid);
  for (const char* bad :
       {"", "0f8fad5b", "0f8fad5b-d9cb-469f-a165-70867728950",
        "0f8fad5bxd9cb-469f-a165-70867728950e", "0f8fad5b-d9cb-469f-a165-70867728950g"}) {
    EXPECT_EQ(CanonicalUuid(bad).error().code, errc::bad_request) << bad;
  }
}

v1::Evidence Good() { return testing::SampleEvidence(kUuid); }

TEST(DecodeTest, EvidenceShape) {
  v1::Evidence ok = Good();
  EXPECT_TRUE(CheckEvidence(kUuid, &ok).ok());
  using Mutator = void (*)(v1::Evidence*);
  Mutator bad[] = {
      [](v1::Evidence* e) { e->set_agent_uuid("0f8fad5b-d9cb-469f-a165-70867728950f"); },
      [](v1::Evidence* e) { e->clear_challenge_token(); },
      [](v1::Evidence* e) { e->clear_quote(); },
      [](v1::Evidence* e) { e->mutable_quote()->set_attest(std::string(3000, 'a')); },
      [](v1::Evidence* e) { e->mutable_quote()->clear_signature(); },
      [](v1::Evidence* e) { e->mutable_quote()->clear_pcrs(); },
      [](v1::Evidence* e) {
        e->mutable_quote()->mutable_pcrs(0)->set_hash_algorithm(v1::HASH_ALGORITHM_UNSPECIFIED);
      },
      [](v1::Evidence* e) { *e->mutable_quote()->add_pcrs() = e->quote().pcrs(0); },
      [](v1::Evidence* e) {
        (*e->mutable_quote()->mutable_pcrs(0)->mutable_values())[24] = std::string(20, '\0');
      },
      [](v1::Evidence* e) {
        (*e->mutable_quote()->mutable_pcrs(0)->mutable_values())[1] = std::string(32, '\0');
      },
      [](v1::Evidence* e) { e->mutable_ima()->set_entry_count(1); },
      [](v1::Evidence* e) {
        e->mutable_ima()->set_data("x");
        e->mutable_ima()->set_format(v1::IMA_LOG_FORMAT_UNSPECIFIED);
      },
      [](v1::Evidence* e) {
        e->mutable_ima()->set_start_offset(UINT64_MAX);
        e->mutable_ima()->set_entry_count(2);
        e->mutable_ima()->set_data("x");
        e->mutable_ima()->set_format(v1::IMA_LOG_FORMAT_ASCII);
      },
      [](v1::Evidence* e) { e->mutable_boot_time()->set_nanos(-1); },
      [](v1::Evidence* e) { e->mutable_capabilities()->set_agent_version(std::string(300, 'v')); },
  };
  for (size_t i = 0; i < std::size(bad); ++i) {
    v1::Evidence e = Good();
    bad[i](&e);
    auto r = CheckEvidence(kUuid, &e);
    ASSERT_FALSE(r.ok()) << "case " << i;
    EXPECT_EQ(r.error().code, errc::bad_request) << "case " << i;
  }
}

// The gateway's part of the evidence contract: the body UUID in either case
// is the path's and is stored canonical; a shape error (common/evidence) is a
// 400 with the module's message; the limits passed are the ones applied.
TEST(DecodeTest, EvidenceUuidIsCanonicalizedAndShapeErrorsAre400) {
  v1::Evidence e = Good();
  e.set_agent_uuid("0F8FAD5B-D9CB-469F-A165-70867728950E");
  ASSERT_TRUE(CheckEvidence(kUuid, &e).ok());
  EXPECT_EQ(e.agent_uuid(), kUuid);
  e.set_agent_uuid("0f8fad5b-d9cb-469f-a165-70867728950");
  auto bad_uuid = CheckEvidence(kUuid, &e);
  ASSERT_FALSE(bad_uuid.ok());
  EXPECT_EQ(bad_uuid.error().code, errc::bad_request);
  EXPECT_EQ(bad_uuid.error().message.rfind("agent_uuid: '", 0), 0u) << bad_uuid.error().message;

  e = Good();
  e.set_uefi_log(std::string(101, 'u'));
  EXPECT_TRUE(CheckEvidence(kUuid, &e).ok());
  auto r = CheckEvidence(kUuid, &e, evidence::LimitsForBody(100));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, errc::bad_request);
  EXPECT_EQ(r.error().message, "uefi_log: 101 bytes, above 100");

  v1::ChallengeRequest req;
  req.set_agent_uuid("0F8FAD5B-D9CB-469F-A165-70867728950E");
  req.mutable_capabilities()->set_agent_version(std::string(257, 'v'));
  auto c = CheckChallengeRequest(kUuid, &req);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, errc::bad_request);
  EXPECT_EQ(req.agent_uuid(), kUuid);
}

TEST(DecodeTest, DecodesBothFormats) {
  v1::Evidence e = Good();
  v1::Evidence out;
  ASSERT_TRUE(DecodeBody(BodyFormat::kProtobuf, e.SerializeAsString(), &out).ok());
  EXPECT_EQ(out.agent_uuid(), kUuid);
  auto json = EncodeBody(BodyFormat::kJson, e);
  ASSERT_TRUE(json.ok());
  v1::Evidence from_json;
  ASSERT_TRUE(DecodeBody(BodyFormat::kJson, *json, &from_json).ok()) << *json;
  EXPECT_EQ(from_json.SerializeAsString(), e.SerializeAsString());
  EXPECT_EQ(DecodeBody(BodyFormat::kJson, "[1,2", &out).error().code, errc::bad_request);
  EXPECT_EQ(DecodeBody(BodyFormat::kProtobuf, "\x0a\xff", &out).error().code, errc::bad_request);
}

SysClock::time_point At(int64_t s) { return SysClock::time_point(std::chrono::seconds(s)); }

// Issue 16.3: a body the gateway accepts must fit one Kafka message, or an
// agent with a long IMA list gets 503 for ever: contradicting limits refuse
// to start, naming both keys.
TEST(GatewayConfigTest, SizeLimitsThatContradictRefuseToStart) {
  // An 8 MiB body limit with `kafka` keys appended to the [kafka] table.
  auto big_body = [](const std::string& kafka_keys) {
    return Parse(R"(
[server]
cert_file = "c.pem"
key_file = "k.pem"
max_body_bytes = 8388608
[token]
key_files = ["a.key"]
[database]
conninfo = "host=db"
[kafka]
bootstrap_servers = "k:9092"
)" + kafka_keys);
  };
  auto refused = big_body("");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("kafka.message_max_bytes"), std::string::npos);
  EXPECT_NE(refused.error().message.find("server.max_body_bytes"), std::string::npos);
  auto raised = Parse(kMinimal + "message_max_bytes = 1048576\n");
  ASSERT_FALSE(raised.ok());  // below the default body + envelope
  auto both = big_body("message_max_bytes = 8454144\ncompression = \"zstd\"\n");
  ASSERT_TRUE(both.ok()) << both.error().ToString();
  EXPECT_EQ(both->kafka_message_max_bytes, 8454144u);
}

// Issue 17 follow-up: server.max_body_bytes goes to agents as
// max_evidence_bytes, and an agent leaves out a UEFI log that does not fit
// (agent.cc), which the worker now FAILs (measured_boot.log_withheld). A
// body limit too small for the agent's default 1 MiB log would turn every
// honest agent with a large log into FAIL: the gateway refuses to start.
TEST(GatewayConfigTest, BodyLimitBelowAnAgentsUefiLogRefusesToStart) {
  auto with_body = [](int64_t bytes) {
    return Parse(R"(
[server]
cert_file = "c.pem"
key_file = "k.pem"
max_body_bytes = )" +
                 std::to_string(bytes) +
                 R"(
[token]
key_files = ["a.key"]
[database]
conninfo = "host=db"
[kafka]
bootstrap_servers = "k:9092"
)");
  };
  // The agent's default uefi_log_max_bytes (agent/config.h) and the floor.
  constexpr int64_t kAgentDefaultUefiLogMax = 1 << 20;
  ASSERT_GT(static_cast<int64_t>(kMinBodyBytes), kAgentDefaultUefiLogMax + 4096);
  for (int64_t bytes : {int64_t{1024}, int64_t{64} << 10, kAgentDefaultUefiLogMax,
                        static_cast<int64_t>(kMinBodyBytes) - 1}) {
    auto refused = with_body(bytes);
    ASSERT_FALSE(refused.ok()) << bytes;
    EXPECT_EQ(refused.error().code, errc::invalid_config) << bytes;
    EXPECT_NE(refused.error().message.find("server.max_body_bytes"), std::string::npos)
        << refused.error().message;
    EXPECT_NE(refused.error().message.find(std::to_string(kMinBodyBytes)), std::string::npos)
        << refused.error().message;
  }
  auto at_floor = with_body(kMinBodyBytes);
  ASSERT_TRUE(at_floor.ok()) << at_floor.error().ToString();
  EXPECT_EQ(at_floor->server.max_body_bytes, kMinBodyBytes);
  // The Kafka check still holds above the floor.
  auto kafka_too_small = Parse(kMinimal + "message_max_bytes = " +
                               std::to_string((2 << 20) + kEnvelopeOverheadBytes - 1) + "\n");
  ASSERT_FALSE(kafka_too_small.ok());
  EXPECT_NE(kafka_too_small.error().message.find("kafka.message_max_bytes"), std::string::npos);
}

TEST(ChallengeDecisionTest, CatchingUpIsNeverTooEarlyAndComesBackSoon) {
  ChallengeConfig cfg;
  v1::ChallengeRequest req;
  EnrolmentRow row;
  row.registration_state = "active";
  row.enrolled = true;
  row.state = "ENROLLED";
  row.interval_seconds = 100;
  row.ima_offset = 7000;
  row.last_attestation_ms = 1'000'000;
  EXPECT_EQ(Decide(kUuid, row, req, At(1001), cfg).kind, ChallengeDecision::Kind::kTooEarly);
  row.ima_catching_up = true;
  auto d = Decide(kUuid, row, req, At(1001), cfg);
  EXPECT_EQ(d.kind, ChallengeDecision::Kind::kChallenge);
  EXPECT_EQ(d.ima_offset, 7000u);
  EXPECT_EQ(d.interval_seconds, 2u);
}

TEST(ChallengeDecisionTest, Rules) {
  ChallengeConfig cfg;
  v1::ChallengeRequest req;
  EXPECT_EQ(Decide(kUuid, std::nullopt, req, At(1000), cfg).kind,
            ChallengeDecision::Kind::kNotFound);
  EnrolmentRow row;
  row.registration_state = "active";
  row.enrolled = false;
  EXPECT_EQ(Decide(kUuid, row, req, At(1000), cfg).kind, ChallengeDecision::Kind::kNotFound);
  row.enrolled = true;
  row.state = "FAILED";
  row.interval_seconds = 100;
  row.ima_offset = 9;
  row.boot_log_requested = false;
  row.last_attestation_ms = 1'000'000;  // t = 1000 s
  row.boot_time_ms = 500'000;
  auto early = Decide(kUuid, row, req, At(1050), cfg);
  EXPECT_EQ(early.kind, ChallengeDecision::Kind::kTooEarly);
  EXPECT_EQ(early.retry_after, 30s);  // 1000 + 80 - 1050
  auto due = Decide(kUuid, row, req, At(1080), cfg);
  EXPECT_EQ(due.kind, ChallengeDecision::Kind::kChallenge);
  EXPECT_EQ(due.ima_offset, 9u);
  EXPECT_FALSE(due.uefi_log_requested);
  EXPECT_EQ(due.interval_seconds, 100u);
  // Same boot within the tolerance: still too early.
  req.mutable_capabilities()->mutable_boot_time()->set_seconds(501);
  EXPECT_EQ(Decide(kUuid, row, req, At(1050), cfg).kind, ChallengeDecision::Kind::kTooEarly);
  // A new boot: at once, IMA from 0, UEFI log.
  req.mutable_capabilities()->mutable_boot_time()->set_seconds(900);
  auto reboot = Decide(kUuid, row, req, At(1050), cfg);
  EXPECT_EQ(reboot.kind, ChallengeDecision::Kind::kChallenge);
  EXPECT_TRUE(reboot.reboot);
  EXPECT_EQ(reboot.ima_offset, 0u);
  EXPECT_TRUE(reboot.uefi_log_requested);
}

// Issue 17.4: the gateway and the worker judge "a new boot" by one rule
// (IsNewBoot, common/base/boot_time.h) and one key/default
// (challenge.boot_time_tolerance_seconds = 2; tests/verifier/rollback_test.cc
// checks the worker's side).
TEST(ChallengeDecisionTest, BootTimeJitterIsNotARebootALargeChangeIs) {
  ChallengeConfig cfg;
  EXPECT_EQ(cfg.boot_time_tolerance, kDefaultBootTimeTolerance);
  EnrolmentRow row;
  row.registration_state = "active";
  row.enrolled = true;
  row.state = "PASS";
  row.interval_seconds = 100;
  row.last_attestation_ms = 1'000'000;
  row.boot_time_ms = 500'000;
  auto decide = [&](int64_t seconds, int32_t nanos) {
    v1::ChallengeRequest req;
    req.mutable_capabilities()->mutable_boot_time()->set_seconds(seconds);
    req.mutable_capabilities()->mutable_boot_time()->set_nanos(nanos);
    return Decide(kUuid, row, req, At(1050), cfg);
  };
  for (auto [s, n] : {std::pair{499, 0}, std::pair{501, 0}, std::pair{501, 999'999'999},
                      std::pair{502, 0}, std::pair{498, 0}}) {
    auto d = decide(s, n);
    EXPECT_FALSE(d.reboot) << s << "." << n;
    EXPECT_EQ(d.kind, ChallengeDecision::Kind::kTooEarly) << s;
    EXPECT_EQ(d.reboot, IsNewBoot(std::chrono::seconds(500), std::chrono::seconds(s),
                                  kDefaultBootTimeTolerance));
  }
  for (int64_t s : {497, 503, 560, 10'000}) {
    auto d = decide(s, 0);
    EXPECT_TRUE(d.reboot) << s;
    EXPECT_EQ(d.kind, ChallengeDecision::Kind::kChallenge) << s;
  }
  auto zero = Parse(kMinimal + "[challenge]\nboot_time_tolerance_seconds = 0\n");
  ASSERT_TRUE(zero.ok()) << zero.error().ToString();
  cfg = zero->challenge;
  EXPECT_TRUE(decide(501, 0).reboot);
  EXPECT_FALSE(decide(500, 0).reboot);
}

}  // namespace
}  // namespace attest::gateway
