DROP TABLE events;
DROP TABLE inbox_send_state;
DROP TABLE campaign_usage;
DROP TABLE inbox_usage;
DROP TABLE sends;
ALTER TABLE campaign_stats DROP COLUMN unknown;
ALTER TABLE variants DROP COLUMN assigned;
DROP INDEX leads_inbox_idx;
DROP INDEX leads_due_idx;
DROP TRIGGER leads_due_on_insert ON leads;
DROP FUNCTION leads_due_on_insert();
ALTER TABLE leads
    DROP COLUMN next_step, DROP COLUMN next_due_at, DROP COLUMN inbox_id,
    DROP COLUMN thread_message_ids, DROP COLUMN thread_subject, DROP COLUMN last_sent_at,
    DROP COLUMN finished_reason;
