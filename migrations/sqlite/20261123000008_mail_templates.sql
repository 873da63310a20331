-- Email templates: subject, html and text parts rendered by minijinja.

CREATE TABLE mail_templates (
    id         BLOB PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL UNIQUE,
    subject    TEXT NOT NULL,
    html       TEXT,
    text       TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
