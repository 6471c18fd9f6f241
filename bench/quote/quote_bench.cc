// Quotes verified per second (full VerifyQuote: parse, signature, nonce,
// PCR digest, clock) next to the bare EVP signature verification of the same
// key type, for RSA-2048/RSASSA-SHA256 and ECC P-256/ECDSA-SHA256. Quotes
// are built and signed in software exactly as a TPM marshals them. Compare
// the bare figures with `openssl speed rsa2048 ecdsap256`; the target is
// full verification >= 80% of bare verification.
#include <benchmark/benchmark.h>

#include "common/verify/quote.h"
#include "tests/quote/soft_quote.h"

namespace attest {
namespace {

struct Fixture {
  testing::SoftAk ak;
  verify::QuoteInputs in;
  tpm::Bytes raw_sig;  // the signature as OpenSSL takes it (DER for ECDSA)
  TPMI_ALG_SIG_SCHEME scheme;

  Fixture(bool rsa) : ak(rsa ? testing::MakeRsaAk(2048) : testing::MakeEccAk()) {
    scheme = rsa ? TPM2_ALG_RSASSA : TPM2_ALG_ECDSA;
    // A typical selection: sha256 PCRs 0-7 and 10.
    auto sel = testing::Selection(TPM2_ALG_SHA256, {0, 1, 2, 3, 4, 5, 6, 7, 10});
    in.nonce = tpm::Bytes(20, 0x42);
    in.pcrs = testing::ValuesFor(sel);
    in.quote = testing::MakeQuote(in.nonce, sel, in.pcrs, TPM2_ALG_SHA256, {5000, 1, 0, true});
    in.signature = testing::SignLikeTpm(ak, scheme, TPM2_ALG_SHA256, in.quote);
    in.previous = verify::ClockState{4000, 1, 0, true};
    // Bare signature: sign the same message directly with EVP.
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    size_t len = 0;
    EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, ak.key.get());
    EVP_DigestSign(ctx.get(), nullptr, &len, in.quote.data(), in.quote.size());
    raw_sig.resize(len);
    EVP_DigestSign(ctx.get(), raw_sig.data(), &len, in.quote.data(), in.quote.size());
    raw_sig.resize(len);
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

void FullQuote(benchmark::State& state, Fixture& f, bool from_tpm_public) {
  verify::QuoteInputs in = f.in;
  if (from_tpm_public) {
    in.ak_public = f.ak.pub;  // key converted from TPMT_PUBLIC on every call
  } else {
    in.ak_key = f.ak.key.get();
  }
  for (auto _ : state) {
    auto r = verify::VerifyQuote(in);
    if (!r.ok()) state.SkipWithError("quote did not verify");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

// What any verifier must do at minimum: EVP_DigestVerifyInit + EVP_DigestVerify.
void BareEvp(benchmark::State& state, Fixture& f) {
  for (auto _ : state) {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, f.ak.key.get());
    int ok = EVP_DigestVerify(ctx.get(), f.raw_sig.data(), f.raw_sig.size(), f.in.quote.data(),
                              f.in.quote.size());
    if (ok != 1) state.SkipWithError("bare signature did not verify");
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(FullQuote, rsa2048_rsassa_evp_key, Rsa(), false);
BENCHMARK_CAPTURE(FullQuote, rsa2048_rsassa_tpm_public, Rsa(), true);
BENCHMARK_CAPTURE(BareEvp, rsa2048_pkcs1, Rsa());
BENCHMARK_CAPTURE(FullQuote, ecc_p256_ecdsa_evp_key, Ecc(), false);
BENCHMARK_CAPTURE(FullQuote, ecc_p256_ecdsa_tpm_public, Ecc(), true);
BENCHMARK_CAPTURE(BareEvp, ecc_p256_ecdsa, Ecc());

}  // namespace
}  // namespace attest

BENCHMARK_MAIN();
