// Verification of a TPM signature (TPMT_SIGNATURE) over a message with an
// attestation key: RSASSA (PKCS#1 v1.5), RSAPSS (any salt length; a TPM uses
// the digest length or the maximum) and ECDSA, with SHA-1/256/384/512.
//
// Two ways, same verdicts:
//  - VerifyTpmSignature(key, ...): sets up an OpenSSL verify context per call
//    (algorithm fetch, provider context, parameters). For one-off checks.
//  - AkVerifier: built once per cached AK. The first use of each
//    (scheme, hash) prepares a template EVP_PKEY_CTX (verify_init, padding,
//    salt, digest all set) and pre-fetches the EVP_MD; each call then only
//    hashes the message, duplicates the template (EVP_PKEY_CTX_dup: no fetch,
//    no parameter parsing) and runs EVP_PKEY_verify on the digest. With
//    OpenSSL 3.0 the per-call set-up is ~10% of an RSA-2048 verification.
//
// Thread-safety: VerifyTpmSignature is reentrant. An AkVerifier may be used
// from any number of threads at once (Verify is const): a template is built
// once under std::call_once and only read afterwards; every call verifies
// with its own duplicate, since an EVP_PKEY_CTX is not safe for concurrent
// EVP_PKEY_verify. EVP_PKEY_CTX_dup only reads the template (it takes
// references, which OpenSSL counts atomically).
//
// PURE: no I/O, no clock.
#pragma once

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include <array>
#include <memory>
#include <mutex>
#include <string>

#include "common/tpm/marshal.h"
#include "common/tpm/tpm_crypto.h"

namespace attest::checks {

// The hash of a signature's scheme; TPM2_ALG_NULL for schemes not verified here.
TPMI_ALG_HASH SignatureHashAlg(const TPMT_SIGNATURE& signature);
// "rsassa", "rsapss", "ecdsa", or "alg N".
std::string SignatureSchemeName(TPMI_ALG_SIG_SCHEME scheme);

// Returns false (never throws for bad input) on any mismatch; `why` gets a
// short reason.
bool VerifyTpmSignature(const EVP_PKEY* key, const TPMT_SIGNATURE& signature, tpm::ByteView message,
                        std::string* why);

class AkVerifier {
 public:
  // Takes its own reference to `key` (the caller keeps and frees its own).
  // A null key gives a verifier that refuses every signature.
  explicit AkVerifier(const EVP_PKEY* key);
  ~AkVerifier();
  AkVerifier(const AkVerifier&) = delete;
  AkVerifier& operator=(const AkVerifier&) = delete;

  const EVP_PKEY* key() const { return key_.get(); }

  // Same contract and verdicts as VerifyTpmSignature(key(), ...).
  bool Verify(const TPMT_SIGNATURE& signature, tpm::ByteView message, std::string* why) const;

 private:
  struct Prepared;  // template context + fetched digest of one (scheme, hash)
  struct Slot {
    std::once_flag once;
    std::unique_ptr<Prepared> prepared;  // null when preparing failed
    std::string error;                   // why, when it failed
  };
  static constexpr size_t kSchemes = 3;  // RSASSA, RSAPSS, ECDSA
  static constexpr size_t kHashes = 4;   // SHA-1, SHA-256, SHA-384, SHA-512

  tpm::EvpPkeyPtr key_;
  // Filled lazily (most AKs only ever see one scheme/hash); guarded per slot
  // by its once_flag, read-only once filled.
  mutable std::array<Slot, kSchemes * kHashes> slots_;
};

}  // namespace attest::checks
