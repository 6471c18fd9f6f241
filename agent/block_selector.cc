#include "agent/block_selector.h"

#include <algorithm>

namespace attest::agent {

const char* BlockHealthName(BlockHealth h) {
  switch (h) {
    case BlockHealth::kServing:
      return "serving";
    case BlockHealth::kFailing:
      return "failing";
    case BlockHealth::kDown:
      return "down";
  }
  return "unknown";
}

BlockSelector::BlockSelector(size_t blocks, size_t wanted, std::chrono::milliseconds failover)
    : blocks_(blocks), wanted_(std::min(wanted, blocks)), failover_(failover) {
  std::vector<BlockChange> ignored;
  Select(ignored, std::nullopt);
}

size_t BlockSelector::Serving() const {
  return static_cast<size_t>(std::count_if(blocks_.begin(), blocks_.end(), [](const State& s) {
    return s.in_use && s.health == BlockHealth::kServing;
  }));
}

void BlockSelector::Select(std::vector<BlockChange>& changes, std::optional<size_t> went_down) {
  size_t taken = 0;
  std::vector<bool> want(blocks_.size(), false);
  for (size_t i = 0; i < blocks_.size() && taken < wanted_; ++i) {
    if (blocks_[i].health == BlockHealth::kDown) continue;
    want[i] = true;
    ++taken;
  }
  for (size_t i = 0; i < blocks_.size(); ++i) {
    State& s = blocks_[i];
    if (want[i] == s.in_use) continue;
    s.in_use = want[i];
    if (s.in_use) {
      // A spare is judged afresh from the moment it is put in use.
      if (s.health != BlockHealth::kServing) s.failing_since.reset();
      s.health = BlockHealth::kServing;
      changes.push_back({BlockChange::kInUse, i, went_down, ""});
    } else if (s.health != BlockHealth::kDown) {
      changes.push_back({BlockChange::kSpare, i, std::nullopt, ""});
    }
  }
}

std::vector<BlockChange> BlockSelector::OnAccepted(size_t i) {
  std::vector<BlockChange> changes;
  State& s = blocks_[i];
  const bool was_down = s.health == BlockHealth::kDown;
  s.health = BlockHealth::kServing;
  s.failing_since.reset();
  s.reason.clear();
  if (was_down) {
    changes.push_back({BlockChange::kRecovered, i, std::nullopt, ""});
    Select(changes, std::nullopt);
  }
  return changes;
}

std::vector<BlockChange> BlockSelector::OnFailed(size_t i, TimePoint now, std::string reason) {
  State& s = blocks_[i];
  s.reason = std::move(reason);
  if (s.health == BlockHealth::kDown) return {};
  if (!s.failing_since) s.failing_since = now;
  if (now - *s.failing_since < failover_) {
    s.health = BlockHealth::kFailing;
    return {};
  }
  return GiveUp(i, s.reason);
}

std::vector<BlockChange> BlockSelector::GiveUp(size_t i, std::string reason) {
  State& s = blocks_[i];
  s.reason = std::move(reason);
  if (s.health == BlockHealth::kDown) return {};
  s.health = BlockHealth::kDown;
  std::vector<BlockChange> changes{{BlockChange::kDown, i, std::nullopt, s.reason}};
  Select(changes, i);
  for (const BlockChange& c : changes) {
    if (c.kind == BlockChange::kInUse) changes.front().other = c.block;
  }
  return changes;
}

}  // namespace attest::agent
