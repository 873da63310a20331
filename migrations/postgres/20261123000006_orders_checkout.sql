-- Addresses, orders with their items (prices as they were at purchase) and status history,
-- and the payment events already applied. Ids of other domains are plain values.

CREATE TABLE order_addresses (
    id          UUID PRIMARY KEY,
    owner_id    UUID NOT NULL,
    label       TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    phone       TEXT,
    street      TEXT NOT NULL,
    city        TEXT NOT NULL,
    state       TEXT,
    postal_code TEXT NOT NULL,
    country     TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX order_addresses_owner ON order_addresses (owner_id);

CREATE TABLE orders (
    id              UUID PRIMARY KEY,
    buyer_id        UUID NOT NULL,
    store_id        UUID NOT NULL,
    -- The address as it was when the order was placed.
    address         JSONB NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending_payment', 'paid', 'fulfilled', 'delivered', 'cancelled', 'expired')),
    total           BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    note            TEXT,
    idempotency_key TEXT,
    request_hash    TEXT NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (buyer_id, idempotency_key)
);
CREATE INDEX orders_buyer ON orders (buyer_id, created_at);
CREATE INDEX orders_store ON orders (store_id, created_at);
CREATE INDEX orders_expiry ON orders (status, expires_at);

CREATE TABLE order_items (
    order_id   UUID NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id UUID NOT NULL,
    name       TEXT NOT NULL,
    sku        TEXT NOT NULL,
    unit_price BIGINT NOT NULL,
    quantity   BIGINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, product_id)
);

CREATE TABLE order_status_history (
    id          UUID PRIMARY KEY,
    order_id    UUID NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    -- The user who moved it, or none for the system (expiry, payment webhook).
    actor_id    UUID,
    reason      TEXT,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX order_status_history_order ON order_status_history (order_id, created_at);

CREATE TABLE order_payment_events (
    event_id    TEXT PRIMARY KEY,
    order_id    UUID NOT NULL,
    received_at TIMESTAMPTZ NOT NULL
);
