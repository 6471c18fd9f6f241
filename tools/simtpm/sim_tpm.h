// A software TPM for tests and the load generator (attest-bench): RSA or ECC
// attestation keys held by OpenSSL and described as the TPMT_PUBLIC a TPM
// reports, sha256 PCRs that can be extended, TPM clock and reset/restart
// counters, and quotes built as TPM2_Quote builds them (TPMS_ATTEST marshalled
// with libtss2-mu, PCR digest over the selection, extraData = the nonce) and
// signed as a TPM signs them (RSASSA, RSAPSS with salt = digest length, ECDSA
// as r||s in a TPMT_SIGNATURE).
//
// The core is header-only (inline) so test targets that only link the TPM
// structure library keep building; errors are tpm::errc::crypto_error /
// unsupported with a message naming the step.
//
// Thread-safety: SoftAk and the free functions are safe to use concurrently
// on distinct objects (an EVP_PKEY may be used by several threads for
// signing); a SimTpm is not thread-safe.
#pragma once

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>

#include "common/base/result.h"
#include "common/tpm/errors.h"
#include "common/tpm/marshal.h"
#include "common/tpm/pcr.h"
#include "common/tpm/tpm_crypto.h"

namespace attest::simtpm {

using tpm::Bytes;

struct SoftAk {
  tpm::EvpPkeyPtr key;  // private key
  TPMT_PUBLIC pub{};
  bool ecc() const { return pub.type == TPM2_ALG_ECC; }
  // The scheme a TPM signs quotes with for this key type by default.
  TPMI_ALG_SIG_SCHEME scheme() const { return ecc() ? TPM2_ALG_ECDSA : TPM2_ALG_RSASSA; }
};

namespace detail {

inline Error Fail(const std::string& what) {
  return MakeError(tpm::errc::crypto_error, "simtpm: " + what);
}

inline Result<void> CopyBn(const EVP_PKEY* key, const char* param, uint8_t* out, uint16_t* size,
                           int len) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, param, &bn) != 1) return Fail(std::string("read ") + param);
  int n = BN_bn2binpad(bn, out, len);
  BN_free(bn);
  if (n != len) return Fail(std::string("size of ") + param);
  *size = static_cast<uint16_t>(len);
  return Ok();
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

}  // namespace detail

// The restricted-signing TPMT_PUBLIC describing `key` (RSA of any size with
// exponent 65537, or EC P-256/P-384).
inline Result<TPMT_PUBLIC> PublicFor(const EVP_PKEY* key) {
  if (EVP_PKEY_base_id(key) == EVP_PKEY_RSA) {
    int bits = EVP_PKEY_get_bits(key);
    if (bits != 2048 && bits != 3072 && bits != 4096) return detail::Fail("RSA key size");
    TPMT_PUBLIC pub = detail::AkTemplate(TPM2_ALG_RSA);
    pub.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
    pub.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
    pub.parameters.rsaDetail.keyBits = static_cast<uint16_t>(bits);
    pub.parameters.rsaDetail.exponent = 0;
    ATTEST_RETURN_IF_ERROR(detail::CopyBn(key, OSSL_PKEY_PARAM_RSA_N, pub.unique.rsa.buffer,
                                          &pub.unique.rsa.size, bits / 8));
    return pub;
  }
  if (EVP_PKEY_base_id(key) == EVP_PKEY_EC) {
    char group[32] = {};
    size_t glen = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &glen) != 1) {
      return detail::Fail("EC group");
    }
    std::string g(group, glen);
    const bool p256 = g == "prime256v1" || g == "P-256";
    if (!p256 && g != "secp384r1" && g != "P-384") return detail::Fail("EC curve " + g);
    TPMT_PUBLIC pub = detail::AkTemplate(TPM2_ALG_ECC);
    pub.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
    pub.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
    pub.parameters.eccDetail.curveID = p256 ? TPM2_ECC_NIST_P256 : TPM2_ECC_NIST_P384;
    pub.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    const int len = p256 ? 32 : 48;
    ATTEST_RETURN_IF_ERROR(detail::CopyBn(key, OSSL_PKEY_PARAM_EC_PUB_X, pub.unique.ecc.x.buffer,
                                          &pub.unique.ecc.x.size, len));
    ATTEST_RETURN_IF_ERROR(detail::CopyBn(key, OSSL_PKEY_PARAM_EC_PUB_Y, pub.unique.ecc.y.buffer,
                                          &pub.unique.ecc.y.size, len));
    return pub;
  }
  return MakeError(tpm::errc::unsupported, "simtpm: AK key is neither RSA nor EC");
}

inline Result<SoftAk> FromKey(tpm::EvpPkeyPtr key) {
  SoftAk ak;
  ATTEST_ASSIGN_OR_RETURN(ak.pub, PublicFor(key.get()));
  ak.key = std::move(key);
  return ak;
}

inline Result<SoftAk> MakeRsaAk(int bits = 2048) {
  tpm::EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
  if (!key) return detail::Fail("RSA keygen");
  return FromKey(std::move(key));
}

inline Result<SoftAk> MakeEccAk(TPMI_ECC_CURVE curve = TPM2_ECC_NIST_P256) {
  tpm::EvpPkeyPtr key(
      EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve == TPM2_ECC_NIST_P256 ? "P-256" : "P-384"));
  if (!key) return detail::Fail("EC keygen");
  return FromKey(std::move(key));
}

// The private key as DER (RSAPrivateKey / ECPrivateKey with its public
// point), and back: the state file of attest-bench keeps keys this way.
inline Result<Bytes> PrivateDer(const EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int len = i2d_PrivateKey(key, &der);
  if (len <= 0) return detail::Fail("i2d_PrivateKey");
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

inline Result<tpm::EvpPkeyPtr> KeyFromDer(tpm::ByteView der) {
  if (der.empty() || der.size() > 8192) return detail::Fail("private key DER size");
  const unsigned char* p = der.data();
  tpm::EvpPkeyPtr key(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der.size())));
  if (!key) return detail::Fail("d2i_AutoPrivateKey");
  return key;
}

struct Clock {
  uint64_t clock = 1000;  // ms
  uint32_t reset_count = 0;
  uint32_t restart_count = 0;
  bool safe = true;
};

// TPMS_ATTEST of a quote over `selection` whose digest is H_hash of the
// values (selection order). not found when a selected value is missing.
inline Result<Bytes> MakeQuote(tpm::ByteView nonce, const TPML_PCR_SELECTION& selection,
                               const tpm::PcrValues& values, TPMI_ALG_HASH hash,
                               const Clock& clock = {}) {
  TPMS_ATTEST a{};
  a.magic = TPM2_GENERATED_VALUE;
  a.type = TPM2_ST_ATTEST_QUOTE;
  a.qualifiedSigner.size = 34;
  a.qualifiedSigner.name[1] = 0x0b;
  if (nonce.size() > sizeof a.extraData.buffer) return detail::Fail("nonce longer than 64 bytes");
  a.extraData.size = static_cast<uint16_t>(nonce.size());
  std::copy(nonce.begin(), nonce.end(), a.extraData.buffer);
  a.clockInfo = {clock.clock, clock.reset_count, clock.restart_count,
                 static_cast<TPMI_YES_NO>(clock.safe ? TPM2_YES : TPM2_NO)};
  a.firmwareVersion = 0x2016051100162800ull;
  a.attested.quote.pcrSelect = selection;
  Bytes concat;
  for (const auto& bank : tpm::SelectionToList(selection)) {
    auto b = values.find(bank.hash);
    for (uint32_t pcr : bank.pcrs) {
      if (b == values.end() || !b->second.contains(pcr)) {
        return detail::Fail("no value for selected PCR " + std::to_string(pcr));
      }
      const auto& v = b->second.at(pcr);
      concat.insert(concat.end(), v.begin(), v.end());
    }
  }
  Bytes digest;
  ATTEST_ASSIGN_OR_RETURN(digest, tpm::Hash(hash, concat));
  a.attested.quote.pcrDigest.size = static_cast<uint16_t>(digest.size());
  std::copy(digest.begin(), digest.end(), a.attested.quote.pcrDigest.buffer);
  return tpm::MarshalAttest(a);
}

// TPMT_SIGNATURE over `message` as a TPM makes it with `scheme`. `key` is the
// private key, `ecc_field` the coordinate size for ECDSA (32 for P-256).
inline Result<Bytes> SignLikeTpm(EVP_PKEY* key, TPMI_ALG_SIG_SCHEME scheme, TPMI_ALG_HASH hash,
                                 tpm::ByteView message, int ecc_field = 32) {
  const EVP_MD* md = tpm::HashAlgMd(hash);
  if (md == nullptr) return MakeError(tpm::errc::unsupported, "simtpm: quote hash algorithm");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, key) != 1) {
    return detail::Fail("sign init");
  }
  if (scheme == TPM2_ALG_RSAPSS &&
      (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
    return detail::Fail("PSS parameters");
  }
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, message.data(), message.size()) != 1) {
    return detail::Fail("signature size");
  }
  Bytes raw(len);
  if (EVP_DigestSign(ctx.get(), raw.data(), &len, message.data(), message.size()) != 1) {
    return detail::Fail("sign");
  }
  raw.resize(len);
  TPMT_SIGNATURE sig{};
  sig.sigAlg = scheme;
  if (scheme == TPM2_ALG_ECDSA) {
    const uint8_t* p = raw.data();
    std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> es(
        d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(raw.size())), ECDSA_SIG_free);
    if (!es || ecc_field > static_cast<int>(sizeof sig.signature.ecdsa.signatureR.buffer)) {
      return detail::Fail("ECDSA signature DER");
    }
    sig.signature.ecdsa.hash = hash;
    if (BN_bn2binpad(ECDSA_SIG_get0_r(es.get()), sig.signature.ecdsa.signatureR.buffer,
                     ecc_field) != ecc_field ||
        BN_bn2binpad(ECDSA_SIG_get0_s(es.get()), sig.signature.ecdsa.signatureS.buffer,
                     ecc_field) != ecc_field) {
      return detail::Fail("ECDSA r/s size");
    }
    sig.signature.ecdsa.signatureR.size = sig.signature.ecdsa.signatureS.size =
        static_cast<uint16_t>(ecc_field);
  } else {
    if (raw.size() > sizeof sig.signature.rsassa.sig.buffer) return detail::Fail("RSA size");
    sig.signature.rsassa.hash = hash;
    sig.signature.rsassa.sig.size = static_cast<uint16_t>(raw.size());
    std::copy(raw.begin(), raw.end(), sig.signature.rsassa.sig.buffer);
  }
  return tpm::MarshalSignature(sig);
}

inline Result<Bytes> SignLikeTpm(const SoftAk& ak, TPMI_ALG_SIG_SCHEME scheme, TPMI_ALG_HASH hash,
                                 tpm::ByteView message) {
  const int field = ak.ecc() && ak.pub.parameters.eccDetail.curveID != TPM2_ECC_NIST_P256 ? 48 : 32;
  return SignLikeTpm(ak.key.get(), scheme, hash, message, field);
}

// One bank with the given PCRs selected.
inline TPML_PCR_SELECTION Selection(TPMI_ALG_HASH bank, std::initializer_list<uint32_t> pcrs) {
  TPML_PCR_SELECTION sel{};
  sel.count = 1;
  sel.pcrSelections[0].hash = bank;
  sel.pcrSelections[0].sizeofSelect = 3;
  for (uint32_t p : pcrs) {
    if (p < 24) sel.pcrSelections[0].pcrSelect[p / 8] |= static_cast<uint8_t>(1 << (p % 8));
  }
  return sel;
}

struct Quote {
  Bytes attest;     // TPMS_ATTEST
  Bytes signature;  // TPMT_SIGNATURE
  tpm::PcrValues pcrs;
};

// 24 sha256 PCRs, the clock and a signing AK.
class SimTpm {
 public:
  explicit SimTpm(SoftAk ak) : ak_(std::move(ak)) { Reset(); }

  const SoftAk& ak() const { return ak_; }
  const TPMT_PUBLIC& public_area() const { return ak_.pub; }
  Clock& clock() { return clock_; }
  const Clock& clock() const { return clock_; }

  void Set(uint32_t pcr, Bytes value) { pcrs_[pcr % 24] = std::move(value); }
  const Bytes& Get(uint32_t pcr) const { return pcrs_[pcr % 24]; }
  void Extend(uint32_t pcr, tpm::ByteView digest) {
    Bytes concat = pcrs_[pcr % 24];
    concat.insert(concat.end(), digest.begin(), digest.end());
    auto h = tpm::Hash(TPM2_ALG_SHA256, concat);
    if (h) pcrs_[pcr % 24] = std::move(*h);
  }
  // A TPM reset: PCRs zero, resetCount + 1 (the clock keeps running).
  void Reboot() {
    Reset();
    ++clock_.reset_count;
  }

  // Quotes the sha256 PCRs of `selection` (other banks are refused) with
  // `nonce`, signed with the AK's default scheme; the clock advances first.
  Result<Quote> QuoteSelection(tpm::ByteView nonce, const TPML_PCR_SELECTION& selection,
                               TPMI_ALG_HASH hash = TPM2_ALG_SHA256, uint64_t advance_ms = 1000) {
    clock_.clock += advance_ms;
    Quote q;
    for (const auto& bank : tpm::SelectionToList(selection)) {
      if (bank.hash != TPM2_ALG_SHA256) {
        return MakeError(tpm::errc::unsupported, "simtpm: only the sha256 bank is simulated");
      }
      for (uint32_t i : bank.pcrs) q.pcrs[TPM2_ALG_SHA256][i] = pcrs_[i % 24];
    }
    ATTEST_ASSIGN_OR_RETURN(q.attest, MakeQuote(nonce, selection, q.pcrs, hash, clock_));
    ATTEST_ASSIGN_OR_RETURN(q.signature, SignLikeTpm(ak_, ak_.scheme(), hash, q.attest));
    return q;
  }
  Result<Quote> QuotePcrs(tpm::ByteView nonce, std::initializer_list<uint32_t> indexes) {
    return QuoteSelection(nonce, Selection(TPM2_ALG_SHA256, indexes));
  }

 private:
  void Reset() {
    for (auto& p : pcrs_) p = Bytes(32, 0);
  }

  SoftAk ak_;
  Clock clock_;
  Bytes pcrs_[24];
};

// TPM2B_PUBLIC (2-byte size + TPMT_PUBLIC) as registration messages carry it.
inline Result<Bytes> Tpm2bPublic(const TPMT_PUBLIC& pub) {
  Bytes area;
  ATTEST_ASSIGN_OR_RETURN(area, tpm::MarshalPublicArea(pub));
  Bytes out{static_cast<uint8_t>(area.size() >> 8), static_cast<uint8_t>(area.size() & 0xff)};
  out.insert(out.end(), area.begin(), area.end());
  return out;
}

}  // namespace attest::simtpm
