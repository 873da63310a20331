-- Stores, a category tree and products. `owner_id` is an auth user id and `images` holds
-- file ids, kept as plain values (no cross-domain keys).

CREATE TABLE catalog_stores (
    id          BLOB PRIMARY KEY NOT NULL,
    owner_id    BLOB NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX catalog_stores_owner ON catalog_stores (owner_id);

CREATE TABLE catalog_categories (
    id         BLOB PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    parent_id  BLOB REFERENCES catalog_categories (id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX catalog_categories_parent ON catalog_categories (parent_id);

CREATE TABLE catalog_products (
    id                  BLOB PRIMARY KEY NOT NULL,
    store_id            BLOB NOT NULL REFERENCES catalog_stores (id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    description         TEXT NOT NULL,
    sku                 TEXT NOT NULL,
    brand               TEXT,
    price               INTEGER NOT NULL CHECK (price >= 0),
    currency            TEXT NOT NULL,
    stock               INTEGER NOT NULL CHECK (stock >= 0),
    low_stock_threshold INTEGER NOT NULL,
    category_id         BLOB REFERENCES catalog_categories (id) ON DELETE SET NULL,
    images              TEXT NOT NULL,
    is_active           BOOLEAN NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    UNIQUE (store_id, sku)
);
CREATE INDEX catalog_products_category ON catalog_products (category_id);
CREATE INDEX catalog_products_price ON catalog_products (price);

CREATE TABLE catalog_version (
    id      INTEGER PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL
);
INSERT INTO catalog_version (id, version) VALUES (1, 0);
