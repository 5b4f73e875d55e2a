-- Rotation journal, leases with fencing tokens, and scheduling/heartbeat facts on accounts.
CREATE TABLE rotations (
    id          TEXT PRIMARY KEY,
    account_id  TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    phase       TEXT    NOT NULL,
    old_key_id  TEXT,
    new_key_id  TEXT,
    old_version INTEGER,
    new_version INTEGER,
    data        TEXT    NOT NULL,
    error       TEXT,
    started_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX rotations_account ON rotations (account_id, started_at);
CREATE INDEX rotations_open ON rotations (phase) WHERE phase NOT IN ('done', 'aborted');

-- One lease per account; `token` grows by one at every acquisition and fences journal writes.
CREATE TABLE leases (
    account_id TEXT PRIMARY KEY,
    owner      TEXT    NOT NULL,
    token      INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

ALTER TABLE accounts ADD COLUMN last_rotated_at INTEGER;
ALTER TABLE accounts ADD COLUMN next_due_at INTEGER;
ALTER TABLE accounts ADD COLUMN heartbeat_at INTEGER;
ALTER TABLE accounts ADD COLUMN heartbeat_status TEXT;
ALTER TABLE accounts ADD COLUMN heartbeat_detail TEXT;
CREATE INDEX accounts_next_due ON accounts (next_due_at);
