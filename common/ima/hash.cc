#include "common/ima/hash.h"

#include <openssl/evp.h>

#include <algorithm>
#include <stdexcept>

#include "common/crypto/ossl.h"

namespace attest::ima {

size_t DigestSize(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha1:
      return 20;
    case HashAlg::kSha256:
      return 32;
    case HashAlg::kSha384:
      return 48;
    case HashAlg::kSha512:
      return 64;
  }
  return 0;
}

std::string_view HashName(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha1:
      return "sha1";
    case HashAlg::kSha256:
      return "sha256";
    case HashAlg::kSha384:
      return "sha384";
    case HashAlg::kSha512:
      return "sha512";
  }
  return "unknown";
}

std::optional<HashAlg> HashFromName(std::string_view name) {
  for (size_t i = 0; i < kNumHashAlgs; ++i) {
    auto alg = static_cast<HashAlg>(i);
    if (HashName(alg) == name) return alg;
  }
  return std::nullopt;
}

std::optional<HashAlg> HashFromSize(size_t size) {
  for (size_t i = 0; i < kNumHashAlgs; ++i) {
    auto alg = static_cast<HashAlg>(i);
    if (DigestSize(alg) == size) return alg;
  }
  return std::nullopt;
}

bool Digest::IsZero() const {
  return std::all_of(bytes.begin(), bytes.begin() + size, [](uint8_t b) { return b == 0; });
}

Digest Digest::Filled(size_t size, uint8_t value) {
  Digest d;
  d.size = static_cast<uint8_t>(std::min(size, kMaxDigestSize));
  std::fill(d.bytes.begin(), d.bytes.begin() + d.size, value);
  return d;
}

Digest Digest::From(std::span<const uint8_t> data) {
  Digest d;
  d.size = static_cast<uint8_t>(std::min(data.size(), kMaxDigestSize));
  std::copy(data.begin(), data.begin() + d.size, d.bytes.begin());
  return d;
}

struct Hasher::Impl {
  std::array<crypto::MdPtr, kNumHashAlgs> mds;
  crypto::MdCtxPtr ctx{EVP_MD_CTX_new()};
};

Hasher::Hasher() : impl_(std::make_unique<Impl>()) {
  // Fetching once avoids the provider lookup on every digest (a large part of
  // the cost for short inputs).
  for (size_t i = 0; i < kNumHashAlgs; ++i) {
    std::string name(HashName(static_cast<HashAlg>(i)));
    impl_->mds[i].reset(EVP_MD_fetch(nullptr, name.c_str(), nullptr));
    if (!impl_->mds[i]) throw std::runtime_error("OpenSSL: cannot fetch digest " + name);
  }
  if (!impl_->ctx) throw std::bad_alloc();
}

Hasher::~Hasher() = default;

Digest Hasher::Hash(HashAlg alg, std::span<const uint8_t> data) { return Hash2(alg, data, {}); }

Digest Hasher::Hash2(HashAlg alg, std::span<const uint8_t> a, std::span<const uint8_t> b) {
  Digest d;
  unsigned int len = 0;
  EVP_MD_CTX* ctx = impl_->ctx.get();
  // These calls only fail on allocation failure or a broken provider.
  if (EVP_DigestInit_ex2(ctx, impl_->mds[static_cast<size_t>(alg)].get(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, a.data(), a.size()) != 1 ||
      (!b.empty() && EVP_DigestUpdate(ctx, b.data(), b.size()) != 1) ||
      EVP_DigestFinal_ex(ctx, d.bytes.data(), &len) != 1) {
    throw std::runtime_error("OpenSSL digest failed");
  }
  d.size = static_cast<uint8_t>(len);
  return d;
}

}  // namespace attest::ima
