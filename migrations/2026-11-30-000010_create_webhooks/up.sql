-- Webhooks (docs/WEBHOOKS.md): endpoints of a workspace and a durable outbox of deliveries.
-- Every webhook event starts as a row of `events`, written in the transaction of the change it
-- reports; the trigger below fans it out to the matching enabled endpoints in that same
-- transaction, so an event is never lost between the change and its delivery.

CREATE TABLE webhook_endpoints (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    url text NOT NULL,
    description text NOT NULL DEFAULT '',
    event_types text[] NOT NULL,
    campaign_id uuid REFERENCES campaigns (id) ON DELETE CASCADE,
    -- The signing secret's raw bytes, sealed with the SecretBox (bound to the endpoint id).
    secret bytea NOT NULL,
    enabled boolean NOT NULL DEFAULT true,
    disabled_reason text,
    -- Deliveries that exhausted their retries since the last successful one.
    consecutive_failures integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX webhook_endpoints_workspace_idx ON webhook_endpoints (workspace_id, created_at, id);

CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY,
    -- Insertion order: deliveries of one endpoint and lead go strictly in this order.
    seq bigserial NOT NULL,
    endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    event_id bigint,
    event_type text NOT NULL,
    lead_id uuid,
    payload jsonb NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    lease_owner text,
    lease_expires_at timestamptz,
    last_attempt_at timestamptz,
    last_status_code integer,
    last_error text,
    delivered_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, seq DESC);
CREATE INDEX webhook_deliveries_lead_idx ON webhook_deliveries (endpoint_id, lead_id, seq)
    WHERE status = 'pending' AND lead_id IS NOT NULL;

-- Fan-out: one delivery per matching enabled endpoint. Internal kinds map to webhook types
-- (the engine writes `lead_bounced`, sync `lead_bounced` from DSNs, both map to themselves).
CREATE FUNCTION webhook_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (id, endpoint_id, workspace_id, event_id, event_type, lead_id,
                                    payload, next_attempt_at, created_at)
    SELECT gen_random_uuid(), e.id, NEW.workspace_id, NEW.id, NEW.kind, NEW.lead_id,
           jsonb_build_object(
               'type', NEW.kind,
               'timestamp', to_char(NEW.created_at AT TIME ZONE 'UTC',
                                    'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'data', NEW.data || jsonb_strip_nulls(jsonb_build_object(
                   'event_id', NEW.id::text,
                   'campaign_id', NEW.campaign_id,
                   'lead_id', NEW.lead_id,
                   'send_id', NEW.send_id))),
           NEW.created_at, NEW.created_at
    FROM webhook_endpoints e
    WHERE e.workspace_id = NEW.workspace_id
      AND e.enabled
      AND NEW.kind = ANY (e.event_types)
      AND (e.campaign_id IS NULL OR e.campaign_id = NEW.campaign_id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_webhook_fan_out AFTER INSERT ON events
    FOR EACH ROW
    WHEN (NEW.kind IN ('email_sent', 'reply_received', 'auto_reply_received', 'lead_bounced',
                       'lead_unsubscribed', 'lead_label_changed', 'campaign_status_changed',
                       'campaign_completed', 'inbox_error'))
    EXECUTE FUNCTION webhook_fan_out();

-- Events that had no `events` row before webhooks, recorded by triggers on the change itself
-- (so every code path that makes the change reports it, in its own transaction).

CREATE FUNCTION webhook_lead_unsubscribed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (workspace_id, campaign_id, lead_id, kind, data, created_at)
    VALUES (NEW.workspace_id, NEW.campaign_id, NEW.id, 'lead_unsubscribed', '{}'::jsonb,
            NEW.updated_at);
    RETURN NULL;
END;
$$;
CREATE TRIGGER leads_webhook_unsubscribed AFTER UPDATE OF is_unsubscribed ON leads
    FOR EACH ROW WHEN (NEW.is_unsubscribed AND NOT OLD.is_unsubscribed)
    EXECUTE FUNCTION webhook_lead_unsubscribed();

CREATE FUNCTION webhook_campaign_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (workspace_id, campaign_id, kind, data, created_at)
    VALUES (NEW.workspace_id, NEW.id, 'campaign_status_changed',
            jsonb_build_object('from', OLD.status, 'to', NEW.status), NEW.updated_at);
    RETURN NULL;
END;
$$;
CREATE TRIGGER campaigns_webhook_status AFTER UPDATE OF status ON campaigns
    FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status)
    EXECUTE FUNCTION webhook_campaign_status();

-- A campaign is completed when every one of its leads is finished (the counters the API shows).
CREATE FUNCTION webhook_campaign_completed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (workspace_id, campaign_id, kind, data, created_at)
    VALUES (NEW.workspace_id, NEW.campaign_id, 'campaign_completed',
            jsonb_build_object('leads_count', NEW.leads_count), now());
    RETURN NULL;
END;
$$;
CREATE TRIGGER campaign_stats_webhook_completed
    AFTER UPDATE OF finished_leads, leads_count ON campaign_stats
    FOR EACH ROW WHEN (NEW.leads_count > 0 AND NEW.finished_leads >= NEW.leads_count
                       AND NOT (OLD.leads_count > 0 AND OLD.finished_leads >= OLD.leads_count))
    EXECUTE FUNCTION webhook_campaign_completed();

CREATE FUNCTION webhook_label_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (workspace_id, campaign_id, lead_id, kind, data, created_at)
    VALUES (NEW.workspace_id, NEW.campaign_id, NEW.lead_id, 'lead_label_changed',
            jsonb_build_object('conversation_id', NEW.id::text,
                               'from', COALESCE(OLD.label_override, OLD.label),
                               'to', COALESCE(NEW.label_override, NEW.label)),
            NEW.updated_at);
    RETURN NULL;
END;
$$;
CREATE TRIGGER conversations_webhook_label AFTER UPDATE OF label, label_override ON conversations
    FOR EACH ROW WHEN (COALESCE(NEW.label_override, NEW.label)
                       IS DISTINCT FROM COALESCE(OLD.label_override, OLD.label))
    EXECUTE FUNCTION webhook_label_changed();

CREATE FUNCTION webhook_inbox_error() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (workspace_id, kind, data, created_at)
    VALUES (NEW.workspace_id, 'inbox_error',
            jsonb_build_object('inbox_id', NEW.id::text, 'error', NEW.connection_error),
            COALESCE(NEW.connection_checked_at, NEW.updated_at));
    RETURN NULL;
END;
$$;
CREATE TRIGGER inboxes_webhook_error AFTER UPDATE OF connection_status ON inboxes
    FOR EACH ROW WHEN (NEW.connection_status = 'error' AND OLD.connection_status <> 'error')
    EXECUTE FUNCTION webhook_inbox_error();
