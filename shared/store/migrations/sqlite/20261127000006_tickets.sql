-- SQLite: UUIDs are 16-byte BLOBs, times RFC 3339 UTC text (as sqlx binds them).
-- Tickets (one per admission, issued when a booking is confirmed), each
-- event's Ed25519 signing key (never leaves the server side), and the door
-- staff organizers invite per event.

CREATE TABLE event_keys (
    event_id      BLOB PRIMARY KEY REFERENCES events (id),
    private_pkcs8 BLOB NOT NULL,
    public_key    BLOB NOT NULL,
    created_at    TEXT NOT NULL
) STRICT;

CREATE TABLE tickets (
    id             BLOB PRIMARY KEY,
    booking_id     BLOB NOT NULL REFERENCES bookings (id),
    event_id       BLOB NOT NULL REFERENCES events (id),
    ticket_type_id BLOB NOT NULL REFERENCES ticket_types (id),
    user_id        BLOB NOT NULL REFERENCES users (id),
    code           TEXT NOT NULL UNIQUE,
    status         TEXT NOT NULL CHECK (status IN ('valid', 'revoked')),
    attendee_name  TEXT NOT NULL DEFAULT '' CHECK (length(attendee_name) <= 100),
    checked_in_at  TEXT,
    gate           TEXT CHECK (length(gate) <= 50),
    checkin_nonce  TEXT CHECK (length(checkin_nonce) <= 100),
    checked_in_by  BLOB REFERENCES users (id),
    created_at     TEXT NOT NULL,
    revoked_at     TEXT
) STRICT;

CREATE INDEX tickets_booking ON tickets (booking_id, id);
CREATE INDEX tickets_event ON tickets (event_id, ticket_type_id);

CREATE TABLE event_staff (
    event_id   BLOB NOT NULL REFERENCES events (id),
    user_id    BLOB NOT NULL REFERENCES users (id),
    invited_by BLOB REFERENCES users (id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (event_id, user_id)
) STRICT;
