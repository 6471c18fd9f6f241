#include "common/ima/keyring.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <nlohmann/json.hpp>
#include <string_view>

#include "common/crypto/ossl.h"
#include "common/ima/errors.h"
#include "common/ima/hash.h"

namespace attest::ima {
namespace {

using crypto::BioPtr;
using crypto::X509Ptr;

std::shared_ptr<EVP_PKEY> Own(EVP_PKEY* k) {
  return std::shared_ptr<EVP_PKEY>(k, [](EVP_PKEY* p) { EVP_PKEY_free(p); });
}

std::optional<uint32_t> KeyIdFromCert(X509* cert) {
  const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(cert);
  if (skid == nullptr || ASN1_STRING_length(skid) < 4) return std::nullopt;
  const uint8_t* p = ASN1_STRING_get0_data(skid) + ASN1_STRING_length(skid) - 4;
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

// keyidv2: low 4 bytes of SHA-1 over the PKCS#1 (RSA) or X9.62 point (EC).
uint32_t ComputeKeyId(EVP_PKEY* pkey) {
  unsigned char* der = nullptr;
  int len = i2d_PublicKey(pkey, &der);
  if (len <= 0) return 0;
  Hasher h;
  Digest d = h.Hash(HashAlg::kSha1, {der, static_cast<size_t>(len)});
  OPENSSL_free(der);
  return uint32_t{d.bytes[16]} << 24 | uint32_t{d.bytes[17]} << 16 | uint32_t{d.bytes[18]} << 8 |
         d.bytes[19];
}

BioPtr MemBio(std::span<const uint8_t> data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

const char* SigHashName(uint8_t algo) {
  switch (algo) {  // linux/hash_info.h
    case 1:
      return "md5";
    case 2:
      return "sha1";
    case 4:
      return "sha256";
    case 5:
      return "sha384";
    case 6:
      return "sha512";
    case 7:
      return "sha224";
  }
  return nullptr;
}

constexpr size_t kSigHeader = 9;  // type, version, hash_algo, keyid[4], sig_size[2]

}  // namespace

Result<std::optional<PublicKey>> KeyFromData(std::span<const uint8_t> data) {
  if (data.empty() || data.size() > (1u << 20)) return std::optional<PublicKey>();
  // OpenSSL 3's decoders cost ~0.3 ms per attempt: only try data that can be
  // DER (a SEQUENCE) or PEM, so ordinary ima-buf entries stay cheap.
  std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
  bool maybe_der = data[0] == 0x30;
  bool maybe_pem = text.find("-----BEGIN ") != std::string_view::npos;
  if (!maybe_der && !maybe_pem) return std::optional<PublicKey>();
  EVP_PKEY* raw = nullptr;
  std::optional<uint32_t> keyid;
  {
    const unsigned char* p = data.data();
    X509Ptr cert(maybe_der ? d2i_X509(nullptr, &p, static_cast<long>(data.size())) : nullptr);
    if (!cert && maybe_pem) {
      BioPtr bio = MemBio(data);
      if (bio) cert.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    }
    if (cert) {
      raw = X509_get_pubkey(cert.get());
      keyid = KeyIdFromCert(cert.get());
    }
  }
  if (raw == nullptr && maybe_der) {
    const unsigned char* p = data.data();
    raw = d2i_PUBKEY(nullptr, &p, static_cast<long>(data.size()));
  }
  if (raw == nullptr && maybe_pem) {
    BioPtr bio = MemBio(data);
    if (bio) raw = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  }
  ERR_clear_error();  // failed tries leave entries on the thread's error queue
  if (raw == nullptr) return std::optional<PublicKey>();
  PublicKey key{Own(raw), 0, ""};
  int type = EVP_PKEY_get_base_id(raw);
  if (type != EVP_PKEY_RSA && type != EVP_PKEY_EC) {
    return MakeError(errc::key_error, "unsupported key type (neither RSA nor EC)");
  }
  key.keyid = keyid ? *keyid : ComputeKeyId(raw);
  return std::optional<PublicKey>(std::move(key));
}

std::string_view SigStatusName(SigStatus s) {
  switch (s) {
    case SigStatus::kValid:
      return "valid";
    case SigStatus::kMalformed:
      return "malformed";
    case SigStatus::kNoKey:
      return "no key";
    case SigStatus::kBadAlgo:
      return "bad hash algorithm";
    case SigStatus::kInvalid:
      return "invalid";
  }
  return "unknown";
}

bool SignatureWellFormed(std::span<const uint8_t> sig) {
  if (sig.size() < kSigHeader) return false;
  if (sig[0] != 3 && sig[0] != 5) return false;  // EVM_IMA_XATTR_DIGSIG / PORTABLE_DIGSIG
  if (sig[1] != 2) return false;
  size_t size = size_t{sig[7]} << 8 | sig[8];
  return size == sig.size() - kSigHeader;
}

Result<void> Keyring::AddKeyData(std::span<const uint8_t> data, std::string_view origin) {
  auto key = KeyFromData(data);
  if (!key) return MakeError(errc::key_error, std::string(origin) + ": " + key.error().message);
  if (!*key) {
    return MakeError(errc::key_error,
                     std::string(origin) + ": not a PEM or DER public key or certificate");
  }
  Add(std::move(**key));
  return Ok();
}

Result<void> Keyring::AddVerificationKeys(std::string_view text) {
  if (text.empty()) return Ok();
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  // Keylime stores it as a JSON string inside JSON at times: decode twice.
  if (j.is_string()) j = nlohmann::json::parse(j.get<std::string>(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return MakeError(errc::policy_error, "verification-keys: not a JSON object");
  }
  auto pubkeys = j.find("pubkeys");
  if (pubkeys == j.end() || !pubkeys->is_array()) {
    return MakeError(errc::policy_error, "verification-keys: missing 'pubkeys' array");
  }
  const nlohmann::json* keyids = nullptr;
  if (auto it = j.find("keyids"); it != j.end() && it->is_array()) keyids = &*it;
  for (size_t i = 0; i < pubkeys->size(); ++i) {
    const auto& b64 = (*pubkeys)[i];
    if (!b64.is_string()) return MakeError(errc::policy_error, "verification-keys: bad pubkey");
    const std::string& s = b64.get_ref<const std::string&>();
    if (s.size() > (1u << 20)) return MakeError(errc::policy_error, "verification-keys: too big");
    std::string der(s.size() / 4 * 3 + 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(der.data()),
                            reinterpret_cast<const unsigned char*>(s.data()),
                            static_cast<int>(s.size()));
    if (n < 0) return MakeError(errc::policy_error, "verification-keys: bad base64");
    // EVP_DecodeBlock counts padding as zero bytes; d2i stops at the DER end.
    der.resize(static_cast<size_t>(n));
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    EVP_PKEY* raw = d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size()));
    if (raw == nullptr) {
      return MakeError(errc::policy_error,
                       "verification-keys: pubkey " + std::to_string(i) + " is not DER");
    }
    PublicKey key{Own(raw), 0, "tenant_keyring"};
    int type = EVP_PKEY_get_base_id(raw);
    if (type != EVP_PKEY_RSA && type != EVP_PKEY_EC) {
      return MakeError(errc::policy_error, "verification-keys: unsupported key type");
    }
    if (keyids != nullptr && i < keyids->size() && (*keyids)[i].is_number_unsigned() &&
        (*keyids)[i].get<uint64_t>() != 0 && (*keyids)[i].get<uint64_t>() <= UINT32_MAX) {
      key.keyid = static_cast<uint32_t>((*keyids)[i].get<uint64_t>());
    } else {
      key.keyid = ComputeKeyId(raw);
    }
    Add(std::move(key));
  }
  return Ok();
}

void Keyring::Add(PublicKey key) {
  for (auto& k : keys_) {
    if (k.keyid == key.keyid) {  // same id: newest wins, as in Keylime's dict
      k = std::move(key);
      return;
    }
  }
  keys_.push_back(std::move(key));
}

const PublicKey* Keyring::Find(uint32_t keyid) const {
  for (const auto& k : keys_) {
    if (k.keyid == keyid) return &k;
  }
  return nullptr;
}

SigStatus Keyring::Verify(std::span<const uint8_t> sig, std::string_view digest_algo,
                          std::span<const uint8_t> digest) const {
  if (!SignatureWellFormed(sig)) return SigStatus::kMalformed;
  const char* hname = SigHashName(sig[2]);
  if (hname == nullptr || digest_algo != hname) return SigStatus::kBadAlgo;
  uint32_t keyid = uint32_t{sig[3]} << 24 | uint32_t{sig[4]} << 16 | uint32_t{sig[5]} << 8 | sig[6];
  const PublicKey* key = Find(keyid);
  if (key == nullptr) return SigStatus::kNoKey;
  const EVP_MD* md = EVP_get_digestbyname(hname);
  if (md == nullptr || static_cast<size_t>(EVP_MD_get_size(md)) != digest.size()) {
    return SigStatus::kBadAlgo;
  }
  crypto::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key->pkey.get(), nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1) return SigStatus::kInvalid;
  if (EVP_PKEY_get_base_id(key->pkey.get()) == EVP_PKEY_RSA &&
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1) {
    return SigStatus::kInvalid;
  }
  if (EVP_PKEY_CTX_set_signature_md(ctx.get(), md) != 1) return SigStatus::kInvalid;
  int rc = EVP_PKEY_verify(ctx.get(), sig.data() + kSigHeader, sig.size() - kSigHeader,
                           digest.data(), digest.size());
  return rc == 1 ? SigStatus::kValid : SigStatus::kInvalid;
}

}  // namespace attest::ima
