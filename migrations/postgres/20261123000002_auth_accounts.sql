-- Accounts, sessions (one per login: a refresh-token family), refresh tokens, and the
-- single-use tokens of verification and reset links. Secrets are stored only as SHA-256.

CREATE TABLE auth_users (
    id                UUID PRIMARY KEY,
    email             TEXT NOT NULL UNIQUE,
    name              TEXT NOT NULL,
    phone             TEXT UNIQUE,
    password_hash     TEXT NOT NULL,
    role              TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    is_active         BOOLEAN NOT NULL,
    email_verified_at TIMESTAMPTZ,
    -- Failed logins since the last success or lock, and locks so far (the lock period doubles).
    failed_logins     INTEGER NOT NULL DEFAULT 0,
    lockouts          INTEGER NOT NULL DEFAULT 0,
    locked_until      TIMESTAMPTZ,
    -- Access tokens issued before this instant are refused (logout-all, password reset).
    valid_after       TIMESTAMPTZ NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);

CREATE TABLE auth_sessions (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
    user_agent   TEXT,
    ip           TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ,
    revoked_why  TEXT
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);

CREATE TABLE auth_refresh_tokens (
    token_hash    TEXT PRIMARY KEY,
    session_id    UUID NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    used_at       TIMESTAMPTZ,
    -- The token that replaced this one, encrypted with this one: only its holder can read it,
    -- and only within the grace window.
    successor     TEXT
);
CREATE INDEX auth_refresh_tokens_session ON auth_refresh_tokens (session_id);

CREATE TABLE auth_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX auth_tokens_user ON auth_tokens (user_id);
