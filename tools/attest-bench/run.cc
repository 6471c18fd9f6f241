#include "tools/attest-bench/run.h"

#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <variant>

#include "attest/v1/attestation.pb.h"
#include "attest/v1/verdict.pb.h"
#include "common/kafka/consumer.h"
#include "common/protoconv/hash_alg.h"
#include "tools/attest-bench/errors.h"
#include "tools/attest-bench/https_client.h"
#include "tools/attest-bench/state_file.h"
#include "tools/simtpm/sim_ima.h"
#include "tools/simtpm/sim_tpm.h"

namespace attest::bench {
namespace {

namespace asio = boost::asio;
using asio::use_awaitable;
using SteadyClock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch())
      .count();
}
int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
constexpr int64_t kSecond = 1'000'000'000;

enum class Phase : uint8_t { kReady, kBusy, kAwaiting };

// A simulated agent's TPM and IMA state during a run (the identity is in
// the state file).
struct Agent {
  std::string uuid;
  uint32_t key = 0;
  Phase phase = Phase::kReady;
  uint32_t round = 0;
  int64_t next_ok_ns = 0;
  uint64_t ima_count = 0;
  std::array<uint8_t, 32> pcr10{};
  uint64_t clock_ms = 0;
};

// Which agent goes next, and the rate limit. Agents wait in FIFO order; an
// agent is in `ready_` only while it may start a round.
class Scheduler {
 public:
  Scheduler(std::vector<Agent>& agents, double rate, int64_t interval_ns,
            int64_t verdict_timeout_ns)
      : agents_(agents),
        permit_ns_(rate > 0 ? static_cast<int64_t>(1e9 / rate) : 0),
        interval_ns_(interval_ns),
        verdict_timeout_ns_(verdict_timeout_ns) {
    for (uint32_t i = 0; i < agents.size(); ++i) ready_.push_back(i);
  }

  // An agent index to run now, or the time to wait (ns) before asking again.
  std::variant<uint32_t, int64_t> Next(int64_t now) {
    std::lock_guard lock(mu_);
    while (!awaiting_.empty() && awaiting_.front().deadline <= now) {
      auto [idx, round, deadline] = awaiting_.front();
      awaiting_.pop_front();
      Agent& a = agents_[idx];
      if (a.phase == Phase::kAwaiting && a.round == round) {
        ++verdict_timeouts_;
        a.phase = Phase::kReady;
        a.next_ok_ns = now;
        ready_.push_back(idx);
      }
    }
    if (ready_.empty()) return int64_t{5'000'000};
    Agent& a = agents_[ready_.front()];
    if (a.next_ok_ns > now) return std::min<int64_t>(a.next_ok_ns - now, 20'000'000);
    if (permit_ns_ > 0) {
      // Up to 100 ms of credit, so a short stall does not lose throughput.
      next_permit_ = std::max(next_permit_, now - 100'000'000);
      if (next_permit_ > now) return std::min<int64_t>(next_permit_ - now, 20'000'000);
      next_permit_ += permit_ns_;
    }
    uint32_t idx = ready_.front();
    ready_.pop_front();
    a.phase = Phase::kBusy;
    ++a.round;
    return idx;
  }
  // The round ended without accepted evidence: try again after `delay_ns`.
  void Retry(uint32_t idx, int64_t now, int64_t delay_ns) {
    std::lock_guard lock(mu_);
    agents_[idx].phase = Phase::kReady;
    agents_[idx].next_ok_ns = now + delay_ns;
    ready_.push_back(idx);
  }
  void Awaiting(uint32_t idx, int64_t now) {
    std::lock_guard lock(mu_);
    Agent& a = agents_[idx];
    a.phase = Phase::kAwaiting;
    awaiting_.push_back({idx, a.round, now + verdict_timeout_ns_});
  }
  // The verdict of (idx, round) arrived: the next round after the interval.
  void Decided(AgentRound who, int64_t now) {
    std::lock_guard lock(mu_);
    Agent& a = agents_[who.agent];
    if (a.phase != Phase::kAwaiting || a.round != who.round) return;
    a.phase = Phase::kReady;
    a.next_ok_ns = now + interval_ns_;
    ready_.push_back(who.agent);
  }
  uint64_t verdict_timeouts() {
    std::lock_guard lock(mu_);
    return verdict_timeouts_;
  }

 private:
  struct Wait {
    uint32_t idx;
    uint32_t round;
    int64_t deadline;
  };
  std::mutex mu_;
  std::vector<Agent>& agents_;
  std::deque<uint32_t> ready_;
  std::deque<Wait> awaiting_;
  int64_t permit_ns_;
  int64_t next_permit_ = 0;
  int64_t interval_ns_;
  int64_t verdict_timeout_ns_;
  uint64_t verdict_timeouts_ = 0;
};

struct Counters {
  std::mutex mu;
  std::map<int, uint64_t> challenge_refused, refused, throttled;
  std::atomic<uint64_t> rounds{0}, retries{0}, transport{0}, protocol{0}, connects{0};
  void Add(std::map<int, uint64_t>& m, int status) {
    std::lock_guard lock(mu);
    ++m[status];
  }
};

// Rejects the evidence topic's consumer-group default: start at the end.
class FromEnd : public kafka::RebalanceListener {
 public:
  Result<void> OnAssigned(std::vector<kafka::TopicPartition>& parts) override {
    for (auto& p : parts) p.offset = kafka::kOffsetEnd;
    return Ok();
  }
  void OnRevoked(const std::vector<kafka::TopicPartition>&) override {}
  void OnLost(const std::vector<kafka::TopicPartition>&) override {}
};

struct Shared {
  const RunOptions& o;
  std::vector<Agent>& agents;
  const BenchState& state;
  const simtpm::ImaPool& pool;
  std::vector<tpm::EvpPkeyPtr> rsa_keys;  // loaded once; ECC keys per quote
  Scheduler& sched;
  Tracker& tracker;
  Counters& counters;
  uint32_t reset_count;
  int64_t boot_time;
  std::atomic<bool> stop{false};
  std::atomic<int> active{0};
};

Result<std::string> BuildEvidence(Shared& s, Agent& a, const v1::Challenge& ch) {
  TPML_PCR_SELECTION sel{};
  tpm::PcrValues values;
  for (const auto& ps : ch.pcr_selection()) {
    if (ps.hash_algorithm() != v1::HASH_ALGORITHM_SHA256 || sel.count > 0) {
      return MakeError(errc::protocol, "challenge asks for a PCR bank other than sha256");
    }
    sel.count = 1;
    sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
    sel.pcrSelections[0].sizeofSelect = 3;
    for (uint32_t p : ps.pcrs()) {
      if (p > 23) return MakeError(errc::protocol, "challenge selects PCR > 23");
      sel.pcrSelections[0].pcrSelect[p / 8] |= static_cast<uint8_t>(1 << (p % 8));
      values[TPM2_ALG_SHA256][p] =
          p == 10 ? tpm::Bytes(a.pcr10.begin(), a.pcr10.end()) : tpm::Bytes(32, 0);
    }
  }
  TPMI_ALG_HASH hash = ch.quote_hash_algorithm() == v1::HASH_ALGORITHM_UNSPECIFIED
                           ? TPM2_ALG_SHA256
                           : protoconv::TpmHashAlg(ch.quote_hash_algorithm());
  a.clock_ms = std::max<uint64_t>(a.clock_ms + 1, static_cast<uint64_t>(WallMs()));
  simtpm::Clock clock{a.clock_ms, s.reset_count, 0, true};
  const auto& token = ch.token();
  tpm::Bytes attest;
  ATTEST_ASSIGN_OR_RETURN(attest, simtpm::MakeQuote(tpm::AsBytes(token), sel, values, hash, clock));
  const StoredKey& key = s.state.keys[a.key];
  tpm::Bytes sig;
  if (key.type == KeyType::kRsa) {
    EVP_PKEY* k = s.rsa_keys[a.key].get();
    ATTEST_ASSIGN_OR_RETURN(sig, simtpm::SignLikeTpm(k, TPM2_ALG_RSASSA, hash, attest));
  } else {
    tpm::EvpPkeyPtr k;
    ATTEST_ASSIGN_OR_RETURN(k, simtpm::KeyFromDer(key.der));
    ATTEST_ASSIGN_OR_RETURN(sig, simtpm::SignLikeTpm(k.get(), TPM2_ALG_ECDSA, hash, attest));
  }
  v1::Evidence ev;
  ev.set_agent_uuid(a.uuid);
  ev.set_challenge_token(token);
  auto* q = ev.mutable_quote();
  q->set_attest(std::string(attest.begin(), attest.end()));
  q->set_signature(std::string(sig.begin(), sig.end()));
  auto* bank = q->add_pcrs();
  bank->set_hash_algorithm(v1::HASH_ALGORITHM_SHA256);
  for (const auto& [i, v] : values[TPM2_ALG_SHA256]) {
    (*bank->mutable_values())[i] = std::string(v.begin(), v.end());
  }
  uint64_t from = ch.ima_offset();
  auto* ima = ev.mutable_ima();
  ima->set_start_offset(from);
  ima->set_entry_count(a.ima_count - from);
  ima->set_format(v1::IMA_LOG_FORMAT_ASCII);
  ima->set_template_hash_algorithm(v1::HASH_ALGORITHM_SHA1);
  ima->set_data(s.pool.AsciiRange(from, a.ima_count));
  ev.mutable_boot_time()->set_seconds(s.boot_time);
  std::string out;
  ev.SerializeToString(&out);
  return out;
}

asio::awaitable<void> Sleep(int64_t ns) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(std::chrono::nanoseconds(ns));
  boost::system::error_code ec;
  co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
}

int64_t RetryAfterNs(const HttpReply& r) {
  return (r.retry_after_seconds >= 0 ? r.retry_after_seconds : 1) * kSecond;
}

// One round of agent `idx` on `conn`.
asio::awaitable<void> Round(Shared& s, HttpsConnection& conn, uint32_t idx) {
  Agent& a = s.agents[idx];
  auto& c = s.counters;
  ++c.rounds;
  const uint32_t k = s.o.ima_entries_per_round;
  s.pool.Extend(a.pcr10, a.ima_count, a.ima_count + k);
  a.ima_count += k;

  v1::ChallengeRequest creq;
  creq.set_agent_uuid(a.uuid);
  auto* caps = creq.mutable_capabilities();
  caps->add_hash_algorithms(v1::HASH_ALGORITHM_SHA256);
  caps->add_signature_schemes(s.state.keys[a.key].type == KeyType::kRsa
                                  ? v1::SIGNATURE_SCHEME_RSASSA
                                  : v1::SIGNATURE_SCHEME_ECDSA);
  caps->mutable_boot_time()->set_seconds(s.boot_time);
  caps->set_ima_entry_count(a.ima_count);
  caps->set_agent_version("attest-bench");
  std::string body;
  creq.SerializeToString(&body);
  auto reply = co_await conn.Post("/v1/agents/" + a.uuid + "/challenges", std::move(body));
  if (!reply) {
    ++c.transport;
    s.sched.Retry(idx, NowNs(), kSecond);
    co_return;
  }
  if (reply->status == 429 || reply->status == 503) {
    c.Add(c.throttled, reply->status);
    s.sched.Retry(idx, NowNs(), RetryAfterNs(*reply));
    co_return;
  }
  v1::Challenge ch;
  if (reply->status != 200) {
    c.Add(c.challenge_refused, reply->status);
    s.sched.Retry(idx, NowNs(), kSecond);
    co_return;
  }
  if (!ch.ParseFromString(reply->body) || ch.ima_offset() > a.ima_count) {
    ++c.protocol;
    s.sched.Retry(idx, NowNs(), kSecond);
    co_return;
  }
  auto evidence = BuildEvidence(s, a, ch);
  if (!evidence) {
    ++c.protocol;
    spdlog::warn("agent {}: {}", a.uuid, evidence.error().message);
    s.sched.Retry(idx, NowNs(), kSecond);
    co_return;
  }
  const std::string target = "/v1/agents/" + a.uuid + "/evidence";
  const int64_t sent = NowNs();
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) ++c.retries;
    auto r = co_await conn.Post(target, *evidence);
    int64_t delay = kSecond;
    if (!r) {
      ++c.transport;
    } else if (r->status == 202) {
      v1::EvidenceAccepted acc;
      if (!acc.ParseFromString(r->body) || acc.evidence_id().empty()) {
        ++c.protocol;
        s.sched.Retry(idx, NowNs(), kSecond);
        co_return;
      }
      // Awaiting first: the verdict thread may decide it right away.
      s.sched.Awaiting(idx, NowNs());
      if (s.tracker.Accepted(acc.evidence_id(), {idx, a.round}, sent)) {
        s.sched.Decided({idx, a.round}, NowNs());
      }
      co_return;
    } else if (r->status == 429 || r->status == 503) {
      c.Add(c.throttled, r->status);
      delay = RetryAfterNs(*r);
    } else {
      c.Add(c.refused, r->status);
      s.sched.Retry(idx, NowNs(), kSecond);
      co_return;
    }
    if (attempt >= s.o.max_retries || s.stop) {
      c.Add(c.refused, r ? r->status : 0);
      s.sched.Retry(idx, NowNs(), delay);
      co_return;
    }
    co_await Sleep(delay);
  }
}

asio::awaitable<void> ConnectionLoop(Shared& s, std::unique_ptr<HttpsConnection> conn) {
  while (!s.stop) {
    auto next = s.sched.Next(NowNs());
    if (auto* wait = std::get_if<int64_t>(&next)) {
      co_await Sleep(*wait);
      continue;
    }
    co_await Round(s, *conn, std::get<uint32_t>(next));
  }
  s.counters.connects += conn->connects();
  conn->Close();
  s.active.fetch_sub(1);
}

Result<v1::Verdict> ParseVerdict(const kafka::Message& m) {
  v1::Verdict v;
  bool json = false;
  for (const auto& h : m.headers) {
    if (h.name == "content-type" && h.value.find("json") != std::string::npos) json = true;
  }
  if (json) {
    if (!google::protobuf::util::JsonStringToMessage(m.value, &v).ok()) {
      return MakeError(errc::protocol, "verdict: bad JSON");
    }
  } else if (!v.ParseFromString(m.value)) {
    return MakeError(errc::protocol, "verdict: bad protobuf");
  }
  return v;
}

std::string ResultName(v1::VerdictResult r) {
  std::string n = v1::VerdictResult_Name(r);
  const std::string prefix = "VERDICT_RESULT_";
  return n.starts_with(prefix) ? n.substr(prefix.size()) : n;
}

}  // namespace

Result<RunReport> RunBench(const RunOptions& o) {
  if (o.gateways.empty()) return MakeError(errc::invalid_argument, "no --gateway given");
  if (!o.flat_out && o.rate <= 0) {
    return MakeError(errc::invalid_argument, "give --rate R (> 0) or --flat-out");
  }
  if (o.connections < 1 || o.threads < 1) {
    return MakeError(errc::invalid_argument, "--connections and --threads must be >= 1");
  }
  BenchState state;
  ATTEST_ASSIGN_OR_RETURN(state, ReadState(o.state_file));
  auto pool = simtpm::ImaPool::Create(state.ima_pool);
  if (!pool) return pool.error();
  size_t n = state.uuids.size();
  if (o.max_agents > 0) n = std::min(n, o.max_agents);
  if (n == 0) return MakeError(errc::invalid_argument, "the state file has no agents");

  std::vector<Agent> agents(n);
  std::vector<std::string> uuids(n);
  for (size_t i = 0; i < n; ++i) {
    agents[i].uuid = uuids[i] = UuidText(state.uuids[i]);
    agents[i].key = state.key_of[i];
  }
  std::vector<tpm::EvpPkeyPtr> rsa(state.keys.size());
  for (size_t i = 0; i < state.keys.size(); ++i) {
    if (state.keys[i].type != KeyType::kRsa) continue;
    ATTEST_ASSIGN_OR_RETURN(rsa[i], simtpm::KeyFromDer(state.keys[i].der));
  }
  std::vector<Endpoint> endpoints;
  for (const auto& g : o.gateways) {
    Endpoint e;
    ATTEST_ASSIGN_OR_RETURN(e, Endpoint::Parse(g, "8881"));
    endpoints.push_back(std::move(e));
  }
  std::shared_ptr<asio::ssl::context> tls;
  ATTEST_ASSIGN_OR_RETURN(tls, MakeClientTls(o.ca_file));

  // The verdict consumer first, so no verdict of this run is before its start.
  kafka::ConsumerConfig cc;
  cc.bootstrap_servers = o.bootstrap;
  cc.group_id = "attest-bench-" + UuidText(RandomUuid());
  cc.client_id = "attest-bench";
  cc.topics = {o.verdict_topic};
  cc.auto_offset_reset = "latest";
  cc.session_timeout = std::chrono::milliseconds(10'000);
  cc.heartbeat_interval = std::chrono::milliseconds(1'000);
  // librdkafka waits up to fetch.wait.max.ms (500 ms) on a broker that does
  // not answer fetches as soon as data arrives (the dev broker's mock
  // cluster); that would be measured as verdict latency.
  cc.extra["fetch.wait.max.ms"] = std::to_string(o.fetch_wait_ms);
  FromEnd from_end;
  std::unique_ptr<kafka::Consumer> consumer;
  ATTEST_ASSIGN_OR_RETURN(consumer, kafka::Consumer::Create(cc, &from_end));
  auto assign_deadline = SteadyClock::now() + std::chrono::seconds(30);
  while (!consumer->HasBeenAssigned() || consumer->Assignment().empty()) {
    if (SteadyClock::now() > assign_deadline) {
      return MakeError(errc::transport, "verdict consumer: no partition assigned in 30 s (" +
                                            o.bootstrap + ", " + o.verdict_topic + ")");
    }
    auto m = consumer->Poll(std::chrono::milliseconds(100), 100);
    if (!m) return m.error();
  }
  // kOffsetEnd is resolved only when the first fetch of a partition starts:
  // verdicts published before that would be skipped (counted as missing).
  // Once every partition has answered a fetch (its watermarks are cached),
  // its position is fixed before any evidence of this run is sent.
  while (!consumer->AllPartitionsFetched()) {
    if (SteadyClock::now() > assign_deadline) {
      return MakeError(errc::transport, "verdict consumer: partitions not positioned in 30 s (" +
                                            o.bootstrap + ", " + o.verdict_topic + ")");
    }
    auto m = consumer->Poll(std::chrono::milliseconds(100), 100);
    if (!m) return m.error();
  }

  Tracker tracker(uuids);
  Scheduler sched(agents, o.flat_out ? 0 : o.rate, int64_t{state.interval_seconds} * kSecond,
                  o.verdict_timeout.count() * 1'000'000);
  Counters counters;
  const int64_t wall_s = WallMs() / 1000;
  Shared s{o,          agents,         state,
           *pool,      std::move(rsa), sched,
           tracker,    counters,       static_cast<uint32_t>(wall_s),
           wall_s - 60};

  std::atomic<bool> consuming{true};
  std::thread verdict_thread([&] {
    while (consuming) {
      auto msgs = consumer->Poll(std::chrono::milliseconds(100), 1000);
      if (!msgs) {
        spdlog::warn("verdict consumer: {}", msgs.error().message);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      const int64_t now = NowNs();
      for (const auto& m : *msgs) {
        auto v = ParseVerdict(m);
        if (!v) {
          ++counters.protocol;
          continue;
        }
        auto who = tracker.OnVerdict(v->agent_uuid(), v->sequence(), v->evidence_id(),
                                     ResultName(v->result()), now);
        if (who) sched.Decided(*who, now);
      }
    }
    (void)consumer->Close();
  });

  ProcWatch watch;
  watch.Add("attest-bench", getpid());
  for (const auto& [name, pid] : o.watch) watch.Add(name, pid);
  for (const auto& [name, pid] : o.watch_tree) watch.Add(name, pid, true);
  watch.Start();

  std::vector<std::unique_ptr<asio::io_context>> ios;
  for (int t = 0; t < o.threads; ++t) ios.push_back(std::make_unique<asio::io_context>(1));
  for (int i = 0; i < o.connections; ++i) {
    auto& io = *ios[static_cast<size_t>(i) % ios.size()];
    auto conn = std::make_unique<HttpsConnection>(
        io, tls, endpoints[static_cast<size_t>(i) % endpoints.size()], o.request_timeout);
    s.active.fetch_add(1);
    asio::co_spawn(io, ConnectionLoop(s, std::move(conn)), asio::detached);
  }
  const auto t0 = SteadyClock::now();
  std::vector<std::thread> io_threads;
  for (auto& io : ios) io_threads.emplace_back([&io] { io->run(); });

  const auto end = t0 + o.duration;
  auto last_log = t0;
  while (SteadyClock::now() < end) {
    std::this_thread::sleep_for(
        std::min<SteadyClock::duration>(std::chrono::milliseconds(500), end - SteadyClock::now()));
    watch.Sample();
    if (SteadyClock::now() - last_log >= std::chrono::seconds(5)) {
      last_log = SteadyClock::now();
      auto snap = tracker.Outstanding();
      spdlog::info("run: {:.0f} s, {} rounds, {} awaiting verdicts",
                   std::chrono::duration<double>(last_log - t0).count(), counters.rounds.load(),
                   snap);
    }
  }
  s.stop = true;
  // In-flight rounds finish (bounded by the request timeout and retries).
  while (s.active.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const auto t1 = SteadyClock::now();
  for (auto& io : ios) io->stop();
  for (auto& t : io_threads) t.join();
  // Drain: wait for the verdicts of everything accepted.
  const auto drain_end = SteadyClock::now() + o.drain_timeout;
  while (tracker.Outstanding() > 0 && SteadyClock::now() < drain_end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // A little longer, so late duplicates are seen too.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  watch.Sample();
  const auto t2 = SteadyClock::now();
  consuming = false;
  verdict_thread.join();

  RunReport rep;
  rep.agents = n;
  rep.seconds = std::chrono::duration<double>(t1 - t0).count();
  rep.drain_seconds = std::chrono::duration<double>(t2 - t1).count();
  rep.rounds = counters.rounds;
  rep.challenge_refused = counters.challenge_refused;
  rep.refused = counters.refused;
  rep.throttled = counters.throttled;
  rep.retries = counters.retries;
  rep.transport_errors = counters.transport;
  rep.protocol_errors = counters.protocol;
  rep.verdict_timeouts = sched.verdict_timeouts();
  rep.connects = counters.connects;
  rep.tracker = tracker.Snapshot();
  rep.processes = watch.processes();
  return rep;
}

}  // namespace attest::bench
