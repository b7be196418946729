//! The send queue in PostgreSQL: never twice, limits held under concurrent planners, the
//! schedule and its DST days, delays, esp_matching, the blocklist, paused campaigns, recovery,
//! counters and cascades. A fresh database per test; time is given, never waited for.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reachkit_core::engine::{
    CancelReason, FinishReason, Outcome, PlanSettings, SendQueue, SendResult,
};
use reachkit_core::ids::WorkspaceId;
use reachkit_core::workspaces::{Workspace, WorkspaceRepository};
use reachkit_postgres::{PgSendQueue, PgWorkspaceRepository};
use reachkit_testkit::{TestDatabase, execute, insert_inbox};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// A Monday in November: London is on GMT, so local time = UTC.
const T0: OffsetDateTime = datetime!(2026-11-30 10:00 UTC);

const SETTINGS: PlanSettings = PlanSettings {
    min_gap_seconds: 0,
    max_jitter_seconds: 0,
    max_per_campaign: 1000,
};

async fn database() -> TestDatabase {
    match TestDatabase::create().await {
        Ok(db) => db,
        Err(e) => panic!("cannot create a test database: {e:#}"),
    }
}

async fn sql(db: &TestDatabase, q: &str) -> usize {
    match execute(&db.url, q).await {
        Ok(n) => n,
        Err(e) => panic!("{q}: {e:#}"),
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(db: &TestDatabase, q: &str) -> i64 {
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    let c: Count = diesel::sql_query(q)
        .get_result(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{q}: {e}"));
    c.n
}

#[derive(QueryableByName, Debug)]
struct LeadRow {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Integer)]
    next_step: i32,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    next_due_at: Option<OffsetDateTime>,
    #[diesel(sql_type = Nullable<Text>)]
    finished_reason: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    inbox_id: Option<Uuid>,
}

async fn lead(db: &TestDatabase, id: Uuid) -> LeadRow {
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    diesel::sql_query(
        "SELECT status, next_step, next_due_at, finished_reason, inbox_id FROM leads WHERE id = $1",
    )
    .bind::<SqlUuid, _>(id)
    .get_result(&mut conn)
    .await
    .expect("lead")
}

fn days_json(enabled: bool) -> String {
    let days = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let entries: Vec<String> = days
        .iter()
        .map(|d| format!(r#""{d}": {{"enabled": {enabled}, "start": null, "end": null}}"#))
        .collect();
    format!("{{{}}}", entries.join(", "))
}

struct Campaign {
    ws: WorkspaceId,
    id: Uuid,
    variants: Vec<Uuid>,
}

async fn workspace(db: &TestDatabase) -> WorkspaceId {
    let ws = Workspace {
        id: WorkspaceId::new(),
        name: "acme".to_owned(),
        created_at: T0,
        updated_at: T0,
    };
    PgWorkspaceRepository::new(db.db.clone())
        .insert(&ws)
        .await
        .expect("insert workspace");
    ws.id
}

/// An active campaign open all day every day (window 00:00-23:30) in `zone`, with `steps`
/// delays (one variant "A" per step, subject "S<n>" on step 1 only).
async fn campaign(
    db: &TestDatabase,
    ws: WorkspaceId,
    zone: &str,
    daily_limit: i32,
    delays: &[i32],
) -> Campaign {
    let id = Uuid::now_v7();
    sql(
        db,
        &format!(
            "INSERT INTO campaigns (id, workspace_id, name, status, daily_limit, timezone, \
             window_start, window_end, schedule_days, created_at, updated_at) VALUES \
             ('{id}', '{ws}', 'c', 'active', {daily_limit}, '{zone}', 0, 1410, \
             '{}'::jsonb, now(), now())",
            days_json(true)
        ),
    )
    .await;
    sql(
        db,
        &format!("INSERT INTO campaign_stats (campaign_id, workspace_id) VALUES ('{id}', '{ws}')"),
    )
    .await;
    let mut variants = Vec::new();
    for (i, delay) in delays.iter().enumerate() {
        let step = i + 1;
        let seq = Uuid::now_v7();
        let v = Uuid::now_v7();
        let subject = if step == 1 { "'S1'" } else { "NULL" };
        sql(
            db,
            &format!(
                "INSERT INTO sequences (id, workspace_id, campaign_id, step, delay_days, \
                 created_at, updated_at) VALUES ('{seq}', '{ws}', '{id}', {step}, {delay}, now(), now())"
            ),
        )
        .await;
        sql(
            db,
            &format!(
                "INSERT INTO variants (id, workspace_id, campaign_id, sequence_id, letter, ordinal, \
                 subject, body_html, body_text, created_at, updated_at) VALUES ('{v}', '{ws}', \
                 '{id}', '{seq}', 'A', 0, {subject}, '<p>Hi</p>', 'Hi', now(), now())"
            ),
        )
        .await;
        variants.push(v);
    }
    Campaign { ws, id, variants }
}

async fn inbox(db: &TestDatabase, c: &Campaign, email: &str, limit: i32, provider: &str) -> Uuid {
    let id = insert_inbox(&db.url, c.ws.as_uuid(), email, "connected")
        .await
        .expect("inbox");
    sql(
        db,
        &format!(
            "UPDATE inboxes SET daily_campaign_limit = {limit}, provider = '{provider}' \
             WHERE id = '{id}'"
        ),
    )
    .await;
    attach(db, c, id).await;
    id
}

async fn attach(db: &TestDatabase, c: &Campaign, inbox: Uuid) {
    sql(
        db,
        &format!(
            "INSERT INTO campaign_inboxes (campaign_id, inbox_id, workspace_id, created_at) \
             VALUES ('{}', '{inbox}', '{}', now())",
            c.id, c.ws
        ),
    )
    .await;
}

async fn leads(db: &TestDatabase, c: &Campaign, n: usize, created: OffsetDateTime) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = Uuid::now_v7();
        let mut conn = AsyncPgConnection::establish(&db.url)
            .await
            .expect("connect");
        diesel::sql_query(
            "INSERT INTO leads (id, workspace_id, campaign_id, email, email_domain, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, 'prospects.test', $5, $5)",
        )
        .bind::<SqlUuid, _>(id)
        .bind::<SqlUuid, _>(c.ws.as_uuid())
        .bind::<SqlUuid, _>(c.id)
        .bind::<Text, _>(format!("lead{i}-{}@prospects.test", id.simple()))
        .bind::<Timestamptz, _>(created)
        .execute(&mut conn)
        .await
        .expect("lead");
        ids.push(id);
    }
    sql(
        db,
        &format!(
            "UPDATE campaign_stats SET leads_count = leads_count + {n} WHERE campaign_id = '{}'",
            c.id
        ),
    )
    .await;
    ids
}

fn queue(db: &TestDatabase) -> PgSendQueue {
    PgSendQueue::new(db.db.clone())
}

async fn sends_of(db: &TestDatabase, c: &Campaign, status: &str) -> i64 {
    count(
        db,
        &format!(
            "SELECT count(*) AS n FROM sends WHERE campaign_id = '{}' AND status = '{status}'",
            c.id
        ),
    )
    .await
}

async fn stat(db: &TestDatabase, c: &Campaign, column: &str) -> i64 {
    count(
        db,
        &format!(
            "SELECT {column}::bigint AS n FROM campaign_stats WHERE campaign_id = '{}'",
            c.id
        ),
    )
    .await
}

fn sent(id: reachkit_core::ids::SendId, at: OffsetDateTime) -> SendResult {
    SendResult {
        send_id: id,
        at,
        outcome: Outcome::Sent {
            reply: "250 ok".into(),
            new_thread_subject: Some("S1".into()),
            content: None,
        },
    }
}

#[tokio::test]
async fn planning_queues_each_due_lead_once_and_a_second_plan_queues_nothing() {
    let db = database().await;
    let ws = workspace(&db).await;
    let c = campaign(&db, ws, "Europe/London", 50, &[2, 0]).await;
    let inbox = inbox(&db, &c, "alice@reachkit.test", 30, "other").await;
    let ids = leads(&db, &c, 3, T0 - Duration::hours(1)).await;
    let q = queue(&db);
    let report = q.plan(T0, SETTINGS).await.expect("plan");
    assert_eq!(report.queued, 3);
    assert_eq!(q.plan(T0, SETTINGS).await.expect("plan").queued, 0);
    assert_eq!(sends_of(&db, &c, "queued").await, 3);
    let l = lead(&db, ids[0]).await;
    assert_eq!(l.next_due_at, None);
    assert_eq!(l.inbox_id, Some(inbox));
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT sends::bigint AS n FROM campaign_usage WHERE campaign_id = '{}'",
                c.id
            )
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT campaign_sends::bigint AS n FROM inbox_usage WHERE inbox_id = '{inbox}'"
            )
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT assigned AS n FROM variants WHERE id = '{}'",
                c.variants[0]
            )
        )
        .await,
        3
    );
    // A lead made due again by mistake: the unique key refuses its step a second time and
    // nothing more is reserved.
    sql(
        &db,
        &format!(
            "UPDATE leads SET next_due_at = '{T0}' WHERE id = '{}'",
            ids[0]
        ),
    )
    .await;
    assert_eq!(q.plan(T0, SETTINGS).await.expect("plan").queued, 0);
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT count(*) AS n FROM sends WHERE lead_id = '{}'",
                ids[0]
            )
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT sends::bigint AS n FROM campaign_usage WHERE campaign_id = '{}'",
                c.id
            )
        )
        .await,
        3
    );
    assert_eq!(lead(&db, ids[0]).await.next_due_at, None);
}

#[tokio::test]
async fn concurrent_planners_never_queue_a_step_twice_nor_overrun_any_daily_limit() {
    let db = database().await;
    let ws = workspace(&db).await;
    // Two campaigns share one inbox (limit 25/UTC day); each campaign allows 20/local day.
    let a = campaign(&db, ws, "Europe/London", 20, &[1]).await;
    let b = campaign(&db, ws, "Asia/Tokyo", 20, &[1]).await;
    let shared = inbox(&db, &a, "shared@reachkit.test", 25, "other").await;
    attach(&db, &b, shared).await;
    leads(&db, &a, 40, T0 - Duration::hours(1)).await;
    leads(&db, &b, 40, T0 - Duration::hours(1)).await;
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let q = queue(&db);
        tasks.push(tokio::spawn(async move {
            let mut total = 0;
            for _ in 0..3 {
                total += q
                    .plan(
                        T0,
                        PlanSettings {
                            max_per_campaign: 4,
                            ..SETTINGS
                        },
                    )
                    .await
                    .expect("plan")
                    .queued;
            }
            total
        }));
    }
    let mut queued = 0;
    for t in tasks {
        queued += t.await.expect("task");
    }
    let all = count(&db, "SELECT count(*) AS n FROM sends").await;
    assert_eq!(i64::try_from(queued).unwrap_or(-1), all);
    assert!(all <= 25, "inbox limit overrun: {all}");
    assert!(sends_of(&db, &a, "queued").await <= 20);
    assert!(sends_of(&db, &b, "queued").await <= 20);
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM (SELECT lead_id, step FROM sends GROUP BY 1, 2 HAVING count(*) > 1) d").await,
        0
    );
    // Plan until nothing more fits: exactly the inbox's limit is used.
    while queue(&db).plan(T0, SETTINGS).await.expect("plan").queued > 0 {}
    assert_eq!(count(&db, "SELECT count(*) AS n FROM sends").await, 25);
}

#[tokio::test]
async fn a_closed_window_a_paused_campaign_or_an_unusable_inbox_plans_nothing() {
    let db = database().await;
    let ws = workspace(&db).await;
    let c = campaign(&db, ws, "Europe/London", 50, &[1]).await;
    let ibx = inbox(&db, &c, "alice@reachkit.test", 30, "other").await;
    leads(&db, &c, 2, T0 - Duration::hours(1)).await;
    let q = queue(&db);
    // 09:00-17:00 only: 18:00 is closed.
    sql(
        &db,
        &format!(
            "UPDATE campaigns SET window_start = 540, window_end = 1020 WHERE id = '{}'",
            c.id
        ),
    )
    .await;
    assert_eq!(
        q.plan(T0 + Duration::hours(8), SETTINGS)
            .await
            .expect("plan")
            .queued,
        0
    );
    sql(
        &db,
        &format!(
            "UPDATE campaigns SET status = 'paused' WHERE id = '{}'",
            c.id
        ),
    )
    .await;
    assert_eq!(q.plan(T0, SETTINGS).await.expect("plan").queued, 0);
    sql(
        &db,
        &format!(
            "UPDATE campaigns SET status = 'active' WHERE id = '{}'",
            c.id
        ),
    )
    .await;
    sql(
        &db,
        &format!("UPDATE inboxes SET connection_status = 'error' WHERE id = '{ibx}'"),
    )
    .await;
    assert_eq!(q.plan(T0, SETTINGS).await.expect("plan").queued, 0);
    sql(
        &db,
        &format!("UPDATE inboxes SET connection_status = 'connected' WHERE id = '{ibx}'"),
    )
    .await;
    assert_eq!(q.plan(T0, SETTINGS).await.expect("plan").queued, 2);
    // Queued sends of a paused campaign wait: nothing is claimed.
    sql(
        &db,
        &format!(
            "UPDATE campaigns SET status = 'paused' WHERE id = '{}'",
            c.id
        ),
    )
    .await;
    assert!(
        q.claim(T0, "w", T0 + Duration::minutes(10), 10)
            .await
            .expect("claim")
            .is_empty()
    );
    sql(
        &db,
        &format!(
            "UPDATE campaigns SET status = 'active' WHERE id = '{}'",
            c.id
        ),
    )
    .await;
    assert_eq!(
        q.claim(T0, "w", T0 + Duration::minutes(10), 10)
            .await
            .expect("claim")
            .len(),
        2
    );
}

#[tokio::test]
async fn the_campaign_limit_counts_the_local_day_and_resets_at_local_midnight() {
    let db = database().await;
    let ws = workspace(&db).await;
    // Tokyo is UTC+9: 14:30 UTC is 23:30 local, 15:00 UTC the next local day.
    let c = campaign(&db, ws, "Asia/Tokyo", 2, &[1]).await;
    inbox(&db, &c, "alice@reachkit.test", 30, "other").await;
    leads(&db, &c, 5, T0 - Duration::hours(12)).await;
    let q = queue(&db);
    let late = datetime!(2026-11-30 14:20 UTC);
    assert_eq!(q.plan(late, SETTINGS).await.expect("plan").queued, 2);
    assert_eq!(q.plan(late, SETTINGS).await.expect("plan").queued, 0);
    let next_local_day = datetime!(2026-11-30 15:05 UTC);
    assert_eq!(
        q.plan(next_local_day, SETTINGS).await.expect("plan").queued,
        2
    );
}

#[tokio::test]
async fn a_follow_up_waits_delay_days_then_the_window_and_goes_from_the_same_inbox() {
    let db = database().await;
    let ws = workspace(&db).await;
    let c = campaign(&db, ws, "America/New_York", 50, &[1, 3]).await;
    sql(
        &db,
        &format!(
            "UPDATE campaigns SET window_start = 540, window_end = 1020 WHERE id = '{}'",
            c.id
        ),
    )
    .await;
    let first = inbox(&db, &c, "alice@reachkit.test", 30, "other").await;
    let ids = leads(&db, &c, 1, datetime!(2026-03-01 00:00 UTC)).await;
    let q = queue(&db);
    // Saturday 2026-03-07 16:30 EST (21:30 UTC); DST starts Sunday 2026-03-08.
    let sat = datetime!(2026-03-07 21:30 UTC);
    assert_eq!(q.plan(sat, SETTINGS).await.expect("plan").queued, 1);
    inbox(&db, &c, "aaron@reachkit.test", 30, "other").await; // a less used inbox appears
    let claimed = q
        .claim(sat, "w", sat + Duration::minutes(10), 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    q.record("w", &[sent(claimed[0].id, sat)])
        .await
        .expect("record");
    let l = lead(&db, ids[0]).await;
    assert_eq!((l.status.as_str(), l.next_step), ("contacted", 2));
    // One calendar day later at the same local time (16:30 EDT = 20:30 UTC across the DST
    // change), inside the 09:00-17:00 window.
    assert_eq!(l.next_due_at, Some(datetime!(2026-03-08 20:30 UTC)));
    assert_eq!(
        q.plan(datetime!(2026-03-08 20:00 UTC), SETTINGS)
            .await
            .expect("plan")
            .queued,
        0
    );
    assert_eq!(
        q.plan(datetime!(2026-03-08 20:30 UTC), SETTINGS)
            .await
            .expect("plan")
            .queued,
        1
    );
    let claimed = q
        .claim(
            datetime!(2026-03-08 20:30 UTC),
            "w",
            datetime!(2026-03-08 21:00 UTC),
            10,
        )
        .await
        .expect("claim");
    assert_eq!(claimed[0].inbox.id.as_uuid(), first, "the sticky inbox");
    assert_eq!(claimed[0].step, 2);
    assert_eq!(claimed[0].lead.thread.len(), 1);
    assert_eq!(claimed[0].lead.thread_subject.as_deref(), Some("S1"));
    // The last step: the lead finishes as completed.
    q.record(
        "w",
        &[SendResult {
            send_id: claimed[0].id,
            at: datetime!(2026-03-08 20:31 UTC),
            outcome: Outcome::Sent {
                reply: "250".into(),
                new_thread_subject: None,
                content: None,
            },
        }],
    )
    .await
    .expect("record");
    let l = lead(&db, ids[0]).await;
    assert_eq!(l.finished_reason.as_deref(), Some("completed"));
    assert_eq!(l.next_due_at, None);
    assert_eq!(stat(&db, &c, "finished_leads").await, 1);
    assert_eq!(stat(&db, &c, "sent").await, 2);
    assert_eq!(stat(&db, &c, "contacted").await, 1);
}

#[tokio::test]
async fn esp_matching_pairs_leads_with_inboxes_of_their_provider_and_unknown_providers_wait() {
    let db = database().await;
    let ws = workspace(&db).await;
    let c = campaign(&db, ws, "Europe/London", 50, &[1]).await;
    sql(
        &db,
        &format!(
            "UPDATE campaigns SET esp_matching = true WHERE id = '{}'",
            c.id
        ),
    )
    .await;
    let google = inbox(&db, &c, "g@reachkit.test", 30, "google").await;
    let _other = inbox(&db, &c, "o@reachkit.test", 30, "other").await;
    let ids = leads(&db, &c, 3, T0 - Duration::hours(1)).await;
    sql(
        &db,
        &format!(
            "UPDATE leads SET provider = 'google' WHERE id IN ('{}', '{}')",
            ids[0], ids[1]
        ),
    )
    .await;
    let q = queue(&db);
    assert_eq!(q.plan(T0, SETTINGS).await.expect("plan").queued, 2);
    assert_eq!(lead(&db, ids[0]).await.inbox_id, Some(google));
    assert_eq!(lead(&db, ids[1]).await.inbox_id, Some(google));
    assert!(
        lead(&db, ids[2]).await.next_due_at.is_some(),
        "waits for its provider"
    );
    sql(
        &db,
        &format!(
            "UPDATE leads SET provider = 'microsoft' WHERE id = '{}'",
            ids[2]
        ),
    )
    .await;
    assert_eq!(
        q.plan(T0, SETTINGS).await.expect("plan").queued,
        0,
        "no microsoft inbox"
    );
}

#[tokio::test]
async fn a_blocklisted_lead_is_finished_at_planning_and_cancelled_at_sending() {
    let db = database().await;
    let ws = workspace(&db).await;
    let c = campaign(&db, ws, "Europe/London", 50, &[1]).await;
    let ibx = inbox(&db, &c, "alice@reachkit.test", 30, "other").await;
    let ids = leads(&db, &c, 2, T0 - Duration::hours(1)).await;
    let block = |id: Uuid| {
        format!(
            "INSERT INTO blocklist_entries (id, workspace_id, email, created_at) \
             SELECT gen_random_uuid(), workspace_id, email, now() FROM leads WHERE id = '{id}'"
        )
    };
    sql(&db, &block(ids[0])).await;
    let q = queue(&db);
    let report = q.plan(T0, SETTINGS).await.expect("plan");
    assert_eq!((report.queued, report.finished), (1, 1));
    assert_eq!(
        lead(&db, ids[0]).await.finished_reason.as_deref(),
        Some("blocklisted")
    );
    assert_eq!(stat(&db, &c, "finished_leads").await, 1);
    // Blocklisted after it was queued: the claim says so, the send is cancelled and its
    // reservation returned.
    sql(&db, &block(ids[1])).await;
    let claimed = q
        .claim(T0, "w", T0 + Duration::minutes(10), 10)
        .await
        .expect("claim");
    assert_eq!(claimed[0].lead.stopped, Some(FinishReason::Blocklisted));
    q.record(
        "w",
        &[SendResult {
            send_id: claimed[0].id,
            at: T0,
            outcome: Outcome::Cancelled(CancelReason::Stopped(FinishReason::Blocklisted)),
        }],
    )
    .await
    .expect("record");
    assert_eq!(sends_of(&db, &c, "cancelled").await, 1);
    assert_eq!(
        lead(&db, ids[1]).await.finished_reason.as_deref(),
        Some("blocklisted")
    );
    assert_eq!(stat(&db, &c, "finished_leads").await, 2);
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT campaign_sends::bigint AS n FROM inbox_usage WHERE inbox_id = '{ibx}'"
            )
        )
        .await,
        0
    );
    assert_eq!(stat(&db, &c, "sent").await, 0);
}

#[tokio::test]
async fn outcomes_update_the_counters_daily_rows_and_lead_in_the_same_transaction() {
    let db = database().await;
    let ws = workspace(&db).await;
    let c = campaign(&db, ws, "Europe/London", 50, &[1, 1]).await;
    inbox(&db, &c, "alice@reachkit.test", 30, "other").await;
    let ids = leads(&db, &c, 4, T0 - Duration::hours(1)).await;
    let q = queue(&db);
    q.plan(T0, SETTINGS).await.expect("plan");
    let claimed = q
        .claim(T0, "w", T0 + Duration::minutes(10), 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 4);
    let by_lead = |i: usize| {
        claimed
            .iter()
            .find(|s| s.lead.id.as_uuid() == ids[i])
            .expect("claimed")
            .id
    };
    let results = vec![
        sent(by_lead(0), T0),
        SendResult {
            send_id: by_lead(1),
            at: T0,
            outcome: Outcome::Bounced {
                reply: "550 5.1.1".into(),
            },
        },
        SendResult {
            send_id: by_lead(2),
            at: T0,
            outcome: Outcome::Retry {
                reply: "451".into(),
                not_before: T0 + Duration::minutes(5),
            },
        },
        SendResult {
            send_id: by_lead(3),
            at: T0,
            outcome: Outcome::Failed {
                reply: "451 again".into(),
            },
        },
    ];
    q.record("w", &results).await.expect("record");
    assert_eq!(stat(&db, &c, "sent").await, 1);
    assert_eq!(stat(&db, &c, "contacted").await, 1);
    assert_eq!(stat(&db, &c, "bounced").await, 1);
    assert_eq!(stat(&db, &c, "finished_leads").await, 2);
    assert_eq!(
        count(&db, &format!("SELECT sent AS n FROM campaign_daily_stats WHERE campaign_id = '{}' AND day = '2026-11-30'", c.id)).await,
        1
    );
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT sent AS n FROM variants WHERE id = '{}'",
                c.variants[0]
            )
        )
        .await,
        1
    );
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM leads WHERE is_bounced").await,
        1
    );
    assert_eq!(
        lead(&db, ids[3]).await.finished_reason.as_deref(),
        Some("failed")
    );
    // The failed send's reservation came back; the deferred one keeps its own.
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT sends::bigint AS n FROM campaign_usage WHERE campaign_id = '{}'",
                c.id
            )
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) AS n FROM events WHERE kind = 'email_sent'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) AS n FROM events WHERE kind = 'lead_bounced'"
        )
        .await,
        1
    );
    // The deferred send comes back after its not_before, with the same Message-ID.
    assert!(
        q.claim(
            T0 + Duration::minutes(4),
            "w",
            T0 + Duration::minutes(20),
            10
        )
        .await
        .expect("claim")
        .is_empty()
    );
    let again = q
        .claim(
            T0 + Duration::minutes(5),
            "w",
            T0 + Duration::minutes(20),
            10,
        )
        .await
        .expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(
        again[0].message_id,
        claimed
            .iter()
            .find(|s| s.id == again[0].id)
            .expect("same")
            .message_id
    );
    // An outcome for a send we no longer hold changes nothing.
    q.record("other-worker", &[sent(again[0].id, T0)])
        .await
        .expect("record");
    assert_eq!(stat(&db, &c, "sent").await, 1);
}

#[tokio::test]
async fn an_expired_claim_becomes_unknown_is_never_sent_again_and_the_lead_moves_on() {
    let db = database().await;
    let ws = workspace(&db).await;
    let c = campaign(&db, ws, "Europe/London", 50, &[1, 1]).await;
    inbox(&db, &c, "alice@reachkit.test", 30, "other").await;
    let ids = leads(&db, &c, 1, T0 - Duration::hours(1)).await;
    let q = queue(&db);
    q.plan(T0, SETTINGS).await.expect("plan");
    let claimed = q
        .claim(T0, "dead", T0 + Duration::minutes(10), 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    // The process died. Before the lease ends nothing happens.
    assert_eq!(
        q.recover(T0 + Duration::minutes(9))
            .await
            .expect("recover")
            .unknown,
        0
    );
    let report = q
        .recover(T0 + Duration::minutes(11))
        .await
        .expect("recover");
    assert_eq!(report.unknown, 1);
    assert_eq!(sends_of(&db, &c, "unknown").await, 1);
    assert_eq!(stat(&db, &c, "unknown").await, 1);
    assert_eq!(stat(&db, &c, "sent").await, 0);
    let l = lead(&db, ids[0]).await;
    assert_eq!(l.next_step, 2);
    assert!(l.next_due_at.is_some());
    assert!(
        q.claim(T0 + Duration::hours(1), "w", T0 + Duration::hours(2), 10)
            .await
            .expect("claim")
            .is_empty()
    );
    // The late outcome of the dead process is ignored.
    q.record("dead", &[sent(claimed[0].id, T0)])
        .await
        .expect("record");
    assert_eq!(sends_of(&db, &c, "unknown").await, 1);
}

#[tokio::test]
async fn repeated_auth_failures_put_the_inbox_in_error_and_its_sends_wait() {
    let db = database().await;
    let ws = workspace(&db).await;
    let c = campaign(&db, ws, "Europe/London", 50, &[1]).await;
    let ibx = inbox(&db, &c, "alice@reachkit.test", 30, "other").await;
    leads(&db, &c, 1, T0 - Duration::hours(1)).await;
    let q = queue(&db);
    q.plan(T0, SETTINGS).await.expect("plan");
    let mut at = T0;
    for _ in 0..3 {
        let claimed = q
            .claim(at, "w", at + Duration::minutes(10), 10)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 1);
        q.record(
            "w",
            &[SendResult {
                send_id: claimed[0].id,
                at,
                outcome: Outcome::AuthFailed {
                    reason: "535 no".into(),
                    not_before: at + Duration::minutes(5),
                },
            }],
        )
        .await
        .expect("record");
        at += Duration::minutes(5);
    }
    assert_eq!(
        count(&db, &format!("SELECT count(*) AS n FROM inboxes WHERE id = '{ibx}' AND connection_status = 'error'")).await,
        1
    );
    assert_eq!(sends_of(&db, &c, "queued").await, 1);
    assert!(
        q.claim(at, "w", at + Duration::minutes(10), 10)
            .await
            .expect("claim")
            .is_empty()
    );
}

#[tokio::test]
async fn deleting_a_campaign_deletes_its_sends_usage_and_events() {
    let db = database().await;
    let ws = workspace(&db).await;
    let c = campaign(&db, ws, "Europe/London", 50, &[1]).await;
    inbox(&db, &c, "alice@reachkit.test", 30, "other").await;
    leads(&db, &c, 2, T0 - Duration::hours(1)).await;
    let q = queue(&db);
    q.plan(T0, SETTINGS).await.expect("plan");
    let claimed = q
        .claim(T0, "w", T0 + Duration::minutes(10), 10)
        .await
        .expect("claim");
    q.record("w", &[sent(claimed[0].id, T0)])
        .await
        .expect("record");
    sql(&db, &format!("DELETE FROM campaigns WHERE id = '{}'", c.id)).await;
    assert_eq!(count(&db, "SELECT count(*) AS n FROM sends").await, 0);
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM campaign_usage").await,
        0
    );
    assert_eq!(count(&db, "SELECT count(*) AS n FROM events").await, 0);
}
