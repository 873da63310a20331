-- Saved places. `owner_id` is an auth user id, kept as a plain value (no cross-domain key).

CREATE TABLE locations (
    id               UUID PRIMARY KEY,
    owner_id         UUID NOT NULL,
    name             TEXT NOT NULL,
    lat              DOUBLE PRECISION NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon              DOUBLE PRECISION NOT NULL CHECK (lon BETWEEN -180 AND 180),
    notes            TEXT,
    tags             JSONB NOT NULL,
    -- Structured address (display_name, road, city, ...) and who produced it.
    address          JSONB,
    address_provider TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX locations_owner ON locations (owner_id, created_at);
CREATE INDEX locations_position ON locations (lat, lon);

-- One row: the earliest time the next Nominatim request may leave, shared by every replica.
CREATE TABLE locations_geocoder_gate (
    id      INTEGER PRIMARY KEY,
    next_at TIMESTAMPTZ NOT NULL
);
