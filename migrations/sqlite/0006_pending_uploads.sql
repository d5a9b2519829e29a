-- Uploads registered but never completed, oldest first: the sweep fails
-- them once their URL has expired.
CREATE INDEX documents_pending ON documents (created_at) WHERE status = 'pending';
