-- Emails sent through the API, every delivery attempt, and suppressed (hard-bounced) addresses.

CREATE TABLE mail_emails (
    id              BLOB PRIMARY KEY NOT NULL,
    owner_id        BLOB NOT NULL,
    -- {"to": [...], "cc": [...], "bcc": [...]}
    recipients      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT,
    html_body       TEXT,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'retrying', 'failed')),
    attempts        INTEGER NOT NULL,
    last_error      TEXT,
    message_id      TEXT NOT NULL,
    idempotency_key TEXT,
    request_hash    TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    sent_at         TEXT,
    UNIQUE (owner_id, idempotency_key)
);
CREATE INDEX mail_emails_owner ON mail_emails (owner_id, created_at);
CREATE INDEX mail_emails_status ON mail_emails (status, created_at);

CREATE TABLE mail_attempts (
    id          BLOB PRIMARY KEY NOT NULL,
    email_id    BLOB NOT NULL REFERENCES mail_emails (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    response    TEXT NOT NULL
);
CREATE INDEX mail_attempts_email ON mail_attempts (email_id, attempt);

CREATE TABLE mail_suppressions (
    address    TEXT PRIMARY KEY NOT NULL,
    reason     TEXT NOT NULL,
    created_at TEXT NOT NULL
);
