// The push path end to end with real parts: the attest-agent binary on swtpm
// registers and activates at a registrar (in process, real PostgreSQL), is
// enrolled through the admin API, and attests twice through a real
// attest-gateway process to Apache Kafka (the run's node, the pipeline
// topics under unique names). Each record on the evidence topic must have
// key = agent UUID, be on partition PartitionFor(uuid), decode as an
// EvidenceEnvelope, carry a challenge token the gateway's key verifies for
// that UUID, and a quote that the verification core (common/verifier, which
// runs common/checks's quote check) accepts against the registered AK with
// the token as nonce; the second quote must not be a replay of the first.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <fstream>
#include <pqxx/pqxx>
#include <set>
#include <sstream>

#include "attest/v1/attestation.pb.h"
#include "common/kafka/partitioner.h"
#include "common/protoconv/hash_alg.h"
#include "common/token/token.h"
#include "common/verifier/verifier.h"
#include "tests/gateway/topic_reader.h"
#include "tests/harness/kafka/kafka_cluster.h"
#include "tests/harness/swtpm/swtpm.h"
#include "tests/registrar/fixture.h"

namespace attest::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using registrar::testing::RegistrarTest;

constexpr int64_t kBootTime = 1700000000;
constexpr int kEvidencePartitions = 12;

const char* kImaList =
    "10 0000000000000000000000000000000000000001 ima-ng sha256:"
    "1111111111111111111111111111111111111111111111111111111111111111 boot_aggregate\n"
    "10 0000000000000000000000000000000000000002 ima-ng sha256:"
    "2222222222222222222222222222222222222222222222222222222222222222 /usr/bin/a\n";

tpm::Bytes FromHex(const std::string& hex) {
  tpm::Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string FailureIds(const checks::Failures& fs) {
  std::string out;
  for (const auto& f : fs) out += f.event_id + " ";
  return out;
}

class AgentGatewayTest : public RegistrarTest {
 protected:
  void SetUp() override {
    RegistrarTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    for (const char* k : {"https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy",
                          "ALL_PROXY", "no_proxy", "NO_PROXY"}) {
      ::unsetenv(k);
    }
    topics_ = CreatePipelineTopics(KafkaCluster::Shared(), kEvidencePartitions);
    tpm_ = std::make_unique<Swtpm>();
    gw_cert_ = std::make_unique<IssuedCert>(pki_->IssueServer("gateway"));
    key_file_ = work_.path() / "token.key";
    std::ofstream(key_file_) << std::string(64, 'e') << "\n";
    std::ofstream(work_.path() / "ima.txt") << kImaList;
    std::ofstream(work_.path() / "uefi.bin") << "fake UEFI event log";
  }

  void TearDown() override {
    gateway_.reset();  // SIGTERM (drains), then the TPM goes
    tpm_.reset();
    RegistrarTest::TearDown();
  }

  // Starts attest-gateway on a free port and waits for /readyz.
  void StartGateway() {
    gw_port_ = FreePort();
    const fs::path config = work_.path() / "gateway.toml";
    std::ofstream(config) << fmt::format(R"(gateway_id = "gw-e2e"
[server]
listen = "127.0.0.1:{}"
cert_file = "{}"
key_file = "{}"
io_threads = 2
[token]
key_files = ["{}"]
[database]
conninfo = "{} connect_timeout=2"
pool_size = 1
[kafka]
bootstrap_servers = "{}"
topic = "{}"
)",
                                         gw_port_, gw_cert_->cert.string(), gw_cert_->key.string(),
                                         key_file_.string(), conninfo(), bootstrap(),
                                         topics_.evidence);
    gw_log_ = work_.path() / "gateway.log";
    gateway_ = std::make_unique<Subprocess>(
        std::vector<std::string>{ATTEST_GATEWAY_BINARY, "--config", config.string()},
        gw_log_.string());
    auto probe = Agent(static_cast<uint16_t>(gw_port_));
    ASSERT_TRUE(WaitFor(
        [&] {
          auto r = probe.Get("/readyz");
          return r.ok() && r->status == 200;
        },
        30s))
        << ReadFile(gw_log_);
  }

  void WriteAgentConfig(uint16_t registrar_port) {
    std::ofstream(work_.path() / "agent.toml") << fmt::format(
        R"(state_dir = "{}"
tcti = "{}"
ek_type = "rsa"
ak_type = "rsa"
ima_log = "{}"
uefi_log = "{}"
boot_time = {}
retry_initial_ms = 100
retry_max_ms = 400
connect_timeout_ms = 2000
[tls]
ca_file = "{}"
[[servers]]
registrars = ["https://127.0.0.1:{}"]
verifiers = ["https://127.0.0.1:{}"]
)",
        (work_.path() / "state").string(), tpm_->tcti(), (work_.path() / "ima.txt").string(),
        (work_.path() / "uefi.bin").string(), kBootTime, pki_->ca_cert().string(), registrar_port,
        gw_port_);
  }

  // `attest-agent --once`; its exit code (-1 on timeout).
  int RunAgentOnce() {
    Subprocess p({ATTEST_AGENT_BINARY, "--config", (work_.path() / "agent.toml").string(),
                  "--log-level", "debug", "--once"},
                 agent_log().string());
    return p.Wait(60s);
  }

  fs::path agent_log() const { return work_.path() / "agent.log"; }
  std::string Logs() const {
    std::string out = "--- agent log:\n";
    if (fs::exists(agent_log())) out += ReadFile(agent_log());
    out += "--- gateway log:\n";
    if (fs::exists(gw_log_)) out += ReadFile(gw_log_);
    return out;
  }
  std::string Uuid() const {
    std::string u = ReadFile(work_.path() / "state" / "uuid");
    return u.substr(0, u.find('\n'));
  }

  static const std::string& bootstrap() { return KafkaCluster::Shared().bootstrap(); }

  TempDir work_{"agent-gateway-test"};
  PipelineTopics topics_;
  std::unique_ptr<Swtpm> tpm_;
  std::unique_ptr<IssuedCert> gw_cert_;
  fs::path key_file_;
  fs::path gw_log_;
  int gw_port_ = 0;
  std::unique_ptr<Subprocess> gateway_;
};

// The verification core's input for one decoded evidence.
verifier::Evidence CoreEvidence(const v1::Evidence& e) {
  verifier::Evidence in;
  in.quote = tpm::AsBytes(e.quote().attest());
  in.signature = tpm::AsBytes(e.quote().signature());
  for (const auto& bank : e.quote().pcrs()) {
    auto& out = in.pcrs[protoconv::TpmHashAlg(bank.hash_algorithm())];
    for (const auto& [index, digest] : bank.values()) {
      out[index] = tpm::Bytes(digest.begin(), digest.end());
    }
  }
  return in;  // no IMA / UEFI log: this test is about the quote
}

TEST_F(AgentGatewayTest, AgentOnSwtpmAttestsThroughTheGatewayToTheTopic) {
  auto registrar = Start(Config());  // require_ek_cert off: swtpm without EK certificate
  ASSERT_NE(registrar, nullptr);
  ASSERT_NO_FATAL_FAILURE(StartGateway());
  WriteAgentConfig(registrar->port());

  // 1. Not enrolled yet: the agent registers and activates, then the gateway
  // does not know it (404) and a --once run gives up.
  EXPECT_NE(RunAgentOnce(), 0) << Logs();
  const std::string uuid = Uuid();
  ASSERT_EQ(Scalar(fmt::format("SELECT state FROM registrations WHERE agent_id = '{}'", uuid)),
            "active")
      << Logs();
  EXPECT_TRUE(ReadTopic(bootstrap(), topics_.evidence).empty());

  // 2. The operator enrols it.
  auto admin = Admin(registrar->port());
  v1::EnrolRequest enrol;
  enrol.set_agent_uuid(uuid);
  enrol.set_interval_seconds(1);
  auto st = admin.Enrol(uuid, enrol);
  ASSERT_TRUE(st.ok()) << st.error().ToString();

  // 3. Two rounds (the agent asks for a challenge at once on every start).
  ASSERT_EQ(RunAgentOnce(), 0) << Logs();
  ASSERT_EQ(RunAgentOnce(), 0) << Logs();

  const tpm::Bytes ak_public = FromHex(Scalar(fmt::format(
      "SELECT encode(ak_public, 'hex') FROM registrations WHERE agent_id = '{}'", uuid)));
  ASSERT_FALSE(ak_public.empty());
  auto ak = verifier::AttestationKey::FromTpm2bPublic(ak_public);
  ASSERT_TRUE(ak.ok()) << ak.error().ToString();
  verifier::Agent agent;
  agent.ak = *ak;
  agent.ak_public = ak_public;
  auto keys = token::KeySet::LoadFiles({key_file_.string()});
  ASSERT_TRUE(keys.ok()) << keys.error().ToString();

  auto records = ReadTopic(bootstrap(), topics_.evidence);
  ASSERT_EQ(records.size(), 2u) << Logs();
  verifier::AgentState state;
  std::set<std::string> tokens;
  for (const auto& rec : records) {
    SCOPED_TRACE("offset " + std::to_string(rec.offset));
    EXPECT_EQ(rec.key, uuid);
    EXPECT_EQ(rec.partition, kafka::PartitionFor(uuid, kEvidencePartitions));
    v1::EvidenceEnvelope env;
    ASSERT_TRUE(env.ParseFromString(rec.value));
    EXPECT_EQ(env.gateway_id(), "gw-e2e");
    const v1::Evidence& e = env.evidence();
    EXPECT_EQ(e.agent_uuid(), uuid);
    EXPECT_EQ(e.boot_time().seconds(), kBootTime);

    // The nonce is the gateway's challenge token for this agent.
    const std::string& tok = e.challenge_token();
    tokens.insert(tok);
    auto claims = token::Verify(*keys, tok, uuid, std::chrono::system_clock::now(),
                                {.ttl = std::chrono::minutes(10)});
    ASSERT_TRUE(claims.ok()) << claims.error().ToString();
    EXPECT_EQ(claims->ima_offset, env.token_ima_offset());
    EXPECT_EQ(e.ima().start_offset(), env.token_ima_offset());

    ASSERT_GT(e.quote().pcrs_size(), 0);
    const verifier::Evidence in = CoreEvidence(e);
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    auto v = verifier::VerifyEvidence(in, tpm::AsBytes(tok), agent, state, now);
    EXPECT_TRUE(v.failures.empty()) << FailureIds(v.failures);
    EXPECT_NE(v.result, verifier::Outcome::kFail);
    EXPECT_NE(v.result, verifier::Outcome::kRejected);

    // The same quote with another nonce (another agent's token) must not pass:
    // the check above is not vacuous.
    std::string other = tok;
    other.back() = static_cast<char>(other.back() ^ 1);
    auto bad = verifier::VerifyEvidence(in, tpm::AsBytes(other), agent, state, now);
    EXPECT_NE(FailureIds(bad.failures).find("quote.nonce_mismatch"), std::string::npos)
        << FailureIds(bad.failures);
    state = v.new_state;  // the next quote is checked against this one (no replay)
  }
  EXPECT_EQ(tokens.size(), 2u) << "each round answers its own challenge";
}

}  // namespace
}  // namespace attest::testing
