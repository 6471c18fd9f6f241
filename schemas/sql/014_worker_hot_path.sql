-- The verdict path updates one enrolments row per evidence record and
-- inserts one history row. Three costs there bought little:
--
-- 1. The plpgsql trigger ran for every such update (about 8 us a row, a
--    third of the UPDATE). A writer that sets liveness_deadline itself now
--    owns it, and updated_at and state_changed_at with it; the worker's batch
--    update does (verifier-workers/store.cc, w_update). Every other update,
--    and every insert, still goes through the trigger.
-- 2. enrolments_partition_last indexed last_attestation_at, which every
--    attestation changes, so each update inserted into it; no query used it.
-- 3. attestation_history_time was a B-tree on attested_at, a column that
--    only grows in insertion order: a BRIN index answers the same time-range
--    scans (views of the last hour or day) for a fraction of the upkeep.

DROP TRIGGER enrolments_maintain ON enrolments;

CREATE TRIGGER enrolments_maintain BEFORE INSERT ON enrolments
  FOR EACH ROW EXECUTE FUNCTION enrolments_maintain();

CREATE TRIGGER enrolments_maintain_update BEFORE UPDATE ON enrolments
  FOR EACH ROW
  WHEN (NEW.liveness_deadline IS NOT DISTINCT FROM OLD.liveness_deadline)
  EXECUTE FUNCTION enrolments_maintain();

DROP INDEX enrolments_partition_last;

DROP INDEX attestation_history_time;
CREATE INDEX attestation_history_time ON attestation_history USING brin (attested_at);
