// Failover with the real attest-worker binary on Apache Kafka: three workers
// in one consumer group and a steady flow of evidence for several agents.
// Mid-flow, one worker is SIGKILLed (the group coordinator gives its
// partitions, and the liveness of its agents, to the others); another is
// SIGSTOPped in the middle of a batch for longer than its session (a zombie:
// evicted, its partitions claimed by the last one, then back with its batch,
// whose commit must be fenced); PostgreSQL restarts; a fourth worker joins.
// Every evidence record must yield exactly one verdict per (agent, sequence)
// on the verdict topic (duplicates of the same verdict are allowed: the outbox
// is at-least-once) and one history row, none lost, all passing; a silent
// agent of the killed worker goes OFFLINE once, by another worker; every
// partition ends up owned by a live worker.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <set>

#include "common/kafka/producer.h"
#include "tests/worker/worker_fixture.h"

namespace attest::worker::test {
namespace {

using namespace std::chrono_literals;

constexpr int kAgents = 10;
// Apache Kafka's smallest allowed session (group.min.session.timeout.ms).
constexpr auto kSession = 6s;

class FailoverTest : public attest::testing::MigratedPostgresTest {
 protected:
  void StartWorker(int i) {
    const auto cfg = dir_.path() / ("w" + std::to_string(i) + ".toml");
    std::ofstream f(cfg);
    f << "worker_id = \"w" << i << "\"\n"
      << "[kafka]\nbootstrap_servers = \"" << kafka_.bootstrap() << "\"\n"
      << "group_id = \"" << group_
      << "\"\nsession_timeout_ms = " << std::chrono::milliseconds(kSession).count() << "\n"
      << "evidence_topic = \"" << topics_.evidence << "\"\n"
      << "verdict_topic = \"" << topics_.verdicts << "\"\n"
      << "revocation_topic = \"" << topics_.revocations << "\"\n"
      << "[database]\nconninfo = \"" << conninfo() << " connect_timeout=2\"\n"
      << "[batch]\nmax_count = 50\nmax_time_ms = 20\n"
      << "[token]\nkey_files = [\"" << keys_.token.string() << "\"]\n"
      << "[revocation]\nsigning_key_file = \"" << keys_.revocation.string()
      << "\"\nkey_id = \"k1\"\n"
      << "[liveness]\nsweep_period_ms = 500\n"
      << "[metrics]\nlisten = \"127.0.0.1:0\"\n";
    f.close();
    workers_[i] = std::make_unique<attest::testing::Subprocess>(
        std::vector<std::string>{ATTEST_WORKER_BINARY, "--config", cfg.string()}, LogPath(i));
  }
  std::string LogPath(int i) const {
    return (dir_.path() / ("w" + std::to_string(i) + ".log")).string();
  }
  std::string Log(int i) const {
    try {
      return attest::testing::ReadFile(LogPath(i));
    } catch (...) {
      return "";
    }
  }
  std::string Logs() const {
    std::string out;
    for (int i = 0; i < 4; ++i) {
      const auto text = Log(i);
      if (text.empty()) continue;
      out += "---- w" + std::to_string(i) + "\n" +
             (text.size() > 6000 ? text.substr(text.size() - 6000) : text);
    }
    return out;
  }
  // partition -> worker id, as the workers claimed them in PostgreSQL.
  std::map<int, std::string> Owners() {
    auto c = Connect();
    pqxx::work tx(*c);
    std::map<int, std::string> out;
    for (const auto& row : tx.exec_params(
             "SELECT partition, owner FROM consumer_offsets WHERE consumer_group = $1", group_)) {
      out[row[0].as<int>()] = row[1].as<std::string>();
    }
    return out;
  }
  std::set<std::string> OwnerSet() {
    std::set<std::string> s;
    for (const auto& [p, o] : Owners()) s.insert(o);
    return s;
  }
  // A new agent, not enrolled yet, whose partition `worker` owns.
  std::unique_ptr<SimAgent> AgentOf(const std::string& worker) {
    std::set<int> parts;
    for (const auto& [p, o] : Owners()) {
      if (o == worker) parts.insert(p);
    }
    if (parts.empty()) return nullptr;
    auto a = std::make_unique<SimAgent>();
    while (!parts.count(kafka::PartitionFor(a->uuid, kPartitions))) a->uuid = RandomUuid();
    return a;
  }
  // Backends of this test's database waiting for a lock.
  int LockWaiters() {
    auto c = Connect();
    pqxx::work tx(*c);
    return tx
        .exec(
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND "
            "wait_event_type = 'Lock'")
        .size();
  }

  attest::testing::TempDir dir_{"attest-worker-failover"};
  attest::testing::KafkaCluster& kafka_ = attest::testing::KafkaCluster::Shared();
  PipelineTopics topics_ = attest::testing::CreatePipelineTopics(kafka_, kPartitions);
  KeyFiles keys_{dir_.path()};
  token::KeySet keyset_ = TestKeys();
  std::string group_ = attest::testing::UniqueName("failover");
  std::unique_ptr<attest::testing::Subprocess> workers_[4];
};

TEST_F(FailoverTest, KillPauseAndJoinWorkersAndRestartDatabaseUnderLoad) {
  auto db = Connect();
  std::vector<std::unique_ptr<SimAgent>> agents;
  for (int i = 0; i < kAgents; ++i) {
    agents.push_back(std::make_unique<SimAgent>());
    const size_t n = agents.back()->log.entries.size();
    Enrol(*db, *agents.back(), n);
  }
  for (int i = 0; i < 3; ++i) StartWorker(i);
  Collector collector(kafka_.bootstrap(), topics_);

  kafka::ProducerConfig pc;
  pc.bootstrap_servers = kafka_.bootstrap();
  auto producer = kafka::Producer::Create(pc);
  ASSERT_TRUE(producer.ok());
  std::map<std::string, uint64_t> sent;  // agent -> evidence records acknowledged
  auto send = [&](SimAgent& a, size_t from) {
    ASSERT_TRUE(
        (*producer)->Produce(topics_.evidence, a.uuid, a.Envelope(keyset_, from), {}, {}).ok());
    ++sent[a.uuid];
  };
  int r = 0;
  auto round = [&] {
    for (auto& a : agents) {
      const size_t from = a->extended;
      a->ExtendTo(std::min(a->log.entries.size(), static_cast<size_t>(r + 1) * 2));
      send(*a, from);
    }
    ++r;
    ASSERT_TRUE((*producer)->Flush(10s).ok());
    std::this_thread::sleep_for(150ms);
  };
  // Rounds until `done` or `timeout`; false on timeout.
  auto rounds_until = [&](const std::function<bool()>& done, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      round();
    }
    return true;
  };

  // Warm-up: the group forms, the first verdicts flow, every worker owns
  // partitions (cooperative rebalances spread them).
  round();
  ASSERT_TRUE(collector.WaitVerdict(agents[0]->uuid, 1, 60s)) << Logs();
  ASSERT_TRUE(rounds_until(
      [&] {
        return OwnerSet() == std::set<std::string>{"w0", "w1", "w2"};
      },
      60s))
      << Logs();
  for (int i = 0; i < 3; ++i) round();

  // An agent of `worker`, enrolled (liveness interval x grace = `window_s`)
  // and verified once by it.
  auto first_pass = [&](const std::string& worker, int window_s) {
    auto a = AgentOf(worker);
    if (!a) {
      ADD_FAILURE() << worker << " owns no partition";
      return a;
    }
    Enrol(*db, *a, a->log.entries.size(), window_s, /*grace=*/1);
    a->ExtendTo(10);
    send(*a, 0);
    EXPECT_TRUE((*producer)->Flush(10s).ok());
    auto v = collector.WaitVerdict(a->uuid, 1, 30s);
    EXPECT_TRUE(v && v->worker_id() == worker) << (v ? v->ShortDebugString() : "") << Logs();
    return a;
  };

  // A silent agent of w1: attests once, then w1 dies before its deadline.
  auto quiet = first_pass("w1", 5);
  ASSERT_TRUE(quiet && !HasFailure());
  workers_[1]->Kill();  // mid-flow: its uncommitted batch is redone by the new owner
  ASSERT_TRUE(rounds_until([&] { return !OwnerSet().count("w1"); }, 60s))
      << "w1's partitions were not taken over\n"
      << Logs();

  // A zombie: w2 stops in the middle of a batch (its transaction open,
  // waiting for an agent row this test holds) for longer than its session.
  // The coordinator evicts it and w0 claims its partitions; when w2 runs
  // again, its batch's offset update finds w0's epoch: rolled back (fenced),
  // and w0 verifies those records, once.
  auto held = first_pass("w2", 3600);
  ASSERT_TRUE(held && !HasFailure());
  const int held_partition = kafka::PartitionFor(held->uuid, kPartitions);
  auto blocker = Connect();
  auto lock = std::make_unique<pqxx::work>(*blocker);
  lock->exec_params("SELECT 1 FROM enrolments WHERE agent_id = $1 FOR UPDATE", held->uuid);
  held->ExtendTo(20);
  send(*held, 10);
  ASSERT_TRUE((*producer)->Flush(10s).ok());
  ASSERT_TRUE(attest::testing::WaitFor([&] { return LockWaiters() > 0; }, 30s))
      << "w2's batch did not wait for the held row\n"
      << Logs();
  ASSERT_EQ(::kill(workers_[2]->pid(), SIGSTOP), 0);
  struct Continue {  // never leave it stopped
    pid_t pid;
    ~Continue() { ::kill(pid, SIGCONT); }
  } cont{workers_[2]->pid()};
  ASSERT_TRUE(rounds_until([&] { return Owners()[held_partition] == "w0"; }, 60s))
      << "w0 did not claim the stopped worker's partition\n"
      << Logs();
  lock->abort();  // w2's transaction takes the row; w0's batch waits for it
  lock.reset();
  for (int i = 0; i < 3; ++i) round();
  ASSERT_EQ(::kill(workers_[2]->pid(), SIGCONT), 0);
  ASSERT_TRUE(rounds_until([&] { return Log(2).find(": fenced") != std::string::npos; }, 60s))
      << "the zombie's batch was not fenced\n"
      << Logs();
  auto redone = collector.WaitVerdict(held->uuid, 2, 60s);
  ASSERT_TRUE(redone) << Logs();
  EXPECT_EQ(redone->worker_id(), "w0") << redone->ShortDebugString();
  for (int i = 0; i < 5; ++i) round();

  server().Restart();  // PostgreSQL under load
  for (int i = 0; i < 10; ++i) round();

  // A worker joins: it is given partitions.
  StartWorker(3);
  ASSERT_TRUE(rounds_until([&] { return OwnerSet().count("w3") > 0; }, 60s))
      << "the new worker got no partition\n"
      << Logs();
  for (int i = 0; i < 5; ++i) round();

  // Every (agent, sequence) 1..sent has exactly one distinct verdict, and
  // the silent agent one OFFLINE verdict from the worker that took it over.
  std::string problem;
  bool complete = attest::testing::WaitFor(
      [&] {
        problem.clear();
        std::map<std::pair<std::string, uint64_t>, std::set<std::string>> seen;
        for (const auto& rec : collector.Records()) {
          if (rec.topic != topics_.verdicts) continue;
          v1::Verdict v;
          if (!v.ParseFromString(rec.value)) continue;
          seen[{v.agent_uuid(), v.sequence()}].insert(rec.value);
        }
        for (const auto& [agent, n] : sent) {
          const uint64_t expected = agent == quiet->uuid ? n + 1 : n;
          for (uint64_t s = 1; s <= expected; ++s) {
            auto it = seen.find({agent, s});
            if (it == seen.end()) {
              problem = "missing " + agent + " #" + std::to_string(s);
              return false;
            }
            if (it->second.size() != 1) {
              problem = "two different verdicts for " + agent + " #" + std::to_string(s);
              return false;
            }
            v1::Verdict v;
            v.ParseFromString(*it->second.begin());
            const auto want = s > n ? v1::VERDICT_RESULT_OFFLINE : v1::VERDICT_RESULT_PASS;
            if (v.result() != want || (s > n && v.worker_id() == "w1")) {
              problem = agent + " #" + std::to_string(s) + ": " + v.ShortDebugString();
              return false;
            }
          }
          if (seen.count({agent, expected + 1})) {
            problem = "more verdicts than evidence for " + agent;
            return false;
          }
        }
        return true;
      },
      120s);
  EXPECT_TRUE(complete) << problem << "\n" << Logs();

  // Each record verified once: one history row per record and sequence.
  db = Connect();  // the first one did not survive the restart
  for (const auto& [agent, n] : sent) {
    pqxx::work tx(*db);
    auto row = tx.exec_params1(
        "SELECT count(*), count(DISTINCT sequence), count(DISTINCT kafka_offset) "
        "FROM attestation_history WHERE agent_id = $1 AND result = 'pass'",
        agent);
    EXPECT_EQ(row[0].as<uint64_t>(), n) << agent;
    EXPECT_EQ(row[1].as<uint64_t>(), n) << agent;
    EXPECT_EQ(row[2].as<uint64_t>(), n) << agent;
  }
  {
    pqxx::work tx(*db);
    EXPECT_EQ(tx.exec_params1("SELECT count(*) FROM attestation_history WHERE agent_id = $1 AND "
                              "result = 'offline'",
                              quiet->uuid)[0]
                  .as<int>(),
              1);
  }

  // No agent without an owner: every partition claimed by a live worker.
  std::map<int, std::string> final_owners;
  EXPECT_TRUE(attest::testing::WaitFor(
      [&] {
        final_owners = Owners();
        if (final_owners.size() != kPartitions) return false;
        for (const auto& [p, o] : final_owners) {
          if (o == "w1") return false;
        }
        return true;
      },
      30s))
      << Logs();
  EXPECT_TRUE(workers_[0]->Running()) << Logs();
  EXPECT_TRUE(workers_[2]->Running()) << Logs();
  EXPECT_TRUE(workers_[3]->Running()) << Logs();
  // Graceful stop: exit code 0.
  EXPECT_EQ(workers_[0]->Stop(15, 30s) >> 8, 0) << Logs();
}

}  // namespace
}  // namespace attest::worker::test
