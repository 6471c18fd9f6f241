// The challenge token: a self-contained, stateless proof that this gateway
// fleet issued a challenge to an agent, at a time, with an IMA start offset
// and the PCR selection the agent is to quote. It is also the quote nonce
// (TPMS_ATTEST.extraData), so it must fit in a TPM2B_DATA: it is exactly 64
// bytes.
//
// Version 2 (issued since issue 17):
//   offset size field
//        0    1 version (2)
//        1    1 key_id: which key of the KeySet made the MAC
//        2    8 issued_at, milliseconds since the Unix epoch (big-endian)
//       10    8 ima_offset: first IMA entry the evidence must carry (big-endian)
//       18    4 agent tag: SHA-256("attest-token-agent" | uuid)[0..4), a hint
//                only used to tell "issued to another agent" from "forged"
//       22    1 flags: bit 0 = the UEFI event log was requested; other bits
//                must be 0 (malformed otherwise)
//       23    2 pcr_bank: the TPM_ALG_ID of the PCR bank to quote (big-endian)
//       25    3 PCR mask, PCRs 0-23: bit i of the 24-bit big-endian value is
//                PCR i (PCR 0 = 0x000001)
//       28    4 random
//       32   32 HMAC-SHA256(key, "attest-token-v2" | len(uuid) (2, BE) | uuid | bytes 0..32)
//
// The binding (flags, bank, mask) lets the verifier tell a challenge that
// asked for too little (the gateway's fault: REJECTED) from a quote that
// covers less than it was asked (the agent's: REJECTED too, never PASS),
// instead of failing an honest agent for what a gateway asked of it.
//
// Version 1 (the previous release; still verified for a rolling upgrade):
//   0 version (1) | 1 key_id | 2..10 issued_at | 10..18 ima_offset |
//   18..22 agent tag | 22..32 random |
//   32..64 HMAC-SHA256(key, "attest-token-v1" | len(uuid) | uuid | bytes 0..32)
// It binds no selection: Claims::binding is nullopt, and the worker checks
// what the policies need against the quote alone. VerifyOptions::
// require_binding refuses it.
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
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"
#include "common/token/errors.h"

namespace attest::token {

inline constexpr size_t kTokenSize = 64;
inline constexpr uint8_t kVersion = 2;    // what Issue makes
inline constexpr uint8_t kVersionV1 = 1;  // still verified (rolling upgrade)
inline constexpr uint8_t kFlagUefiLogRequested = 0x01;
inline constexpr uint32_t kPcrMaskAll = 0xffffff;  // PCRs 0-23
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

// What a version-2 token binds: the PCR selection the agent is asked to
// quote (one bank) and whether the UEFI log was requested.
struct Binding {
  uint16_t pcr_bank = 0;  // TPM_ALG_ID (TPM2_ALG_SHA256 = 0x000b)
  uint32_t pcr_mask = 0;  // bit i = PCR i, PCRs 0-23 (higher bits refused by Issue)
  bool uefi_log_requested = false;
  friend bool operator==(const Binding&, const Binding&) = default;
};

// What a verified token says.
struct Claims {
  Clock::time_point issued_at;  // millisecond precision
  uint64_t ima_offset = 0;
  uint8_t key_id = 0;
  uint8_t version = 0;
  std::optional<Binding> binding;  // nullopt for a version-1 token
};

// The fields of a token, read without verifying anything but its size,
// version and flags (for logs and diagnostics; never trust them).
struct Fields {
  uint8_t version = 0;
  uint8_t key_id = 0;
  int64_t issued_at_ms = 0;
  uint64_t ima_offset = 0;
  std::array<uint8_t, 4> agent_tag{};
  std::optional<Binding> binding;  // version 2
};
Result<Fields> Parse(std::string_view token);

// A new 64-byte version-2 token for `uuid` made with the current key,
// binding `binding`. Errors: malformed (uuid size, a mask above PCR 23).
Result<std::string> Issue(const KeySet& keys, std::string_view uuid, Clock::time_point now,
                          uint64_t ima_offset, const Binding& binding,
                          const RandomFn& rng = SystemRandom);
// A version-1 token (no binding), as the previous release issued: only for
// tests of the rolling upgrade. Services issue version 2.
Result<std::string> IssueV1(const KeySet& keys, std::string_view uuid, Clock::time_point now,
                            uint64_t ima_offset, const RandomFn& rng = SystemRandom);

struct VerifyOptions {
  std::chrono::milliseconds ttl{120'000};
  // A token may be issued this far in the future (clocks of replicas differ).
  std::chrono::milliseconds max_skew{5'000};
  // Refuse version-1 tokens (malformed). Off by default: during a rolling
  // upgrade old gateways still issue them, and the worker never lets an
  // unbound token fail an agent (it checks the policies' needs against the
  // quote: REJECTED). Turn on once every gateway issues version 2.
  bool require_binding = false;
};

// Checks, in this order: size, version and flags (malformed; version 1 too
// when options.require_binding), key id (unknown_key),
// MAC in constant time (bad_mac, or other_agent when the agent tag names
// another UUID), age (expired) and issue time (not_yet_valid).
Result<Claims> Verify(const KeySet& keys, std::string_view token, std::string_view uuid,
                      Clock::time_point now, const VerifyOptions& options = {});

}  // namespace attest::token
