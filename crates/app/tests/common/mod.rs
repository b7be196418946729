//! Fixtures shared by the end-to-end tests that send campaigns into the private mail stack
//! (engine_mailstack.rs, sync_mailstack.rs): a database, a workspace, a campaign open now,
//! inboxes on the stack, leads, and small SQL helpers.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bytea, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reachkit_app::wiring::Wiring;
use reachkit_core::clock::Clock;
use reachkit_core::engine::{EngineSettings, SendingService};
use reachkit_core::ids::{InboxId, WorkspaceId};
use reachkit_core::inboxes::{PasswordField, password_aad};
use reachkit_core::secrets::{AesGcmSecretBox, SecretBox};
use reachkit_core::unsubscribe::UnsubscribeTokens;
use reachkit_core::workspaces::{Workspace, WorkspaceRepository};
use reachkit_mail::smtp::{SmtpSender, SmtpSettings};
use reachkit_postgres::PgWorkspaceRepository;
use reachkit_testkit::mailstack::MailStack;
use reachkit_testkit::{SettableClock, TestDatabase, execute, insert_inbox};
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

/// Only bounds a failure: delivery is waited for, never slept for.
pub const DELIVERY: StdDuration = StdDuration::from_secs(60);
/// A Monday; London is on GMT.
pub const NOW: OffsetDateTime = datetime!(2026-11-30 10:00 UTC);

pub fn stack() -> MailStack {
    MailStack::from_env().unwrap_or_else(|e| panic!("{e:#}"))
}

pub async fn database() -> TestDatabase {
    TestDatabase::create()
        .await
        .unwrap_or_else(|e| panic!("cannot create a test database: {e:#}"))
}

pub async fn sql(db: &TestDatabase, q: &str) {
    execute(&db.url, q)
        .await
        .unwrap_or_else(|e| panic!("{q}: {e:#}"));
}

#[derive(QueryableByName)]
pub struct Count {
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

pub async fn count(db: &TestDatabase, q: &str) -> i64 {
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    let c: Count = diesel::sql_query(q)
        .get_result(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{q}: {e}"));
    c.n
}

#[derive(QueryableByName)]
pub struct Str {
    #[diesel(sql_type = Text)]
    pub s: String,
}

pub async fn message_id(db: &TestDatabase, email: &str, step: i32) -> String {
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    let r: Str = diesel::sql_query(
        "SELECT s.message_id AS s FROM sends s JOIN leads l ON l.id = s.lead_id \
         WHERE l.email = $1 AND s.step = $2 AND s.status <> 'cancelled'",
    )
    .bind::<Text, _>(email)
    .bind::<diesel::sql_types::Integer, _>(step)
    .get_result(&mut conn)
    .await
    .unwrap_or_else(|e| panic!("message id of {email} step {step}: {e}"));
    r.s
}

pub fn days_json() -> String {
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
        .map(|d| format!(r#""{d}": {{"enabled": true, "start": null, "end": null}}"#))
        .collect();
    format!("{{{}}}", entries.join(", "))
}

pub struct Setup {
    pub ws: WorkspaceId,
    pub campaign: Uuid,
}

pub async fn workspace(db: &TestDatabase) -> WorkspaceId {
    let ws = Workspace {
        id: WorkspaceId::new(),
        name: "acme".into(),
        created_at: NOW,
        updated_at: NOW,
    };
    PgWorkspaceRepository::new(db.db.clone())
        .insert(&ws)
        .await
        .expect("workspace");
    ws.id
}

/// An active campaign open all day (00:00-23:30 in `zone`), step 1 with a subject, step 2 a
/// reply in the thread `delay` days later, unsubscribe option on.
pub async fn campaign(
    db: &TestDatabase,
    ws: WorkspaceId,
    zone: &str,
    limit: i32,
    delay: i32,
) -> Setup {
    let id = Uuid::now_v7();
    sql(
        db,
        &format!(
            "INSERT INTO campaigns (id, workspace_id, name, status, daily_limit, timezone, \
             window_start, window_end, schedule_days, unsubscribe_option, created_at, updated_at) \
             VALUES ('{id}', '{ws}', 'c', 'active', {limit}, '{zone}', 0, 1410, '{}'::jsonb, true, \
             now(), now())",
            days_json()
        ),
    )
    .await;
    sql(
        db,
        &format!("INSERT INTO campaign_stats (campaign_id, workspace_id) VALUES ('{id}', '{ws}')"),
    )
    .await;
    for (step, subject) in [(1, "'Hello {{first_name}}'"), (2, "NULL")] {
        let seq = Uuid::now_v7();
        sql(
            db,
            &format!(
                "INSERT INTO sequences (id, workspace_id, campaign_id, step, delay_days, created_at, \
                 updated_at) VALUES ('{seq}', '{ws}', '{id}', {step}, {delay}, now(), now())"
            ),
        )
        .await;
        sql(
            db,
            &format!(
                "INSERT INTO variants (id, workspace_id, campaign_id, sequence_id, letter, ordinal, \
                 subject, body_html, body_text, created_at, updated_at) VALUES ('{}', '{ws}', '{id}', \
                 '{seq}', 'A', 0, {subject}, \
                 '<p>Hi {{{{first_name}}}}, step {step}</p><p><a href=\"{{{{unsubscribe_url}}}}\">Unsubscribe</a></p>', \
                 'Hi {{{{first_name}}}}, step {step}\n\nUnsubscribe ({{{{unsubscribe_url}}}})', now(), now())",
                Uuid::now_v7()
            ),
        )
        .await;
    }
    Setup { ws, campaign: id }
}

/// A connected inbox of the stack that logs in with its password (sealed like the API does).
pub async fn inbox(
    db: &TestDatabase,
    s: &Setup,
    stack: &MailStack,
    secrets: &AesGcmSecretBox,
    user: &str,
    limit: i32,
) -> Uuid {
    let u = stack.user(user).expect("user");
    let id = insert_inbox(&db.url, s.ws.as_uuid(), &u.address, "connected")
        .await
        .expect("inbox");
    let sealed = secrets
        .seal(
            u.password.as_bytes(),
            &password_aad(InboxId::from_uuid(id), PasswordField::Smtp),
        )
        .expect("seal");
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    diesel::sql_query(
        "UPDATE inboxes SET smtp_host = $2, smtp_port = $3, smtp_security = 'starttls', \
         smtp_username = $4, smtp_password = $5, first_name = 'Alice', last_name = 'Smith', \
         daily_campaign_limit = $6 WHERE id = $1",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(&stack.host)
    .bind::<diesel::sql_types::Integer, _>(i32::from(stack.smtp_port))
    .bind::<Text, _>(&u.address)
    .bind::<Bytea, _>(&sealed)
    .bind::<diesel::sql_types::Integer, _>(limit)
    .execute(&mut conn)
    .await
    .expect("inbox settings");
    sql(
        db,
        &format!(
            "INSERT INTO campaign_inboxes (campaign_id, inbox_id, workspace_id, created_at) \
             VALUES ('{}', '{id}', '{}', now())",
            s.campaign, s.ws
        ),
    )
    .await;
    id
}

pub async fn lead(db: &TestDatabase, s: &Setup, email: &str, created: OffsetDateTime) {
    let domain = email.rsplit_once('@').map_or("", |(_, d)| d);
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    diesel::sql_query(
        "INSERT INTO leads (id, workspace_id, campaign_id, email, email_domain, first_name, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'Jane', $6, $6)",
    )
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(s.ws.as_uuid())
    .bind::<SqlUuid, _>(s.campaign)
    .bind::<Text, _>(email)
    .bind::<Text, _>(domain)
    .bind::<diesel::sql_types::Timestamptz, _>(created)
    .execute(&mut conn)
    .await
    .expect("lead");
    sql(
        db,
        &format!(
            "UPDATE campaign_stats SET leads_count = leads_count + 1 WHERE campaign_id = '{}'",
            s.campaign
        ),
    )
    .await;
}

/// The sending engine over real SMTP (the stack's self-signed certificate accepted), with no gap
/// or jitter between sends, on `clock`.
pub fn engine(wiring: &Wiring, clock: &Arc<SettableClock>) -> SendingService {
    wiring.sending_with_clock(
        Arc::new(SmtpSender::new(SmtpSettings {
            timeout: StdDuration::from_secs(20),
            allow_invalid_certs: true,
            helo_host: None,
        })),
        UnsubscribeTokens::new(&[9; 32], "https://reach.example.com"),
        EngineSettings {
            min_gap_seconds: 0,
            max_jitter_seconds: 0,
            retry_base_seconds: 60,
            concurrency: 2,
            lease_seconds: 600,
            batch_size: 50,
        },
        clock.clone(),
    )
}

/// One engine pass at the clock's time: recover, plan, dispatch.
pub async fn pass(service: &SendingService, clock: &SettableClock) {
    service.recover(clock.now()).await.expect("recover");
    service.plan_due(clock.now()).await.expect("plan");
    service.dispatch_due(clock.now()).await.expect("dispatch");
}
