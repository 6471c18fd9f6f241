// A software stand-in for a TPM's quote signing, for unit tests and the
// benchmark: generates an RSA or ECC key with its TPMT_PUBLIC, builds a
// TPMS_ATTEST as TPM2_Quote does and signs it the way a TPM does (RSASSA,
// RSAPSS with salt = digest length, ECDSA as r||s). Header-only; aborts via
// std::runtime_error on OpenSSL failure (test code only).
#pragma once

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "common/tpm/marshal.h"
#include "common/tpm/pcr.h"
#include "common/tpm/tpm_crypto.h"

namespace attest::testing {

struct SoftAk {
  tpm::EvpPkeyPtr key;  // private key
  TPMT_PUBLIC pub{};
};

inline void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("soft quote: ") + what);
}

inline void CopyBn(const EVP_PKEY* key, const char* param, uint8_t* out, uint16_t* size, int len) {
  BIGNUM* bn = nullptr;
  Check(EVP_PKEY_get_bn_param(key, param, &bn) == 1, param);
  Check(BN_bn2binpad(bn, out, len) == len, "bn2binpad");
  *size = static_cast<uint16_t>(len);
  BN_free(bn);
}

inline TPMT_PUBLIC AkTemplate(TPMI_ALG_PUBLIC type) {
  TPMT_PUBLIC pub{};
  pub.type = type;
  pub.nameAlg = TPM2_ALG_SHA256;
  pub.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                         TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                         TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
  return pub;
}

inline SoftAk MakeRsaAk(int bits = 2048) {
  SoftAk ak;
  ak.key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
  Check(ak.key != nullptr, "RSA keygen");
  ak.pub = AkTemplate(TPM2_ALG_RSA);
  ak.pub.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
  ak.pub.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
  ak.pub.parameters.rsaDetail.keyBits = static_cast<uint16_t>(bits);
  ak.pub.parameters.rsaDetail.exponent = 0;
  CopyBn(ak.key.get(), OSSL_PKEY_PARAM_RSA_N, ak.pub.unique.rsa.buffer, &ak.pub.unique.rsa.size,
         bits / 8);
  return ak;
}

inline SoftAk MakeEccAk(TPMI_ECC_CURVE curve = TPM2_ECC_NIST_P256) {
  SoftAk ak;
  const bool p256 = curve == TPM2_ECC_NIST_P256;
  ak.key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", p256 ? "P-256" : "P-384"));
  Check(ak.key != nullptr, "EC keygen");
  ak.pub = AkTemplate(TPM2_ALG_ECC);
  ak.pub.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
  ak.pub.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
  ak.pub.parameters.eccDetail.curveID = curve;
  ak.pub.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  int len = p256 ? 32 : 48;
  CopyBn(ak.key.get(), OSSL_PKEY_PARAM_EC_PUB_X, ak.pub.unique.ecc.x.buffer,
         &ak.pub.unique.ecc.x.size, len);
  CopyBn(ak.key.get(), OSSL_PKEY_PARAM_EC_PUB_Y, ak.pub.unique.ecc.y.buffer,
         &ak.pub.unique.ecc.y.size, len);
  return ak;
}

struct SoftClock {
  uint64_t clock = 1000;
  uint32_t reset_count = 0;
  uint32_t restart_count = 0;
  bool safe = true;
};

// TPMS_ATTEST of a quote over `selection` whose digest is H_hash of the
// values (selection order). Missing values throw.
inline tpm::Bytes MakeQuote(const tpm::Bytes& nonce, const TPML_PCR_SELECTION& selection,
                            const tpm::PcrValues& values, TPMI_ALG_HASH hash,
                            const SoftClock& clock = {}) {
  TPMS_ATTEST a{};
  a.magic = TPM2_GENERATED_VALUE;
  a.type = TPM2_ST_ATTEST_QUOTE;
  a.qualifiedSigner.size = 34;
  a.qualifiedSigner.name[1] = 0x0b;
  Check(nonce.size() <= sizeof a.extraData.buffer, "nonce size");
  a.extraData.size = static_cast<uint16_t>(nonce.size());
  std::copy(nonce.begin(), nonce.end(), a.extraData.buffer);
  a.clockInfo = {clock.clock, clock.reset_count, clock.restart_count,
                 static_cast<TPMI_YES_NO>(clock.safe ? TPM2_YES : TPM2_NO)};
  a.firmwareVersion = 0x2016051100162800ull;
  a.attested.quote.pcrSelect = selection;
  tpm::Bytes concat;
  for (const auto& bank : tpm::SelectionToList(selection)) {
    for (uint32_t pcr : bank.pcrs) {
      const auto& v = values.at(bank.hash).at(pcr);
      concat.insert(concat.end(), v.begin(), v.end());
    }
  }
  auto digest = tpm::Hash(hash, concat);
  Check(digest.ok(), "pcr digest");
  a.attested.quote.pcrDigest.size = static_cast<uint16_t>(digest->size());
  std::copy(digest->begin(), digest->end(), a.attested.quote.pcrDigest.buffer);
  auto bytes = tpm::MarshalAttest(a);
  Check(bytes.ok(), "marshal attest");
  return *bytes;
}

// TPMT_SIGNATURE over `message` as a TPM makes it with `scheme`.
inline tpm::Bytes SignLikeTpm(const SoftAk& ak, TPMI_ALG_SIG_SCHEME scheme, TPMI_ALG_HASH hash,
                              const tpm::Bytes& message) {
  const EVP_MD* md = tpm::HashAlgMd(hash);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_PKEY_CTX* pctx = nullptr;
  Check(EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, ak.key.get()) == 1, "sign init");
  if (scheme == TPM2_ALG_RSAPSS) {
    Check(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1, "pss");
    Check(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1, "salt");
  }
  size_t len = 0;
  Check(EVP_DigestSign(ctx.get(), nullptr, &len, message.data(), message.size()) == 1, "size");
  tpm::Bytes raw(len);
  Check(EVP_DigestSign(ctx.get(), raw.data(), &len, message.data(), message.size()) == 1, "sign");
  raw.resize(len);
  TPMT_SIGNATURE sig{};
  sig.sigAlg = scheme;
  if (scheme == TPM2_ALG_ECDSA) {
    const uint8_t* p = raw.data();
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(raw.size()));
    Check(es != nullptr, "ecdsa der");
    int field = ak.pub.parameters.eccDetail.curveID == TPM2_ECC_NIST_P256 ? 32 : 48;
    sig.signature.ecdsa.hash = hash;
    BN_bn2binpad(ECDSA_SIG_get0_r(es), sig.signature.ecdsa.signatureR.buffer, field);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), sig.signature.ecdsa.signatureS.buffer, field);
    sig.signature.ecdsa.signatureR.size = sig.signature.ecdsa.signatureS.size =
        static_cast<uint16_t>(field);
    ECDSA_SIG_free(es);
  } else {
    sig.signature.rsassa.hash = hash;
    sig.signature.rsassa.sig.size = static_cast<uint16_t>(raw.size());
    std::copy(raw.begin(), raw.end(), sig.signature.rsassa.sig.buffer);
  }
  auto bytes = tpm::MarshalSignature(sig);
  Check(bytes.ok(), "marshal signature");
  return *bytes;
}

// sha256 (and optionally other banks) PCRs 0..n-1 with distinct values.
inline TPML_PCR_SELECTION Selection(TPMI_ALG_HASH bank, std::initializer_list<uint32_t> pcrs) {
  TPML_PCR_SELECTION sel{};
  sel.count = 1;
  sel.pcrSelections[0].hash = bank;
  sel.pcrSelections[0].sizeofSelect = 3;
  for (uint32_t p : pcrs)
    sel.pcrSelections[0].pcrSelect[p / 8] |= static_cast<uint8_t>(1 << (p % 8));
  return sel;
}

inline tpm::PcrValues ValuesFor(const TPML_PCR_SELECTION& sel) {
  tpm::PcrValues values;
  for (const auto& bank : tpm::SelectionToList(sel)) {
    for (uint32_t pcr : bank.pcrs) {
      values[bank.hash][pcr] =
          tpm::Bytes(tpm::HashAlgDigestSize(bank.hash), static_cast<uint8_t>(pcr * 7 + 1));
    }
  }
  return values;
}

}  // namespace attest::testing
