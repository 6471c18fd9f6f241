// Incremental replay of IMA entries into PCR 10 and their check against a
// runtime policy and signature keys, with Keylime's semantics and failure
// ids (docs/policies/runtime-policy.md lists them).
//
// A worker keeps a ReplayState per agent (next entry index, running PCR-10
// value per bank, keys learned from ima-buf entries) and calls Replay with
// only the entries it has not seen; the result equals replaying everything
// in one go. Every failure names the absolute entry index.
//
// Thread-safety: Replay is reentrant; a ReplayState must not be shared
// between threads during a call. Policy and keyring are read-only.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/ima/failure_ids.h"
#include "common/ima/hash.h"
#include "common/ima/keyring.h"
#include "common/ima/log.h"
#include "common/ima/policy.h"

namespace attest::ima {

// Failure ids: common/ima/failure_ids.h (ima::failure_id).

struct Failure {
  std::string id;
  uint64_t entry = 0;  // absolute index in the measurement list
  std::string path;
  std::string message;
};

struct ReplayState {
  uint64_t next_entry = 0;
  // Running PCR-10 value per bank, indexed by HashAlg; size 0 = not tracked.
  std::array<Digest, kNumHashAlgs> pcr{};
  // Keys that ima-buf entries loaded onto a keyring and the policy accepted;
  // Keylime trusts them for later ima-sig entries.
  Keyring learned_keys;

  // A fresh boot: PCR 10 is all zero in each tracked bank.
  static ReplayState Initial(std::span<const HashAlg> banks);
  const Digest* Pcr(HashAlg bank) const;
};

struct ReplayOptions {
  const RuntimePolicy* policy = nullptr;  // null: every digest is accepted
  const Keyring* keys = nullptr;          // null: signature checking is off
  bool fail_on_tomtou = false;            // Keylime ignores ToMToU/violations by default
  uint32_t ima_pcr = 10;
  // When set: the quoted PCR-10 value of `expected_bank`. Matched (as in
  // Keylime) when the running value equals it before or after any entry,
  // because the quote may lag the list.
  std::optional<Digest> expected_pcr;
  HashAlg expected_bank = HashAlg::kSha256;
};

struct ReplayOutcome {
  std::vector<Failure> failures;
  // Absolute entry count at which the running value matched expected_pcr.
  std::optional<uint64_t> pcr_matched_at;
  bool ok() const { return failures.empty(); }
};

// Replays `entries` (which start at index state.next_entry) into `state` and
// checks each one. Appends failures; never stops early.
ReplayOutcome Replay(ReplayState& state, std::span<const Entry> entries,
                     const ReplayOptions& options);

}  // namespace attest::ima
