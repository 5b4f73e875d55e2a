-- The front ends' listings: the account list pages through one of these indexes per sort
-- (on the very expressions the queries sort by, ties broken by id), the rotation journal and
-- the audit log newest first.
CREATE INDEX accounts_by_name ON accounts (user_name, id);
CREATE INDEX accounts_by_due ON accounts ((COALESCE(next_due_at, 9223372036854775807)), id);
CREATE INDEX accounts_by_age ON accounts ((0 - COALESCE(last_rotated_at, created_at)), id);
CREATE INDEX accounts_by_last_rotated ON accounts ((COALESCE(last_rotated_at, 0)), id);
CREATE INDEX rotations_newest ON rotations (started_at, id);
