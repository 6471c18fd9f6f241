// Quotes verified per second (full VerifyQuote: parse, signature, nonce,
// PCR digest, clock) next to bare signature verification of the same key,
// for RSA-2048/RSASSA-SHA256 and ECC P-256/ECDSA-SHA256. Quotes are built
// and signed in software exactly as a TPM marshals them; the AK is the
// public key converted from its TPMT_PUBLIC, as a verifier caches it.
//
// Full verification, by how the AK is given:
//   prepared    checks::AkVerifier (what the verifier caches per AK)
//   evp_key     EVP_PKEY, verify context set up per call
//   tpm_public  TPMT_PUBLIC, converted to an EVP_PKEY per call
// Bare verification:
//   BareSpeedLike   EVP_PKEY_verify with one reused context over a short
//                   pre-hashed input, as `openssl speed rsa2048 ecdsap256`
//                   measures it
//   BareDigestInit  EVP_DigestVerifyInit + EVP_DigestVerify per call
// The target is full (prepared) >= 80% of `openssl speed`; after the table
// the binary prints full/BareSpeedLike ratios (by CPU time, so a busy
// machine affects both sides alike only if they run under the same load:
// compare with `taskset -c N` for both at the same time).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/checks/quote.h"
#include "tests/quote/soft_quote.h"

namespace attest {
namespace {

struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

struct Fixture {
  testing::SoftAk ak;   // private key, to sign
  tpm::EvpPkeyPtr pub;  // public key from the TPMT_PUBLIC, to verify
  std::unique_ptr<checks::AkVerifier> verifier;
  checks::QuoteInputs in;
  tpm::Bytes digest_sig;  // EVP_DigestSign of the quote (DER for ECDSA)
  tpm::Bytes speed_tbs;   // openssl speed's input: 36 bytes (RSA) / 20 bytes (ECDSA)
  tpm::Bytes speed_sig;   // EVP_PKEY_sign of speed_tbs, no digest set

  explicit Fixture(bool rsa) : ak(rsa ? testing::MakeRsaAk(2048) : testing::MakeEccAk()) {
    auto key = tpm::PublicToEvpPkey(ak.pub);
    testing::Check(key.ok(), "public key");
    pub = std::move(*key);
    verifier = std::make_unique<checks::AkVerifier>(pub.get());
    // A typical selection: sha256 PCRs 0-7 and 10.
    auto sel = testing::Selection(TPM2_ALG_SHA256, {0, 1, 2, 3, 4, 5, 6, 7, 10});
    in.nonce = tpm::Bytes(20, 0x42);
    in.pcrs = testing::ValuesFor(sel);
    in.quote = testing::MakeQuote(in.nonce, sel, in.pcrs, TPM2_ALG_SHA256, {5000, 1, 0, true});
    in.signature =
        testing::SignLikeTpm(ak, rsa ? TPM2_ALG_RSASSA : TPM2_ALG_ECDSA, TPM2_ALG_SHA256, in.quote);
    in.previous = checks::ClockState{4000, 1, 0, true};

    MdCtxPtr ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    size_t len = 0;
    testing::Check(
        EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, ak.key.get()) == 1 &&
            EVP_DigestSign(ctx.get(), nullptr, &len, in.quote.data(), in.quote.size()) == 1,
        "digest sign init");
    digest_sig.resize(len);
    testing::Check(
        EVP_DigestSign(ctx.get(), digest_sig.data(), &len, in.quote.data(), in.quote.size()) == 1,
        "digest sign");
    digest_sig.resize(len);

    speed_tbs = tpm::Bytes(rsa ? 36 : 20, 0x5c);
    PkeyCtxPtr sctx(EVP_PKEY_CTX_new(ak.key.get(), nullptr));
    len = 0;
    testing::Check(
        sctx && EVP_PKEY_sign_init(sctx.get()) == 1 &&
            EVP_PKEY_sign(sctx.get(), nullptr, &len, speed_tbs.data(), speed_tbs.size()) == 1,
        "speed sign init");
    speed_sig.resize(len);
    testing::Check(
        EVP_PKEY_sign(sctx.get(), speed_sig.data(), &len, speed_tbs.data(), speed_tbs.size()) == 1,
        "speed sign");
    speed_sig.resize(len);
  }
};

Fixture& Rsa() {
  static Fixture f(true);
  return f;
}
Fixture& Ecc() {
  static Fixture f(false);
  return f;
}

enum class AkForm { kPrepared, kEvpKey, kTpmPublic };

void FullQuote(benchmark::State& state, Fixture& f, AkForm form) {
  checks::QuoteInputs in = f.in;
  switch (form) {
    case AkForm::kPrepared:
      in.ak_verifier = f.verifier.get();
      break;
    case AkForm::kEvpKey:
      in.ak_key = f.pub.get();
      break;
    case AkForm::kTpmPublic:
      in.ak_public = f.ak.pub;
      break;
  }
  for (auto _ : state) {
    auto r = checks::VerifyQuote(in);
    if (!r.ok()) state.SkipWithError("quote did not verify");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

// openssl speed (3.0) verifies with one context made once, no digest.
void BareSpeedLike(benchmark::State& state, Fixture& f) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new(f.pub.get(), nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1) state.SkipWithError("verify init");
  for (auto _ : state) {
    if (EVP_PKEY_verify(ctx.get(), f.speed_sig.data(), f.speed_sig.size(), f.speed_tbs.data(),
                        f.speed_tbs.size()) != 1) {
      state.SkipWithError("bare signature did not verify");
    }
  }
  state.SetItemsProcessed(state.iterations());
}

// What a naive verifier does per call: EVP_DigestVerifyInit + EVP_DigestVerify.
void BareDigestInit(benchmark::State& state, Fixture& f) {
  for (auto _ : state) {
    MdCtxPtr ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, f.pub.get()) != 1 ||
        EVP_DigestVerify(ctx.get(), f.digest_sig.data(), f.digest_sig.size(), f.in.quote.data(),
                         f.in.quote.size()) != 1) {
      state.SkipWithError("bare signature did not verify");
    }
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(FullQuote, rsa2048_prepared, Rsa(), AkForm::kPrepared);
BENCHMARK_CAPTURE(FullQuote, rsa2048_evp_key, Rsa(), AkForm::kEvpKey);
BENCHMARK_CAPTURE(FullQuote, rsa2048_tpm_public, Rsa(), AkForm::kTpmPublic);
BENCHMARK_CAPTURE(BareSpeedLike, rsa2048, Rsa());
BENCHMARK_CAPTURE(BareDigestInit, rsa2048, Rsa());
BENCHMARK_CAPTURE(FullQuote, ecc_p256_prepared, Ecc(), AkForm::kPrepared);
BENCHMARK_CAPTURE(FullQuote, ecc_p256_evp_key, Ecc(), AkForm::kEvpKey);
BENCHMARK_CAPTURE(FullQuote, ecc_p256_tpm_public, Ecc(), AkForm::kTpmPublic);
BENCHMARK_CAPTURE(BareSpeedLike, ecc_p256, Ecc());
BENCHMARK_CAPTURE(BareDigestInit, ecc_p256, Ecc());

// Shows the table as usual and keeps each benchmark's rate (items per CPU
// second, median over repetitions) for the ratios printed at the end.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(isatty(STDOUT_FILENO) ? OO_ColorTabular : OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.run_type == Run::RT_Iteration && !run.error_occurred &&
          run.cpu_accumulated_time > 0) {
        rates_[run.run_name.str()].push_back(static_cast<double>(run.iterations) /
                                             run.cpu_accumulated_time);
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void PrintRatios() const {
    for (const char* key : {"rsa2048", "ecc_p256"}) {
      const double bare = Median("BareSpeedLike/" + std::string(key));
      if (bare <= 0) continue;
      for (const char* form : {"prepared", "evp_key", "tpm_public"}) {
        const double full = Median("FullQuote/" + std::string(key) + "_" + form);
        if (full <= 0) continue;
        std::printf("%-9s full quote (%s) %9.0f/s = %5.1f%% of bare EVP_PKEY_verify %9.0f/s\n", key,
                    form, full, 100.0 * full / bare, bare);
      }
    }
  }

 private:
  double Median(const std::string& name) const {
    auto it = rates_.find(name);
    if (it == rates_.end() || it->second.empty()) return 0;
    std::vector<double> v = it->second;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }
  std::map<std::string, std::vector<double>> rates_;
};

}  // namespace
}  // namespace attest

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  attest::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  benchmark::Shutdown();
  return 0;
}
