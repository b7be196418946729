-- Warmup (docs/WARMUP.md): warming inboxes of the installation exchange emails. Every warmup
-- email is one row of warmup_messages, keyed by its marker token and its Message-ID; the
-- sender's worker writes it before sending, the recipient's sync records what it found. The
-- statistics are counted from these rows.

-- Per warming inbox: the first day of its current warming period (ramp day 1), when it may send
-- its next warmup email, how many it has sent in all (recipient rotation), and the lease that
-- keeps one process at a time sending for it.
CREATE TABLE warmup_state (
    inbox_id uuid PRIMARY KEY REFERENCES inboxes (id) ON DELETE CASCADE,
    started_on date,
    next_send_at timestamptz,
    sends_total bigint NOT NULL DEFAULT 0,
    lease_owner text,
    lease_expires_at timestamptz
);

-- Turning warming on again starts the ramp again.
CREATE FUNCTION warmup_restart_ramp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE warmup_state SET started_on = NULL WHERE inbox_id = NEW.id;
    RETURN NEW;
END;
$$;
CREATE TRIGGER warmup_restart_ramp AFTER UPDATE OF is_warming ON inboxes
    FOR EACH ROW WHEN (NEW.is_warming AND NOT OLD.is_warming)
    EXECUTE FUNCTION warmup_restart_ramp();

-- One warmup email. status: sending (written before the SMTP transaction), sent, failed (the
-- server refused it; never counted). sent_day is the UTC day it counts against the sender's
-- quota. received_* are set by the recipient's sync the first time it finds the email;
-- landed_in_spam when it was found in the spam folder, saved_from_spam once moved to INBOX.
-- reply_wanted: the recipient will answer it (replied_at once the answer is written).
CREATE TABLE warmup_messages (
    id uuid PRIMARY KEY,
    token text NOT NULL,
    message_id text NOT NULL,
    sender_inbox_id uuid NOT NULL REFERENCES inboxes (id) ON DELETE CASCADE,
    recipient_inbox_id uuid NOT NULL REFERENCES inboxes (id) ON DELETE CASCADE,
    subject text NOT NULL,
    reply_to_id uuid REFERENCES warmup_messages (id) ON DELETE SET NULL,
    status text NOT NULL DEFAULT 'sending' CHECK (status IN ('sending', 'sent', 'failed')),
    sent_day date NOT NULL,
    created_at timestamptz NOT NULL,
    sent_at timestamptz,
    received_at timestamptz,
    received_day date,
    landed_in_spam boolean NOT NULL DEFAULT false,
    saved_from_spam boolean NOT NULL DEFAULT false,
    reply_wanted boolean NOT NULL DEFAULT false,
    replied_at timestamptz,
    CONSTRAINT warmup_messages_token_key UNIQUE (token),
    CONSTRAINT warmup_messages_message_id_key UNIQUE (message_id)
);
CREATE INDEX warmup_messages_sender_idx ON warmup_messages (sender_inbox_id, sent_day);
CREATE INDEX warmup_messages_recipient_idx ON warmup_messages (recipient_inbox_id, received_day);
CREATE INDEX warmup_messages_reply_idx ON warmup_messages (recipient_inbox_id)
    WHERE reply_wanted AND replied_at IS NULL;
