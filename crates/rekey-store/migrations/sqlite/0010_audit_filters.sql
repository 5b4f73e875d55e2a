-- The audit list's filters (actor, action, target), newest first: each is a range of one of
-- these indexes, so a filtered page reads only its own events and its total counts index
-- entries, instead of stepping through the whole log.
CREATE INDEX audit_events_by_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_by_action ON audit_events (action, seq);
CREATE INDEX audit_events_by_target ON audit_events (target, seq);
