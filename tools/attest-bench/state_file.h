// The state file of attest-bench: what `enrol` made and `run` reuses. Only
// identities are kept (UUID, AK private key); the per-run TPM state is made
// fresh by `run` (each run is a reboot of every simulated agent, see
// docs/attest-bench.md), so a file can be reused by any number of runs.
//
// Layout (compact binary, big-endian integers):
//   "ATTEST-BENCH-STATE 1\n"
//   one JSON line: {"agents":N,"keys":K,"interval_seconds":I,"ima_pool":P,"policy_name":S}
//   K keys:   u8 type (1 = ECC P-256, 2 = RSA-2048), u16 length, DER private key
//   N agents: 16 bytes UUID, u32 key index
// RSA agents may share keys (RSA key generation is slow; --rsa-keys).
//
// Thread-safety: plain values and functions.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/base/result.h"
#include "common/base/uuid.h"

namespace attest::bench {

enum class KeyType : uint8_t { kEcc = 1, kRsa = 2 };

struct StoredKey {
  KeyType type = KeyType::kEcc;
  std::vector<uint8_t> der;
};

struct BenchState {
  uint32_t interval_seconds = 10;
  uint32_t ima_pool = 256;
  std::string policy_name;
  std::vector<StoredKey> keys;
  std::vector<std::array<uint8_t, 16>> uuids;
  std::vector<uint32_t> key_of;  // per agent, index into keys
};

Result<void> WriteState(const std::string& path, const BenchState& state);
// Bounded: at most 10,000,000 agents and keys, keys at most 4096 bytes.
Result<BenchState> ReadState(const std::string& path);

using attest::UuidText;                // common/base/uuid.h
std::array<uint8_t, 16> RandomUuid();  // version 4 (RAND_bytes)

}  // namespace attest::bench
