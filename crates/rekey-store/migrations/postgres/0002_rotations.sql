-- Rotation journal, leases with fencing tokens, and scheduling/heartbeat facts on accounts.
CREATE TABLE rotations (
    id          TEXT PRIMARY KEY,
    account_id  TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    phase       TEXT    NOT NULL,
    old_key_id  TEXT,
    new_key_id  TEXT,
    old_version BIGINT,
    new_version BIGINT,
    data        TEXT    NOT NULL,
    error       TEXT,
    started_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    finished_at BIGINT
);
CREATE INDEX rotations_account ON rotations (account_id, started_at);
CREATE INDEX rotations_open ON rotations (phase) WHERE phase NOT IN ('done', 'aborted');

-- One lease per account; `token` grows by one at every acquisition and fences journal writes.
CREATE TABLE leases (
    account_id TEXT PRIMARY KEY,
    owner      TEXT    NOT NULL,
    token      BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);

ALTER TABLE accounts ADD COLUMN last_rotated_at BIGINT;
ALTER TABLE accounts ADD COLUMN next_due_at BIGINT;
ALTER TABLE accounts ADD COLUMN heartbeat_at BIGINT;
ALTER TABLE accounts ADD COLUMN heartbeat_status TEXT;
ALTER TABLE accounts ADD COLUMN heartbeat_detail TEXT;
CREATE INDEX accounts_next_due ON accounts (next_due_at);
