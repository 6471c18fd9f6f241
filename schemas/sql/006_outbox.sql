-- Transactional outbox (flow 4): verdicts and revocations are inserted in
-- the verification transaction and published to Kafka after commit by the
-- worker that owns `partition`; a row is deleted once Kafka acknowledged
-- it. A worker taking over a partition first publishes what is left.
-- Consumers must tolerate duplicates (a crash between publish and delete
-- republishes); the verdict sequence number identifies them.

CREATE TABLE outbox (
  id          bigserial PRIMARY KEY,
  topic       text NOT NULL CHECK (topic ~ '^[A-Za-z0-9._-]{1,249}$'),
  -- Kafka message key (the agent UUID as text for our topics).
  key         bytea NULL CHECK (key IS NULL OR octet_length(key) <= 1024),
  -- Kafka headers as {"name": "value", ...} (string values).
  headers     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(headers) = 'object'),
  payload     bytea NOT NULL CHECK (octet_length(payload) <= 10485760),
  -- Evidence partition whose worker owns (publishes) this row.
  partition   integer NOT NULL CHECK (partition >= 0),
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Publisher: "my partitions' rows in insertion order".
CREATE INDEX outbox_partition_id ON outbox (partition, id);
