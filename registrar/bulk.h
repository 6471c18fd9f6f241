// Bulk enrolment (POST /v1/admin/agents:bulk): an operator registers and
// enrols many agents in one request, for fleets provisioned by a trusted
// process and for the load generator (tools/attest-bench). The admin vouches
// for the identities: there is no EK certificate check and no credential
// activation, which is why the path needs the admin token. Body (JSON):
//
//   {"ek_public": HEX,                     // TPM2B_PUBLIC, default for agents
//    "runtime_policy": "{...}", "pcr_policy": "{...}",   // JSON text, optional
//    "policy_name": "fleet-a",             // optional; default bulk-<sha256 prefix>
//    "interval_seconds": 60, "grace_factor": 3,
//    "agents": [{"uuid": "...", "ak_public": HEX, "ek_public": HEX?}, ...]}
//
// Policies are stored once as shared (named) policies, not per agent. Agents
// are inserted active and enrolled in one transaction; a UUID that is already
// registered is left untouched and counted as `existing`. Answer:
// {"enrolled": N, "existing": M, "runtime_policy_id": id|0, "pcr_policy_id": id|0}.
//
// Thread-safety: functions use only the connection they are given.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/base/result.h"
#include "common/db/connection.h"

namespace attest::registrar {

inline constexpr size_t kBulkMaxAgents = 10'000;

struct BulkAgent {
  std::string uuid;      // canonical
  std::string ek_hex;    // TPM2B_PUBLIC, lower-case hex
  std::string ak_hex;    // TPM2B_PUBLIC
  std::string name_hex;  // AK name
  int32_t partition = 0;
};

struct BulkInput {
  std::vector<BulkAgent> agents;
  std::string runtime_policy;  // validated JSON or empty
  std::string pcr_policy;
  std::string policy_name;
  uint32_t interval_seconds = 60;
  double grace_factor = 3;
  std::string actor;
};

struct BulkOutcome {
  int64_t enrolled = 0;
  int64_t existing = 0;
  int64_t runtime_policy_id = 0;
  int64_t pcr_policy_id = 0;
};

// Parses and checks the JSON body (sizes, UUIDs, hex, AK attributes, policy
// shape); bad_request naming the first bad field (with the agent index).
Result<BulkInput> ParseBulkRequest(std::string_view body, int evidence_partitions);

// One transaction: the shared policies (reused when the same name and body
// exist), then registrations + enrolments with unnest().
Result<BulkOutcome> BulkEnrol(db::Connection& conn, const BulkInput& in);

std::string BulkOutcomeJson(const BulkOutcome& out);

}  // namespace attest::registrar
