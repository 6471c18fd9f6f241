// Internal: digests with OpenSSL 3 algorithms fetched once per Hasher rather
// than implicitly on every EVP_DigestInit (which dominates the cost of
// hashing short inputs). One Hasher per call chain; not thread-safe.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>

#include "common/crypto/ossl.h"
#include "common/eventlog/types.h"

namespace attest::eventlog::internal {

class Hasher {
 public:
  Hasher() : ctx_(EVP_MD_CTX_new()) {}

  // False for an unknown algorithm or an OpenSSL failure.
  bool Supports(uint16_t alg_id) { return Md(alg_id) != nullptr; }

  // out = H(a || b); out may alias a.
  bool Hash(uint16_t alg_id, std::span<const uint8_t> a, std::span<const uint8_t> b, Bytes& out) {
    const EVP_MD* md = Md(alg_id);
    if (md == nullptr || !ctx_) return false;
    uint8_t buf[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestInit_ex(ctx_.get(), md, nullptr) != 1 ||
        EVP_DigestUpdate(ctx_.get(), a.data(), a.size()) != 1 ||
        EVP_DigestUpdate(ctx_.get(), b.data(), b.size()) != 1 ||
        EVP_DigestFinal_ex(ctx_.get(), buf, &n) != 1) {
      return false;
    }
    out.assign(buf, buf + n);
    return true;
  }

 private:
  const EVP_MD* Md(uint16_t alg_id) {
    const char* name = nullptr;
    size_t slot = 0;
    switch (alg_id) {
      case alg::kSha1:
        name = "SHA1", slot = 0;
        break;
      case alg::kSha256:
        name = "SHA256", slot = 1;
        break;
      case alg::kSha384:
        name = "SHA384", slot = 2;
        break;
      case alg::kSha512:
        name = "SHA512", slot = 3;
        break;
      case alg::kSm3_256:
        name = "SM3", slot = 4;
        break;
      default:
        return nullptr;
    }
    if (!mds_[slot]) mds_[slot].reset(EVP_MD_fetch(nullptr, name, nullptr));
    return mds_[slot].get();
  }

  crypto::MdCtxPtr ctx_;
  std::array<crypto::MdPtr, 5> mds_;
};

}  // namespace attest::eventlog::internal
