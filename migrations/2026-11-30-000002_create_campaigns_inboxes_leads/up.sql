-- Inboxes: the sending mailboxes of a workspace, connected over IMAP/SMTP.
-- Passwords are stored encrypted (AES-256-GCM, nonce || ciphertext, bound to the inbox id);
-- never in clear, never returned by the API.
CREATE TABLE inboxes (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    email text NOT NULL,
    domain text NOT NULL,
    provider text NOT NULL DEFAULT 'other'
        CHECK (provider IN ('google', 'microsoft', 'yahoo', 'zoho', 'other')),
    connection_type text NOT NULL DEFAULT 'imap_smtp'
        CHECK (connection_type IN ('oauth', 'imap_smtp')),
    connection_status text NOT NULL DEFAULT 'pending'
        CHECK (connection_status IN ('pending', 'validating', 'connected', 'error')),
    connection_error text,
    connection_checked_at timestamptz,
    first_name text NOT NULL DEFAULT '',
    last_name text NOT NULL DEFAULT '',
    reply_to text NOT NULL DEFAULT '',
    signature text NOT NULL DEFAULT '',
    is_active boolean NOT NULL DEFAULT true,
    is_warming boolean NOT NULL DEFAULT false,
    daily_campaign_limit integer NOT NULL DEFAULT 30 CHECK (daily_campaign_limit BETWEEN 1 AND 500),
    daily_warmup_limit integer NOT NULL DEFAULT 10 CHECK (daily_warmup_limit BETWEEN 1 AND 100),
    smtp_host text NOT NULL,
    smtp_port integer NOT NULL CHECK (smtp_port BETWEEN 1 AND 65535),
    smtp_security text NOT NULL CHECK (smtp_security IN ('none', 'starttls', 'tls')),
    smtp_username text NOT NULL DEFAULT '',
    smtp_password bytea,
    imap_host text NOT NULL,
    imap_port integer NOT NULL CHECK (imap_port BETWEEN 1 AND 65535),
    imap_security text NOT NULL CHECK (imap_security IN ('none', 'starttls', 'tls')),
    imap_username text NOT NULL DEFAULT '',
    imap_password bytea,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT inboxes_workspace_email_key UNIQUE (workspace_id, email)
);
CREATE INDEX inboxes_workspace_created_idx ON inboxes (workspace_id, created_at, id);

-- Campaigns, with their options and schedule. The schedule's times are minutes after local
-- midnight on the 30-minute grid; schedule_days holds the seven per-day entries as JSON
-- ({"monday": {"enabled": true, "start": null, "end": null}, ...}, minutes or null).
CREATE TABLE campaigns (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 150),
    status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'paused')),
    daily_limit integer NOT NULL DEFAULT 50 CHECK (daily_limit >= 0),
    stop_on_reply boolean NOT NULL DEFAULT true,
    stop_on_company_reply boolean NOT NULL DEFAULT false,
    text_only boolean NOT NULL DEFAULT false,
    esp_matching boolean NOT NULL DEFAULT false,
    unsubscribe_option boolean NOT NULL DEFAULT false,
    timezone text NOT NULL DEFAULT 'America/New_York',
    window_start smallint NOT NULL DEFAULT 540 CHECK (window_start BETWEEN 0 AND 1410),
    window_end smallint NOT NULL DEFAULT 1020 CHECK (window_end BETWEEN 0 AND 1410),
    schedule_days jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX campaigns_workspace_created_idx ON campaigns (workspace_id, created_at, id);

-- Counters the API reads on every campaign request, maintained in the same transaction as the
-- change they count (lead added or removed, email sent, reply, bounce), never computed by a scan.
CREATE TABLE campaign_stats (
    campaign_id uuid PRIMARY KEY REFERENCES campaigns (id) ON DELETE CASCADE,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    leads_count bigint NOT NULL DEFAULT 0,
    finished_leads bigint NOT NULL DEFAULT 0,
    sent bigint NOT NULL DEFAULT 0,
    contacted bigint NOT NULL DEFAULT 0,
    replies bigint NOT NULL DEFAULT 0,
    positive_replies bigint NOT NULL DEFAULT 0,
    bounced bigint NOT NULL DEFAULT 0,
    unsubscribed bigint NOT NULL DEFAULT 0
);

-- One row per campaign and local calendar day (the campaign's time zone) with activity.
CREATE TABLE campaign_daily_stats (
    campaign_id uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    day date NOT NULL,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    sent bigint NOT NULL DEFAULT 0,
    replies bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, day)
);

-- Sequence steps. Step numbers stay contiguous from 1; the unique key is deferred so a delete
-- can renumber the following steps in one statement.
CREATE TABLE sequences (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    campaign_id uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    step integer NOT NULL CHECK (step >= 1),
    delay_days integer NOT NULL DEFAULT 3 CHECK (delay_days >= 0),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT sequences_campaign_step_key UNIQUE (campaign_id, step) DEFERRABLE INITIALLY DEFERRED
);

-- A/B variants of a step, lettered in creation order (ordinal), with their counters.
CREATE TABLE variants (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    campaign_id uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    sequence_id uuid NOT NULL REFERENCES sequences (id) ON DELETE CASCADE,
    letter text NOT NULL,
    ordinal integer NOT NULL,
    subject text,
    body_html text,
    body_text text,
    enabled boolean NOT NULL DEFAULT true,
    sent bigint NOT NULL DEFAULT 0,
    replies bigint NOT NULL DEFAULT 0,
    positive_replies bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT variants_sequence_letter_key UNIQUE (sequence_id, letter)
);
CREATE INDEX variants_campaign_idx ON variants (campaign_id);

-- Which inboxes send for which campaigns.
CREATE TABLE campaign_inboxes (
    campaign_id uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    inbox_id uuid NOT NULL REFERENCES inboxes (id) ON DELETE CASCADE,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, inbox_id)
);
CREATE INDEX campaign_inboxes_inbox_idx ON campaign_inboxes (inbox_id);

-- Leads of a campaign. email is canonical (trimmed, lower-cased); company_domain is null for
-- consumer mail domains. provider stays null until ESP detection has run.
CREATE TABLE leads (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    campaign_id uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    email text NOT NULL,
    email_domain text NOT NULL,
    company_domain text,
    first_name text NOT NULL DEFAULT '',
    last_name text NOT NULL DEFAULT '',
    variables jsonb NOT NULL DEFAULT '{}'::jsonb,
    status text NOT NULL DEFAULT 'uncontacted'
        CHECK (status IN ('uncontacted', 'contacted', 'replied')),
    is_bounced boolean NOT NULL DEFAULT false,
    is_unsubscribed boolean NOT NULL DEFAULT false,
    provider text CHECK (provider IN ('google', 'microsoft', 'yahoo', 'zoho', 'other')),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT leads_campaign_email_key UNIQUE (campaign_id, email)
);
CREATE INDEX leads_campaign_created_idx ON leads (campaign_id, created_at, id);
CREATE INDEX leads_workspace_idx ON leads (workspace_id);
