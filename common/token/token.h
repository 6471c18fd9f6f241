// The challenge token: a self-contained, stateless proof that this gateway
// fleet issued a challenge to an agent, at a time, with an IMA start offset.
// It is also the quote nonce (TPMS_ATTEST.extraData), so it must fit in a
// TPM2B_DATA: it is exactly 64 bytes.
//
//   offset size field
//        0    1 version (1)
//        1    1 key_id: which key of the KeySet made the MAC
//        2    8 issued_at, milliseconds since the Unix epoch (big-endian)
//       10    8 ima_offset: first IMA entry the evidence must carry (big-endian)
//       18    4 agent tag: SHA-256("attest-token-agent" | uuid)[0..4), a hint
//                only used to tell "issued to another agent" from "forged"
//       22   10 random
//       32   32 HMAC-SHA256(key, "attest-token-v1" | len(uuid) (2, BE) | uuid | bytes 0..32)
//
// Any replica holding the key verifies a token issued by any other: nothing is
// stored per challenge. Keys rotate through a KeySet: the current key signs,
// previous keys still verify until they are removed.
//
// Pure: time and randomness are passed in. Thread-safety: a KeySet is
// immutable; all functions may be called from any thread.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"
#include "common/token/errors.h"

namespace attest::token {

inline constexpr size_t kTokenSize = 64;
inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kMinKeyBytes = 32;

using Clock = std::chrono::system_clock;

struct Key {
  uint8_t id = 0;
  std::string secret;  // raw bytes, >= kMinKeyBytes
};

// An HMAC-SHA256 context keyed once per key (KeySet::Create); every MAC
// starts from a copy of it instead of fetching the algorithm and hashing the
// key again (2.3 us against 1.0 us per token).
struct PreparedMac;

class KeySet {
 public:
  // `keys[0]` is the current key (signs new tokens); the others only verify.
  // Errors: empty set, a key shorter than kMinKeyBytes, two keys with one id.
  static Result<KeySet> Create(std::vector<Key> keys);
  // Same with ids derived from the secrets (DeriveKeyId).
  static Result<KeySet> FromSecrets(const std::vector<std::string>& secrets);
  // Reads key files (current first). A file holds the key in hex (e.g.
  // `openssl rand -hex 32`); whitespace is ignored.
  static Result<KeySet> LoadFiles(const std::vector<std::string>& paths);

  const Key& current() const { return keys_.front(); }
  // The key with that id, or nullptr.
  const Key* Find(uint8_t id) const;
  size_t size() const { return keys_.size(); }
  // The prepared HMAC of keys()[i] (Issue and Verify use it).
  const PreparedMac& mac(size_t i) const { return *macs_[i]; }
  const std::vector<Key>& keys() const { return keys_; }

 private:
  KeySet(std::vector<Key> keys, std::vector<std::shared_ptr<const PreparedMac>> macs)
      : keys_(std::move(keys)), macs_(std::move(macs)) {}
  std::vector<Key> keys_;
  std::vector<std::shared_ptr<const PreparedMac>> macs_;  // one per key, never null
};

// SHA-256("attest-token-key-id" | secret)[0].
uint8_t DeriveKeyId(std::string_view secret);

// Fills `out` with `n` random bytes.
using RandomFn = std::function<Result<void>(uint8_t* out, size_t n)>;
// OpenSSL's RAND_bytes.
Result<void> SystemRandom(uint8_t* out, size_t n);

// What a verified token says.
struct Claims {
  Clock::time_point issued_at;  // millisecond precision
  uint64_t ima_offset = 0;
  uint8_t key_id = 0;
};

// The fields of a token, read without verifying anything but its size and
// version (for logs and diagnostics; never trust them).
struct Fields {
  uint8_t version = 0;
  uint8_t key_id = 0;
  int64_t issued_at_ms = 0;
  uint64_t ima_offset = 0;
  std::array<uint8_t, 4> agent_tag{};
};
Result<Fields> Parse(std::string_view token);

// A new 64-byte token for `uuid` made with the current key.
Result<std::string> Issue(const KeySet& keys, std::string_view uuid, Clock::time_point now,
                          uint64_t ima_offset, const RandomFn& rng = SystemRandom);

struct VerifyOptions {
  std::chrono::milliseconds ttl{120'000};
  // A token may be issued this far in the future (clocks of replicas differ).
  std::chrono::milliseconds max_skew{5'000};
};

// Checks, in this order: size and version (malformed), key id (unknown_key),
// MAC in constant time (bad_mac, or other_agent when the agent tag names
// another UUID), age (expired) and issue time (not_yet_valid).
Result<Claims> Verify(const KeySet& keys, std::string_view token, std::string_view uuid,
                      Clock::time_point now, const VerifyOptions& options = {});

}  // namespace attest::token
