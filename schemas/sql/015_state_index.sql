-- Every evidence record updates its agent's enrolments row. That update
-- moves liveness_deadline, which the sweep's index needs, so it is never a
-- HOT update: each version goes into every index of the table. The index on
-- state served only look-ups of agents that are not passing (offline and
-- failed agents; the list API filters on the state's text); it now holds
-- only those rows, and a PASS agent's update, by far the most common,
-- no longer adds an entry to it.
--
-- (Dropping the deadline from the liveness index would make those updates
-- HOT, but the sweep then reads every row of its partitions: measured at
-- 200 ms per 100,000 agents under load, every sweep period.)

DROP INDEX enrolments_state;
CREATE INDEX enrolments_not_passing ON enrolments (state) WHERE state <> 'PASS';
