-- Documents: room in the read model for what uploads need.

-- Sniffed media types of office documents are longer than the seed's 50 characters
-- (application/vnd.openxmlformats-officedocument.presentationml.presentation is 73).
ALTER TABLE documents ALTER COLUMN file_type TYPE VARCHAR(100);

-- A deleted document leaves every query but keeps its row, so that its history and
-- its audit trail stay readable to those who could see it.
ALTER TABLE documents ADD COLUMN deleted_at TIMESTAMP;
