// Which [[servers]] blocks the agent uses: N of M with spares, as one pure
// decision (no clock reads, no I/O; `now` is an input).
//
// Rules:
//  - Blocks are preferred in file order. The blocks in use are the first
//    `wanted` (verification_duplication) blocks that are not down; the others
//    are spares (no requests) or down.
//  - A block's health: it is failing from its first failed step after its
//    last accepted evidence; it is down once it has been failing for
//    `failover` (every attempt in that time failed), or at once when the
//    caller gives up on it (GiveUp: a --once run's permanent error).
//  - A down block is still retried (ShouldRun) whether or not it is in use:
//    its next accepted evidence makes it serving again, and, being preferred,
//    it goes back in use, so the spare that filled in becomes a spare again.
//  - A spare put in use starts from "serving" (not yet tried): it gets a
//    whole `failover` period before it is judged.
// Every call that changes which blocks are in use, or a block's health,
// returns the changes, for the log and the status file.
//
// Thread-safety: none; the agent calls it under its mutex.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "common/base/clock.h"

namespace attest::agent {

enum class BlockHealth {
  kServing,  // its last step succeeded, or it was not tried yet
  kFailing,  // failing for less than `failover`
  kDown,     // failing for `failover` or more, or given up on
};
const char* BlockHealthName(BlockHealth h);  // "serving", "failing", "down"

struct BlockChange {
  enum Kind {
    kInUse,      // put in use (`other`: the block it replaces, if any)
    kSpare,      // no longer in use, not down (a preferred block recovered)
    kDown,       // went down (`reason`); `other`: its replacement, if any
    kRecovered,  // accepted evidence again after being down
  };
  Kind kind;
  size_t block;
  std::optional<size_t> other;
  std::string reason;
};

class BlockSelector {
 public:
  using TimePoint = Clock::MonotonicTime;

  BlockSelector(size_t blocks, size_t wanted, std::chrono::milliseconds failover);

  // A --once run judges blocks sooner (agent.cc).
  void set_failover(std::chrono::milliseconds failover) { failover_ = failover; }

  size_t size() const { return blocks_.size(); }
  size_t wanted() const { return wanted_; }

  bool InUse(size_t i) const { return blocks_[i].in_use; }
  // In use, or down (retried until it recovers).
  bool ShouldRun(size_t i) const { return InUse(i) || blocks_[i].health == BlockHealth::kDown; }
  BlockHealth Health(size_t i) const { return blocks_[i].health; }
  // Why the block is failing or down (its last error), else "".
  const std::string& Reason(size_t i) const { return blocks_[i].reason; }
  // In use and not failing or down.
  size_t Serving() const;

  std::vector<BlockChange> OnAccepted(size_t i);
  std::vector<BlockChange> OnFailed(size_t i, TimePoint now, std::string reason);
  std::vector<BlockChange> GiveUp(size_t i, std::string reason);

 private:
  struct State {
    bool in_use = false;
    BlockHealth health = BlockHealth::kServing;
    std::optional<TimePoint> failing_since;
    std::string reason;
  };
  // Recomputes the blocks in use; appends kInUse/kSpare changes.
  void Select(std::vector<BlockChange>& changes, std::optional<size_t> went_down);

  std::vector<State> blocks_;
  size_t wanted_;
  std::chrono::milliseconds failover_;
};

}  // namespace attest::agent
