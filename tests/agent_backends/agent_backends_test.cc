// Issue 19.1: one agent, three whole backends, verification_duplication = 2.
// Each backend is a Pipeline (tests/attest_bench/pipeline.h): its own
// PostgreSQL, attest-registrar, attest-gateway, attest-worker and a private
// one-node Apache Kafka, its own CA, gateway id and token key. The real
// attest-agent on swtpm has one [[servers]] block per backend, in order.
//
//   all up            blocks 0 and 1 serve; block 2 is spare and backend 2
//                     sees no request at all (not even a registration)
//   backend 0 down    (registrar and gateway stopped: connections refused)
//                     block 2 registers, is enrolled, gets verdicts; 1 goes on
//   backend 1 down    (registrar and gateway SIGSTOPped: connections hang)
//                     only block 2 serves; `attest-agent --status` exits 1
//   both back         blocks 0 and 1 serve again; block 2 is spare again and
//                     backend 2's evidence count stays flat for 3 intervals
//
// Verdicts are counted per backend from its database (attestation_history
// rows of evidence), evidence from its evidence topic. Isolation: each
// backend's topic holds only this agent's records, one verdict each, and no
// gateway ever refused an evidence's token (a token of another backend is a
// 401 there: the keys differ). The agent's view is read from
// <state_dir>/status.json at every phase.
#include <gtest/gtest.h>
#include <signal.h>

#include <array>
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <regex>
#include <thread>

#include "registrar/admin_client.h"
#include "tests/attest_bench/pipeline.h"
#include "tests/gateway/topic_reader.h"
#include "tests/harness/swtpm/swtpm.h"

namespace attest::bench::test {
namespace {

using namespace std::chrono_literals;
using attest::testing::ReadFile;
using attest::testing::WaitFor;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

constexpr char kUuid[] = "3f1d6c2a-8b4e-4f19-9a19-000000000019";
constexpr int kBackends = 3;
constexpr int kIntervalSeconds = 2;  // the enrolment's, given to the agent by every challenge
constexpr int kFailoverSeconds = 3;  // block_failover_seconds
constexpr int kRequestTimeoutMs = 2000;

// A distinct 32-byte hex token key per backend.
std::string TokenKey(int i) { return std::string(64, static_cast<char>('a' + i)); }

struct ExpectedBlock {
  const char* state;
  bool in_use;
};

class AgentBackendsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* k : {"https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy",
                          "ALL_PROXY", "no_proxy", "NO_PROXY"}) {
      ::unsetenv(k);
    }
    const auto t0 = Clock::now();
    for (int i = 0; i < kBackends; ++i) {
      PipelineOptions o;
      o.kafka = PipelineKafka::kPrivate;
      o.kafka_nodes = 1;
      o.evidence_partitions = 1;
      o.gateway_id = "gw-" + std::to_string(i);
      o.token_key = TokenKey(i);
      backends_[i] = std::make_unique<Pipeline>(o);
    }
    Note("three backends up", t0);
    tpm_ = std::make_unique<attest::testing::Swtpm>();
    // One CA bundle: tls.ca_file is the agent's, not a block's.
    {
      std::ofstream bundle(work_.path() / "ca-bundle.pem");
      for (auto& b : backends_) bundle << ReadFile(b->ca_file());
    }
    std::ofstream(work_.path() / "ima.txt") << "";
    std::ofstream(work_.path() / "uefi.bin") << "fake UEFI event log";
    WriteAgentConfig();
  }

  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "--- status.json:\n"
                << Status().dump(2) << "\n--- agent log (tail):\n"
                << Tail(agent_log(), 12000);
      for (int i = 0; i < kBackends; ++i) {
        std::cerr << "--- backend " << i << ":\n" << backends_[i]->Logs();
      }
    }
    agent_.reset();
    // A SIGSTOPped process would take its whole stop grace period.
    Resume();
    tpm_.reset();
    for (auto& b : backends_) b.reset();
  }

  void WriteAgentConfig() {
    std::ostringstream c;
    c << "uuid = \"" << kUuid << "\"\n"
      << "state_dir = \"" << state_dir().string() << "\"\n"
      << "tcti = \"" << tpm_->tcti() << "\"\n"
      << "ek_type = \"rsa\"\nak_type = \"rsa\"\n"
      << "ima_log_format = \"ascii\"\n"
      << "ima_log = \"" << (work_.path() / "ima.txt").string() << "\"\n"
      << "uefi_log = \"" << (work_.path() / "uefi.bin").string() << "\"\n"
      << "boot_time = 1700000000\n"
      << "verification_duplication = 2\n"
      << "block_failover_seconds = " << kFailoverSeconds << "\n"
      << "retry_initial_ms = 100\nretry_max_ms = 1000\n"
      << "connect_timeout_ms = 1000\nrequest_timeout_ms = " << kRequestTimeoutMs << "\n"
      << "[tls]\nca_file = \"" << (work_.path() / "ca-bundle.pem").string() << "\"\n";
    for (auto& b : backends_) {
      c << "[[servers]]\nregistrars = [\"" << b->registrar_url() << "\"]\nverifiers = [\""
        << b->gateway_url() << "\"]\n";
    }
    std::ofstream(config()) << c.str();
  }

  fs::path config() const { return work_.path() / "agent.toml"; }
  fs::path state_dir() const { return work_.path() / "state"; }
  fs::path agent_log() const { return work_.path() / "agent.log"; }

  void StartAgent() {
    agent_ = std::make_unique<attest::testing::Subprocess>(
        std::vector<std::string>{ATTEST_AGENT_BINARY, "--config", config().string(), "--log-level",
                                 "debug"},
        agent_log().string());
  }

  static std::string Tail(const fs::path& p, size_t n) {
    if (!fs::exists(p)) return "(none)\n";
    std::string s = ReadFile(p);
    return s.size() > n ? s.substr(s.size() - n) : s;
  }

  int64_t Count(int i, const std::string& sql) const {
    pqxx::connection c(backends_[i]->conninfo());
    pqxx::work tx(c);
    return tx.exec1(sql)[0].as<int64_t>();
  }
  // Verdicts on evidence (not the liveness sweep's OFFLINE nor the
  // enrolment's row).
  int64_t Verdicts(int i) const {
    return Count(i, std::string("SELECT count(*) FROM attestation_history WHERE agent_id = '") +
                        kUuid + "' AND result NOT IN ('offline', 'enrolled')");
  }
  int64_t Registrations(int i) const {
    return Count(i, std::string("SELECT count(*) FROM registrations WHERE agent_id = '") + kUuid +
                        "' AND state = 'active'");
  }
  std::vector<attest::testing::TopicRecord> Evidence(int i) const {
    return attest::testing::ReadTopic(backends_[i]->bootstrap(), backends_[i]->topics().evidence);
  }

  // Enrols the agent at backend i once its registration is active (the
  // enrolment refers to it); true when enrolled.
  bool EnrolWhenRegistered(int i) {
    if (enrolled_[i]) return true;
    if (Registrations(i) == 0) return false;
    registrar::AdminClientOptions o;
    o.base_url = backends_[i]->registrar_url();
    o.ca_file = backends_[i]->ca_file();
    o.token = ReadFile(backends_[i]->admin_token_file());
    o.token.erase(o.token.find_last_not_of("\n") + 1);
    auto admin = registrar::AdminClient::Create(o);
    if (!admin) throw std::runtime_error(admin.error().ToString());
    v1::EnrolRequest req;
    req.set_agent_uuid(kUuid);
    req.set_interval_seconds(kIntervalSeconds);
    auto st = admin->Enrol(kUuid, req);
    if (!st)
      throw std::runtime_error("enrol at backend " + std::to_string(i) + ": " +
                               st.error().ToString());
    enrolled_[i] = true;
    return true;
  }

  // status.json, or null while it is missing or being replaced.
  json Status() const {
    const fs::path p = state_dir() / "status.json";
    if (!fs::exists(p)) return nullptr;
    try {
      return json::parse(ReadFile(p));
    } catch (const std::exception&) {
      return nullptr;
    }
  }
  bool StatusIs(const std::array<ExpectedBlock, kBackends>& want) const {
    json s = Status();
    if (!s.is_object() || !s.contains("blocks") || s["blocks"].size() != kBackends) return false;
    for (int i = 0; i < kBackends; ++i) {
      const json& b = s["blocks"][i];
      if (b.value("name", "") != "servers[" + std::to_string(i) + "]") return false;
      if (b.value("state", "") != want[i].state ||
          b.value("in_use", !want[i].in_use) != want[i].in_use) {
        return false;
      }
    }
    return true;
  }
  // `attest-agent --status`: 0 when N blocks serve, 1 otherwise.
  int StatusCommand(std::string* out) const {
    out->clear();
    return attest::testing::RunCommand(
        {ATTEST_AGENT_BINARY, "--status", "--config", config().string()}, out);
  }

  // Evidence requests gateway i answered with 401 or 403 (a token that is not
  // its own), and all POSTs it answered, from its /metrics (reset when the
  // process restarts: read before a stop).
  struct GatewayRequests {
    int64_t refused_tokens = 0;
    int64_t posts = 0;
  };
  GatewayRequests ReadGatewayMetrics(int i) const {
    std::string out;
    const int rc = attest::testing::RunCommand(
        {"curl", "-sS", "--max-time", "5", "--cacert", backends_[i]->ca_file(),
         backends_[i]->gateway_url() + "/metrics"},
        &out);
    if (rc != 0) throw std::runtime_error("metrics of gateway " + std::to_string(i) + ": " + out);
    GatewayRequests r;
    static const std::regex line(R"(^gateway_http_requests_total\{([^}]*)\} ([0-9.e+]+)$)");
    std::istringstream in(out);
    for (std::string l; std::getline(in, l);) {
      std::smatch m;
      if (!std::regex_match(l, m, line)) continue;
      const std::string labels = m[1];
      const auto n = static_cast<int64_t>(std::stod(m[2]));
      if (labels.find("method=\"POST\"") == std::string::npos) continue;
      r.posts += n;
      if (labels.find("/evidence\"") != std::string::npos &&
          (labels.find("status=\"401\"") != std::string::npos ||
           labels.find("status=\"403\"") != std::string::npos)) {
        r.refused_tokens += n;
      }
    }
    return r;
  }

  void Pause(pid_t pid) {
    ASSERT_EQ(::kill(pid, SIGSTOP), 0);
    paused_.push_back(pid);
  }
  void Resume() {
    for (pid_t pid : paused_) ::kill(pid, SIGCONT);
    paused_.clear();
  }

  void Note(const std::string& what, Clock::time_point since) {
    const double s = std::chrono::duration<double>(Clock::now() - since).count();
    std::cout << "[agent_backends] " << what << ": " << s << " s\n" << std::flush;
  }

  std::string Counts() const {
    std::string s = "verdicts per backend:";
    for (int i = 0; i < kBackends; ++i) s += " " + std::to_string(Verdicts(i));
    return s + "\nstatus: " + Status().dump();
  }

  attest::testing::TempDir work_{"agent-backends-test"};
  std::array<std::unique_ptr<Pipeline>, kBackends> backends_;
  std::array<bool, kBackends> enrolled_{};
  std::unique_ptr<attest::testing::Swtpm> tpm_;
  std::unique_ptr<attest::testing::Subprocess> agent_;
  std::vector<pid_t> paused_;
};

TEST_F(AgentBackendsTest, TwoOfThreeBlocksServeThroughTwoOutagesAndTheSpareStepsBack) {
  const auto start = Clock::now();
  StartAgent();

  // --- All up: blocks 0 and 1 register, are enrolled, get verdicts.
  auto t = Clock::now();
  ASSERT_TRUE(WaitFor(
      [&] {
        bool a = EnrolWhenRegistered(0), b = EnrolWhenRegistered(1);
        return a && b && Verdicts(0) >= 2 && Verdicts(1) >= 2;
      },
      60s))
      << Counts();
  ASSERT_TRUE(WaitFor(
      [&] {
        return StatusIs({{{"serving", true}, {"serving", true}, {"spare", false}}});
      },
      10s))
      << Counts();
  Note("phase 1 (all up): verdicts on blocks 0 and 1", t);
  std::string out;
  EXPECT_EQ(StatusCommand(&out), 0) << out;
  EXPECT_EQ(Registrations(2), 0) << "the spare block registered while both others served";
  EXPECT_EQ(ReadGatewayMetrics(2).posts, 0) << "the spare's gateway got requests";
  EXPECT_EQ(Verdicts(2), 0);
  int64_t refused = 0;

  // --- Backend 0 down (processes gone: connections refused). Block 2 takes
  // its place: registers (the test enrols it then, as an operator would),
  // then attests; block 1 goes on.
  t = Clock::now();
  refused += ReadGatewayMetrics(0).refused_tokens;
  backends_[0]->StopGateway();
  backends_[0]->StopRegistrar();
  const int64_t v1_before = Verdicts(1);
  ASSERT_TRUE(WaitFor([&] { return EnrolWhenRegistered(2) && Verdicts(2) >= 2; }, 60s)) << Counts();
  ASSERT_TRUE(WaitFor(
      [&] {
        return StatusIs({{{"down", false}, {"serving", true}, {"serving", true}}});
      },
      10s))
      << Counts();
  ASSERT_TRUE(WaitFor([&] { return Verdicts(1) >= v1_before + 2; }, 20s)) << Counts();
  Note("phase 2 (backend 0 down): block 2 in use with verdicts", t);
  EXPECT_EQ(StatusCommand(&out), 0) << out;

  // --- Backend 1 down too (SIGSTOP: connections accepted, never answered).
  // Only block 2 serves: 1 of 2.
  t = Clock::now();
  refused += ReadGatewayMetrics(1).refused_tokens;
  ASSERT_NO_FATAL_FAILURE(Pause(backends_[1]->gateway_pid()));
  ASSERT_NO_FATAL_FAILURE(Pause(backends_[1]->registrar_pid()));
  ASSERT_TRUE(WaitFor(
      [&] {
        return StatusIs({{{"down", false}, {"down", false}, {"serving", true}}});
      },
      30s))
      << Counts();
  const int64_t v2_alone = Verdicts(2);
  ASSERT_TRUE(WaitFor([&] { return Verdicts(2) >= v2_alone + 2; }, 20s)) << Counts();
  Note("phase 3 (backends 0 and 1 down): block 2 alone", t);
  EXPECT_EQ(StatusCommand(&out), 1) << out;
  EXPECT_TRUE(StatusIs({{{"down", false}, {"down", false}, {"serving", true}}})) << Counts();
  {
    const json st = Status();
    EXPECT_EQ(st.value("agent_uuid", ""), kUuid);
    EXPECT_EQ(st.value("pid", 0), agent_->pid());
    EXPECT_EQ(st.value("verification_duplication", 0), 2);
    EXPECT_FALSE(st.value("updated", "").empty());
    for (int i : {0, 1}) {
      EXPECT_FALSE(st["blocks"][i].value("reason", "").empty()) << st.dump(2);
      EXPECT_FALSE(st["blocks"][i].value("last_error", "").empty()) << st.dump(2);
    }
    EXPECT_FALSE(st["blocks"][2].value("last_accepted", "").empty()) << st.dump(2);
  }

  // --- Both back: blocks 0 and 1 are taken back, block 2 is spare again
  // and stops attesting.
  t = Clock::now();
  backends_[0]->StartRegistrar();
  backends_[0]->StartGateway();
  Resume();
  const int64_t v0_back = Verdicts(0), v1_back = Verdicts(1);
  ASSERT_TRUE(WaitFor(
      [&] {
        return StatusIs({{{"serving", true}, {"serving", true}, {"spare", false}}});
      },
      30s))
      << Counts();
  Note("phase 4 (both back): blocks 0 and 1 in use again", t);
  // A request block 2 had in flight when it was made spare may still land
  // (a step is not cut short): count from one request timeout later.
  const auto spare_at = Clock::now();
  ASSERT_TRUE(
      WaitFor([&] { return Verdicts(0) >= v0_back + 2 && Verdicts(1) >= v1_back + 2; }, 30s))
      << Counts();
  std::this_thread::sleep_until(spare_at + std::chrono::milliseconds(kRequestTimeoutMs + 500));
  const size_t spare_evidence = Evidence(2).size();
  const std::string spare_last_accepted = Status()["blocks"][2].value("last_accepted", "?");
  std::this_thread::sleep_for(std::chrono::seconds(3 * kIntervalSeconds));
  EXPECT_EQ(Evidence(2).size(), spare_evidence) << "the spare block kept attesting\n" << Counts();
  EXPECT_EQ(Status()["blocks"][2].value("last_accepted", "?"), spare_last_accepted);
  EXPECT_TRUE(StatusIs({{{"serving", true}, {"serving", true}, {"spare", false}}})) << Counts();
  EXPECT_EQ(StatusCommand(&out), 0) << out;
  Note("phase 4: spare flat for 3 intervals", t);

  // --- Isolation: every backend's topic holds only this agent's evidence,
  // each with one verdict in that backend's database, and no gateway ever
  // refused a token (evidence of one block sent to another's gateway).
  for (int i = 0; i < kBackends; ++i) {
    SCOPED_TRACE("backend " + std::to_string(i));
    refused += ReadGatewayMetrics(i).refused_tokens;
    std::vector<attest::testing::TopicRecord> ev;
    EXPECT_TRUE(WaitFor(
        [&] {
          ev = Evidence(i);
          return static_cast<int64_t>(ev.size()) == Verdicts(i);
        },
        20s))
        << "evidence records " << ev.size() << " vs " << Counts();
    for (const auto& r : ev) EXPECT_EQ(r.key, kUuid);
    std::cout << "[agent_backends] backend " << i << ": " << ev.size() << " evidence, "
              << Verdicts(i) << " verdicts\n";
  }
  EXPECT_EQ(refused, 0) << "a gateway refused a token: evidence crossed blocks";
  EXPECT_TRUE(agent_->Running()) << "the agent exited";
  // The agent's account of the block changes, for the test's output.
  std::istringstream log(ReadFile(agent_log()));
  for (std::string l; std::getline(log, l);) {
    if (l.find("servers[") != std::string::npos &&
        std::regex_search(l, std::regex(R"(: (down|in use|recovered|spare))"))) {
      std::cout << "[agent_backends] agent: " << l << "\n";
    }
  }
  Note("whole scenario (after the backends were up)", start);
}

}  // namespace
}  // namespace attest::bench::test
