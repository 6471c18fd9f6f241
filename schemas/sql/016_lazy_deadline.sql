-- Every evidence record updates its agent's enrolments row. 015 left one
-- reason that update is never HOT (heap-only: the new version on the same
-- page, no new entry in any index): it moved liveness_deadline, a column of
-- the sweep's index, every time. Not-HOT updates put each version into every
-- index of the table, primary key included, and those indexes grow until
-- vacuum catches up.
--
-- liveness_deadline is now a lower bound of the real deadline (the time an
-- agent is past interval x grace, enrolment_liveness_due() below). The
-- worker's update keeps the stored value while it is still at least half
-- the grace window ahead and moves it to the real deadline otherwise, so at
-- most every other attestation of an agent (grace factor 3) changes it. The
-- sweep reads the index for candidates (stored deadline passed), marks
-- OFFLINE only those past the real deadline and moves the others' stored
-- deadline up; a candidate is an agent silent for more than half its grace
-- window, so live agents are not.
--
-- The row trigger (003, 014) recomputes the deadline exactly; it now runs
-- on an UPDATE that leaves updated_at alone: a writer that sets updated_at
-- itself (the worker's batch update) owns the deadline and state_changed_at
-- too.
--
-- fillfactor leaves room on each page for the next version of its rows,
-- which a HOT update needs (new pages only; older ones gain room as their
-- rows move).

CREATE FUNCTION enrolment_liveness_due(e enrolments) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
  SELECT coalesce(e.last_attestation_at, e.enrolled_at)
         + make_interval(secs => e.interval_seconds * e.grace_factor)
$$;

DROP TRIGGER enrolments_maintain_update ON enrolments;
CREATE TRIGGER enrolments_maintain_update BEFORE UPDATE ON enrolments
  FOR EACH ROW
  WHEN (NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at)
  EXECUTE FUNCTION enrolments_maintain();

ALTER TABLE enrolments SET (fillfactor = 80);

-- The dashboards show the real deadline; the index narrows to candidates.
CREATE OR REPLACE VIEW worker_lag AS
  SELECT o.consumer_group, o.topic, o.partition, o.next_offset, o.owner,
         now() - o.updated_at AS since_last_commit,
         (SELECT count(*) FROM outbox b WHERE b.partition = o.partition) AS outbox_pending,
         (SELECT count(*) FROM enrolments e
           WHERE e.partition = o.partition AND e.state <> 'OFFLINE'
             AND e.liveness_deadline < now() AND enrolment_liveness_due(e) < now())
           AS agents_overdue
  FROM consumer_offsets o;

CREATE OR REPLACE VIEW agent_last_attestation AS
  SELECT agent_id, state, partition, interval_seconds, last_attestation_at,
         now() - last_attestation_at AS since_last_attestation,
         extract(epoch FROM now() - last_attestation_at)::double precision
           AS seconds_since_last_attestation,
         enrolment_liveness_due(e) AS liveness_deadline,
         state <> 'OFFLINE' AND enrolment_liveness_due(e) < now() AS overdue
  FROM enrolments e;
