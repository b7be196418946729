-- ESP detection (docs/ENGINE.md): when a lead's email domain was last claimed for an MX lookup.
-- Null: never. A lead whose provider is still null after its claim went stale (a temporary DNS
-- failure, or the process died) is claimed again.
ALTER TABLE leads ADD COLUMN provider_checked_at timestamptz;

-- The leads still waiting for detection, by domain: the claim and the update by domain use it.
CREATE INDEX leads_provider_pending_idx ON leads (email_domain) WHERE provider IS NULL;
