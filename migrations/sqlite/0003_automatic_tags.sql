-- Tags that ingestion created (from:, to:, broker:, label:) may be removed by a
-- hard-delete purge once no document uses them; tags a user made always stay.
ALTER TABLE tags ADD COLUMN automatic INTEGER NOT NULL DEFAULT 0 CHECK (automatic IN (0, 1));
