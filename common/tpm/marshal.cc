#include "common/tpm/marshal.h"

#include <openssl/evp.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include <array>
#include <cctype>
#include <cstdio>

#include "common/tpm/errors.h"

namespace attest::tpm {
namespace {

template <typename T>
using UnmarshalFn = TSS2_RC (*)(const uint8_t*, size_t, size_t*, T*);
template <typename T>
using MarshalFn = TSS2_RC (*)(const T*, uint8_t*, size_t, size_t*);

template <typename T>
Result<T> Unmarshal(ByteView in, UnmarshalFn<T> fn, const char* what) {
  T out{};
  if (in.empty()) return MakeError(errc::malformed, std::string(what) + ": empty input");
  size_t offset = 0;
  TSS2_RC rc = fn(in.data(), in.size(), &offset, &out);
  if (rc != TSS2_RC_SUCCESS) {
    return MakeError(errc::malformed, std::string(what) + ": " + Tss2_RC_Decode(rc) + " (" +
                                          std::to_string(in.size()) + " bytes)");
  }
  if (offset != in.size()) {
    return MakeError(errc::malformed, std::string(what) + ": " +
                                          std::to_string(in.size() - offset) +
                                          " trailing bytes after " + std::to_string(offset));
  }
  return out;
}

template <typename T>
Result<Bytes> Marshal(const T& in, MarshalFn<T> fn, const char* what) {
  std::array<uint8_t, sizeof(T) + 64> buf{};  // marshalled form is never larger than the struct
  size_t offset = 0;
  TSS2_RC rc = fn(&in, buf.data(), buf.size(), &offset);
  if (rc != TSS2_RC_SUCCESS) {
    return MakeError(errc::malformed, std::string("marshal ") + what + ": " + Tss2_RC_Decode(rc));
  }
  return Bytes(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(offset));
}

}  // namespace

Result<TPMS_ATTEST> ParseAttest(ByteView bytes) {
  return Unmarshal<TPMS_ATTEST>(bytes, Tss2_MU_TPMS_ATTEST_Unmarshal, "TPMS_ATTEST");
}

Result<TPMT_SIGNATURE> ParseSignature(ByteView bytes) {
  return Unmarshal<TPMT_SIGNATURE>(bytes, Tss2_MU_TPMT_SIGNATURE_Unmarshal, "TPMT_SIGNATURE");
}

Result<TPM2B_PUBLIC> ParsePublic(ByteView bytes) {
  auto pub = Unmarshal<TPM2B_PUBLIC>(bytes, Tss2_MU_TPM2B_PUBLIC_Unmarshal, "TPM2B_PUBLIC");
  if (!pub) return pub;
  // libtss2-mu trusts the outer size; insist it covers exactly the TPMT_PUBLIC.
  if (bytes.size() < 2 || static_cast<size_t>(pub->size) != bytes.size() - 2) {
    return MakeError(errc::malformed, "TPM2B_PUBLIC: size field " + std::to_string(pub->size) +
                                          " does not match the " +
                                          std::to_string(bytes.size() - 2) +
                                          " bytes of publicArea");
  }
  return pub;
}

Result<TPML_PCR_SELECTION> ParsePcrSelection(ByteView bytes) {
  return Unmarshal<TPML_PCR_SELECTION>(bytes, Tss2_MU_TPML_PCR_SELECTION_Unmarshal,
                                       "TPML_PCR_SELECTION");
}

Result<Bytes> MarshalPublicArea(const TPMT_PUBLIC& pub) {
  return Marshal<TPMT_PUBLIC>(pub, Tss2_MU_TPMT_PUBLIC_Marshal, "TPMT_PUBLIC");
}

Result<Bytes> MarshalAttest(const TPMS_ATTEST& attest) {
  return Marshal<TPMS_ATTEST>(attest, Tss2_MU_TPMS_ATTEST_Marshal, "TPMS_ATTEST");
}

Result<Bytes> MarshalSignature(const TPMT_SIGNATURE& sig) {
  return Marshal<TPMT_SIGNATURE>(sig, Tss2_MU_TPMT_SIGNATURE_Marshal, "TPMT_SIGNATURE");
}

Result<Bytes> ComputeName(const TPMT_PUBLIC& pub) {
  auto area = MarshalPublicArea(pub);
  if (!area) return area.error();
  auto digest = Hash(pub.nameAlg, *area);
  if (!digest) return digest.error();
  Bytes name{static_cast<uint8_t>(pub.nameAlg >> 8), static_cast<uint8_t>(pub.nameAlg & 0xff)};
  name.insert(name.end(), digest->begin(), digest->end());
  return name;
}

const EVP_MD* HashAlgMd(TPMI_ALG_HASH alg) {
  switch (alg) {
    case TPM2_ALG_SHA1:
      return EVP_sha1();
    case TPM2_ALG_SHA256:
      return EVP_sha256();
    case TPM2_ALG_SHA384:
      return EVP_sha384();
    case TPM2_ALG_SHA512:
      return EVP_sha512();
    default:
      return nullptr;
  }
}

size_t HashAlgDigestSize(TPMI_ALG_HASH alg) {
  switch (alg) {
    case TPM2_ALG_SHA1:
      return 20;
    case TPM2_ALG_SHA256:
      return 32;
    case TPM2_ALG_SHA384:
      return 48;
    case TPM2_ALG_SHA512:
      return 64;
    case TPM2_ALG_SM3_256:  // size only: PCR banks; no OpenSSL digest here
      return 32;
    default:
      return 0;
  }
}

std::string HashAlgName(TPMI_ALG_HASH alg) {
  switch (alg) {
    case TPM2_ALG_SHA1:
      return "sha1";
    case TPM2_ALG_SHA256:
      return "sha256";
    case TPM2_ALG_SHA384:
      return "sha384";
    case TPM2_ALG_SHA512:
      return "sha512";
    default: {
      char buf[8];
      std::snprintf(buf, sizeof buf, "0x%04x", static_cast<unsigned>(alg));
      return buf;
    }
  }
}

std::optional<TPMI_ALG_HASH> HashAlgFromName(std::string_view name) {
  if (name == "sha1") return TPM2_ALG_SHA1;
  if (name == "sha256") return TPM2_ALG_SHA256;
  if (name == "sha384") return TPM2_ALG_SHA384;
  if (name == "sha512") return TPM2_ALG_SHA512;
  return std::nullopt;
}

Result<Bytes> Hash(TPMI_ALG_HASH alg, ByteView data) {
  const EVP_MD* md = HashAlgMd(alg);
  if (md == nullptr) return MakeError(errc::unsupported, "hash algorithm " + HashAlgName(alg));
  Bytes out(HashAlgDigestSize(alg));
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1 ||
      len != out.size()) {
    return MakeError(errc::crypto_error, "EVP_Digest " + HashAlgName(alg) + " failed");
  }
  return out;
}

}  // namespace attest::tpm
