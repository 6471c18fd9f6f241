// Throughput of measured-boot verification on Keylime's 49 KB log
// (binary_bios_measurements, 121 events, sha1+sha256): parse, replay and
// reference-state check, separately and together. items_per_second = logs/s.
#include <benchmark/benchmark.h>

#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include "common/eventlog/event_log.h"
#include "common/eventlog/policy.h"
#include "common/eventlog/replay.h"

namespace el = attest::eventlog;

namespace {

el::Bytes LoadLog() {
  std::ifstream in(std::string(ATTEST_TESTDATA_DIR) + "/keylime/uefi/binary_bios_measurements",
                   std::ios::binary);
  if (!in) throw std::runtime_error("cannot read binary_bios_measurements");
  return el::Bytes(std::istreambuf_iterator<char>(in), {});
}

void BM_Parse(benchmark::State& state) {
  el::Bytes log = LoadLog();
  for (auto _ : state) {
    auto parsed = el::ParseEventLog(log);
    benchmark::DoNotOptimize(parsed);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * log.size()));
}

void BM_Replay(benchmark::State& state) {
  el::EventLog log = el::ParseEventLog(LoadLog()).value();
  for (auto _ : state) {
    auto pcrs = el::Replay(log);
    benchmark::DoNotOptimize(pcrs);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Check(benchmark::State& state) {
  el::EventLog log = el::ParseEventLog(LoadLog()).value();
  el::ReferenceState ref = el::GenerateReferenceState(log);
  for (auto _ : state) {
    auto failures = el::CheckReferenceState(log, ref, el::VerifiedPcrs::Offline());
    benchmark::DoNotOptimize(failures);
  }
  state.SetItemsProcessed(state.iterations());
}

// What a verifier does per evidence: parse, replay + compare with the quote,
// check the reference state.
void BM_ParseReplayCheck(benchmark::State& state) {
  el::Bytes bytes = LoadLog();
  el::EventLog first = el::ParseEventLog(bytes).value();
  el::ReferenceState ref = el::GenerateReferenceState(first);
  el::PcrValues quoted = el::Replay(first).value();
  for (auto _ : state) {
    auto log = el::ParseEventLog(bytes);
    auto pcrs = el::Replay(*log);
    auto mismatches = el::ComparePcrs(*pcrs, quoted);
    auto failures = el::CheckReferenceState(*log, ref, el::VerifiedPcrs::Offline());
    if (!mismatches.empty() || !failures.empty()) state.SkipWithError("known-good log failed");
    benchmark::DoNotOptimize(failures);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes.size()));
}

}  // namespace

BENCHMARK(BM_Parse);
BENCHMARK(BM_Replay);
BENCHMARK(BM_Check);
BENCHMARK(BM_ParseReplayCheck);
BENCHMARK_MAIN();
