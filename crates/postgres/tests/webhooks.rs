//! Webhooks in PostgreSQL: the fan-out trigger, the triggers of the new event kinds, claim order
//! per lead, retry scheduling, disabling, isolation. A fresh database per test.

use std::sync::Arc;
use std::time::Duration;

use reachkit_core::ids::{CampaignId, LeadId, WebhookDeliveryId, WebhookEndpointId, WorkspaceId};
use reachkit_core::metrics::MetricsSource;
use reachkit_core::paging::PageRequest;
use reachkit_core::secrets::AesGcmSecretBox;
use reachkit_core::webhooks::{
    AttemptOutcome, DeliveryStatus, EndpointChanges, EndpointInput, WebhookRepository,
    WebhookService, WebhookSettings,
};
use reachkit_core::workspaces::{Workspace, WorkspaceRepository};
use reachkit_postgres::{PgMetricsSource, PgWebhookRepository, PgWorkspaceRepository};
use reachkit_testkit::{SettableClock, TestDatabase, execute, insert_campaign};
use time::OffsetDateTime;
use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2026-11-30 09:00:00 UTC);
const LEASE: Duration = Duration::from_secs(60);

struct Fixture {
    db: TestDatabase,
    repo: PgWebhookRepository,
    service: WebhookService,
}

async fn fixture() -> Fixture {
    let db = match TestDatabase::create().await {
        Ok(db) => db,
        Err(e) => panic!("cannot create a test database: {e:#}"),
    };
    let repo = PgWebhookRepository::new(db.db.clone());
    let service = WebhookService::new(
        Arc::new(repo.clone()),
        Arc::new(AesGcmSecretBox::from_bytes(&[7; 32]).expect("key")),
        Arc::new(SettableClock::new(T0)),
        WebhookSettings::default(),
    );
    Fixture { db, repo, service }
}

impl Fixture {
    async fn workspace(&self) -> WorkspaceId {
        let ws = Workspace {
            id: WorkspaceId::new(),
            name: "Agency".into(),
            created_at: T0,
            updated_at: T0,
        };
        PgWorkspaceRepository::new(self.db.db.clone())
            .insert(&ws)
            .await
            .expect("workspace");
        ws.id
    }

    async fn endpoint(
        &self,
        ws: WorkspaceId,
        types: &[&str],
        campaign: Option<CampaignId>,
    ) -> WebhookEndpointId {
        self.service
            .create(
                ws,
                EndpointInput {
                    url: "https://hooks.example.com/in".into(),
                    description: None,
                    event_types: types.iter().map(|t| (*t).to_owned()).collect(),
                    campaign_id: campaign,
                },
            )
            .await
            .expect("create endpoint")
            .endpoint
            .id
    }

    async fn event(&self, ws: WorkspaceId, campaign: CampaignId, lead: LeadId, kind: &str) {
        execute(
            &self.db.url,
            &format!(
                "INSERT INTO events (workspace_id, campaign_id, lead_id, kind, data, created_at) \
                 VALUES ('{ws}', '{campaign}', '{lead}', '{kind}', '{{\"step\": 1}}', \
                 '2026-11-30T09:00:00Z')"
            ),
        )
        .await
        .expect("event");
    }

    async fn types_of(&self, ws: WorkspaceId, id: WebhookEndpointId) -> Vec<String> {
        self.repo
            .deliveries(
                ws,
                id,
                PageRequest::new(None, Some(100), 100).expect("page"),
            )
            .await
            .expect("deliveries")
            .items
            .into_iter()
            .map(|d| d.event_type)
            .collect()
    }

    async fn claim(&self, at: OffsetDateTime) -> Vec<WebhookDeliveryId> {
        self.repo
            .claim_due("test", at, LEASE, 50)
            .await
            .expect("claim")
            .into_iter()
            .map(|d| d.id)
            .collect()
    }
}

#[tokio::test]
async fn an_event_fans_out_only_to_matching_enabled_endpoints_of_its_workspace() {
    let f = fixture().await;
    let (ws, other) = (f.workspace().await, f.workspace().await);
    let (x, y) = (
        insert_campaign(&f.db, ws, "X").await.expect("campaign"),
        insert_campaign(&f.db, ws, "Y").await.expect("campaign"),
    );
    let all = f.endpoint(ws, &["email_sent"], None).await;
    let only_x = f.endpoint(ws, &["email_sent"], Some(x)).await;
    let replies = f.endpoint(ws, &["reply_received"], None).await;
    let disabled = f.endpoint(ws, &["email_sent"], None).await;
    f.service
        .update(
            ws,
            disabled,
            EndpointChanges {
                enabled: Some(false),
                ..EndpointChanges::default()
            },
        )
        .await
        .expect("disable");
    let foreign = f.endpoint(other, &["email_sent"], None).await;

    f.event(ws, y, LeadId::new(), "email_sent").await;
    f.event(ws, x, LeadId::new(), "email_sent").await;
    f.event(ws, x, LeadId::new(), "lead_finished").await;

    assert_eq!(f.types_of(ws, all).await, ["email_sent", "email_sent"]);
    assert_eq!(f.types_of(ws, only_x).await, ["email_sent"]);
    assert!(f.types_of(ws, replies).await.is_empty());
    assert!(f.types_of(ws, disabled).await.is_empty());
    assert!(f.types_of(other, foreign).await.is_empty());
}

#[tokio::test]
async fn the_payload_carries_the_type_timestamp_and_event_data() {
    let f = fixture().await;
    let ws = f.workspace().await;
    let campaign = insert_campaign(&f.db, ws, "X").await.expect("campaign");
    let lead = LeadId::new();
    let ep = f.endpoint(ws, &["email_sent"], None).await;
    f.event(ws, campaign, lead, "email_sent").await;
    let page = f
        .repo
        .deliveries(ws, ep, PageRequest::new(None, None, 30).expect("page"))
        .await
        .expect("deliveries");
    let p = &page.items[0].payload;
    assert_eq!(p["type"], "email_sent");
    assert_eq!(p["timestamp"], "2026-11-30T09:00:00.000000Z");
    assert_eq!(p["data"]["lead_id"], lead.to_string());
    assert_eq!(p["data"]["campaign_id"], campaign.to_string());
    assert_eq!(p["data"]["step"], 1);
    assert_eq!(page.items[0].status, DeliveryStatus::Pending);
}

#[tokio::test]
async fn campaign_status_changes_and_completion_become_events() {
    let f = fixture().await;
    let ws = f.workspace().await;
    let campaign = insert_campaign(&f.db, ws, "X").await.expect("campaign");
    let ep = f
        .endpoint(
            ws,
            &[
                "campaign_status_changed",
                "campaign_completed",
                "lead_unsubscribed",
            ],
            None,
        )
        .await;
    execute(
        &f.db.url,
        &format!("UPDATE campaigns SET status = 'active' WHERE id = '{campaign}'"),
    )
    .await
    .expect("launch");
    execute(
        &f.db.url,
        &format!("UPDATE campaigns SET name = 'renamed' WHERE id = '{campaign}'"),
    )
    .await
    .expect("rename");
    execute(
        &f.db.url,
        &format!(
            "UPDATE campaign_stats SET leads_count = 2, finished_leads = 2 \
             WHERE campaign_id = '{campaign}'"
        ),
    )
    .await
    .expect("complete");
    let types = f.types_of(ws, ep).await;
    assert_eq!(types, ["campaign_completed", "campaign_status_changed"]);
}

#[tokio::test]
async fn a_later_delivery_for_a_lead_waits_for_the_earlier_one() {
    let f = fixture().await;
    let ws = f.workspace().await;
    let campaign = insert_campaign(&f.db, ws, "X").await.expect("campaign");
    f.endpoint(ws, &["email_sent", "lead_bounced"], None).await;
    let (lead, other) = (LeadId::new(), LeadId::new());
    f.event(ws, campaign, lead, "email_sent").await;
    f.event(ws, campaign, lead, "lead_bounced").await;
    f.event(ws, campaign, other, "email_sent").await;

    let first = f.claim(T0).await;
    assert_eq!(first.len(), 2, "the first of each lead");
    // Claimed rows are leased: nothing more until the lease ends or attempts are recorded.
    assert!(f.claim(T0).await.is_empty());

    // The first delivery of `lead` fails and waits for its retry: the second still waits.
    let retry_at = T0 + Duration::from_secs(30);
    f.repo
        .record_attempt(
            first[0],
            T0,
            &AttemptOutcome::Retry {
                status_code: Some(500),
                error: "answered 500".into(),
                next_attempt_at: retry_at,
            },
        )
        .await
        .expect("record");
    f.repo
        .record_attempt(
            first[1],
            T0,
            &AttemptOutcome::Delivered { status_code: 200 },
        )
        .await
        .expect("record");
    assert!(f.claim(T0 + Duration::from_secs(10)).await.is_empty());
    let again = f.claim(retry_at).await;
    assert_eq!(again, [first[0]]);
    f.repo
        .record_attempt(
            first[0],
            retry_at,
            &AttemptOutcome::Delivered { status_code: 200 },
        )
        .await
        .expect("record");
    let next = f.claim(retry_at).await;
    assert_eq!(next.len(), 1);
    assert!(!first.contains(&next[0]));
}

#[tokio::test]
async fn an_expired_lease_is_claimed_again() {
    let f = fixture().await;
    let ws = f.workspace().await;
    let ep = f.endpoint(ws, &["email_sent"], None).await;
    f.service.send_test(ws, ep).await.expect("test");
    assert_eq!(f.claim(T0).await.len(), 1);
    assert!(f.claim(T0 + Duration::from_secs(59)).await.is_empty());
    assert_eq!(f.claim(T0 + LEASE).await.len(), 1);
}

#[tokio::test]
async fn persistent_failures_disable_the_endpoint_until_it_is_reenabled() {
    let f = fixture().await;
    let ws = f.workspace().await;
    let ep = f.endpoint(ws, &["email_sent"], None).await;
    for _ in 0..3 {
        f.service.send_test(ws, ep).await.expect("test");
    }
    let claimed = f.claim(T0).await;
    assert_eq!(claimed.len(), 3);
    let gave_up = AttemptOutcome::GaveUp {
        status_code: None,
        error: "connection refused".into(),
        disable_after: 2,
    };
    f.repo
        .record_attempt(claimed[0], T0, &gave_up)
        .await
        .expect("record");
    assert!(f.service.get(ws, ep).await.expect("get").enabled);
    f.repo
        .record_attempt(claimed[1], T0, &gave_up)
        .await
        .expect("record");
    let disabled = f.service.get(ws, ep).await.expect("get");
    assert!(!disabled.enabled);
    assert!(disabled.disabled_reason.is_some());
    let metrics = PgMetricsSource::new(f.db.db.clone())
        .snapshot(T0)
        .await
        .expect("metrics");
    assert_eq!(metrics.webhook_endpoints_disabled, 1);
    assert!(
        metrics
            .webhook_deliveries_by_status
            .contains(&("failed".to_owned(), 2))
    );
    // Its pending delivery is not claimed while it is disabled (lease ended meanwhile).
    let later = T0 + LEASE;
    assert!(f.claim(later).await.is_empty());
    let renamed = f
        .service
        .update(
            ws,
            ep,
            EndpointChanges {
                description: Some("renamed".into()),
                ..EndpointChanges::default()
            },
        )
        .await
        .expect("rename");
    assert!(
        !renamed.enabled && renamed.disabled_reason.is_some(),
        "an update without `enabled` leaves the worker's decision alone"
    );
    let enabled = f
        .service
        .update(
            ws,
            ep,
            EndpointChanges {
                enabled: Some(true),
                ..EndpointChanges::default()
            },
        )
        .await
        .expect("re-enable");
    assert!(enabled.enabled && enabled.disabled_reason.is_none());
    assert_eq!(f.claim(later).await, [claimed[2]]);
    let log = f
        .repo
        .deliveries(ws, ep, PageRequest::new(None, None, 30).expect("page"))
        .await
        .expect("log");
    let failed = log
        .items
        .iter()
        .filter(|d| d.status == DeliveryStatus::Failed && d.attempts == 1)
        .count();
    assert_eq!(failed, 2);
}

#[tokio::test]
async fn another_workspace_cannot_see_or_touch_an_endpoint() {
    let f = fixture().await;
    let (ws, other) = (f.workspace().await, f.workspace().await);
    let ep = f.endpoint(ws, &["email_sent"], None).await;
    let delivery = f.service.send_test(ws, ep).await.expect("test");
    assert!(f.repo.get(other, ep).await.expect("get").is_none());
    assert!(!f.repo.delete(other, ep).await.expect("delete"));
    assert!(
        f.repo
            .redeliver(other, ep, delivery, T0)
            .await
            .expect("redeliver")
            .is_none()
    );
    let page = PageRequest::new(None, None, 30).expect("page");
    assert_eq!(
        f.repo
            .deliveries(other, ep, page)
            .await
            .expect("log")
            .total_count,
        0
    );
    assert_eq!(f.repo.list(other, page).await.expect("list").total_count, 0);
    assert_eq!(f.repo.list(ws, page).await.expect("list").total_count, 1);
    assert!(f.repo.delete(ws, ep).await.expect("delete"));
}

#[tokio::test]
async fn redelivery_makes_a_failed_delivery_pending_again() {
    let f = fixture().await;
    let ws = f.workspace().await;
    let ep = f.endpoint(ws, &["email_sent"], None).await;
    let id = f.service.send_test(ws, ep).await.expect("test");
    let claimed = f.claim(T0).await;
    f.repo
        .record_attempt(
            claimed[0],
            T0,
            &AttemptOutcome::GaveUp {
                status_code: Some(410),
                error: "answered 410".into(),
                disable_after: 5,
            },
        )
        .await
        .expect("record");
    let later = T0 + Duration::from_secs(3600);
    let d = f
        .repo
        .redeliver(ws, ep, id, later)
        .await
        .expect("redeliver")
        .expect("found");
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Pending, 0));
    assert_eq!(d.last_status_code, Some(410));
    assert_eq!(f.claim(later).await, [id]);
}

#[tokio::test]
async fn an_unsubscribe_a_label_change_and_an_inbox_error_become_events() {
    use reachkit_core::ids::BlocklistEntryId;
    use reachkit_core::leads::{LeadService, NewLeadInput};
    use reachkit_core::unsubscribe::UnsubscribeRepository;
    use reachkit_postgres::{PgLeadRepository, PgUnsubscribeRepository};

    let f = fixture().await;
    let ws = f.workspace().await;
    let campaign = insert_campaign(&f.db, ws, "X").await.expect("campaign");
    let ep = f
        .endpoint(
            ws,
            &["lead_unsubscribed", "lead_label_changed", "inbox_error"],
            None,
        )
        .await;
    let lead = LeadService::new(
        Arc::new(PgLeadRepository::new(f.db.db.clone())),
        Arc::new(SettableClock::new(T0)),
    )
    .add(
        ws,
        campaign,
        &NewLeadInput {
            email: "bob@lead.test".into(),
            ..NewLeadInput::default()
        },
    )
    .await
    .expect("lead")
    .lead
    .id;
    let unsubscribe = PgUnsubscribeRepository::new(f.db.db.clone());
    for _ in 0..2 {
        unsubscribe
            .unsubscribe(lead, BlocklistEntryId::new(), T0)
            .await
            .expect("unsubscribe");
    }
    let inbox = reachkit_testkit::insert_inbox(&f.db.url, ws.as_uuid(), "s@a.test", "connected")
        .await
        .expect("inbox");
    execute(
        &f.db.url,
        &format!(
            "INSERT INTO conversations (id, workspace_id, inbox_id, lead_id, campaign_id, label, \
             last_message_at, created_at, updated_at) VALUES (gen_random_uuid(), '{ws}', \
             '{inbox}', '{lead}', '{campaign}', 'neutral', now(), now(), now())"
        ),
    )
    .await
    .expect("conversation");
    execute(
        &f.db.url,
        "UPDATE conversations SET label_override = 'interested'",
    )
    .await
    .expect("label");
    execute(
        &f.db.url,
        "UPDATE conversations SET label_override = 'interested', updated_at = now()",
    )
    .await
    .expect("same label");
    execute(
        &f.db.url,
        &format!(
            "UPDATE inboxes SET connection_status = 'error', connection_error = 'AUTH failed' \
             WHERE id = '{inbox}'"
        ),
    )
    .await
    .expect("inbox error");
    let page = PageRequest::new(None, None, 30).expect("page");
    let log = f.repo.deliveries(ws, ep, page).await.expect("log").items;
    let types: Vec<&str> = log.iter().map(|d| d.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["inbox_error", "lead_label_changed", "lead_unsubscribed"],
        "one unsubscribe event for two clicks, none for an unchanged label"
    );
    assert_eq!(log[0].payload["data"]["error"], "AUTH failed");
    assert_eq!(log[1].payload["data"]["to"], "interested");
    assert_eq!(log[1].payload["data"]["from"], "neutral");
    assert_eq!(log[2].payload["data"]["lead_id"], lead.to_string());
}
