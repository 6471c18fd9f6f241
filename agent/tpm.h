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
// AgentTpm is an interface (tpm.cc implements it with tpm2-tss ESAPI; tests
// use a fake).
//
// Thread-safety: none (ESAPI contexts are single-threaded): callers
// serialise every call.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attest/v1/attestation.pb.h"
#include "attest/v1/common.pb.h"
#include "common/base/result.h"
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

// What the agent does with its TPM: the identity it registers (EK, its
// certificate, AK), quotes and credential activation. round.cc uses only this
// interface, so the agent's steps can be driven with a fake TPM in tests.
// After a failed operation the caller drops the object and opens a new one
// (a TPM reset: see TpmOpener).
class AgentTpm {
 public:
  // The TPM through tpm2-tss: EK from the TCG template, EK certificate from
  // NV, AK loaded or created at options.ak_path, active PCR banks read.
  static Result<std::unique_ptr<AgentTpm>> Open(const TpmOptions& options);

  virtual ~AgentTpm() = default;

  virtual const Bytes& ek_public() const = 0;  // TPM2B_PUBLIC, marshalled
  virtual const Bytes& ek_cert() const = 0;    // DER, empty when none
  virtual const Bytes& ak_public() const = 0;
  virtual const Bytes& ak_name() const = 0;
  virtual v1::SignatureScheme signature_scheme() const = 0;
  virtual const std::vector<v1::HashAlgorithm>& active_banks() const = 0;

  // TPM2_ActivateCredential of a RegisterResponse: the registrar's secret.
  virtual Result<Bytes> Activate(const Bytes& credential_blob, const Bytes& encrypted_secret) = 0;

  // TPM2_Quote over `selection` (one or more banks) with `nonce` as
  // qualifyingData, plus the quoted PCR values. The PCRs are read before and
  // after the quote and the quote is repeated (up to 3 times) when they moved,
  // so the values are the ones the quote covers. A nonce over 64 bytes or an
  // index over 23 is errc::invalid_challenge; TPM failures are errc::tpm_error.
  virtual Result<v1::Quote> Quote(
      const Bytes& nonce,
      const google::protobuf::RepeatedPtrField<v1::PcrSelection>& selection) = 0;
};

// Opens the agent's TPM: at the first step, and again after a TPM failure
// (the failed object is dropped first). AgentTpm::Open in production.
using TpmOpener = std::function<Result<std::unique_ptr<AgentTpm>>(const TpmOptions&)>;

}  // namespace attest::agent
