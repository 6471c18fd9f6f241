#include "verifier-workers/store.h"

#include <charconv>
#include <chrono>

#include "common/db/connection.h"
#include "verifier-workers/errors.h"

namespace attest::worker {
namespace {

Error DbError(const Error& e) { return MakeError(errc::database, e.message); }

std::string BytesOf(const pqxx::field& f) {
  if (f.is_null()) return {};
  pqxx::binarystring b(f);
  return b.str();
}

// A PostgreSQL array literal built element by element (text format): the
// batch writes pass one array per column to unnest(), which is cheaper on
// both sides than a JSON document per row. Sized up front for `n` elements of
// about `width` characters: regrowing a 600 KB payload array was a visible
// share of the worker's copying.
class ArrayLiteral {
 public:
  explicit ArrayLiteral(size_t n = 0, size_t width = 8) { s_.reserve(2 + n * (width + 1)); }
  ArrayLiteral& Null() {
    Sep();
    s_ += "NULL";
    return *this;
  }
  ArrayLiteral& Int(int64_t v) {
    Sep();
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    s_.append(buf, end);
    return *this;
  }
  template <typename T>
  ArrayLiteral& IntOrNull(const std::optional<T>& v) {
    return v ? Int(static_cast<int64_t>(*v)) : Null();
  }
  ArrayLiteral& Bool(bool v) {
    Sep();
    s_ += v ? 't' : 'f';
    return *this;
  }
  ArrayLiteral& Text(std::string_view v) {
    Sep();
    s_ += '"';
    // Runs without '"' or '\\' go in whole (UUIDs, states, '[]').
    while (!v.empty()) {
      const size_t special = v.find_first_of("\"\\");
      s_.append(v.substr(0, special));
      if (special == std::string_view::npos) break;
      s_ += '\\';
      s_ += v[special];
      v.remove_prefix(special + 1);
    }
    s_ += '"';
    return *this;
  }
  // bytea in hex input format; empty is NULL.
  ArrayLiteral& BytesOrNull(std::string_view v) { return v.empty() ? Null() : Bytes(v); }
  ArrayLiteral& Bytes(std::string_view v) {
    static constexpr char kDigits[] = "0123456789abcdef";
    Sep();
    s_ += "\"\\\\x";
    const size_t at = s_.size();
    s_.resize(at + 2 * v.size());
    char* out = s_.data() + at;
    for (unsigned char c : v) {
      *out++ = kDigits[c >> 4];
      *out++ = kDigits[c & 15];
    }
    s_ += '"';
    return *this;
  }
  // Once: the literal moves out.
  std::string Done() {
    s_ += '}';
    return std::move(s_);
  }

 private:
  void Sep() {
    if (!first_) s_ += ',';
    first_ = false;
  }
  std::string s_ = "{";
  bool first_ = true;
};

int64_t Micros(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

std::string_view AsText(const tpm::Bytes& b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
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
  // Every statement here is meant to reach rows by key. With custom plans
  // the planner sees a 2,000-element batch array and picks a hash join over
  // a full scan of enrolments (17 ms per batch at 100k agents, growing with
  // the fleet); generic plans keep the index lookups and skip re-planning.
  {
    pqxx::nontransaction tx(c);
    tx.exec0("SET plan_cache_mode = force_generic_plan");
  }
  const std::string select =
      "SELECT e.agent_id::text, r.state::text, CASE WHEN k.have_ak THEN NULL ELSE r.ak_public END, "
      "  e.state::text, "
      "  coalesce(e.pcr_policy_id, 0), coalesce(e.runtime_policy_id, 0), "
      "  coalesce(e.mb_policy_id, 0), e.partition, e.sequence, e.boot_log_requested, "
      "  e.ima_offset, e.ima_pcr10, e.ima_bank, e.quote_clock, e.quote_reset_count, "
      "  e.quote_restart_count, extract(epoch FROM e.boot_time)::bigint, e.boot_log_accepted, "
      "  e.boot_pcr_digest, extract(epoch FROM e.last_attestation_at)::bigint, r.ak_name, "
      "  (extract(epoch FROM e.last_attestation_at) * 1000000)::bigint, e.ima_catch_up_since, "
      "  e.uefi_log_withheld, e.boot_log_policy_id, e.failed_reset_count, e.quote_received_us "
      // Driven by unnest so the planner looks agents up by primary key (it
      // planned `agent_id = ANY($1)` as a full scan of enrolments + hash join).
      "FROM unnest($1::uuid[], $2::bool[]) AS k(agent_id, have_ak) "
      "JOIN enrolments e ON e.agent_id = k.agent_id "
      "JOIN registrations r ON r.agent_id = e.agent_id ";
  c.prepare("w_agents", select);
  c.prepare("w_agents_lock", select + "FOR UPDATE OF e");
  c.prepare(
      "w_ak_publics",
      "SELECT r.agent_id::text, r.ak_public, r.ak_name FROM unnest($1::uuid[]) AS k(agent_id) "
      "JOIN registrations r ON r.agent_id = k.agent_id");
  c.prepare("w_policies",
            "SELECT policy_id, kind::text, version, body::text FROM policies "
            "WHERE policy_id = ANY($1::bigint[])");
  c.prepare(
      "w_update",
      "UPDATE enrolments e SET state = r.state::agent_state, "
      "  state_reason = coalesce(r.state_reason, e.state_reason), ima_offset = r.ima_offset, "
      "  ima_pcr10 = r.ima_pcr10, ima_bank = r.ima_bank, "
      "  quote_clock = r.quote_clock, quote_reset_count = r.quote_reset_count, "
      "  quote_restart_count = r.quote_restart_count, "
      "  boot_time = to_timestamp(r.boot_time::double precision), "
      "  boot_log_requested = r.boot_log_requested, boot_log_accepted = r.boot_log_accepted, "
      "  boot_pcr_digest = r.boot_pcr_digest, sequence = r.sequence, "
      "  ima_catch_up_since = r.ima_catch_up_since, uefi_log_withheld = r.uefi_log_withheld, "
      "  boot_log_policy_id = r.boot_log_policy_id, failed_reset_count = r.failed_reset_count, "
      "  quote_received_us = r.quote_received_us, "
      // Liveness counts from when the gateway received the evidence (r.at),
      // not from now(): evidence that waited in a Kafka backlog must not
      // leave its agent overdue. greatest() keeps it from moving backwards
      // (evidence reordered between gateways).
      "  last_attestation_at = CASE WHEN r.attested THEN greatest(e.last_attestation_at, r.at) "
      "    ELSE e.last_attestation_at END, "
      // Setting updated_at opts out of the row trigger (migration 016), so
      // this keeps what it would: deadline, updated_at and state_changed_at.
      // The stored deadline is a lower bound of the real one (the new last
      // attestation + interval x grace); an attestation keeps it while it is
      // at least half the grace window past the new last attestation and not
      // past the new real deadline, so the update can be HOT.
      "  liveness_deadline = CASE "
      "    WHEN NOT r.attested THEN enrolment_liveness_due(e) "
      "    WHEN e.liveness_deadline >= greatest(e.last_attestation_at, r.at) + "
      "      make_interval(secs => e.interval_seconds * e.grace_factor / 2) "
      "      AND e.liveness_deadline <= greatest(e.last_attestation_at, r.at) + "
      "      make_interval(secs => e.interval_seconds * e.grace_factor) "
      "      THEN e.liveness_deadline "
      "    ELSE greatest(e.last_attestation_at, r.at) + "
      "      make_interval(secs => e.interval_seconds * e.grace_factor) END, "
      "  updated_at = now(), "
      "  state_changed_at = CASE WHEN r.state::agent_state = e.state THEN e.state_changed_at "
      "    ELSE now() END "
      // attested_us: microseconds since the epoch; NULL (no time given)
      // falls back to now().
      "FROM (SELECT u.*, coalesce(timestamptz 'epoch' + u.attested_us * interval '1 microsecond', "
      "  now()) AS at "
      "  FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::bytea[], $6::int[], "
      "  $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bool[], $12::bool[], "
      "  $13::bytea[], $14::bigint[], $15::bool[], $16::bigint[], $17::bigint[], $18::int[], "
      "  $19::bigint[], $20::bigint[], $21::bigint[]) "
      "  AS u(agent_id, state, state_reason, ima_offset, ima_pcr10, ima_bank, quote_clock, "
      "  quote_reset_count, quote_restart_count, boot_time, boot_log_requested, "
      "  boot_log_accepted, boot_pcr_digest, sequence, attested, attested_us, "
      "  ima_catch_up_since, uefi_log_withheld, boot_log_policy_id, failed_reset_count, "
      "  quote_received_us)) AS r "
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
      "  r.kafka_offset, r.verify_micros, $16 "
      "FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::jsonb[], $6::bigint[], "
      "  $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::int[], "
      "  $13::int[], $14::bigint[], $15::bigint[]) "
      "  AS r(agent_id, sequence, result, state, failures, pcr, runtime, mb, quote_clock, "
      "  quote_reset_count, quote_restart_count, ima_entries, kafka_partition, kafka_offset, "
      "  verify_micros)");
  c.prepare("w_outbox_ids", "SELECT nextval('outbox_id_seq') FROM generate_series(1, $1::int)");
  c.prepare("w_outbox",
            "INSERT INTO outbox (id, topic, key, headers, payload, partition) "
            "SELECT r.id, r.topic, convert_to(r.key, 'UTF8'), "
            "  jsonb_build_object('content-type', r.content_type), r.payload, r.partition "
            "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bytea[], "
            "  $6::int[]) AS r(id, topic, key, content_type, payload, partition)");
  // Candidates by the stored deadline (a lower bound), then the real one,
  // both against the partition's seen-through time (microseconds; NULL: all
  // read, now()). Never past now(): a gateway clock ahead of the database's
  // must not make the sweep stricter than it was. The partition list and the
  // latest seen-through time are repeated as plain conditions so the
  // generic plan reads enrolments_liveness per partition (a join on the
  // unnest alone was planned as a full scan plus hash join: 47 ms instead of
  // 5 ms at 100k agents).
  c.prepare("w_overdue",
            "WITH p AS (SELECT u.partition, least(coalesce(timestamptz 'epoch' + "
            "  u.seen_us * interval '1 microsecond', now()), now()) AS seen "
            "  FROM unnest($1::int[], $2::bigint[]) AS u(partition, seen_us)) "
            "SELECT e.agent_id::text, enrolment_liveness_due(e) < p.seen "
            "FROM enrolments e JOIN p ON p.partition = e.partition "
            "WHERE e.partition = ANY($1::int[]) AND e.state IN ('ENROLLED', 'PASS') "
            "  AND e.liveness_deadline < (SELECT max(seen) FROM p) "
            "  AND e.liveness_deadline < p.seen "
            "ORDER BY e.liveness_deadline LIMIT $3 FOR UPDATE OF e SKIP LOCKED");
  // A candidate still alive: its stored deadline moves up to the real one
  // (the row trigger computes it), so it stops coming back.
  c.prepare("w_deadline_refresh",
            "UPDATE enrolments SET liveness_deadline = liveness_deadline "
            "WHERE agent_id = ANY($1::uuid[])");
  c.prepare("w_outbox_load",
            "SELECT id, topic, convert_from(key, 'UTF8'), headers->>'content-type', payload, "
            "  partition FROM outbox WHERE partition = $1 AND id > $2 ORDER BY id LIMIT $3");
  c.prepare("w_outbox_delete", "DELETE FROM outbox WHERE id = ANY($1::bigint[])");
}

Result<std::map<std::string, AgentRow>> LoadAgents(pqxx::transaction_base& tx,
                                                   const std::vector<std::string>& ids,
                                                   const std::vector<uint8_t>& have_ak, bool lock) {
  auto r = db::Guard("load agents", [&] {
    std::map<std::string, AgentRow> out;
    if (ids.empty()) return out;
    std::string flags = "{";
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) flags += ',';
      flags += have_ak.empty() || have_ak[i] ? 't' : 'f';
    }
    flags += '}';
    auto rows = tx.exec_prepared(lock ? "w_agents_lock" : "w_agents", TextArray(ids), flags);
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
        checks::ClockState c;
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
      a.ak_name = BytesOf(f[20]);
      if (!f[21].is_null())
        a.attested_at = Clock::time_point(std::chrono::microseconds(f[21].as<int64_t>()));
      s.ima_catch_up_since = f[22].as<int64_t>();
      s.uefi_log_withheld = f[23].as<uint32_t>();
      s.boot_log_policy_id = f[24].as<int64_t>();
      if (!f[25].is_null()) a.failed_reset_count = f[25].as<int64_t>();
      if (const int64_t us = f[26].as<int64_t>(); us > 0) {
        a.quote_received_at = Clock::time_point(std::chrono::microseconds(us));
      }
      out.emplace(a.agent_id, std::move(a));
    }
    return out;
  });
  if (!r) return DbError(r.error());
  return r;
}

Result<void> LoadAkPublics(pqxx::transaction_base& tx, const std::vector<AgentRow*>& rows) {
  auto r = db::Guard("load AKs", [&] {
    if (rows.empty()) return;
    std::vector<std::string> ids;
    for (const AgentRow* a : rows) ids.push_back(a->agent_id);
    std::map<std::string, AgentRow*> by_id;
    for (AgentRow* a : rows) by_id[a->agent_id] = a;
    for (const auto& f : tx.exec_prepared("w_ak_publics", TextArray(ids))) {
      auto it = by_id.find(f[0].as<std::string>());
      if (it == by_id.end()) continue;
      it->second->ak_public = BytesOf(f[1]);
      it->second->ak_name = BytesOf(f[2]);
    }
  });
  if (!r) return DbError(r.error());
  return Ok();
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
      const size_t n = rows.size();
      ArrayLiteral id(n, 38), state(n, 10), reason(n, 12), ima_offset(n), ima_pcr(n, 70),
          ima_bank(n, 2), clock(n, 12), resets(n, 2), restarts(n, 2), boot_time(n, 10),
          log_requested(n, 1), log_accepted(n, 1), boot_digest(n, 70), sequence(n), attested(n, 1),
          attested_us(n, 16), catch_up(n, 4), withheld(n, 2), log_policy(n, 4), failed_reset(n, 4),
          quote_received(n, 16);
      for (const AgentRow* a : rows) {
        const auto& st = a->vstate;
        id.Text(a->agent_id);
        state.Text(a->state);
        if (a->state_reason) {
          reason.Text(*a->state_reason);
        } else {
          reason.Null();
        }
        ima_offset.Int(static_cast<int64_t>(st.ima_next_offset));
        ima_pcr.BytesOrNull(AsText(st.ima_pcr));
        ima_bank.Int(static_cast<int64_t>(st.ima_bank));
        if (st.clock) {
          clock.Int(static_cast<int64_t>(st.clock->clock));
          resets.Int(st.clock->reset_count);
          restarts.Int(st.clock->restart_count);
        } else {
          clock.Null();
          resets.Null();
          restarts.Null();
        }
        boot_time.IntOrNull(st.boot_time);
        log_requested.Bool(a->boot_log_requested);
        log_accepted.Bool(st.boot_log_accepted);
        boot_digest.BytesOrNull(AsText(st.boot_pcr_digest));
        sequence.Int(a->sequence);
        attested.Bool(a->attested);
        if (a->attested && a->attested_at != Clock::time_point{}) {
          attested_us.Int(Micros(a->attested_at));
        } else {
          attested_us.Null();
        }
        catch_up.Int(st.ima_catch_up_since);
        withheld.Int(st.uefi_log_withheld);
        log_policy.Int(st.boot_log_policy_id);
        failed_reset.IntOrNull(a->failed_reset_count);
        quote_received.Int(
            a->quote_received_at == Clock::time_point{} ? 0 : Micros(a->quote_received_at));
      }
      tx.exec_prepared0("w_update", id.Done(), state.Done(), reason.Done(), ima_offset.Done(),
                        ima_pcr.Done(), ima_bank.Done(), clock.Done(), resets.Done(),
                        restarts.Done(), boot_time.Done(), log_requested.Done(),
                        log_accepted.Done(), boot_digest.Done(), sequence.Done(), attested.Done(),
                        attested_us.Done(), catch_up.Done(), withheld.Done(), log_policy.Done(),
                        failed_reset.Done(), quote_received.Done());
    }
    if (!history.empty()) {
      const size_t n = history.size();
      ArrayLiteral id(n, 38), sequence(n), result(n, 8), state(n, 10), failures(n, 4), pcr(n, 2),
          runtime(n, 2), mb(n, 2), clock(n, 12), resets(n, 2), restarts(n, 2), ima_entries(n, 4),
          partition(n, 3), offset(n), micros(n, 4);
      for (const HistoryRecord* h : history) {
        id.Text(h->agent_id);
        sequence.Int(h->sequence);
        result.Text(h->result);
        state.Text(h->state);
        failures.Text(h->failures_json);
        pcr.Int(h->pcr_policy_id);
        runtime.Int(h->runtime_policy_id);
        mb.Int(h->mb_policy_id);
        clock.IntOrNull(h->quote_clock);
        resets.IntOrNull(h->quote_reset_count);
        restarts.IntOrNull(h->quote_restart_count);
        ima_entries.IntOrNull(h->ima_entries);
        partition.IntOrNull(h->kafka_partition);
        offset.IntOrNull(h->kafka_offset);
        micros.IntOrNull(h->verify_micros);
      }
      tx.exec_prepared0("w_history", id.Done(), sequence.Done(), result.Done(), state.Done(),
                        failures.Done(), pcr.Done(), runtime.Done(), mb.Done(), clock.Done(),
                        resets.Done(), restarts.Done(), ima_entries.Done(), partition.Done(),
                        offset.Done(), micros.Done(), worker_id);
    }
    std::vector<int64_t> ids;
    if (!outbox.empty()) {
      for (const auto& f : tx.exec_prepared("w_outbox_ids", static_cast<int>(outbox.size()))) {
        ids.push_back(f[0].as<int64_t>());
      }
      if (ids.size() != outbox.size()) throw std::runtime_error("outbox id reservation short");
      const size_t n = outbox.size();
      size_t payload_bytes = 0;
      for (const OutboxRecord* o : outbox) payload_bytes += o->payload.size();
      ArrayLiteral id(n), topic(n, 24), key(n, 38), content_type(n, 26),
          payload(n, 6 + 2 * (n ? payload_bytes / n : 0)), partition(n, 3);
      for (size_t i = 0; i < outbox.size(); ++i) {
        const OutboxRecord* o = outbox[i];
        id.Int(ids[i]);
        topic.Text(o->topic);
        key.Text(o->key);
        content_type.Text(o->content_type);
        payload.Bytes(o->payload);
        partition.Int(o->partition);
      }
      tx.exec_prepared0("w_outbox", id.Done(), topic.Done(), key.Done(), content_type.Done(),
                        payload.Done(), partition.Done());
    }
    return ids;
  });
  if (!r) return DbError(r.error());
  return r;
}

Result<std::vector<std::string>> LockOverdueAgents(pqxx::transaction_base& tx,
                                                   const std::vector<SweepPartition>& partitions,
                                                   int limit) {
  auto r = db::Guard("overdue agents", [&] {
    std::vector<std::string> overdue, alive;
    if (partitions.empty()) return overdue;
    ArrayLiteral ids(partitions.size(), 3), seen(partitions.size(), 16);
    for (const SweepPartition& p : partitions) {
      ids.Int(p.partition);
      if (p.seen_through) {
        seen.Int(Micros(*p.seen_through));
      } else {
        seen.Null();
      }
    }
    for (const auto& f : tx.exec_prepared("w_overdue", ids.Done(), seen.Done(), limit)) {
      (f[1].as<bool>() ? overdue : alive).push_back(f[0].as<std::string>());
    }
    if (!alive.empty()) tx.exec_prepared0("w_deadline_refresh", TextArray(alive));
    return overdue;
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

}  // namespace attest::worker
