// The agent's schedule on a ManualClock with a fake TPM: backoff, Retry-After,
// a block going down and its spare taking over, --once timing out. Nothing
// sleeps: each test waits until the agent's threads are parked on the clock
// (ManualClock::WaitForParked), reads the deadlines the agent chose, and
// advances the clock to them. The servers are real (HTTPS on loopback, a
// closed port for a dead block), so each test takes milliseconds.
#include <gtest/gtest.h>

#include <fstream>
#include <future>

#include "agent/agent.h"
#include "agent/errors.h"
#include "agent/status.h"
#include "attest/v1/attestation.pb.h"
#include "common/base/manual_clock.h"
#include "common/http/server.h"
#include "tests/agent/fake_tpm.h"
#include "tests/harness/pki/pki.h"
#include "tests/harness/util/process.h"

namespace attest::agent {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using Time = Clock::MonotonicTime;
using testing::FakeTpmControl;
using testing::FreePort;
using testing::TempDir;

constexpr char kProto[] = "application/x-protobuf";
constexpr uint32_t kInterval = 60;  // the gateway's next_attestation_seconds

// A gateway whose challenge answers follow a script (then 200 with a
// challenge) and which accepts every evidence; it notes the clock's time of
// each request.
class ScriptedGateway {
 public:
  struct Answer {
    int status;
    std::string retry_after;  // the header's value, "" for none
  };

  ScriptedGateway(testing::TestPki& pki, const Clock& clock) : clock_(clock) {
    auto cert = pki.IssueServer("gw" + std::to_string(FreePort()));
    http::ServerOptions o;
    o.name = "schedule-test";
    o.cert_file = cert.cert;
    o.key_file = cert.key;
    o.io_threads = 1;
    http::Router r;
    bool ok =
        r.Add("POST", "/v1/agents/{uuid}/challenges",
              [this](http::RequestPtr, http::Responder res) { Challenge(res); })
            .ok() &&
        r.Add("POST", "/v1/agents/{uuid}/evidence", [this](http::RequestPtr, http::Responder res) {
           Evidence(res);
         }).ok();
    if (!ok) throw std::runtime_error("ScriptedGateway: bad routes");
    server_ = std::make_unique<http::Server>(o, std::move(r), nullptr);
    if (auto s = server_->Start(); !s) throw std::runtime_error(s.error().message);
  }
  ~ScriptedGateway() { server_->Stop(0ms); }

  std::string url() const { return "https://127.0.0.1:" + std::to_string(server_->port()); }
  void Script(std::vector<Answer> answers) {
    std::lock_guard lock(mu_);
    script_.insert(script_.end(), answers.begin(), answers.end());
  }
  std::vector<Time> challenges() const {
    std::lock_guard lock(mu_);
    return challenges_;
  }
  std::vector<Time> evidence() const {
    std::lock_guard lock(mu_);
    return evidence_;
  }

 private:
  void Challenge(http::Responder res) {
    std::lock_guard lock(mu_);
    challenges_.push_back(clock_.Monotonic());
    if (!script_.empty()) {
      Answer a = script_.front();
      script_.erase(script_.begin());
      http::Response out = http::Problem(a.status, "scripted");
      if (!a.retry_after.empty()) out.Header("Retry-After", a.retry_after);
      return res.Send(std::move(out));
    }
    v1::Challenge ch;
    ch.set_token("token-" + std::to_string(challenges_.size()));
    auto* sel = ch.add_pcr_selection();
    sel->set_hash_algorithm(v1::HASH_ALGORITHM_SHA256);
    sel->add_pcrs(0);
    sel->add_pcrs(7);
    res.Send(http::Response::Binary(200, kProto, ch.SerializeAsString()));
  }
  void Evidence(http::Responder res) {
    std::lock_guard lock(mu_);
    evidence_.push_back(clock_.Monotonic());
    v1::EvidenceAccepted acc;
    acc.set_evidence_id("ev-" + std::to_string(evidence_.size()));
    acc.set_next_attestation_seconds(kInterval);
    res.Send(http::Response::Binary(202, kProto, acc.SerializeAsString()));
  }

  const Clock& clock_;
  mutable std::mutex mu_;
  std::vector<Answer> script_;
  std::vector<Time> challenges_, evidence_;
  std::unique_ptr<http::Server> server_;
};

// Base of a closed port: every request is refused at once.
std::string DeadUrl() { return "https://127.0.0.1:" + std::to_string(FreePort()); }

class AgentScheduleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(dir_.path() / "ima");  // an empty IMA list
    std::ofstream(dir_.path() / "uefi") << "uefi-log";
    config_.state_dir = (dir_.path() / "state").string();
    config_.uuid = "11111111-2222-3333-4444-555555555555";
    config_.ima_log = (dir_.path() / "ima").string();
    config_.uefi_log = (dir_.path() / "uefi").string();
    config_.boot_time = 1'700'000'000;
    config_.tls.ca_file = pki_.ca_cert().string();
    config_.tls.no_proxy = "*";  // whatever the environment says
    config_.connect_timeout_ms = 2000;
    config_.request_timeout_ms = 5000;
    config_.retry_initial_ms = 1000;
    config_.retry_max_ms = 8000;
    config_.block_failover_seconds = 120;
    config_.once_timeout_seconds = 300;
    real_start_ = std::chrono::steady_clock::now();
  }
  void TearDown() override {
    stop_.request_stop();
    if (run_.valid()) run_.wait();
    // Every test drives minutes of agent time; none sleeps through them.
    EXPECT_LT(std::chrono::steady_clock::now() - real_start_, 5s);
  }

  void AddBlock(const std::string& verifier_url) {
    ServerBlock b;
    b.verifiers.push_back(*ParseServerAddress(verifier_url, 8881));
    config_.servers.push_back(std::move(b));
  }
  // Starts Agent::Run on its own thread.
  void Start(bool once = false) {
    auto agent = Agent::Create(config_, clock_, tpm_->Opener());
    ASSERT_TRUE(agent.ok()) << agent.error().message;
    agent_ = std::move(agent).value();
    t0_ = clock_.Monotonic();
    run_ = std::async(std::launch::async, [this, once] {
      return agent_->Run(stop_.get_token(), RunOptions{.once = once});
    });
  }
  // Waits until `n` threads are parked, then moves the clock to the
  // earliest deadline; returns it.
  Time AdvanceToNext(size_t n) {
    auto parked = clock_.WaitForParked(n);
    clock_.Advance(parked.front() - clock_.Monotonic());
    return parked.front();
  }
  // The delay block threads chose: the single parked deadline from now.
  milliseconds NextDelay() {
    auto parked = clock_.WaitForParked(1);
    EXPECT_EQ(parked.size(), 1u);
    return std::chrono::duration_cast<milliseconds>(parked.front() - clock_.Monotonic());
  }
  AgentStatus Status() {
    auto s = ReadStatus(config_.state_dir);
    EXPECT_TRUE(s.ok()) << s.error().message;
    return s.ok() ? *s : AgentStatus{};
  }

  TempDir dir_{"schedule-test"};
  testing::TestPki pki_{dir_.path()};
  ManualClock clock_;
  std::shared_ptr<FakeTpmControl> tpm_ = FakeTpmControl::Make();
  AgentConfig config_;
  std::unique_ptr<Agent> agent_;
  std::stop_source stop_;
  std::future<Result<void>> run_;
  Time t0_;
  std::chrono::steady_clock::time_point real_start_;
};

// retry_initial_ms doubling up to retry_max_ms, each with 50-100% jitter.
TEST_F(AgentScheduleTest, BackoffDoublesFromRetryInitialMsUpToRetryMaxMs) {
  AddBlock(DeadUrl());
  Start();
  for (int k = 0; k < 7; ++k) {
    const milliseconds base = std::min(milliseconds(1000 << k), milliseconds(8000));
    const milliseconds d = NextDelay();
    EXPECT_GE(d, base / 2) << "failure " << k;
    EXPECT_LE(d, base) << "failure " << k;
    clock_.Advance(d);
  }
  AgentStatus s = Status();
  ASSERT_EQ(s.blocks.size(), 1u);
  EXPECT_EQ(s.blocks[0].state, "failing");
  EXPECT_NE(s.blocks[0].last_error.find("challenge"), std::string::npos) << s.blocks[0].last_error;
}

// Retry-After is a floor under the backoff (0 cannot make a block spin), at
// most an hour, and a 503's wait at most block_failover_seconds; an accepted
// evidence then schedules the next round after the gateway's interval.
TEST_F(AgentScheduleTest, RetryAfterNeverShortensTheBackoffAndIsCapped) {
  ScriptedGateway gw(pki_, clock_);
  gw.Script({{429, "0"}, {429, "5"}, {429, "7200"}, {503, "1"}, {503, "600"}});
  AddBlock(gw.url());
  Start();
  milliseconds d = NextDelay();  // 429 "0": the backoff of the first failure
  EXPECT_GE(d, 500ms);
  EXPECT_LE(d, 1000ms);
  clock_.Advance(d);
  EXPECT_EQ(NextDelay(), 5s);  // 429 "5": over the backoff (1-2 s)
  clock_.Advance(5s);
  EXPECT_EQ(NextDelay(), 1h);  // 429 "7200": capped at an hour
  clock_.Advance(1h);
  d = NextDelay();  // 503 "1": the backoff (8 s, 50-100%) is longer
  EXPECT_GE(d, 4s);
  EXPECT_LE(d, 8s);
  clock_.Advance(d);
  EXPECT_EQ(NextDelay(), 120s);  // 503 "600": capped at block_failover_seconds
  const Time accepted_at = clock_.Monotonic() + 120s;
  clock_.Advance(120s);
  EXPECT_EQ(NextDelay(), std::chrono::seconds(kInterval));
  ASSERT_EQ(gw.evidence().size(), 1u);
  EXPECT_EQ(gw.evidence()[0], accepted_at);
  EXPECT_EQ(gw.challenges().size(), 6u);
  EXPECT_EQ(Status().blocks[0].state, "serving");
}

// verification_duplication = 1 of two blocks: the first is dead; after
// block_failover_seconds of failures it is down and the spare, idle until
// then, takes its place at once.
TEST_F(AgentScheduleTest, ABlockFailingForBlockFailoverSecondsIsReplacedByTheSpare) {
  ScriptedGateway spare(pki_, clock_);
  AddBlock(DeadUrl());
  AddBlock(spare.url());
  Start();
  Time down_at;
  for (;;) {  // only the dead block is parked (the spare waits untimed)
    auto parked = clock_.WaitForParked(1);
    ASSERT_EQ(parked.size(), 1u);
    ASSERT_TRUE(spare.challenges().empty()) << "the spare was asked before the block was down";
    down_at = parked.front();
    clock_.Advance(down_at - clock_.Monotonic());
    if (down_at - t0_ >= 120s) break;
  }
  EXPECT_LT(down_at - t0_, 120s + 8s);    // the first attempt after failover seconds
  auto parked = clock_.WaitForParked(2);  // the down block's retry, the spare's next round
  EXPECT_NE(std::find(parked.begin(), parked.end(), down_at + std::chrono::seconds(kInterval)),
            parked.end());
  ASSERT_EQ(spare.evidence().size(), 1u);
  EXPECT_EQ(spare.challenges()[0], down_at);
  EXPECT_EQ(spare.evidence()[0], down_at);
  AgentStatus s = Status();
  ASSERT_EQ(s.blocks.size(), 2u);
  EXPECT_FALSE(s.blocks[0].in_use);
  EXPECT_EQ(s.blocks[0].state, "down");
  EXPECT_TRUE(s.blocks[1].in_use);
  EXPECT_EQ(s.blocks[1].state, "serving");
  EXPECT_EQ(tpm_->quotes(), 1);
}

// --once with every block failing: the run ends at once_timeout_seconds on
// the clock, naming the block and its last error.
TEST_F(AgentScheduleTest, OnceTimesOutAfterOnceTimeoutSeconds) {
  AddBlock(DeadUrl());
  Start(/*once=*/true);
  // Parked: the block's backoff and Run's wait for the timeout.
  while (AdvanceToNext(2) < t0_ + 300s) {
  }
  Result<void> r = run_.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, errc::not_attested);
  EXPECT_NE(r.error().message.find("within once_timeout_seconds = 300 s"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("servers[0]"), std::string::npos) << r.error().message;
  EXPECT_EQ(clock_.Monotonic() - t0_, 300s);
}

// --once replaces a failing block after half of once_timeout_seconds when
// block_failover_seconds is longer, and succeeds with the spare.
TEST_F(AgentScheduleTest, OnceGivesTheSpareItsChanceAfterHalfTheTimeout) {
  config_.block_failover_seconds = 600;
  ScriptedGateway spare(pki_, clock_);
  AddBlock(DeadUrl());
  AddBlock(spare.url());
  Start(/*once=*/true);
  Time at;
  do {
    at = AdvanceToNext(2);  // the dead block's backoff, Run's timeout
  } while (at - t0_ < 150s);
  Result<void> r = run_.get();
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(spare.evidence().size(), 1u);
  EXPECT_EQ(spare.evidence()[0], at);
  EXPECT_LT(at - t0_, 150s + 8s);
}

// A failed quote drops the TPM and the next attempt, after the backoff,
// opens it again.
TEST_F(AgentScheduleTest, ATpmFailureReopensTheTpmAfterTheBackoff) {
  ScriptedGateway gw(pki_, clock_);
  tpm_->FailQuotes(1);
  AddBlock(gw.url());
  Start();
  const milliseconds d = NextDelay();
  EXPECT_GE(d, 500ms);
  EXPECT_LE(d, 1000ms);
  EXPECT_EQ(tpm_->opens(), 1);
  clock_.Advance(d);
  EXPECT_EQ(NextDelay(), std::chrono::seconds(kInterval));
  EXPECT_EQ(tpm_->opens(), 2);
  EXPECT_EQ(tpm_->quotes(), 2);
  ASSERT_EQ(gw.evidence().size(), 1u);
  EXPECT_EQ(gw.evidence()[0], t0_ + d);
}

}  // namespace
}  // namespace attest::agent
