-- A vault's stable identity, named by the ownership tags it puts on IAM users. A vault created
-- before vault ids existed gets one derived from its header: the last 8 bytes of its wrapped
-- vault key (random AEAD or KMS tag bytes), so a backup of it taken before this migration gets
-- the same id when restored, on either backend.
ALTER TABLE vault_header ADD COLUMN vault_id TEXT;
UPDATE vault_header
SET vault_id = encode(substring(wrapped_vault_key FROM octet_length(wrapped_vault_key) - 7 FOR 8), 'hex')
WHERE vault_id IS NULL;
