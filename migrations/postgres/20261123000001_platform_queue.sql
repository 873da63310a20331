-- Durable queue: the outbox of published messages and one delivery per consumer group.

-- Which consumer groups receive which topic. Written by every process at start-up, so a
-- publisher fans a message out to groups that run in other processes too.
CREATE TABLE queue_subscriptions (
    consumer   TEXT NOT NULL,
    topic      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (consumer, topic)
);

-- Messages, inserted in the publisher's own transaction (outbox).
CREATE TABLE queue_messages (
    id         UUID PRIMARY KEY,
    topic      TEXT NOT NULL,
    key        TEXT NOT NULL,
    payload    JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE queue_deliveries (
    id           UUID PRIMARY KEY,
    message_id   UUID NOT NULL REFERENCES queue_messages (id) ON DELETE CASCADE,
    consumer     TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'done', 'dead')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    available_at TIMESTAMPTZ NOT NULL,
    locked_until TIMESTAMPTZ,
    last_error   TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (message_id, consumer)
);

CREATE INDEX queue_deliveries_due ON queue_deliveries (consumer, status, available_at);
CREATE INDEX queue_messages_created ON queue_messages (created_at);
