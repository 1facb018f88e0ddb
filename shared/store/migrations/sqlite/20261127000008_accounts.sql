-- SQLite: UUIDs are BLOBs, times RFC 3339 UTC text.
-- Accounts and the built-in OpenID Provider: verified email addresses,
-- single-use account tokens (email verification, password reset) and
-- authorization codes. Tokens and codes are stored only as SHA-256 hashes;
-- each is spent by one conditional UPDATE, so of any number of racing
-- requests exactly one succeeds.

ALTER TABLE users ADD COLUMN email_verified_at TEXT;

CREATE TABLE account_tokens (
    token_hash  BLOB PRIMARY KEY,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
    -- The address the link was sent to: a verification only verifies it.
    email       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
) STRICT;
CREATE INDEX account_tokens_live ON account_tokens (user_id, purpose) WHERE used_at IS NULL;
CREATE INDEX account_tokens_expires ON account_tokens (expires_at);

CREATE TABLE oidc_codes (
    code_hash       BLOB PRIMARY KEY,
    client_id       TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    user_id         BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_challenge  TEXT NOT NULL,
    nonce           TEXT,
    scope           TEXT NOT NULL,
    -- The refresh-token family the redemption starts (revoked on a replay).
    session_id      BLOB NOT NULL,
    auth_time       TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    used_at         TEXT
) STRICT;
CREATE INDEX oidc_codes_expires ON oidc_codes (expires_at);
