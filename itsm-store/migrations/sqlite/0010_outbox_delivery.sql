-- Outbox delivery (itsm-notify): an ordering key, retry instants and dead letters.
--
-- stream           the aggregate a message is about ("incident/INC-1"), NULL for none;
--                  messages of one (tenant, stream) are handed out in id order, one at a time
-- next_attempt_at  a failed message is not claimed again before this instant
-- dead_at          the message is a dead letter (no more attempts); it no longer blocks its stream
-- last_error       the last delivery failure
ALTER TABLE outbox ADD COLUMN stream TEXT;
ALTER TABLE outbox ADD COLUMN next_attempt_at TEXT;
ALTER TABLE outbox ADD COLUMN dead_at TEXT;
ALTER TABLE outbox ADD COLUMN last_error TEXT;

-- Claims scan the pending messages in id order and probe each stream's earlier pending ones.
DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (id) WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_stream_pending ON outbox (tenant, stream, id)
    WHERE delivered_at IS NULL AND dead_at IS NULL AND stream IS NOT NULL;
CREATE INDEX outbox_dead ON outbox (tenant, id) WHERE dead_at IS NOT NULL;
