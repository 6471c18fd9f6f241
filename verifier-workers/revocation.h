// Signed revocation events (attestation.revocations) and signed verdicts
// (attestation.verdicts): the worker signs with the configured key (ECDSA
// P-256 with SHA-256, DER signature, "ecdsa-p256-sha256"; or Ed25519,
// "ed25519"), and anyone with the published public key verifies.
//
// Everything a consumer acts on is inside the signed bytes: a revocation's
// RevocationEvent names its key id, algorithm, worker, backend, issue time
// and the verdict sequence; the outer SignedRevocation.key_id is only a
// lookup hint and must equal the inner one. A verdict is signed as the exact
// record value a consumer decodes (protobuf or JSON); it names its key in
// `signer_key_id` and the signature travels in the record's headers
// (kHeaderSignature etc.), so consumers that ignore headers are unchanged.
//
// Domain separation: the same key signs both, so neither is signed as raw
// protobuf bytes (a Verdict parses as a RevocationEvent: its policy_versions
// lands in key_id, its evidence_id in signature_algorithm). A revocation's
// signature is over kRevocationContext || event bytes, a verdict's over
// kVerdictContext || value bytes; each context ends with a NUL byte, so
// neither is a prefix of the other (docs/soc.md shows it with printf).
//
// Thread-safety: a RevocationSigner is immutable after Load; Sign may be
// called from any thread (it makes its own EVP_MD_CTX per call). The free
// functions are pure.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "attest/v1/verdict.pb.h"
#include "common/base/result.h"
#include "common/crypto/ossl.h"

namespace attest::worker {

using PkeyPtr = crypto::PkeyPtr;

// Kafka headers of a signed verdict. The signature is base64 (standard
// alphabet, padded) so kcat and shell tools can carry it as text.
inline constexpr std::string_view kHeaderSignature = "attest-sig";
inline constexpr std::string_view kHeaderSignatureAlgorithm = "attest-sig-alg";
inline constexpr std::string_view kHeaderKeyId = "attest-key-id";
// The outbox's content type of a SignedVerdict row: never published as
// such, the relay turns it into the verdict value plus the headers above.
inline constexpr std::string_view kSignedVerdictContentType =
    "application/vnd.attest.signed-verdict+protobuf";

// The signature contexts (the NUL is part of each).
inline constexpr std::string_view kRevocationContext{"attest.v1.RevocationEvent\0", 26};
inline constexpr std::string_view kVerdictContext{"attest.v1.Verdict\0", 18};

// The bytes actually signed: context || data.
std::string RevocationSignedMessage(std::string_view event_bytes);
std::string VerdictSignedMessage(std::string_view value);

class RevocationSigner {
 public:
  // Reads a PEM private key (PKCS#8 or traditional); only P-256 and Ed25519
  // keys are accepted.
  static Result<std::shared_ptr<const RevocationSigner>> Load(const std::string& pem_path,
                                                              std::string key_id);
  static Result<std::shared_ptr<const RevocationSigner>> FromPem(std::string_view pem,
                                                                 std::string key_id);

  // Signs `event` with its key_id and signature_algorithm set to this
  // signer's (whatever the caller put there).
  Result<v1::SignedRevocation> Sign(const v1::RevocationEvent& event) const;
  // Signs `value`, a record value (an encoded Verdict naming this key in
  // signer_key_id), for the outbox; content_type is the value's.
  Result<v1::SignedVerdict> SignVerdict(std::string value, std::string content_type) const;
  // The raw signature of `data` (DER ECDSA or 64-byte Ed25519), no context
  // added: for building test records (RevocationSignedMessage etc.).
  Result<std::string> SignBytes(std::string_view data) const;

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

// Checks `signature` (algorithm `algorithm`, which must match the key type)
// over `data`. errc::crypto with the reason when invalid.
Result<void> VerifySignature(std::string_view algorithm, std::string_view signature,
                             std::string_view data, EVP_PKEY* key);

// Checks the signature of `signed_event` with `key` (over
// RevocationSignedMessage(event)), then that the signed
// event names the same key id and algorithm as the envelope (a mismatch, or
// an event that names no key, is invalid: the outer fields are unsigned).
Result<void> VerifyRevocation(const v1::SignedRevocation& signed_event, EVP_PKEY* key);

// A verdict record as received: its value, content type and the signature
// headers (signature already base64-decoded).
struct SignedVerdictRecord {
  std::string_view value;
  std::string_view content_type;
  std::string_view algorithm;
  std::string_view key_id;
  std::string_view signature;
};
// Checks the signature over VerdictSignedMessage(value), then decodes it and checks that the
// verdict's signer_key_id equals the header's key id. Returns the verdict.
Result<v1::Verdict> VerifyVerdict(const SignedVerdictRecord& record, EVP_PKEY* key);

// Standard base64 (padded); Base64Decode rejects anything else.
std::string Base64Encode(std::string_view data);
Result<std::string> Base64Decode(std::string_view text);

// The replay check a consumer runs per (backend_id, agent_uuid): `last` is
// the newest revocation it acted on. A revocation is a replay (or a
// duplicate) unless it was issued later, or at the same time with a higher
// verdict sequence. Issue time first: an agent deleted and registered again
// starts its sequence at 0, a replay never has a later signed time.
struct RevocationMark {
  int64_t time_micros = 0;
  uint64_t sequence = 0;
};
RevocationMark MarkOf(const v1::RevocationEvent& event);
bool IsReplay(const v1::RevocationEvent& event, const RevocationMark& last);

}  // namespace attest::worker
