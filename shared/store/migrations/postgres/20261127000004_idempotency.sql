-- Idempotency keys: the first response to a mutating request that carried
-- `Idempotency-Key`, replayed for retries of the same request (same
-- fingerprint) by the same caller (scope) until `expires_at`.
--
-- A row is claimed `in_progress` by an INSERT ... ON CONFLICT DO NOTHING;
-- `locked_until` is the claimant's lease (a row whose lease has lapsed, its
-- process having died, may be taken over). `done` rows hold the response.
CREATE TABLE idempotency_keys (
    scope                 TEXT NOT NULL,
    key                   TEXT NOT NULL,
    -- SHA-256 of method, path and query, and body.
    fingerprint           BYTEA NOT NULL,
    state                 TEXT NOT NULL CHECK (state IN ('in_progress', 'done')),
    locked_until          TIMESTAMPTZ NOT NULL,
    response_status       INTEGER CHECK (response_status BETWEEN 100 AND 599),
    response_content_type TEXT,
    response_location     TEXT,
    response_body         BYTEA,
    created_at            TIMESTAMPTZ NOT NULL,
    expires_at            TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, key),
    CHECK (state = 'in_progress' OR (response_status IS NOT NULL AND response_body IS NOT NULL))
);
-- Pruning deletes by expiry.
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
