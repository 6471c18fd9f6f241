#include "verifier-workers/store.h"

#include <chrono>

#include "common/db/connection.h"
#include "verifier-workers/array_literal.h"
#include "verifier-workers/errors.h"

namespace attest::worker {
namespace {

using store_internal::ArrayLiteral;
using store_internal::AsText;
using store_internal::Micros;

Error DbError(const Error& e) { return MakeError(errc::database, e.message); }

std::string BytesOf(const pqxx::field& f) {
  if (f.is_null()) return {};
  pqxx::binarystring b(f);
  return b.str();
}

// The verifier state columns of a w_agents row (fields 10-19, 22-24).
void ReadVerifierState(const pqxx::row& f, verifier::AgentState& s) {
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
  s.ima_catch_up_since = f[22].as<int64_t>();
  s.uefi_log_withheld = f[23].as<uint32_t>();
  s.boot_log_policy_id = f[24].as<int64_t>();
}

// One w_agents row; its state text parsed here, once.
Result<AgentRow> ReadAgent(const pqxx::row& f) {
  AgentRow a;
  a.agent_id = f[0].as<std::string>();
  a.registration_active = f[1].as<std::string>() == "active";
  a.ak_public = BytesOf(f[2]);
  auto state = ParseEnrolmentState(f[3].as<std::string>());
  if (!state)
    return MakeError(errc::unknown_value, "agent " + a.agent_id + ": " + state.error().message);
  a.state = *state;
  a.pcr_policy_id = f[4].as<int64_t>();
  a.runtime_policy_id = f[5].as<int64_t>();
  a.mb_policy_id = f[6].as<int64_t>();
  a.partition = f[7].as<int32_t>();
  a.sequence = f[8].as<int64_t>();
  a.boot_log_requested = f[9].as<bool>();
  ReadVerifierState(f, a.vstate);
  a.ak_name = BytesOf(f[20]);
  if (!f[21].is_null()) {
    a.attested_at = Clock::time_point(std::chrono::microseconds(f[21].as<int64_t>()));
  }
  if (!f[25].is_null()) a.failed_reset_count = f[25].as<int64_t>();
  if (const int64_t us = f[26].as<int64_t>(); us > 0) {
    a.quote_received_at = Clock::time_point(std::chrono::microseconds(us));
  }
  return a;
}

void WriteAgentRows(pqxx::transaction_base& tx, const std::vector<const AgentRow*>& rows) {
  const size_t n = rows.size();
  ArrayLiteral id(n, 38), state(n, 10), reason(n, 12), ima_offset(n), ima_pcr(n, 70),
      ima_bank(n, 2), clock(n, 12), resets(n, 2), restarts(n, 2), boot_time(n, 10),
      log_requested(n, 1), log_accepted(n, 1), boot_digest(n, 70), sequence(n), attested(n, 1),
      attested_us(n, 16), catch_up(n, 4), withheld(n, 2), log_policy(n, 4), failed_reset(n, 4),
      quote_received(n, 16);
  for (const AgentRow* a : rows) {
    const auto& st = a->vstate;
    id.Text(a->agent_id);
    state.Text(ToText(a->state));
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
    quote_received.Int(a->quote_received_at == Clock::time_point{} ? 0
                                                                   : Micros(a->quote_received_at));
  }
  tx.exec_prepared0("w_update", id.Done(), state.Done(), reason.Done(), ima_offset.Done(),
                    ima_pcr.Done(), ima_bank.Done(), clock.Done(), resets.Done(), restarts.Done(),
                    boot_time.Done(), log_requested.Done(), log_accepted.Done(), boot_digest.Done(),
                    sequence.Done(), attested.Done(), attested_us.Done(), catch_up.Done(),
                    withheld.Done(), log_policy.Done(), failed_reset.Done(), quote_received.Done());
}

void WriteHistory(pqxx::transaction_base& tx, const std::vector<const HistoryRecord*>& history,
                  const std::string& worker_id) {
  const size_t n = history.size();
  ArrayLiteral id(n, 38), sequence(n), result(n, 8), state(n, 10), failures(n, 4), pcr(n, 2),
      runtime(n, 2), mb(n, 2), clock(n, 12), resets(n, 2), restarts(n, 2), ima_entries(n, 4),
      partition(n, 3), offset(n), micros(n, 4);
  for (const HistoryRecord* h : history) {
    id.Text(h->agent_id);
    sequence.Int(h->sequence);
    result.Text(HistoryResultText(h->result));
    state.Text(ToText(h->state));
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

// Returns the outbox ids in the order of `outbox`.
std::vector<int64_t> WriteOutbox(pqxx::transaction_base& tx,
                                 const std::vector<const OutboxRecord*>& outbox) {
  std::vector<int64_t> ids;
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
  return ids;
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

Result<std::map<std::string, AgentRow>> LoadAgents(pqxx::transaction_base& tx,
                                                   const std::vector<std::string>& ids,
                                                   const std::vector<uint8_t>& have_ak, bool lock) {
  std::optional<Error> unknown;
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
      auto a = ReadAgent(f);
      if (!a) {
        unknown = a.error();
        break;
      }
      out.emplace(a->agent_id, std::move(*a));
    }
    return out;
  });
  if (!r) return DbError(r.error());
  if (unknown) return *unknown;
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
  std::optional<Error> unknown;
  auto r = db::Guard("load policies", [&] {
    std::vector<PolicyRow> out;
    if (ids.empty()) return out;
    for (const auto& f : tx.exec_prepared("w_policies", IntArray(ids))) {
      const auto id = f[0].as<int64_t>();
      auto kind = ParsePolicyKind(f[1].as<std::string>());
      if (!kind) {
        unknown = MakeError(errc::unknown_value,
                            "policy " + std::to_string(id) + ": " + kind.error().message);
        break;
      }
      out.push_back(PolicyRow{id, *kind, f[2].as<int64_t>(), f[3].as<std::string>()});
    }
    return out;
  });
  if (!r) return DbError(r.error());
  if (unknown) return *unknown;
  return r;
}

Result<std::vector<int64_t>> WriteResults(pqxx::transaction_base& tx,
                                          const std::vector<const AgentRow*>& rows,
                                          const std::vector<const HistoryRecord*>& history,
                                          const std::vector<const OutboxRecord*>& outbox,
                                          const std::string& worker_id) {
  auto r = db::Guard("write batch", [&] {
    if (!rows.empty()) WriteAgentRows(tx, rows);
    if (!history.empty()) WriteHistory(tx, history, worker_id);
    return outbox.empty() ? std::vector<int64_t>{} : WriteOutbox(tx, outbox);
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
