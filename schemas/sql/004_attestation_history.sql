-- Attestation history: one row per verdict, partitioned by UTC day so that
-- retention drops whole partitions instead of deleting rows.
-- Workers (or a cron / `attestctl`) call
--   SELECT attestation_history_create_partitions(7);   -- today .. +7 days
--   SELECT attestation_history_drop_partitions(30);    -- keep 30 days
-- A default partition catches rows of days without a partition (so a
-- missing partition never blocks verification); creating that day's
-- partition later moves them into it.

CREATE TABLE attestation_history (
  agent_id          uuid NOT NULL,
  attested_at       timestamptz NOT NULL,
  sequence          bigint NOT NULL CHECK (sequence >= 0),
  result            text NOT NULL CHECK (result IN ('pass', 'fail', 'offline', 'resumed', 'enrolled')),
  state             agent_state NOT NULL,
  -- [{ "type": ..., "event_id": ..., "context": {...} }, ...]
  failures          jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(failures) = 'array'),
  pcr_policy_id     bigint NULL,
  runtime_policy_id bigint NULL,
  mb_policy_id      bigint NULL,
  quote_clock       bigint NULL,
  quote_reset_count bigint NULL,
  quote_restart_count bigint NULL,
  ima_entries       integer NULL CHECK (ima_entries IS NULL OR ima_entries >= 0),
  -- Where the evidence came from (attestation.evidence), for tracing.
  kafka_partition   integer NULL,
  kafka_offset      bigint NULL,
  verify_micros     bigint NULL CHECK (verify_micros IS NULL OR verify_micros >= 0),
  worker            text NULL,
  PRIMARY KEY (agent_id, attested_at, sequence)
) PARTITION BY RANGE (attested_at);

CREATE INDEX attestation_history_time ON attestation_history (attested_at);
CREATE INDEX attestation_history_failures ON attestation_history (attested_at)
  WHERE result <> 'pass';

CREATE TABLE attestation_history_default PARTITION OF attestation_history DEFAULT;

-- Name of the partition of UTC day d.
CREATE FUNCTION attestation_history_partition_name(d date) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT 'attestation_history_p' || to_char(d, 'YYYYMMDD')
$$;

-- Creates the partitions of days from_day .. from_day + days_ahead (UTC)
-- that do not exist yet, moving matching rows out of the default
-- partition. Returns how many it created. Safe to call concurrently.
CREATE FUNCTION attestation_history_create_partitions(
    days_ahead integer,
    from_day date DEFAULT (now() AT TIME ZONE 'UTC')::date)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  d date;
  part text;
  lo timestamptz;
  hi timestamptz;
  created integer := 0;
BEGIN
  IF days_ahead < 0 OR days_ahead > 366 THEN
    RAISE EXCEPTION 'days_ahead must be between 0 and 366, got %', days_ahead;
  END IF;
  -- Serialize with other callers (several workers do this at start-up).
  PERFORM pg_advisory_xact_lock(hashtext('attestation_history_partitions'));
  FOR i IN 0 .. days_ahead LOOP
    d := from_day + i;
    part := attestation_history_partition_name(d);
    CONTINUE WHEN to_regclass(quote_ident(part)) IS NOT NULL;
    lo := d::timestamp AT TIME ZONE 'UTC';
    hi := (d + 1)::timestamp AT TIME ZONE 'UTC';
    -- Created detached, filled from the default partition, then attached:
    -- attaching over rows still in the default partition would fail.
    EXECUTE format('CREATE TABLE %I (LIKE attestation_history INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
    EXECUTE format(
      'WITH moved AS (DELETE FROM attestation_history_default
                      WHERE attested_at >= $1 AND attested_at < $2 RETURNING *)
       INSERT INTO %I SELECT * FROM moved', part) USING lo, hi;
    EXECUTE format('ALTER TABLE attestation_history ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   part, lo, hi);
    created := created + 1;
  END LOOP;
  RETURN created;
END;
$$;

-- Drops the day partitions that end on or before (today - retention_days)
-- and deletes older rows from the default partition. Returns how many
-- partitions it dropped.
CREATE FUNCTION attestation_history_drop_partitions(
    retention_days integer,
    today date DEFAULT (now() AT TIME ZONE 'UTC')::date)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  cutoff date := today - retention_days;
  r record;
  dropped integer := 0;
BEGIN
  IF retention_days < 1 THEN
    RAISE EXCEPTION 'retention_days must be at least 1, got %', retention_days;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('attestation_history_partitions'));
  FOR r IN
    SELECT c.relname
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'attestation_history'::regclass
      AND c.relname ~ '^attestation_history_p[0-9]{8}$'
      AND to_date(substr(c.relname, 22), 'YYYYMMDD') < cutoff
    ORDER BY c.relname
  LOOP
    EXECUTE format('DROP TABLE %I', r.relname);
    dropped := dropped + 1;
  END LOOP;
  DELETE FROM attestation_history_default
    WHERE attested_at < cutoff::timestamp AT TIME ZONE 'UTC';
  RETURN dropped;
END;
$$;

-- Partitions for today and the next week, so a fresh database is usable at once.
SELECT attestation_history_create_partitions(7);
