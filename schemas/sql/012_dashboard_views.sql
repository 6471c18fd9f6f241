-- More views for operators' dashboards (issue 8), next to those of 007:
-- failures by event id (last hour, last day), time since the last
-- attestation per agent, offline agents, worker partitions with their lag.
-- Read-only. The time-bounded ones use the partial index of 004 on
-- attestation_history (attested_at) WHERE result <> 'pass'.

-- One row per failure (attestation_history.failures is a jsonb array of
-- {"type": severity, "event_id": ..., "context": {"path": ...}}) in the last
-- day: the drill-down behind the two aggregates below.
CREATE VIEW failure_events_last_day AS
  SELECT h.agent_id, h.attested_at, h.sequence, h.result, h.state, h.worker,
         coalesce(f.value->>'event_id', '(none)') AS event_id,
         f.value->>'type' AS severity,
         f.value->'context'->>'path' AS path,
         f.value->'context' AS context
  FROM attestation_history h
  CROSS JOIN LATERAL jsonb_array_elements(h.failures) AS f(value)
  WHERE h.attested_at >= now() - interval '1 day'
    AND h.result <> 'pass';

CREATE VIEW failures_by_event_last_hour AS
  SELECT event_id,
         count(*) AS failures,
         count(DISTINCT agent_id) AS agents,
         array_agg(DISTINCT agent_id) AS agent_ids,
         min(attested_at) AS first_seen,
         max(attested_at) AS last_seen
  FROM failure_events_last_day
  WHERE attested_at >= now() - interval '1 hour'
  GROUP BY event_id;

CREATE VIEW failures_by_event_last_day AS
  SELECT event_id,
         count(*) AS failures,
         count(DISTINCT agent_id) AS agents,
         array_agg(DISTINCT agent_id) AS agent_ids,
         min(attested_at) AS first_seen,
         max(attested_at) AS last_seen
  FROM failure_events_last_day
  GROUP BY event_id;

-- Per enrolled agent: when it last attested and how long ago. NULL for an
-- agent that never attested; `overdue` once past interval x grace.
CREATE VIEW agent_last_attestation AS
  SELECT agent_id, state, partition, interval_seconds, last_attestation_at,
         now() - last_attestation_at AS since_last_attestation,
         extract(epoch FROM now() - last_attestation_at)::double precision
           AS seconds_since_last_attestation,
         liveness_deadline,
         state <> 'OFFLINE' AND liveness_deadline < now() AS overdue
  FROM enrolments;

-- Agents the liveness sweep marked OFFLINE: since when, why, and their last
-- verdict (usually the offline verdict itself) and last evidence verdict.
CREATE VIEW offline_agents AS
  SELECT e.agent_id, e.state_changed_at AS offline_since,
         now() - e.state_changed_at AS offline_for,
         e.state_reason, e.last_attestation_at, e.partition,
         v.sequence AS last_verdict_sequence, v.result AS last_verdict_result,
         v.attested_at AS last_verdict_at,
         ev.result AS last_evidence_result, ev.attested_at AS last_evidence_at
  FROM enrolments e
  LEFT JOIN LATERAL (
    SELECT sequence, result, attested_at FROM attestation_history h
    WHERE h.agent_id = e.agent_id
    ORDER BY attested_at DESC, sequence DESC LIMIT 1) v ON true
  LEFT JOIN LATERAL (
    SELECT result, attested_at FROM attestation_history h
    WHERE h.agent_id = e.agent_id AND h.result <> 'offline'
    ORDER BY attested_at DESC, sequence DESC LIMIT 1) ev ON true
  WHERE e.state = 'OFFLINE';

-- Per partition of each consumer group: its owner and message lag. The lag
-- is log_end_offset - next_offset as of log_end_seen_at (011), NULL until the
-- owning worker has reported the partition's high watermark.
CREATE VIEW worker_partitions AS
  SELECT o.consumer_group, o.topic, o.partition, o.owner, o.owner_epoch,
         o.next_offset, o.log_end_offset,
         -- greatest() skips NULLs: keep lag NULL while log_end_offset is.
         CASE WHEN o.log_end_offset IS NOT NULL
              THEN greatest(o.log_end_offset - o.next_offset, 0) END AS lag,
         o.log_end_seen_at,
         now() - o.log_end_seen_at AS lag_age,
         o.updated_at AS last_commit_at,
         now() - o.updated_at AS since_last_commit,
         (SELECT count(*) FROM enrolments e WHERE e.partition = o.partition) AS agents,
         (SELECT count(*) FROM outbox b WHERE b.partition = o.partition) AS outbox_pending
  FROM consumer_offsets o;

-- Per worker (owner): how many partitions it holds, which, and their lag.
CREATE VIEW worker_owners AS
  SELECT consumer_group, topic, owner,
         count(*) AS partitions,
         array_agg(partition ORDER BY partition) AS partition_list,
         sum(lag) AS lag,
         count(*) FILTER (WHERE lag IS NULL) AS partitions_without_lag,
         max(last_commit_at) AS last_commit_at
  FROM worker_partitions
  GROUP BY consumer_group, topic, owner;

GRANT SELECT ON failure_events_last_day, failures_by_event_last_hour, failures_by_event_last_day,
  agent_last_attestation, offline_agents, worker_partitions, worker_owners
  TO attest_readonly, attest_registrar;
