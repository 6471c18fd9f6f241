// The agent's TPM: one ESAPI context with the EK and the AK loaded for the
// agent's lifetime (swtpm has about three transient object slots: EK + AK stay,
// every other object or session is flushed at once), the EK certificate from
// NV when provisioned, quotes over a challenge's PCR selection and credential
// activation for registration.
//
// The AK is kept in the state directory (esys::LoadOrCreateAk), so the agent's
// identity survives restarts. After a TPM error the caller drops the AgentTpm
// and opens a new one (a TPM reset flushes every transient handle).
//
// Thread-safety: none (ESAPI contexts are single-threaded).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attest/v1/attestation.pb.h"
#include "attest/v1/common.pb.h"
#include "common/base/result.h"
#include "common/esys/context.h"
#include "common/esys/keys.h"
#include "common/protoconv/hash_alg.h"

namespace attest::agent {

using Bytes = std::vector<uint8_t>;

// proto HashAlgorithm <-> TPM2_ALG_ID; TPM2_ALG_NULL / UNSPECIFIED when unknown.
using protoconv::ProtoHashAlg;
using protoconv::TpmHashAlg;

// TPM2B_DATA (qualifyingData) holds at most sizeof(TPMU_HA) = 64 bytes.
inline constexpr size_t kMaxNonceBytes = 64;

struct TpmOptions {
  std::string tcti;
  std::string ek_type = "rsa";  // rsa | ecc
  std::string ak_type = "rsa";  // rsa (RSASSA) | ecc (ECDSA)
  std::filesystem::path ak_path;
};

class AgentTpm {
 public:
  static Result<std::unique_ptr<AgentTpm>> Open(const TpmOptions& options);

  const Bytes& ek_public() const { return ek_->public_bytes; }
  const Bytes& ek_cert() const { return ek_cert_; }  // DER, empty when none
  const Bytes& ak_public() const { return ak_->public_bytes; }
  const Bytes& ak_name() const { return ak_->name; }
  v1::SignatureScheme signature_scheme() const { return scheme_; }
  const std::vector<v1::HashAlgorithm>& active_banks() const { return banks_; }

  // TPM2_ActivateCredential of a RegisterResponse: the registrar's secret.
  Result<Bytes> Activate(const Bytes& credential_blob, const Bytes& encrypted_secret);

  // TPM2_Quote over `selection` (one or more banks) with `nonce` as
  // qualifyingData, plus the quoted PCR values. The PCRs are read before and
  // after the quote and the quote is repeated (up to 3 times) when they moved,
  // so the values are the ones the quote covers. A nonce over 64 bytes or an
  // index over 23 is errc::invalid_challenge.
  Result<v1::Quote> Quote(const Bytes& nonce,
                          const google::protobuf::RepeatedPtrField<v1::PcrSelection>& selection);

 private:
  AgentTpm(esys::EsysContext ctx) : ctx_(std::move(ctx)) {}

  esys::EsysContext ctx_;        // first: outlives the keys flushed through it
  std::optional<esys::Key> ek_;  // set by Open()
  std::optional<esys::Key> ak_;
  Bytes ek_cert_;
  v1::SignatureScheme scheme_ = v1::SIGNATURE_SCHEME_UNSPECIFIED;
  std::vector<v1::HashAlgorithm> banks_;
};

}  // namespace attest::agent
