// Issue 16.3: from enrolment to PASS for a node whose IMA list at enrolment
// holds ATTEST_BENCH_IMA_ENTRIES ima-ng entries (default 200,000 over 1,000
// files), through one in-process worker on PostgreSQL and Kafka: a private
// Apache Kafka, or the dev broker with ATTEST_BENCH_KAFKA=dev (bench_kafka.h;
// the counter kafka_nodes is 0 then).
// The list goes in parts as the agent cuts it (whole entries of the binary
// list, 1 MiB each, every evidence within the gateway's 2 MiB), each part as
// soon as the verdict of the previous one arrived. Reported:
//   parts              evidence records the list took
//   pipeline_s         first part produced -> PASS verdict (worker, database,
//                      broker; the manual time)
//   with_pacing_s      pipeline_s + (parts - 1) x 2 s: what an agent adds
//                      with the default challenge.catch_up_interval_seconds
//   body_bytes_per_entry   HTTP body (protobuf evidence) bytes per entry
//   lz4_bytes_per_entry    the same after LZ4 frame compression, what the
//                          gateway's producer writes (kafka.compression = lz4)
//   verify_ms_per_part     mean verification time in the worker per part
#include <benchmark/benchmark.h>
#include <lz4frame.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "bench/worker/bench_kafka.h"
#include "common/kafka/producer.h"
#include "tests/harness/postgres/postgres_server.h"
#include "tests/worker/worker_fixture.h"
#include "verifier-workers/worker.h"

namespace attest::worker::bench {
namespace {

using namespace std::chrono_literals;

size_t Entries() {
  const char* v = std::getenv("ATTEST_BENCH_IMA_ENTRIES");
  return v ? std::strtoul(v, nullptr, 10) : 200'000;
}

size_t Lz4Size(const std::string& in) {
  std::string out(LZ4F_compressFrameBound(in.size(), nullptr), '\0');
  const size_t n = LZ4F_compressFrame(out.data(), out.size(), in.data(), in.size(), nullptr);
  if (LZ4F_isError(n)) throw std::runtime_error("lz4");
  return n;
}

void BM_EnrolmentToPass(benchmark::State& state) {
  attest::testing::PostgresServer pg;
  const std::string db = pg.CreateDatabase("catchup");
  pg.Migrate(db);
  BenchKafka kafka(test::kPartitions);
  attest::testing::TempDir dir{"attest-catch-up-bench"};
  test::KeyFiles keys{dir.path()};
  const token::KeySet keyset = test::TestKeys();
  pqxx::connection conn(db);

  const size_t n = Entries();
  test::SimAgent a;
  a.log = test::LongImaList(ima::Template::kImaNg, n);
  a.ExtendTo(n);
  test::Enrol(conn, a, n);

  kafka::ProducerConfig pc;
  pc.bootstrap_servers = kafka.bootstrap();
  pc.linger = 0ms;
  pc.extra = {{"message.max.bytes", "2162688"}, {"compression.type", "lz4"}};
  auto producer = kafka::Producer::Create(pc);
  if (!producer) throw std::runtime_error(producer.error().message);
  test::Collector collector(kafka.bootstrap(), kafka.topics());
  metrics::Registry registry;
  auto config = test::MakeConfig(kafka.bootstrap(), kafka.topics(), db, keys, "g-bench");
  const attest::SystemClock clock;
  auto w = Worker::Create(config, &registry, clock);
  if (!w) throw std::runtime_error(w.error().message);
  std::thread run([&] { (void)(*w)->Run(); });

  size_t parts = 0, body = 0, lz4 = 0;
  uint64_t verify_us = 0;
  bool passed = false;
  double elapsed = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    uint64_t offset = 0;
    while (true) {
      size_t end = 0;
      const std::string value = test::ImaPartEnvelope(a, keyset, offset, 1 << 20, &end);
      v1::EvidenceEnvelope env;
      env.ParseFromString(value);
      body += env.evidence().ByteSizeLong();
      lz4 += Lz4Size(value);
      if (!(*producer)->Produce(kafka.topics().evidence, a.uuid, value, {}, {})) {
        throw std::runtime_error("produce");
      }
      (void)(*producer)->Flush(10s);
      ++parts;
      auto v = collector.WaitVerdict(a.uuid, parts, 120s);
      if (!v) throw std::runtime_error("no verdict for part " + std::to_string(parts));
      verify_us += v->timings().verification_micros();
      if (v->result() != v1::VERDICT_RESULT_LOG_REQUESTED) {
        passed = v->result() == v1::VERDICT_RESULT_PASS;
        break;
      }
      offset = end;
    }
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(elapsed);
  }
  (*w)->RequestStop();
  run.join();
  state.counters["entries"] = static_cast<double>(n);
  state.counters["parts"] = static_cast<double>(parts);
  state.counters["passed"] = passed ? 1 : 0;
  state.counters["pipeline_s"] = elapsed;
  state.counters["with_pacing_s"] = elapsed + static_cast<double>(parts - 1) * 2.0;
  state.counters["body_bytes_per_entry"] = static_cast<double>(body) / static_cast<double>(n);
  state.counters["lz4_bytes_per_entry"] = static_cast<double>(lz4) / static_cast<double>(n);
  state.counters["kafka_nodes"] = kafka.nodes();
  state.counters["verify_ms_per_part"] =
      static_cast<double>(verify_us) / 1000.0 / static_cast<double>(parts);
}

BENCHMARK(BM_EnrolmentToPass)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);

}  // namespace
}  // namespace attest::worker::bench

BENCHMARK_MAIN();
