-- IMAP IDLE and distinct positive replies (docs/SYNC.md).

-- A watcher that sees new mail arrive (IMAP IDLE) asks for a sync of the inbox now: the sync
-- claims an inbox with a wake request even when its last sync is recent, and clears the request
-- when it claims it (so mail that arrives during a sync asks for the next one).
ALTER TABLE inbox_sync_leases ADD COLUMN wake_requested_at timestamptz;

-- One process holds the IDLE connection of an inbox: a lease it renews while it watches; a dead
-- process's watches are taken over once they expire.
CREATE TABLE inbox_watches (
    inbox_id uuid PRIMARY KEY REFERENCES inboxes (id) ON DELETE CASCADE,
    owner text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX inbox_watches_owner_idx ON inbox_watches (owner);

-- positive_replies (campaign and variant) count distinct leads: a lead counted once has a row
-- here, so a conversation that turns positive, negative, then positive again counts once.
CREATE TABLE positive_reply_leads (
    lead_id uuid PRIMARY KEY REFERENCES leads (id) ON DELETE CASCADE,
    counted_at timestamptz NOT NULL
);
-- The leads already counted: those whose conversation is positive now or whose reply was labelled
-- positive (the event keeps the label).
INSERT INTO positive_reply_leads (lead_id, counted_at)
SELECT DISTINCT lead_id, now() FROM (
    SELECT c.lead_id FROM conversations c
    WHERE c.lead_id IS NOT NULL AND c.is_positive AND NOT c.started_by_hand
    UNION
    SELECT e.lead_id FROM events e JOIN leads l ON l.id = e.lead_id
    WHERE e.kind = 'reply_received'
      AND e.data ->> 'label' IN ('interested', 'meeting_requested', 'needs_more_info', 'referral')
) counted;
