// Signed revocation events (attestation.revocations): the worker signs a
// serialized RevocationEvent with the configured key (ECDSA P-256 with
// SHA-256, DER signature, "ecdsa-p256-sha256"; or Ed25519, "ed25519"), and
// anyone with the published public key verifies the SignedRevocation.
//
// Thread-safety: a RevocationSigner is immutable after Load; Sign may be
// called from any thread (it makes its own EVP_MD_CTX per call).
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

#include "attest/v1/verdict.pb.h"
#include "common/base/result.h"

namespace attest::worker {

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

class RevocationSigner {
 public:
  // Reads a PEM private key (PKCS#8 or traditional); only P-256 and Ed25519
  // keys are accepted.
  static Result<std::shared_ptr<const RevocationSigner>> Load(const std::string& pem_path,
                                                              std::string key_id);
  static Result<std::shared_ptr<const RevocationSigner>> FromPem(std::string_view pem,
                                                                 std::string key_id);

  Result<v1::SignedRevocation> Sign(const v1::RevocationEvent& event) const;
  const std::string& algorithm() const { return algorithm_; }
  const std::string& key_id() const { return key_id_; }

 private:
  RevocationSigner(PkeyPtr key, std::string algorithm, std::string key_id)
      : key_(std::move(key)), algorithm_(std::move(algorithm)), key_id_(std::move(key_id)) {}
  PkeyPtr key_;
  std::string algorithm_;
  std::string key_id_;
};

// A PEM public key (SubjectPublicKeyInfo); also accepts a private key PEM.
Result<PkeyPtr> LoadPublicKeyPem(std::string_view pem);

// Checks the signature of `signed_event` with `key` (the algorithm must match
// the key type). errc::crypto with the reason when invalid.
Result<void> VerifyRevocation(const v1::SignedRevocation& signed_event, EVP_PKEY* key);

}  // namespace attest::worker
