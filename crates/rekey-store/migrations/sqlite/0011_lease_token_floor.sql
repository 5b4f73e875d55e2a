-- A lease row is deleted with its account. A lease taken on that id again (a lapsed check-out
-- of the removed account is ended under one) starts its fencing token above every token a
-- deleted row had, so a stale worker still holding one of them never matches the new lease.
CREATE TABLE lease_token_floor (floor INTEGER NOT NULL);
INSERT INTO lease_token_floor (floor) VALUES (0);
