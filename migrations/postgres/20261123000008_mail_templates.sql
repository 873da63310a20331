-- Email templates: subject, html and text parts rendered by minijinja.

CREATE TABLE mail_templates (
    id         UUID PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    subject    TEXT NOT NULL,
    html       TEXT,
    text       TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
