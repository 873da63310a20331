-- Stores, a category tree and products. `owner_id` is an auth user id and `images` holds
-- file ids, kept as plain values (no cross-domain keys).

CREATE TABLE catalog_stores (
    id          UUID PRIMARY KEY,
    owner_id    UUID NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX catalog_stores_owner ON catalog_stores (owner_id);

CREATE TABLE catalog_categories (
    id         UUID PRIMARY KEY,
    name       TEXT NOT NULL,
    parent_id  UUID REFERENCES catalog_categories (id),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX catalog_categories_parent ON catalog_categories (parent_id);

CREATE TABLE catalog_products (
    id                  UUID PRIMARY KEY,
    store_id            UUID NOT NULL REFERENCES catalog_stores (id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    description         TEXT NOT NULL,
    sku                 TEXT NOT NULL,
    brand               TEXT,
    -- Integer minor units (cents) of `currency` (ISO 4217).
    price               BIGINT NOT NULL CHECK (price >= 0),
    currency            TEXT NOT NULL,
    stock               BIGINT NOT NULL CHECK (stock >= 0),
    low_stock_threshold BIGINT NOT NULL,
    category_id         UUID REFERENCES catalog_categories (id) ON DELETE SET NULL,
    images              JSONB NOT NULL,
    is_active           BOOLEAN NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    UNIQUE (store_id, sku)
);
CREATE INDEX catalog_products_category ON catalog_products (category_id);
CREATE INDEX catalog_products_price ON catalog_products (price);

-- Bumped by every catalog write; each replica drops its listing cache when it changes.
CREATE TABLE catalog_version (
    id      INTEGER PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO catalog_version (id, version) VALUES (1, 0);
