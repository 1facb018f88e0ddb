-- SQLite: UUIDs are 16-byte BLOBs, times RFC 3339 UTC text (as sqlx binds them).
-- Bookings (holds that become orders), the per-user hold counters behind
-- the anti-hoarding cap, and the transactional outbox of domain events.

ALTER TABLE events
    ADD COLUMN hold_minutes INTEGER NOT NULL DEFAULT 10 CHECK (hold_minutes BETWEEN 1 AND 60);

CREATE TABLE bookings (
    id           BLOB PRIMARY KEY,
    event_id     BLOB NOT NULL REFERENCES events (id),
    user_id      BLOB NOT NULL REFERENCES users (id),
    status       TEXT NOT NULL
                 CHECK (status IN ('held', 'confirmed', 'expired', 'cancelled', 'refunded')),
    quantity     INTEGER NOT NULL CHECK (quantity > 0),
    total_cents  INTEGER NOT NULL CHECK (total_cents >= 0),
    currency     TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    confirmed_at TEXT,
    closed_at    TEXT
) STRICT;

CREATE INDEX bookings_user ON bookings (user_id, id);
CREATE INDEX bookings_event ON bookings (event_id, id);
CREATE INDEX bookings_held_expiry ON bookings (expires_at) WHERE status = 'held';
CREATE INDEX bookings_event_held_expiry ON bookings (event_id, expires_at) WHERE status = 'held';

CREATE TABLE booking_items (
    booking_id       BLOB NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    ticket_type_id   BLOB NOT NULL REFERENCES ticket_types (id),
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
    PRIMARY KEY (booking_id, ticket_type_id)
) STRICT;

CREATE TABLE user_event_holds (
    user_id  BLOB NOT NULL REFERENCES users (id),
    event_id BLOB NOT NULL REFERENCES events (id),
    held     INTEGER NOT NULL CHECK (held >= 0),
    PRIMARY KEY (user_id, event_id)
) STRICT;

CREATE TABLE outbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            BLOB NOT NULL UNIQUE,
    type          TEXT NOT NULL,
    source        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    partition_key TEXT NOT NULL,
    time          TEXT NOT NULL,
    data          TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    sent_at       TEXT
) STRICT;

CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
