-- Enrolment and current verifier state, one row per monitored agent
-- (flows 2, 4, 5). The worker that owns `partition` (the Kafka partition of
-- the agent's UUID, murmur2) is the only writer of the state columns.

CREATE TYPE agent_state AS ENUM ('ENROLLED', 'PASS', 'FAILED', 'OFFLINE');

CREATE TABLE enrolments (
  agent_id            uuid PRIMARY KEY REFERENCES registrations (agent_id) ON DELETE CASCADE,
  -- Policy versions in force (policies.policy_id pins one version).
  pcr_policy_id       bigint NULL REFERENCES policies (policy_id),
  runtime_policy_id   bigint NULL REFERENCES policies (policy_id),
  mb_policy_id        bigint NULL REFERENCES policies (policy_id),
  interval_seconds    integer NOT NULL CHECK (interval_seconds BETWEEN 1 AND 86400),
  -- OFFLINE after interval_seconds * grace_factor without an attestation.
  grace_factor        numeric(6, 2) NOT NULL DEFAULT 3 CHECK (grace_factor >= 1 AND grace_factor <= 1000),
  state               agent_state NOT NULL DEFAULT 'ENROLLED',
  state_reason        text NULL,
  state_changed_at    timestamptz NOT NULL DEFAULT now(),
  -- IMA: next entry to ask for, and the running PCR-10 value after the
  -- entries verified so far (reset on a new boot).
  ima_offset          bigint NOT NULL DEFAULT 0 CHECK (ima_offset >= 0),
  ima_pcr10           bytea NULL CHECK (ima_pcr10 IS NULL OR octet_length(ima_pcr10) IN (20, 32, 48, 64)),
  -- Last accepted quote's TPMS_CLOCK_INFO, for monotonicity (replays are
  -- refused). clock is a UINT64 in the TPM; values above 2^63-1 are refused
  -- by the worker. reset/restart counts are UINT32.
  quote_clock         bigint NULL CHECK (quote_clock IS NULL OR quote_clock >= 0),
  quote_reset_count   bigint NULL CHECK (quote_reset_count BETWEEN 0 AND 4294967295),
  quote_restart_count bigint NULL CHECK (quote_restart_count BETWEEN 0 AND 4294967295),
  boot_time           timestamptz NULL,
  -- Ask the agent for its UEFI event log with the next challenge (new boot,
  -- new measured-boot policy, or first attestation).
  boot_log_requested  boolean NOT NULL DEFAULT true,
  last_attestation_at timestamptz NULL,
  -- When the liveness sweep marks the agent OFFLINE; maintained by trigger
  -- from last_attestation_at (or enrolled_at), interval and grace factor.
  liveness_deadline   timestamptz NOT NULL DEFAULT now(),
  -- Verdict sequence number, +1 per verdict.
  sequence            bigint NOT NULL DEFAULT 0 CHECK (sequence >= 0),
  partition           integer NOT NULL CHECK (partition >= 0),
  enrolled_at         timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Liveness sweep: "agents of my partitions past their deadline".
CREATE INDEX enrolments_liveness ON enrolments (partition, liveness_deadline)
  WHERE state <> 'OFFLINE';
-- Partition reassignment and per-partition listing by last attestation.
CREATE INDEX enrolments_partition_last ON enrolments (partition, last_attestation_at);
CREATE INDEX enrolments_state ON enrolments (state);

CREATE FUNCTION enrolments_maintain() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.liveness_deadline := coalesce(NEW.last_attestation_at, NEW.enrolled_at)
      + make_interval(secs => NEW.interval_seconds * NEW.grace_factor);
  IF TG_OP = 'UPDATE' THEN
    NEW.updated_at := now();
    IF NEW.state IS DISTINCT FROM OLD.state THEN
      NEW.state_changed_at := now();
    END IF;
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER enrolments_maintain BEFORE INSERT OR UPDATE ON enrolments
  FOR EACH ROW EXECUTE FUNCTION enrolments_maintain();
