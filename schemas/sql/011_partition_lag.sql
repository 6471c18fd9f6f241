-- Consumer lag per evidence partition, for dashboards (issue 8) and the
-- worker's /metrics (issue 7). Kafka's log end offset is not otherwise in the
-- database: the worker owning a partition records the high watermark it last
-- saw with each offset commit, so lag = log_end_offset - next_offset as of
-- log_end_seen_at. NULL until the owning worker has reported one.

ALTER TABLE consumer_offsets
  ADD COLUMN log_end_offset bigint NULL CHECK (log_end_offset IS NULL OR log_end_offset >= 0),
  ADD COLUMN log_end_seen_at timestamptz NULL;
