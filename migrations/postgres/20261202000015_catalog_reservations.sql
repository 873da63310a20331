-- Stock held for orders: taken when an order is placed, kept when the order is written
-- (confirmed), given back when it is not (released, or lapsed: held past expires_at). The order id
-- makes every step idempotent; the items are what was taken, priced then.

CREATE TABLE catalog_reservations (
    order_id   UUID PRIMARY KEY,
    state      TEXT NOT NULL CHECK (state IN ('held', 'confirmed', 'released', 'lapsed')),
    items      JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX catalog_reservations_lapse ON catalog_reservations (expires_at) WHERE state = 'held';
