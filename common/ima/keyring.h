// Public keys that verify IMA file signatures (ima-sig, signature_v2_hdr),
// indexed by their 32-bit key id as the kernel and Keylime compute it: the
// last 4 bytes of SHA-1 over the PKCS#1 DER (RSA) or the uncompressed point
// (EC), or the last 4 bytes of a certificate's Subject Key Identifier.
//
// Thread-safety: const methods may be called concurrently; Add* need
// exclusive access. Copies share the (immutable) key objects.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace attest::ima {

struct PublicKey {
  std::shared_ptr<EVP_PKEY> pkey;
  uint32_t keyid = 0;
  std::string keyring;  // the keyring the key was loaded onto ("" for tenant keys)
};

// Interprets `data` the way Keylime's get_pubkey does: a DER or PEM
// certificate or public key. nullopt when the data is not a key at all; an
// error when it is a key of an unsupported type (neither RSA nor EC).
Result<std::optional<PublicKey>> KeyFromData(std::span<const uint8_t> data);

enum class SigStatus {
  kValid,      // a key with the signature's key id verified it
  kMalformed,  // not a well-formed signature_v2_hdr (type 3/5, version 2, size)
  kNoKey,      // no key with that key id
  kBadAlgo,    // hash algorithm unsupported or not the file digest's
  kInvalid,    // the key did not verify it
};
std::string_view SigStatusName(SigStatus s);

// Checks only the header shape (what makes a signature "malformed").
bool SignatureWellFormed(std::span<const uint8_t> sig);

class Keyring {
 public:
  // Adds the key in PEM or DER (public key or certificate). `origin` names
  // the source in errors.
  Result<void> AddKeyData(std::span<const uint8_t> data, std::string_view origin);
  // Adds the keys of a Keylime "verification-keys" string:
  // {"pubkeys": [base64 DER SubjectPublicKeyInfo...], "keyids": [int...]}.
  Result<void> AddVerificationKeys(std::string_view json);
  void Add(PublicKey key);

  const PublicKey* Find(uint32_t keyid) const;
  size_t size() const { return keys_.size(); }
  const std::vector<PublicKey>& keys() const { return keys_; }

  // Verifies an ima-sig signature over the file digest `digest` computed
  // with `digest_algo` ("sha256", ...).
  SigStatus Verify(std::span<const uint8_t> sig, std::string_view digest_algo,
                   std::span<const uint8_t> digest) const;

 private:
  std::vector<PublicKey> keys_;  // few keys: a linear scan beats a map
};

}  // namespace attest::ima
