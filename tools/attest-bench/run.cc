#include "tools/attest-bench/run.h"

#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <thread>

#include "attest/v1/verdict.pb.h"
#include "common/kafka/consumer.h"
#include "tools/attest-bench/agent_round.h"
#include "tools/attest-bench/errors.h"
#include "tools/attest-bench/https_client.h"
#include "tools/attest-bench/state_file.h"
#include "tools/simtpm/sim_ima.h"
#include "tools/simtpm/sim_tpm.h"

namespace attest::bench {
namespace {

namespace asio = boost::asio;

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

Result<void> CheckOptions(const RunOptions& o) {
  if (o.gateways.empty()) return MakeError(errc::invalid_argument, "no --gateway given");
  if (!o.flat_out && o.rate <= 0) {
    return MakeError(errc::invalid_argument, "give --rate R (> 0) or --flat-out");
  }
  if (o.connections < 1 || o.threads < 1) {
    return MakeError(errc::invalid_argument, "--connections and --threads must be >= 1");
  }
  return Ok();
}

// The RSA keys of the state file, loaded once (ECC keys are loaded per quote).
Result<std::vector<tpm::EvpPkeyPtr>> LoadRsaKeys(const BenchState& state) {
  std::vector<tpm::EvpPkeyPtr> rsa(state.keys.size());
  for (size_t i = 0; i < state.keys.size(); ++i) {
    if (state.keys[i].type != KeyType::kRsa) continue;
    ATTEST_ASSIGN_OR_RETURN(rsa[i], simtpm::KeyFromDer(state.keys[i].der));
  }
  return rsa;
}

Result<std::vector<Endpoint>> GatewayEndpoints(const RunOptions& o) {
  std::vector<Endpoint> endpoints;
  for (const auto& g : o.gateways) {
    Endpoint e;
    ATTEST_ASSIGN_OR_RETURN(e, Endpoint::Parse(g, "8881"));
    endpoints.push_back(std::move(e));
  }
  return endpoints;
}

// The verdict consumer, positioned at the end of every partition before any
// evidence of this run is sent.
Result<std::unique_ptr<kafka::Consumer>> OpenVerdictConsumer(const RunOptions& o,
                                                             FromEnd& from_end) {
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
  return consumer;
}

// The verdict thread's loop: matches verdicts to accepted evidence until
// `consuming` turns false, then closes the consumer.
void ConsumeVerdicts(kafka::Consumer& consumer, Tracker& tracker, Scheduler& sched,
                     Counters& counters, const std::atomic<bool>& consuming) {
  while (consuming) {
    auto msgs = consumer.Poll(std::chrono::milliseconds(100), 1000);
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
  (void)consumer.Close();
}

// The load phase's clock: samples the watched processes and logs progress
// every 5 s until `end`.
void WatchLoad(SteadyClock::time_point t0, SteadyClock::time_point end, ProcWatch& watch,
               Tracker& tracker, const Counters& counters) {
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
}

// This process and the services named by --watch-pid / --watch-tree.
void WatchProcesses(const RunOptions& o, ProcWatch& watch) {
  watch.Add("attest-bench", getpid());
  for (const auto& [name, pid] : o.watch) watch.Add(name, pid);
  for (const auto& [name, pid] : o.watch_tree) watch.Add(name, pid, true);
  watch.Start();
}

// Waits for the verdicts of everything accepted (up to `timeout`), then a
// little longer, so late duplicates are seen too.
void DrainVerdicts(Tracker& tracker, std::chrono::milliseconds timeout) {
  const auto drain_end = SteadyClock::now() + timeout;
  while (tracker.Outstanding() > 0 && SteadyClock::now() < drain_end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
}

RunReport MakeReport(size_t agents, double seconds, double drain_seconds, const Counters& counters,
                     Scheduler& sched, Tracker& tracker, const ProcWatch& watch) {
  RunReport rep;
  rep.agents = agents;
  rep.seconds = seconds;
  rep.drain_seconds = drain_seconds;
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

}  // namespace

Result<RunReport> RunBench(const RunOptions& o) {
  ATTEST_RETURN_IF_ERROR(CheckOptions(o));
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
  std::vector<tpm::EvpPkeyPtr> rsa;
  ATTEST_ASSIGN_OR_RETURN(rsa, LoadRsaKeys(state));
  std::vector<Endpoint> endpoints;
  ATTEST_ASSIGN_OR_RETURN(endpoints, GatewayEndpoints(o));
  std::shared_ptr<asio::ssl::context> tls;
  ATTEST_ASSIGN_OR_RETURN(tls, MakeClientTls(o.ca_file));

  // The verdict consumer first, so no verdict of this run is before its start.
  FromEnd from_end;
  std::unique_ptr<kafka::Consumer> consumer;
  ATTEST_ASSIGN_OR_RETURN(consumer, OpenVerdictConsumer(o, from_end));

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
  std::thread verdict_thread(
      [&] { ConsumeVerdicts(*consumer, tracker, sched, counters, consuming); });

  ProcWatch watch;
  WatchProcesses(o, watch);

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

  WatchLoad(t0, t0 + o.duration, watch, tracker, counters);
  s.stop = true;
  // In-flight rounds finish (bounded by the request timeout and retries).
  while (s.active.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const auto t1 = SteadyClock::now();
  for (auto& io : ios) io->stop();
  for (auto& t : io_threads) t.join();
  DrainVerdicts(tracker, o.drain_timeout);
  watch.Sample();
  const auto t2 = SteadyClock::now();
  consuming = false;
  verdict_thread.join();
  return MakeReport(n, std::chrono::duration<double>(t1 - t0).count(),
                    std::chrono::duration<double>(t2 - t1).count(), counters, sched, tracker,
                    watch);
}

}  // namespace attest::bench
