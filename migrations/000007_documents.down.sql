ALTER TABLE documents DROP COLUMN IF EXISTS deleted_at;
-- Longer media types are cut to the seed's width: the read model can be rebuilt.
ALTER TABLE documents ALTER COLUMN file_type TYPE VARCHAR(50) USING left(file_type, 50);
