-- Versioned policies (flow 2: enrolment). A row is one immutable version;
-- changing a policy inserts the next version, and enrolments / history
-- reference the exact row (policy_id) that was in force.

CREATE TYPE policy_kind AS ENUM (
  'pcr',      -- allowed values per PCR
  'runtime',  -- Keylime runtime-policy JSON (IMA)
  'mb'        -- measured-boot reference state
);

CREATE TABLE policies (
  policy_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind        policy_kind NOT NULL,
  -- A named policy shared by many agents, or a per-agent one (agent_id set;
  -- the registrar names those after the agent).
  name        text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$'),
  agent_id    uuid NULL REFERENCES registrations (agent_id) ON DELETE CASCADE,
  version     integer NOT NULL CHECK (version >= 1),
  body        jsonb NOT NULL CHECK (jsonb_typeof(body) = 'object'),
  created_at  timestamptz NOT NULL DEFAULT now(),
  created_by  text NULL,
  CONSTRAINT policies_kind_name_version UNIQUE (kind, name, version)
);

CREATE INDEX policies_agent ON policies (agent_id) WHERE agent_id IS NOT NULL;

-- The latest version of each policy.
CREATE VIEW policies_latest AS
  SELECT DISTINCT ON (kind, name) *
  FROM policies
  ORDER BY kind, name, version DESC;

-- Versions are immutable: what a verdict says it checked must stay what it
-- checked.
CREATE FUNCTION policies_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'policy % version % is immutable; insert a new version',
    OLD.name, OLD.version
    USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE TRIGGER policies_no_update BEFORE UPDATE ON policies
  FOR EACH ROW EXECUTE FUNCTION policies_immutable();
