-- Kafka consumer offsets, stored with the verification results in the same
-- transaction (flow 4). Offsets are never committed to Kafka: on assignment
-- a worker seeks to next_offset. Updates are conditional on the expected
-- previous value, which fences a zombie worker that lost its partition:
--   UPDATE consumer_offsets SET next_offset = $new, owner = $me
--   WHERE consumer_group = $g AND topic = $t AND partition = $p
--     AND next_offset = $expected;     -- 0 rows => fenced, roll back

CREATE TABLE consumer_offsets (
  consumer_group text NOT NULL CHECK (length(consumer_group) BETWEEN 1 AND 255),
  topic          text NOT NULL CHECK (topic ~ '^[A-Za-z0-9._-]{1,249}$'),
  partition      integer NOT NULL CHECK (partition >= 0),
  -- The offset of the next message to process (Kafka's committed-offset
  -- convention: last processed + 1).
  next_offset    bigint NOT NULL CHECK (next_offset >= 0),
  -- Consumer member id of the last writer, for diagnosing rebalances.
  owner          text NULL,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer_group, topic, partition)
);

CREATE TRIGGER consumer_offsets_touch BEFORE UPDATE ON consumer_offsets
  FOR EACH ROW EXECUTE FUNCTION attest_touch_updated_at();
