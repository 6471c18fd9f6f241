-- Registrar activation offers (see docs/registrar.md).
-- The registrar never keeps the MakeCredential secret: it stores
-- SHA-256(HMAC-SHA256(secret, agent_uuid)), the hash of the auth_tag the agent
-- must present, so activation is a constant-time hash comparison and a
-- reader of this table cannot compute a valid tag. The column keeps its
-- original name (other code reads it); only its meaning is made precise.
COMMENT ON COLUMN registrations.activation_secret_sha256 IS
  'SHA-256 of the expected auth_tag = HMAC-SHA256(secret, agent_uuid); NULL when no offer is open';
COMMENT ON COLUMN registrations.activation_expires_at IS
  'When the open activation offer expires (pending rows are deleted after it; active rows keep their state)';

-- Periodic cleanup of expired offers by every registrar replica.
CREATE INDEX registrations_offer_expiry ON registrations (activation_expires_at)
  WHERE activation_expires_at IS NOT NULL;
