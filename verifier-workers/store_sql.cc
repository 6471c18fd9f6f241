#include "verifier-workers/store.h"

namespace attest::worker {

// A flat list of the worker's SQL statements (long because the statements
// are, with no logic between them).
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

}  // namespace attest::worker
