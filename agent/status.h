// The agent's status file, `<state_dir>/status.json`, rewritten atomically
// (WriteFileAtomic) whenever a block's use or health changes and after every
// accepted evidence, so an operator or a monitoring check can see which
// blocks serve the node and why, without reading logs:
//
//   {"agent_uuid": "...", "pid": 1234, "updated": "2026-12-04T22:30:00Z",
//    "verification_duplication": 2,
//    "blocks": [{"name": "servers[0]", "in_use": false, "state": "down",
//                "reason": "challenge: ... connection refused",
//                "last_accepted": "2026-12-04T22:20:00Z",
//                "last_error": "..."}, ...]}
//
// `state` is "serving", "failing" or "down" for a block in use or retried,
// "spare" for an idle block. `attest-agent --status` prints it (FormatStatus)
// and exits 0 when `verification_duplication` blocks are serving.
//
// Thread-safety: plain values and free functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/base/result.h"

namespace attest::agent {

struct BlockStatus {
  std::string name;       // "servers[0]"
  std::string addresses;  // "registrars ...; verifiers ..."
  bool in_use = false;
  std::string state;          // serving | failing | down | spare
  std::string reason;         // why failing or down
  std::string last_accepted;  // RFC 3339 UTC, "" when none yet
  std::string last_error;
};

struct AgentStatus {
  std::string agent_uuid;
  int64_t pid = 0;
  std::string updated;  // RFC 3339 UTC
  int verification_duplication = 1;
  std::vector<BlockStatus> blocks;

  // Blocks in use whose state is "serving".
  int Serving() const;
};

std::string StatusJson(const AgentStatus& status);
Result<AgentStatus> ParseStatusJson(const std::string& text);

std::filesystem::path StatusPath(const std::filesystem::path& state_dir);
Result<void> WriteStatus(const std::filesystem::path& state_dir, const AgentStatus& status);
Result<AgentStatus> ReadStatus(const std::filesystem::path& state_dir);

// A table for people: one line per block, then "N of M blocks serving".
std::string FormatStatus(const AgentStatus& status);

}  // namespace attest::agent
