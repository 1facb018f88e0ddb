-- Payments (one provider payment per booking), the provider events already
-- applied (webhook de-duplication), refunds, and the simulated provider's own
-- ledger (local mode).

ALTER TABLE events ADD COLUMN refund_cutoff_hours INTEGER CHECK (refund_cutoff_hours BETWEEN 0 AND 8760);

CREATE TABLE payments (
    id                  UUID PRIMARY KEY,
    booking_id          UUID NOT NULL UNIQUE REFERENCES bookings (id),
    provider            TEXT NOT NULL,
    provider_payment_id TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('requires_payment', 'processing', 'failed',
                        'canceled', 'succeeded', 'partially_refunded', 'refunded', 'disputed')),
    amount_cents        BIGINT NOT NULL CHECK (amount_cents >= 0),
    -- Refunds requested and not failed (pending or done): never above the amount.
    refunded_cents      BIGINT NOT NULL DEFAULT 0,
    currency            CHAR(3) NOT NULL,
    client_secret       TEXT,
    redirect_url        TEXT,
    last_error          TEXT,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    succeeded_at        TIMESTAMPTZ,
    -- When the provider says the newest event applied happened (orders
    -- events of equal progress, e.g. a failure after a retry).
    last_event_at       TIMESTAMPTZ,
    CHECK (refunded_cents >= 0 AND refunded_cents <= amount_cents),
    UNIQUE (provider, provider_payment_id)
);

CREATE INDEX payments_open ON payments (updated_at) WHERE status IN ('requires_payment', 'processing', 'failed');

CREATE TABLE payment_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    payment_id  UUID REFERENCES payments (id),
    kind        TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, event_id)
);

CREATE TABLE refunds (
    id                 UUID PRIMARY KEY,
    payment_id         UUID NOT NULL REFERENCES payments (id),
    amount_cents       BIGINT NOT NULL CHECK (amount_cents > 0),
    status             TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    reason             TEXT NOT NULL,
    requested_by       UUID REFERENCES users (id),
    provider_refund_id TEXT,
    last_error         TEXT,
    attempts           INTEGER NOT NULL DEFAULT 0,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);

CREATE INDEX refunds_payment ON refunds (payment_id, created_at);
CREATE INDEX refunds_pending ON refunds (created_at) WHERE status = 'pending';

CREATE TABLE simulated_payments (
    id             TEXT PRIMARY KEY,
    booking_id     UUID NOT NULL,
    amount_cents   BIGINT NOT NULL,
    currency       CHAR(3) NOT NULL,
    status         TEXT NOT NULL,
    refunded_cents BIGINT NOT NULL DEFAULT 0,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
