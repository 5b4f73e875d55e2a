-- The vault header: which master key source protects the vault key, never the key itself.
CREATE TABLE vault_header (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    format            INTEGER NOT NULL,
    key_source        TEXT    NOT NULL,
    key_params        TEXT    NOT NULL,
    wrapped_vault_key BLOB    NOT NULL,
    created_at        INTEGER NOT NULL
);

CREATE TABLE providers (
    name         TEXT PRIMARY KEY,
    region       TEXT    NOT NULL,
    endpoint_url TEXT,
    auth         TEXT    NOT NULL,
    mfa_serial   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    provider   TEXT    NOT NULL REFERENCES providers (name) ON DELETE RESTRICT,
    user_name  TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    arn        TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    folder     TEXT,
    title      TEXT,
    status     TEXT    NOT NULL,
    settings   TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (provider, user_name, kind)
);
CREATE INDEX accounts_folder ON accounts (folder);

-- Secret versions are appended, never overwritten; `state` moves in one transaction.
CREATE TABLE secret_versions (
    record_id   TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    state       TEXT    NOT NULL,
    key_id      TEXT,
    origin      TEXT    NOT NULL,
    wrapped_key BLOB    NOT NULL,
    ciphertext  BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (record_id, version)
);

-- Append-only, hash-chained.
CREATE TABLE audit_events (
    seq       INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    target    TEXT,
    outcome   TEXT    NOT NULL,
    detail    TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);
