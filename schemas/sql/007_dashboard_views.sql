-- Views for operators' dashboards (psql, Grafana). Read-only; cheap enough
-- to poll every few seconds thanks to the indexes of 003 and 004.

CREATE VIEW agents_by_state AS
  SELECT state, count(*) AS agents
  FROM enrolments
  GROUP BY state;

CREATE VIEW failures_last_hour AS
  SELECT agent_id, attested_at, sequence, result, state, failures, worker
  FROM attestation_history
  WHERE attested_at >= now() - interval '1 hour'
    AND result <> 'pass';

-- Attestations per minute over the last hour.
CREATE VIEW attestation_rate AS
  SELECT date_trunc('minute', attested_at) AS minute,
         count(*) AS attestations,
         count(*) FILTER (WHERE result = 'fail') AS failures
  FROM attestation_history
  WHERE attested_at >= now() - interval '1 hour'
  GROUP BY 1;

-- Per evidence partition: how stale the stored offset is, how much is
-- waiting in the outbox and how many agents are overdue. Kafka's high
-- watermark is not in the database; message lag is next_offset compared
-- with the broker's end offset (kcat -Q / kafka-consumer-groups).
CREATE VIEW worker_lag AS
  SELECT o.consumer_group, o.topic, o.partition, o.next_offset, o.owner,
         now() - o.updated_at AS since_last_commit,
         (SELECT count(*) FROM outbox b WHERE b.partition = o.partition) AS outbox_pending,
         (SELECT count(*) FROM enrolments e
           WHERE e.partition = o.partition AND e.state <> 'OFFLINE'
             AND e.liveness_deadline < now()) AS agents_overdue
  FROM consumer_offsets o;
