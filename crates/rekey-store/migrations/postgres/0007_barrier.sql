-- The barrier: what steers where secrets go or how the vault is opened is authenticated under
-- keys derived from the vault key, so write access to the database alone cannot change it.
-- `key_check` proves the master key unwrapped this vault's key (and binds the vault id and the
-- first keyed audit event); `audit_keyed_from` is the first audit event whose hash is an HMAC
-- (events before it, written by older versions, keep their plain SHA-256 links); `mac` is each
-- row's HMAC. All stay NULL in a vault written before the barrier until `rekey vault upgrade`.
ALTER TABLE vault_header ADD COLUMN key_check TEXT;
ALTER TABLE vault_header ADD COLUMN audit_keyed_from BIGINT;
ALTER TABLE providers ADD COLUMN mac TEXT;
ALTER TABLE accounts ADD COLUMN mac TEXT;
ALTER TABLE secret_versions ADD COLUMN mac TEXT;
ALTER TABLE api_tokens ADD COLUMN mac TEXT;
