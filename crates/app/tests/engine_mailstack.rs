//! The sending engine end to end on the private mail stack (`scripts/mailstack`, started by
//! `scripts/test`): real SMTP (the SMTP adapter), real Postfix, the sink read over IMAP.
//! In process with a settable clock for the schedule; three `reachkit worker` processes for
//! sharing the work. These tests fail, never skip, when the stack or PostgreSQL is missing.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use diesel::sql_types::Uuid as SqlUuid;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reachkit_app::wiring::Wiring;
use reachkit_core::clock::Clock;
use reachkit_core::secrets::AesGcmSecretBox;
use reachkit_testkit::mailstack::contains;
use reachkit_testkit::{SettableClock, TestDatabase};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_reachkit");
mod common;
use common::*;

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
    let service = engine(&wiring, &clock);

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
