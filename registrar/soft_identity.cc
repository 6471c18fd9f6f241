#include "registrar/soft_identity.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include <cstring>

#include "common/credential/credential.h"
#include "common/crypto/ossl.h"
#include "registrar/errors.h"

namespace attest::registrar {
namespace {

using Bytes = SoftIdentity::Bytes;

Error Crypto(const char* what) {
  return MakeError(errc::internal, std::string("soft TPM: ") + what);
}

Result<std::shared_ptr<EVP_PKEY>> NewRsa() {
  crypto::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), 2048) <= 0 ||
      EVP_PKEY_keygen(ctx.get(), &key) <= 0) {
    return Crypto("RSA key generation failed");
  }
  return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
}

Result<Bytes> Modulus(EVP_PKEY* key) {
  BIGNUM* n = nullptr;
  if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) != 1) return Crypto("no modulus");
  crypto::BnPtr owned(n);
  Bytes out(BN_num_bytes(n));
  BN_bn2bin(n, out.data());
  return out;
}

Result<Bytes> MarshalPublic(const TPM2B_PUBLIC& pub) {
  Bytes buf(sizeof(TPM2B_PUBLIC));
  size_t off = 0;
  if (Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, buf.data(), buf.size(), &off) != TSS2_RC_SUCCESS) {
    return Crypto("marshalling TPM2B_PUBLIC");
  }
  buf.resize(off);
  return buf;
}

Result<TPM2B_PUBLIC> RsaPublic(EVP_PKEY* key, bool ek, bool restricted) {
  TPM2B_PUBLIC pub{};
  TPMT_PUBLIC& p = pub.publicArea;
  p.type = TPM2_ALG_RSA;
  p.nameAlg = TPM2_ALG_SHA256;
  p.objectAttributes =
      TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN;
  auto& rsa = p.parameters.rsaDetail;
  if (ek) {
    p.objectAttributes |=
        TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
    // PolicySecret(TPM_RH_ENDORSEMENT), the EK template's authPolicy.
    static const uint8_t kPolicy[32] = {0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xB3, 0xF8,
                                        0x1A, 0x90, 0xCC, 0x8D, 0x46, 0xA5, 0xD7, 0x24,
                                        0xFD, 0x52, 0xD7, 0x6E, 0x06, 0x52, 0x0B, 0x64,
                                        0xF2, 0xA1, 0xDA, 0x1B, 0x33, 0x14, 0x69, 0xAA};
    p.authPolicy.size = 32;
    std::memcpy(p.authPolicy.buffer, kPolicy, 32);
    rsa.symmetric.algorithm = TPM2_ALG_AES;
    rsa.symmetric.keyBits.aes = 128;
    rsa.symmetric.mode.aes = TPM2_ALG_CFB;
    rsa.scheme.scheme = TPM2_ALG_NULL;
  } else {
    p.objectAttributes |= TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_SIGN_ENCRYPT;
    if (restricted) p.objectAttributes |= TPMA_OBJECT_RESTRICTED;
    rsa.symmetric.algorithm = TPM2_ALG_NULL;
    rsa.scheme.scheme = TPM2_ALG_RSASSA;
    rsa.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
  }
  rsa.keyBits = 2048;
  rsa.exponent = 0;
  Bytes n;
  ATTEST_ASSIGN_OR_RETURN(n, Modulus(key));
  if (n.size() > sizeof p.unique.rsa.buffer) return Crypto("modulus too large");
  p.unique.rsa.size = static_cast<UINT16>(n.size());
  std::memcpy(p.unique.rsa.buffer, n.data(), n.size());
  return pub;
}

Bytes HmacSha256(const Bytes& key, const Bytes& data) {
  Bytes out(32);
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), out.data(),
       &len);
  return out;
}

}  // namespace

Result<SoftIdentity> SoftIdentity::Generate(bool ak_restricted) {
  SoftIdentity id;
  ATTEST_ASSIGN_OR_RETURN(id.ek_key_, NewRsa());
  std::shared_ptr<EVP_PKEY> ak;
  ATTEST_ASSIGN_OR_RETURN(ak, NewRsa());
  TPM2B_PUBLIC ek_pub, ak_pub;
  ATTEST_ASSIGN_OR_RETURN(ek_pub, RsaPublic(id.ek_key_.get(), true, true));
  ATTEST_ASSIGN_OR_RETURN(ak_pub, RsaPublic(ak.get(), false, ak_restricted));
  ATTEST_ASSIGN_OR_RETURN(id.ek_public_, MarshalPublic(ek_pub));
  ATTEST_ASSIGN_OR_RETURN(id.ak_public_, MarshalPublic(ak_pub));
  auto name = credential::ObjectName(id.ak_public_);
  if (!name) return Crypto("AK name");
  id.ak_name_ = *name;
  return id;
}

Result<SoftIdentity> SoftIdentity::WithNewAk() const {
  SoftIdentity id = *this;
  std::shared_ptr<EVP_PKEY> ak;
  ATTEST_ASSIGN_OR_RETURN(ak, NewRsa());
  TPM2B_PUBLIC ak_pub;
  ATTEST_ASSIGN_OR_RETURN(ak_pub, RsaPublic(ak.get(), false, true));
  ATTEST_ASSIGN_OR_RETURN(id.ak_public_, MarshalPublic(ak_pub));
  auto name = credential::ObjectName(id.ak_public_);
  if (!name) return Crypto("AK name");
  id.ak_name_ = *name;
  return id;
}

Result<Bytes> SoftIdentity::Activate(const Bytes& blob, const Bytes& encrypted_secret) const {
  // TPM2B_ENCRYPTED_SECRET: size || RSA-OAEP(seed).
  if (encrypted_secret.size() < 2) return Crypto("short encrypted secret");
  size_t es = (encrypted_secret[0] << 8) | encrypted_secret[1];
  if (es + 2 != encrypted_secret.size()) return Crypto("bad encrypted secret size");
  crypto::PkeyCtxPtr ctx(EVP_PKEY_CTX_new(ek_key_.get(), nullptr));
  static const char kLabel[] = "IDENTITY";
  void* label = OPENSSL_memdup(kLabel, sizeof kLabel);
  if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) <= 0 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EVP_sha256()) <= 0 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha256()) <= 0 || !label ||
      EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.get(), label, sizeof kLabel) <= 0) {
    OPENSSL_free(label);
    return Crypto("RSA-OAEP set-up");
  }
  Bytes seed(256);
  size_t seed_len = seed.size();
  if (EVP_PKEY_decrypt(ctx.get(), seed.data(), &seed_len, encrypted_secret.data() + 2, es) <= 0) {
    return Crypto("RSA-OAEP decryption of the seed");
  }
  seed.resize(seed_len);

  // TPM2B_ID_OBJECT: size || TPM2B(integrity HMAC) || encIdentity.
  if (blob.size() < 4) return Crypto("short credential blob");
  size_t total = (blob[0] << 8) | blob[1];
  if (total + 2 != blob.size()) return Crypto("bad credential blob size");
  size_t hmac_len = (blob[2] << 8) | blob[3];
  if (hmac_len != 32 || 4 + hmac_len > blob.size()) return Crypto("bad integrity size");
  Bytes integrity(blob.begin() + 4, blob.begin() + 4 + hmac_len);
  Bytes enc_id(blob.begin() + 4 + hmac_len, blob.end());

  auto hmac_key = credential::KdfA(TPM2_ALG_SHA256, seed, "INTEGRITY", {}, {}, 256);
  if (!hmac_key) return Crypto("KDFa INTEGRITY");
  Bytes mac_input = enc_id;
  mac_input.insert(mac_input.end(), ak_name_.begin(), ak_name_.end());
  Bytes mac = HmacSha256(*hmac_key, mac_input);
  if (CRYPTO_memcmp(mac.data(), integrity.data(), 32) != 0) {
    return Crypto("credential integrity check failed (wrong EK or AK name)");
  }
  auto sym = credential::KdfA(TPM2_ALG_SHA256, seed, "STORAGE", ak_name_, {}, 128);
  if (!sym) return Crypto("KDFa STORAGE");
  crypto::CipherCtxPtr cctx(EVP_CIPHER_CTX_new());
  uint8_t iv[16] = {};
  Bytes plain(enc_id.size() + 16);
  int out1 = 0, out2 = 0;
  if (!cctx ||
      EVP_DecryptInit_ex(cctx.get(), EVP_aes_128_cfb128(), nullptr, sym->data(), iv) != 1 ||
      EVP_DecryptUpdate(cctx.get(), plain.data(), &out1, enc_id.data(),
                        static_cast<int>(enc_id.size())) != 1 ||
      EVP_DecryptFinal_ex(cctx.get(), plain.data() + out1, &out2) != 1) {
    return Crypto("AES-CFB decryption");
  }
  plain.resize(out1 + out2);
  if (plain.size() < 2) return Crypto("short credential");
  size_t n = (plain[0] << 8) | plain[1];
  if (n + 2 != plain.size()) return Crypto("bad credential size");
  return Bytes(plain.begin() + 2, plain.end());
}

Bytes SoftIdentity::AuthTag(const Bytes& secret, const std::string& uuid) {
  return HmacSha256(secret, Bytes(uuid.begin(), uuid.end()));
}

}  // namespace attest::registrar
