-- At most one `current` secret version per record. Versions that an earlier rekey left current
-- beside a newer one (a recovery that re-ran a finished rotation could) become `previous`:
-- the newest current version stays current.
UPDATE secret_versions SET state = 'previous'
WHERE state = 'current'
  AND EXISTS (SELECT 1 FROM secret_versions newer
              WHERE newer.record_id = secret_versions.record_id
                AND newer.state = 'current'
                AND newer.version > secret_versions.version);
CREATE UNIQUE INDEX secret_versions_one_current ON secret_versions (record_id) WHERE state = 'current';
