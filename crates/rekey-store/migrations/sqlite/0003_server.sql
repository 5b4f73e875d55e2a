-- What the server needs: API tokens (hashed), password check-outs, export cursors, and an
-- index so finding stale heartbeats does not scan every account.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT    NOT NULL,
    role         TEXT    NOT NULL,
    folders      TEXT    NOT NULL,
    hash         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER
);

CREATE TABLE checkouts (
    id          TEXT PRIMARY KEY,
    account_id  TEXT    NOT NULL,
    holder      TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    end_reason  TEXT
);
-- At most one open check-out per account.
CREATE UNIQUE INDEX checkouts_open ON checkouts (account_id) WHERE ended_at IS NULL;
CREATE INDEX checkouts_expiry ON checkouts (expires_at) WHERE ended_at IS NULL;

CREATE TABLE export_cursors (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
);

CREATE INDEX accounts_heartbeat ON accounts (heartbeat_at);
