// Hash algorithms of IMA template hashes and PCR banks, hex helpers, and a
// small reusable hasher on OpenSSL 3 EVP (algorithms fetched once).
//
// Thread-safety: HashAlg helpers are pure. A Hasher is not thread-safe (it
// owns one EVP_MD_CTX); make one per thread or per call.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/base/hex.h"
#include "common/base/result.h"

namespace attest::ima {

enum class HashAlg : uint8_t { kSha1 = 0, kSha256 = 1, kSha384 = 2, kSha512 = 3 };
inline constexpr size_t kNumHashAlgs = 4;
inline constexpr size_t kMaxDigestSize = 64;

size_t DigestSize(HashAlg alg);
std::string_view HashName(HashAlg alg);  // "sha1", "sha256", ...
std::optional<HashAlg> HashFromName(std::string_view name);
std::optional<HashAlg> HashFromSize(size_t size);

// A digest of up to 64 bytes stored inline (no allocation).
struct Digest {
  std::array<uint8_t, kMaxDigestSize> bytes{};
  uint8_t size = 0;

  std::span<const uint8_t> view() const { return {bytes.data(), size}; }
  bool operator==(const Digest& o) const {
    return size == o.size && std::equal(bytes.begin(), bytes.begin() + size, o.bytes.begin());
  }
  bool IsZero() const;
  static Digest Filled(size_t size, uint8_t value);
  static Digest From(std::span<const uint8_t> data);  // data.size() <= 64
};

// common/base/hex.h, kept under these names for their many callers.
inline std::string ToHex(std::span<const uint8_t> data) { return HexEncode(data); }
inline std::string ToHex(const Digest& d) { return ToHex(d.view()); }
// Decodes hex (either case, no prefix) into `out`; false on odd length or bad digit.
inline bool FromHex(std::string_view hex, std::string& out) {
  if (hex.size() % 2 != 0) return false;
  out.resize(hex.size() / 2);
  return HexDecodeInto(hex, {reinterpret_cast<uint8_t*>(out.data()), out.size()});
}
// Decodes exactly out.size() bytes; false on wrong length or bad digit.
inline bool FromHexFixed(std::string_view hex, std::span<uint8_t> out) {
  return HexDecodeInto(hex, out);
}

// Reusable EVP digest context. Each Hash() call is independent.
class Hasher {
 public:
  Hasher();
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  Digest Hash(HashAlg alg, std::span<const uint8_t> data);
  // H(a || b): the PCR extend operation.
  Digest Hash2(HashAlg alg, std::span<const uint8_t> a, std::span<const uint8_t> b);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace attest::ima
