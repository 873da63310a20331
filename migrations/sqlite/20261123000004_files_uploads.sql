-- Uploaded files (the bytes live in storage under `stored_name`) and who uses them.

CREATE TABLE files (
    id            BLOB PRIMARY KEY NOT NULL,
    owner_id      BLOB NOT NULL,
    stored_name   TEXT NOT NULL UNIQUE,
    original_name TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX files_owner ON files (owner_id);

CREATE TABLE file_usages (
    file_id BLOB NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    holder  TEXT NOT NULL,
    PRIMARY KEY (file_id, holder)
);
CREATE INDEX file_usages_holder ON file_usages (holder);
