#include "common/tpm/tpm_crypto.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <string>
#include <string_view>

#include "common/tpm/errors.h"

namespace attest::tpm {
namespace {

using crypto::OpenSslError;

Result<EvpPkeyPtr> FromData(const char* type, OSSL_PARAM_BLD* bld, const std::string& what) {
  crypto::ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  crypto::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return MakeError(errc::invalid_key, what + ": EVP_PKEY_fromdata: " + OpenSslError());
  }
  return EvpPkeyPtr(raw);
}

Result<EvpPkeyPtr> RsaToPkey(const TPMT_PUBLIC& pub) {
  const TPMS_RSA_PARMS& p = pub.parameters.rsaDetail;
  const TPM2B_PUBLIC_KEY_RSA& n = pub.unique.rsa;
  if (p.keyBits < 1024 || p.keyBits > 16384 || p.keyBits % 8 != 0) {
    return MakeError(errc::unsupported, "RSA key of " + std::to_string(p.keyBits) + " bits");
  }
  if (n.size != p.keyBits / 8) {
    return MakeError(errc::invalid_key, "RSA modulus of " + std::to_string(n.size) +
                                            " bytes for a " + std::to_string(p.keyBits) +
                                            "-bit key");
  }
  uint32_t exponent = p.exponent == 0 ? 65537 : p.exponent;
  crypto::BnPtr bn_n(BN_bin2bn(n.buffer, n.size, nullptr));
  crypto::BnPtr bn_e(BN_new());
  crypto::ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld || BN_set_word(bn_e.get(), exponent) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return MakeError(errc::crypto_error, "RSA key parameters: " + OpenSslError());
  }
  return FromData("RSA", bld.get(), "RSA public key");
}

Result<EvpPkeyPtr> EccToPkey(const TPMT_PUBLIC& pub) {
  const auto curve = EccCurveInfo(pub.parameters.eccDetail.curveID);
  if (!curve) {
    return MakeError(errc::unsupported, "ECC curve id " +
                                            std::to_string(pub.parameters.eccDetail.curveID) +
                                            " (only NIST P-256 and P-384)");
  }
  const char* group = curve->group;
  const size_t field = curve->field_bytes;
  const TPM2B_ECC_PARAMETER& x = pub.unique.ecc.x;
  const TPM2B_ECC_PARAMETER& y = pub.unique.ecc.y;
  if (x.size == 0 || y.size == 0 || x.size > field || y.size > field) {
    return MakeError(errc::invalid_key, "ECC point coordinates of " + std::to_string(x.size) + "/" +
                                            std::to_string(y.size) + " bytes");
  }
  // Uncompressed point 04 || X || Y, coordinates left-padded to the field size.
  Bytes point(1 + 2 * field, 0);
  point[0] = 0x04;
  std::copy(x.buffer, x.buffer + x.size, point.begin() + 1 + static_cast<long>(field - x.size));
  std::copy(y.buffer, y.buffer + y.size, point.end() - y.size);
  crypto::ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return MakeError(errc::crypto_error, "ECC key parameters: " + OpenSslError());
  }
  return FromData("EC", bld.get(), std::string("ECC ") + group + " public key");
}

}  // namespace

std::optional<EccCurve> EccCurveInfo(TPMI_ECC_CURVE curve) {
  switch (curve) {
    case TPM2_ECC_NIST_P256:
      return EccCurve{"prime256v1", 32};
    case TPM2_ECC_NIST_P384:
      return EccCurve{"secp384r1", 48};
    default:
      return std::nullopt;
  }
}

Result<EvpPkeyPtr> PublicToEvpPkey(const TPMT_PUBLIC& pub) {
  switch (pub.type) {
    case TPM2_ALG_RSA:
      return RsaToPkey(pub);
    case TPM2_ALG_ECC:
      return EccToPkey(pub);
    default:
      return MakeError(errc::unsupported,
                       "public key type " + std::to_string(pub.type) + " (only RSA and ECC)");
  }
}

Result<EvpPkeyPtr> LoadPemPublicKey(ByteView pem) {
  if (pem.size() > (1u << 20)) return MakeError(errc::malformed, "PEM input larger than 1 MiB");
  crypto::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return MakeError(errc::crypto_error, "BIO_new_mem_buf: " + OpenSslError());
  EVP_PKEY* raw = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (raw == nullptr) {
    return MakeError(errc::malformed,
                     "not a PEM public key (SubjectPublicKeyInfo): " + OpenSslError());
  }
  EvpPkeyPtr key(raw);
  int id = EVP_PKEY_get_base_id(raw);
  if (id != EVP_PKEY_RSA && id != EVP_PKEY_EC) {
    return MakeError(errc::unsupported, "PEM public key is neither RSA nor EC");
  }
  return key;
}

Result<LoadedKey> LoadAkPublic(ByteView bytes) {
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  size_t start = text.find_first_not_of(" \t\r\n");
  if (start != std::string_view::npos && text.substr(start).starts_with("-----BEGIN")) {
    auto key = LoadPemPublicKey(bytes);
    if (!key) return key.error();
    return LoadedKey{std::move(*key), std::nullopt};
  }
  auto pub = ParsePublic(bytes);
  if (!pub) {
    return MakeError(errc::malformed,
                     "neither a PEM public key nor a TPM2B_PUBLIC: " + pub.error().message);
  }
  auto key = PublicToEvpPkey(pub->publicArea);
  if (!key) return key.error();
  return LoadedKey{std::move(*key), pub->publicArea};
}

bool SamePublicKey(const EVP_PKEY* a, const EVP_PKEY* b) {
  return a != nullptr && b != nullptr && EVP_PKEY_eq(a, b) == 1;
}

Result<void> CheckAttestationKeyAttributes(const TPMT_PUBLIC& pub) {
  struct Bit {
    TPMA_OBJECT mask;
    bool want;
    const char* name;
  };
  static constexpr Bit kBits[] = {
      {TPMA_OBJECT_SIGN_ENCRYPT, true, "sign"},
      {TPMA_OBJECT_RESTRICTED, true, "restricted"},
      {TPMA_OBJECT_FIXEDTPM, true, "fixedTPM"},
      {TPMA_OBJECT_FIXEDPARENT, true, "fixedParent"},
      {TPMA_OBJECT_SENSITIVEDATAORIGIN, true, "sensitiveDataOrigin"},
      {TPMA_OBJECT_DECRYPT, false, "decrypt"},
  };
  std::string wrong;
  for (const Bit& bit : kBits) {
    bool has = (pub.objectAttributes & bit.mask) != 0;
    if (has != bit.want) {
      if (!wrong.empty()) wrong += ", ";
      wrong += std::string(bit.want ? "missing " : "unexpected ") + bit.name;
    }
  }
  if (pub.type != TPM2_ALG_RSA && pub.type != TPM2_ALG_ECC) {
    if (!wrong.empty()) wrong += ", ";
    wrong += "type is neither RSA nor ECC";
  }
  if (!wrong.empty()) {
    return MakeError(errc::invalid_key, "not a restricted signing key: " + wrong);
  }
  return Ok();
}

}  // namespace attest::tpm
