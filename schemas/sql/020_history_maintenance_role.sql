-- History retention belongs to an operator role, not to the workers. Until
-- now attest_worker could EXECUTE attestation_history_drop_partitions, a
-- SECURITY DEFINER function owned by the migrating role: a stolen worker
-- login erased the audit trail with
--   SELECT attestation_history_drop_partitions(1, '2999-01-01');
-- Workers keep creating partitions (future, empty tables). Dropping them
-- takes attest_maintenance (a cron job's login). Tables and partitions stay
-- owned by the migrating role, so no component role can DROP, DETACH or
-- TRUNCATE them directly either.

DO $$
BEGIN
  CREATE ROLE attest_maintenance NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;  -- another database of the cluster created it
END;
$$;

-- Retention counts back from today, never from a day to come: even the
-- maintenance role cannot drop the recent history by naming a future date.
CREATE OR REPLACE FUNCTION attestation_history_drop_partitions(
    retention_days integer,
    today date DEFAULT (now() AT TIME ZONE 'UTC')::date)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  cutoff date := today - retention_days;
  r record;
  dropped integer := 0;
BEGIN
  IF retention_days < 1 THEN
    RAISE EXCEPTION 'retention_days must be at least 1, got %', retention_days;
  END IF;
  IF today > (now() AT TIME ZONE 'UTC')::date THEN
    RAISE EXCEPTION 'today (%) is later than the current UTC date', today;
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

REVOKE EXECUTE ON FUNCTION attestation_history_drop_partitions(integer, date) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION attestation_history_drop_partitions(integer, date) FROM attest_worker;
GRANT EXECUTE ON FUNCTION attestation_history_drop_partitions(integer, date) TO attest_maintenance;
GRANT EXECUTE ON FUNCTION attestation_history_create_partitions(integer, date)
  TO attest_maintenance;
GRANT SELECT ON attestation_history TO attest_maintenance;
