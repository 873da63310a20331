-- Saved places. `owner_id` is an auth user id, kept as a plain value (no cross-domain key).

CREATE TABLE locations (
    id               BLOB PRIMARY KEY NOT NULL,
    owner_id         BLOB NOT NULL,
    name             TEXT NOT NULL,
    lat              REAL NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon              REAL NOT NULL CHECK (lon BETWEEN -180 AND 180),
    notes            TEXT,
    tags             TEXT NOT NULL,
    address          TEXT,
    address_provider TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX locations_owner ON locations (owner_id, created_at);
CREATE INDEX locations_position ON locations (lat, lon);

CREATE TABLE locations_geocoder_gate (
    id      INTEGER PRIMARY KEY NOT NULL,
    next_at TEXT NOT NULL
);
