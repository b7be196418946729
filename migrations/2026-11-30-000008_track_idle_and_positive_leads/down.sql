DROP TABLE positive_reply_leads;
DROP TABLE inbox_watches;
ALTER TABLE inbox_sync_leases DROP COLUMN wake_requested_at;
