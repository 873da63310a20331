-- The relay to a broker (queue.backend = "kafka"): when a message reached the broker, and
-- until when a relay holds it. Unused with the database backend.

ALTER TABLE queue_messages ADD COLUMN relayed_at TIMESTAMPTZ;
ALTER TABLE queue_messages ADD COLUMN relay_locked_until TIMESTAMPTZ;
CREATE INDEX queue_messages_unrelayed ON queue_messages (created_at) WHERE relayed_at IS NULL;
