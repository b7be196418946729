-- The sending engine (docs/ENGINE.md): the leads' progress through their sequence, the send
-- queue (outbox and audit trail), capacity reservations per day, pacing per inbox, the events
-- log. Every state change and the counters it moves commit in one transaction.

-- A lead's progress. next_due_at (UTC) is when its next step may be queued; it is null while a
-- send is in flight and once the lead is finished (finished_reason set). inbox_id is the sticky
-- inbox chosen by step 1; thread_message_ids the Message-IDs of the current thread, oldest
-- first, and thread_subject its subject, for follow-ups sent as replies.
ALTER TABLE leads
    ADD COLUMN next_step integer NOT NULL DEFAULT 1 CHECK (next_step >= 1),
    ADD COLUMN next_due_at timestamptz,
    ADD COLUMN inbox_id uuid REFERENCES inboxes (id) ON DELETE SET NULL,
    ADD COLUMN thread_message_ids text[] NOT NULL DEFAULT '{}',
    ADD COLUMN thread_subject text,
    ADD COLUMN last_sent_at timestamptz,
    ADD COLUMN finished_reason text CHECK (finished_reason IN
        ('completed', 'bounced', 'unsubscribed', 'replied', 'blocklisted', 'failed'));

UPDATE leads SET next_due_at = created_at;

-- A new lead is due at once (at its creation), whichever code path inserts it.
CREATE FUNCTION leads_due_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.next_due_at IS NULL AND NEW.finished_reason IS NULL THEN
        NEW.next_due_at := NEW.created_at;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER leads_due_on_insert BEFORE INSERT ON leads
    FOR EACH ROW EXECUTE FUNCTION leads_due_on_insert();

CREATE INDEX leads_due_idx ON leads (campaign_id, next_due_at)
    WHERE next_due_at IS NOT NULL AND finished_reason IS NULL;
CREATE INDEX leads_inbox_idx ON leads (inbox_id) WHERE inbox_id IS NOT NULL;

-- How many sends have picked each variant (queued or sent): the even distribution counts these,
-- so variants stay balanced while sends are still in the queue.
ALTER TABLE variants ADD COLUMN assigned bigint NOT NULL DEFAULT 0;

-- Sends whose outcome is unknown after a crash (sent or not: we cannot tell).
ALTER TABLE campaign_stats ADD COLUMN unknown bigint NOT NULL DEFAULT 0;

-- One row per (lead, step) that is or was meant to be sent. Message-ID is generated when queued
-- and kept across retries. inbox_day / campaign_day are the days whose usage rows hold this
-- send's reservation (returned when it will not happen).
CREATE TABLE sends (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    campaign_id uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    lead_id uuid NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    step integer NOT NULL CHECK (step >= 1),
    variant_id uuid REFERENCES variants (id) ON DELETE SET NULL,
    inbox_id uuid REFERENCES inboxes (id) ON DELETE SET NULL,
    message_id text NOT NULL,
    status text NOT NULL DEFAULT 'queued' CHECK (status IN
        ('queued', 'sending', 'sent', 'deferred', 'bounced', 'failed', 'cancelled', 'unknown')),
    attempts integer NOT NULL DEFAULT 0,
    not_before timestamptz NOT NULL,
    lease_owner text,
    lease_expires_at timestamptz,
    last_reply text,
    cancel_reason text,
    inbox_day date NOT NULL,
    campaign_day date NOT NULL,
    queued_at timestamptz NOT NULL,
    sent_at timestamptz,
    updated_at timestamptz NOT NULL,
    CONSTRAINT sends_message_id_key UNIQUE (message_id)
);
-- Never the same step twice: a cancelled send (never sent) does not count.
CREATE UNIQUE INDEX sends_lead_step_key ON sends (lead_id, step) WHERE status <> 'cancelled';
CREATE INDEX sends_ready_idx ON sends (not_before) WHERE status IN ('queued', 'deferred');
CREATE INDEX sends_leased_idx ON sends (lease_expires_at) WHERE status = 'sending';
CREATE INDEX sends_campaign_idx ON sends (campaign_id);
CREATE INDEX sends_inbox_idx ON sends (inbox_id);

-- Capacity reserved per inbox and UTC day (campaign sends; warmup sends later).
CREATE TABLE inbox_usage (
    inbox_id uuid NOT NULL REFERENCES inboxes (id) ON DELETE CASCADE,
    day date NOT NULL,
    campaign_sends integer NOT NULL DEFAULT 0 CHECK (campaign_sends >= 0),
    warmup_sends integer NOT NULL DEFAULT 0 CHECK (warmup_sends >= 0),
    PRIMARY KEY (inbox_id, day)
);

-- Capacity reserved per campaign and day in the campaign's time zone.
CREATE TABLE campaign_usage (
    campaign_id uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    day date NOT NULL,
    sends integer NOT NULL DEFAULT 0 CHECK (sends >= 0),
    PRIMARY KEY (campaign_id, day)
);

-- Per inbox: the earliest time its next send may go (spacing), and consecutive SMTP
-- authentication failures (the inbox goes to connection_status error at the threshold).
CREATE TABLE inbox_send_state (
    inbox_id uuid PRIMARY KEY REFERENCES inboxes (id) ON DELETE CASCADE,
    next_slot_at timestamptz,
    auth_failures integer NOT NULL DEFAULT 0
);

-- Append-only log of what happened, written in the transaction of the change.
CREATE TABLE events (
    id bigserial PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    campaign_id uuid REFERENCES campaigns (id) ON DELETE CASCADE,
    lead_id uuid,
    send_id uuid,
    kind text NOT NULL,
    data jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL
);
CREATE INDEX events_workspace_idx ON events (workspace_id, id);
CREATE INDEX events_campaign_idx ON events (campaign_id);
