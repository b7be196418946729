//! The sending engine end to end on the private mail stack (`scripts/mailstack`, started by
//! `scripts/test`): real SMTP (the SMTP adapter), real Postfix, the sink read over IMAP.
//! In process with a settable clock for the schedule; three `reachkit worker` processes for
//! sharing the work. These tests fail, never skip, when the stack or PostgreSQL is missing.

use std::process::{Child, Command, Stdio};
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
use reachkit_testkit::mailstack::{MailStack, contains};
use reachkit_testkit::{SettableClock, TestDatabase, execute, insert_inbox};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_reachkit");
/// Only bounds a failure: delivery is waited for, never slept for.
const DELIVERY: StdDuration = StdDuration::from_secs(60);
/// A Monday; London is on GMT.
const NOW: OffsetDateTime = datetime!(2026-11-30 10:00 UTC);

fn stack() -> MailStack {
    MailStack::from_env().unwrap_or_else(|e| panic!("{e:#}"))
}

async fn database() -> TestDatabase {
    TestDatabase::create()
        .await
        .unwrap_or_else(|e| panic!("cannot create a test database: {e:#}"))
}

async fn sql(db: &TestDatabase, q: &str) {
    execute(&db.url, q)
        .await
        .unwrap_or_else(|e| panic!("{q}: {e:#}"));
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

#[derive(QueryableByName)]
struct Str {
    #[diesel(sql_type = Text)]
    s: String,
}

async fn message_id(db: &TestDatabase, email: &str, step: i32) -> String {
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

fn days_json() -> String {
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

struct Setup {
    ws: WorkspaceId,
    campaign: Uuid,
}

async fn workspace(db: &TestDatabase) -> WorkspaceId {
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
async fn campaign(db: &TestDatabase, ws: WorkspaceId, zone: &str, limit: i32, delay: i32) -> Setup {
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
async fn inbox(
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

async fn lead(db: &TestDatabase, s: &Setup, email: &str, created: OffsetDateTime) {
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

fn smtp() -> Arc<SmtpSender> {
    Arc::new(SmtpSender::new(SmtpSettings {
        timeout: StdDuration::from_secs(20),
        allow_invalid_certs: true,
        helo_host: None,
    }))
}

async fn pass(service: &SendingService, clock: &SettableClock) {
    service.recover(clock.now()).await.expect("recover");
    service.plan_due(clock.now()).await.expect("plan");
    service.dispatch_due(clock.now()).await.expect("dispatch");
}

async fn stat(db: &TestDatabase, s: &Setup, column: &str) -> i64 {
    count(
        db,
        &format!(
            "SELECT {column} AS n FROM campaign_stats WHERE campaign_id = '{}'",
            s.campaign
        ),
    )
    .await
}

#[tokio::test]
async fn a_campaign_is_sent_into_the_mail_stack_threaded_unsubscribable_bounced_retried_and_limited()
 {
    let stack = stack();
    let db = database().await;
    let secrets = Arc::new(
        AesGcmSecretBox::from_base64(&AesGcmSecretBox::generate_key_base64()).expect("key"),
    );
    let ws = workspace(&db).await;
    let s = campaign(&db, ws, "Europe/London", 4, 0).await;
    inbox(&db, &s, &stack, &secrets, "alice", 30).await;
    let tag = Uuid::new_v4().simple().to_string();
    let jane = format!("jane-{tag}@prospects.test");
    let slow = format!("slow-{tag}@prospects.test");
    let blocked = format!("blocked-{tag}@prospects.test");
    let rejected = stack.reject_rcpt.clone();
    for email in [&jane, &rejected, &slow, &blocked] {
        lead(&db, &s, email, NOW - Duration::hours(1)).await;
    }
    sql(
        &db,
        &format!(
            "INSERT INTO blocklist_entries (id, workspace_id, email, created_at) \
             VALUES ('{}', '{ws}', '{blocked}', now())",
            Uuid::now_v7()
        ),
    )
    .await;
    stack.set_tempfail(&slow, true).await.expect("tempfail");
    let clock = Arc::new(SettableClock::new(NOW));
    let wiring = Wiring::over(db.db.clone(), clock.clone(), secrets.clone());
    let service = wiring.sending_with_clock(
        smtp(),
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
    );

    // Step 1: Jane is mailed, the 550 recipient bounces, the 451 one waits, the blocklisted
    // lead is finished without a send.
    pass(&service, &clock).await;
    let sink = &stack.sink;
    let first_id = message_id(&db, &jane, 1).await;
    let first = stack
        .wait_for_message(&sink.address, &sink.password, "INBOX", &first_id, DELIVERY)
        .await
        .expect("step 1 delivered");
    let text = String::from_utf8_lossy(&first).to_string();
    assert!(
        text.contains(&format!("Message-ID: <{first_id}>")),
        "{text}"
    );
    assert!(text.contains("Alice Smith"), "{text}");
    assert!(text.contains("<alice@reachkit.test>"), "{text}");
    assert!(text.contains("Subject: Hello Jane"), "{text}");
    assert!(
        text.contains("List-Unsubscribe: <https://reach.example.com/u/"),
        "{text}"
    );
    assert!(
        text.contains("mailto:alice@reachkit.test?subject=unsubscribe-"),
        "{text}"
    );
    assert!(
        text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{text}"
    );
    assert_eq!(
        count(
            &db,
            &format!("SELECT count(*) AS n FROM leads WHERE email = '{rejected}' AND is_bounced")
        )
        .await,
        1
    );
    assert_eq!(
        count(&db, &format!("SELECT count(*) AS n FROM sends s JOIN leads l ON l.id = s.lead_id WHERE l.email = '{slow}' AND s.status = 'deferred'")).await,
        1
    );
    assert_eq!(
        count(&db, &format!("SELECT count(*) AS n FROM leads WHERE email = '{blocked}' AND finished_reason = 'blocklisted'")).await,
        1
    );

    // Step 2 (delay 0): a reply in Jane's thread (before the deferred send's backoff ends).
    clock.advance(Duration::seconds(30));
    pass(&service, &clock).await;
    let second_id = message_id(&db, &jane, 2).await;
    let second = stack
        .wait_for_message(&sink.address, &sink.password, "INBOX", &second_id, DELIVERY)
        .await
        .expect("step 2 delivered");
    let text = String::from_utf8_lossy(&second).to_string();
    assert!(text.contains("Subject: Re: Hello Jane"), "{text}");
    assert!(
        text.contains(&format!("In-Reply-To: <{first_id}>")),
        "{text}"
    );
    assert!(
        text.contains(&format!("References: <{first_id}>")),
        "{text}"
    );

    // The 451 clears; after the backoff the retry goes with the same Message-ID.
    let slow_id = message_id(&db, &slow, 1).await;
    stack
        .set_tempfail(&slow, false)
        .await
        .expect("tempfail off");
    clock.advance(Duration::seconds(31));
    pass(&service, &clock).await;
    stack
        .wait_for_message(&sink.address, &sink.password, "INBOX", &slow_id, DELIVERY)
        .await
        .expect("retry delivered");

    // The daily limit (4: Jane twice, the bounce, the retry) holds for a new lead.
    let late = format!("late-{tag}@prospects.test");
    lead(&db, &s, &late, clock.now()).await;
    pass(&service, &clock).await;
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT count(*) AS n FROM sends WHERE campaign_id = '{}'",
                s.campaign
            )
        )
        .await,
        4
    );
    assert_eq!(stat(&db, &s, "sent").await, 3);
    assert_eq!(stat(&db, &s, "bounced").await, 1);
    assert_eq!(stat(&db, &s, "contacted").await, 2);

    let all = stack
        .fetch_all(&sink.address, &sink.password, "INBOX")
        .await
        .expect("sink");
    for id in [&first_id, &second_id, &slow_id] {
        let header = format!("Message-ID: <{id}>");
        let copies = all
            .iter()
            .filter(|m| contains(m, header.as_bytes()))
            .count();
        assert_eq!(copies, 1, "{id} arrived {copies} times");
    }
    assert!(
        !all.iter().any(|m| contains(m, blocked.as_bytes())),
        "blocklisted lead mailed"
    );
    assert!(
        !all.iter().any(|m| contains(m, late.as_bytes())),
        "limit overrun"
    );
}

struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn worker(db: &TestDatabase, key: &str) -> Worker {
    let child = Command::new(BIN)
        .arg("worker")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.url)
        .env("REACHKIT__SECRETS__KEY", key)
        .env("REACHKIT__ENGINE__TICK_MS", "50")
        .env("REACHKIT__ENGINE__MIN_GAP_SECONDS", "0")
        .env("REACHKIT__ENGINE__MAX_JITTER_SECONDS", "0")
        .env("REACHKIT__ENGINE__BATCH_SIZE", "3")
        .env("REACHKIT__MAIL__ALLOW_INVALID_CERTS", "true")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir(std::env::temp_dir())
        .spawn()
        .expect("spawn reachkit worker");
    Worker(child)
}

#[tokio::test]
async fn three_worker_processes_send_one_campaign_without_a_duplicate_or_a_limit_overrun() {
    let stack = stack();
    let db = database().await;
    let key = AesGcmSecretBox::generate_key_base64();
    let secrets = AesGcmSecretBox::from_base64(&key).expect("key");
    let ws = workspace(&db).await;
    // The workers use the system clock: pick a zone whose 00:00-23:30 window is open now.
    let hour = OffsetDateTime::now_utc().hour();
    let zone = if (14..=15).contains(&hour) {
        "Europe/London"
    } else {
        "Asia/Tokyo"
    };
    // 30 leads, two steps a year apart (only step 1 now); campaign limit 20, inboxes 12 + 12.
    let s = campaign(&db, ws, zone, 20, 365).await;
    inbox(&db, &s, &stack, &secrets, "bob", 12).await;
    inbox(&db, &s, &stack, &secrets, "carol", 12).await;
    let tag = Uuid::new_v4().simple().to_string();
    let past = OffsetDateTime::now_utc() - Duration::hours(1);
    for i in 0..30 {
        lead(&db, &s, &format!("w{i}-{tag}@prospects.test"), past).await;
    }
    let workers: Vec<Worker> = (0..3).map(|_| worker(&db, &key)).collect();
    // Wait for the 20 sends the limit allows (delivery into the sink is the event).
    let sink = &stack.sink;
    let deadline = tokio::time::Instant::now() + DELIVERY;
    loop {
        let all = stack
            .fetch_all(&sink.address, &sink.password, "INBOX")
            .await
            .expect("sink");
        let ours = all.iter().filter(|m| contains(m, tag.as_bytes())).count();
        let sent = stat(&db, &s, "sent").await;
        if ours >= 20 && sent >= 20 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {ours} emails arrived, {sent} recorded sent"
        );
        tokio::time::sleep(StdDuration::from_millis(200)).await;
    }
    // Let the workers keep looking for work for a few more passes, then stop them.
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    drop(workers);
    let all = stack
        .fetch_all(&sink.address, &sink.password, "INBOX")
        .await
        .expect("sink");
    let ids: Vec<String> = {
        let mut conn = AsyncPgConnection::establish(&db.url)
            .await
            .expect("connect");
        let rows: Vec<Str> =
            diesel::sql_query("SELECT message_id AS s FROM sends WHERE campaign_id = $1")
                .bind::<SqlUuid, _>(s.campaign)
                .load(&mut conn)
                .await
                .expect("ids");
        rows.into_iter().map(|r| r.s).collect()
    };
    assert_eq!(ids.len(), 20, "the campaign limit");
    for id in &ids {
        let header = format!("Message-ID: <{id}>");
        let copies = all
            .iter()
            .filter(|m| contains(m, header.as_bytes()))
            .count();
        assert_eq!(copies, 1, "{id} arrived {copies} times");
    }
    assert_eq!(
        all.iter().filter(|m| contains(m, tag.as_bytes())).count(),
        20,
        "emails beyond the limit"
    );
    assert_eq!(stat(&db, &s, "sent").await, 20);
    assert!(
        count(
            &db,
            "SELECT max(campaign_sends)::bigint AS n FROM inbox_usage"
        )
        .await
            <= 12,
        "inbox limit overrun"
    );
}
