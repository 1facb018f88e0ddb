-- Bookings (holds that become orders), the per-user hold counters behind
-- the anti-hoarding cap, and the transactional outbox of domain events.

ALTER TABLE events
    ADD COLUMN hold_minutes INTEGER NOT NULL DEFAULT 10 CHECK (hold_minutes BETWEEN 1 AND 60);

CREATE TABLE bookings (
    id           UUID PRIMARY KEY,
    event_id     UUID NOT NULL REFERENCES events (id),
    user_id      UUID NOT NULL REFERENCES users (id),
    status       TEXT NOT NULL
                 CHECK (status IN ('held', 'confirmed', 'expired', 'cancelled', 'refunded')),
    quantity     BIGINT NOT NULL CHECK (quantity > 0),
    total_cents  BIGINT NOT NULL CHECK (total_cents >= 0),
    currency     CHAR(3) NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    confirmed_at TIMESTAMPTZ,
    closed_at    TIMESTAMPTZ
);

-- The buyer's list (newest first; ids are time-ordered UUIDv7).
CREATE INDEX bookings_user ON bookings (user_id, id);
-- The organizer's list.
CREATE INDEX bookings_event ON bookings (event_id, id);
-- The expiry worker, and availability reads discounting lapsed holds.
CREATE INDEX bookings_held_expiry ON bookings (expires_at) WHERE status = 'held';
CREATE INDEX bookings_event_held_expiry ON bookings (event_id, expires_at) WHERE status = 'held';

CREATE TABLE booking_items (
    booking_id       UUID NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    ticket_type_id   UUID NOT NULL REFERENCES ticket_types (id),
    quantity         BIGINT NOT NULL CHECK (quantity > 0),
    unit_price_cents BIGINT NOT NULL CHECK (unit_price_cents >= 0),
    PRIMARY KEY (booking_id, ticket_type_id)
);

-- Tickets each user holds unpaid per event, kept beside the inventory so
-- the cap is one conditional upsert (no count under a race).
CREATE TABLE user_event_holds (
    user_id  UUID NOT NULL REFERENCES users (id),
    event_id UUID NOT NULL REFERENCES events (id),
    held     BIGINT NOT NULL CHECK (held >= 0),
    PRIMARY KEY (user_id, event_id)
);

-- Domain events as CloudEvents 1.0 envelopes, written in the transaction
-- of the change they describe; the relay publishes them in `seq` order
-- per `partition_key`.
CREATE TABLE outbox (
    seq           BIGSERIAL PRIMARY KEY,
    id            UUID NOT NULL UNIQUE,
    type          TEXT NOT NULL,
    source        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    partition_key TEXT NOT NULL,
    time          TIMESTAMPTZ NOT NULL,
    data          TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    sent_at       TIMESTAMPTZ
);

CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
