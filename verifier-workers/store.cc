#include "verifier-workers/store.h"

#include <nlohmann/json.hpp>

#include "common/db/connection.h"
#include "verifier-workers/errors.h"

namespace attest::worker {
namespace {

using nlohmann::json;

Error DbError(const Error& e) { return MakeError(errc::database, e.message); }

std::string Hex(const std::string& bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

json HexOrNull(const tpm::Bytes& b) {
  if (b.empty()) return nullptr;
  return tpm::ToHex(b);
}

template <typename T>
json OrNull(const std::optional<T>& v) {
  if (!v) return nullptr;
  return *v;
}

std::string BytesOf(const pqxx::field& f) {
  if (f.is_null()) return {};
  pqxx::binarystring b(f);
  return b.str();
}

}  // namespace

std::string TextArray(const std::vector<std::string>& items) {
  // Only UUIDs and identifiers go through here: no quoting needed.
  std::string s = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) s += ",";
    s += items[i];
  }
  return s + "}";
}

void PrepareStoreStatements(pqxx::connection_base& c) {
  const std::string select =
      "SELECT e.agent_id::text, r.state::text, r.ak_public, e.state::text, "
      "  coalesce(e.pcr_policy_id, 0), coalesce(e.runtime_policy_id, 0), "
      "  coalesce(e.mb_policy_id, 0), e.partition, e.sequence, e.boot_log_requested, "
      "  e.ima_offset, e.ima_pcr10, e.ima_bank, e.quote_clock, e.quote_reset_count, "
      "  e.quote_restart_count, extract(epoch FROM e.boot_time)::bigint, e.boot_log_accepted, "
      "  e.boot_pcr_digest, extract(epoch FROM e.last_attestation_at)::bigint "
      "FROM enrolments e JOIN registrations r ON r.agent_id = e.agent_id "
      "WHERE e.agent_id = ANY($1::uuid[]) ";
  c.prepare("w_agents", select);
  c.prepare("w_agents_lock", select + "FOR UPDATE OF e");
  c.prepare("w_policies",
            "SELECT policy_id, kind::text, version, body::text FROM policies "
            "WHERE policy_id = ANY($1::bigint[])");
  c.prepare(
      "w_update",
      "UPDATE enrolments e SET state = r.state::agent_state, "
      "  state_reason = coalesce(r.state_reason, e.state_reason), ima_offset = r.ima_offset, "
      "  ima_pcr10 = decode(r.ima_pcr10, 'hex'), ima_bank = r.ima_bank, "
      "  quote_clock = r.quote_clock, quote_reset_count = r.quote_reset_count, "
      "  quote_restart_count = r.quote_restart_count, boot_time = to_timestamp(r.boot_time), "
      "  boot_log_requested = r.boot_log_requested, boot_log_accepted = r.boot_log_accepted, "
      "  boot_pcr_digest = decode(r.boot_pcr_digest, 'hex'), sequence = r.sequence, "
      "  last_attestation_at = CASE WHEN r.attested THEN now() ELSE e.last_attestation_at END "
      "FROM jsonb_to_recordset($1::jsonb) AS r(agent_id uuid, state text, state_reason text, "
      "  ima_offset bigint, ima_pcr10 text, ima_bank int, quote_clock bigint, "
      "  quote_reset_count bigint, quote_restart_count bigint, boot_time double precision, "
      "  boot_log_requested bool, boot_log_accepted bool, boot_pcr_digest text, "
      "  sequence bigint, attested bool) "
      "WHERE e.agent_id = r.agent_id");
  c.prepare(
      "w_history",
      "INSERT INTO attestation_history (agent_id, attested_at, sequence, result, state, "
      "  failures, pcr_policy_id, runtime_policy_id, mb_policy_id, quote_clock, "
      "  quote_reset_count, quote_restart_count, ima_entries, kafka_partition, kafka_offset, "
      "  verify_micros, worker) "
      "SELECT r.agent_id, now(), r.sequence, r.result, r.state::agent_state, r.failures, "
      "  nullif(r.pcr, 0), nullif(r.runtime, 0), nullif(r.mb, 0), r.quote_clock, "
      "  r.quote_reset_count, r.quote_restart_count, r.ima_entries, r.kafka_partition, "
      "  r.kafka_offset, r.verify_micros, $2 "
      "FROM jsonb_to_recordset($1::jsonb) AS r(agent_id uuid, sequence bigint, result text, "
      "  state text, failures jsonb, pcr bigint, runtime bigint, mb bigint, quote_clock bigint, "
      "  quote_reset_count bigint, quote_restart_count bigint, ima_entries int, "
      "  kafka_partition int, kafka_offset bigint, verify_micros bigint)");
  c.prepare("w_outbox_ids", "SELECT nextval('outbox_id_seq') FROM generate_series(1, $1::int)");
  c.prepare("w_outbox",
            "INSERT INTO outbox (id, topic, key, headers, payload, partition) "
            "SELECT r.id, r.topic, convert_to(r.key, 'UTF8'), r.headers, decode(r.payload, 'hex'), "
            "  r.partition "
            "FROM jsonb_to_recordset($1::jsonb) AS r(id bigint, topic text, key text, "
            "  headers jsonb, payload text, partition int)");
  c.prepare("w_overdue",
            "SELECT agent_id::text FROM enrolments "
            "WHERE partition = ANY($1::int[]) AND state IN ('ENROLLED', 'PASS') "
            "  AND liveness_deadline < now() "
            "ORDER BY liveness_deadline LIMIT $2 FOR UPDATE SKIP LOCKED");
  c.prepare("w_outbox_load",
            "SELECT id, topic, convert_from(key, 'UTF8'), headers->>'content-type', payload, "
            "  partition FROM outbox WHERE partition = $1 AND id > $2 ORDER BY id LIMIT $3");
  c.prepare("w_outbox_delete", "DELETE FROM outbox WHERE id = ANY($1::bigint[])");
  c.prepare("w_outbox_depth", "SELECT count(*) FROM outbox WHERE partition = ANY($1::int[])");
}

Result<std::map<std::string, AgentRow>> LoadAgents(pqxx::transaction_base& tx,
                                                   const std::vector<std::string>& ids, bool lock) {
  auto r = db::Guard("load agents", [&] {
    std::map<std::string, AgentRow> out;
    if (ids.empty()) return out;
    auto rows = tx.exec_prepared(lock ? "w_agents_lock" : "w_agents", TextArray(ids));
    for (const auto& f : rows) {
      AgentRow a;
      a.agent_id = f[0].as<std::string>();
      a.registration_active = f[1].as<std::string>() == "active";
      a.ak_public = BytesOf(f[2]);
      a.state = f[3].as<std::string>();
      a.pcr_policy_id = f[4].as<int64_t>();
      a.runtime_policy_id = f[5].as<int64_t>();
      a.mb_policy_id = f[6].as<int64_t>();
      a.partition = f[7].as<int32_t>();
      a.sequence = f[8].as<int64_t>();
      a.boot_log_requested = f[9].as<bool>();
      auto& s = a.vstate;
      s.ima_next_offset = f[10].as<uint64_t>();
      std::string pcr = BytesOf(f[11]);
      s.ima_pcr.assign(pcr.begin(), pcr.end());
      s.ima_bank = static_cast<TPMI_ALG_HASH>(f[12].as<int>());
      if (!f[13].is_null()) {
        verify::ClockState c;
        c.clock = f[13].as<uint64_t>();
        c.reset_count = f[14].is_null() ? 0 : f[14].as<uint32_t>();
        c.restart_count = f[15].is_null() ? 0 : f[15].as<uint32_t>();
        s.clock = c;
      }
      if (!f[16].is_null()) s.boot_time = f[16].as<int64_t>();
      s.boot_log_accepted = f[17].as<bool>();
      std::string digest = BytesOf(f[18]);
      s.boot_pcr_digest.assign(digest.begin(), digest.end());
      if (!f[19].is_null()) s.last_verified_at = f[19].as<int64_t>();
      out.emplace(a.agent_id, std::move(a));
    }
    return out;
  });
  if (!r) return DbError(r.error());
  return r;
}

Result<std::vector<PolicyRow>> LoadPolicies(pqxx::transaction_base& tx,
                                            const std::vector<int64_t>& ids) {
  auto r = db::Guard("load policies", [&] {
    std::vector<PolicyRow> out;
    if (ids.empty()) return out;
    for (const auto& f : tx.exec_prepared("w_policies", IntArray(ids))) {
      out.push_back(PolicyRow{f[0].as<int64_t>(), f[1].as<std::string>(), f[2].as<int64_t>(),
                              f[3].as<std::string>()});
    }
    return out;
  });
  if (!r) return DbError(r.error());
  return r;
}

Result<std::vector<int64_t>> WriteResults(pqxx::transaction_base& tx,
                                          const std::vector<const AgentRow*>& rows,
                                          const std::vector<const HistoryRecord*>& history,
                                          const std::vector<const OutboxRecord*>& outbox,
                                          const std::string& worker_id) {
  auto r = db::Guard("write batch", [&] {
    if (!rows.empty()) {
      json arr = json::array();
      for (const AgentRow* a : rows) {
        const auto& s = a->vstate;
        json j = {{"agent_id", a->agent_id},
                  {"state", a->state},
                  {"state_reason", OrNull(a->state_reason)},
                  {"ima_offset", s.ima_next_offset},
                  {"ima_pcr10", HexOrNull(s.ima_pcr)},
                  {"ima_bank", static_cast<int>(s.ima_bank)},
                  {"quote_clock", nullptr},
                  {"quote_reset_count", nullptr},
                  {"quote_restart_count", nullptr},
                  {"boot_time", OrNull(s.boot_time)},
                  {"boot_log_requested", a->boot_log_requested},
                  {"boot_log_accepted", s.boot_log_accepted},
                  {"boot_pcr_digest", HexOrNull(s.boot_pcr_digest)},
                  {"sequence", a->sequence},
                  {"attested", a->attested}};
        if (s.clock) {
          j["quote_clock"] = s.clock->clock;
          j["quote_reset_count"] = s.clock->reset_count;
          j["quote_restart_count"] = s.clock->restart_count;
        }
        arr.push_back(std::move(j));
      }
      tx.exec_prepared0("w_update", arr.dump());
    }
    if (!history.empty()) {
      json arr = json::array();
      for (const HistoryRecord* h : history) {
        arr.push_back({{"agent_id", h->agent_id},
                       {"sequence", h->sequence},
                       {"result", h->result},
                       {"state", h->state},
                       {"failures", json::parse(h->failures_json)},
                       {"pcr", h->pcr_policy_id},
                       {"runtime", h->runtime_policy_id},
                       {"mb", h->mb_policy_id},
                       {"quote_clock", OrNull(h->quote_clock)},
                       {"quote_reset_count", OrNull(h->quote_reset_count)},
                       {"quote_restart_count", OrNull(h->quote_restart_count)},
                       {"ima_entries", OrNull(h->ima_entries)},
                       {"kafka_partition", OrNull(h->kafka_partition)},
                       {"kafka_offset", OrNull(h->kafka_offset)},
                       {"verify_micros", OrNull(h->verify_micros)}});
      }
      tx.exec_prepared0("w_history", arr.dump(), worker_id);
    }
    std::vector<int64_t> ids;
    if (!outbox.empty()) {
      for (const auto& f : tx.exec_prepared("w_outbox_ids", static_cast<int>(outbox.size()))) {
        ids.push_back(f[0].as<int64_t>());
      }
      if (ids.size() != outbox.size()) throw std::runtime_error("outbox id reservation short");
      json arr = json::array();
      for (size_t i = 0; i < outbox.size(); ++i) {
        const OutboxRecord* o = outbox[i];
        arr.push_back({{"id", ids[i]},
                       {"topic", o->topic},
                       {"key", o->key},
                       {"headers", {{"content-type", o->content_type}}},
                       {"payload", Hex(o->payload)},
                       {"partition", o->partition}});
      }
      tx.exec_prepared0("w_outbox", arr.dump());
    }
    return ids;
  });
  if (!r) return DbError(r.error());
  return r;
}

Result<std::vector<std::string>> LockOverdueAgents(pqxx::transaction_base& tx,
                                                   const std::vector<int32_t>& partitions,
                                                   int limit) {
  auto r = db::Guard("overdue agents", [&] {
    std::vector<std::string> out;
    for (const auto& f : tx.exec_prepared("w_overdue", IntArray(partitions), limit)) {
      out.push_back(f[0].as<std::string>());
    }
    return out;
  });
  if (!r) return DbError(r.error());
  return r;
}

Result<std::vector<StoredOutbox>> LoadOutbox(pqxx::transaction_base& tx, int32_t partition,
                                             int64_t after_id, int limit) {
  auto r = db::Guard("load outbox", [&] {
    std::vector<StoredOutbox> out;
    for (const auto& f : tx.exec_prepared("w_outbox_load", partition, after_id, limit)) {
      StoredOutbox s;
      s.id = f[0].as<int64_t>();
      s.record.topic = f[1].as<std::string>();
      s.record.key = f[2].is_null() ? "" : f[2].as<std::string>();
      s.record.content_type = f[3].is_null() ? "" : f[3].as<std::string>();
      s.record.payload = BytesOf(f[4]);
      s.record.partition = f[5].as<int32_t>();
      out.push_back(std::move(s));
    }
    return out;
  });
  if (!r) return DbError(r.error());
  return r;
}

Result<void> DeleteOutbox(pqxx::transaction_base& tx, const std::vector<int64_t>& ids) {
  auto r = db::Guard("delete outbox", [&] { tx.exec_prepared0("w_outbox_delete", IntArray(ids)); });
  if (!r) return DbError(r.error());
  return Ok();
}

Result<int64_t> OutboxDepth(pqxx::transaction_base& tx, const std::vector<int32_t>& partitions) {
  auto r = db::Guard("outbox depth", [&] {
    return tx.exec_prepared1("w_outbox_depth", IntArray(partitions))[0].as<int64_t>();
  });
  if (!r) return DbError(r.error());
  return r;
}

}  // namespace attest::worker
