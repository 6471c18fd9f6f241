-- Group roles (NOLOGIN) with least privilege per component. Operators
-- create login users and grant them one role, e.g.
--   CREATE ROLE gw1 LOGIN PASSWORD '...'; GRANT attest_gateway TO gw1;
-- Roles are cluster-wide: creating them tolerates other databases of the
-- same cluster having created them first (even concurrently). Grants are
-- per database.

DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['attest_gateway', 'attest_registrar', 'attest_worker', 'attest_readonly']
  LOOP
    BEGIN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;  -- exists already
    END;
  END LOOP;
END;
$$;

-- Gateway: read-only view of an agent's enrolment to issue challenges.
GRANT SELECT ON registrations, enrolments TO attest_gateway;

-- Registrar: identities, policies, enrolments (control plane).
GRANT SELECT, INSERT, UPDATE, DELETE ON registrations, enrolments TO attest_registrar;
GRANT SELECT, INSERT, DELETE ON policies TO attest_registrar;
GRANT SELECT ON policies_latest, attestation_history, agents_by_state, failures_last_hour,
  attestation_rate, worker_lag TO attest_registrar;

-- Workers: verifier state, history, offsets, outbox.
GRANT SELECT, UPDATE ON enrolments TO attest_worker;
GRANT SELECT ON registrations, policies TO attest_worker;
GRANT SELECT, INSERT ON attestation_history TO attest_worker;
GRANT SELECT, INSERT, UPDATE ON consumer_offsets TO attest_worker;
GRANT SELECT, INSERT, DELETE ON outbox TO attest_worker;
GRANT USAGE ON SEQUENCE outbox_id_seq TO attest_worker;

-- Dashboards and operators' ad-hoc queries.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO attest_readonly;

-- Partition maintenance needs table ownership; workers call it through
-- SECURITY DEFINER functions owned by the migrating role.
ALTER FUNCTION attestation_history_create_partitions(integer, date)
  SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION attestation_history_drop_partitions(integer, date)
  SECURITY DEFINER SET search_path = public, pg_temp;
REVOKE EXECUTE ON FUNCTION attestation_history_create_partitions(integer, date) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION attestation_history_drop_partitions(integer, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION attestation_history_create_partitions(integer, date) TO attest_worker;
GRANT EXECUTE ON FUNCTION attestation_history_drop_partitions(integer, date) TO attest_worker;

-- Tables created by later migrations (run by this same role) are readable
-- by dashboards without another GRANT.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO attest_readonly;
