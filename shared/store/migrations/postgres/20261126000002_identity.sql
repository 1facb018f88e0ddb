-- Identity: local credentials and profile fields on users, rotating refresh
-- tokens, the built-in provider's signing keys, organizer applications, the
-- audit log, and database-backed abuse counters (shared by every instance).

ALTER TABLE users ADD COLUMN password_hash TEXT;
ALTER TABLE users ADD COLUMN phone TEXT;
ALTER TABLE users ADD COLUMN notify_email BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE users ADD COLUMN notify_sms BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended'));
ALTER TABLE users ADD COLUMN updated_at TIMESTAMPTZ;

-- One local account per email (case-insensitive) per issuer.
CREATE UNIQUE INDEX users_local_email ON users (iss, lower(email)) WHERE password_hash IS NOT NULL;

CREATE TABLE refresh_tokens (
    id          UUID PRIMARY KEY,
    family_id   UUID NOT NULL,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  BYTEA NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_der BYTEA NOT NULL,
    public_jwk  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    retired_at  TIMESTAMPTZ
);

CREATE TABLE organizer_applications (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    note        TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    decided_at  TIMESTAMPTZ,
    decided_by  UUID REFERENCES users (id)
);
-- At most one pending application per user.
CREATE UNIQUE INDEX organizer_applications_pending ON organizer_applications (user_id) WHERE status = 'pending';

CREATE TABLE audit_log (
    id         UUID PRIMARY KEY,
    actor_id   UUID,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    details    TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (created_at, id);

-- Fixed-window counters: (key, window start) -> hits.
CREATE TABLE rate_counters (
    key          TEXT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    hits         BIGINT NOT NULL,
    PRIMARY KEY (key, window_start)
);

-- Failed logins per account key (also for unknown emails).
CREATE TABLE login_failures (
    key        TEXT PRIMARY KEY,
    failures   BIGINT NOT NULL,
    last_at    TIMESTAMPTZ NOT NULL
);
