-- Records :n sent emails for campaign :'campaign' (psql variables), as the engine leaves them:
-- one finished lead per email and one `sent` row in sends, so that reads are measured against a
-- table of that size. Counters are set by the caller.
\set ON_ERROR_STOP 1
DELETE FROM leads WHERE campaign_id = :'campaign';
INSERT INTO leads (id, workspace_id, campaign_id, email, email_domain, status, next_step,
                   next_due_at, finished_reason, created_at, updated_at)
SELECT gen_random_uuid(), c.workspace_id, c.id, 'lead' || g || '@bench.example', 'bench.example',
       'contacted', 2, NULL, 'completed', now(), now()
  FROM campaigns c, generate_series(1, :n) AS g
 WHERE c.id = :'campaign';
INSERT INTO sends (id, workspace_id, campaign_id, lead_id, step, message_id, status, attempts,
                   not_before, inbox_day, campaign_day, queued_at, sent_at, updated_at)
SELECT gen_random_uuid(), l.workspace_id, l.campaign_id, l.id, 1,
       l.id::text || '@bench.example', 'sent', 1, now(), current_date, current_date, now(), now(),
       now()
  FROM leads l
 WHERE l.campaign_id = :'campaign';
ANALYZE leads;
ANALYZE sends;
