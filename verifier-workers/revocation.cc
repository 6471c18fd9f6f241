#include "verifier-workers/revocation.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "verifier-workers/errors.h"

namespace attest::worker {
namespace {

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

std::string OpensslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// "ecdsa-p256-sha256", "ed25519", or empty for unsupported keys.
std::string AlgorithmOf(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "ED25519")) return "ed25519";
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &len) == 1 &&
        (std::string_view(group) == "prime256v1" || std::string_view(group) == "P-256")) {
      return "ecdsa-p256-sha256";
    }
  }
  return "";
}

std::unique_ptr<BIO, BioDeleter> MemBio(std::string_view pem) {
  if (pem.size() > (1u << 20)) return nullptr;
  return std::unique_ptr<BIO, BioDeleter>(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

}  // namespace

Result<std::shared_ptr<const RevocationSigner>> RevocationSigner::Load(const std::string& path,
                                                                       std::string key_id) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(errc::crypto, "revocation key " + path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  auto r = FromPem(ss.str(), std::move(key_id));
  if (!r) return MakeError(errc::crypto, "revocation key " + path + ": " + r.error().message);
  return r;
}

Result<std::shared_ptr<const RevocationSigner>> RevocationSigner::FromPem(std::string_view pem,
                                                                          std::string key_id) {
  auto bio = MemBio(pem);
  if (!bio) return MakeError(errc::crypto, "PEM too large or unreadable");
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return MakeError(errc::crypto, "not a PEM private key: " + OpensslError());
  std::string alg = AlgorithmOf(key.get());
  if (alg.empty()) return MakeError(errc::crypto, "key type must be ECDSA P-256 or Ed25519");
  return std::shared_ptr<const RevocationSigner>(
      new RevocationSigner(std::move(key), std::move(alg), std::move(key_id)));
}

Result<v1::SignedRevocation> RevocationSigner::Sign(const v1::RevocationEvent& event) const {
  v1::SignedRevocation out;
  if (!event.SerializeToString(out.mutable_event())) {
    return MakeError(errc::crypto, "revocation: cannot serialize the event");
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  const EVP_MD* md = algorithm_ == "ed25519" ? nullptr : EVP_sha256();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key_.get()) != 1) {
    return MakeError(errc::crypto, "revocation: sign init: " + OpensslError());
  }
  const auto* data = reinterpret_cast<const unsigned char*>(out.event().data());
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, data, out.event().size()) != 1) {
    return MakeError(errc::crypto, "revocation: sign: " + OpensslError());
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data,
                     out.event().size()) != 1) {
    return MakeError(errc::crypto, "revocation: sign: " + OpensslError());
  }
  sig.resize(len);
  out.set_signature(std::move(sig));
  out.set_signature_algorithm(algorithm_);
  out.set_key_id(key_id_);
  return out;
}

Result<PkeyPtr> LoadPublicKeyPem(std::string_view pem) {
  auto bio = MemBio(pem);
  if (!bio) return MakeError(errc::bad_input, "PEM too large or unreadable");
  PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    ERR_clear_error();
    auto bio2 = MemBio(pem);
    key.reset(PEM_read_bio_PrivateKey(bio2.get(), nullptr, nullptr, nullptr));
  }
  if (!key) return MakeError(errc::bad_input, "not a PEM public key: " + OpensslError());
  if (AlgorithmOf(key.get()).empty()) {
    return MakeError(errc::bad_input, "key type must be ECDSA P-256 or Ed25519");
  }
  return key;
}

Result<void> VerifyRevocation(const v1::SignedRevocation& s, EVP_PKEY* key) {
  const std::string alg = AlgorithmOf(key);
  if (alg.empty()) return MakeError(errc::crypto, "unsupported key type");
  if (s.signature_algorithm() != alg) {
    return MakeError(errc::crypto, "signature algorithm '" + s.signature_algorithm() +
                                       "' does not match the key (" + alg + ")");
  }
  if (s.signature().empty() || s.signature().size() > 1024) {
    return MakeError(errc::crypto, "signature missing or too long");
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  const EVP_MD* md = alg == "ed25519" ? nullptr : EVP_sha256();
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) != 1) {
    return MakeError(errc::crypto, "verify init: " + OpensslError());
  }
  int ok = EVP_DigestVerify(
      ctx.get(), reinterpret_cast<const unsigned char*>(s.signature().data()), s.signature().size(),
      reinterpret_cast<const unsigned char*>(s.event().data()), s.event().size());
  ERR_clear_error();
  if (ok != 1) return MakeError(errc::crypto, "signature does not verify");
  return Ok();
}

}  // namespace attest::worker
