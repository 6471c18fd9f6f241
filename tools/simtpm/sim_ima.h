// A simulated IMA measurement list for many agents at once: a fixed pool of
// `size` ima-ng entries (path /usr/bin/attest-bench-<i>, deterministic
// sha256 file digests) that every agent measures in the same order, entry n
// of an agent being pool[n % size]. So an agent's whole list is described by
// its entry count, its PCR 10 by a running value, and one runtime policy
// (Keylime JSON, from common/ima GeneratePolicy) allows every agent's list.
//
// Thread-safety: immutable after Create(); all methods are const and
// thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/base/result.h"

namespace attest::simtpm {

class ImaPool {
 public:
  // `size` in 1..100000.
  static Result<ImaPool> Create(size_t size = 256);

  size_t size() const { return lines_.size(); }
  // The ascii_runtime_measurements lines of entries [from, to), each ending
  // in '\n'.
  std::string AsciiRange(uint64_t from, uint64_t to) const;
  // Extends entries [from, to) into the sha256 PCR value `pcr10` (32 bytes),
  // as the kernel extends PCR 10: pcr = SHA-256(pcr || SHA-256(template data)).
  void Extend(std::array<uint8_t, 32>& pcr10, uint64_t from, uint64_t to) const;
  // Runtime policy JSON allowing every entry of the pool.
  const std::string& RuntimePolicy() const { return policy_; }

 private:
  std::vector<std::string> lines_;
  std::vector<std::array<uint8_t, 32>> extend_;  // SHA-256(template data) per entry
  std::string policy_;
};

}  // namespace attest::simtpm
