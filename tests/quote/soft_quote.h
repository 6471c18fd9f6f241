// A software stand-in for a TPM's quote signing, for unit tests and the
// benchmarks: the throwing face of tools/simtpm (keys with their TPMT_PUBLIC,
// TPMS_ATTEST as TPM2_Quote builds it, signatures as a TPM makes them).
// Header-only; throws std::runtime_error on failure (test code only).
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "common/tpm/pcr.h"
#include "tools/simtpm/sim_tpm.h"

namespace attest::testing {

using simtpm::SoftAk;
using SoftClock = simtpm::Clock;
using simtpm::Selection;

inline void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("soft quote: ") + what);
}

template <typename T>
T OrThrowSoft(Result<T> r) {
  if (!r) throw std::runtime_error("soft quote: " + r.error().message);
  return std::move(r).value();
}

inline SoftAk MakeRsaAk(int bits = 2048) { return OrThrowSoft(simtpm::MakeRsaAk(bits)); }

inline SoftAk MakeEccAk(TPMI_ECC_CURVE curve = TPM2_ECC_NIST_P256) {
  return OrThrowSoft(simtpm::MakeEccAk(curve));
}

// TPMS_ATTEST of a quote over `selection` whose digest is H_hash of the
// values (selection order). Missing values throw.
inline tpm::Bytes MakeQuote(const tpm::Bytes& nonce, const TPML_PCR_SELECTION& selection,
                            const tpm::PcrValues& values, TPMI_ALG_HASH hash,
                            const SoftClock& clock = {}) {
  return OrThrowSoft(simtpm::MakeQuote(nonce, selection, values, hash, clock));
}

// TPMT_SIGNATURE over `message` as a TPM makes it with `scheme`.
inline tpm::Bytes SignLikeTpm(const SoftAk& ak, TPMI_ALG_SIG_SCHEME scheme, TPMI_ALG_HASH hash,
                              const tpm::Bytes& message) {
  return OrThrowSoft(simtpm::SignLikeTpm(ak, scheme, hash, message));
}

// sha256 (and optionally other banks) PCRs with distinct values.
inline tpm::PcrValues ValuesFor(const TPML_PCR_SELECTION& sel) {
  tpm::PcrValues values;
  for (const auto& bank : tpm::SelectionToList(sel)) {
    for (uint32_t pcr : bank.pcrs) {
      values[bank.hash][pcr] =
          tpm::Bytes(tpm::HashAlgDigestSize(bank.hash), static_cast<uint8_t>(pcr * 7 + 1));
    }
  }
  return values;
}

// A fresh P-256 private key as PEM (PKCS#8), for a RevocationSigner in
// tests and fuzzers. Aborts when OpenSSL cannot make one.
inline std::string NewP256KeyPem() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  BIO* bio = BIO_new(BIO_s_mem());
  if (key == nullptr || bio == nullptr ||
      PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    std::abort();
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  EVP_PKEY_free(key);
  return pem;
}

}  // namespace attest::testing
