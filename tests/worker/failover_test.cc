// Failover with the real attest-worker binary: three workers in one group, a
// steady flow of evidence for several agents, one worker SIGKILLed mid-flow
// and PostgreSQL restarted under load. Every evidence record must yield
// exactly one verdict per (agent, sequence) on the verdict topic (duplicates
// of the same verdict are allowed: the outbox is at-least-once), none lost,
// all passing, and every partition must end up owned by a live worker.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "common/kafka/producer.h"
#include "tests/worker/worker_fixture.h"

namespace attest::worker::test {
namespace {

constexpr int kAgents = 10;
constexpr int kWorkers = 3;

class FailoverTest : public attest::testing::MigratedPostgresTest {
 protected:
  std::unique_ptr<attest::testing::Subprocess> StartWorker(int i) {
    const auto cfg = dir_.path() / ("w" + std::to_string(i) + ".toml");
    std::ofstream f(cfg);
    f << "worker_id = \"w" << i << "\"\n"
      << "[kafka]\nbootstrap_servers = \"" << broker_.bootstrap() << "\"\n"
      << "group_id = \"" << group_ << "\"\nsession_timeout_ms = 4000\n"
      << "[database]\nconninfo = \"" << conninfo() << " connect_timeout=2\"\n"
      << "[batch]\nmax_count = 50\nmax_time_ms = 20\n"
      << "[token]\nkey_files = [\"" << keys_.token.string() << "\"]\n"
      << "[revocation]\nsigning_key_file = \"" << keys_.revocation.string()
      << "\"\nkey_id = \"k1\"\n"
      << "[liveness]\nsweep_period_ms = 500\n"
      << "[metrics]\nlisten = \"127.0.0.1:0\"\n";
    f.close();
    return std::make_unique<attest::testing::Subprocess>(
        std::vector<std::string>{ATTEST_WORKER_BINARY, "--config", cfg.string()},
        (dir_.path() / ("w" + std::to_string(i) + ".log")).string());
  }
  std::string Logs() {
    std::string out;
    for (int i = 0; i < kWorkers; ++i) {
      try {
        auto text = attest::testing::ReadFile(dir_.path() / ("w" + std::to_string(i) + ".log"));
        out += "---- w" + std::to_string(i) + "\n" +
               (text.size() > 6000 ? text.substr(text.size() - 6000) : text);
      } catch (...) {
      }
    }
    return out;
  }

  attest::testing::TempDir dir_{"attest-worker-failover"};
  attest::testing::DevBroker broker_;
  KeyFiles keys_{dir_.path()};
  token::KeySet keyset_ = TestKeys();
  std::string group_ = "failover-" + RandomUuid();
};

TEST_F(FailoverTest, KillOneWorkerAndRestartDatabaseUnderLoad) {
  auto db = Connect();
  std::vector<std::unique_ptr<SimAgent>> agents;
  for (int i = 0; i < kAgents; ++i) {
    agents.push_back(std::make_unique<SimAgent>());
    const size_t n = agents.back()->log.entries.size();
    Enrol(*db, *agents.back(), n);
  }
  std::vector<std::unique_ptr<attest::testing::Subprocess>> workers;
  for (int i = 0; i < kWorkers; ++i) workers.push_back(StartWorker(i));
  Collector collector(broker_.bootstrap());

  kafka::ProducerConfig pc;
  pc.bootstrap_servers = broker_.bootstrap();
  auto producer = kafka::Producer::Create(pc);
  ASSERT_TRUE(producer.ok());
  std::map<std::string, uint64_t> sent;  // agent -> evidence records acknowledged
  auto round = [&](int r) {
    for (auto& a : agents) {
      const size_t from = a->extended;
      a->ExtendTo(std::min(a->log.entries.size(), static_cast<size_t>(r + 1) * 2));
      auto env = a->Envelope(keyset_, from);
      ASSERT_TRUE((*producer)->Produce("attestation.evidence", a->uuid, env, {}, {}).ok());
      ++sent[a->uuid];
    }
    ASSERT_TRUE((*producer)->Flush(std::chrono::seconds(10)).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  };

  // Warm-up: wait for the group to form and the first verdicts to flow.
  round(0);
  ASSERT_TRUE(collector.WaitVerdict(agents[0]->uuid, 1, std::chrono::seconds(60))) << Logs();
  for (int r = 1; r < 10; ++r) round(r);
  workers[1]->Kill();  // mid-flow: its uncommitted batch is redone by the new owner
  for (int r = 10; r < 20; ++r) round(r);
  server().Restart();  // PostgreSQL under load
  for (int r = 20; r < 30; ++r) round(r);

  // Every (agent, sequence) 1..sent has exactly one distinct verdict.
  std::string problem;
  bool complete = attest::testing::WaitFor(
      [&] {
        problem.clear();
        std::map<std::pair<std::string, uint64_t>, std::set<std::string>> seen;
        for (const auto& rec : collector.Records()) {
          if (rec.topic != "attestation.verdicts") continue;
          v1::Verdict v;
          if (!v.ParseFromString(rec.value)) continue;
          seen[{v.agent_uuid(), v.sequence()}].insert(rec.value);
        }
        for (const auto& [agent, n] : sent) {
          for (uint64_t s = 1; s <= n; ++s) {
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
            if (v.result() != v1::VERDICT_RESULT_PASS) {
              problem = agent + " #" + std::to_string(s) + ": " + v.ShortDebugString();
              return false;
            }
          }
          if (seen.count({agent, n + 1})) {
            problem = "more verdicts than evidence for " + agent;
            return false;
          }
        }
        return true;
      },
      std::chrono::seconds(120));
  EXPECT_TRUE(complete) << problem << "\n" << Logs();

  // No agent without an owner: every partition claimed by a live worker.
  auto owners = [&] {
    auto c = Connect();
    pqxx::work tx(*c);
    std::map<int, std::string> out;
    for (const auto& row : tx.exec_params(
             "SELECT partition, owner FROM consumer_offsets WHERE consumer_group = $1", group_)) {
      out[row[0].as<int>()] = row[1].as<std::string>();
    }
    return out;
  };
  std::map<int, std::string> final_owners;
  EXPECT_TRUE(attest::testing::WaitFor(
      [&] {
        final_owners = owners();
        if (final_owners.size() != kPartitions) return false;
        for (const auto& [p, o] : final_owners) {
          if (o == "w1") return false;
        }
        return true;
      },
      std::chrono::seconds(30)))
      << Logs();
  EXPECT_TRUE(workers[0]->Running()) << Logs();
  EXPECT_TRUE(workers[2]->Running()) << Logs();
  // Graceful stop: exit code 0.
  EXPECT_EQ(workers[0]->Stop(15, std::chrono::seconds(30)) >> 8, 0) << Logs();
}

}  // namespace
}  // namespace attest::worker::test
