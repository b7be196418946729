//! Warmup replies end to end on the private mail stack, in process with a settable clock (so the
//! order of sends and syncs is the test's): with a reply share of 100 %, each received warmup
//! email is answered in its thread over real SMTP, the answer is recognised by the first sender's
//! sync and never answered again; turning warming off stops the inbox's sends. Nothing reaches
//! conversations, events or campaign counters. Fails, never skips, when the stack is missing.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bytea, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reachkit_app::wiring::Wiring;
use reachkit_core::clock::Clock;
use reachkit_core::ids::{InboxId, WorkspaceId};
use reachkit_core::inboxes::{PasswordField, password_aad};
use reachkit_core::secrets::{AesGcmSecretBox, SecretBox};
use reachkit_core::sync::{SyncService, SyncSettings};
use reachkit_core::warmup::WarmupSettings;
use reachkit_core::workspaces::{Workspace, WorkspaceRepository};
use reachkit_mail::imap::{ImapReader, ImapSettings, MailAnalyzer};
use reachkit_mail::smtp::{SmtpSender, SmtpSettings};
use reachkit_postgres::PgWorkspaceRepository;
use reachkit_testkit::mailstack::MailStack;
use reachkit_testkit::{SettableClock, TestDatabase, execute, insert_inbox};
use time::Duration;
use time::macros::datetime;

/// Only bounds a failure: delivery is waited for, never slept for.
const DELIVERY: StdDuration = StdDuration::from_secs(60);
const T0: time::OffsetDateTime = datetime!(2026-11-30 10:00 UTC);

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
struct Sent {
    #[diesel(sql_type = Text)]
    token: String,
    #[diesel(sql_type = Text)]
    message_id: String,
    #[diesel(sql_type = Text)]
    recipient: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    answers: Option<String>,
}

async fn sent(db: &TestDatabase) -> Vec<Sent> {
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    diesel::sql_query(
        "SELECT m.token, m.message_id, r.email AS recipient, o.message_id AS answers \
         FROM warmup_messages m JOIN inboxes r ON r.id = m.recipient_inbox_id \
         LEFT JOIN warmup_messages o ON o.id = m.reply_to_id WHERE m.status = 'sent' \
         ORDER BY m.created_at, m.id",
    )
    .load(&mut conn)
    .await
    .expect("sent")
}

/// A connected, warming inbox of the stack with its SMTP and IMAP logins (sealed like the API).
async fn warming_inbox(
    db: &TestDatabase,
    ws: WorkspaceId,
    stack: &MailStack,
    secrets: &AesGcmSecretBox,
    user: &str,
) -> InboxId {
    let u = stack.user(user).expect("user");
    let id = insert_inbox(&db.url, ws.as_uuid(), &u.address, "connected")
        .await
        .expect("inbox");
    let seal = |field| {
        secrets
            .seal(
                u.password.as_bytes(),
                &password_aad(InboxId::from_uuid(id), field),
            )
            .expect("seal")
    };
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    diesel::sql_query(
        "UPDATE inboxes SET smtp_host = $2, smtp_port = $3, smtp_security = 'starttls', \
         smtp_username = $4, smtp_password = $5, imap_host = $2, imap_port = $6, \
         imap_security = 'none', imap_username = $4, imap_password = $7, first_name = $8, \
         is_warming = true WHERE id = $1",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(&stack.host)
    .bind::<diesel::sql_types::Integer, _>(i32::from(stack.smtp_port))
    .bind::<Text, _>(&u.address)
    .bind::<Bytea, _>(seal(PasswordField::Smtp))
    .bind::<diesel::sql_types::Integer, _>(i32::from(stack.imap_port))
    .bind::<Bytea, _>(seal(PasswordField::Imap))
    .bind::<Text, _>(user)
    .execute(&mut conn)
    .await
    .expect("inbox settings");
    InboxId::from_uuid(id)
}

fn sync_service(wiring: &Wiring, clock: Arc<SettableClock>) -> SyncService {
    wiring
        .sync_with_clock(
            Arc::new(ImapReader::new(ImapSettings {
                timeout: StdDuration::from_secs(30),
                allow_invalid_certs: true,
            })),
            Arc::new(MailAnalyzer),
            Arc::new(reachkit_mail::reply::RuleClassifier),
            SyncSettings {
                poll_seconds: 1,
                lease_seconds: 600,
            },
            clock,
        )
        .with_warmup(wiring.warmup_receiver(100))
}

/// The unfolded value of header `name` of a raw message.
fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or_default().to_owned();
    let prefix = format!("{}:", name.to_ascii_lowercase());
    head.split("\r\n")
        .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim().to_owned())
}

#[tokio::test]
async fn received_warmup_emails_are_answered_in_their_thread_once_and_never_reach_the_unibox() {
    let stack = MailStack::from_env().unwrap_or_else(|e| panic!("{e:#}"));
    let db = TestDatabase::create().await.expect("database");
    let secrets = Arc::new(
        AesGcmSecretBox::from_base64(&AesGcmSecretBox::generate_key_base64()).expect("key"),
    );
    let ws = Workspace {
        id: WorkspaceId::new(),
        name: "w".into(),
        created_at: T0,
        updated_at: T0,
    };
    PgWorkspaceRepository::new(db.db.clone())
        .insert(&ws)
        .await
        .expect("workspace");
    let alice = warming_inbox(&db, ws.id, &stack, &secrets, "alice").await;
    let bob = warming_inbox(&db, ws.id, &stack, &secrets, "bob").await;
    let users = [
        stack.user("alice").expect("alice").clone(),
        stack.user("bob").expect("bob").clone(),
    ];

    let clock = Arc::new(SettableClock::new(T0));
    let wiring = Wiring::over(db.db.clone(), clock.clone(), secrets.clone());
    let warmup = wiring.warmup_with_clock(
        Arc::new(SmtpSender::new(SmtpSettings {
            timeout: StdDuration::from_secs(20),
            allow_invalid_certs: true,
            helo_host: None,
        })),
        WarmupSettings {
            enabled: true,
            min_interval_seconds: 60,
            spread_over_day: false,
            reply_share_percent: 100,
            lease_seconds: 300,
        },
        clock.clone(),
    );
    let sync = sync_service(&wiring, clock.clone());

    // First sends at once: alice -> bob and bob -> alice.
    let report = warmup.send_due(clock.now()).await.expect("warmup");
    assert_eq!((report.sent, report.replies), (2, 0), "{report:?}");
    // Not due again before the minimum interval.
    clock.advance(Duration::seconds(59));
    assert_eq!(warmup.send_due(clock.now()).await.expect("warmup").sent, 0);
    let firsts = sent(&db).await;
    for s in &firsts {
        let u = users
            .iter()
            .find(|u| u.address == s.recipient)
            .expect("user");
        stack
            .wait_for_message(&u.address, &u.password, "INBOX", &s.token, DELIVERY)
            .await
            .expect("delivered");
    }
    let synced = sync.sync_due(clock.now()).await.expect("sync");
    assert_eq!(synced.inboxes, 2);

    // Next slot: each answers what it received, in the thread.
    clock.advance(Duration::seconds(1));
    let report = warmup.send_due(clock.now()).await.expect("warmup");
    assert_eq!((report.sent, report.replies), (2, 2), "{report:?}");
    let all = sent(&db).await;
    assert_eq!(all.len(), 4);
    for reply in &all[2..] {
        let original = reply.answers.as_ref().expect("a reply");
        assert!(firsts.iter().any(|f| &f.message_id == original));
        let u = users
            .iter()
            .find(|u| u.address == reply.recipient)
            .expect("user");
        let raw = stack
            .wait_for_message(&u.address, &u.password, "INBOX", &reply.token, DELIVERY)
            .await
            .expect("reply delivered");
        assert_eq!(
            header(&raw, "In-Reply-To").as_deref(),
            Some(format!("<{original}>").as_str())
        );
        assert!(
            header(&raw, "Subject")
                .expect("subject")
                .starts_with("Re: "),
            "{}",
            String::from_utf8_lossy(&raw)
        );
        assert_eq!(
            header(&raw, "X-Reachkit-Warmup").as_deref(),
            Some(reply.token.as_str())
        );
        assert!(!String::from_utf8_lossy(&raw).contains("http"));
    }
    clock.advance(Duration::seconds(2));
    sync.sync_due(clock.now()).await.expect("sync");

    // The day's quota (2) is used: nothing more today, and replies are not answered.
    clock.advance(Duration::minutes(5));
    assert_eq!(warmup.send_due(clock.now()).await.expect("warmup").sent, 0);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) AS n FROM warmup_messages WHERE reply_wanted AND reply_to_id IS NOT NULL"
        )
        .await,
        0
    );
    for inbox in [alice, bob] {
        let stats = wiring
            .inboxes
            .warmup_stats(ws.id, inbox)
            .await
            .expect("stats");
        assert_eq!(
            (stats.sent, stats.received, stats.saved_from_spam),
            (2, 2, 0),
            "{stats:?}"
        );
        assert_eq!(stats.health_score, 100);
        assert_eq!(stats.ramp_up_progress, 20);
    }
    for table in ["conversations", "events"] {
        let n = count(&db, &format!("SELECT count(*) AS n FROM {table}")).await;
        assert_eq!(n, 0, "{table}");
    }
    // Other tests' mail in the shared mailboxes goes through the store; a warmup email never.
    let warm = count(
        &db,
        "SELECT count(*) AS n FROM inbound_seen s JOIN warmup_messages m \
         ON s.message_key = 'mid:' || m.message_id",
    )
    .await;
    assert_eq!(warm, 0);

    // Warming off: alice stops at once; bob, alone in the pool, has nobody to write to.
    execute(
        &db.url,
        &format!("UPDATE inboxes SET is_warming = false WHERE id = '{alice}'"),
    )
    .await
    .expect("off");
    clock.advance(Duration::days(1));
    assert_eq!(warmup.send_due(clock.now()).await.expect("warmup").sent, 0);
    assert_eq!(sent(&db).await.len(), 4);
}
