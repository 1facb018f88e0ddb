-- SQLite: UUIDs are BLOBs, times RFC 3339 UTC text, booleans 0/1.
-- Identity: local credentials and profile fields on users, rotating refresh
-- tokens, the built-in provider's signing keys, organizer applications, the
-- audit log, and database-backed abuse counters (shared by every instance).

ALTER TABLE users ADD COLUMN password_hash TEXT;
ALTER TABLE users ADD COLUMN phone TEXT;
ALTER TABLE users ADD COLUMN notify_email INTEGER NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN notify_sms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended'));
ALTER TABLE users ADD COLUMN updated_at TEXT;

-- One local account per email (case-insensitive) per issuer.
CREATE UNIQUE INDEX users_local_email ON users (iss, lower(email)) WHERE password_hash IS NOT NULL;

CREATE TABLE refresh_tokens (
    id          BLOB PRIMARY KEY,
    family_id   BLOB NOT NULL,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  BLOB NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    revoked_at  TEXT
) STRICT;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_der BLOB NOT NULL,
    public_jwk  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    retired_at  TEXT
) STRICT;

CREATE TABLE organizer_applications (
    id          BLOB PRIMARY KEY,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    note        TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    decided_at  TEXT,
    decided_by  BLOB REFERENCES users (id)
) STRICT;
-- At most one pending application per user.
CREATE UNIQUE INDEX organizer_applications_pending ON organizer_applications (user_id) WHERE status = 'pending';

CREATE TABLE audit_log (
    id         BLOB PRIMARY KEY,
    actor_id   BLOB,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    details    TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_time ON audit_log (created_at, id);

-- Fixed-window counters: (key, window start) -> hits.
CREATE TABLE rate_counters (
    key          TEXT NOT NULL,
    window_start TEXT NOT NULL,
    hits         INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
) STRICT;

-- Failed logins per account key (also for unknown emails).
CREATE TABLE login_failures (
    key        TEXT PRIMARY KEY,
    failures   INTEGER NOT NULL,
    last_at    TEXT NOT NULL
) STRICT;
