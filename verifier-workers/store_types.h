// Plain values the worker's store passes in and out, without any database
// client type (so the pipeline headers need no libpqxx): offset keys and
// claims (offsets.h), policy rows, sweep partitions and stored outbox rows
// (store.h).
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "verifier-workers/processor.h"

namespace attest::worker {

struct OffsetKey {
  std::string group;
  std::string topic;
  int32_t partition = -1;
};

struct Claim {
  int64_t next_offset = 0;
  int64_t epoch = 0;
};

struct PolicyRow {
  int64_t id = 0;
  PolicyKind kind = PolicyKind::kPcr;
  int64_t version = 0;
  std::string body;
};

// A partition to sweep and the time through which its evidence has been
// read: deadlines before it are missed, later ones may still be met by
// evidence waiting in the partition. nullopt: all of it, so the database's
// now(). A time past now() counts as now().
struct SweepPartition {
  int32_t partition = 0;
  std::optional<Clock::time_point> seen_through;
};

struct StoredOutbox {
  int64_t id = 0;
  OutboxRecord record;
};

}  // namespace attest::worker
