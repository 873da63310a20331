-- Uploaded files (the bytes live in storage under `stored_name`) and who uses them.

CREATE TABLE files (
    id            UUID PRIMARY KEY,
    owner_id      UUID NOT NULL,
    stored_name   TEXT NOT NULL UNIQUE,
    original_name TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX files_owner ON files (owner_id);

-- `holder` names the user of a file, e.g. `product:<id>`; a used file cannot be deleted.
CREATE TABLE file_usages (
    file_id UUID NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    holder  TEXT NOT NULL,
    PRIMARY KEY (file_id, holder)
);
CREATE INDEX file_usages_holder ON file_usages (holder);
