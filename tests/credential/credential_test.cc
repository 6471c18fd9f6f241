// Software MakeCredential against a real TPM (swtpm), both directions, with
// tpm2-tools as the independent implementation:
//   ours -> tpm2_activatecredential, tpm2_makecredential -T none -> ours,
//   ours -> our ESAPI ActivateCredential.
#include "common/credential/credential.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>

#include "common/esys/context.h"
#include "common/esys/keys.h"
#include "common/esys/quote.h"
#include "common/tpm/marshal.h"
#include "tests/harness/swtpm/swtpm.h"

namespace attest::credential {
namespace {

namespace fs = std::filesystem;
using esys::KeyType;

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

const Bytes kSecret = {'s',  'e',  'c',  'r',  'e',  't',  '-',  'f',  'o',  'r',  '-',
                       'a',  'k',  0x00, 0xff, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70,
                       0x80, 0x90, 0xa0, 0xb0, 0xc0, 0xd0, 0xe0, 0xf0, 0x01, 0x02};

class CredentialTest : public ::testing::TestWithParam<KeyType> {
 protected:
  esys::SigScheme scheme() const {
    return GetParam() == KeyType::kRsa2048 ? esys::SigScheme::kRsaSsa : esys::SigScheme::kEcdsa;
  }
  testing::Swtpm tpm_;
};

TEST_P(CredentialTest, OursActivatedByOurEsys) {
  Bytes ak_name;
  MadeCredential made;
  {
    auto ctx = esys::EsysContext::Open(tpm_.tcti());
    ASSERT_TRUE(ctx.ok()) << ctx.error().ToString();
    auto ek = esys::CreateEk(*ctx, GetParam());
    ASSERT_TRUE(ek.ok()) << ek.error().ToString();
    auto ak = esys::LoadOrCreateAk(*ctx, *ek, tpm_.dir() / "ak.bin", GetParam(), scheme());
    ASSERT_TRUE(ak.ok()) << ak.error().ToString();
    ak_name = ak->name;

    // The registrar derives the AK name from ak_public alone.
    auto name = ObjectName(ak->public_bytes);
    ASSERT_TRUE(name.ok()) << name.error().ToString();
    EXPECT_EQ(*name, ak->name);

    auto m = MakeCredential(ek->public_bytes, kSecret, *name);
    ASSERT_TRUE(m.ok()) << m.error().ToString();
    made = *m;
    auto secret =
        esys::ActivateCredential(*ctx, *ak, *ek, made.credential_blob, made.encrypted_secret);
    ASSERT_TRUE(secret.ok()) << secret.error().ToString();
    EXPECT_EQ(*secret, kSecret);

    // Made for another AK name: the TPM refuses (integrity check fails).
    Bytes other = *name;
    other.back() ^= 1;
    auto wrong = MakeCredential(ek->public_bytes, kSecret, other);
    ASSERT_TRUE(wrong.ok());
    EXPECT_FALSE(
        esys::ActivateCredential(*ctx, *ak, *ek, wrong->credential_blob, wrong->encrypted_secret)
            .ok());
    // A tampered blob is refused too.
    Bytes tampered = made.credential_blob;
    tampered.back() ^= 0x80;
    EXPECT_FALSE(esys::ActivateCredential(*ctx, *ak, *ek, tampered, made.encrypted_secret).ok());
    // Garbage is an error, not a crash.
    EXPECT_FALSE(esys::ActivateCredential(*ctx, *ak, *ek, {1, 2, 3}, {}).ok());
  }  // everything flushed: swtpm holds only 3 transient objects

  // The AK survives a new context (agent restart) with the same name, and
  // the credential made before still activates.
  auto ctx = esys::EsysContext::Open(tpm_.tcti());
  ASSERT_TRUE(ctx.ok());
  auto ek = esys::CreateEk(*ctx, GetParam());
  ASSERT_TRUE(ek.ok()) << ek.error().ToString();
  auto ak = esys::LoadOrCreateAk(*ctx, *ek, tpm_.dir() / "ak.bin", GetParam(), scheme());
  ASSERT_TRUE(ak.ok()) << ak.error().ToString();
  EXPECT_EQ(ak->name, ak_name);
  auto again =
      esys::ActivateCredential(*ctx, *ak, *ek, made.credential_blob, made.encrypted_secret);
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_EQ(*again, kSecret);
}

TEST_P(CredentialTest, OursActivatedByTpm2Activatecredential) {
  const fs::path d = tpm_.dir();
  const char* alg = GetParam() == KeyType::kRsa2048 ? "rsa" : "ecc";
  std::string out;
  auto run = [&](std::vector<std::string> argv) {
    int rc = tpm_.RunTool(argv, &out);
    EXPECT_EQ(rc, 0) << argv[0] << ": " << out;
    return rc == 0;
  };
  ASSERT_TRUE(run(
      {"tpm2_createek", "-G", alg, "-c", (d / "ek.ctx").string(), "-u", (d / "ek.pub").string()}));
  ASSERT_TRUE(
      run({"tpm2_createak", "-C", (d / "ek.ctx").string(), "-c", (d / "ak.ctx").string(), "-G", alg,
           "-g", "sha256", "-u", (d / "ak.pub").string(), "-n", (d / "ak.name").string()}));
  ASSERT_TRUE(run({"tpm2_flushcontext", "-t"}));  // createak leaves objects loaded

  // Our MakeCredential from the tool's EK public and AK name.
  auto name = ObjectName(ReadBytes(d / "ak.pub"));
  ASSERT_TRUE(name.ok()) << name.error().ToString();
  EXPECT_EQ(Hex(*name), Hex(ReadBytes(d / "ak.name")));
  auto made = MakeCredential(ReadBytes(d / "ek.pub"), kSecret, *name);
  ASSERT_TRUE(made.ok()) << made.error().ToString();
  WriteBytes(d / "cred.bin", ToolsFile(*made));

  ASSERT_TRUE(run({"tpm2_startauthsession", "--policy-session", "-S", (d / "s.ctx").string()}));
  ASSERT_TRUE(run({"tpm2_policysecret", "-S", (d / "s.ctx").string(), "-c", "e"}));
  bool activated = run({"tpm2_activatecredential", "-c", (d / "ak.ctx").string(), "-C",
                        (d / "ek.ctx").string(), "-i", (d / "cred.bin").string(), "-o",
                        (d / "secret.out").string(), "-P", "session:" + (d / "s.ctx").string()});
  tpm_.RunTool({"tpm2_flushcontext", (d / "s.ctx").string()});
  tpm_.RunTool({"tpm2_flushcontext", "-t"});
  ASSERT_TRUE(activated);
  EXPECT_EQ(ReadBytes(d / "secret.out"), kSecret);
}

TEST_P(CredentialTest, Tpm2MakecredentialActivatedByOurEsys) {
  auto ctx = esys::EsysContext::Open(tpm_.tcti());
  ASSERT_TRUE(ctx.ok()) << ctx.error().ToString();
  auto ek = esys::CreateEk(*ctx, GetParam());
  ASSERT_TRUE(ek.ok()) << ek.error().ToString();
  auto ak = esys::LoadOrCreateAk(*ctx, *ek, tpm_.dir() / "ak.bin", GetParam(), scheme());
  ASSERT_TRUE(ak.ok()) << ak.error().ToString();

  const fs::path d = tpm_.dir();
  WriteBytes(d / "ek.pub", ek->public_bytes);
  WriteBytes(d / "secret.bin", kSecret);
  std::string out;
  // -T none: computed in software by tpm2-tools, no TPM involved.
  ASSERT_EQ(testing::RunCommand(
                {"tpm2_makecredential", "-T", "none", "-u", (d / "ek.pub").string(), "-s",
                 (d / "secret.bin").string(), "-n", Hex(ak->name), "-o", (d / "cred.bin").string()},
                &out),
            0)
      << out;
  auto parsed = ParseToolsFile(ReadBytes(d / "cred.bin"));
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  auto secret =
      esys::ActivateCredential(*ctx, *ak, *ek, parsed->credential_blob, parsed->encrypted_secret);
  ASSERT_TRUE(secret.ok()) << secret.error().ToString();
  EXPECT_EQ(*secret, kSecret);
  // Same layout both ways.
  EXPECT_EQ(ToolsFile(*parsed), ReadBytes(d / "cred.bin"));
}

INSTANTIATE_TEST_SUITE_P(Types, CredentialTest,
                         ::testing::Values(KeyType::kRsa2048, KeyType::kEccP256),
                         [](const auto& info) {
                           return info.param == KeyType::kRsa2048 ? "Rsa" : "Ecc";
                         });

TEST(CredentialUnitTest, RejectsBadInput) {
  Bytes name(34, 1);
  name[0] = 0x00;
  name[1] = 0x0b;
  EXPECT_FALSE(MakeCredential({}, {1}, name).ok());
  EXPECT_FALSE(MakeCredential({0x00, 0x01, 0x02}, {1}, name).ok());
  EXPECT_FALSE(ObjectName({}).ok());
  EXPECT_FALSE(ObjectName({0xff, 0xff}).ok());
  EXPECT_FALSE(ParseToolsFile({}).ok());
  EXPECT_FALSE(ParseToolsFile({0xBA, 0xDC, 0xC0, 0xDE, 0, 0, 0, 1, 0x00, 0x10, 1}).ok());
  EXPECT_FALSE(ParseToolsFile({0xBA, 0xDC, 0xC0, 0xDF, 0, 0, 0, 1, 0, 0, 0, 0}).ok());
  auto ok = ParseToolsFile({0xBA, 0xDC, 0xC0, 0xDE, 0, 0, 0, 1, 0, 1, 7, 0, 2, 8, 9});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->credential_blob, (Bytes{0, 1, 7}));
  EXPECT_EQ(ok->encrypted_secret, (Bytes{0, 2, 8, 9}));
}

// A software EK public area (restricted decryption key, AES-128-CFB) with
// the point / modulus of a freshly generated key.
TPMT_PUBLIC SoftEk(bool rsa) {
  TPMT_PUBLIC ek{};
  ek.type = rsa ? TPM2_ALG_RSA : TPM2_ALG_ECC;
  ek.nameAlg = TPM2_ALG_SHA256;
  ek.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                        TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
                        TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
  TPMT_SYM_DEF_OBJECT& sym =
      rsa ? ek.parameters.rsaDetail.symmetric : ek.parameters.eccDetail.symmetric;
  sym.algorithm = TPM2_ALG_AES;
  sym.keyBits.aes = 128;
  sym.mode.aes = TPM2_ALG_CFB;
  EVP_PKEY* key = rsa ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  EXPECT_NE(key, nullptr);
  auto put = [key](const char* param, uint8_t* out, uint16_t* size, int len) {
    BIGNUM* bn = nullptr;
    EXPECT_EQ(EVP_PKEY_get_bn_param(key, param, &bn), 1) << param;
    EXPECT_EQ(BN_bn2binpad(bn, out, len), len);
    *size = static_cast<uint16_t>(len);
    BN_free(bn);
  };
  if (rsa) {
    ek.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
    ek.parameters.rsaDetail.keyBits = 2048;
    put(OSSL_PKEY_PARAM_RSA_N, ek.unique.rsa.buffer, &ek.unique.rsa.size, 256);
  } else {
    ek.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
    ek.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    ek.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    put(OSSL_PKEY_PARAM_EC_PUB_X, ek.unique.ecc.x.buffer, &ek.unique.ecc.x.size, 32);
    put(OSSL_PKEY_PARAM_EC_PUB_Y, ek.unique.ecc.y.buffer, &ek.unique.ecc.y.size, 32);
  }
  EVP_PKEY_free(key);
  return ek;
}

Bytes Tpm2bPublic(const TPMT_PUBLIC& pub) {
  auto area = tpm::MarshalPublicArea(pub);
  EXPECT_TRUE(area.ok());
  Bytes out(2 + area->size());
  out[0] = static_cast<uint8_t>(area->size() >> 8);
  out[1] = static_cast<uint8_t>(area->size());
  std::copy(area->begin(), area->end(), out.begin() + 2);
  return out;
}

// The EK key conversion (common/tpm): unsupported curves, points off the
// curve and moduli of the wrong size are bad EK keys, not crypto failures.
TEST(CredentialUnitTest, RejectsUnusableEkKeys) {
  Bytes name(34, 1);
  name[0] = 0x00;
  name[1] = 0x0b;
  for (bool rsa : {true, false}) {
    const TPMT_PUBLIC ek = SoftEk(rsa);
    auto ok = MakeCredential(Tpm2bPublic(ek), kSecret, name);
    EXPECT_TRUE(ok.ok()) << ok.error().message;
    TPMT_PUBLIC bad = ek;
    if (rsa) {
      bad.unique.rsa.size = 255;
    } else {
      bad.parameters.eccDetail.curveID = TPM2_ECC_BN_P256;
    }
    auto r = MakeCredential(Tpm2bPublic(bad), kSecret, name);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, errc::bad_public_key) << r.error().message;
    if (!rsa) {
      bad = ek;
      bad.unique.ecc.y.buffer[31] ^= 1;  // no longer on the curve
      r = MakeCredential(Tpm2bPublic(bad), kSecret, name);
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error().code, errc::bad_public_key) << r.error().message;
    }
  }
}

TEST(CredentialUnitTest, KdfaIsDeterministicAndLabelled) {
  Bytes key(32, 7);
  auto a = KdfA(TPM2_ALG_SHA256, key, "STORAGE", {1}, {}, 128);
  auto b = KdfA(TPM2_ALG_SHA256, key, "STORAGE", {1}, {}, 128);
  auto c = KdfA(TPM2_ALG_SHA256, key, "INTEGRITY", {1}, {}, 128);
  auto long_out = KdfA(TPM2_ALG_SHA256, key, "STORAGE", {1}, {}, 512);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && long_out.ok());
  EXPECT_EQ(a->size(), 16u);
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  EXPECT_EQ(long_out->size(), 64u);
  EXPECT_FALSE(KdfA(0x1234, key, "X", {}, {}, 128).ok());
  EXPECT_FALSE(KdfA(TPM2_ALG_SHA256, key, "X", {}, {}, 0).ok());
}

}  // namespace
}  // namespace attest::credential
