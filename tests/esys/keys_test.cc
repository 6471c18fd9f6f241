// EK, EK certificate, AK persistence and quotes against swtpm, with
// tpm2-tools (tpm2_createek, tpm2_checkquote) as independent oracles.
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>
#include <tss2/tss2_mu.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/esys/context.h"
#include "common/esys/errors.h"
#include "common/esys/keys.h"
#include "common/esys/pcr.h"
#include "common/esys/quote.h"
#include "tests/harness/swtpm/swtpm.h"

namespace attest::esys {
namespace {

namespace fs = std::filesystem;

void WriteBytes(const fs::path& p, const Bytes& b) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

Bytes ReadBytes(const fs::path& p) {
  std::string s = testing::ReadFile(p);
  return Bytes(s.begin(), s.end());
}

std::string Hex(const Bytes& b) {
  std::string s;
  char buf[3];
  for (uint8_t c : b) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    s += buf;
  }
  return s;
}

class KeysTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(KeysTest, EkMatchesTpm2Createek) {
  testing::Swtpm tpm;
  Bytes ours;
  {
    auto ctx = EsysContext::Open(tpm.tcti());
    ASSERT_TRUE(ctx.ok()) << ctx.error().ToString();
    auto ek = CreateEk(*ctx, GetParam());
    ASSERT_TRUE(ek.ok()) << ek.error().ToString();
    EXPECT_EQ(ek->name.size(), 34u);
    ours = ek->public_bytes;
  }  // flushed before the tool runs

  const fs::path pub = tpm.dir() / "ek.pub";
  std::string out;
  const char* alg = GetParam() == KeyType::kRsa2048 ? "rsa" : "ecc";
  ASSERT_EQ(tpm.RunTool({"tpm2_createek", "-G", alg, "-u", pub.string(), "-c",
                         (tpm.dir() / "ek.ctx").string()},
                        &out),
            0)
      << out;
  ASSERT_EQ(tpm.RunTool({"tpm2_flushcontext", "-t"}, &out), 0) << out;
  EXPECT_EQ(Hex(ReadBytes(pub)), Hex(ours));
}

TEST_P(KeysTest, AkIsSavedPrivatelyAndReloadedAfterReboot) {
  testing::Swtpm tpm;
  const fs::path file = tpm.dir() / "ak.bin";
  const SigScheme scheme = GetParam() == KeyType::kRsa2048 ? SigScheme::kRsaSsa : SigScheme::kEcdsa;
  Bytes name, pub;
  {
    auto ctx = EsysContext::Open(tpm.tcti());
    ASSERT_TRUE(ctx.ok()) << ctx.error().ToString();
    auto ek = CreateEk(*ctx, GetParam());
    ASSERT_TRUE(ek.ok()) << ek.error().ToString();
    auto ak = LoadOrCreateAk(*ctx, *ek, file, GetParam(), scheme);
    ASSERT_TRUE(ak.ok()) << ak.error().ToString();
    name = ak->name;
    pub = ak->public_bytes;
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_FALSE(fs::exists(file.string() + ".tmp"));
  }
  tpm.Restart();
  auto ctx = EsysContext::Open(tpm.tcti());
  ASSERT_TRUE(ctx.ok()) << ctx.error().ToString();
  auto ek = CreateEk(*ctx, GetParam());
  ASSERT_TRUE(ek.ok()) << ek.error().ToString();
  auto ak = LoadOrCreateAk(*ctx, *ek, file, GetParam(), scheme);
  ASSERT_TRUE(ak.ok()) << ak.error().ToString();
  EXPECT_EQ(ak->name, name);
  EXPECT_EQ(ak->public_bytes, pub);

  // Another scheme than the saved AK's is refused, not silently replaced.
  const SigScheme other = GetParam() == KeyType::kRsa2048 ? SigScheme::kRsaPss : SigScheme::kEcdsa;
  if (other != scheme) {
    auto again = LoadOrCreateAk(*ctx, *ek, file, GetParam(), other);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code, make_error_code(errc::mismatch));
  }
  // A corrupt file is an error, not a crash.
  Bytes data = ReadBytes(file);
  data.resize(data.size() / 2);
  WriteBytes(file, data);
  auto corrupt = LoadOrCreateAk(*ctx, *ek, file, GetParam(), scheme);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_EQ(corrupt.error().code, make_error_code(errc::marshal_error));
}

TEST_P(KeysTest, QuoteVerifiesWithTpm2Checkquote) {
  testing::Swtpm tpm;
  auto ctx = EsysContext::Open(tpm.tcti());
  ASSERT_TRUE(ctx.ok()) << ctx.error().ToString();
  auto ek = CreateEk(*ctx, GetParam());
  ASSERT_TRUE(ek.ok()) << ek.error().ToString();
  const SigScheme scheme = GetParam() == KeyType::kRsa2048 ? SigScheme::kRsaSsa : SigScheme::kEcdsa;
  auto ak = LoadOrCreateAk(*ctx, *ek, tpm.dir() / "ak.bin", GetParam(), scheme);
  ASSERT_TRUE(ak.ok()) << ak.error().ToString();
  Bytes nonce = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  auto q = Quote(*ctx, *ak, nonce, TPM2_ALG_SHA256, {0, 1, 2, 3, 4, 5, 6, 7, 10});
  ASSERT_TRUE(q.ok()) << q.error().ToString();

  TPMS_ATTEST attest{};
  size_t off = 0;
  ASSERT_EQ(Tss2_MU_TPMS_ATTEST_Unmarshal(q->attest.data(), q->attest.size(), &off, &attest),
            TSS2_RC_SUCCESS);
  EXPECT_EQ(off, q->attest.size());
  EXPECT_EQ(attest.magic, TPM2_GENERATED_VALUE);
  EXPECT_EQ(attest.type, TPM2_ST_ATTEST_QUOTE);
  EXPECT_EQ(Bytes(attest.extraData.buffer, attest.extraData.buffer + attest.extraData.size), nonce);

  WriteBytes(tpm.dir() / "ak.pub", ak->public_bytes);
  WriteBytes(tpm.dir() / "quote.msg", q->attest);
  WriteBytes(tpm.dir() / "quote.sig", q->signature);
  std::string out;
  auto check = [&](const Bytes& n) {
    out.clear();
    return tpm.RunTool({"tpm2_checkquote", "-u", (tpm.dir() / "ak.pub").string(), "-m",
                        (tpm.dir() / "quote.msg").string(), "-s",
                        (tpm.dir() / "quote.sig").string(), "-q", Hex(n), "-g", "sha256"},
                       &out);
  };
  EXPECT_EQ(check(nonce), 0) << out;
  Bytes wrong = nonce;
  wrong[0] ^= 1;
  EXPECT_NE(check(wrong), 0) << out;

  EXPECT_FALSE(Quote(*ctx, *ak, Bytes(65, 0), TPM2_ALG_SHA256, {0}).ok());
}

INSTANTIATE_TEST_SUITE_P(Types, KeysTest, ::testing::Values(KeyType::kRsa2048, KeyType::kEccP256),
                         [](const auto& info) {
                           return info.param == KeyType::kRsa2048 ? "Rsa" : "Ecc";
                         });

TEST(KeysTest, RsaPssAkQuotes) {
  testing::Swtpm tpm;
  auto ctx = EsysContext::Open(tpm.tcti());
  ASSERT_TRUE(ctx.ok()) << ctx.error().ToString();
  auto ek = CreateEk(*ctx, KeyType::kRsa2048);
  ASSERT_TRUE(ek.ok()) << ek.error().ToString();
  auto ak = LoadOrCreateAk(*ctx, *ek, tpm.dir() / "ak.bin", KeyType::kRsa2048, SigScheme::kRsaPss);
  ASSERT_TRUE(ak.ok()) << ak.error().ToString();
  auto q = Quote(*ctx, *ak, {1, 2, 3}, TPM2_ALG_SHA256, {0});
  ASSERT_TRUE(q.ok()) << q.error().ToString();
  TPMT_SIGNATURE sig{};
  size_t off = 0;
  ASSERT_EQ(Tss2_MU_TPMT_SIGNATURE_Unmarshal(q->signature.data(), q->signature.size(), &off, &sig),
            TSS2_RC_SUCCESS);
  EXPECT_EQ(sig.sigAlg, TPM2_ALG_RSAPSS);
  EXPECT_EQ(sig.signature.rsapss.hash, TPM2_ALG_SHA256);
  EXPECT_FALSE(AkTemplate(KeyType::kRsa2048, SigScheme::kEcdsa).ok());
  EXPECT_FALSE(AkTemplate(KeyType::kEccP256, SigScheme::kRsaSsa).ok());
}

TEST(EkCertTest, ReadsCertificateThatChainsToTheLocalCa) {
  testing::Swtpm tpm(testing::Swtpm::Options{.ek_cert = true});
  auto ctx = EsysContext::Open(tpm.tcti());
  ASSERT_TRUE(ctx.ok()) << ctx.error().ToString();
  auto der = ReadEkCertificate(*ctx, KeyType::kRsa2048);
  ASSERT_TRUE(der.ok()) << der.error().ToString();
  const uint8_t* p = der->data();
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      d2i_X509(nullptr, &p, static_cast<long>(der->size())), X509_free);
  ASSERT_TRUE(cert);
  EXPECT_EQ(p, der->data() + der->size());  // no trailing padding

  // The certified key is the EK we create from the template.
  auto ek = CreateEk(*ctx, KeyType::kRsa2048);
  ASSERT_TRUE(ek.ok()) << ek.error().ToString();
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  ASSERT_NE(key, nullptr);
  BIGNUM* n = nullptr;
  ASSERT_EQ(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n), 1);
  Bytes modulus(static_cast<size_t>(BN_num_bytes(n)));
  BN_bn2bin(n, modulus.data());
  BN_free(n);
  const auto& u = ek->public_area.publicArea.unique.rsa;
  EXPECT_EQ(modulus, Bytes(u.buffer, u.buffer + u.size));

  // Chain: EK cert <- issuer (intermediate) <- root.
  auto load_pem = [](const fs::path& path) {
    FILE* f = std::fopen(path.c_str(), "r");
    X509* x = f ? PEM_read_X509(f, nullptr, nullptr, nullptr) : nullptr;
    if (f) std::fclose(f);
    return x;
  };
  std::unique_ptr<X509, decltype(&X509_free)> root(load_pem(tpm.ca_cert_path()), X509_free);
  std::unique_ptr<X509, decltype(&X509_free)> issuer(load_pem(tpm.issuer_cert_path()), X509_free);
  ASSERT_TRUE(root && issuer);
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  X509_STORE_add_cert(store.get(), root.get());
  std::unique_ptr<STACK_OF(X509), void (*)(STACK_OF(X509)*)> chain(
      sk_X509_new_null(), [](STACK_OF(X509) * s) { sk_X509_free(s); });
  sk_X509_push(chain.get(), issuer.get());
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> vctx(X509_STORE_CTX_new(),
                                                                       X509_STORE_CTX_free);
  X509_STORE_CTX_init(vctx.get(), store.get(), cert.get(), chain.get());
  // EK certificates carry a critical SAN/extensions OpenSSL may not know.
  X509_STORE_CTX_set_flags(vctx.get(), X509_V_FLAG_IGNORE_CRITICAL);
  EXPECT_EQ(X509_verify_cert(vctx.get()), 1)
      << X509_verify_cert_error_string(X509_STORE_CTX_get_error(vctx.get()));

  // swtpm 0.7 provisions its ECC EK cert for P-384 (0x01c00016), not P-256.
  auto ecc = ReadEkCertificate(*ctx, KeyType::kEccP256);
  ASSERT_FALSE(ecc.ok());
  EXPECT_EQ(ecc.error().code, make_error_code(errc::not_found));
}

TEST(EkCertTest, NoCertificateIsNotFound) {
  testing::Swtpm tpm;
  auto ctx = EsysContext::Open(tpm.tcti());
  ASSERT_TRUE(ctx.ok()) << ctx.error().ToString();
  auto der = ReadEkCertificate(*ctx, KeyType::kRsa2048);
  ASSERT_FALSE(der.ok());
  EXPECT_EQ(der.error().code, make_error_code(errc::not_found)) << der.error().ToString();
}

}  // namespace
}  // namespace attest::esys
