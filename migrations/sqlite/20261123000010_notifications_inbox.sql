-- Notifications: every one kept as history with its per-channel deliveries, the users'
-- preferences and quiet hours, and the templates per event type and channel.

CREATE TABLE notifications (
    id         BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL,
    event_type TEXT NOT NULL,
    category   TEXT NOT NULL CHECK (category IN ('account', 'orders', 'catalog', 'marketing')),
    critical   BOOLEAN NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    -- The template variables, kept so every channel renders the same facts.
    data       TEXT NOT NULL,
    -- What caused it (the queue message or the admin request): a redelivery adds nothing.
    source_key TEXT NOT NULL,
    in_inbox   BOOLEAN NOT NULL,
    read_at    TEXT,
    deleted_at TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (user_id, source_key)
);
CREATE INDEX notifications_inbox ON notifications (user_id, created_at);
CREATE INDEX notifications_recent ON notifications (created_at);

CREATE TABLE notification_deliveries (
    id              BLOB PRIMARY KEY NOT NULL,
    notification_id BLOB NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'in_app', 'sms', 'push')),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'held', 'sent', 'failed', 'skipped')),
    attempts        INTEGER NOT NULL,
    -- Why it was skipped or failed, or what the provider answered.
    detail          TEXT,
    -- The provider's id for it (the email id for the email channel).
    external_id     TEXT,
    -- Held by quiet hours until then.
    deliver_after   TEXT,
    updated_at      TEXT NOT NULL,
    UNIQUE (notification_id, channel)
);
CREATE INDEX notification_deliveries_held ON notification_deliveries (status, deliver_after);

CREATE TABLE notification_preferences (
    user_id  BLOB NOT NULL,
    category TEXT NOT NULL,
    channel  TEXT NOT NULL,
    enabled  BOOLEAN NOT NULL,
    PRIMARY KEY (user_id, category, channel)
);

CREATE TABLE notification_quiet_hours (
    user_id            BLOB PRIMARY KEY NOT NULL,
    -- Minutes after local midnight; start > end spans midnight.
    start_minute       INTEGER NOT NULL,
    end_minute         INTEGER NOT NULL,
    utc_offset_minutes INTEGER NOT NULL,
    updated_at         TEXT NOT NULL
);

CREATE TABLE notification_templates (
    event_type TEXT NOT NULL,
    -- email, in_app, sms, push, or * for every channel without a template of its own.
    channel    TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (event_type, channel)
);

-- The default texts. `*` serves every channel that has no template of its own.
INSERT INTO notification_templates (event_type, channel, title, body, updated_at) VALUES
    ('account.welcome', '*', 'Welcome to Agora, {{ name }}',
     'Your account is ready. Your store "{{ name }}''s Store" is waiting for its first products.', '2026-11-24T00:00:00+00:00'),
    ('orders.placed', '*', 'Order {{ order_ref }} placed',
     'Thank you for your order {{ order_ref }} of {{ amount }}. It awaits payment.', '2026-11-24T00:00:00+00:00'),
    ('orders.received', '*', 'New order {{ order_ref }}',
     'Your store received order {{ order_ref }} of {{ amount }}.', '2026-11-24T00:00:00+00:00'),
    ('orders.status_changed', '*', 'Order {{ order_ref }} is {{ to | replace("_", " ") }}',
     'Your order {{ order_ref }} moved from {{ from | replace("_", " ") }} to {{ to | replace("_", " ") }}.', '2026-11-24T00:00:00+00:00'),
    ('catalog.stock_low', '*', 'Low stock: {{ sku }}',
     'Only {{ stock }} left of {{ sku }} (threshold {{ threshold }}).', '2026-11-24T00:00:00+00:00'),
    ('admin.message', '*', '{{ title }}', '{{ body }}', '2026-11-24T00:00:00+00:00');
