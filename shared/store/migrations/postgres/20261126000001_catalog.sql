-- Users (any issuer: the built-in identity provider or Keycloak), the
-- catalog (events and ticket types), and platform metadata.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id         UUID PRIMARY KEY,
    iss        TEXT NOT NULL,
    sub        TEXT NOT NULL,
    email      TEXT,
    name       TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (iss, sub)
);

CREATE TABLE user_roles (
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL CHECK (role IN ('user', 'organizer', 'admin')),
    PRIMARY KEY (user_id, role)
);

CREATE TABLE events (
    id           UUID PRIMARY KEY,
    organizer_id UUID NOT NULL REFERENCES users (id),
    title        TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description  TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
    venue        TEXT NOT NULL CHECK (length(venue) BETWEEN 1 AND 200),
    city         TEXT NOT NULL CHECK (length(city) BETWEEN 1 AND 100),
    category     TEXT NOT NULL CHECK (length(category) BETWEEN 1 AND 50),
    timezone     TEXT NOT NULL,
    image_url    TEXT,
    starts_at    TIMESTAMPTZ NOT NULL,
    ends_at      TIMESTAMPTZ NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('draft', 'published', 'cancelled')),
    -- The one currency of all the event's ticket types, set by the first.
    currency     CHAR(3),
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    published_at TIMESTAMPTZ,
    CHECK (ends_at > starts_at)
);

CREATE INDEX events_listing ON events (status, starts_at, id);
CREATE INDEX events_organizer ON events (organizer_id, starts_at);

CREATE TABLE ticket_types (
    id            UUID PRIMARY KEY,
    event_id      UUID NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    price_cents   BIGINT NOT NULL CHECK (price_cents >= 0),
    currency      CHAR(3) NOT NULL,
    capacity      BIGINT NOT NULL CHECK (capacity >= 0),
    sold          BIGINT NOT NULL DEFAULT 0 CHECK (sold >= 0),
    held          BIGINT NOT NULL DEFAULT 0 CHECK (held >= 0),
    max_per_order INTEGER NOT NULL CHECK (max_per_order BETWEEN 1 AND 100),
    sales_start   TIMESTAMPTZ,
    sales_end     TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL,
    -- The inventory invariant, enforced by the database itself.
    CHECK (sold + held <= capacity),
    CHECK (sales_end IS NULL OR sales_start IS NULL OR sales_end > sales_start),
    UNIQUE (event_id, name)
);

CREATE INDEX ticket_types_event ON ticket_types (event_id, created_at);
