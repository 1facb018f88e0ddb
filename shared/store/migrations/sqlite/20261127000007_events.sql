-- Events pipeline: relay claims on the outbox (leases, so a relay that dies
-- gives its rows back after the lease), delivery attempts and dead letters
-- for the in-process target, the notification log that deduplicates
-- deliveries on (CloudEvent source, id), and per-recipient daily quotas.

ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claimed_until TEXT;
ALTER TABLE outbox ADD COLUMN last_error TEXT;
-- W3C trace context of the change (the CloudEvents `traceparent` extension).
ALTER TABLE outbox ADD COLUMN traceparent TEXT;
ALTER TABLE outbox ADD COLUMN dead_at TEXT;

CREATE INDEX outbox_unsent_partition ON outbox (partition_key, seq) WHERE sent_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL;

ALTER TABLE users ADD COLUMN language TEXT NOT NULL DEFAULT 'en';

CREATE TABLE notification_log (
    source        TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    channel       TEXT NOT NULL,
    recipient     TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('sending', 'sent', 'skipped')),
    locked_until  TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    finished_at   TEXT,
    detail        TEXT,
    PRIMARY KEY (source, event_id, channel, recipient)
) STRICT;
CREATE INDEX notification_log_created ON notification_log (created_at);

CREATE TABLE notification_quota (
    recipient TEXT NOT NULL,
    day       TEXT NOT NULL,
    sent      INTEGER NOT NULL CHECK (sent >= 0),
    PRIMARY KEY (recipient, day)
) STRICT;
