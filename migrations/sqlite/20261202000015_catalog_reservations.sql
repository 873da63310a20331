-- Stock held for orders: taken when an order is placed, kept when the order is written
-- (confirmed), given back when it is not (released, or lapsed: held past expires_at). The order id
-- makes every step idempotent; the items are what was taken, priced then.

CREATE TABLE catalog_reservations (
    order_id   BLOB PRIMARY KEY NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('held', 'confirmed', 'released', 'lapsed')),
    items      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX catalog_reservations_lapse ON catalog_reservations (expires_at) WHERE state = 'held';
