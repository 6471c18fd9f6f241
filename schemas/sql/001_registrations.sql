-- Agent identities (flow 1: registration and credential activation).
-- An identity is immutable: the registrar refuses a known agent_id with a
-- different EK; the same EK and AK registering again is idempotent.

CREATE TYPE registration_state AS ENUM ('pending', 'active');

CREATE TABLE registrations (
  agent_id       uuid PRIMARY KEY,
  -- TPM2B_PUBLIC as the TPM marshals it.
  ek_public      bytea NOT NULL CHECK (octet_length(ek_public) BETWEEN 1 AND 4096),
  -- DER X.509, when the TPM has one in NV.
  ek_cert        bytea NULL CHECK (ek_cert IS NULL OR octet_length(ek_cert) BETWEEN 1 AND 16384),
  ak_public      bytea NOT NULL CHECK (octet_length(ak_public) BETWEEN 1 AND 4096),
  -- TPM2B_NAME body: hash algorithm id (2 bytes) + digest.
  ak_name        bytea NOT NULL CHECK (octet_length(ak_name) BETWEEN 3 AND 66),
  state          registration_state NOT NULL DEFAULT 'pending',
  -- Pending activation: SHA-256 of the MakeCredential secret, never the
  -- secret itself, and when the offer expires.
  activation_secret_sha256 bytea NULL
                 CHECK (activation_secret_sha256 IS NULL OR octet_length(activation_secret_sha256) = 32),
  activation_expires_at timestamptz NULL,
  activated_at   timestamptz NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT pending_has_secret CHECK (
    state <> 'pending'
    OR (activation_secret_sha256 IS NOT NULL AND activation_expires_at IS NOT NULL)),
  CONSTRAINT active_has_time CHECK (state <> 'active' OR activated_at IS NOT NULL)
);

-- "Which agent owns this EK?" (cloned or reused TPMs, audits).
CREATE INDEX registrations_ek_sha256 ON registrations (sha256(ek_public));

-- Keeps updated_at honest for every table that has one.
CREATE FUNCTION attest_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;

CREATE TRIGGER registrations_touch BEFORE UPDATE ON registrations
  FOR EACH ROW EXECUTE FUNCTION attest_touch_updated_at();
