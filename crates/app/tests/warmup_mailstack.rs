//! Warmup end to end through the real `reachkit serve` (all workers, no extra set-up), PostgreSQL
//! and the private mail stack (`scripts/mailstack`, started by `scripts/test`): three warming
//! inboxes (carol, dave, erin) send each other their first day's warmup emails; the stack files
//! mail from erin to dave into Junk (a Sieve rule), and dave's sync rescues it. The statistics
//! must match what the IMAP servers hold. Fails, never skips, when the stack is missing.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reachkit_testkit::TestDatabase;
use reachkit_testkit::binary::{self, Server, request};
use reachkit_testkit::mailstack::MailStack;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_reachkit");
/// Only bounds a failure: the test polls for what it waits for.
const WAIT: Duration = Duration::from_secs(120);
const USERS: [&str; 3] = ["carol", "dave", "erin"];

fn stack() -> MailStack {
    MailStack::from_env().unwrap_or_else(|e| panic!("{e:#}"))
}

fn reachkit(db: &TestDatabase) -> Command {
    let mut cmd = binary::command(BIN, &db.url, "info");
    cmd.env("REACHKIT__MAIL__ALLOW_INVALID_CERTS", "true")
        .env("REACHKIT__ENGINE__CONNECTION_CHECK_SECONDS", "1")
        .env("REACHKIT__SYNC__POLL_SECONDS", "1")
        // A few seconds apart instead of spread over the day; no replies (deterministic).
        .env("REACHKIT__WARMUP__MIN_INTERVAL_SECONDS", "1")
        .env("REACHKIT__WARMUP__SPREAD_OVER_DAY", "false")
        .env("REACHKIT__WARMUP__REPLY_SHARE_PERCENT", "0");
    cmd
}

fn tenant(db: &TestDatabase, name: &str) -> String {
    binary::tenant(|| reachkit(db), name).1
}

/// `reachkit serve` with every worker, as an operator runs it.
fn serve(db: &TestDatabase) -> Server {
    Server::start(reachkit(db).arg("serve"))
}

/// The value of the header `name` in a block of header lines (unfolded, trimmed).
fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let prefix = format!("{}:", name.to_ascii_lowercase());
    text.split("\r\n")
        .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim().to_owned())
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    token: String,
    #[diesel(sql_type = Text)]
    sender: String,
    #[diesel(sql_type = Text)]
    recipient: String,
}

/// Every warmup email this installation wrote: token -> (sender, recipient) addresses.
async fn warmup_rows(db: &TestDatabase) -> BTreeMap<String, (String, String)> {
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT m.token, s.email AS sender, r.email AS recipient FROM warmup_messages m \
         JOIN inboxes s ON s.id = m.sender_inbox_id JOIN inboxes r ON r.id = m.recipient_inbox_id",
    )
    .load(&mut conn)
    .await
    .expect("warmup rows");
    rows.into_iter()
        .map(|r| (r.token, (r.sender, r.recipient)))
        .collect()
}

fn int(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

#[actix_web::test]
async fn warming_inboxes_exchange_mail_rescue_it_from_junk_and_report_true_stats() {
    let stack = stack();
    let db = TestDatabase::create().await.expect("database");
    let key = tenant(&db, "Warmup");
    let server = serve(&db);
    let api = server.api.clone();

    // Three inboxes on the stack, checked to connected in the background.
    let mut ids: BTreeMap<&str, String> = BTreeMap::new();
    for name in USERS {
        let u = stack.user(name).expect("user").clone();
        let (status, inbox) = request(
            "POST",
            &format!("{api}/inboxes"),
            &key,
            Some(json!({
                "email": u.address, "first_name": name, "last_name": "Tester",
                "smtp": {"host": stack.host, "port": stack.smtp_port, "username": u.address,
                         "password": u.password, "security": "starttls"},
                "imap": {"host": stack.host, "port": stack.imap_port, "username": u.address,
                         "password": u.password, "security": "none"}
            })),
        )
        .await;
        assert_eq!(status, 201, "{inbox}");
        ids.insert(name, inbox["data"]["id"].as_str().expect("id").to_owned());
    }
    let deadline = Instant::now() + WAIT;
    for id in ids.values() {
        loop {
            let (_, shown) = request("GET", &format!("{api}/inboxes/{id}"), &key, None).await;
            if shown["data"]["connection_status"] == "connected" {
                break;
            }
            assert!(Instant::now() < deadline, "never connected: {shown}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Before warming: nothing, full health, no ramp.
    let (status, stats) = request(
        "GET",
        &format!("{api}/inboxes/{}/warmup/stats", ids["erin"]),
        &key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(int(&stats["data"]["sent"]), 0);
    assert_eq!(int(&stats["data"]["health_score"]), 100);
    assert_eq!(int(&stats["data"]["ramp_up_progress"]), 0);

    for id in ids.values() {
        let (status, body) = request(
            "PATCH",
            &format!("{api}/inboxes/{id}"),
            &key,
            Some(json!({"is_warming": true})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }

    // Day 1 of the ramp: 2 emails each (a limit of 10), 6 in all, each found by its recipient.
    let mut stats: BTreeMap<&str, Value> = BTreeMap::new();
    loop {
        for (name, id) in &ids {
            let (status, s) = request(
                "GET",
                &format!("{api}/inboxes/{id}/warmup/stats"),
                &key,
                None,
            )
            .await;
            assert_eq!(status, 200, "{s}");
            stats.insert(name, s["data"].clone());
        }
        let sent: u64 = stats.values().map(|s| int(&s["sent"])).sum();
        let received: u64 = stats.values().map(|s| int(&s["received"])).sum();
        if sent == 6 && received == 6 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "warmup did not complete: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // What the servers hold: every warmup email of this installation, by its marker.
    let rows = warmup_rows(&db).await;
    assert_eq!(rows.len(), 6, "{rows:?}");
    let mut held: BTreeMap<String, (String, bool)> = BTreeMap::new();
    for name in USERS {
        let u = stack.user(name).expect("user").clone();
        for folder in ["INBOX", "Junk"] {
            let found = stack
                .fetch_header_fields_seen(&u.address, &u.password, folder, "X-REACHKIT-WARMUP")
                .await
                .expect("fetch");
            for (_, head, seen) in found {
                let Some(token) = header(&head, "X-Reachkit-Warmup") else {
                    continue;
                };
                if let Some((_, recipient)) = rows.get(&token) {
                    assert_eq!(recipient, &u.address, "delivered to its recipient");
                    assert_eq!(folder, "INBOX", "no warmup email is left in Junk");
                    assert!(seen, "warmup emails are marked read");
                    held.insert(token.clone(), (u.address.clone(), seen));
                }
            }
        }
    }
    assert_eq!(
        held.len(),
        6,
        "every warmup email is in its recipient's INBOX"
    );

    let erin = stack.user("erin").expect("erin").address.clone();
    let dave = stack.user("dave").expect("dave").address.clone();
    let junked = rows
        .values()
        .filter(|(s, r)| *s == erin && *r == dave)
        .count() as u64;
    assert!(junked >= 1, "erin wrote to dave: {rows:?}");
    for name in USERS {
        let address = stack.user(name).expect("user").address.clone();
        let s = &stats[name];
        let sent = rows.values().filter(|(from, _)| *from == address).count() as u64;
        let received = held.values().filter(|(to, _)| *to == address).count() as u64;
        assert_eq!(int(&s["sent"]), sent, "{name}: {s}");
        assert_eq!(int(&s["received"]), received, "{name}: {s}");
        assert_eq!(int(&s["ramp_up_progress"]), 20, "{name}: {s}");
        let today = s["daily"]
            .as_array()
            .expect("daily")
            .last()
            .expect("today")
            .clone();
        assert_eq!(int(&today["sent"]), sent, "{name}: {s}");
        match name {
            "dave" => assert_eq!(int(&s["saved_from_spam"]), junked, "{s}"),
            _ => assert_eq!(int(&s["saved_from_spam"]), 0, "{name}: {s}"),
        }
        if name == "erin" {
            assert_eq!(int(&today["spam_count"]), junked, "{s}");
            let expected = (100 * (sent - junked) * 2 + sent) / (2 * sent);
            assert_eq!(int(&s["health_score"]), expected, "{s}");
            assert!(int(&s["health_score"]) < 100, "{s}");
        } else {
            assert_eq!(int(&today["spam_count"]), 0, "{name}: {s}");
            assert_eq!(int(&s["health_score"]), 100, "{name}: {s}");
        }
    }

    // Warmup mail never reaches the unibox.
    let (status, conversations) =
        request("GET", &format!("{api}/unibox/conversations"), &key, None).await;
    assert_eq!(status, 200, "{conversations}");
    assert_eq!(conversations["data"], json!([]), "{conversations}");
    drop(server);
}
