-- Tickets (one per admission, issued when a booking is confirmed), each
-- event's Ed25519 signing key (never leaves the server side), and the door
-- staff organizers invite per event.

CREATE TABLE event_keys (
    event_id      UUID PRIMARY KEY REFERENCES events (id),
    private_pkcs8 BYTEA NOT NULL,
    public_key    BYTEA NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE tickets (
    id             UUID PRIMARY KEY,
    booking_id     UUID NOT NULL REFERENCES bookings (id),
    event_id       UUID NOT NULL REFERENCES events (id),
    ticket_type_id UUID NOT NULL REFERENCES ticket_types (id),
    user_id        UUID NOT NULL REFERENCES users (id),
    code           TEXT NOT NULL UNIQUE,
    status         TEXT NOT NULL CHECK (status IN ('valid', 'revoked')),
    attendee_name  TEXT NOT NULL DEFAULT '' CHECK (length(attendee_name) <= 100),
    checked_in_at  TIMESTAMPTZ,
    gate           TEXT CHECK (length(gate) <= 50),
    checkin_nonce  TEXT CHECK (length(checkin_nonce) <= 100),
    checked_in_by  UUID REFERENCES users (id),
    created_at     TIMESTAMPTZ NOT NULL,
    revoked_at     TIMESTAMPTZ
);

CREATE INDEX tickets_booking ON tickets (booking_id, id);
CREATE INDEX tickets_event ON tickets (event_id, ticket_type_id);

CREATE TABLE event_staff (
    event_id   UUID NOT NULL REFERENCES events (id),
    user_id    UUID NOT NULL REFERENCES users (id),
    invited_by UUID REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (event_id, user_id)
);
