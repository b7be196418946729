//! End to end: inboxes and leads through the real `reachkit` binary and PostgreSQL.

use std::process::Command;
use std::time::{Duration, Instant};

use reachkit_core::ids::WorkspaceId;
use reachkit_testkit::binary::{self, Server, request};
use reachkit_testkit::{TestDatabase, insert_campaign};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_reachkit");
const PASSWORD: &str = "Pa55-word-that-must-never-leak";

fn reachkit(db: &TestDatabase) -> Command {
    let mut cmd = binary::command(BIN, &db.url, "debug");
    cmd.env("REACHKIT__ENGINE__CONNECTION_CHECK_SECONDS", "1")
        .env("REACHKIT__MAIL__CHECK_TIMEOUT_SECONDS", "5")
        // The private mail stack's certificates are self-signed.
        .env("REACHKIT__MAIL__ALLOW_INVALID_CERTS", "true")
        // ESP detection asks a name server that refuses every query: providers stay null here
        // (tests/esp_unsubscribe_e2e.rs covers detection against the mail stack's dnsmasq).
        .env("REACHKIT__DNS__NAMESERVER", "127.0.0.1:9");
    cmd
}

/// A workspace and a key for it.
fn tenant(db: &TestDatabase, name: &str) -> (String, String) {
    binary::tenant(|| reachkit(db), name)
}

fn serve(db: &TestDatabase) -> Server {
    Server::start(reachkit(db).arg("serve"))
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[actix_web::test]
async fn inboxes_are_created_checked_listed_updated_and_deleted_without_leaking_passwords() {
    let db = TestDatabase::create().await.expect("database");
    let (_, key_a) = tenant(&db, "Agency A");
    let (_, key_b) = tenant(&db, "Agency B");
    let server = serve(&db);
    let api = server.api.clone();
    let port = closed_port();
    let body = json!({
        "email": "Sales@Acme.com",
        "first_name": "Ann",
        "last_name": "Lee",
        "provider": "google",
        "smtp": {"host": "127.0.0.1", "port": port, "username": "sales@acme.com",
                 "password": PASSWORD, "security": "none"},
        "imap": {"host": "127.0.0.1", "port": port, "username": "sales@acme.com",
                 "password": PASSWORD, "security": "none"}
    });
    let mut everything = String::new();

    let (status, created) = request(
        "POST",
        &format!("{api}/inboxes"),
        &key_a,
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    everything.push_str(&created.to_string());
    assert_eq!(created["data"]["email"], "sales@acme.com");
    assert_eq!(created["data"]["domain"], "acme.com");
    assert_eq!(created["data"]["provider"], "google");
    assert_eq!(created["data"]["connection_type"], "imap_smtp");
    assert_eq!(created["data"]["connection_status"], "pending");
    let id = created["data"]["id"].as_str().expect("id").to_owned();

    let (status, dup) = request(
        "POST",
        &format!("{api}/inboxes"),
        &key_a,
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 409, "{dup}");

    // The background check reaches nothing on that port and records why.
    let deadline = Instant::now() + Duration::from_secs(30);
    let shown = loop {
        let (status, shown) = request("GET", &format!("{api}/inboxes/{id}"), &key_a, None).await;
        assert_eq!(status, 200, "{shown}");
        if shown["data"]["connection_status"] == "error" || Instant::now() > deadline {
            break shown;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    everything.push_str(&shown.to_string());
    assert_eq!(shown["data"]["connection_status"], "error", "{shown}");
    let reason = shown["data"]["connection_error"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("cannot connect"), "{reason}");
    assert_eq!(shown["data"]["campaigns"], json!([]));
    assert_eq!(
        shown["data"]["created_at"], created["data"]["created_at"],
        "create answers what is stored"
    );

    let (status, listed) = request(
        "GET",
        &format!("{api}/inboxes?search=acme&sort_by=email"),
        &key_a,
        None,
    )
    .await;
    assert_eq!(status, 200);
    everything.push_str(&listed.to_string());
    assert_eq!(listed["metadata"]["total_count"], 1);
    assert_eq!(listed["data"][0]["id"], id.as_str());

    let (status, updated) = request(
        "PATCH",
        &format!("{api}/inboxes/{id}"),
        &key_a,
        Some(json!({"daily_campaign_limit": 100, "reply_to": "Boss@Acme.com", "is_warming": true})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["data"]["daily_campaign_limit"], 100);
    assert_eq!(updated["data"]["reply_to"], "boss@acme.com");
    let (status, refused) = request(
        "PATCH",
        &format!("{api}/inboxes/{id}"),
        &key_a,
        Some(json!({"daily_campaign_limit": 10, "daily_warmup_limit": 101})),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    let (_, unchanged) = request("GET", &format!("{api}/inboxes/{id}"), &key_a, None).await;
    assert_eq!(
        unchanged["data"]["daily_campaign_limit"], 100,
        "nothing applied"
    );

    // New credentials send the inbox back to pending (the check then runs again).
    let (status, recheck) = request(
        "PATCH",
        &format!("{api}/inboxes/{id}"),
        &key_a,
        Some(
            json!({"smtp": {"host": "127.0.0.1", "port": port, "username": "",
                             "security": "none"}}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{recheck}");
    assert!(
        ["pending", "validating", "error"].contains(
            &recheck["data"]["connection_status"]
                .as_str()
                .unwrap_or_default()
        ),
        "{recheck}"
    );

    let (status, stats) = request(
        "GET",
        &format!("{api}/inboxes/{id}/warmup/stats"),
        &key_a,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(stats["data"]["health_score"], 100);
    assert_eq!(stats["data"]["daily"].as_array().map(Vec::len), Some(7));

    // Workspace B sees and touches nothing of A's.
    let (_, listed_b) = request("GET", &format!("{api}/inboxes"), &key_b, None).await;
    assert_eq!(listed_b["metadata"]["total_count"], 0);
    for (method, url) in [
        ("GET", format!("{api}/inboxes/{id}")),
        ("GET", format!("{api}/inboxes/{id}/warmup/stats")),
        ("DELETE", format!("{api}/inboxes/{id}")),
    ] {
        let (status, _) = request(method, &url, &key_b, None).await;
        assert_eq!(status, 404, "{method} {url}");
    }
    let (status, _) = request(
        "PATCH",
        &format!("{api}/inboxes/{id}"),
        &key_b,
        Some(json!({"is_active": false})),
    )
    .await;
    assert_eq!(status, 404);

    let (status, gone) = request("DELETE", &format!("{api}/inboxes/{id}"), &key_a, None).await;
    assert_eq!((status, gone), (204, Value::Null));
    let (status, _) = request("GET", &format!("{api}/inboxes/{id}"), &key_a, None).await;
    assert_eq!(status, 404);
    let (status, again) = request("POST", &format!("{api}/inboxes"), &key_a, Some(body)).await;
    assert_eq!(status, 201, "the address is free again: {again}");
    everything.push_str(&again.to_string());

    let stderr = server.stop();
    assert!(
        stderr.contains("/api/v1/inboxes"),
        "request logs expected: {stderr}"
    );
    assert!(
        !everything.contains(PASSWORD),
        "a response carried the password"
    );
    assert!(
        !stderr.contains(PASSWORD),
        "the log carried the password: {stderr}"
    );
}

#[actix_web::test]
async fn leads_are_created_listed_shown_and_deleted_per_campaign() {
    let db = TestDatabase::create().await.expect("database");
    let (ws_a, key_a) = tenant(&db, "Agency A");
    let (_, key_b) = tenant(&db, "Agency B");
    let ws_a: WorkspaceId = ws_a.parse().expect("workspace id");
    let campaign = insert_campaign(&db, ws_a, "Q1").await.expect("campaign");
    let server = serve(&db);
    let leads = format!("{}/campaigns/{campaign}/leads", server.api);

    let (status, created) = request(
        "POST",
        &leads,
        &key_a,
        Some(json!({"email": " Ann@ACME.com ", "first_name": "Ann",
                    "variables": {"company": "Acme", "seats": 5}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let lead = created["data"].clone();
    assert_eq!(lead["email"], "ann@acme.com");
    assert_eq!(lead["status"], "uncontacted");
    assert_eq!(lead["provider"], Value::Null);
    let id = lead["id"].as_str().expect("id").to_owned();

    let dup = json!({"email": "ann@acme.com", "first_name": "Annie", "variables": {"seats": 6, "role": "VP"}});
    let (status, _) = request("POST", &leads, &key_a, Some(dup.clone())).await;
    assert_eq!(status, 409);
    let mut skip = dup.clone();
    skip["if_exists"] = json!("skip");
    let (status, skipped) = request("POST", &leads, &key_a, Some(skip)).await;
    assert_eq!(status, 200);
    assert_eq!(skipped["data"], lead, "skip returns the lead unchanged");
    let mut update = dup;
    update["if_exists"] = json!("update");
    let (status, updated) = request("POST", &leads, &key_a, Some(update)).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["data"]["id"], id.as_str());
    assert_eq!(updated["data"]["first_name"], "Annie");
    assert_eq!(
        updated["data"]["variables"],
        json!({"company": "Acme", "seats": 6, "role": "VP"})
    );

    let (status, bad) = request("POST", &leads, &key_a, Some(json!({"email": "nope"}))).await;
    assert_eq!(status, 422);
    assert!(bad["details"]["email"].is_string(), "{bad}");

    let (status, _) = request(
        "POST",
        &leads,
        &key_a,
        Some(json!({"email": "bob@globex.com", "last_name": "Zed"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, listed) = request(
        "GET",
        &format!("{leads}?sort_by=email&sort_order=asc"),
        &key_a,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(listed["metadata"]["total_count"], 2);
    assert_eq!(listed["data"][0]["email"], "ann@acme.com");
    let (_, searched) = request("GET", &format!("{leads}?search=zed"), &key_a, None).await;
    assert_eq!(searched["metadata"]["total_count"], 1);
    assert_eq!(searched["data"][0]["email"], "bob@globex.com");

    let (status, shown) = request("GET", &format!("{leads}/{id}"), &key_a, None).await;
    assert_eq!(status, 200);
    assert_eq!(shown["data"]["first_name"], "Annie");

    // Workspace B: its own key on A's campaign is 404 everywhere, and it cannot add a lead.
    for (method, url, body) in [
        ("GET", leads.clone(), None),
        ("POST", leads.clone(), Some(json!({"email": "x@y.co"}))),
        ("GET", format!("{leads}/{id}"), None),
        ("DELETE", format!("{leads}/{id}"), None),
    ] {
        let (status, _) = request(method, &url, &key_b, body).await;
        assert_eq!(status, 404, "{method} {url}");
    }

    let (status, body) = request("DELETE", &format!("{leads}/{id}"), &key_a, None).await;
    assert_eq!((status, body), (204, Value::Null));
    let (status, _) = request("GET", &format!("{leads}/{id}"), &key_a, None).await;
    assert_eq!(status, 404);
    let (_, listed) = request("GET", &leads, &key_a, None).await;
    assert_eq!(listed["metadata"]["total_count"], 1);
    let counters = reachkit_testkit::lead_counters(&db, campaign)
        .await
        .expect("counters");
    assert_eq!(counters, (1, 0));
    drop(server);
}

#[actix_web::test]
async fn an_inbox_on_the_private_mail_stack_is_checked_to_connected() {
    let stack =
        reachkit_testkit::mailstack::MailStack::from_env().unwrap_or_else(|e| panic!("{e:#}"));
    let bob = stack.user("bob").expect("bob");
    let db = TestDatabase::create().await.expect("database");
    let (_, key) = tenant(&db, "Agency");
    let server = serve(&db);
    let api = server.api.clone();
    let body = json!({
        "email": bob.address,
        "smtp": {"host": stack.host, "port": stack.smtp_port, "username": bob.address,
                 "password": bob.password, "security": "starttls"},
        "imap": {"host": stack.host, "port": stack.imaps_port, "username": bob.address,
                 "password": bob.password, "security": "tls"}
    });
    let (status, created) = request("POST", &format!("{api}/inboxes"), &key, Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_str().expect("id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let shown = loop {
        let (_, shown) = request("GET", &format!("{api}/inboxes/{id}"), &key, None).await;
        let status = shown["data"]["connection_status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if status == "connected" || status == "error" || Instant::now() > deadline {
            break shown;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(shown["data"]["connection_status"], "connected", "{shown}");
    assert_eq!(shown["data"]["connection_error"], Value::Null);
    let stderr = server.stop();
    assert!(
        !stderr.contains(&bob.password),
        "the log carried the password"
    );
}

#[test]
fn serve_refuses_to_start_without_a_secrets_key_and_says_how_to_make_one() {
    let output = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("secrets.key"), "{stderr}");
    assert!(stderr.contains("reachkit secrets generate-key"), "{stderr}");
}

#[test]
fn generate_key_prints_a_key_that_serve_accepts_in_its_settings() {
    let output = Command::new(BIN)
        .args(["secrets", "generate-key"])
        .env_clear()
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run");
    assert!(output.status.success());
    let key = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        reachkit_core::secrets::AesGcmSecretBox::from_base64(&key).is_ok(),
        "{key}"
    );
    // A malformed key is named at start-up.
    let bad = Command::new(BIN)
        .arg("migrate")
        .env_clear()
        .env("REACHKIT__SECRETS__KEY", "too-short")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("secrets.key"));
}
