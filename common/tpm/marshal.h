// TPM 2.0 wire structures: strict parsing with libtss2-mu (no hand-written
// parsers), key Names, hash-algorithm helpers and hex.
//
// Every Parse* function takes the exact bytes of one structure in TPM
// (big-endian) marshalling and rejects malformed input and trailing bytes, so
// what was parsed is exactly what was signed or registered. Inputs are never
// trusted: the libtss2-mu unmarshallers bound every size and count by the
// structure's capacity.
//
// Thread-safety: all functions are pure and reentrant.
#pragma once

#include <tss2/tss2_tpm2_types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/hex.h"
#include "common/base/result.h"

using EVP_MD = struct evp_md_st;

namespace attest::tpm {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// TPMS_ATTEST, i.e. the contents of a TPM2B_ATTEST (what `tpm2_quote -m` writes).
Result<TPMS_ATTEST> ParseAttest(ByteView bytes);
// TPMT_SIGNATURE (what `tpm2_quote -s` writes in its default "tss" format).
Result<TPMT_SIGNATURE> ParseSignature(ByteView bytes);
// TPM2B_PUBLIC (size-prefixed TPMT_PUBLIC; `tpm2_createak -u`, `tpm2_createek -u`).
// The inner size must match the marshalled TPMT_PUBLIC exactly.
Result<TPM2B_PUBLIC> ParsePublic(ByteView bytes);
Result<TPML_PCR_SELECTION> ParsePcrSelection(ByteView bytes);

// Marshalling, for Names, the benchmark and tests.
Result<Bytes> MarshalPublicArea(const TPMT_PUBLIC& pub);
Result<Bytes> MarshalAttest(const TPMS_ATTEST& attest);
Result<Bytes> MarshalSignature(const TPMT_SIGNATURE& sig);

// The Name of an object: nameAlg (2 bytes, big-endian) || H_nameAlg(TPMT_PUBLIC).
Result<Bytes> ComputeName(const TPMT_PUBLIC& pub);

// Hash algorithms (TPM2_ALG_SHA1/SHA256/SHA384/SHA512; HashAlgDigestSize
// also knows SM3-256, a PCR bank some TPMs have). Unknown ids give
// nullptr / 0 / nullopt.
const EVP_MD* HashAlgMd(TPMI_ALG_HASH alg);
size_t HashAlgDigestSize(TPMI_ALG_HASH alg);
std::string HashAlgName(TPMI_ALG_HASH alg);  // "sha256", or "0x000b"-style when unknown
std::optional<TPMI_ALG_HASH> HashAlgFromName(std::string_view name);
Result<Bytes> Hash(TPMI_ALG_HASH alg, ByteView data);

// common/base/hex.h, kept under these names for their many callers.
inline std::string ToHex(ByteView bytes) { return HexEncode(bytes); }  // lower case
inline std::optional<Bytes> FromHex(std::string_view hex) {            // optional 0x prefix
  return HexDecode(hex, HexPrefix::kAllow);
}

}  // namespace attest::tpm
