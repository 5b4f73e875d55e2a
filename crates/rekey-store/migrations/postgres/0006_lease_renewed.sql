-- When a lease was last taken or renewed: its holder's last sign of life. A worker that takes
-- over an expired lease reports how long the work stood still (the failover time).
ALTER TABLE leases ADD COLUMN renewed_at BIGINT NOT NULL DEFAULT 0;
