//! End to end through the real `reachkit` binary, PostgreSQL and the private mail stack: ESP
//! detection of API-created leads (against the stack's dnsmasq) and the public unsubscribe link.

use std::process::Command;
use std::time::{Duration, Instant};

use reachkit_core::ids::WorkspaceId;
use reachkit_testkit::binary::{self, Server, request};
use reachkit_testkit::mailstack::MailStack;
use reachkit_testkit::{TestDatabase, insert_campaign};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_reachkit");
/// Only bounds a failure: the tests poll for the event.
const WAIT: Duration = Duration::from_secs(30);

fn stack() -> MailStack {
    MailStack::from_env().unwrap_or_else(|e| panic!("{e:#}"))
}

fn reachkit(db: &TestDatabase, stack: &MailStack) -> Command {
    let mut cmd = binary::command(BIN, &db.url, "info");
    cmd.env("REACHKIT__DNS__NAMESERVER", stack.dns.to_string())
        .env("REACHKIT__HTTP__PUBLIC_URL", "https://reach.example");
    cmd
}

/// A workspace and a key for it.
fn tenant(db: &TestDatabase, stack: &MailStack, name: &str) -> (WorkspaceId, String) {
    let (id, key) = binary::tenant(|| reachkit(db, stack), name);
    (id.parse().expect("workspace id"), key)
}

fn serve(db: &TestDatabase, stack: &MailStack) -> Server {
    Server::start(reachkit(db, stack).arg("serve"))
}

/// Polls the lead until `done` holds (bounded by [`WAIT`]); returns it.
async fn wait_for_lead(url: &str, key: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = request("GET", url, key, None).await;
        assert_eq!(status, 200, "{body}");
        if done(&body["data"]) {
            return body["data"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {WAIT:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn api_created_leads_get_their_provider_from_the_domain_s_mx_records() {
    let s = stack();
    let db = TestDatabase::create().await.expect("database");
    let (ws, key) = tenant(&db, &s, "ESP");
    let campaign = insert_campaign(&db, ws, "Q1").await.expect("campaign");
    let server = serve(&db, &s);
    let leads = format!("{}/campaigns/{campaign}/leads", server.api);

    let mut urls = Vec::new();
    for (email, provider) in [
        ("someone@google-lead.test", "google"),
        ("someone@ms-lead.test", "microsoft"),
        ("someone@nomx-lead.test", "other"),
    ] {
        let (status, created) =
            request("POST", &leads, &key, Some(json!({ "email": email }))).await;
        assert_eq!(status, 201, "{created}");
        let id = created["data"]["id"].as_str().expect("id").to_owned();
        urls.push((format!("{leads}/{id}"), email, provider));
    }
    for (url, email, provider) in urls {
        let lead = wait_for_lead(&url, &key, &format!("provider of {email}"), |l| {
            !l["provider"].is_null()
        })
        .await;
        assert_eq!(lead["provider"], provider, "{email}");
    }
    let log = server.stop();
    assert!(!log.contains("someone@"), "lead addresses in the log");
}

/// A raw HTTP exchange with the public link: (status, content type, body).
async fn public(method: &str, url: &str, one_click: bool) -> (u16, String, String) {
    let client = awc::Client::default();
    let req = match method {
        "GET" => client.get(url),
        "POST" => client.post(url),
        other => panic!("method {other}"),
    };
    let mut response = if one_click {
        req.insert_header(("Content-Type", "application/x-www-form-urlencoded"))
            .send_body("List-Unsubscribe=One-Click")
            .await
    } else {
        req.send().await
    }
    .expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.body().await.expect("body");
    (
        status,
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn tokens() -> reachkit_core::unsubscribe::UnsubscribeTokens {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD
        .decode(binary::SECRETS_KEY)
        .expect("key");
    reachkit_core::unsubscribe::UnsubscribeTokens::new(&key, "https://reach.example")
}

#[actix_web::test]
async fn the_unsubscribe_link_confirms_on_get_and_unsubscribes_and_blocklists_on_post() {
    let s = stack();
    let db = TestDatabase::create().await.expect("database");
    let (ws, key) = tenant(&db, &s, "Unsub");
    let campaign = insert_campaign(&db, ws, "Q1").await.expect("campaign");
    let server = serve(&db, &s);
    let leads = format!("{}/campaigns/{campaign}/leads", server.api);
    let (status, created) = request(
        "POST",
        &leads,
        &key,
        Some(json!({ "email": "jane@prospects.test" })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_str().expect("id").to_owned();
    let lead_url = format!("{leads}/{id}");
    let lead_id: reachkit_core::ids::LeadId = id.parse().expect("lead id");
    let token = tokens().token(lead_id);
    assert_eq!(
        tokens().url(lead_id),
        format!("https://reach.example/u/{token}"),
        "the links Reachkit puts in emails"
    );
    let link = format!("{}/u/{token}", server.origin);
    let blocked_url = format!("{}/blocklist/check?email=jane@prospects.test", server.api);

    // GET: a page, nothing changes.
    let (status, content_type, page) = public("GET", &link, false).await;
    assert_eq!(status, 200, "{page}");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(page.contains("<form method=\"post\">"), "{page}");
    let (_, lead) = request("GET", &lead_url, &key, None).await;
    assert_eq!(lead["data"]["is_unsubscribed"], false);
    let (_, blocked) = request("GET", &blocked_url, &key, None).await;
    assert_eq!(blocked["data"]["blocked"], false, "{blocked}");

    // RFC 8058 one-click POST: unsubscribed and blocklisted.
    let (status, _, done) = public("POST", &link, true).await;
    assert_eq!(status, 200, "{done}");
    assert!(done.contains("You are unsubscribed"), "{done}");
    let (_, lead) = request("GET", &lead_url, &key, None).await;
    assert_eq!(lead["data"]["is_unsubscribed"], true, "{lead}");
    let (_, blocked) = request("GET", &blocked_url, &key, None).await;
    assert_eq!(blocked["data"]["blocked"], true, "{blocked}");
    let (_, entries) = request("GET", &format!("{}/blocklist", server.api), &key, None).await;
    assert_eq!(
        entries["data"].as_array().map(Vec::len),
        Some(1),
        "{entries}"
    );

    // Again (the page's button): same answer, nothing more.
    let (status, _, again) = public("POST", &link, false).await;
    assert_eq!(status, 200, "{again}");
    let (_, entries) = request("GET", &format!("{}/blocklist", server.api), &key, None).await;
    assert_eq!(
        entries["data"].as_array().map(Vec::len),
        Some(1),
        "{entries}"
    );

    // Tampered: a 404 page.
    let mut bad = token.clone();
    bad.replace_range(..1, if bad.starts_with('A') { "B" } else { "A" });
    let (status, content_type, page) =
        public("POST", &format!("{}/u/{bad}", server.origin), true).await;
    assert_eq!(status, 404, "{page}");
    assert!(content_type.starts_with("text/html"), "{content_type}");

    // The lead deleted: its link is a 404 page too.
    let (status, _) = request("DELETE", &lead_url, &key, None).await;
    assert_eq!(status, 204);
    let (status, _, _) = public("GET", &link, false).await;
    assert_eq!(status, 404);

    let log = server.stop();
    assert!(!log.contains(&token), "the token reached the log");
    assert!(
        log.contains("/u/{token}"),
        "requests to the link are logged redacted"
    );
}
