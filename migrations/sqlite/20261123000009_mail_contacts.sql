-- Each user's address book; a send may name contacts as recipients.

CREATE TABLE mail_contacts (
    id         BLOB PRIMARY KEY NOT NULL,
    owner_id   BLOB NOT NULL,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (owner_id, email)
);
