-- SQLite: UUIDs are 16-byte BLOBs, times RFC 3339 UTC text (as sqlx binds them).
-- Payments (one provider payment per booking), the provider events already
-- applied (webhook de-duplication), refunds, and the simulated provider's own
-- ledger (local mode).

ALTER TABLE events ADD COLUMN refund_cutoff_hours INTEGER CHECK (refund_cutoff_hours BETWEEN 0 AND 8760);

CREATE TABLE payments (
    id                  BLOB PRIMARY KEY,
    booking_id          BLOB NOT NULL UNIQUE REFERENCES bookings (id),
    provider            TEXT NOT NULL,
    provider_payment_id TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('requires_payment', 'processing', 'failed',
                        'canceled', 'succeeded', 'partially_refunded', 'refunded', 'disputed')),
    amount_cents        INTEGER NOT NULL CHECK (amount_cents >= 0),
    -- Refunds requested and not failed (pending or done): never above the amount.
    refunded_cents      INTEGER NOT NULL DEFAULT 0,
    currency            TEXT NOT NULL,
    client_secret       TEXT,
    redirect_url        TEXT,
    last_error          TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    succeeded_at        TEXT,
    -- When the provider says the newest event applied happened (orders
    -- events of equal progress, e.g. a failure after a retry).
    last_event_at       TEXT,
    CHECK (refunded_cents >= 0 AND refunded_cents <= amount_cents),
    UNIQUE (provider, provider_payment_id)
) STRICT;

CREATE INDEX payments_open ON payments (updated_at) WHERE status IN ('requires_payment', 'processing', 'failed');

CREATE TABLE payment_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    payment_id  BLOB REFERENCES payments (id),
    kind        TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (provider, event_id)
) STRICT;

CREATE TABLE refunds (
    id                 BLOB PRIMARY KEY,
    payment_id         BLOB NOT NULL REFERENCES payments (id),
    amount_cents       INTEGER NOT NULL CHECK (amount_cents > 0),
    status             TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    reason             TEXT NOT NULL,
    requested_by       BLOB REFERENCES users (id),
    provider_refund_id TEXT,
    last_error         TEXT,
    attempts           INTEGER NOT NULL DEFAULT 0,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
) STRICT;

CREATE INDEX refunds_payment ON refunds (payment_id, created_at);
CREATE INDEX refunds_pending ON refunds (created_at) WHERE status = 'pending';

CREATE TABLE simulated_payments (
    id             TEXT PRIMARY KEY,
    booking_id     BLOB NOT NULL,
    amount_cents   INTEGER NOT NULL,
    currency       TEXT NOT NULL,
    status         TEXT NOT NULL,
    refunded_cents INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
) STRICT;
