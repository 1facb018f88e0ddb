-- SQLite: UUIDs are 16-byte BLOBs, times RFC 3339 UTC text (as sqlx binds them).
-- Users (any issuer: the built-in identity provider or Keycloak), the
-- catalog (events and ticket types), and platform metadata.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE users (
    id         BLOB PRIMARY KEY,
    iss        TEXT NOT NULL,
    sub        TEXT NOT NULL,
    email      TEXT,
    name       TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    UNIQUE (iss, sub)
) STRICT;

CREATE TABLE user_roles (
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL CHECK (role IN ('user', 'organizer', 'admin')),
    PRIMARY KEY (user_id, role)
) STRICT;

CREATE TABLE events (
    id           BLOB PRIMARY KEY,
    organizer_id BLOB NOT NULL REFERENCES users (id),
    title        TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description  TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
    venue        TEXT NOT NULL CHECK (length(venue) BETWEEN 1 AND 200),
    city         TEXT NOT NULL CHECK (length(city) BETWEEN 1 AND 100),
    category     TEXT NOT NULL CHECK (length(category) BETWEEN 1 AND 50),
    timezone     TEXT NOT NULL,
    image_url    TEXT,
    starts_at    TEXT NOT NULL,
    ends_at      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('draft', 'published', 'cancelled')),
    -- The one currency of all the event's ticket types, set by the first.
    currency     TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    published_at TEXT,
    CHECK (ends_at > starts_at)
) STRICT;

CREATE INDEX events_listing ON events (status, starts_at, id);
CREATE INDEX events_organizer ON events (organizer_id, starts_at);

CREATE TABLE ticket_types (
    id            BLOB PRIMARY KEY,
    event_id      BLOB NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    price_cents   INTEGER NOT NULL CHECK (price_cents >= 0),
    currency      TEXT NOT NULL,
    capacity      INTEGER NOT NULL CHECK (capacity >= 0),
    sold          INTEGER NOT NULL DEFAULT 0 CHECK (sold >= 0),
    held          INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0),
    max_per_order INTEGER NOT NULL CHECK (max_per_order BETWEEN 1 AND 100),
    sales_start   TEXT,
    sales_end     TEXT,
    created_at    TEXT NOT NULL,
    -- The inventory invariant, enforced by the database itself.
    CHECK (sold + held <= capacity),
    CHECK (sales_end IS NULL OR sales_start IS NULL OR sales_end > sales_start),
    UNIQUE (event_id, name)
) STRICT;

CREATE INDEX ticket_types_event ON ticket_types (event_id, created_at);
