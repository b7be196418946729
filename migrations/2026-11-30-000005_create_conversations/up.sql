-- Inbox sync and the unibox (docs/SYNC.md): conversations between an inbox and a lead (or the
-- recipients of a conversation started by hand), their messages and attachments, the IMAP
-- checkpoints per inbox folder, the per-inbox sync lease, and the inbound messages already
-- processed (so a replay or a UIDVALIDITY rescan changes nothing).

-- The rendered email of a campaign send, stored with the `sent` outcome, so a conversation can
-- show our outgoing emails as they were sent. Null for sends recorded before this migration and
-- for sends that never went out.
ALTER TABLE sends
    ADD COLUMN subject text,
    ADD COLUMN text_body text,
    ADD COLUMN html_body text;

-- label is the classifier's; label_override (set through the API) wins while set. is_positive is
-- that of the effective label (COALESCE(label_override, label)). folder: 'primary' when the
-- conversation holds a human reply or was started by hand, else 'others' (auto-replies only).
CREATE TABLE conversations (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    inbox_id uuid NOT NULL REFERENCES inboxes (id) ON DELETE CASCADE,
    lead_id uuid REFERENCES leads (id) ON DELETE SET NULL,
    campaign_id uuid REFERENCES campaigns (id) ON DELETE SET NULL,
    subject text NOT NULL DEFAULT '',
    label text CHECK (label IN ('interested', 'not_interested', 'needs_more_info',
        'meeting_requested', 'wrong_person', 'out_of_office', 'referral', 'question', 'neutral',
        'unsubscribe', 'left_company')),
    label_override text CHECK (label_override IN ('interested', 'not_interested',
        'needs_more_info', 'meeting_requested', 'wrong_person', 'out_of_office', 'referral',
        'question', 'neutral', 'unsubscribe', 'left_company')),
    is_positive boolean NOT NULL DEFAULT false,
    folder text NOT NULL DEFAULT 'others' CHECK (folder IN ('primary', 'others')),
    started_by_hand boolean NOT NULL DEFAULT false,
    last_message_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX conversations_workspace_last_idx
    ON conversations (workspace_id, last_message_at DESC, id);
-- One conversation per (inbox, lead): sync upserts on it.
CREATE UNIQUE INDEX conversations_inbox_lead_key
    ON conversations (inbox_id, lead_id) WHERE lead_id IS NOT NULL;
CREATE INDEX conversations_lead_idx ON conversations (lead_id) WHERE lead_id IS NOT NULL;

-- Messages of a conversation. rfc_message_id is the Message-ID without angle brackets;
-- references_ids the References header (oldest first), so a reply from the API can thread.
-- Outgoing messages are read (is_read true); incoming ones arrive unread.
CREATE TABLE messages (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    direction text NOT NULL CHECK (direction IN ('outgoing', 'incoming')),
    inbox_id uuid NOT NULL REFERENCES inboxes (id) ON DELETE CASCADE,
    rfc_message_id text NOT NULL,
    in_reply_to text,
    references_ids text[] NOT NULL DEFAULT '{}',
    subject text NOT NULL DEFAULT '',
    text_body text NOT NULL DEFAULT '',
    html_body text NOT NULL DEFAULT '',
    from_email text NOT NULL,
    to_recipients jsonb NOT NULL DEFAULT '[]'::jsonb,
    cc_recipients jsonb NOT NULL DEFAULT '[]'::jsonb,
    bcc_recipients jsonb NOT NULL DEFAULT '[]'::jsonb,
    email_date timestamptz NOT NULL,
    is_read boolean NOT NULL DEFAULT false,
    kind text NOT NULL CHECK (kind IN ('campaign', 'manual', 'reply', 'auto_reply')),
    send_id uuid REFERENCES sends (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT messages_conversation_message_key UNIQUE (conversation_id, rfc_message_id)
);
CREATE INDEX messages_conversation_date_idx ON messages (conversation_id, email_date, id);
-- Threading: an incoming In-Reply-To/References is looked up among an inbox's messages.
CREATE INDEX messages_inbox_message_idx ON messages (inbox_id, rfc_message_id);

-- Attachments of incoming (and outgoing) messages. Content is stored up to 10 MiB per attachment;
-- a larger one is kept as metadata only (content null; the download endpoint answers 404 for it).
CREATE TABLE attachments (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    message_id uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    filename text NOT NULL,
    content_type text NOT NULL,
    size bigint NOT NULL CHECK (size >= 0),
    content bytea,
    created_at timestamptz NOT NULL
);
CREATE INDEX attachments_message_idx ON attachments (message_id);

-- IMAP checkpoint per inbox folder: messages with UID <= last_uid under this uidvalidity are
-- processed. A different UIDVALIDITY resets last_uid to 0 (a rescan; inbound_seen dedupes).
CREATE TABLE inbox_folders (
    inbox_id uuid NOT NULL REFERENCES inboxes (id) ON DELETE CASCADE,
    folder text NOT NULL,
    uidvalidity bigint NOT NULL,
    last_uid bigint NOT NULL DEFAULT 0 CHECK (last_uid >= 0),
    synced_at timestamptz NOT NULL,
    PRIMARY KEY (inbox_id, folder)
);

-- One process syncs an inbox at a time: the lease is taken by an upsert that succeeds only when
-- there is no row or its lease expired. last_synced_at schedules the next poll; last_error keeps
-- the reason of the last failed sync (never credentials).
CREATE TABLE inbox_sync_leases (
    inbox_id uuid PRIMARY KEY REFERENCES inboxes (id) ON DELETE CASCADE,
    owner text,
    expires_at timestamptz,
    last_synced_at timestamptz,
    last_error text
);

-- Inbound messages already processed per inbox, by key: 'mid:<Message-ID>' or, for a message
-- without one, 'sha256:<hex of the raw message>'. Written in the transaction of the effects.
CREATE TABLE inbound_seen (
    inbox_id uuid NOT NULL REFERENCES inboxes (id) ON DELETE CASCADE,
    message_key text NOT NULL,
    outcome text NOT NULL,
    seen_at timestamptz NOT NULL,
    PRIMARY KEY (inbox_id, message_key)
);
