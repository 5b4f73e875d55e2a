-- The overview's count of failed rotations and the account list's `rotation=failed` filter read
-- the few rotations that aborted or stopped with an error through this index (on the very
-- predicate the queries use), instead of a look-up of the last rotation of every account.
CREATE INDEX rotations_unsettled ON rotations (account_id)
    WHERE phase = 'aborted' OR (finished_at IS NULL AND error IS NOT NULL);
