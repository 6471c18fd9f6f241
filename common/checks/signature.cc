#include "common/checks/signature.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include <utility>

#include "common/crypto/ossl.h"

namespace attest::checks {

namespace {

using crypto::PkeyCtxPtr;
using tpm::Bytes;
using tpm::ByteView;

// Records the reason and leaves no stale errors on this thread's OpenSSL queue.
bool Fail(std::string* why, std::string reason) {
  if (why) *why = std::move(reason);
  ERR_clear_error();
  return false;
}

// r and s as the DER ECDSA-Sig-Value OpenSSL verifies.
bool EcdsaToDer(const TPMS_SIGNATURE_ECC& ecc, Bytes* der) {
  crypto::EcdsaSigPtr sig(ECDSA_SIG_new());
  if (!sig || ecc.signatureR.size == 0 || ecc.signatureS.size == 0) return false;
  BIGNUM* r = BN_bin2bn(ecc.signatureR.buffer, ecc.signatureR.size, nullptr);
  BIGNUM* s = BN_bin2bn(ecc.signatureS.buffer, ecc.signatureS.size, nullptr);
  if (r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return false;
  }
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return false;
  der->resize(static_cast<size_t>(len));
  uint8_t* p = der->data();
  return i2d_ECDSA_SIG(sig.get(), &p) == len;
}

// Checks that the signature's scheme fits the key and gives the signature
// bytes as EVP_PKEY_verify takes them (`der` holds them for ECDSA).
bool SignatureBytes(const EVP_PKEY* key, const TPMT_SIGNATURE& sig, Bytes* der, ByteView* out,
                    std::string* why) {
  const int key_type = EVP_PKEY_get_base_id(key);
  switch (sig.sigAlg) {
    case TPM2_ALG_RSASSA:
    case TPM2_ALG_RSAPSS: {
      if (key_type != EVP_PKEY_RSA) {
        return Fail(why, SignatureSchemeName(sig.sigAlg) + " signature, non-RSA key");
      }
      const TPM2B_PUBLIC_KEY_RSA& s = sig.signature.rsassa.sig;  // same layout for rsapss
      if (static_cast<int>(s.size) != EVP_PKEY_get_size(key)) {
        return Fail(why, "RSA signature of " + std::to_string(s.size) + " bytes for a " +
                             std::to_string(EVP_PKEY_get_size(key)) + "-byte key");
      }
      *out = ByteView(s.buffer, s.size);
      return true;
    }
    case TPM2_ALG_ECDSA:
      if (key_type != EVP_PKEY_EC) return Fail(why, "ecdsa signature, non-EC key");
      if (!EcdsaToDer(sig.signature.ecdsa, der)) return Fail(why, "ECDSA r/s not encodable");
      *out = *der;
      return true;
    default:
      return Fail(why, "signature scheme " + SignatureSchemeName(sig.sigAlg) + " not supported");
  }
}

// A context ready for EVP_PKEY_verify of an `md` digest under `scheme`.
PkeyCtxPtr NewVerifyCtx(const EVP_PKEY* key, TPMI_ALG_SIG_SCHEME scheme, const EVP_MD* md,
                        std::string* why) {
  // OpenSSL takes a reference to the key (atomic count); it never changes it.
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, const_cast<EVP_PKEY*>(key), nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1) {
    Fail(why, "EVP_PKEY_verify_init failed");
    return nullptr;
  }
  if (scheme == TPM2_ALG_RSASSA || scheme == TPM2_ALG_RSAPSS) {
    const int padding = scheme == TPM2_ALG_RSASSA ? RSA_PKCS1_PADDING : RSA_PKCS1_PSS_PADDING;
    if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), padding) != 1) {
      Fail(why, "RSA padding refused");
      return nullptr;
    }
  }
  if (EVP_PKEY_CTX_set_signature_md(ctx.get(), md) != 1) {
    Fail(why, std::string("digest ") + EVP_MD_get0_name(md) + " refused");
    return nullptr;
  }
  if (scheme == TPM2_ALG_RSAPSS &&
      (EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), RSA_PSS_SALTLEN_AUTO) != 1 ||
       EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md) != 1)) {
    Fail(why, "RSA-PSS parameters refused");
    return nullptr;
  }
  return ctx;
}

// Hashes `message` with `md` and verifies `signature` over the digest.
bool VerifyMessage(EVP_PKEY_CTX* ctx, const EVP_MD* md, ByteView signature, ByteView message,
                   std::string* why) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(message.data(), message.size(), digest, &len, md, nullptr) != 1) {
    return Fail(why, "EVP_Digest failed");
  }
  if (EVP_PKEY_verify(ctx, signature.data(), signature.size(), digest, len) != 1) {
    return Fail(why, "signature does not verify");
  }
  return true;
}

// Slot of a (scheme, hash) pair in AkVerifier::slots_, or -1.
int SlotIndex(TPMI_ALG_SIG_SCHEME scheme, TPMI_ALG_HASH hash) {
  int s = scheme == TPM2_ALG_RSASSA   ? 0
          : scheme == TPM2_ALG_RSAPSS ? 1
          : scheme == TPM2_ALG_ECDSA  ? 2
                                      : -1;
  int h = hash == TPM2_ALG_SHA1     ? 0
          : hash == TPM2_ALG_SHA256 ? 1
          : hash == TPM2_ALG_SHA384 ? 2
          : hash == TPM2_ALG_SHA512 ? 3
                                    : -1;
  return s < 0 || h < 0 ? -1 : s * 4 + h;
}

}  // namespace

struct AkVerifier::Prepared {
  PkeyCtxPtr tmpl;   // verify-initialised with all parameters; only ever duplicated
  crypto::MdPtr md;  // fetched once, so EVP_Digest does not fetch per call
};

TPMI_ALG_HASH SignatureHashAlg(const TPMT_SIGNATURE& sig) {
  switch (sig.sigAlg) {
    case TPM2_ALG_RSASSA:
      return sig.signature.rsassa.hash;
    case TPM2_ALG_RSAPSS:
      return sig.signature.rsapss.hash;
    case TPM2_ALG_ECDSA:
      return sig.signature.ecdsa.hash;
    default:
      return TPM2_ALG_NULL;
  }
}

std::string SignatureSchemeName(TPMI_ALG_SIG_SCHEME alg) {
  switch (alg) {
    case TPM2_ALG_RSASSA:
      return "rsassa";
    case TPM2_ALG_RSAPSS:
      return "rsapss";
    case TPM2_ALG_ECDSA:
      return "ecdsa";
    default:
      return "alg " + std::to_string(alg);
  }
}

bool VerifyTpmSignature(const EVP_PKEY* key, const TPMT_SIGNATURE& sig, ByteView message,
                        std::string* why) {
  if (key == nullptr) return Fail(why, "no key");
  const TPMI_ALG_HASH hash = SignatureHashAlg(sig);
  const EVP_MD* md = tpm::HashAlgMd(hash);
  if (md == nullptr) {
    return Fail(why, SignatureSchemeName(sig.sigAlg) + " with hash " + tpm::HashAlgName(hash));
  }
  Bytes der;
  ByteView signature;
  if (!SignatureBytes(key, sig, &der, &signature, why)) return false;
  PkeyCtxPtr ctx = NewVerifyCtx(key, sig.sigAlg, md, why);
  return ctx && VerifyMessage(ctx.get(), md, signature, message, why);
}

AkVerifier::AkVerifier(const EVP_PKEY* key) {
  if (key != nullptr && EVP_PKEY_up_ref(const_cast<EVP_PKEY*>(key)) == 1) {
    key_.reset(const_cast<EVP_PKEY*>(key));
  }
}

AkVerifier::~AkVerifier() = default;

bool AkVerifier::Verify(const TPMT_SIGNATURE& sig, ByteView message, std::string* why) const {
  const EVP_PKEY* key = key_.get();
  const int index = SlotIndex(sig.sigAlg, SignatureHashAlg(sig));
  // Unknown schemes and hashes: the one-off path has the precise refusal.
  if (key == nullptr || index < 0) return VerifyTpmSignature(key, sig, message, why);
  Bytes der;
  ByteView signature;
  if (!SignatureBytes(key, sig, &der, &signature, why)) return false;

  Slot& slot = slots_[static_cast<size_t>(index)];
  std::call_once(slot.once, [&] {
    const EVP_MD* legacy = tpm::HashAlgMd(SignatureHashAlg(sig));
    auto p = std::make_unique<Prepared>();
    p->md.reset(EVP_MD_fetch(nullptr, EVP_MD_get0_name(legacy), nullptr));
    if (!p->md) {
      Fail(&slot.error, std::string("EVP_MD_fetch ") + EVP_MD_get0_name(legacy) + " failed");
      return;
    }
    p->tmpl = NewVerifyCtx(key, sig.sigAlg, p->md.get(), &slot.error);
    if (p->tmpl) slot.prepared = std::move(p);
  });
  if (!slot.prepared) return Fail(why, slot.error);
  // Each call verifies with its own copy: EVP_PKEY_verify writes to its context.
  PkeyCtxPtr ctx(EVP_PKEY_CTX_dup(slot.prepared->tmpl.get()));
  if (!ctx) return Fail(why, "EVP_PKEY_CTX_dup failed");
  return VerifyMessage(ctx.get(), slot.prepared->md.get(), signature, message, why);
}

}  // namespace attest::checks
