// Endorsement key (EK) and attestation key (AK) handling over ESAPI.
//
// EK: a transient primary key under the endorsement hierarchy from the TCG EK
// Credential Profile default templates (RSA 2048 "L-1", ECC NIST P-256 "L-2"),
// the same ones tpm2_createek uses, so the key is the one the manufacturer
// certified. Its certificate, if provisioned, is read from NV (0x01c00002 for
// RSA, 0x01c0000a for ECC P-256).
//
// AK: a restricted signing key (RSA 2048 RSASSA/RSAPSS-SHA256 or ECC P-256
// ECDSA-SHA256) created under the EK and kept as TPM2B_PUBLIC + TPM2B_PRIVATE
// in a 0600 file, so the AK (and the agent's identity) survives restarts:
// LoadOrCreateAk() loads it when the file exists, else creates and saves it.
//
// Using the EK as parent or decryption key needs a policy session satisfying
// its authPolicy, PolicySecret(TPM_RH_ENDORSEMENT); the endorsement hierarchy
// auth is assumed empty (the default).
//
// Every TPM object here is transient and flushed when its Key goes out of
// scope (swtpm has no resource manager).
//
// Thread-safety: as EsysContext (one thread per context).
#pragma once

#include <tss2/tss2_esys.h>

#include <filesystem>
#include <optional>
#include <vector>

#include "common/base/result.h"
#include "common/esys/context.h"
#include "common/esys/marshal.h"

namespace attest::esys {

enum class KeyType { kRsa2048, kEccP256 };

enum class SigScheme { kRsaSsa, kRsaPss, kEcdsa };

// A transient key loaded in the TPM, flushed on destruction.
struct Key {
  FlushGuard handle;
  TPM2B_PUBLIC public_area{};
  Bytes public_bytes;  // marshalled TPM2B_PUBLIC
  Bytes name;          // TPM2B_NAME contents: nameAlg || H(TPMT_PUBLIC)
};

// The EK Credential Profile template (L-1 or L-2).
TPM2B_PUBLIC EkTemplate(KeyType type);
// NV index of the EK certificate for that template.
TPM2_HANDLE EkCertNvIndex(KeyType type);

// Creates (recreates, deterministically) the EK as a transient primary key.
Result<Key> CreateEk(const EsysContext& ctx, KeyType type);

// Reads the EK certificate (DER, trailing NV padding removed) from NV;
// errc::not_found when the index is not defined.
Result<Bytes> ReadEkCertificate(const EsysContext& ctx, KeyType type);

// The AK template. kRsaSsa/kRsaPss need kRsa2048, kEcdsa needs kEccP256.
Result<TPM2B_PUBLIC> AkTemplate(KeyType type, SigScheme scheme);

// Loads the AK saved in `path`, or creates one under `ek` and saves it there
// (mode 0600, written to a temp file then renamed). A saved AK of another
// type/scheme than asked is an error (errc::mismatch): the AK is the agent's
// identity and is never replaced silently.
Result<Key> LoadOrCreateAk(const EsysContext& ctx, const Key& ek, const std::filesystem::path& path,
                           KeyType type, SigScheme scheme);

// A policy session that satisfies the EK's authPolicy; flushed on scope exit.
Result<FlushGuard> StartEkPolicySession(const EsysContext& ctx);

}  // namespace attest::esys
