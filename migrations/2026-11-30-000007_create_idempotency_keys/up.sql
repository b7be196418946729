-- Idempotency-Key: the first response to a POST, kept for 24 hours per workspace and key, so a
-- retried request gets the same answer instead of doing the work twice. A row without a
-- response_status is a request still in flight.
CREATE TABLE idempotency_keys (
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    -- SHA-256 of method, path and body: the same key with another request is refused.
    request_hash bytea NOT NULL,
    response_status smallint,
    -- The replayed headers, as a JSON array of [name, value] pairs.
    response_headers jsonb,
    response_body bytea,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, key)
);
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (workspace_id, expires_at);
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);
