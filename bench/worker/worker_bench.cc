// Worker throughput: pre-built valid evidence for N simulated agents
// (software AKs made here: P-256, or with ATTEST_BENCH_AK=rsa RSA-2048, the
// common TPM AK, 256 distinct keys shared round-robin since generating 100,000
// RSA keys would take an hour; quotes over PCR 10 signed like a TPM, no IMA
// list), ATTEST_BENCH_ROUNDS records per agent (default 3), is produced into
// Kafka, then 1 or 2 attest-worker processes consume it. Kafka: a private
// Apache Kafka (default; ATTEST_BENCH_KAFKA_NODES=3 for three nodes) or, with
// ATTEST_BENCH_KAFKA=dev, the dev broker (bench_kafka.h). Reported:
// evidence verified and committed per second (from the first commit to the
// last, so the group join is excluded), the same over the rounds after the
// first ("steady": a running worker has every agent's AK and stored state;
// the first round also builds each agent's key, as after a worker start or a
// rebalance) and verdicts published per second (outbox rows delivered and
// deleted).
//
// Durable commits: run under a server with fsync and synchronous_commit on
// (pg_virtualenv turns fsync off unless told otherwise):
//   pg_virtualenv -o fsync=on sh -c 'ATTEST_BENCH_DATABASE="host=$PGHOST port=$PGPORT
//     user=$PGUSER password=$PGPASSWORD dbname=postgres" ./worker_bench'   (one line)
// Without ATTEST_BENCH_DATABASE the test harness server is used (fsync off;
// the "durable" counter says 0). ATTEST_BENCH_AGENTS sets N (default 10000),
// ATTEST_BENCH_POOL_SIZE the workers' database.pool_size (default 3 =
// pipelined batches; 2 = one batch at a time), ATTEST_BENCH_KAFKA_PROPS extra
// librdkafka properties of the workers ("name=value,name=value"). The
// counters kafka_nodes (0: the dev broker) say which Kafka a figure is from.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "attest/v1/attestation.pb.h"
#include "bench/worker/bench_kafka.h"
#include "common/db/migrations.h"
#include "common/kafka/partitioner.h"
#include "common/kafka/producer.h"
#include "common/token/token.h"
#include "common/tpm/marshal.h"
#include "tests/harness/postgres/postgres_server.h"
#include "tests/quote/soft_quote.h"
#include "tests/worker/worker_fixture.h"

namespace attest::worker::bench {
namespace {

using test::KeyFiles;
using test::RandomUuid;

constexpr int kPartitions = 64;

size_t AgentCount() {
  const char* v = std::getenv("ATTEST_BENCH_AGENTS");
  return v ? std::strtoul(v, nullptr, 10) : 10'000;
}

// database.pool_size of the workers (2: batches one after the other; 3: pipelined).
// AK type: "ecc" (default, P-256) or "rsa" (RSA-2048).
bool RsaAks() {
  const char* v = std::getenv("ATTEST_BENCH_AK");
  return v != nullptr && std::string(v) == "rsa";
}

// Records per agent, round by round (>= 2: the steady rate needs a second).
int Rounds() {
  const char* v = std::getenv("ATTEST_BENCH_ROUNDS");
  return std::max(2, v ? std::atoi(v) : 3);
}

// Extra librdkafka properties of the workers, from ATTEST_BENCH_KAFKA_PROPS
// ("name=value,name=value"), as a [kafka] properties line.
std::string KafkaProperties() {
  const char* v = std::getenv("ATTEST_BENCH_KAFKA_PROPS");
  if (v == nullptr || *v == '\0') return "";
  std::string out = "properties = [";
  std::string item;
  std::istringstream in(v);
  for (bool first = true; std::getline(in, item, ','); first = false) {
    out += (first ? "\"" : ", \"") + item + "\"";
  }
  return out + "]\n";
}

int PoolSize() {
  const char* v = std::getenv("ATTEST_BENCH_POOL_SIZE");
  return v ? std::atoi(v) : 3;
}

struct Env {
  std::unique_ptr<attest::testing::PostgresServer> pg;  // fallback (fsync off)
  std::string admin;                                    // conninfo of an admin database
  bool durable = false;
  // 64 partitions: the dev broker (librdkafka's mock cluster) keeps 5 MB per
  // partition and silently drops the oldest records beyond that; with 12
  // partitions a third of 200,000 evidence records were gone before the
  // workers started (and counted as committed by the offsets). 300,000
  // records of about 700 bytes are 3.3 MB per partition here. Apache Kafka
  // gets the same count, so that figures compare.
  BenchKafka kafka{kPartitions};
  attest::testing::TempDir dir{"attest-worker-bench"};
  KeyFiles keys{dir.path()};
  token::KeySet keyset = test::TestKeys();
  std::vector<std::string> uuids;
  std::vector<std::string> ak_publics;
  size_t evidence = 0;

  Env() {
    if (const char* db = std::getenv("ATTEST_BENCH_DATABASE")) {
      admin = db;
      durable = true;
    } else {
      pg = std::make_unique<attest::testing::PostgresServer>();
      admin = pg->conninfo();
    }
    const size_t n = AgentCount();
    const int rounds_n = Rounds();
    // key, value per round: every agent's first evidence, then every agent's
    // second, as agents attesting at an interval do (an agent's records side
    // by side would straddle batch boundaries and serialize them).
    std::vector<std::vector<std::pair<std::string, std::string>>> rounds(rounds_n);
    for (auto& r : rounds) r.resize(n);
    std::vector<attest::testing::SoftAk> rsa_aks;
    if (RsaAks()) {
      for (int i = 0; i < 256; ++i) rsa_aks.push_back(attest::testing::MakeRsaAk());
    }
    uuids.resize(n);
    ak_publics.resize(n);
    // Signing is most of the set-up time: one thread per core.
    const size_t threads = std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::thread> pool;
    for (size_t t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        for (size_t i = t; i < n; i += threads) MakeAgent(i, rsa_aks, rounds);
      });
    }
    for (auto& th : pool) th.join();
    for (auto& r : rounds) {
      Produce(r);
      evidence += r.size();
    }
  }

  // Agent i's AK, UUID and one record per round (records of later rounds
  // carry later TPM clocks: each checks monotonicity against the stored state).
  void MakeAgent(size_t i, const std::vector<attest::testing::SoftAk>& rsa_aks,
                 std::vector<std::vector<std::pair<std::string, std::string>>>& rounds) {
    attest::testing::SoftAk ecc_ak;
    if (!RsaAks()) ecc_ak = attest::testing::MakeEccAk();
    const attest::testing::SoftAk& ak = RsaAks() ? rsa_aks[i % rsa_aks.size()] : ecc_ak;
    const std::string uuid = RandomUuid();
    uuids[i] = uuid;
    ak_publics[i] = test::AkTpm2bPublic(ak.pub);
    attest::testing::SoftClock clock;
    for (auto& round : rounds) {
      clock.clock += 1000;
      // Bound to what it quotes (sha256 PCR 10): the agents have a runtime
      // policy only.
      auto tok = token::Issue(keyset, uuid, token::Clock::now(), 0,
                              token::Binding{.pcr_bank = TPM2_ALG_SHA256, .pcr_mask = 1u << 10});
      tpm::Bytes nonce(tok->begin(), tok->end());
      auto sel = attest::testing::Selection(TPM2_ALG_SHA256, {10});
      tpm::PcrValues values;
      values[TPM2_ALG_SHA256][10] = tpm::Bytes(32, 0);
      auto quote = attest::testing::MakeQuote(nonce, sel, values, TPM2_ALG_SHA256, clock);
      auto sig = attest::testing::SignLikeTpm(ak, RsaAks() ? TPM2_ALG_RSASSA : TPM2_ALG_ECDSA,
                                              TPM2_ALG_SHA256, quote);
      v1::EvidenceEnvelope env;
      env.set_evidence_id(RandomUuid());
      auto* e = env.mutable_evidence();
      e->set_agent_uuid(uuid);
      e->set_challenge_token(*tok);
      e->mutable_quote()->set_attest(std::string(quote.begin(), quote.end()));
      e->mutable_quote()->set_signature(std::string(sig.begin(), sig.end()));
      auto* bank = e->mutable_quote()->add_pcrs();
      bank->set_hash_algorithm(v1::HASH_ALGORITHM_SHA256);
      (*bank->mutable_values())[10] = std::string(32, '\0');
      env.mutable_received_at()->set_seconds(
          std::chrono::duration_cast<std::chrono::seconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count());
      std::string value;
      env.SerializeToString(&value);
      round[i] = {uuid, std::move(value)};
    }
  }

  // Produced in one burst with a long linger so that each partition's log
  // holds a few large message sets, as a loaded gateway writes them. The dev
  // broker (librdkafka's mock cluster) answers a fetch with one message set
  // per partition and finds it by walking the partition's list, so thousands
  // of one-record sets would make the broker, not the worker, the bottleneck.
  void Produce(const std::vector<std::pair<std::string, std::string>>& records) {
    kafka::ProducerConfig pc;
    pc.bootstrap_servers = kafka.bootstrap();
    pc.linger = std::chrono::milliseconds(200);
    pc.extra = {{"batch.num.messages", "100000"},
                {"queue.buffering.max.messages", "1000000"},
                {"queue.buffering.max.kbytes", "1048576"}};
    auto producer = kafka::Producer::Create(pc);
    if (!producer) throw std::runtime_error(producer.error().message);
    for (const auto& [key, value] : records) {
      while (!(*producer)->Produce(kafka.topics().evidence, key, value, {}, {})) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    if (!(*producer)->Flush(std::chrono::seconds(120))) throw std::runtime_error("flush");
  }

  // A fresh database with every agent registered and enrolled.
  std::string Database(const std::string& name) {
    {
      pqxx::connection c(admin);
      pqxx::nontransaction tx(c);
      tx.exec("DROP DATABASE IF EXISTS " + name);
      tx.exec("CREATE DATABASE " + name);
    }
    std::string conninfo = admin;
    const auto pos = conninfo.find("dbname=");
    conninfo = (pos == std::string::npos ? conninfo : conninfo.substr(0, pos)) + " dbname=" + name;
    pqxx::connection c(conninfo);
    auto m = db::ApplyMigrations(c, attest::testing::SourceMigrationsDir());
    if (!m) throw std::runtime_error(m.error().message);
    pqxx::work tx(c);
    nlohmann::json rows = nlohmann::json::array();
    auto hex = [](const std::string& bytes) {
      return tpm::ToHex(
          tpm::ByteView(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
    };
    for (size_t i = 0; i < uuids.size(); ++i) {
      const std::string& ak = ak_publics[i];
      rows.push_back({{"id", uuids[i]},
                      {"ak", hex(ak)},
                      {"nm", hex(test::AkName(ak))},
                      {"p", kafka::PartitionFor(uuids[i], kPartitions)}});
    }
    const std::string json = rows.dump();
    tx.exec_params(
        "INSERT INTO registrations (agent_id, ek_public, ak_public, ak_name, state, activated_at) "
        "SELECT r.id, '\\x01', decode(r.ak, 'hex'), decode(r.nm, 'hex'), 'active', now() "
        "FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, ak text, nm text, p int)",
        json);
    tx.exec_params(
        "INSERT INTO enrolments (agent_id, interval_seconds, grace_factor, partition) "
        "SELECT r.id, 3600, 3, r.p FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, ak text, p "
        "int)",
        json);
    tx.commit();
    return conninfo;
  }

  std::unique_ptr<attest::testing::Subprocess> Worker(int i, const std::string& conninfo,
                                                      const std::string& group) {
    const auto cfg = dir.path() / (group + "-w" + std::to_string(i) + ".toml");
    std::ofstream f(cfg);
    f << "worker_id = \"w" << i << "\"\n"
      << "[kafka]\nbootstrap_servers = \"" << kafka.bootstrap() << "\"\n"
      << kafka.WorkerTopics() << "group_id = \"" << group << "\"\nsession_timeout_ms = 6000\n"
      << KafkaProperties() << "[database]\nconninfo = \"" << conninfo
      << "\"\npool_size = " << PoolSize() << "\n"
      << "[batch]\nmax_count = 2000\nmax_time_ms = 50\n"
      << "[verification]\nthreads = 2\n"
      << "[token]\nkey_files = [\"" << keys.token.string() << "\"]\nttl_seconds = 86400\n"
      << "[revocation]\nsigning_key_file = \"" << keys.revocation.string()
      << "\"\nkey_id = \"k1\"\n"
      << "[liveness]\nsweep_period_ms = 5000\n"
      << "[metrics]\nlisten = \"\"\n[log]\nlevel = \"warn\"\n";
    f.close();
    return std::make_unique<attest::testing::Subprocess>(
        std::vector<std::string>{ATTEST_WORKER_BINARY, "--config", cfg.string()},
        (dir.path() / (group + "-w" + std::to_string(i) + ".log")).string());
  }
};

Env& Shared() {
  // Destroyed at exit, which stops Kafka and the fallback PostgreSQL (a
  // leaked Env left one attest-devbroker process behind per run).
  static Env env;
  return env;
}

void BM_Workers(benchmark::State& state) {
  Env& env = Shared();
  const int workers = static_cast<int>(state.range(0));
  for (auto _ : state) {
    const std::string name = "bench_w" + std::to_string(workers);
    const std::string conninfo = env.Database(name);
    const std::string group = name + "-" + RandomUuid().substr(0, 8);
    std::vector<std::unique_ptr<attest::testing::Subprocess>> procs;
    for (int i = 0; i < workers; ++i) procs.push_back(env.Worker(i, conninfo, group));
    pqxx::connection c(conninfo);
    auto committed = [&] {
      pqxx::work tx(c);
      return tx.exec1("SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets")[0]
          .as<int64_t>();
    };
    auto outbox = [&] {
      pqxx::work tx(c);
      return tx.exec1("SELECT count(*) FROM outbox")[0].as<int64_t>();
    };
    using SC = std::chrono::steady_clock;
    SC::time_point t0{}, t1{}, t2{}, t_first{};
    int64_t base = 0, at_first = 0;
    const auto first_round = static_cast<int64_t>(env.uuids.size());
    const auto deadline = SC::now() + std::chrono::minutes(10);
    while (SC::now() < deadline) {
      const int64_t n = committed();
      if (t0 == SC::time_point{} && n > 0) {
        t0 = SC::now();
        base = n;
      }
      if (t_first == SC::time_point{} && n >= first_round) {
        t_first = SC::now();
        at_first = n;
      }
      if (n >= static_cast<int64_t>(env.evidence)) {
        if (t1 == SC::time_point{}) t1 = SC::now();
        if (outbox() == 0) {
          t2 = SC::now();
          break;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    for (auto& p : procs) p->Stop(15, std::chrono::seconds(20));
    if (t2 == SC::time_point{}) {
      state.SkipWithError("timed out");
      return;
    }
    // Every record verified once (none dropped by the broker, none twice).
    int64_t history = 0;
    {
      pqxx::work tx(c);
      history = tx.exec1("SELECT count(*) FROM attestation_history")[0].as<int64_t>();
    }
    state.counters["history_rows"] = static_cast<double>(history);
    if (history != static_cast<int64_t>(env.evidence)) {
      state.SkipWithError("history rows != evidence records (broker dropped records?)");
      return;
    }
    const double commit_s = std::chrono::duration<double>(t1 - t0).count();
    const double publish_s = std::chrono::duration<double>(t2 - t0).count();
    state.SetIterationTime(commit_s);
    state.counters["evidence"] = static_cast<double>(env.evidence);
    state.counters["committed_per_s"] =
        static_cast<double>(env.evidence - static_cast<size_t>(base)) / std::max(commit_s, 1e-3);
    const double steady_s = std::chrono::duration<double>(t1 - t_first).count();
    state.counters["steady_per_s"] =
        static_cast<double>(static_cast<int64_t>(env.evidence) - at_first) /
        std::max(steady_s, 1e-3);
    state.counters["verdicts_per_s"] =
        static_cast<double>(env.evidence - static_cast<size_t>(base)) / std::max(publish_s, 1e-3);
    // Verdicts published (outbox drained) from the same point as steady_per_s.
    state.counters["steady_verdicts_per_s"] =
        static_cast<double>(static_cast<int64_t>(env.evidence) - at_first) /
        std::max(std::chrono::duration<double>(t2 - t_first).count(), 1e-3);
    state.counters["durable"] = env.durable ? 1 : 0;
    state.counters["agents"] = static_cast<double>(env.uuids.size());
    state.counters["pool_size"] = PoolSize();
    state.counters["kafka_nodes"] = env.kafka.nodes();
  }
}
BENCHMARK(BM_Workers)->Arg(1)->Arg(2)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);

}  // namespace
}  // namespace attest::worker::bench

BENCHMARK_MAIN();
