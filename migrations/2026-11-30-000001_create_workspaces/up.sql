-- Tenancy and access: every tenant row in Reachkit hangs off a workspace.
CREATE TABLE workspaces (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 150),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- API keys are stored only as a SHA-256 digest of the whole secret; the short prefix is kept in
-- clear so a person can tell keys apart.
CREATE TABLE api_keys (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name text NOT NULL,
    prefix text NOT NULL,
    key_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX api_keys_workspace_id_idx ON api_keys (workspace_id, created_at);

-- The blocklist: addresses in canonical form (trimmed, lower-cased), one entry per address and
-- workspace.
CREATE TABLE blocklist_entries (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    email text NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT blocklist_entries_workspace_email_key UNIQUE (workspace_id, email)
);
CREATE INDEX blocklist_entries_workspace_created_idx ON blocklist_entries (workspace_id, created_at, id);
