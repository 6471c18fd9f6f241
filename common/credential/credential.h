// Software TPM2_MakeCredential (TPM 2.0 Part 1, "Credential Protection") for
// the registrar: protects a secret so that only the TPM holding `ek_public`
// can recover it, and only for a loaded object named `ak_name`
// (TPM2_ActivateCredential). No TPM is needed on the registrar side.
//
//  seed       random, |H(ek.nameAlg)| bytes; encryptedSecret = RSA-OAEP(ek,
//             seed, label "IDENTITY\0") for RSA EKs, or an ephemeral ECDH
//             point with seed = KDFe(Z, "IDENTITY", Qe.x, Qek.x) for ECC EKs
//  symKey     KDFa(seed, "STORAGE", ak_name, "", ek symmetric keyBits)
//  encId      AES-CFB(symKey, IV = 0, TPM2B(secret))
//  hmacKey    KDFa(seed, "INTEGRITY", "", "", |H| * 8)
//  blob       TPM2B(HMAC(hmacKey, encId || ak_name)) || encId
//
// Outputs are marshalled TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET (with
// their size prefixes), the fields of attest.v1.RegisterResponse;
// ToolsFile()/ParseToolsFile() convert to and from tpm2_makecredential's
// output file (BE 0xBADCC0DE, BE version 1, then the two TPM2Bs).
//
// Thread-safety: pure functions (OpenSSL 3 EVP is thread-safe).
#pragma once

#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include "common/base/result.h"

namespace attest::credential {

using Bytes = std::vector<uint8_t>;

enum class errc {
  ok = 0,
  invalid_argument = 1,  // bad secret / name
  bad_public_key = 2,    // ek_public is not a usable TPM2B_PUBLIC of an EK
  crypto_error = 3,      // OpenSSL failed
  parse_error = 4,       // a tpm2-tools credential file is malformed
};
const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

struct MadeCredential {
  Bytes credential_blob;   // marshalled TPM2B_ID_OBJECT
  Bytes encrypted_secret;  // marshalled TPM2B_ENCRYPTED_SECRET
};

// `ek_public`: marshalled TPM2B_PUBLIC of a restricted decryption key (RSA
// or ECC NIST P-256/P-384, AES-CFB symmetric, SHA-256/384 nameAlg).
// `secret`: 1..|H(ek.nameAlg)| bytes. `ak_name`: TPM2B_NAME contents
// (nameAlg || digest), e.g. from ObjectName().
Result<MadeCredential> MakeCredential(const Bytes& ek_public, const Bytes& secret,
                                      const Bytes& ak_name);

// Name of an object from its marshalled TPM2B_PUBLIC: nameAlg (2 bytes BE)
// || H_nameAlg(marshalled TPMT_PUBLIC).
Result<Bytes> ObjectName(const Bytes& public_bytes);

// tpm2-tools file layout (tpm2_makecredential -o / tpm2_activatecredential -i).
Bytes ToolsFile(const MadeCredential& c);
Result<MadeCredential> ParseToolsFile(const Bytes& file);

// KDFa and KDFe of TPM 2.0 Part 1 (exposed for tests). `label` without its
// terminating NUL (added here, as the spec requires).
Result<Bytes> KdfA(uint16_t hash_alg, const Bytes& key, const std::string& label,
                   const Bytes& context_u, const Bytes& context_v, uint32_t bits);
Result<Bytes> KdfE(uint16_t hash_alg, const Bytes& z, const std::string& label,
                   const Bytes& party_u, const Bytes& party_v, uint32_t bits);

}  // namespace attest::credential

template <>
struct std::is_error_code_enum<attest::credential::errc> : std::true_type {};
