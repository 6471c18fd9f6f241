// `attestctl verdicts tail` end to end: the real binary as a subprocess
// against Apache Kafka (the run's shared cluster, on topics of this suite's
// own). Verdicts are produced in both encodings (Protobuf
// and JSON, each with its content-type header) and revocations are signed by
// the worker's RevocationSigner, so the tool reads exactly what a worker
// publishes.
#include <gtest/gtest.h>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "attest/v1/verdict.pb.h"
#include "common/kafka/producer.h"
#include "tests/harness/kafka/kafka_cluster.h"
#include "tests/harness/util/process.h"
#include "verifier-workers/revocation.h"

namespace attest::testing {
namespace {

using namespace std::chrono_literals;

const std::string kAgentA = "aaaaaaaa-0000-4000-8000-000000000001";
const std::string kAgentB = "bbbbbbbb-0000-4000-8000-000000000002";
const std::string kAgentC = "cccccccc-0000-4000-8000-000000000003";  // --count
const std::string kAgentNew = "dddddddd-0000-4000-8000-000000000004";
const std::string kAgentNone = "eeeeeeee-0000-4000-8000-000000000005";  // never published
const std::string kTamperEvent = "ima.validation.ima-ng.not_in_allowlist";

enum class Enc { kProto, kJson };

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// Only the lines naming `needle`.
std::vector<std::string> LinesWith(const std::string& text, const std::string& needle) {
  std::vector<std::string> out;
  for (auto& l : Lines(text)) {
    if (l.find(needle) != std::string::npos) out.push_back(l);
  }
  return out;
}

v1::Verdict MakeVerdict(const std::string& agent, uint64_t seq, v1::VerdictResult result,
                        v1::AgentState state) {
  v1::Verdict v;
  v.set_agent_uuid(agent);
  v.set_sequence(seq);
  v.set_result(result);
  v.set_state(state);
  v.set_worker_id("test-worker");
  *v.mutable_time() = google::protobuf::util::TimeUtil::GetCurrentTime();
  return v;
}

// One pair of topics, one producer and one signing key for the whole suite;
// every test reads the same records (each tail has its own consumer group).
class VerdictsTailTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto& kafka = KafkaCluster::Shared();
    bootstrap_ = new std::string(kafka.bootstrap());
    verdict_topic_ = new std::string(UniqueName("attestation.verdicts"));
    revocation_topic_ = new std::string(UniqueName("attestation.revocations"));
    // Three partitions each, as the pipeline's: --count must keep one
    // agent's records in partition order.
    CreateTopics(kafka, {{*verdict_topic_, 3, 0, {}}, {*revocation_topic_, 3, 0, {}}});
    kafka::ProducerConfig config;
    config.bootstrap_servers = *bootstrap_;
    auto producer = kafka::Producer::Create(config);
    ASSERT_TRUE(producer) << producer.error().message;
    producer_ = producer->release();
    keys_ = new TempDir("attestctl-verdicts");
    const std::string key = (keys_->path() / "revocation.pem").string();
    ASSERT_EQ(RunCommand({"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                          "ec_paramgen_curve:P-256", "-out", key}),
              0);
    ASSERT_EQ(RunCommand({"openssl", "pkey", "-in", key, "-pubout", "-out", PublicKey()}), 0);
    auto signer = worker::RevocationSigner::Load(key, "test-key");
    ASSERT_TRUE(signer) << signer.error().message;
    signer_ = new std::shared_ptr<const worker::RevocationSigner>(*signer);

    // Agent A: pass (protobuf), then fail (JSON) with a path, then its
    // revocation (protobuf, valid) and a forged one (JSON, bad signature).
    Publish(MakeVerdict(kAgentA, 1, v1::VERDICT_RESULT_PASS, v1::AGENT_STATE_PASS), Enc::kProto);
    v1::Verdict fail = MakeVerdict(kAgentA, 2, v1::VERDICT_RESULT_FAIL, v1::AGENT_STATE_FAILED);
    v1::Failure* f = fail.add_failures();
    f->set_event_id(kTamperEvent);
    f->set_severity(v1::SEVERITY_CRITICAL);
    f->set_context(R"({"path":"/usr/bin/evil","entry":42})");
    Publish(fail, Enc::kJson);
    PublishRevocation(kAgentA, 2, Enc::kProto, /*forge=*/false);
    PublishRevocation(kAgentA, 3, Enc::kJson, /*forge=*/true);
    // Agent B: pass (JSON), offline (protobuf).
    Publish(MakeVerdict(kAgentB, 1, v1::VERDICT_RESULT_PASS, v1::AGENT_STATE_PASS), Enc::kJson);
    Publish(MakeVerdict(kAgentB, 2, v1::VERDICT_RESULT_OFFLINE, v1::AGENT_STATE_OFFLINE),
            Enc::kProto);
    // Agent C: three passes (one partition, in order) for --count.
    for (uint64_t s = 1; s <= 3; ++s) {
      Publish(MakeVerdict(kAgentC, s, v1::VERDICT_RESULT_PASS, v1::AGENT_STATE_PASS),
              s % 2 ? Enc::kProto : Enc::kJson);
    }
    // A record that is no verdict at all: reported, skipped, not fatal.
    Produce(*verdict_topic_, kAgentB, "\xff\xff not protobuf", "application/x-protobuf");
  }

  static void TearDownTestSuite() {
    delete producer_;
    delete signer_;
    delete keys_;
    delete revocation_topic_;
    delete verdict_topic_;
    delete bootstrap_;
  }

  static std::string PublicKey() { return (keys_->path() / "revocation.pub.pem").string(); }

  static void Produce(const std::string& topic, const std::string& key, const std::string& value,
                      const std::string& content_type) {
    ASSERT_NE(producer_, nullptr);
    // Shared: the callback may outlive this call if the flush times out.
    auto delivered = std::make_shared<std::atomic<bool>>(false);
    // Flushed one by one: records land in the order the tests expect.
    ASSERT_TRUE(
        producer_->Produce(topic, key, value, {{"content-type", content_type}},
                           [delivered](const Result<kafka::Delivery>& d) { *delivered = d.ok(); }));
    ASSERT_TRUE(producer_->Flush(20s));
    ASSERT_TRUE(*delivered) << topic << " " << key;
  }

  template <typename Message>
  static void PublishMessage(const std::string& topic, const std::string& key, const Message& m,
                             Enc enc) {
    std::string value;
    if (enc == Enc::kJson) {
      ASSERT_TRUE(google::protobuf::util::MessageToJsonString(m, &value).ok());
      Produce(topic, key, value, "application/json");
    } else {
      m.SerializeToString(&value);
      Produce(topic, key, value, "application/x-protobuf");
    }
  }

  static void Publish(const v1::Verdict& v, Enc enc) {
    PublishMessage(*verdict_topic_, v.agent_uuid(), v, enc);
  }

  static void PublishRevocation(const std::string& agent, uint64_t seq, Enc enc, bool forge) {
    v1::RevocationEvent ev;
    ev.set_agent_uuid(agent);
    ev.set_sequence(seq);
    ev.set_reason(kTamperEvent);
    ev.add_event_ids(kTamperEvent);
    *ev.mutable_time() = google::protobuf::util::TimeUtil::GetCurrentTime();
    auto signed_ev = (*signer_)->Sign(ev);
    ASSERT_TRUE(signed_ev) << signed_ev.error().message;
    if (forge) {
      std::string sig = signed_ev->signature();
      sig[sig.size() / 2] = static_cast<char>(sig[sig.size() / 2] ^ 0x5a);
      signed_ev->set_signature(sig);
    }
    PublishMessage(*revocation_topic_, agent, *signed_ev, enc);
  }

  // attestctl verdicts tail --bootstrap <kafka> --verdict-topic ...
  // --revocation-topic ... <args>.
  static std::vector<std::string> TailCommand(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {ATTESTCTL_BIN,   "verdicts",           "tail",
                                     "--bootstrap",   *bootstrap_,          "--verdict-topic",
                                     *verdict_topic_, "--revocation-topic", *revocation_topic_};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  // Its exit code; stdout+stderr appended to `out`.
  int Tail(const std::vector<std::string>& args, std::string* out) {
    return RunCommand(TailCommand(args), out);
  }

  static std::string* bootstrap_;
  static std::string* verdict_topic_;
  static std::string* revocation_topic_;
  static kafka::Producer* producer_;
  static TempDir* keys_;
  static std::shared_ptr<const worker::RevocationSigner>* signer_;
};

std::string* VerdictsTailTest::bootstrap_ = nullptr;
std::string* VerdictsTailTest::verdict_topic_ = nullptr;
std::string* VerdictsTailTest::revocation_topic_ = nullptr;
kafka::Producer* VerdictsTailTest::producer_ = nullptr;
TempDir* VerdictsTailTest::keys_ = nullptr;
std::shared_ptr<const worker::RevocationSigner>* VerdictsTailTest::signer_ = nullptr;

TEST_F(VerdictsTailTest, FromBeginningDecodesBothEncodings) {
  std::string out;
  ASSERT_EQ(Tail({"--from-beginning", "--timeout", "6"}, &out), 0) << out;
  // Text: time agent seq=N result state=STATE [failures: id (path)].
  const auto a = LinesWith(out, kAgentA);
  ASSERT_EQ(a.size(), 2u) << out;
  const auto fail = LinesWith(out, kAgentA + " seq=2 fail state=FAILED");
  ASSERT_EQ(fail.size(), 1u) << out;
  EXPECT_NE(fail[0].find("failures: " + kTamperEvent + " (/usr/bin/evil)"), std::string::npos)
      << fail[0];
  EXPECT_EQ(LinesWith(out, kAgentA + " seq=1 pass state=PASS").size(), 1u) << out;
  EXPECT_EQ(LinesWith(out, kAgentB + " seq=1 pass state=PASS").size(), 1u) << out;
  EXPECT_EQ(LinesWith(out, kAgentB + " seq=2 offline state=OFFLINE").size(), 1u) << out;
  EXPECT_EQ(LinesWith(out, kAgentC).size(), 3u) << out;
  // The undecodable record is named on stderr, the rest still printed.
  EXPECT_EQ(LinesWith(out, "not a Verdict (protobuf)").size(), 1u) << out;
  // Revocations only with --revocations.
  EXPECT_TRUE(LinesWith(out, "revoked").empty()) << out;
}

TEST_F(VerdictsTailTest, FiltersByAgentAndResult) {
  std::string out;
  ASSERT_EQ(Tail({"--from-beginning", "--agent", kAgentA, "--result", "fail", "--count", "1",
                  "--timeout", "20"},
                 &out),
            0)
      << out;
  ASSERT_EQ(LinesWith(out, kAgentA).size(), 1u) << out;
  EXPECT_NE(out.find(kAgentA + " seq=2 fail"), std::string::npos) << out;
  EXPECT_EQ(out.find(kAgentB), std::string::npos) << out;

  // Repeated flags are alternatives; upper-case UUIDs match too.
  out.clear();
  std::string upper_b = kAgentB;
  for (char& c : upper_b) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ASSERT_EQ(Tail({"--from-beginning", "--agent", kAgentA, "--agent", upper_b, "--result", "offline",
                  "--result", "fail", "--timeout", "6"},
                 &out),
            0)
      << out;
  EXPECT_EQ(LinesWith(out, " seq=").size(), 2u) << out;
  EXPECT_EQ(LinesWith(out, kAgentA + " seq=2 fail").size(), 1u) << out;
  EXPECT_EQ(LinesWith(out, kAgentB + " seq=2 offline").size(), 1u) << out;
}

TEST_F(VerdictsTailTest, CountStopsAfterNRecordsInPartitionOrder) {
  std::string out;
  ASSERT_EQ(Tail({"--from-beginning", "--agent", kAgentC, "--count", "2", "--timeout", "20"}, &out),
            0)
      << out;
  const auto c = LinesWith(out, kAgentC);
  ASSERT_EQ(c.size(), 2u) << out;
  EXPECT_NE(c[0].find("seq=1 "), std::string::npos) << out;
  EXPECT_NE(c[1].find("seq=2 "), std::string::npos) << out;
}

TEST_F(VerdictsTailTest, CountNotReachedBeforeTimeoutExitsFour) {
  std::string out;
  EXPECT_EQ(
      Tail({"--from-beginning", "--agent", kAgentNone, "--count", "1", "--timeout", "2"}, &out), 4)
      << out;
  EXPECT_NE(out.find("0 of 1 records"), std::string::npos) << out;
}

TEST_F(VerdictsTailTest, JsonLinesUseTheProtobufJsonMapping) {
  std::string out;
  ASSERT_EQ(Tail({"--from-beginning", "--json", "--agent", kAgentA, "--timeout", "6"}, &out), 0)
      << out;
  int verdicts = 0;
  for (const auto& line : Lines(out)) {
    if (line.rfind("attestctl:", 0) == 0) continue;  // stderr notices
    const auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_EQ(j.value("agentUuid", ""), kAgentA) << line;
    ++verdicts;
    if (j.value("result", "") == "VERDICT_RESULT_FAIL") {
      EXPECT_EQ(j.value("sequence", ""), "2") << line;  // uint64 maps to a JSON string
      EXPECT_EQ(j.value("state", ""), "AGENT_STATE_FAILED") << line;
      ASSERT_TRUE(j.contains("failures")) << line;
      EXPECT_EQ(j["failures"][0].value("eventId", ""), kTamperEvent) << line;
    } else {
      EXPECT_EQ(j.value("result", ""), "VERDICT_RESULT_PASS") << line;
    }
  }
  EXPECT_EQ(verdicts, 2) << out;
}

TEST_F(VerdictsTailTest, RevocationsAreVerifiedWithThePublishedKey) {
  std::string out;
  // One valid and one forged revocation: the forged one makes the exit 1.
  EXPECT_EQ(Tail({"--from-beginning", "--revocation-key", PublicKey(), "--agent", kAgentA,
                  "--timeout", "6"},
                 &out),
            1)
      << out;
  const auto revoked = LinesWith(out, " revoked ");
  ASSERT_EQ(revoked.size(), 2u) << out;
  EXPECT_EQ(LinesWith(out, kAgentA + " seq=2 revoked reason=" + kTamperEvent).size(), 1u) << out;
  EXPECT_EQ(LinesWith(out, "seq=2 revoked").front().find("signature=valid") != std::string::npos,
            true)
      << out;
  EXPECT_NE(LinesWith(out, "seq=3 revoked").front().find("signature=invalid"), std::string::npos)
      << out;
  // Verdicts are still there.
  EXPECT_EQ(LinesWith(out, kAgentA + " seq=2 fail").size(), 1u) << out;

  // JSON: the event, its key id and the check.
  out.clear();
  EXPECT_EQ(Tail({"--from-beginning", "--revocation-key", PublicKey(), "--agent", kAgentA,
                  "--result", "offline", "--json", "--timeout", "6"},
                 &out),
            1)
      << out;
  int valid = 0, invalid = 0;
  for (const auto& line : Lines(out)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    ASSERT_TRUE(j.contains("revocation")) << line;  // --result offline: no verdict of A
    EXPECT_EQ(j["revocation"].value("agentUuid", ""), kAgentA);
    EXPECT_EQ(j.value("keyId", ""), "test-key");
    EXPECT_EQ(j.value("signatureAlgorithm", ""), "ecdsa-p256-sha256");
    (j.value("signatureCheck", "") == "valid" ? valid : invalid)++;
  }
  EXPECT_EQ(valid, 1) << out;
  EXPECT_EQ(invalid, 1) << out;

  // Without a key the signature is not checked and the exit is 0.
  out.clear();
  EXPECT_EQ(Tail({"--from-beginning", "--revocations", "--agent", kAgentA, "--timeout", "6"}, &out),
            0)
      << out;
  EXPECT_EQ(LinesWith(out, "signature=unchecked").size(), 2u) << out;
  EXPECT_EQ(LinesWith(out, kAgentA + " seq=2 fail").size(), 1u) << out;

  // Revocations only: the first one of A (same key, same partition, in
  // order) is the valid one.
  out.clear();
  EXPECT_EQ(Tail({"--from-beginning", "--only-revocations", "--revocation-key", PublicKey(),
                  "--agent", kAgentA, "--count", "1", "--timeout", "20"},
                 &out),
            0)
      << out;
  EXPECT_EQ(LinesWith(out, " seq=").size(), 1u) << out;
  EXPECT_EQ(LinesWith(out, kAgentA + " seq=2 revoked").size(), 1u) << out;
  EXPECT_EQ(LinesWith(out, "signature=valid").size(), 1u) << out;
}

TEST_F(VerdictsTailTest, WithoutFromBeginningOnlyNewRecords) {
  TempDir dir("attestctl-tail-new");
  const std::string log = (dir.path() / "tail.log").string();
  Subprocess tail(TailCommand({"--count", "1", "--timeout", "30"}), log);
  ASSERT_TRUE(WaitFor(
      [&] {
        try {
          return ReadFile(log).find("attestctl: tailing") != std::string::npos;
        } catch (const std::exception&) {
          return false;
        }
      },
      30s))
      << ReadFile(log);
  Publish(MakeVerdict(kAgentNew, 1, v1::VERDICT_RESULT_RESUMED, v1::AGENT_STATE_PASS), Enc::kJson);
  EXPECT_EQ(tail.Wait(30s), 0) << ReadFile(log);
  const std::string out = ReadFile(log);
  EXPECT_EQ(LinesWith(out, kAgentNew + " seq=1 resumed state=PASS").size(), 1u) << out;
  EXPECT_EQ(out.find(kAgentA), std::string::npos) << out;
}

TEST_F(VerdictsTailTest, BadFlagsExitTwo) {
  std::string out;
  EXPECT_EQ(Tail({"--result", "maybe"}, &out), 2) << out;
  EXPECT_NE(out.find("--result"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(Tail({"--agent", "not-a-uuid"}, &out), 2) << out;
  EXPECT_NE(out.find("not a UUID"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(Tail({"--count", "0"}, &out), 2) << out;
  out.clear();
  EXPECT_EQ(Tail({"--revocation-key", "/nonexistent/key.pem"}, &out), 2) << out;
  EXPECT_NE(out.find("/nonexistent/key.pem"), std::string::npos) << out;
  out.clear();
  const std::string garbage = (keys_->path() / "garbage.pem").string();
  ASSERT_EQ(RunCommand({"sh", "-c", "echo not a key > " + garbage}), 0);
  EXPECT_EQ(Tail({"--revocation-key", garbage}, &out), 2) << out;
  // --kafka-property reaches librdkafka (compose's SASL login): a malformed
  // one, or one librdkafka does not know, is a usage error.
  out.clear();
  EXPECT_EQ(Tail({"--kafka-property", "no-equals-sign"}, &out), 2) << out;
  EXPECT_NE(out.find("--kafka-property no-equals-sign"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(Tail({"--kafka-property", "no.such.property=1"}, &out), 2) << out;
  EXPECT_NE(out.find("No such configuration property: \"no.such.property\""), std::string::npos)
      << out;
}

TEST_F(VerdictsTailTest, UnreachableBrokerExitsThreeAfterConnectTimeout) {
  const std::string nowhere = "127.0.0.1:" + std::to_string(FreePort());
  std::string out;
  EXPECT_EQ(RunCommand({ATTESTCTL_BIN, "verdicts", "tail", "--bootstrap", nowhere,
                        "--connect-timeout", "2"},
                       &out),
            3)
      << out;
  EXPECT_NE(out.find("no answer from Kafka at " + nowhere), std::string::npos) << out;
  // The environment variable is the default.
  out.clear();
  EXPECT_EQ(RunCommand({ATTESTCTL_BIN, "verdicts", "tail", "--connect-timeout", "1"}, &out,
                       {"KAFKA_BOOTSTRAP_SERVERS=" + nowhere}),
            3)
      << out;
  EXPECT_NE(out.find(nowhere), std::string::npos) << out;
}

}  // namespace
}  // namespace attest::testing
