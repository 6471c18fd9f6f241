// A software TPM identity for benchmarks and tests: an RSA-2048 EK and an
// RSA-2048 restricted signing AK generated with OpenSSL, described as the
// TPM2B_PUBLICs a TPM would report (EK template L-1 attributes; AK with
// fixedTPM/fixedParent/sensitiveDataOrigin/restricted/sign, RSASSA-SHA256),
// and TPM2_ActivateCredential done in software with the EK private key
// (RSA-OAEP "IDENTITY" seed, KDFa, HMAC integrity check, AES-128-CFB).
// It lets a load generator play thousands of agents without a TPM.
//
// Thread-safety: immutable after Generate(); Activate() is const and
// thread-safe.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <vector>

#include "common/base/result.h"

namespace attest::registrar {

class SoftIdentity {
 public:
  using Bytes = std::vector<uint8_t>;
  // `ak_restricted` false makes an AK the registrar must refuse (tests).
  static Result<SoftIdentity> Generate(bool ak_restricted = true);
  // The same EK with a new AK (tests: a re-sent registration with another AK).
  Result<SoftIdentity> WithNewAk() const;

  const Bytes& ek_public() const { return ek_public_; }  // marshalled TPM2B_PUBLIC
  const Bytes& ak_public() const { return ak_public_; }
  const Bytes& ak_name() const { return ak_name_; }

  // The secret of MakeCredential(ek, secret, ak_name), as the TPM would
  // recover it; fails when the blob is not for this EK and AK.
  Result<Bytes> Activate(const Bytes& credential_blob, const Bytes& encrypted_secret) const;

  // HMAC-SHA256(secret, uuid): the auth_tag of ActivateRequest.
  static Bytes AuthTag(const Bytes& secret, const std::string& uuid);

 private:
  std::shared_ptr<EVP_PKEY> ek_key_;
  Bytes ek_public_, ak_public_, ak_name_;
};

}  // namespace attest::registrar
