DROP INDEX leads_provider_pending_idx;
ALTER TABLE leads DROP COLUMN provider_checked_at;
