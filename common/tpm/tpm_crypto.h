// TPM public keys as OpenSSL 3 keys, and the attribute checks an attestation
// key must pass.
//
// Thread-safety: pure functions; an EVP_PKEY may be shared read-only between
// threads for verification (OpenSSL 3 guarantees this for const use).
#pragma once

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include <memory>
#include <optional>

#include "common/base/result.h"
#include "common/crypto/ossl.h"
#include "common/tpm/marshal.h"

namespace attest::tpm {

using EvpPkeyPtr = crypto::PkeyPtr;

// A TPM ECC curve as OpenSSL knows it: NIST P-256 and P-384 only
// (nullopt for any other curve id).
struct EccCurve {
  const char* group;   // OpenSSL group name ("prime256v1", "secp384r1")
  size_t field_bytes;  // size of one coordinate (32, 48)
};
std::optional<EccCurve> EccCurveInfo(TPMI_ECC_CURVE curve);

// RSA (1024..16384 bits; exponent 0 means 65537) or ECC on NIST P-256/P-384.
// ECC points that are not on the curve are refused.
Result<EvpPkeyPtr> PublicToEvpPkey(const TPMT_PUBLIC& pub);

// A SubjectPublicKeyInfo in PEM ("-----BEGIN PUBLIC KEY-----").
Result<EvpPkeyPtr> LoadPemPublicKey(ByteView pem);

// An attestation key as found in a file or a registration: PEM
// SubjectPublicKeyInfo or a TPM2B_PUBLIC, detected by content. `tpm_public`
// is set only for TPM2B_PUBLIC input (the Name and attributes need it).
struct LoadedKey {
  EvpPkeyPtr pkey;
  std::optional<TPMT_PUBLIC> tpm_public;
};
Result<LoadedKey> LoadAkPublic(ByteView bytes);

// True when both keys are the same public key (type and parameters).
bool SamePublicKey(const EVP_PKEY* a, const EVP_PKEY* b);

// An attestation key must be a restricted signing key (sign, restricted, no
// decrypt) that cannot leave its TPM (fixedTPM, fixedParent) and was
// generated inside it (sensitiveDataOrigin). Errors name the missing bits.
Result<void> CheckAttestationKeyAttributes(const TPMT_PUBLIC& pub);

}  // namespace attest::tpm
