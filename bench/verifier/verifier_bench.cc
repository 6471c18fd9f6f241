// Full verifications per second through VerifyEvidence, single thread: a
// quote over sha256 PCRs 0-7 and 10 (RSA-2048/RSASSA or ECC P-256/ECDSA,
// software-signed exactly as a TPM marshals it), 20 new ima-ng entries (ascii,
// as agents send them) replayed from a stored PCR-10 value and checked against
// a 50,000-entry runtime policy, and a PCR policy on PCRs 0-7. The same
// evidence is verified against the same stored state each iteration (the
// steady state of a worker). The worker target is 20,000 verifications/s
// per process.
#include <benchmark/benchmark.h>

#include <string>

#include "common/ima/replay.h"
#include "common/verifier/verifier.h"
#include "tests/verifier/soft_tpm.h"

namespace attest::verifier {
namespace {

constexpr size_t kPolicyEntries = 50'000;
constexpr size_t kNewEntries = 20;
constexpr uint64_t kStoredOffset = 5'000;

struct Fixture {
  test::SoftTpm tpm;
  Agent agent;
  AgentState stored;
  test::Quoted quoted;
  std::string ima_text;

  explicit Fixture(bool ecc) : tpm(ecc) {
    agent.ak = tpm.Ak();
    auto policy = std::make_shared<CompiledRuntimePolicy>();
    for (size_t i = 0; i < kPolicyEntries; ++i) {
      tpm::Bytes d(32);
      for (size_t j = 0; j < d.size(); ++j) d[j] = static_cast<uint8_t>((i * 131 + j * 7) >> 3);
      policy->policy.AddDigest("/usr/lib/x86_64-linux-gnu/lib" + std::to_string(i) + ".so.1", d);
    }
    // The stored running PCR-10 value after kStoredOffset entries.
    stored.ima_next_offset = kStoredOffset;
    stored.ima_pcr = tpm::Bytes(32, 0x3c);
    stored.clock = ClockState{1000, 0, 0, true};
    tpm.Set(10, stored.ima_pcr);
    ima::Log log;
    log.template_hash_alg = ima::HashAlg::kSha1;
    ima::Hasher h;
    for (size_t i = 0; i < kNewEntries; ++i) {
      std::string path = "/usr/bin/tool" + std::to_string(i);
      tpm::Bytes d(32, static_cast<uint8_t>(i + 1));
      policy->policy.AddDigest(path, d);
      auto e = ima::MakeEntry(ima::Template::kImaNg, "sha256", d, path);
      if (!e) throw std::runtime_error(e.error().message);
      e->template_hash = h.Hash(ima::HashAlg::kSha1, ima::AsBytes(e->data));
      auto pcr_value = h.Hash(ima::HashAlg::kSha256, ima::AsBytes(e->data));
      tpm.Extend(10, tpm::Bytes(pcr_value.view().begin(), pcr_value.view().end()));
      log.entries.push_back(std::move(*e));
    }
    ima_text = ima::WriteAscii(log);
    agent.policies.runtime = policy;
    auto pcr_policy = std::make_shared<checks::PcrPolicy>();
    for (uint32_t i = 0; i < 8; ++i) pcr_policy->allowed[TPM2_ALG_SHA256][i] = {tpm::Bytes(32, 0)};
    agent.policies.pcr = pcr_policy;
    quoted = tpm.Quote(test::kNonce, {0, 1, 2, 3, 4, 5, 6, 7, 10});
  }

  Evidence MakeEvidence() const {
    Evidence ev = quoted.MakeEvidence();
    ev.ima = ImaEvidence{ima_text, ima::Format::kAscii, kStoredOffset, kNewEntries, {}, {}};
    return ev;
  }
};

Fixture& Get(bool ecc) {
  if (ecc) {
    static Fixture f(true);
    return f;
  }
  static Fixture f(false);
  return f;
}

void BM_FullVerification(benchmark::State& state, bool ecc) {
  Fixture* f = &Get(ecc);
  const Evidence ev = f->MakeEvidence();
  {
    auto v = VerifyEvidence(ev, test::kNonce, f->agent, f->stored, 1);
    if (v.result != Outcome::kPass || v.stats.ima_entries_checked != kNewEntries) {
      std::string why;
      for (const auto& x : v.failures) why += x.event_id + " ";
      state.SkipWithError(("setup does not pass: " + why).c_str());
      return;
    }
  }
  for (auto _ : state) {
    auto v = VerifyEvidence(ev, test::kNonce, f->agent, f->stored, 1);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(BM_FullVerification, ecc_p256, true)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_FullVerification, rsa_2048, false)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace attest::verifier

BENCHMARK_MAIN();
