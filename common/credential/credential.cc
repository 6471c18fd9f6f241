#include "common/credential/credential.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include <memory>

#include "common/crypto/ossl.h"
#include "common/tpm/marshal.h"
#include "common/tpm/tpm_crypto.h"

namespace attest::credential {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "attest.credential"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::ok:
        return "ok";
      case errc::invalid_argument:
        return "invalid argument";
      case errc::bad_public_key:
        return "unusable EK public key";
      case errc::crypto_error:
        return "cryptographic operation failed";
      case errc::parse_error:
        return "malformed credential file";
    }
    return "unknown error";
  }
};

using crypto::BnPtr;
using crypto::CipherCtxPtr;
using crypto::PkeyCtxPtr;
using crypto::PkeyPtr;

// `what`, then the OpenSSL error queue (emptied) if it holds anything.
Error CryptoError(const std::string& what) {
  if (ERR_peek_error() == 0) return MakeError(errc::crypto_error, what);
  return MakeError(errc::crypto_error, what + "; " + crypto::OpenSslError());
}

void PutU16(Bytes& out, size_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void PutU32(Bytes& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}
void Append(Bytes& out, const Bytes& b) { out.insert(out.end(), b.begin(), b.end()); }
Bytes Tpm2b(const Bytes& b) {
  Bytes out;
  PutU16(out, b.size());
  Append(out, b);
  return out;
}

Result<Bytes> Hmac(const EVP_MD* md, const Bytes& key, const Bytes& data) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (!HMAC(md, key.data(), static_cast<int>(key.size()), data.data(), data.size(), out.data(),
            &len)) {
    return CryptoError("HMAC");
  }
  out.resize(len);
  return out;
}

Result<Bytes> RsaSeed(const TPMT_PUBLIC& ek, const EVP_MD* md, const Bytes& seed) {
  auto key = tpm::PublicToEvpPkey(ek);
  if (!key) return MakeError(errc::bad_public_key, "EK RSA public key: " + key.error().message);
  PkeyCtxPtr enc(EVP_PKEY_CTX_new_from_pkey(nullptr, key->get(), nullptr));
  static const char kLabel[] = "IDENTITY";  // sizeof includes the NUL, as required
  void* label = OPENSSL_memdup(kLabel, sizeof kLabel);
  if (!enc || !label || EVP_PKEY_encrypt_init(enc.get()) <= 0 ||
      EVP_PKEY_CTX_set_rsa_padding(enc.get(), RSA_PKCS1_OAEP_PADDING) <= 0 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(enc.get(), md) <= 0 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(enc.get(), md) <= 0) {
    OPENSSL_free(label);
    return CryptoError("setting up RSA-OAEP");
  }
  if (EVP_PKEY_CTX_set0_rsa_oaep_label(enc.get(), label, sizeof kLabel) <= 0) {
    OPENSSL_free(label);  // ownership passes only on success
    return CryptoError("setting the OAEP label");
  }
  size_t out_len = 0;
  if (EVP_PKEY_encrypt(enc.get(), nullptr, &out_len, seed.data(), seed.size()) <= 0) {
    return CryptoError("RSA-OAEP size");
  }
  Bytes out(out_len);
  if (EVP_PKEY_encrypt(enc.get(), out.data(), &out_len, seed.data(), seed.size()) <= 0) {
    return CryptoError("RSA-OAEP encryption of the seed");
  }
  out.resize(out_len);
  return out;
}

struct EccSeed {
  Bytes seed;
  Bytes point;  // marshalled TPMS_ECC_POINT of the ephemeral key
};

Result<EccSeed> EcdhSeed(const TPMT_PUBLIC& ek, uint16_t name_alg, size_t seed_size) {
  const auto curve = tpm::EccCurveInfo(ek.parameters.eccDetail.curveID);
  if (!curve) return MakeError(errc::bad_public_key, "EK curve not supported");
  const size_t field = curve->field_bytes;
  // The conversion checks coordinate sizes and that the point is on the curve.
  auto peer = tpm::PublicToEvpPkey(ek);
  if (!peer) return MakeError(errc::bad_public_key, "EK ECC public key: " + peer.error().message);
  const TPMS_ECC_POINT& q = ek.unique.ecc;
  PkeyPtr eph(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve->group));
  if (!eph) return CryptoError("generating the ephemeral ECDH key");
  PkeyCtxPtr dctx(EVP_PKEY_CTX_new_from_pkey(nullptr, eph.get(), nullptr));
  size_t z_len = 0;
  if (!dctx || EVP_PKEY_derive_init(dctx.get()) <= 0 ||
      EVP_PKEY_derive_set_peer(dctx.get(), peer->get()) <= 0 ||
      EVP_PKEY_derive(dctx.get(), nullptr, &z_len) <= 0) {
    return CryptoError("ECDH with the EK");
  }
  Bytes z(z_len);
  if (EVP_PKEY_derive(dctx.get(), z.data(), &z_len) <= 0) return CryptoError("ECDH derive");
  z.resize(z_len);
  BIGNUM* x_raw = nullptr;
  BIGNUM* y_raw = nullptr;
  EVP_PKEY_get_bn_param(eph.get(), OSSL_PKEY_PARAM_EC_PUB_X, &x_raw);
  EVP_PKEY_get_bn_param(eph.get(), OSSL_PKEY_PARAM_EC_PUB_Y, &y_raw);
  BnPtr x(x_raw), y(y_raw);
  if (!x || !y) return CryptoError("reading the ephemeral public point");
  Bytes ex(field), ey(field);
  if (BN_bn2binpad(x.get(), ex.data(), static_cast<int>(field)) < 0 ||
      BN_bn2binpad(y.get(), ey.data(), static_cast<int>(field)) < 0) {
    return CryptoError("encoding the ephemeral public point");
  }
  Bytes ek_x(q.x.buffer, q.x.buffer + q.x.size);
  auto seed = KdfE(name_alg, z, "IDENTITY", ex, ek_x, static_cast<uint32_t>(seed_size * 8));
  if (!seed) return seed.error();
  EccSeed out{std::move(seed).value(), Tpm2b(ex)};
  Append(out.point, Tpm2b(ey));
  return out;
}

// The EK's symmetric definition as an OpenSSL cipher: AES-128/256-CFB, or
// nullptr for anything else.
const EVP_CIPHER* CfbCipher(const TPMT_SYM_DEF_OBJECT& sym) {
  if (sym.algorithm != TPM2_ALG_AES || sym.mode.aes != TPM2_ALG_CFB) return nullptr;
  if (sym.keyBits.aes == 128) return EVP_aes_128_cfb128();
  if (sym.keyBits.aes == 256) return EVP_aes_256_cfb128();
  return nullptr;
}

// `plain` encrypted with `key` in CFB mode with a zero IV: the credential's
// encIdentity.
Result<Bytes> EncryptCfb(const EVP_CIPHER* cipher, const Bytes& key, const Bytes& plain) {
  Bytes out(plain.size());
  CipherCtxPtr cctx(EVP_CIPHER_CTX_new());
  const Bytes iv(16, 0);
  int n1 = 0, n2 = 0;
  if (!cctx || EVP_EncryptInit_ex(cctx.get(), cipher, nullptr, key.data(), iv.data()) != 1 ||
      EVP_EncryptUpdate(cctx.get(), out.data(), &n1, plain.data(),
                        static_cast<int>(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(cctx.get(), out.data() + n1, &n2) != 1 ||
      static_cast<size_t>(n1 + n2) != plain.size()) {
    return CryptoError("AES-CFB encryption of the credential");
  }
  return out;
}

}  // namespace

const std::error_category& category() {
  static const Category instance;
  return instance;
}

Result<Bytes> KdfA(uint16_t hash_alg, const Bytes& key, const std::string& label,
                   const Bytes& context_u, const Bytes& context_v, uint32_t bits) {
  const EVP_MD* md = tpm::HashAlgMd(hash_alg);
  if (!md || bits == 0 || bits % 8 != 0 || bits > 8 * 1024) {
    return MakeError(errc::invalid_argument, "KDFa: bad hash or size");
  }
  Bytes out;
  for (uint32_t counter = 1; out.size() < bits / 8; ++counter) {
    Bytes msg;
    PutU32(msg, counter);
    msg.insert(msg.end(), label.begin(), label.end());
    msg.push_back(0);
    Append(msg, context_u);
    Append(msg, context_v);
    PutU32(msg, bits);
    auto block = Hmac(md, key, msg);
    if (!block) return block.error();
    Append(out, *block);
  }
  out.resize(bits / 8);
  return out;
}

Result<Bytes> KdfE(uint16_t hash_alg, const Bytes& z, const std::string& label,
                   const Bytes& party_u, const Bytes& party_v, uint32_t bits) {
  const EVP_MD* md = tpm::HashAlgMd(hash_alg);
  if (!md || bits == 0 || bits % 8 != 0 || bits > 8 * 1024) {
    return MakeError(errc::invalid_argument, "KDFe: bad hash or size");
  }
  Bytes out;
  for (uint32_t counter = 1; out.size() < bits / 8; ++counter) {
    Bytes msg;
    PutU32(msg, counter);
    Append(msg, z);
    msg.insert(msg.end(), label.begin(), label.end());
    msg.push_back(0);
    Append(msg, party_u);
    Append(msg, party_v);
    Bytes block(EVP_MAX_MD_SIZE);
    unsigned int len = 0;
    if (!EVP_Digest(msg.data(), msg.size(), block.data(), &len, md, nullptr)) {
      return CryptoError("KDFe digest");
    }
    block.resize(len);
    Append(out, block);
  }
  out.resize(bits / 8);
  return out;
}

Result<Bytes> ObjectName(const Bytes& public_bytes) {
  TPM2B_PUBLIC pub{};
  size_t off = 0;
  if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(public_bytes.data(), public_bytes.size(), &off, &pub) !=
          TSS2_RC_SUCCESS ||
      off != public_bytes.size()) {
    return MakeError(errc::bad_public_key, "not a marshalled TPM2B_PUBLIC");
  }
  const EVP_MD* md = tpm::HashAlgMd(pub.publicArea.nameAlg);
  if (!md) return MakeError(errc::bad_public_key, "unsupported nameAlg");
  // The TPM2B_PUBLIC body is the marshalled TPMT_PUBLIC.
  const uint8_t* body = public_bytes.data() + 2;
  Bytes name;
  PutU16(name, pub.publicArea.nameAlg);
  size_t start = name.size();
  name.resize(start + static_cast<size_t>(EVP_MD_get_size(md)));
  unsigned int len = 0;
  if (!EVP_Digest(body, public_bytes.size() - 2, name.data() + start, &len, md, nullptr)) {
    return CryptoError("name digest");
  }
  return name;
}

Result<MadeCredential> MakeCredential(const Bytes& ek_public, const Bytes& secret,
                                      const Bytes& ak_name) {
  TPM2B_PUBLIC pub{};
  size_t off = 0;
  if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(ek_public.data(), ek_public.size(), &off, &pub) !=
          TSS2_RC_SUCCESS ||
      off != ek_public.size()) {
    return MakeError(errc::bad_public_key, "EK public is not a marshalled TPM2B_PUBLIC");
  }
  const TPMT_PUBLIC& ek = pub.publicArea;
  const uint16_t name_alg = ek.nameAlg;
  const EVP_MD* md = tpm::HashAlgMd(name_alg);
  if (!md) return MakeError(errc::bad_public_key, "EK nameAlg not supported");
  const size_t digest = static_cast<size_t>(EVP_MD_get_size(md));
  const TPMA_OBJECT need = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
  if ((ek.objectAttributes & need) != need) {
    return MakeError(errc::bad_public_key, "EK is not a restricted decryption key");
  }
  if (ek.type != TPM2_ALG_RSA && ek.type != TPM2_ALG_ECC) {
    return MakeError(errc::bad_public_key, "EK type is neither RSA nor ECC");
  }
  // rsaDetail and eccDetail both start with the symmetric definition.
  const TPMT_SYM_DEF_OBJECT& sym = ek.type == TPM2_ALG_RSA ? ek.parameters.rsaDetail.symmetric
                                                           : ek.parameters.eccDetail.symmetric;
  const EVP_CIPHER* cipher = CfbCipher(sym);
  if (!cipher) return MakeError(errc::bad_public_key, "EK symmetric is not AES-128/256-CFB");
  if (secret.empty() || secret.size() > digest) {
    return MakeError(errc::invalid_argument,
                     "secret must be 1.." + std::to_string(digest) + " bytes");
  }
  if (ak_name.size() < 2 + 20 || ak_name.size() > 2 + 64) {
    return MakeError(errc::invalid_argument, "AK name has an impossible size");
  }

  Bytes seed(digest);
  Bytes encrypted_seed;
  if (ek.type == TPM2_ALG_RSA) {
    if (RAND_bytes(seed.data(), static_cast<int>(seed.size())) != 1) {
      return CryptoError("RAND_bytes");
    }
    auto enc = RsaSeed(ek, md, seed);
    if (!enc) return enc.error();
    encrypted_seed = std::move(enc).value();
  } else {
    auto ecdh = EcdhSeed(ek, name_alg, digest);
    if (!ecdh) return ecdh.error();
    seed = std::move(ecdh->seed);
    encrypted_seed = std::move(ecdh->point);
  }

  auto sym_key = KdfA(name_alg, seed, "STORAGE", ak_name, {}, sym.keyBits.aes);
  if (!sym_key) return sym_key.error();
  auto hmac_key = KdfA(name_alg, seed, "INTEGRITY", {}, {}, static_cast<uint32_t>(digest * 8));
  if (!hmac_key) return hmac_key.error();

  Bytes enc_identity;
  ATTEST_ASSIGN_OR_RETURN(enc_identity, EncryptCfb(cipher, *sym_key, Tpm2b(secret)));
  Bytes mac_input = enc_identity;
  Append(mac_input, ak_name);
  auto outer_hmac = Hmac(md, *hmac_key, mac_input);
  if (!outer_hmac) return outer_hmac.error();

  Bytes id_object = Tpm2b(*outer_hmac);
  Append(id_object, enc_identity);
  return MadeCredential{Tpm2b(id_object), Tpm2b(encrypted_seed)};
}

Bytes ToolsFile(const MadeCredential& c) {
  Bytes out;
  PutU32(out, 0xBADCC0DE);
  PutU32(out, 1);
  Append(out, c.credential_blob);
  Append(out, c.encrypted_secret);
  return out;
}

Result<MadeCredential> ParseToolsFile(const Bytes& file) {
  auto u16 = [&](size_t at) { return static_cast<size_t>((file[at] << 8) | file[at + 1]); };
  if (file.size() < 12 || file[0] != 0xBA || file[1] != 0xDC || file[2] != 0xC0 ||
      file[3] != 0xDE || file[4] != 0 || file[5] != 0 || file[6] != 0 || file[7] != 1) {
    return MakeError(errc::parse_error, "credential file: bad magic or version");
  }
  size_t at = 8;
  size_t blob_len = u16(at);
  if (at + 2 + blob_len + 2 > file.size()) {
    return MakeError(errc::parse_error, "credential file: truncated credential blob");
  }
  MadeCredential c;
  c.credential_blob.assign(file.begin() + static_cast<long>(at),
                           file.begin() + static_cast<long>(at + 2 + blob_len));
  at += 2 + blob_len;
  size_t secret_len = u16(at);
  if (at + 2 + secret_len != file.size()) {
    return MakeError(errc::parse_error, "credential file: bad secret length");
  }
  c.encrypted_secret.assign(file.begin() + static_cast<long>(at), file.end());
  return c;
}

}  // namespace attest::credential
