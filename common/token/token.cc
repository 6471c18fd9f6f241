#include "common/token/token.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cctype>
#include <fstream>
#include <sstream>

#include "common/base/hex.h"
#include "common/crypto/ossl.h"

namespace attest::token {

struct PreparedMac {
  crypto::MacCtxPtr ctx;
};

namespace {

constexpr std::string_view kMacLabelV1 = "attest-token-v1";
constexpr std::string_view kMacLabelV2 = "attest-token-v2";
constexpr std::string_view kAgentLabel = "attest-token-agent";
constexpr std::string_view kKeyIdLabel = "attest-token-key-id";
constexpr size_t kSignedSize = 32;  // bytes covered by the MAC
constexpr size_t kTagOffset = 18;
constexpr size_t kRandomOffsetV1 = 22;
constexpr size_t kFlagsOffset = 22;  // version 2
constexpr size_t kBankOffset = 23;
constexpr size_t kMaskOffset = 25;
constexpr size_t kRandomOffsetV2 = 28;
constexpr size_t kMaxUuidBytes = 0xffff;

void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
}

uint64_t GetU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

// SHA-256(label | data).
std::array<uint8_t, SHA256_DIGEST_LENGTH> LabeledSha256(std::string_view label,
                                                        std::string_view data) {
  std::string msg;
  msg.reserve(label.size() + data.size());
  msg.append(label);
  msg.append(data);
  std::array<uint8_t, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), digest.data());
  return digest;
}

std::array<uint8_t, 4> AgentTag(std::string_view uuid) {
  auto d = LabeledSha256(kAgentLabel, uuid);
  return {d[0], d[1], d[2], d[3]};
}

// HMAC-SHA256(key, label | len(uuid) | uuid | signed bytes) into `out`; the
// label follows the version byte (signed_bytes[0]).
bool Mac(const PreparedMac& key, std::string_view uuid, const uint8_t* signed_bytes, uint8_t* out) {
  const std::string_view label = signed_bytes[0] == kVersionV1 ? kMacLabelV1 : kMacLabelV2;
  crypto::MacCtxPtr ctx(EVP_MAC_CTX_dup(key.ctx.get()));
  const uint8_t len_be[2] = {static_cast<uint8_t>((uuid.size() >> 8) & 0xff),
                             static_cast<uint8_t>(uuid.size() & 0xff)};
  auto update = [&](const void* p, size_t n) {
    return EVP_MAC_update(ctx.get(), static_cast<const unsigned char*>(p), n) == 1;
  };
  size_t len = 0;
  return ctx && update(label.data(), label.size()) && update(len_be, 2) &&
         update(uuid.data(), uuid.size()) && update(signed_bytes, kSignedSize) &&
         EVP_MAC_final(ctx.get(), out, &len, 32) == 1 && len == 32;
}

// A keyed HMAC-SHA256 context for `secret`, or null if OpenSSL refuses.
std::shared_ptr<const PreparedMac> PrepareMac(const std::string& secret) {
  crypto::MacPtr mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) return nullptr;
  auto p = std::make_shared<PreparedMac>();
  p->ctx.reset(EVP_MAC_CTX_new(mac.get()));
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_END};
  if (!p->ctx || EVP_MAC_init(p->ctx.get(), reinterpret_cast<const unsigned char*>(secret.data()),
                              secret.size(), params) != 1) {
    return nullptr;
  }
  return p;
}

}  // namespace

uint8_t DeriveKeyId(std::string_view secret) { return LabeledSha256(kKeyIdLabel, secret)[0]; }

Result<KeySet> KeySet::Create(std::vector<Key> keys) {
  if (keys.empty()) return MakeError(errc::invalid_key, "token key set: no keys");
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].secret.size() < kMinKeyBytes) {
      return MakeError(errc::invalid_key, "token key #" + std::to_string(i) + ": " +
                                              std::to_string(keys[i].secret.size()) +
                                              " bytes, at least " + std::to_string(kMinKeyBytes) +
                                              " required");
    }
    for (size_t j = 0; j < i; ++j) {
      if (keys[j].id == keys[i].id) {
        return MakeError(errc::invalid_key, "token keys #" + std::to_string(j) + " and #" +
                                                std::to_string(i) + " have the same key id " +
                                                std::to_string(keys[i].id) +
                                                " (generate another key)");
      }
    }
  }
  std::vector<std::shared_ptr<const PreparedMac>> macs;
  for (const auto& k : keys) {
    macs.push_back(PrepareMac(k.secret));
    if (!macs.back()) return MakeError(errc::invalid_key, "token keys: OpenSSL has no HMAC-SHA256");
  }
  return KeySet(std::move(keys), std::move(macs));
}

Result<KeySet> KeySet::FromSecrets(const std::vector<std::string>& secrets) {
  std::vector<Key> keys;
  for (const auto& s : secrets) keys.push_back(Key{DeriveKeyId(s), s});
  return Create(std::move(keys));
}

Result<KeySet> KeySet::LoadFiles(const std::vector<std::string>& paths) {
  std::vector<std::string> secrets;
  for (const auto& path : paths) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return MakeError(errc::invalid_key, "token key file '" + path + "': cannot read");
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    if (text.size() > 4096) {
      return MakeError(errc::invalid_key, "token key file '" + path + "': larger than 4096 bytes");
    }
    std::string secret;
    int high = -1;
    for (char c : text) {
      if (std::isspace(static_cast<unsigned char>(c))) continue;
      int v = HexDigitValue(c);
      if (v < 0) {
        return MakeError(errc::invalid_key, "token key file '" + path +
                                                "': not hex (write it with openssl rand -hex 32)");
      }
      if (high < 0) {
        high = v;
      } else {
        secret.push_back(static_cast<char>(high * 16 + v));
        high = -1;
      }
    }
    if (high >= 0) {
      return MakeError(errc::invalid_key,
                       "token key file '" + path + "': odd number of hex digits");
    }
    if (secret.size() < kMinKeyBytes) {
      return MakeError(errc::invalid_key,
                       "token key file '" + path + "': " + std::to_string(secret.size()) +
                           " bytes, at least " + std::to_string(kMinKeyBytes) + " required");
    }
    secrets.push_back(std::move(secret));
  }
  auto set = FromSecrets(secrets);
  if (!set) return MakeError(errc::invalid_key, "token key files: " + set.error().message);
  return set;
}

const Key* KeySet::Find(uint8_t id) const {
  for (const auto& k : keys_) {
    if (k.id == id) return &k;
  }
  return nullptr;
}

Result<void> SystemRandom(uint8_t* out, size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) {
    return MakeError(errc::rng_failed, "token: RAND_bytes failed");
  }
  return Ok();
}

Result<Fields> Parse(std::string_view token) {
  if (token.size() != kTokenSize) {
    return MakeError(errc::malformed, "token: " + std::to_string(token.size()) +
                                          " bytes, expected " + std::to_string(kTokenSize));
  }
  const auto* p = reinterpret_cast<const uint8_t*>(token.data());
  if (p[0] != kVersion && p[0] != kVersionV1) {
    return MakeError(errc::malformed, "token: version " + std::to_string(p[0]) + ", expected " +
                                          std::to_string(kVersion) + " or " +
                                          std::to_string(kVersionV1));
  }
  Fields f;
  f.version = p[0];
  f.key_id = p[1];
  f.issued_at_ms = static_cast<int64_t>(GetU64(p + 2));
  f.ima_offset = GetU64(p + 10);
  for (size_t i = 0; i < 4; ++i) f.agent_tag[i] = p[kTagOffset + i];
  if (f.version == kVersion) {
    const uint8_t flags = p[kFlagsOffset];
    // Unknown flags are a newer format this code cannot honour.
    if ((flags & ~kFlagUefiLogRequested) != 0) {
      return MakeError(errc::malformed, "token: unknown flag bits " + std::to_string(flags));
    }
    Binding b;
    b.uefi_log_requested = (flags & kFlagUefiLogRequested) != 0;
    b.pcr_bank = static_cast<uint16_t>((p[kBankOffset] << 8) | p[kBankOffset + 1]);
    b.pcr_mask = (static_cast<uint32_t>(p[kMaskOffset]) << 16) |
                 (static_cast<uint32_t>(p[kMaskOffset + 1]) << 8) | p[kMaskOffset + 2];
    f.binding = b;
  }
  return f;
}

namespace {

Result<std::string> IssueVersion(const KeySet& keys, std::string_view uuid, Clock::time_point now,
                                 uint64_t ima_offset, const Binding* binding, const RandomFn& rng) {
  if (uuid.empty() || uuid.size() > kMaxUuidBytes) {
    return MakeError(errc::malformed, "token: agent uuid must be 1..65535 bytes");
  }
  if (binding != nullptr && (binding->pcr_mask & ~kPcrMaskAll) != 0) {
    return MakeError(errc::malformed, "token: PCR mask names PCRs above 23");
  }
  const Key& key = keys.current();
  std::array<uint8_t, kTokenSize> t{};
  t[0] = binding != nullptr ? kVersion : kVersionV1;
  t[1] = key.id;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  PutU64(t.data() + 2, static_cast<uint64_t>(ms));
  PutU64(t.data() + 10, ima_offset);
  auto tag = AgentTag(uuid);
  for (size_t i = 0; i < 4; ++i) t[kTagOffset + i] = tag[i];
  size_t random_offset = kRandomOffsetV1;
  if (binding != nullptr) {
    t[kFlagsOffset] = binding->uefi_log_requested ? kFlagUefiLogRequested : 0;
    t[kBankOffset] = static_cast<uint8_t>(binding->pcr_bank >> 8);
    t[kBankOffset + 1] = static_cast<uint8_t>(binding->pcr_bank & 0xff);
    t[kMaskOffset] = static_cast<uint8_t>((binding->pcr_mask >> 16) & 0xff);
    t[kMaskOffset + 1] = static_cast<uint8_t>((binding->pcr_mask >> 8) & 0xff);
    t[kMaskOffset + 2] = static_cast<uint8_t>(binding->pcr_mask & 0xff);
    random_offset = kRandomOffsetV2;
  }
  if (auto r = rng(t.data() + random_offset, kSignedSize - random_offset); !r) return r.error();
  if (!Mac(keys.mac(0), uuid, t.data(), t.data() + kSignedSize)) {
    return MakeError(errc::invalid_key, "token: HMAC-SHA256 failed");
  }
  return std::string(reinterpret_cast<const char*>(t.data()), t.size());
}

}  // namespace

Result<std::string> Issue(const KeySet& keys, std::string_view uuid, Clock::time_point now,
                          uint64_t ima_offset, const Binding& binding, const RandomFn& rng) {
  return IssueVersion(keys, uuid, now, ima_offset, &binding, rng);
}

Result<std::string> IssueV1(const KeySet& keys, std::string_view uuid, Clock::time_point now,
                            uint64_t ima_offset, const RandomFn& rng) {
  return IssueVersion(keys, uuid, now, ima_offset, nullptr, rng);
}

Result<Claims> Verify(const KeySet& keys, std::string_view token, std::string_view uuid,
                      Clock::time_point now, const VerifyOptions& options) {
  auto fields = Parse(token);
  if (!fields) return fields.error();
  if (options.require_binding && !fields->binding) {
    return MakeError(errc::malformed,
                     "token: version 1 binds no PCR selection, and this verifier requires one");
  }
  if (uuid.empty() || uuid.size() > kMaxUuidBytes) {
    return MakeError(errc::malformed, "token: agent uuid must be 1..65535 bytes");
  }
  const Key* key = keys.Find(fields->key_id);
  if (!key) {
    return MakeError(errc::unknown_key, "token: made with key id " +
                                            std::to_string(fields->key_id) +
                                            ", which this key set does not hold (rotated out?)");
  }
  const auto* p = reinterpret_cast<const uint8_t*>(token.data());
  uint8_t expected[32];
  if (!Mac(keys.mac(static_cast<size_t>(key - keys.keys().data())), uuid, p, expected))
    return MakeError(errc::bad_mac, "token: HMAC-SHA256 failed");
  if (CRYPTO_memcmp(expected, p + kSignedSize, sizeof expected) != 0) {
    if (fields->agent_tag != AgentTag(uuid)) {
      return MakeError(errc::other_agent, "token: issued to another agent");
    }
    return MakeError(errc::bad_mac, "token: MAC does not verify");
  }
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  // 128-bit: issued_at comes from the input and may be any 64-bit value.
  const __int128 age = static_cast<__int128>(now_ms) - fields->issued_at_ms;
  if (age > options.ttl.count()) {
    const int64_t age_ms = age > INT64_MAX ? INT64_MAX : static_cast<int64_t>(age);
    return MakeError(errc::expired, "token: issued " + std::to_string(age_ms) +
                                        " ms ago, valid for " +
                                        std::to_string(options.ttl.count()) + " ms");
  }
  if (-age > options.max_skew.count()) {
    const int64_t ahead_ms = -age > INT64_MAX ? INT64_MAX : static_cast<int64_t>(-age);
    return MakeError(errc::not_yet_valid, "token: issued " + std::to_string(ahead_ms) +
                                              " ms in the future (allowed skew " +
                                              std::to_string(options.max_skew.count()) + " ms)");
  }
  Claims c;
  c.issued_at = Clock::time_point(std::chrono::milliseconds(fields->issued_at_ms));
  c.ima_offset = fields->ima_offset;
  c.key_id = fields->key_id;
  c.version = fields->version;
  c.binding = fields->binding;
  return c;
}

}  // namespace attest::token
