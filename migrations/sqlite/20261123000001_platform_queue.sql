-- Durable queue: the outbox of published messages and one delivery per consumer group.
-- Times are RFC 3339 UTC text (they sort as they compare); ids are 16-byte UUID blobs.

CREATE TABLE queue_subscriptions (
    consumer   TEXT NOT NULL,
    topic      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (consumer, topic)
);

CREATE TABLE queue_messages (
    id         BLOB PRIMARY KEY NOT NULL,
    topic      TEXT NOT NULL,
    key        TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE queue_deliveries (
    id           BLOB PRIMARY KEY NOT NULL,
    message_id   BLOB NOT NULL REFERENCES queue_messages (id) ON DELETE CASCADE,
    consumer     TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'done', 'dead')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    available_at TEXT NOT NULL,
    locked_until TEXT,
    last_error   TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    UNIQUE (message_id, consumer)
);

CREATE INDEX queue_deliveries_due ON queue_deliveries (consumer, status, available_at);
CREATE INDEX queue_messages_created ON queue_messages (created_at);
