-- Verifier-worker state that 003-006 did not hold (issue 7):
--  * consumer_offsets.owner_epoch: ownership generation of a partition. A
--    worker claims a partition on assignment by incrementing it and then
--    writes only while it still matches (offset commits and liveness sweeps
--    check it), so a zombie that lost its partition is fenced even before
--    the new owner commits its first batch.
--  * enrolments: the measured-boot baseline of the current boot (accepted,
--    digest of PCRs 0-7 it was verified against) and the PCR bank of the
--    running IMA value, which the verifier needs to continue incrementally.
--  * attestation_history.result: also 'rejected' (replayed / bad-token
--    evidence, state unchanged) and 'log_requested' (a log was asked for).

ALTER TABLE consumer_offsets
  ADD COLUMN owner_epoch bigint NOT NULL DEFAULT 0 CHECK (owner_epoch >= 0);

ALTER TABLE enrolments
  ADD COLUMN boot_log_accepted boolean NOT NULL DEFAULT false,
  ADD COLUMN boot_pcr_digest bytea NULL
    CHECK (boot_pcr_digest IS NULL OR octet_length(boot_pcr_digest) = 32),
  -- TPM2_ALG_ID of the bank of ima_pcr10 (0x000B = sha256).
  ADD COLUMN ima_bank integer NOT NULL DEFAULT 11 CHECK (ima_bank BETWEEN 0 AND 65535);

-- The result check exists on the parent and (as a copy) on every day
-- partition created so far; drop all copies, then add the wider one to the
-- parent, which propagates it to every partition.
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT c.conrelid::regclass AS rel, c.conname
    FROM pg_constraint c
    WHERE c.contype = 'c'
      AND c.conname = 'attestation_history_result_check'
      AND c.conrelid IN (SELECT 'attestation_history'::regclass
                         UNION ALL
                         SELECT inhrelid FROM pg_inherits
                         WHERE inhparent = 'attestation_history'::regclass)
    ORDER BY (c.conrelid = 'attestation_history'::regclass) DESC
  LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT IF EXISTS %I', r.rel, r.conname);
  END LOOP;
END;
$$;

ALTER TABLE attestation_history
  ADD CONSTRAINT attestation_history_result_check
  CHECK (result IN ('pass', 'fail', 'offline', 'resumed', 'enrolled', 'rejected', 'log_requested'));
