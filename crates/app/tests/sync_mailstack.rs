//! The inbox sync end to end on the private mail stack (`scripts/mailstack`, started by
//! `scripts/test`): the engine sends step 1 through real Postfix; a prospect's reply and an
//! out-of-office are delivered to the sending inbox through the MX port; `bounce-*` produces a
//! real DSN; the sync reads erin's mailbox over real IMAP (Dovecot) and applies the effects.
//! In process with a settable clock. Fails, never skips, when the stack or PostgreSQL is missing.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use diesel::sql_types::{Bytea, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reachkit_app::settings::ClassifierSettings;
use reachkit_app::wiring::Wiring;
use reachkit_core::clock::Clock;
use reachkit_core::ids::InboxId;
use reachkit_core::inboxes::{PasswordField, password_aad};
use reachkit_core::secrets::{AesGcmSecretBox, SecretBox};
use reachkit_core::sync::{ReplyClassifier, SyncService, SyncSettings};
use reachkit_domain::label::ReplyLabel;
use reachkit_mail::imap::{ImapReader, ImapSettings, MailAnalyzer};
use reachkit_testkit::mailstack::MailStack;
use reachkit_testkit::{SettableClock, TestDatabase};
use time::Duration;
use uuid::Uuid;

mod common;
use common::*;

/// Labels "interested" when the text says so, else neutral (the real classifier is the unibox's).
struct KeywordClassifier;
impl ReplyClassifier for KeywordClassifier {
    fn classify(&self, text: &str) -> ReplyLabel {
        if text.contains("interested") {
            ReplyLabel::Interested
        } else {
            ReplyLabel::Neutral
        }
    }
}

/// The inbox reads its mailbox over IMAP with its own sealed password.
async fn with_imap(db: &TestDatabase, stack: &MailStack, secrets: &AesGcmSecretBox, id: Uuid) {
    let u = stack.user("erin").expect("erin");
    let sealed = secrets
        .seal(
            u.password.as_bytes(),
            &password_aad(InboxId::from_uuid(id), PasswordField::Imap),
        )
        .expect("seal");
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    diesel::sql_query(
        "UPDATE inboxes SET imap_host = $2, imap_port = $3, imap_security = 'none', \
         imap_username = $4, imap_password = $5 WHERE id = $1",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(&stack.host)
    .bind::<diesel::sql_types::Integer, _>(i32::from(stack.imap_port))
    .bind::<Text, _>(&u.address)
    .bind::<Bytea, _>(&sealed)
    .execute(&mut conn)
    .await
    .expect("imap settings");
}

fn sync_service(wiring: &Wiring, clock: Arc<SettableClock>) -> SyncService {
    wiring.sync_with_clock(
        Arc::new(ImapReader::new(ImapSettings {
            timeout: StdDuration::from_secs(30),
            allow_invalid_certs: true,
        })),
        Arc::new(MailAnalyzer),
        Arc::new(KeywordClassifier),
        SyncSettings {
            poll_seconds: 1,
            lease_seconds: 600,
        },
        clock,
    )
}

async fn lead_state(db: &TestDatabase, email: &str) -> String {
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    let r: Str = diesel::sql_query(
        "SELECT status || '/' || is_bounced::text || '/' || COALESCE(finished_reason, '-') AS s \
         FROM leads WHERE email = $1",
    )
    .bind::<Text, _>(email)
    .get_result(&mut conn)
    .await
    .expect("lead");
    r.s
}

#[tokio::test]
async fn replies_bounces_and_auto_replies_read_over_imap_stop_mark_and_label_leads_exactly_once() {
    let stack = stack();
    let db = database().await;
    let secrets = Arc::new(
        AesGcmSecretBox::from_base64(&AesGcmSecretBox::generate_key_base64()).expect("key"),
    );
    let ws = workspace(&db).await;
    // Step 2 follows one day later in the same thread.
    let s = campaign(&db, ws, "Europe/London", 50, 1).await;
    sql(
        &db,
        &format!(
            "UPDATE campaigns SET stop_on_company_reply = true WHERE id = '{}'",
            s.campaign
        ),
    )
    .await;
    let inbox_id = inbox(&db, &s, &stack, &secrets, "erin", 30).await;
    with_imap(&db, &stack, &secrets, inbox_id).await;
    let erin = stack.user("erin").expect("erin").clone();
    let tag = Uuid::new_v4().simple().to_string();
    let company = format!("acme-{tag}.test");
    let ada = format!("ada@{company}");
    let bob = format!("bob@{company}");
    let cy = format!("cy-{tag}@prospects.test");
    let bounced = format!("bounce-{tag}@prospects.test");
    for email in [&ada, &bob, &cy, &bounced] {
        lead(&db, &s, email, NOW - Duration::hours(1)).await;
    }
    sql(
        &db,
        &format!("UPDATE leads SET company_domain = '{company}' WHERE email_domain = '{company}'"),
    )
    .await;

    let clock = Arc::new(SettableClock::new(NOW));
    let wiring = Wiring::over(db.db.clone(), clock.clone(), secrets.clone());
    let sending = engine(&wiring, &clock);
    pass(&sending, &clock).await;
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM sends WHERE status = 'sent'").await,
        4
    );
    let ada_mid = message_id(&db, &ada, 1).await;
    let cy_mid = message_id(&db, &cy, 1).await;
    let bounced_mid = message_id(&db, &bounced, 1).await;

    // Ada answers (threaded), Cy's out-of-office answers, the bounce comes back as a real DSN.
    let reply_id = format!("reply-{tag}@{company}");
    let reply = format!(
        "From: Ada <{ada}>\r\nTo: {}\r\nSubject: Re: Hello Jane\r\nMessage-ID: <{reply_id}>\r\n\
         In-Reply-To: <{ada_mid}>\r\nReferences: <{ada_mid}>\r\nDate: Mon, 30 Nov 2026 10:05:00 +0000\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nYes, we are interested. Call me.\r\n",
        erin.address
    );
    stack
        .send_inbound(&ada, &[&erin.address], reply.as_bytes())
        .await
        .expect("reply delivered");
    let ooo_id = format!("ooo-{tag}@prospects.test");
    let ooo = format!(
        "From: <{cy}>\r\nTo: {}\r\nSubject: Out of office: Hello Jane\r\nMessage-ID: <{ooo_id}>\r\n\
         In-Reply-To: <{cy_mid}>\r\nAuto-Submitted: auto-replied\r\n\
         Date: Mon, 30 Nov 2026 10:06:00 +0000\r\n\r\nI am away until Monday.\r\n",
        erin.address
    );
    stack
        .send_inbound(&cy, &[&erin.address], ooo.as_bytes())
        .await
        .expect("auto-reply delivered");
    for needle in [reply_id.as_str(), ooo_id.as_str(), bounced_mid.as_str()] {
        stack
            .wait_for_message(&erin.address, &erin.password, "INBOX", needle, DELIVERY)
            .await
            .expect("delivered to erin");
    }

    clock.set(NOW + Duration::minutes(10));
    let report = sync_service(&wiring, clock.clone())
        .sync_due(clock.now())
        .await
        .expect("sync");
    assert_eq!(report.inboxes, 1);
    assert_eq!(report.failed, 0);
    assert_eq!(
        (
            report.messages.replies,
            report.messages.auto_replies,
            report.messages.bounces
        ),
        (1, 1, 1)
    );
    assert_eq!(lead_state(&db, &ada).await, "replied/false/replied");
    assert_eq!(lead_state(&db, &bob).await, "contacted/false/replied");
    assert_eq!(lead_state(&db, &cy).await, "contacted/false/-");
    assert_eq!(lead_state(&db, &bounced).await, "contacted/true/bounced");
    let stats = |c: &str| {
        format!(
            "SELECT {c} AS n FROM campaign_stats WHERE campaign_id = '{}'",
            s.campaign
        )
    };
    assert_eq!(count(&db, &stats("replies")).await, 1);
    assert_eq!(count(&db, &stats("positive_replies")).await, 1);
    assert_eq!(count(&db, &stats("bounced")).await, 1);
    // Ada's conversation: the email as sent, then her reply; Cy's: the out-of-office only.
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT count(*) AS n FROM conversations c JOIN leads l ON l.id = c.lead_id \
                 WHERE l.email = '{ada}' AND c.folder = 'primary' AND c.label = 'interested' \
                 AND c.is_positive AND c.subject = 'Hello Jane'"
            )
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT count(*) AS n FROM messages m JOIN conversations c ON c.id = m.conversation_id \
                 JOIN leads l ON l.id = c.lead_id WHERE l.email = '{ada}' AND \
                 ((m.direction = 'outgoing' AND m.rfc_message_id = '{ada_mid}' AND m.text_body LIKE 'Hi Jane, step 1%') \
                 OR (m.direction = 'incoming' AND m.rfc_message_id = '{reply_id}' AND m.text_body LIKE '%interested%'))"
            )
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT count(*) AS n FROM conversations c JOIN leads l ON l.id = c.lead_id \
                 WHERE l.email = '{cy}' AND c.folder = 'others' AND c.label = 'out_of_office'"
            )
        )
        .await,
        1
    );

    // A restart (another owner) and a UIDVALIDITY change process nothing twice.
    let before = count(&db, "SELECT count(*) AS n FROM messages").await;
    let events = count(&db, "SELECT count(*) AS n FROM events").await;
    clock.set(NOW + Duration::minutes(20));
    let again = sync_service(&wiring, clock.clone())
        .sync_due(clock.now())
        .await
        .expect("sync again");
    assert_eq!(again.inboxes, 1);
    assert_eq!(
        (
            again.messages.replies,
            again.messages.auto_replies,
            again.messages.bounces
        ),
        (0, 0, 0)
    );
    sql(
        &db,
        "UPDATE inbox_folders SET uidvalidity = uidvalidity + 1",
    )
    .await;
    clock.set(NOW + Duration::minutes(30));
    let rescan = sync_service(&wiring, clock.clone())
        .sync_due(clock.now())
        .await
        .expect("rescan");
    assert_eq!(
        (
            rescan.messages.replies,
            rescan.messages.auto_replies,
            rescan.messages.bounces
        ),
        (0, 0, 0)
    );
    assert!(rescan.messages.ignored >= 3);
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM messages").await,
        before
    );
    assert_eq!(count(&db, "SELECT count(*) AS n FROM events").await, events);
    assert_eq!(count(&db, &stats("replies")).await, 1);

    // Two days later step 2 goes only to Cy: Ada replied, Bob's company replied, the bounce is out.
    clock.set(NOW + Duration::days(2));
    pass(&sending, &clock).await;
    let step2 = |email: &str| {
        format!(
            "SELECT count(*) AS n FROM sends s JOIN leads l ON l.id = s.lead_id \
             WHERE l.email = '{email}' AND s.step = 2 AND s.status <> 'cancelled'"
        )
    };
    assert_eq!(count(&db, &step2(&cy)).await, 1);
    for email in [&ada, &bob, &bounced] {
        assert_eq!(count(&db, &step2(email)).await, 0, "{email}");
    }
}

/// A stub OpenAI-compatible chat-completions server on 127.0.0.1: answers every request (read
/// whole, HTTP/1.1 with Content-Length) with `respond(request)`. Sync may ask about mail of other
/// tests in the shared mailbox too, so answers depend on the request, never on the order.
async fn chat_stub(respond: fn(&str) -> String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind stub");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = socket.read(&mut buf).await {
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                let done = text.find("\r\n\r\n").is_some_and(|end| {
                    let len = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(str::to_owned)
                        })
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    request.len() >= end + 4 + len
                });
                if done || n == 0 {
                    break;
                }
            }
            let response = respond(&String::from_utf8_lossy(&request));
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    url
}

/// The stub model: "meeting_requested", except a 500 for a reply saying "Model down".
fn stub_model(request: &str) -> String {
    if request.contains("Model down") {
        return http_response("500 Internal Server Error", "{}");
    }
    let answer = serde_json::json!({"choices": [{"index": 0, "message": {"role": "assistant",
        "content": "meeting_requested"}}]})
    .to_string();
    http_response("200 OK", &answer)
}

fn http_response(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}

async fn conversation_label(db: &TestDatabase, email: &str) -> String {
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    let r: Str = diesel::sql_query(
        "SELECT c.label AS s FROM conversations c JOIN leads l ON l.id = c.lead_id \
         WHERE l.email = $1",
    )
    .bind::<Text, _>(email)
    .get_result(&mut conn)
    .await
    .expect("conversation");
    r.s
}

#[tokio::test]
async fn the_configured_remote_classifier_labels_replies_read_over_imap_and_the_built_in_rules_take_over_when_it_fails()
 {
    let stack = stack();
    let db = database().await;
    let secrets = Arc::new(
        AesGcmSecretBox::from_base64(&AesGcmSecretBox::generate_key_base64()).expect("key"),
    );
    let ws = workspace(&db).await;
    let s = campaign(&db, ws, "Europe/London", 50, 3).await;
    let inbox_id = inbox(&db, &s, &stack, &secrets, "erin", 30).await;
    with_imap(&db, &stack, &secrets, inbox_id).await;
    let erin = stack.user("erin").expect("erin").clone();
    let tag = Uuid::new_v4().simple().to_string();
    let ada = format!("ada-{tag}@prospects.test");
    let bob = format!("bob-{tag}@prospects.test");
    for email in [&ada, &bob] {
        lead(&db, &s, email, NOW - Duration::hours(1)).await;
    }
    let clock = Arc::new(SettableClock::new(NOW));
    let wiring = Wiring::over(db.db.clone(), clock.clone(), secrets.clone());
    let sending = engine(&wiring, &clock);
    pass(&sending, &clock).await;
    // Both say they are interested: the built-in rules read "interested"; the model answers
    // Ada's with meeting_requested, Bob's request fails (500).
    for (who, email, words) in [("ada", &ada, "Call me."), ("bob", &bob, "Model down.")] {
        let mid = message_id(&db, email, 1).await;
        let reply_id = format!("{who}-reply-{tag}@prospects.test");
        let reply = format!(
            "From: <{email}>\r\nTo: {}\r\nSubject: Re: Hello Jane\r\nMessage-ID: <{reply_id}>\r\n\
             In-Reply-To: <{mid}>\r\nDate: Mon, 30 Nov 2026 10:05:00 +0000\r\n\r\n\
             Yes, we are interested. {words}\r\n",
            erin.address
        );
        stack
            .send_inbound(email, &[&erin.address], reply.as_bytes())
            .await
            .expect("reply delivered");
        stack
            .wait_for_message(&erin.address, &erin.password, "INBOX", &reply_id, DELIVERY)
            .await
            .expect("delivered to erin");
    }
    let url = chat_stub(stub_model).await;
    let classifier = reachkit_app::wiring::reply_classifier(&ClassifierSettings {
        base_url: Some(url),
        model: "tiny-model".to_owned(),
        api_key: Some("sk-test".to_owned()),
        timeout_seconds: 10,
    })
    .expect("classifier");
    clock.set(NOW + Duration::minutes(10));
    let report = wiring
        .sync_with_clock(
            Arc::new(ImapReader::new(ImapSettings {
                timeout: StdDuration::from_secs(30),
                allow_invalid_certs: true,
            })),
            Arc::new(MailAnalyzer),
            classifier,
            SyncSettings {
                poll_seconds: 1,
                lease_seconds: 600,
            },
            clock.clone(),
        )
        .sync_due(clock.now())
        .await
        .expect("sync");
    assert_eq!(report.messages.replies, 2);
    assert_eq!(lead_state(&db, &ada).await, "replied/false/replied");
    assert_eq!(conversation_label(&db, &ada).await, "meeting_requested");
    assert_eq!(conversation_label(&db, &bob).await, "interested");
}

/// The `reachkit` binary, killed when dropped.
struct Worker(std::process::Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn with_imap_idle_a_reply_is_synced_without_waiting_for_the_next_poll_and_labelled_by_the_configured_classifier()
 {
    use std::io::BufRead;
    const SECRETS_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let stack = stack();
    let db = database().await;
    let secrets = Arc::new(AesGcmSecretBox::from_base64(SECRETS_KEY).expect("key"));
    let ws = workspace(&db).await;
    // Step 2 only in 30 days: the worker's engine has nothing to send.
    let s = campaign(&db, ws, "Europe/London", 50, 30).await;
    let inbox_id = inbox(&db, &s, &stack, &secrets, "erin", 30).await;
    with_imap(&db, &stack, &secrets, inbox_id).await;
    let erin = stack.user("erin").expect("erin").clone();
    let tag = Uuid::new_v4().simple().to_string();
    let ada = format!("ada-{tag}@prospects.test");
    lead(&db, &s, &ada, NOW - Duration::hours(1)).await;
    let clock = Arc::new(SettableClock::new(NOW));
    let wiring = Wiring::over(db.db.clone(), clock.clone(), secrets.clone());
    let sending = engine(&wiring, &clock);
    pass(&sending, &clock).await;
    let ada_mid = message_id(&db, &ada, 1).await;

    let url = chat_stub(stub_model).await;
    // Polling once an hour: only IDLE can make the reply's sync happen within the test.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_reachkit"))
        .arg("worker")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.url)
        .env("REACHKIT__SECRETS__KEY", SECRETS_KEY)
        .env("REACHKIT__MAIL__ALLOW_INVALID_CERTS", "true")
        .env("REACHKIT__DNS__NAMESERVER", stack.dns.to_string())
        .env("REACHKIT__SYNC__POLL_SECONDS", "3600")
        .env("REACHKIT__SYNC__IDLE", "true")
        .env("REACHKIT__CLASSIFIER__BASE_URL", &url)
        .env("REACHKIT__CLASSIFIER__MODEL", "tiny-model")
        .env("RUST_LOG", "info")
        .current_dir(std::env::temp_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn reachkit worker");
    let stderr = child.stderr.take().expect("stderr");
    let worker = Worker(child);
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line);
        }
    });
    // The watcher is in IDLE once it says so.
    tokio::time::timeout(WAIT_IDLE, async {
        while let Some(line) = lines.recv().await {
            if line.contains("watching the inbox with IMAP IDLE") {
                return;
            }
        }
        panic!("the worker ended before watching the inbox");
    })
    .await
    .expect("the worker watches the inbox with IDLE");
    // The first sync and the catch-up sync the watcher asked for when it connected are done.
    let settled = "SELECT count(*) AS n FROM inbox_sync_leases WHERE last_synced_at IS NOT NULL \
                   AND wake_requested_at IS NULL AND owner IS NULL";
    eventually(&db, settled, 1).await;

    let reply_id = format!("reply-{tag}@prospects.test");
    let reply = format!(
        "From: <{ada}>\r\nTo: {}\r\nSubject: Re: Hello Jane\r\nMessage-ID: <{reply_id}>\r\n\
         In-Reply-To: <{ada_mid}>\r\nDate: Mon, 30 Nov 2026 10:05:00 +0000\r\n\r\n\
         Yes, we are interested.\r\n",
        erin.address
    );
    stack
        .send_inbound(&ada, &[&erin.address], reply.as_bytes())
        .await
        .expect("reply delivered");
    eventually(
        &db,
        &format!(
            "SELECT count(*) AS n FROM leads WHERE email = '{ada}' AND status = 'replied' \
             AND finished_reason = 'replied'"
        ),
        1,
    )
    .await;
    assert_eq!(conversation_label(&db, &ada).await, "meeting_requested");
    drop(worker);
}

/// Only bounds a failure: the worker logs as soon as its IDLE connection is up.
const WAIT_IDLE: StdDuration = StdDuration::from_secs(120);

/// Waits until `query` counts `expected` (re-checked every 200 ms, at most two minutes).
async fn eventually(db: &TestDatabase, query: &str, expected: i64) {
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(120);
    loop {
        let n = count(db, query).await;
        if n == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {n}, not {expected}, after two minutes: {query}"
        );
        tokio::time::sleep(StdDuration::from_millis(200)).await;
    }
}
