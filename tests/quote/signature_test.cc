// The prepared verifier (checks::AkVerifier) against the per-call path
// (VerifyTpmSignature) and the truth: same verdicts for every scheme and
// hash, for altered messages, signatures and keys; several schemes through
// one verifier; and many threads sharing one verifier from its first use.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "common/checks/quote.h"
#include "common/checks/signature.h"
#include "common/tpm/marshal.h"
#include "tests/quote/quote_test_util.h"
#include "tests/quote/soft_quote.h"

namespace attest {
namespace {

using testing::HasEvent;
using testing::Ids;

TPMT_SIGNATURE Sign(const testing::SoftAk& ak, TPMI_ALG_SIG_SCHEME scheme, TPMI_ALG_HASH hash,
                    const tpm::Bytes& message) {
  auto sig = tpm::ParseSignature(testing::SignLikeTpm(ak, scheme, hash, message));
  testing::Check(sig.ok(), "signature parse");
  return *sig;
}

tpm::EvpPkeyPtr PublicKey(const testing::SoftAk& ak) {
  auto key = tpm::PublicToEvpPkey(ak.pub);
  testing::Check(key.ok(), "public key");
  return std::move(*key);
}

using testing::Scheme;

class PreparedVsPerCall : public ::testing::TestWithParam<Scheme> {};

TEST_P(PreparedVsPerCall, SameVerdicts) {
  const Scheme& s = GetParam();
  auto ak = s.rsa ? testing::MakeRsaAk() : testing::MakeEccAk(s.curve);
  auto other = s.rsa ? testing::MakeRsaAk() : testing::MakeEccAk(s.curve);
  auto wrong_type = s.rsa ? testing::MakeEccAk() : testing::MakeRsaAk();
  const auto key = PublicKey(ak);
  const checks::AkVerifier verifier(key.get());
  const checks::AkVerifier other_verifier(PublicKey(other).get());  // holds its own reference
  const checks::AkVerifier wrong_type_verifier(PublicKey(wrong_type).get());
  const tpm::Bytes message(145, 0x3c);
  const TPMT_SIGNATURE sig = Sign(ak, s.sig, s.hash, message);

  std::string why;
  // Twice: the first call prepares the template, the second only uses it.
  for (int round = 0; round < 2; ++round) {
    EXPECT_TRUE(verifier.Verify(sig, message, &why)) << why;
    EXPECT_TRUE(checks::VerifyTpmSignature(key.get(), sig, message, &why)) << why;
  }

  auto altered = message;
  altered[17] ^= 0x01;
  EXPECT_FALSE(verifier.Verify(sig, altered, &why));
  EXPECT_EQ(why, "signature does not verify");
  EXPECT_FALSE(checks::VerifyTpmSignature(key.get(), sig, altered, &why));

  TPMT_SIGNATURE bad = sig;
  if (s.rsa) {
    bad.signature.rsassa.sig.buffer[100] ^= 0x40;
  } else {
    bad.signature.ecdsa.signatureS.buffer[5] ^= 0x40;
  }
  EXPECT_FALSE(verifier.Verify(bad, message, &why));
  EXPECT_FALSE(checks::VerifyTpmSignature(key.get(), bad, message, &why));

  EXPECT_FALSE(other_verifier.Verify(sig, message, &why));
  EXPECT_FALSE(wrong_type_verifier.Verify(sig, message, &why));
  EXPECT_NE(why.find(s.rsa ? "non-RSA key" : "non-EC key"), std::string::npos) << why;

  // The signature claims another hash than the one it was made with.
  bad = sig;
  (s.rsa ? bad.signature.rsassa.hash : bad.signature.ecdsa.hash) =
      s.hash == TPM2_ALG_SHA256 ? TPM2_ALG_SHA384 : TPM2_ALG_SHA256;
  EXPECT_FALSE(verifier.Verify(bad, message, &why));
  EXPECT_FALSE(checks::VerifyTpmSignature(key.get(), bad, message, &why));
  // And the right one still verifies afterwards.
  EXPECT_TRUE(verifier.Verify(sig, message, &why)) << why;
}

INSTANTIATE_TEST_SUITE_P(
    Schemes, PreparedVsPerCall,
    ::testing::Values(
        Scheme{"rsassa_sha1", true, 0, TPM2_ALG_RSASSA, TPM2_ALG_SHA1},
        Scheme{"rsassa_sha256", true, 0, TPM2_ALG_RSASSA, TPM2_ALG_SHA256},
        Scheme{"rsassa_sha512", true, 0, TPM2_ALG_RSASSA, TPM2_ALG_SHA512},
        Scheme{"rsapss_sha256", true, 0, TPM2_ALG_RSAPSS, TPM2_ALG_SHA256},
        Scheme{"rsapss_sha384", true, 0, TPM2_ALG_RSAPSS, TPM2_ALG_SHA384},
        Scheme{"ecdsa_p256_sha256", false, TPM2_ECC_NIST_P256, TPM2_ALG_ECDSA, TPM2_ALG_SHA256},
        Scheme{"ecdsa_p384_sha384", false, TPM2_ECC_NIST_P384, TPM2_ALG_ECDSA, TPM2_ALG_SHA384}),
    testing::SchemeName);

TEST(AkVerifier, SeveralSchemesThroughOneVerifier) {
  auto ak = testing::MakeRsaAk();
  const checks::AkVerifier verifier(PublicKey(ak).get());
  const tpm::Bytes message(64, 0x11);
  const auto sassa = Sign(ak, TPM2_ALG_RSASSA, TPM2_ALG_SHA256, message);
  const auto pss = Sign(ak, TPM2_ALG_RSAPSS, TPM2_ALG_SHA256, message);
  const auto pss384 = Sign(ak, TPM2_ALG_RSAPSS, TPM2_ALG_SHA384, message);
  std::string why;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(verifier.Verify(sassa, message, &why)) << why;
    EXPECT_TRUE(verifier.Verify(pss, message, &why)) << why;
    EXPECT_TRUE(verifier.Verify(pss384, message, &why)) << why;
  }
  // A PKCS#1 v1.5 signature is not a PSS one and the other way round.
  TPMT_SIGNATURE swapped = sassa;
  swapped.sigAlg = TPM2_ALG_RSAPSS;
  EXPECT_FALSE(verifier.Verify(swapped, message, &why));
  swapped = pss;
  swapped.sigAlg = TPM2_ALG_RSASSA;
  EXPECT_FALSE(verifier.Verify(swapped, message, &why));
}

TEST(AkVerifier, RefusesWhatItCannotVerify) {
  auto ak = testing::MakeEccAk();
  const auto key = PublicKey(ak);
  const checks::AkVerifier verifier(key.get());
  const tpm::Bytes message(32, 0x22);
  auto sig = Sign(ak, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, message);
  std::string why, per_call_why;

  auto unknown_hash = sig;
  unknown_hash.signature.ecdsa.hash = TPM2_ALG_SM3_256;
  EXPECT_FALSE(verifier.Verify(unknown_hash, message, &why));
  EXPECT_FALSE(checks::VerifyTpmSignature(key.get(), unknown_hash, message, &per_call_why));
  EXPECT_EQ(why, per_call_why);

  auto unknown_scheme = sig;
  unknown_scheme.sigAlg = TPM2_ALG_SM2;
  EXPECT_FALSE(verifier.Verify(unknown_scheme, message, &why));
  EXPECT_FALSE(checks::VerifyTpmSignature(key.get(), unknown_scheme, message, &per_call_why));
  EXPECT_EQ(why, per_call_why);

  auto empty_r = sig;
  empty_r.signature.ecdsa.signatureR.size = 0;
  EXPECT_FALSE(verifier.Verify(empty_r, message, &why));
  EXPECT_EQ(why, "ECDSA r/s not encodable");

  const checks::AkVerifier no_key(nullptr);
  EXPECT_EQ(no_key.key(), nullptr);
  EXPECT_FALSE(no_key.Verify(sig, message, &why));
  EXPECT_EQ(why, "no key");
}

// Threads share one verifier from its very first use (so they race for the
// template), each checking good and altered messages.
TEST(AkVerifier, ConcurrentUseFromItsFirstCall) {
  for (bool rsa : {true, false}) {
    auto ak = rsa ? testing::MakeRsaAk() : testing::MakeEccAk();
    const checks::AkVerifier verifier(PublicKey(ak).get());
    const tpm::Bytes message(145, 0x42);
    auto altered = message;
    altered[0] ^= 1;
    const auto sig = Sign(ak, rsa ? TPM2_ALG_RSASSA : TPM2_ALG_ECDSA, TPM2_ALG_SHA256, message);
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 50; ++i) {
          std::string why;
          if (!verifier.Verify(sig, message, &why)) ++wrong;
          if (verifier.Verify(sig, altered, &why)) ++wrong;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(wrong.load(), 0) << (rsa ? "rsa" : "ecc");
  }
}

// VerifyQuote takes the prepared verifier first, then the EVP key.
TEST(AkVerifier, VerifyQuotePrefersThePreparedVerifier) {
  auto ak = testing::MakeRsaAk();
  auto other = testing::MakeRsaAk();
  const auto key = PublicKey(ak);
  const auto other_key = PublicKey(other);
  const checks::AkVerifier verifier(key.get());
  const checks::AkVerifier other_verifier(other_key.get());
  auto sel = testing::Selection(TPM2_ALG_SHA256, {0, 7});
  checks::QuoteInputs in;
  in.nonce = tpm::Bytes(20, 0x5a);
  in.pcrs = testing::ValuesFor(sel);
  in.quote = testing::MakeQuote(in.nonce, sel, in.pcrs, TPM2_ALG_SHA256);
  in.signature = testing::SignLikeTpm(ak, TPM2_ALG_RSASSA, TPM2_ALG_SHA256, in.quote);

  in.ak_verifier = &verifier;
  in.ak_key = other_key.get();
  auto r = checks::VerifyQuote(in);
  EXPECT_TRUE(r.ok()) << Ids(r);

  in.ak_verifier = &other_verifier;
  in.ak_key = key.get();
  r = checks::VerifyQuote(in);
  EXPECT_TRUE(HasEvent(r, "quote.invalid_signature")) << Ids(r);
  EXPECT_EQ(r.failures.size(), 1u) << Ids(r);

  const checks::AkVerifier no_key(nullptr);
  in.ak_verifier = &no_key;
  EXPECT_TRUE(HasEvent(checks::VerifyQuote(in), "quote.invalid_signature"));
}

}  // namespace
}  // namespace attest
