#include "registrar/store.h"

#include <openssl/crypto.h>

#include <google/protobuf/util/time_util.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>

#include "common/db/errors.h"
#include "registrar/errors.h"

namespace attest::registrar {
namespace {

namespace pb = google::protobuf;

// Column list and joins of an agent's status row (see StatusFromRow).
constexpr char kStatusSelect[] =
    "SELECT r.agent_id::text, r.state::text, extract(epoch FROM r.created_at)::float8, "
    "  e.state::text, extract(epoch FROM e.last_attestation_at)::float8, e.interval_seconds, "
    "  e.partition, e.ima_offset, e.sequence, pp.version, rp.version, mp.version, "
    "  encode(sha256(r.ek_public), 'hex') "
    "FROM registrations r LEFT JOIN enrolments e USING (agent_id) "
    "LEFT JOIN policies pp ON pp.policy_id = e.pcr_policy_id "
    "LEFT JOIN policies rp ON rp.policy_id = e.runtime_policy_id "
    "LEFT JOIN policies mp ON mp.policy_id = e.mb_policy_id "
    "WHERE NOT (r.state = 'pending' AND r.activation_expires_at <= now()) ";

void Prepare(pqxx::connection& c, const char* name, const std::string& sql) {
  c.prepare(name, sql);
}

pqxx::binarystring Bin(const Bytes& b) { return pqxx::binarystring(b.data(), b.size()); }

Bytes FromBin(const pqxx::field& f) {
  if (f.is_null()) return {};
  pqxx::binarystring bs(f);
  return Bytes(bs.data(), bs.data() + bs.size());
}

pb::Timestamp Ts(double epoch) {
  pb::Timestamp t;
  double secs = std::floor(epoch);
  t.set_seconds(static_cast<int64_t>(secs));
  t.set_nanos(static_cast<int32_t>((epoch - secs) * 1e9));
  return t;
}

// The database's errors as this module's: an unreachable database is a 503,
// a violated constraint a 400 (input the checks above let through), the rest
// a 500.
Error Translate(const Error& e) {
  if (e.code.category() == category()) return e;
  if (e.code == db::errc::connection_failed || e.code == db::errc::in_doubt ||
      e.code == db::errc::retryable) {
    return MakeError(errc::unavailable, e.ToString());
  }
  if (e.code == db::errc::constraint_violation) return MakeError(errc::bad_request, e.ToString());
  return MakeError(errc::internal, e.ToString());
}

// Runs fn(tx) -> Result<T> in one transaction (retried on serialization
// failures and deadlocks) and flattens the result.
template <typename T, typename F>
Result<T> Run(db::Connection& conn, std::string_view what, F&& fn) {
  for (int attempt = 0;; ++attempt) {
    auto r = conn.Transact(what, [&](pqxx::work& tx) { return fn(tx); });
    if (r.ok()) return std::move(r).value();
    if (r.error().code == db::errc::retryable && attempt < 3) continue;
    return Translate(r.error());
  }
}

v1::AgentState StateFromText(const std::string& s) {
  if (s == "ENROLLED") return v1::AGENT_STATE_ENROLLED;
  if (s == "PASS") return v1::AGENT_STATE_PASS;
  if (s == "FAILED") return v1::AGENT_STATE_FAILED;
  if (s == "OFFLINE") return v1::AGENT_STATE_OFFLINE;
  return v1::AGENT_STATE_UNSPECIFIED;
}

const char* KindText(v1::PolicyKind k) {
  switch (k) {
    case v1::POLICY_KIND_PCR:
      return "pcr";
    case v1::POLICY_KIND_RUNTIME:
      return "runtime";
    case v1::POLICY_KIND_MEASURED_BOOT:
      return "mb";
    default:
      return nullptr;
  }
}

v1::AgentStatus StatusFromRow(const pqxx::row& row) {
  v1::AgentStatus s;
  s.set_agent_uuid(row[0].as<std::string>());
  s.set_registered(true);
  s.set_active(row[1].as<std::string>() == "active");
  s.set_ek_sha256(row[12].as<std::string>());
  *s.mutable_registered_at() = Ts(row[2].as<double>());
  if (row[3].is_null()) {
    s.set_state(v1::AGENT_STATE_REGISTERED);
    return s;
  }
  s.set_state(StateFromText(row[3].as<std::string>()));
  if (!row[4].is_null()) *s.mutable_last_attestation() = Ts(row[4].as<double>());
  s.set_interval_seconds(row[5].as<uint32_t>());
  s.set_partition(row[6].as<int32_t>());
  s.set_ima_offset(row[7].as<uint64_t>());
  s.set_sequence(row[8].as<uint64_t>());
  auto* v = s.mutable_policy_versions();
  if (!row[9].is_null()) v->set_pcr(row[9].as<uint64_t>());
  if (!row[10].is_null()) v->set_runtime(row[10].as<uint64_t>());
  if (!row[11].is_null()) v->set_measured_boot(row[11].as<uint64_t>());
  return s;
}

// Inserts the next version of the agent's policy of that kind; its id.
int64_t InsertPolicy(pqxx::work& tx, const std::string& uuid, const PolicyText& p,
                     const std::string& actor) {
  auto r = tx.exec_prepared1("reg_policy_insert", KindText(p.kind), uuid, p.body, actor);
  return r[0].as<int64_t>();
}

}  // namespace

// A flat list of the registrar's SQL statements (long because the statements
// are, with no logic between them).
void PrepareStatements(pqxx::connection& c) {
  Prepare(c, "reg_lock",
          "SELECT ek_public, ak_public, state::text, "
          "  (activation_expires_at IS NOT NULL AND activation_expires_at <= now()) "
          "FROM registrations WHERE agent_id = $1::uuid FOR UPDATE");
  Prepare(c, "reg_insert",
          "INSERT INTO registrations (agent_id, ek_public, ek_cert, ak_public, ak_name, state, "
          "  activation_secret_sha256, activation_expires_at) "
          "VALUES ($1::uuid, $2::bytea, NULLIF($3::bytea, ''::bytea), $4::bytea, $5::bytea, "
          "  'pending', $6::bytea, now() + make_interval(secs => $7::bigint)) "
          "ON CONFLICT (agent_id) DO NOTHING "
          "RETURNING extract(epoch FROM activation_expires_at)::float8");
  Prepare(c, "reg_replace_pending",
          "UPDATE registrations SET ek_public = $2::bytea, ek_cert = NULLIF($3::bytea, ''::bytea), "
          "  ak_public = $4::bytea, ak_name = $5::bytea, state = 'pending', activated_at = NULL, "
          "  activation_secret_sha256 = $6::bytea, "
          "  activation_expires_at = now() + make_interval(secs => $7::bigint) "
          "WHERE agent_id = $1::uuid "
          "RETURNING extract(epoch FROM activation_expires_at)::float8");
  Prepare(c, "reg_refresh_active",
          "UPDATE registrations SET ek_cert = coalesce(NULLIF($2::bytea, ''::bytea), ek_cert), "
          "  activation_secret_sha256 = $3::bytea, "
          "  activation_expires_at = now() + make_interval(secs => $4::bigint) "
          "WHERE agent_id = $1::uuid "
          "RETURNING extract(epoch FROM activation_expires_at)::float8");
  Prepare(c, "reg_act_lock",
          "SELECT state::text, activation_secret_sha256, "
          "  (activation_expires_at IS NOT NULL AND activation_expires_at <= now()), "
          "  encode(sha256(ek_public), 'hex') "
          "FROM registrations WHERE agent_id = $1::uuid FOR UPDATE");
  Prepare(c, "reg_activate",
          "UPDATE registrations SET state = 'active', activated_at = coalesce(activated_at, now()) "
          "WHERE agent_id = $1::uuid");
  Prepare(c, "reg_status", std::string(kStatusSelect) + "AND r.agent_id = $1::uuid");
  Prepare(c, "reg_list",
          std::string(kStatusSelect) +
              "AND ($1::text = '' OR r.agent_id > NULLIF($1::text, '')::uuid) "
              "AND ($2::text = '' OR ($2::text = 'REGISTERED' AND e.agent_id IS NULL) "
              "     OR e.state::text = $2::text) "
              "ORDER BY r.agent_id LIMIT $3::int");
  Prepare(c, "reg_last_failures",
          "SELECT failures::text FROM attestation_history WHERE agent_id = $1::uuid "
          "ORDER BY attested_at DESC, sequence DESC LIMIT 1");
  Prepare(c, "reg_policy_insert",
          "INSERT INTO policies (kind, name, agent_id, version, body, created_by) "
          "SELECT $1::policy_kind, $2::text, $2::uuid, coalesce(max(version), 0) + 1, $3::jsonb, "
          "  NULLIF($4::text, '') "
          "FROM policies WHERE kind = $1::policy_kind AND name = $2::text "
          "RETURNING policy_id");
  Prepare(c, "reg_enrol",
          "INSERT INTO enrolments (agent_id, pcr_policy_id, runtime_policy_id, mb_policy_id, "
          "  interval_seconds, grace_factor, partition) "
          "VALUES ($1::uuid, NULLIF($2::bigint, 0), NULLIF($3::bigint, 0), NULLIF($4::bigint, 0), "
          "  $5::int, $6::numeric, $7::int) "
          "ON CONFLICT (agent_id) DO UPDATE SET pcr_policy_id = EXCLUDED.pcr_policy_id, "
          "  runtime_policy_id = EXCLUDED.runtime_policy_id, mb_policy_id = EXCLUDED.mb_policy_id, "
          "  interval_seconds = EXCLUDED.interval_seconds, grace_factor = EXCLUDED.grace_factor, "
          "  partition = EXCLUDED.partition, boot_log_requested = true, ima_catch_up_since = 0, "
          // Asks for the boot log afresh (issue 17.2): judged again, rounds
          // without it counted from zero.
          "  boot_log_accepted = false, uefi_log_withheld = 0, failed_reset_count = NULL, "
          // The operator vouches for the TPM as it is now: a restored or
          // cleared TPM (quote.tpm_rollback) is judged from its next quote on.
          "  quote_clock = NULL, quote_reset_count = NULL, quote_restart_count = NULL, "
          "  quote_received_us = 0, "
          "  state = CASE WHEN enrolments.state = 'FAILED' THEN 'ENROLLED'::agent_state "
          "    ELSE enrolments.state END, "
          "  state_reason = CASE WHEN enrolments.state = 'FAILED' THEN 're-enrolled' "
          "    ELSE enrolments.state_reason END");
  Prepare(c, "reg_enrol_lock",
          "SELECT e.pcr_policy_id, e.runtime_policy_id, e.mb_policy_id "
          "FROM enrolments e WHERE e.agent_id = $1::uuid FOR UPDATE");
  Prepare(c, "reg_update_policies",
          "UPDATE enrolments SET pcr_policy_id = NULLIF($2::bigint, 0), "
          "  runtime_policy_id = NULLIF($3::bigint, 0), mb_policy_id = NULLIF($4::bigint, 0), "
          "  interval_seconds = coalesce(NULLIF($5::int, 0), interval_seconds), "
          "  boot_log_requested = boot_log_requested OR $6::bool "
          "WHERE agent_id = $1::uuid");
  Prepare(c, "reg_delete", "DELETE FROM registrations WHERE agent_id = $1::uuid");
  Prepare(c, "reg_cleanup_pending",
          "DELETE FROM registrations WHERE state = 'pending' AND activation_expires_at <= now()");
  Prepare(c, "reg_cleanup_offers",
          "UPDATE registrations SET activation_secret_sha256 = NULL, activation_expires_at = NULL "
          "WHERE state = 'active' AND activation_expires_at <= now()");
  Prepare(c, "reg_ping", "SELECT 1");
}

Result<RegisterOutcome> StoreRegistration(db::Connection& conn, const NewRegistration& r) {
  return Run<RegisterOutcome>(conn, "registering", [&](pqxx::work& tx) -> Result<RegisterOutcome> {
    auto existing = tx.exec_prepared("reg_lock", r.uuid);
    RegisterOutcome out;
    if (existing.empty()) {
      auto ins =
          tx.exec_prepared("reg_insert", r.uuid, Bin(r.ek_public), Bin(r.ek_cert), Bin(r.ak_public),
                           Bin(r.ak_name), Bin(r.tag_sha256), r.ttl_seconds);
      if (ins.empty()) {
        // Another replica inserted it since our SELECT: retry, which locks it.
        throw pqxx::deadlock_detected("concurrent registration of " + r.uuid);
      }
      out.expires_at = ins[0][0].as<double>();
      return out;
    }
    const auto& row = existing[0];
    const bool active = row[2].as<std::string>() == "active";
    const bool expired = row[3].as<bool>();
    const bool same_ek = FromBin(row[0]) == r.ek_public;
    const bool same_ak = FromBin(row[1]) == r.ak_public;
    if (!active && !expired && same_ek && !same_ak) {
      // The EK is public: anyone can re-send it with their own AK. Replacing
      // the pending AK would void the real agent's offer, so whoever knows an
      // EK could keep its agent from ever activating. The offer holds until
      // it expires.
      return MakeError(errc::conflict,
                       "agent " + r.uuid +
                           " has a pending registration with a different AK; it can be replaced "
                           "once its activation offer expires or an operator removes it");
    }
    if (!active && (expired || same_ek)) {
      // An unproven (pending) registration: the same identity re-sent gets a
      // fresh offer; once expired it does not hold the UUID any more.
      auto up =
          tx.exec_prepared("reg_replace_pending", r.uuid, Bin(r.ek_public), Bin(r.ek_cert),
                           Bin(r.ak_public), Bin(r.ak_name), Bin(r.tag_sha256), r.ttl_seconds);
      out.expires_at = up[0][0].as<double>();
      return out;
    }
    if (!same_ek) {
      return MakeError(errc::conflict,
                       "agent " + r.uuid +
                           " is registered with a different EK; an operator must remove it "
                           "before another TPM can use this UUID");
    }
    if (!same_ak) {
      return MakeError(errc::conflict,
                       "agent " + r.uuid +
                           " is active with a different AK; an operator must remove it before "
                           "the agent can register a new AK");
    }
    auto up = tx.exec_prepared("reg_refresh_active", r.uuid, Bin(r.ek_cert), Bin(r.tag_sha256),
                               r.ttl_seconds);
    out.already_active = true;
    out.expires_at = up[0][0].as<double>();
    return out;
  });
}

Result<void> ActivateRegistration(db::Connection& conn, const std::string& uuid,
                                  const Bytes& tag_sha256) {
  auto r = Run<bool>(conn, "activating", [&](pqxx::work& tx) -> Result<bool> {
    auto rows = tx.exec_prepared("reg_act_lock", uuid);
    if (rows.empty()) return MakeError(errc::not_found, "agent " + uuid + " is not registered");
    const auto& row = rows[0];
    Bytes expected = FromBin(row[1]);
    if (expected.size() != 32) {
      return MakeError(errc::forbidden,
                       "agent " + uuid + " has no activation pending; register first");
    }
    if (row[2].as<bool>()) {
      return MakeError(errc::gone,
                       "the activation offer for agent " + uuid + " expired; register again");
    }
    if (tag_sha256.size() != 32 || CRYPTO_memcmp(expected.data(), tag_sha256.data(), 32) != 0) {
      return MakeError(errc::forbidden, "auth_tag does not prove the activation secret");
    }
    tx.exec_prepared0("reg_activate", uuid);
    return true;
  });
  if (!r) return r.error();
  return Ok();
}

Result<v1::AgentStatus> LoadAgentStatus(db::Connection& conn, const std::string& uuid,
                                        bool with_failures) {
  return Run<v1::AgentStatus>(
      conn, "loading agent status", [&](pqxx::work& tx) -> Result<v1::AgentStatus> {
        auto rows = tx.exec_prepared("reg_status", uuid);
        if (rows.empty()) return MakeError(errc::not_found, "agent " + uuid + " is not registered");
        v1::AgentStatus s = StatusFromRow(rows[0]);
        if (with_failures && s.state() != v1::AGENT_STATE_REGISTERED) {
          auto f = tx.exec_prepared("reg_last_failures", uuid);
          if (!f.empty() && !f[0][0].is_null()) {
            auto j = nlohmann::json::parse(f[0][0].as<std::string>(), nullptr, false);
            if (j.is_array()) {
              for (const auto& item : j) {
                if (!item.is_object()) continue;
                auto* out = s.add_last_failures();
                if (auto it = item.find("event_id"); it != item.end() && it->is_string()) {
                  out->set_event_id(it->get<std::string>());
                }
                if (auto it = item.find("context"); it != item.end()) out->set_context(it->dump());
              }
            }
          }
        }
        return s;
      });
}

Result<v1::ListAgentsResponse> ListAgents(db::Connection& conn, v1::AgentState state,
                                          uint32_t page_size, const std::string& page_token) {
  std::string filter;
  if (state != v1::AGENT_STATE_UNSPECIFIED) {
    filter = v1::AgentState_Name(state).substr(std::string("AGENT_STATE_").size());
  }
  return Run<v1::ListAgentsResponse>(
      conn, "listing agents", [&](pqxx::work& tx) -> Result<v1::ListAgentsResponse> {
        auto rows =
            tx.exec_prepared("reg_list", page_token, filter, static_cast<int>(page_size) + 1);
        v1::ListAgentsResponse out;
        for (size_t i = 0; i < rows.size() && i < page_size; ++i) {
          *out.add_agents() = StatusFromRow(rows[i]);
        }
        if (rows.size() > page_size && out.agents_size() > 0) {
          out.set_next_page_token(out.agents(out.agents_size() - 1).agent_uuid());
        }
        return out;
      });
}

Result<void> Enrol(db::Connection& conn, const EnrolInput& in) {
  auto r = Run<bool>(conn, "enrolling", [&](pqxx::work& tx) -> Result<bool> {
    auto reg = tx.exec_prepared("reg_act_lock", in.uuid);
    if (reg.empty()) return MakeError(errc::not_found, "agent " + in.uuid + " is not registered");
    if (reg[0][0].as<std::string>() != "active") {
      return MakeError(errc::conflict, "agent " + in.uuid +
                                           " has not activated its registration; only agents "
                                           "that proved their TPM can be enrolled");
    }
    if (!in.ek_sha256.empty() && reg[0][3].as<std::string>() != in.ek_sha256) {
      return MakeError(errc::conflict, "agent " + in.uuid + " registered the EK with SHA-256 " +
                                           reg[0][3].as<std::string>() + ", not the pinned " +
                                           in.ek_sha256);
    }
    int64_t ids[3] = {0, 0, 0};  // pcr, runtime, mb
    for (const auto& p : in.policies) {
      if (p.body.empty()) continue;
      int slot = p.kind == v1::POLICY_KIND_PCR ? 0 : p.kind == v1::POLICY_KIND_RUNTIME ? 1 : 2;
      ids[slot] = InsertPolicy(tx, in.uuid, p, in.actor);
    }
    char grace[32];
    std::snprintf(grace, sizeof grace, "%.2f", in.grace_factor > 0 ? in.grace_factor : 3.0);
    tx.exec_prepared0("reg_enrol", in.uuid, ids[0], ids[1], ids[2],
                      static_cast<int64_t>(in.interval_seconds), std::string(grace), in.partition);
    return true;
  });
  if (!r) return r.error();
  return Ok();
}

Result<void> UpdatePolicies(db::Connection& conn, const EnrolInput& in) {
  auto r = Run<bool>(conn, "updating policies", [&](pqxx::work& tx) -> Result<bool> {
    auto rows = tx.exec_prepared("reg_enrol_lock", in.uuid);
    if (rows.empty()) return MakeError(errc::not_found, "agent " + in.uuid + " is not enrolled");
    int64_t ids[3];
    for (int i = 0; i < 3; ++i) ids[i] = rows[0][i].is_null() ? 0 : rows[0][i].as<int64_t>();
    bool mb_changed = false;
    for (const auto& p : in.policies) {
      int slot = p.kind == v1::POLICY_KIND_PCR ? 0 : p.kind == v1::POLICY_KIND_RUNTIME ? 1 : 2;
      ids[slot] = p.body.empty() ? 0 : InsertPolicy(tx, in.uuid, p, in.actor);
      if (slot == 2) mb_changed = true;
    }
    tx.exec_prepared0("reg_update_policies", in.uuid, ids[0], ids[1], ids[2],
                      static_cast<int64_t>(in.interval_seconds), mb_changed);
    return true;
  });
  if (!r) return r.error();
  return Ok();
}

Result<void> RemoveAgent(db::Connection& conn, const std::string& uuid) {
  auto r = Run<bool>(conn, "removing agent", [&](pqxx::work& tx) -> Result<bool> {
    auto res = tx.exec_prepared("reg_delete", uuid);
    if (res.affected_rows() == 0) {
      return MakeError(errc::not_found, "agent " + uuid + " is not registered");
    }
    return true;
  });
  if (!r) return r.error();
  return Ok();
}

Result<CleanupCounts> CleanupExpired(db::Connection& conn) {
  return Run<CleanupCounts>(
      conn, "cleaning up expired registrations", [&](pqxx::work& tx) -> Result<CleanupCounts> {
        CleanupCounts c;
        c.expired_pending = tx.exec_prepared("reg_cleanup_pending").affected_rows();
        c.expired_offers = tx.exec_prepared("reg_cleanup_offers").affected_rows();
        return c;
      });
}

Result<void> Ping(db::Connection& conn) {
  auto r = Run<bool>(conn, "ping", [&](pqxx::work& tx) -> Result<bool> {
    tx.exec_prepared("reg_ping");
    return true;
  });
  if (!r) return r.error();
  return Ok();
}

}  // namespace attest::registrar
