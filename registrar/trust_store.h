// EK certificate trust store: vendor root and intermediate CA certificates
// loaded from a directory, and the check that an EK certificate belongs to a
// TPM public key and chains to one of the roots.
//
// Loading: every *.pem / *.crt / *.cer / *.der file of the directory (other
// names are ignored); PEM files may hold several certificates. Self-signed
// certificates are trust anchors, all others are untrusted intermediates
// offered to chain building (OpenSSL X509_STORE_CTX), so a chain of any
// length through the store's intermediates is found, while the leaf must
// still end at a root of the store (no partial chains).
//
// Validity periods are NOT checked by default (X509_V_FLAG_NO_CHECK_TIME):
// an EK certificate names a key fused into a TPM for the TPM's lifetime; the
// TCG EK Credential Profile recommends notAfter 9999-12-31 for that reason,
// and real vendor intermediates (several in the Keylime cert store) have
// expired while the TPMs they certified are in service. Compromise is handled
// by removing a CA from the store. `check_validity_period` turns the check on.
// Unhandled critical extensions are accepted only for the TPM-specific ones
// EK certificates carry (subjectDirectoryAttributes with the TPM spec, the
// TCG-defined extensions); any other unknown critical extension fails.
//
// Thread-safety: immutable after Load(); Verify() may run concurrently.
#pragma once

#include <openssl/x509.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "common/base/result.h"

namespace attest::registrar {

class EkTrustStore {
 public:
  // An empty store: every certificate is refused.
  EkTrustStore();
  // errc::config_error when the directory or a certificate file is unreadable.
  static Result<EkTrustStore> Load(const std::filesystem::path& dir,
                                   bool check_validity_period = false);

  // Checks `cert_der` (exactly one DER certificate) against `ek_public`
  // (marshalled TPM2B_PUBLIC): same public key, and a valid chain to a root.
  // errc::bad_request for unparsable input, errc::forbidden for a
  // certificate that does not match or does not chain (the message says why).
  Result<void> Verify(std::span<const uint8_t> cert_der, std::span<const uint8_t> ek_public) const;

  size_t roots() const { return roots_; }
  size_t intermediates() const { return intermediates_; }

 private:
  std::shared_ptr<X509_STORE> store_;
  std::shared_ptr<STACK_OF(X509)> untrusted_;
  size_t roots_ = 0;
  size_t intermediates_ = 0;
  bool check_time_ = false;
};

}  // namespace attest::registrar
