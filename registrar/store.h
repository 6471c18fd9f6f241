// The registrar's PostgreSQL operations (tables registrations, policies,
// enrolments of schemas/sql). Every operation is one transaction; the
// agent's registration row is locked (SELECT ... FOR UPDATE) first, so
// concurrent requests for one agent on several replicas serialize in the
// database and each sees the other's committed result. A refused request
// (409, 403, 410, ...) writes nothing.
//
// Thread-safety: functions use only the connection they are given.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "attest/v1/admin.pb.h"
#include "common/base/result.h"
#include "common/db/connection.h"

namespace attest::registrar {

using Bytes = std::vector<uint8_t>;

// Registers the prepared statements of this file on a new connection.
void PrepareStatements(pqxx::connection& conn);

struct NewRegistration {
  std::string uuid;  // canonical
  Bytes ek_public;   // TPM2B_PUBLIC
  Bytes ek_cert;     // DER, empty when none
  Bytes ak_public;   // TPM2B_PUBLIC
  Bytes ak_name;
  Bytes tag_sha256;  // SHA-256 of the expected auth_tag (see docs/registrar.md)
  int64_t ttl_seconds = 600;
};

struct RegisterOutcome {
  bool already_active = false;
  double expires_at = 0;  // seconds since the epoch
};

// Inserts or refreshes the registration. errc::conflict when the UUID is
// known with another EK (or, once active, another AK).
Result<RegisterOutcome> StoreRegistration(db::Connection& conn, const NewRegistration& r);

// Checks SHA-256(auth_tag) against the pending offer and activates.
// not_found (unknown), gone (offer expired), forbidden (no offer, wrong tag).
Result<void> ActivateRegistration(db::Connection& conn, const std::string& uuid,
                                  const Bytes& tag_sha256);

// The status of one agent (with the failures of its last verdict when
// `with_failures`); not_found when unknown (or pending and expired).
Result<v1::AgentStatus> LoadAgentStatus(db::Connection& conn, const std::string& uuid,
                                        bool with_failures);

// Agents ordered by UUID after `page_token` (a UUID or empty), filtered by
// state (UNSPECIFIED: all).
Result<v1::ListAgentsResponse> ListAgents(db::Connection& conn, v1::AgentState state,
                                          uint32_t page_size, const std::string& page_token);

struct PolicyText {
  v1::PolicyKind kind = v1::POLICY_KIND_UNSPECIFIED;
  std::string body;  // validated JSON; empty: detach this kind
};

struct EnrolInput {
  std::string uuid;
  std::vector<PolicyText> policies;  // PUT: all three kinds; PATCH: the given ones
  uint32_t interval_seconds = 0;     // PATCH: 0 = unchanged
  double grace_factor = 0;           // 0 = default (3) / unchanged
  int32_t partition = 0;
  std::string actor;      // created_by of the policy rows
  std::string ek_sha256;  // PUT: lower-case hex pin of the registered EK; empty: none
};

// PUT enrolment: creates or replaces the enrolment; a FAILED agent goes back
// to ENROLLED. conflict when the registration is not active or its EK's
// SHA-256 is not the pinned one.
Result<void> Enrol(db::Connection& conn, const EnrolInput& in);
// PATCH policies: new versions of the given kinds; not_found when the agent
// is not enrolled.
Result<void> UpdatePolicies(db::Connection& conn, const EnrolInput& in);
// DELETE: registration, enrolment and per-agent policies; not_found when unknown.
Result<void> RemoveAgent(db::Connection& conn, const std::string& uuid);

struct CleanupCounts {
  int64_t expired_pending = 0;  // pending registrations deleted
  int64_t expired_offers = 0;   // re-proof offers of active agents cleared
};
Result<CleanupCounts> CleanupExpired(db::Connection& conn);

// SELECT 1 (readiness).
Result<void> Ping(db::Connection& conn);

}  // namespace attest::registrar
