// attest-agent end to end: the real binary on a real swtpm against
// FakeBackend (registrar + gateway doubles that do real MakeCredential and
// verify each quote with common/checks), through a real tinyproxy.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "common/http/server.h"
#include "tests/agent/fake_backend.h"
#include "tests/harness/pki/pki.h"
#include "tests/harness/swtpm/swtpm.h"
#include "tests/harness/util/process.h"

namespace attest::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr int64_t kBootTime = 1700000000;

// Three IMA entries in the kernel's ascii format (sha1 template hashes).
const char* kImaList =
    "10 0000000000000000000000000000000000000001 ima-ng sha256:"
    "1111111111111111111111111111111111111111111111111111111111111111 boot_aggregate\n"
    "10 0000000000000000000000000000000000000002 ima-ng sha256:"
    "2222222222222222222222222222222222222222222222222222222222222222 /usr/bin/a\n"
    "10 0000000000000000000000000000000000000003 ima-ng sha256:"
    "3333333333333333333333333333333333333333333333333333333333333333 /usr/bin/b\n";

int FileMode(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 0777);
}

std::string Quoted(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const auto& i : items) out += (out.size() > 1 ? ", \"" : "\"") + i + "\"";
  return out + "]";
}

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Proxy settings of the machine running the tests must not reach the agent.
    for (const char* k : {"https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy",
                          "ALL_PROXY", "no_proxy", "NO_PROXY"}) {
      ::unsetenv(k);
    }
    pki_ = std::make_unique<TestPki>(dir_.path() / "pki");
    std::ofstream(dir_.path() / "ima.txt") << kImaList;
    std::ofstream(dir_.path() / "uefi.bin") << "fake UEFI event log";
  }

  fs::path state_dir() const { return dir_.path() / "state"; }
  fs::path config_path() const { return dir_.path() / "agent.toml"; }
  fs::path log_path() const { return dir_.path() / "agent.log"; }

  struct Block {
    std::vector<std::string> registrars, verifiers;
  };

  // Writes the agent config for `blocks`; `extra` is appended at top level.
  void WriteConfig(const std::vector<Block>& blocks, int duplication, const std::string& ek = "ecc",
                   const std::string& extra = "") {
    std::ostringstream c;
    c << "state_dir = \"" << state_dir().string() << "\"\n"
      << "tcti = \"" << tpm_.tcti() << "\"\n"
      << "ek_type = \"" << ek << "\"\nak_type = \"" << ek << "\"\n"
      << "ima_log = \"" << (dir_.path() / "ima.txt").string() << "\"\n"
      << "uefi_log = \"" << (dir_.path() / "uefi.bin").string() << "\"\n"
      << "boot_time = " << kBootTime << "\n"
      << "retry_initial_ms = 100\nretry_max_ms = 400\n"
      << (extra.find("connect_timeout_ms") == std::string::npos ? "connect_timeout_ms = 2000\n"
                                                                : "")
      << "verification_duplication = " << duplication << "\n"
      << extra << "\n"
      << "[tls]\nca_file = \"" << pki_->ca_cert().string() << "\"\n";
    for (const auto& b : blocks) {
      c << "[[servers]]\nregistrars = " << Quoted(b.registrars)
        << "\nverifiers = " << Quoted(b.verifiers) << "\n";
    }
    std::ofstream(config_path()) << c.str();
  }

  std::unique_ptr<Subprocess> Start(bool once, const std::vector<std::string>& env = {}) {
    std::vector<std::string> argv = {ATTEST_AGENT_BINARY, "--config", config_path().string(),
                                     "--log-level", "debug"};
    if (once) argv.push_back("--once");
    return std::make_unique<Subprocess>(argv, log_path().string(), env);
  }

  // Runs `attest-agent --once`; returns its exit code (-1: still running
  // after the timeout, then killed).
  int RunOnce(const std::vector<std::string>& env = {}) {
    auto p = Start(true, env);
    return p->Wait(30s);
  }

  std::string Log() const { return fs::exists(log_path()) ? ReadFile(log_path()) : ""; }
  std::string Uuid() const {
    std::string u = ReadFile(state_dir() / "uuid");
    return u.substr(0, u.find('\n'));
  }

  TempDir dir_{"attest-agent-test"};
  Swtpm tpm_;
  std::unique_ptr<TestPki> pki_;
};

std::string DeadAddress() { return "https://127.0.0.1:" + std::to_string(FreePort()); }

// A server that accepts every TCP connection and never sends a byte (a hung
// process, a black-holing middlebox): the client waits for its timeouts.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(fd_, 64) != 0) {
      throw std::runtime_error("SilentServer: cannot listen");
    }
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      for (;;) {
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;  // closed by the destructor
        std::lock_guard lock(mu_);
        held_.push_back(c);
      }
    });
  }
  ~SilentServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    for (int c : held_) ::close(c);
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  size_t connections() {
    std::lock_guard lock(mu_);
    return held_.size();
  }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::mutex mu_;
  std::vector<int> held_;
  std::thread thread_;
};

// A gateway that answers every challenge with the same response (a hostile
// or broken server) and counts them.
class ScriptedGateway {
 public:
  ScriptedGateway(TestPki& pki, http::Response answer) : answer_(std::move(answer)) {
    auto cert = pki.IssueServer("scripted" + std::to_string(FreePort()));
    http::ServerOptions o;
    o.name = "scripted-gateway";
    o.cert_file = cert.cert;
    o.key_file = cert.key;
    http::Router r;
    auto added = r.Add("POST", "/v1/agents/{uuid}/challenges",
                       [this](http::RequestPtr, http::Responder res) {
                         hits_.fetch_add(1);
                         res.Send(http::Response(answer_));
                       });
    if (!added) throw std::runtime_error(added.error().message);
    server_ = std::make_unique<http::Server>(o, std::move(r), nullptr);
    if (auto s = server_->Start(); !s) throw std::runtime_error(s.error().message);
  }
  ~ScriptedGateway() { server_->Stop(std::chrono::milliseconds(0)); }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(server_->port()); }
  int hits() const { return hits_.load(); }

 private:
  const http::Response answer_;
  std::atomic<int> hits_{0};
  std::unique_ptr<http::Server> server_;
};

// "Retry-After: 0" (or a date in the past) on every answer made the block
// ask again at once, thousands of times a second, forever: the server's
// word is a floor under the block's backoff, not a replacement for it.
TEST_F(AgentTest, ARetryAfterOfZeroAnsweredAgainAndAgainDoesNotMakeTheBlockSpin) {
  for (int status : {429, 503}) {
    ScriptedGateway gw(*pki_, http::Problem(status, "busy").Header("Retry-After", "0"));
    WriteConfig({{{}, {gw.url()}}}, 1);  // backoff 100 ms doubling to 400 ms
    auto p = Start(false);
    // Asked again (start-up time is the machine's; no fixed sleep), then
    // counted over a fixed span: backoff 100 -> 400 ms allows ~6 in 2 s.
    ASSERT_TRUE(attest::testing::WaitFor([&] { return gw.hits() >= 3; }, 20s)) << status << "\n"
                                                                               << Log();
    const int before = gw.hits();
    std::this_thread::sleep_for(2s);
    ASSERT_TRUE(p->Running()) << Log();
    p->Stop();
    EXPECT_LE(gw.hits() - before, 20) << status << ": the block spun\n" << Log().substr(0, 4000);
  }
}

// A 503 with a Retry-After of an hour kept the failing block in use for
// that hour (it is judged only when an attempt fails), so the spare never
// came in: the wait is capped at block_failover_seconds.
TEST_F(AgentTest, ALongRetryAfterDoesNotKeepAFailingBlockFromItsSpare) {
  ScriptedGateway gw(*pki_, http::Problem(503, "maintenance").Header("Retry-After", "3600"));
  FakeBackend b(*pki_, "backend-b");
  WriteConfig({{{}, {gw.url()}}, {{b.url()}, {b.url()}}}, 1, "ecc",
              "block_failover_seconds = 1\nonce_timeout_seconds = 15");
  ASSERT_EQ(RunOnce(), 0) << Log();
  EXPECT_EQ(b.evidence().size(), 1u);
  EXPECT_NE(Log().find("servers[1]: in use (replaces servers[0])"), std::string::npos) << Log();
}

// A server's problem text reaches the log and status.json: a megabyte of it
// made a status.json that `--status` refuses to read (over 1 MiB), and its
// newlines and escape sequences forged log lines and drove the terminal.
TEST_F(AgentTest, AHostileProblemDetailIsCutAndMadePrintable) {
  const std::string detail =
      "\\u001b[2J\\u001b[31mowned\\nerror forged log line\\u0007" + std::string(1 << 20, 'x');
  ScriptedGateway gw(
      *pki_, http::Response::Json(
                 400, "{\"title\": \"Bad\\u009bRequest\", \"detail\": \"" + detail + "\"}"));
  WriteConfig({{{}, {gw.url()}}}, 1, "ecc", "once_timeout_seconds = 5");
  EXPECT_EQ(RunOnce(), 1) << Log().substr(0, 4000);
  const std::string log = Log();
  EXPECT_EQ(log.find('\x1b'), std::string::npos) << log.substr(0, 4000);
  EXPECT_EQ(log.find("\x07"), std::string::npos);
  EXPECT_EQ(log.find("\nerror forged"), std::string::npos) << log.substr(0, 4000);
  EXPECT_EQ(log.find("\xc2\x9b"), std::string::npos) << "a C1 control (CSI) is escaped too";
  EXPECT_LT(log.size(), 64u * 1024) << log.substr(0, 4000);
  EXPECT_LT(fs::file_size(state_dir() / "status.json"), 16u * 1024);

  std::string out;
  const int rc =
      RunCommand({ATTEST_AGENT_BINARY, "--status", "--config", config_path().string()}, &out);
  EXPECT_EQ(rc, 1) << out.substr(0, 4000);
  EXPECT_NE(out.find("owned"), std::string::npos) << out.substr(0, 4000);
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << out.substr(0, 4000);
}

TEST_F(AgentTest, RegistersActivatesAndSendsEvidenceThatVerifies) {
  FakeBackend be(*pki_, "backend");
  be.SetImaOffset(1);
  WriteConfig({{{be.url()}, {be.url()}}}, 1, "rsa");
  ASSERT_EQ(RunOnce(), 0) << Log();

  std::string uuid = Uuid();
  EXPECT_EQ(FileMode(state_dir() / "uuid"), 0600);
  EXPECT_EQ(FileMode(state_dir() / "ak.key"), 0600);
  auto regs = be.registrations();
  ASSERT_EQ(regs.count(uuid), 1u);
  EXPECT_TRUE(regs[uuid].active) << "activation (HMAC of the MakeCredential secret) failed";
  EXPECT_EQ(be.Count("activate"), 1);

  auto ev = be.evidence();
  ASSERT_EQ(ev.size(), 1u) << Log();
  EXPECT_TRUE(ev[0].quote_ok) << ev[0].quote_failures;
  const auto& e = ev[0].evidence;
  EXPECT_EQ(e.agent_uuid(), uuid);
  EXPECT_EQ(e.boot_time().seconds(), kBootTime);
  EXPECT_EQ(e.capabilities().ima_entry_count(), 3u);
  EXPECT_EQ(e.capabilities().signature_schemes(0), v1::SIGNATURE_SCHEME_RSASSA);
  // IMA entries from the challenge's offset on, byte for byte.
  EXPECT_EQ(e.ima().start_offset(), 1u);
  EXPECT_EQ(e.ima().entry_count(), 2u);
  EXPECT_EQ(e.ima().format(), v1::IMA_LOG_FORMAT_ASCII);
  EXPECT_EQ(e.ima().template_hash_algorithm(), v1::HASH_ALGORITHM_SHA1);
  std::string list = kImaList;
  EXPECT_EQ(e.ima().data(), list.substr(list.find('\n') + 1));
  // First attestation of this boot: the UEFI log goes along.
  EXPECT_EQ(e.uefi_log(), "fake UEFI event log");
  ASSERT_EQ(e.quote().pcrs_size(), 1);
  EXPECT_EQ(e.quote().pcrs(0).values().size(), 9u);
}

TEST_F(AgentTest, RestartKeepsAkAndSkipsRegistrationUntilTheRegistrarLosesIt) {
  FakeBackend be(*pki_, "backend");
  WriteConfig({{{be.url()}, {be.url()}}}, 1);
  ASSERT_EQ(RunOnce(), 0) << Log();
  std::string uuid = Uuid();
  std::string ak = be.registrations()[uuid].ak_public;
  ASSERT_FALSE(ak.empty());
  EXPECT_EQ(be.Count("register"), 1);

  // A restart: same UUID and AK, no registration, a new challenge at once.
  ASSERT_EQ(RunOnce(), 0) << Log();
  EXPECT_EQ(Uuid(), uuid);
  EXPECT_EQ(be.Count("register"), 1);
  auto ev = be.evidence();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(ev[1].quote_ok) << ev[1].quote_failures;
  EXPECT_TRUE(ev[1].evidence.uefi_log().empty()) << "same boot: no UEFI log";

  // The operator deleted the registration: challenge 404 -> register again.
  be.Forget(uuid);
  ASSERT_EQ(RunOnce(), 0) << Log();
  EXPECT_EQ(be.Count("register"), 2);
  auto regs = be.registrations();
  ASSERT_EQ(regs.count(uuid), 1u);
  EXPECT_TRUE(regs[uuid].active);
  EXPECT_EQ(regs[uuid].ak_public, ak) << "the AK must survive restarts";
  bool saw_404 = false;
  for (const auto& r : be.requests()) saw_404 |= r.route == "challenges" && r.status == 404;
  EXPECT_TRUE(saw_404);
  ev = be.evidence();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(ev[2].quote_ok) << ev[2].quote_failures;
}

TEST_F(AgentTest, FailsOverToTheOneGatewayThatAnswers) {
  FakeBackend be(*pki_, "backend");
  std::vector<std::string> gws = {DeadAddress(), DeadAddress(), be.url()};
  std::shuffle(gws.begin(), gws.end(), std::mt19937(std::random_device{}()));
  WriteConfig({{{be.url()}, gws}}, 1);
  ASSERT_EQ(RunOnce(), 0) << Log();
  auto ev = be.evidence();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(ev[0].quote_ok) << ev[0].quote_failures;
}

TEST_F(AgentTest, DuplicationAttestsToTheFirstNBlocksEachWithItsOwnChallenge) {
  FakeBackend a(*pki_, "backend-a");
  FakeBackend b(*pki_, "backend-b");
  FakeBackend c(*pki_, "backend-c");
  WriteConfig({{{a.url()}, {a.url()}}, {{b.url()}, {b.url()}}, {{c.url()}, {c.url()}}}, 2);
  ASSERT_EQ(RunOnce(), 0) << Log();
  for (FakeBackend* be : {&a, &b}) {
    EXPECT_EQ(be->Count("activate"), 1);
    auto ev = be->evidence();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_TRUE(ev[0].quote_ok) << ev[0].quote_failures;
  }
  EXPECT_NE(a.evidence()[0].evidence.challenge_token(), b.evidence()[0].evidence.challenge_token());
  EXPECT_TRUE(c.requests().empty()) << "block 3 is beyond verification_duplication = 2";
}

// N = 2 of 3 with the first block dead: the spare (block 3) registers and
// attests in its place, so --once returns 0 with two blocks attested, and
// --status says which blocks serve and why. Before spare blocks the agent
// kept retrying block 1 and --once never returned.
TEST_F(AgentTest, ASpareBlockReplacesADeadOneAndOnceSucceeds) {
  FakeBackend b(*pki_, "backend-b");
  FakeBackend c(*pki_, "backend-c");
  const std::string dead = DeadAddress();
  WriteConfig({{{dead}, {dead}}, {{b.url()}, {b.url()}}, {{c.url()}, {c.url()}}}, 2, "ecc",
              "block_failover_seconds = 1\nonce_timeout_seconds = 25");
  ASSERT_EQ(RunOnce(), 0) << Log();
  for (FakeBackend* be : {&b, &c}) {
    EXPECT_EQ(be->Count("activate"), 1) << "the spare registers first";
    ASSERT_EQ(be->evidence().size(), 1u);
    EXPECT_TRUE(be->evidence()[0].quote_ok);
  }
  const std::string log = Log();
  EXPECT_NE(log.find("servers[0]: down"), std::string::npos) << log;
  EXPECT_NE(log.find("servers[2]: in use (replaces servers[0])"), std::string::npos) << log;

  std::string out;
  const int rc =
      RunCommand({ATTEST_AGENT_BINARY, "--status", "--config", config_path().string()}, &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("servers[0]  not in use  down"), std::string::npos) << out;
  EXPECT_NE(out.find("2 of 2 block(s) serving"), std::string::npos) << out;
  EXPECT_NE(out.find(dead.substr(8)), std::string::npos) << "the reason names the address\n" << out;
}

// A block whose challenge the agent must refuse (a permanent error) is taken
// out of a --once run at once, and a spare attests instead.
TEST_F(AgentTest, APermanentErrorInOnceModeBringsInTheSpare) {
  FakeBackend a(*pki_, "backend-a");
  FakeBackend b(*pki_, "backend-b");
  a.TokenSize(65);
  WriteConfig({{{a.url()}, {a.url()}}, {{b.url()}, {b.url()}}}, 1);
  ASSERT_EQ(RunOnce(), 0) << Log();
  EXPECT_TRUE(a.evidence().empty());
  EXPECT_EQ(b.evidence().size(), 1u);
}

// Blocks never wait on each other: block 1's gateway accepts connections
// and never answers (for up to 20 s per request), while block 2 attests
// every second. With one thread for all blocks, block 2 waited out block
// 1's timeouts.
TEST_F(AgentTest, AServerThatNeverAnswersDelaysOnlyItsOwnBlock) {
  SilentServer silent;
  FakeBackend b(*pki_, "backend-b");
  WriteConfig({{{}, {silent.url()}}, {{b.url()}, {b.url()}}}, 2, "ecc",
              "request_timeout_ms = 20000\nconnect_timeout_ms = 20000");
  auto p = Start(false);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return b.evidence().size() >= 3; }, 15s)) << Log();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 15s);
  EXPECT_GE(silent.connections(), 1u) << "block 1 was tried, and is still waiting";
  p->Stop();
}

// SIGTERM ends the agent promptly although a block's request is parked on a
// server that never answers (its timeout 20 s): the request is cancelled.
TEST_F(AgentTest, SigtermDoesNotWaitOutAServerThatNeverAnswers) {
  SilentServer silent;
  WriteConfig({{{}, {silent.url()}}}, 1, "ecc",
              "request_timeout_ms = 20000\nconnect_timeout_ms = 20000");
  auto p = Start(false);
  ASSERT_TRUE(WaitFor([&] { return silent.connections() >= 1; }, 10s)) << Log();
  const auto t0 = std::chrono::steady_clock::now();
  const int status = p->Stop(SIGTERM, 15s);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s) << Log();
  ASSERT_TRUE(WIFEXITED(status)) << Log();
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// --once exits non-zero after once_timeout_seconds, naming the block that
// did not attest and why. Before, it retried forever.
TEST_F(AgentTest, OnceGivesUpAfterItsTimeoutNamingTheFailedBlocks) {
  FakeBackend a(*pki_, "backend-a");
  const std::string dead = DeadAddress();
  WriteConfig({{{a.url()}, {a.url()}}, {{}, {dead}}}, 2, "ecc", "once_timeout_seconds = 3");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(RunOnce(), 1) << Log();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);
  const std::string log = Log();
  EXPECT_NE(log.find("1 of 2 block(s) attested within once_timeout_seconds = 3 s"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("servers[1] (verifiers " + dead), std::string::npos) << log;
  EXPECT_EQ(a.evidence().size(), 1u);
}

TEST_F(AgentTest, DuplicationLargerThanTheBlocksFailsAtStartUp) {
  WriteConfig({{{DeadAddress()}, {DeadAddress()}}, {{DeadAddress()}, {DeadAddress()}}}, 3);
  ASSERT_EQ(RunOnce(), 2);
  std::string log = Log();
  EXPECT_NE(log.find(config_path().string()), std::string::npos) << log;
  EXPECT_NE(log.find("verification_duplication"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(state_dir())) << "nothing may happen before the config is valid";
}

TEST_F(AgentTest, ReachesTheServersOnlyThroughTheProxy) {
  FakeBackend be(*pki_, "backend");
  int proxy_port = FreePort();
  fs::path plog = dir_.path() / "tinyproxy.log";
  std::ofstream(dir_.path() / "tinyproxy.conf")
      << "Port " << proxy_port << "\nListen 127.0.0.1\nTimeout 30\nLogFile \"" << plog.string()
      << "\"\nLogLevel Info\nPidFile \"" << (dir_.path() / "tinyproxy.pid").string()
      << "\"\nMaxClients 20\nAllow 127.0.0.1\nConnectPort " << be.port() << "\n";
  Subprocess proxy({"tinyproxy", "-d", "-c", (dir_.path() / "tinyproxy.conf").string()},
                   (dir_.path() / "tinyproxy.out").string());
  ASSERT_TRUE(WaitFor([&] { return PortOpen(proxy_port); }, 10s));

  // From the environment (HTTPS_PROXY), as systemd's Environment= sets it.
  WriteConfig({{{be.url()}, {be.url()}}}, 1);
  std::string proxy_env = "HTTPS_PROXY=http://127.0.0.1:" + std::to_string(proxy_port);
  ASSERT_EQ(RunOnce({proxy_env}), 0) << Log();
  ASSERT_EQ(be.evidence().size(), 1u);
  std::string log = ReadFile(plog);
  EXPECT_NE(log.find("CONNECT"), std::string::npos) << log;
  EXPECT_NE(log.find("127.0.0.1:" + std::to_string(be.port())), std::string::npos) << log;

  // From the config key, pointing at a proxy that is down: the agent must not
  // go around it, so nothing reaches the server.
  size_t before = be.requests().size();
  WriteConfig({{{be.url()}, {be.url()}}}, 1, "ecc",
              "proxy = \"http://127.0.0.1:" + std::to_string(FreePort()) + "\"");
  auto p = Start(true);
  std::this_thread::sleep_for(2s);
  EXPECT_TRUE(p->Running()) << Log();
  p->Stop();
  EXPECT_EQ(be.requests().size(), before);
}

TEST_F(AgentTest, WaitsRetryAfterOnTooEarly) {
  FakeBackend be(*pki_, "backend");
  be.TooEarly(1, 2);
  WriteConfig({{{be.url()}, {be.url()}}}, 1);
  ASSERT_EQ(RunOnce(), 0) << Log();
  std::vector<FakeBackend::RequestRecord> ch;
  for (const auto& r : be.requests()) {
    if (r.route == "challenges") ch.push_back(r);
  }
  ASSERT_EQ(ch.size(), 2u);
  EXPECT_EQ(ch[0].status, 429);
  EXPECT_EQ(ch[1].status, 200);
  // Not before Retry-After (the agent starts waiting after it read the answer).
  EXPECT_GE(ch[1].at - ch[0].at, 2s);
  EXPECT_EQ(be.evidence().size(), 1u);
}

TEST_F(AgentTest, RefusesATokenLongerThanTheTpmNonce) {
  FakeBackend be(*pki_, "backend");
  be.TokenSize(65);
  WriteConfig({{{be.url()}, {be.url()}}}, 1);
  EXPECT_EQ(RunOnce(), 1);
  EXPECT_NE(Log().find("at most 64"), std::string::npos) << Log();
  EXPECT_TRUE(be.evidence().empty());
}

TEST_F(AgentTest, SigtermStopsTheLoopWithExitZero) {
  FakeBackend be(*pki_, "backend");
  WriteConfig({{{be.url()}, {be.url()}}}, 1);
  auto p = Start(false);
  ASSERT_TRUE(WaitFor([&] { return be.evidence().size() >= 2; }, 30s)) << Log();
  int status = p->Stop(SIGTERM, 10s);
  ASSERT_TRUE(WIFEXITED(status)) << Log();
  EXPECT_EQ(WEXITSTATUS(status), 0);
  for (const auto& e : be.evidence()) EXPECT_TRUE(e.quote_ok) << e.quote_failures;
}

}  // namespace
}  // namespace attest::testing
