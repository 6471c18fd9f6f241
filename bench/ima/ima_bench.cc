// IMA check throughput: entries replayed (template hash verified, PCR 10
// extended) and checked against a 50,000-entry runtime policy, per second on
// one core. Log and policy are synthesised here.
#include <benchmark/benchmark.h>

#include <random>

#include "common/ima/replay.h"

namespace attest::ima {
namespace {

constexpr size_t kPolicyEntries = 50'000;
constexpr size_t kLogEntries = 100'000;

struct Fixture {
  Log log;
  std::string ascii;
  RuntimePolicy policy;
  RuntimePolicy policy_with_excludes;

  Fixture() {
    std::mt19937_64 rng(42);
    Hasher h;
    log.template_hash_alg = HashAlg::kSha1;
    std::vector<uint8_t> digest(32);
    for (size_t i = 0; i < kLogEntries; ++i) {
      size_t file = i % kPolicyEntries;  // every file measured twice
      std::string path = "/usr/lib/x86_64-linux-gnu/pkg" + std::to_string(file % 977) + "/lib" +
                         std::to_string(file) + ".so." + std::to_string(file % 7);
      std::mt19937_64 frng(file);  // same file -> same digest
      for (auto& b : digest) b = static_cast<uint8_t>(frng());
      Entry e = MakeEntry(Template::kImaNg, "sha256", digest, path).value();
      e.template_hash = ComputeTemplateHash(h, HashAlg::kSha1, e);
      if (i < kPolicyEntries) policy.AddDigest(path, digest);
      log.entries.push_back(std::move(e));
    }
    ascii = WriteAscii(log);
    policy_with_excludes = RuntimePolicy::Parse(policy.ToJson()).value();
    // Typical excludes: literal prefixes plus a few real regexes, none matching.
    (void)policy_with_excludes.SetExcludes({"/tmp/", "/var/log/.*", "/proc/",
                                            "/home/[^/]+/\\.cache/", ".*\\.pyc$",
                                            "/run/user/[0-9]+/"});
  }
};

const Fixture& F() {
  static const Fixture f;
  return f;
}

void BM_ReplayCheck(benchmark::State& state, std::vector<HashAlg> banks, bool excludes) {
  const Fixture& f = F();
  ReplayOptions opt;
  opt.policy = excludes ? &f.policy_with_excludes : &f.policy;
  size_t failures = 0;
  for (auto _ : state) {
    ReplayState st = ReplayState::Initial(banks);
    ReplayOutcome out = Replay(st, f.log.entries, opt);
    failures += out.failures.size();
    benchmark::DoNotOptimize(st.pcr);
  }
  if (failures != 0) state.SkipWithError("unexpected failures");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * f.log.entries.size()));
}
BENCHMARK_CAPTURE(BM_ReplayCheck, sha1_bank, {HashAlg::kSha1}, false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ReplayCheck, sha256_bank, {HashAlg::kSha256}, false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ReplayCheck, sha256_bank_excludes, {HashAlg::kSha256}, true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ReplayCheck, sha1_sha256_banks, {HashAlg::kSha1, HashAlg::kSha256}, false)
    ->Unit(benchmark::kMillisecond);

void BM_ParseAscii(benchmark::State& state) {
  const Fixture& f = F();
  for (auto _ : state) {
    auto log = ParseAscii(f.ascii);
    benchmark::DoNotOptimize(log);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * f.log.entries.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * f.ascii.size()));
}
BENCHMARK(BM_ParseAscii)->Unit(benchmark::kMillisecond);

void BM_PolicyLoad(benchmark::State& state) {
  const std::string json = F().policy.ToJson();
  for (auto _ : state) {
    auto p = RuntimePolicy::Parse(json);
    benchmark::DoNotOptimize(p);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kPolicyEntries));
}
BENCHMARK(BM_PolicyLoad)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace attest::ima

BENCHMARK_MAIN();
