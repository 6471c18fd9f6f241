// Gateway throughput: keep-alive TLS load from bench/gateway/load.h (same
// machine) against an in-process gateway producing to the dev broker.
//   BM_Gateway/evidence: POST /v1/agents/{uuid}/evidence (~1.2 KB protobuf),
//     202 only after the broker acknowledged the record.
//   BM_Gateway/healthz: GET /healthz on the same server, the trivial-200
//     baseline.
// Counters: req_per_s, p50_ms, p99_ms, errors. Arg = connections.
// Env: ATTEST_BENCH_SECONDS (default 5), ATTEST_BENCH_CLIENT_THREADS (1),
// ATTEST_BENCH_IO_THREADS (2, the gateway's I/O threads), ATTEST_BENCH_LINGER_MS
// (producer linger.ms; the gateway's default kafka.linger_ms is 1).
//
// No PostgreSQL: the evidence path does not read it (the readiness probe
// fails against a closed port, which evidence does not depend on).
#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <memory>

#include "bench/gateway/evidence.h"
#include "bench/gateway/load.h"
#include "common/token/token.h"
#include "ingest-gateway/gateway.h"
#include "tests/harness/broker/dev_broker.h"
#include "tests/harness/pki/pki.h"
#include "tests/harness/util/process.h"

namespace {

using namespace std::chrono_literals;
using namespace attest;

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

const std::string kUuid = "0f8fad5b-d9cb-469f-a165-70867728950e";

struct Env {
  testing::DevBroker broker;
  testing::TempDir dir{"gateway-bench"};
  testing::TestPki pki{dir.path()};
  testing::IssuedCert cert = pki.IssueServer("gateway");
  const SystemClock clock;  // outlives gw
  std::unique_ptr<gateway::Gateway> gw;
  std::string evidence_body;

  Env() {
    spdlog::set_level(spdlog::level::err);
    auto key = (dir.path() / "token.key").string();
    std::ofstream(key) << std::string(64, 'a') << "\n";
    gateway::GatewayConfig c;
    c.gateway_id = "gw-bench";
    c.server.name = "gateway";
    c.server.metrics_prefix = "gateway_http";
    c.server.port = 0;
    c.server.cert_file = cert.cert.string();
    c.server.key_file = cert.key.string();
    c.server.io_threads = EnvInt("ATTEST_BENCH_IO_THREADS", 2);
    c.server.max_body_bytes = 8 << 20;
    c.token_key_files = {key};
    c.token_ttl = 3600s;
    c.database_conninfo = "host=127.0.0.1 port=1 connect_timeout=1";
    c.database_pool_size = 1;
    c.kafka_bootstrap = broker.bootstrap();
    if (const char* linger = std::getenv("ATTEST_BENCH_LINGER_MS")) {
      c.kafka_properties["linger.ms"] = linger;
    }
    auto g = gateway::Gateway::Create(c, clock);
    if (!g) throw std::runtime_error(g.error().ToString());
    gw = std::move(g).value();
    if (auto r = gw->Start(); !r) throw std::runtime_error(r.error().ToString());

    auto keys = token::KeySet::LoadFiles({key});
    if (!keys) throw std::runtime_error(keys.error().ToString());
    auto body = bench::EvidenceBody(*keys, kUuid);
    if (!body) throw std::runtime_error(body.error().ToString());
    evidence_body = std::move(body).value();
  }
};

Env& GetEnv() {
  static Env* env =
      new Env();  // kept until exit: the broker process is reaped by its destructor otherwise
  return *env;
}

void BM_Gateway(benchmark::State& state, bool evidence) {
  Env& env = GetEnv();
  bench::LoadSpec spec;
  spec.port = env.gw->port();
  spec.connections = static_cast<int>(state.range(0));
  spec.threads = EnvInt("ATTEST_BENCH_CLIENT_THREADS", 1);
  spec.duration = std::chrono::seconds(EnvInt("ATTEST_BENCH_SECONDS", 5));
  if (evidence) {
    spec.method = "POST";
    spec.target = "/v1/agents/" + kUuid + "/evidence";
    spec.content_type = "application/x-protobuf";
    spec.body = env.evidence_body;
  }
  bench::LoadResult r;
  for (auto _ : state) r = bench::RunLoad(spec, evidence ? 202 : 200);
  state.counters["req_per_s"] = r.rate();
  state.counters["p50_ms"] = r.p50_ms;
  state.counters["p99_ms"] = r.p99_ms;
  state.counters["errors"] = static_cast<double>(r.errors + r.unexpected_status);
  if (r.unexpected_status) {
    state.SetLabel("unexpected status, e.g. " + std::to_string(r.status_seen));
  }
}

BENCHMARK_CAPTURE(BM_Gateway, healthz, false)
    ->Arg(32)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Gateway, evidence, true)
    ->Arg(32)
    ->Arg(128)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
