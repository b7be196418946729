//! End to end: webhooks through the real `reachkit` binary to a local receiver. Every first
//! attempt of a message is answered 500, the next 200: deliveries are retried, signed the
//! Standard Webhooks way, kept in order per lead, and the delivery log shows the attempts.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reachkit_core::webhooks::{parse_secret, sign};
use reachkit_testkit::binary::{self, Server, json_output, request};
use reachkit_testkit::{TestDatabase, execute, insert_inbox};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const BIN: &str = env!("CARGO_BIN_EXE_reachkit");
/// How long the test waits for the deliveries it expects (they take about two seconds).
const PATIENCE: Duration = Duration::from_secs(60);

fn reachkit(db: &TestDatabase) -> Command {
    let mut cmd = binary::command(BIN, &db.url, "warn");
    cmd.env("REACHKIT__WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true")
        .env("REACHKIT__WEBHOOKS__RETRY_BASE_SECONDS", "1")
        .env("REACHKIT__WEBHOOKS__TICK_MS", "100")
        .env("REACHKIT__SYNC__IDLE", "false");
    cmd
}

fn serve(db: &TestDatabase) -> Server {
    Server::start(reachkit(db).arg("serve"))
}

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
    answered: u16,
}

/// A webhook receiver: answers 500 to the first attempt of each message id, 200 after.
async fn receiver() -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let log: Arc<Mutex<Vec<Received>>> = Arc::default();
    let shared = Arc::clone(&log);
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut raw = Vec::new();
            let mut buf = [0u8; 4096];
            let (head, body) = loop {
                let Ok(n) = socket.read(&mut buf).await else {
                    break (String::new(), String::new());
                };
                if n == 0 {
                    break (String::new(), String::new());
                }
                raw.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&raw).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break (head.to_owned(), body.to_owned());
                    }
                }
            };
            let header = |name: &str| {
                head.lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                    })
                    .unwrap_or_default()
            };
            let id = header("webhook-id");
            let answered = {
                let mut log = shared.lock().expect("lock");
                let seen = log.iter().any(|r| r.id == id);
                let answered = if seen { 200 } else { 500 };
                log.push(Received {
                    id: id.clone(),
                    timestamp: header("webhook-timestamp"),
                    signature: header("webhook-signature"),
                    body,
                    answered,
                });
                answered
            };
            let reason = if answered == 200 { "OK" } else { "Oops" };
            let _ = socket
                .write_all(
                    format!("HTTP/1.1 {answered} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await;
        }
    });
    (port, log)
}

async fn wait_for(log: &Arc<Mutex<Vec<Received>>>, delivered: usize) -> Vec<Received> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let snapshot = log.lock().expect("lock").clone();
        if snapshot.iter().filter(|r| r.answered == 200).count() >= delivered {
            return snapshot;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only got {snapshot:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn webhooks_are_signed_retried_delivered_in_order_and_logged() {
    let db = TestDatabase::create().await.expect("database");
    let ws = json_output(reachkit(&db).args(["workspace", "create", "--name", "A", "--json"]));
    let ws = ws["id"].as_str().expect("id").to_owned();
    let key = json_output(reachkit(&db).args([
        "api-key",
        "create",
        "--workspace",
        &ws,
        "--name",
        "e2e",
        "--json",
    ]));
    let key = key["key"].as_str().expect("key").to_owned();
    let (port, log) = receiver().await;
    let server = serve(&db);
    let api = server.api.clone();

    let (status, created) = request(
        "POST",
        &format!("{api}/webhooks"),
        &key,
        Some(json!({
            "url": format!("http://127.0.0.1:{port}/hook"),
            "event_types": ["campaign_status_changed", "email_sent", "lead_bounced"],
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let hook = created["data"]["id"].as_str().expect("id").to_owned();
    let secret = parse_secret(created["data"]["secret"].as_str().expect("secret")).expect("b64");
    let (_, shown) = request("GET", &format!("{api}/webhooks/{hook}"), &key, None).await;
    assert!(shown["data"].get("secret").is_none());

    // 1. The test event.
    let (status, queued) =
        request("POST", &format!("{api}/webhooks/{hook}/test"), &key, None).await;
    assert_eq!(status, 202, "{queued}");

    // 2. A real campaign launch through the API: campaign_status_changed.
    let (status, c) = request(
        "POST",
        &format!("{api}/campaigns"),
        &key,
        Some(json!({"name": "Q3"})),
    )
    .await;
    assert_eq!(status, 201, "{c}");
    let campaign = c["data"]["id"].as_str().expect("id").to_owned();
    let variant = c["data"]["stats"]["sequences"][0]["variants"][0]["id"]
        .as_str()
        .expect("variant")
        .to_owned();
    let (status, v) = request(
        "PATCH",
        &format!("{api}/campaigns/{campaign}/variants/{variant}"),
        &key,
        Some(json!({"subject": "Hi", "body_html": "<p>Hello</p>"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let inbox = insert_inbox(&db.url, ws.parse().expect("uuid"), "s@a.test", "connected")
        .await
        .expect("inbox");
    let (status, a) = request(
        "POST",
        &format!("{api}/campaigns/{campaign}/inboxes/attach"),
        &key,
        Some(json!({"inbox_ids": [inbox.to_string()]})),
    )
    .await;
    assert_eq!(status, 200, "{a}");
    let (status, live) = request(
        "PATCH",
        &format!("{api}/campaigns/{campaign}"),
        &key,
        Some(json!({"status": "active"})),
    )
    .await;
    assert_eq!(status, 200, "{live}");

    // 3. Two events of one lead, as the engine writes them: delivered in this order.
    let lead = uuid::Uuid::new_v4();
    execute(
        &db.url,
        &format!(
            "INSERT INTO events (workspace_id, campaign_id, lead_id, kind, data, created_at) \
             VALUES ('{ws}', '{campaign}', '{lead}', 'email_sent', '{{\"step\": 1}}', now()), \
                    ('{ws}', '{campaign}', '{lead}', 'lead_bounced', '{{\"step\": 1}}', now())"
        ),
    )
    .await
    .expect("events");

    let got = wait_for(&log, 4).await;
    // Every request is signed with the secret shown at creation.
    for r in &got {
        let ts: i64 = r.timestamp.parse().expect("timestamp");
        assert_eq!(
            r.signature,
            sign(&secret, &r.id, ts, r.body.as_bytes()),
            "{r:?}"
        );
        assert!(r.id.starts_with("msg_"));
    }
    let types: Vec<(String, u16)> = got
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_str(&r.body).expect("body");
            (v["type"].as_str().expect("type").to_owned(), r.answered)
        })
        .collect();
    for t in [
        "test",
        "campaign_status_changed",
        "email_sent",
        "lead_bounced",
    ] {
        let attempts: Vec<u16> = types.iter().filter(|x| x.0 == t).map(|x| x.1).collect();
        assert_eq!(attempts, [500, 200], "{t}: {types:?}");
    }
    // Per lead order: the bounce is first tried only after the send was delivered.
    let sent_ok = types
        .iter()
        .position(|x| *x == ("email_sent".to_owned(), 200))
        .expect("sent");
    let bounce_first = types
        .iter()
        .position(|x| x.0 == "lead_bounced")
        .expect("bounce");
    assert!(sent_ok < bounce_first, "{types:?}");

    // The delivery log shows each with two attempts, delivered.
    let (status, deliveries) = request(
        "GET",
        &format!("{api}/webhooks/{hook}/deliveries"),
        &key,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let items = deliveries["data"].as_array().expect("items");
    assert_eq!(items.len(), 4, "{deliveries}");
    for d in items {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempts"], 2, "{d}");
        assert_eq!(d["last_status_code"], 200, "{d}");
    }
    assert_eq!(items[0]["event_type"], "lead_bounced");

    // Manual redelivery sends the same message again.
    let first = items[3]["id"].as_str().expect("id");
    let (status, again) = request(
        "POST",
        &format!("{api}/webhooks/{hook}/deliveries/{first}/redeliver"),
        &key,
        None,
    )
    .await;
    assert_eq!(status, 202, "{again}");
    let got = wait_for(&log, 5).await;
    assert_eq!(got.last().expect("last").answered, 200);
}
