//! End to end, operations: health and readiness, request ids in headers and JSON logs,
//! idempotency keys, rate-limit headers and a graceful SIGTERM, against the real binary.

use std::process::{Child, Command};

use reachkit_testkit::binary::{self, Server};
use reachkit_testkit::{TestDatabase, execute};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_reachkit");

fn reachkit(db: &TestDatabase) -> Command {
    binary::command(BIN, &db.url, "warn")
}

/// A workspace and an API key for it.
fn workspace_with_key(db: &TestDatabase, name: &str) -> String {
    binary::tenant(|| reachkit(db), name).1
}

/// `reachkit serve --api-only` with extra environment variables.
fn serve(db: &TestDatabase, env: &[(&str, &str)]) -> Server {
    serve_with(db, &["serve", "--api-only"], env)
}

fn serve_with(db: &TestDatabase, args: &[&str], env: &[(&str, &str)]) -> Server {
    let mut cmd = reachkit(db);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Server::start(&mut cmd)
}

struct Reply {
    status: u16,
    headers: awc::http::header::HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn call(method: &str, url: &str, headers: &[(&str, &str)], body: Option<Value>) -> Reply {
    let client = awc::Client::default();
    let mut req = match method {
        "GET" => client.get(url),
        "POST" => client.post(url),
        other => panic!("method {other}"),
    };
    for (k, v) in headers {
        req = req.insert_header((*k, *v));
    }
    let mut response = match body {
        Some(body) => req.send_json(&body).await,
        None => req.send().await,
    }
    .expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.body().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {bytes:?}"))
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// Only bounds a failure (a server that never stops): the exit is waited for, never slept for.
const STOP_BOUND: std::time::Duration = std::time::Duration::from_secs(60);

/// The child's exit status, or a panic (after killing it) when it runs past `bound`.
fn wait_at_most(child: &mut Child, bound: std::time::Duration) -> std::process::ExitStatus {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if started.elapsed() > bound {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server did not stop within {bound:?} of SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

async fn database() -> TestDatabase {
    TestDatabase::create()
        .await
        .unwrap_or_else(|e| panic!("cannot create a test database: {e:#}"))
}

#[actix_web::test]
async fn healthz_and_readyz_answer_without_a_key_and_readyz_notices_a_missing_migration() {
    let db = database().await;
    let server = serve(&db, &[]);
    let health = call("GET", &format!("{}/healthz", server.origin), &[], None).await;
    assert_eq!(
        (health.status, health.body),
        (200, json!({"data": {"status": "ok"}}))
    );
    let ready = call("GET", &format!("{}/readyz", server.origin), &[], None).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.body, json!({"data": {"status": "ready"}}));

    execute(
        &db.url,
        "DELETE FROM __diesel_schema_migrations WHERE version = '20261130000007'",
    )
    .await
    .expect("forget a migration");
    let not_ready = call("GET", &format!("{}/readyz", server.origin), &[], None).await;
    assert_eq!(not_ready.status, 503, "{}", not_ready.body);
    assert!(not_ready.body["error"].is_string());
    assert_eq!(
        not_ready.body["details"]["migrations"],
        "1 pending: 20261130000007"
    );
    let still_alive = call("GET", &format!("{}/healthz", server.origin), &[], None).await;
    assert_eq!(still_alive.status, 200);
}

#[actix_web::test]
async fn one_idempotency_key_creates_one_campaign_and_stays_within_its_workspace() {
    let db = database().await;
    let key_a = workspace_with_key(&db, "Agency A");
    let key_b = workspace_with_key(&db, "Agency B");
    let server = serve(&db, &[]);
    let url = format!("{}/api/v1/campaigns", server.origin);
    let auth_a = format!("Bearer {key_a}");
    let auth_b = format!("Bearer {key_b}");
    let a = [
        ("Authorization", auth_a.as_str()),
        ("Idempotency-Key", "launch-42"),
    ];
    let b = [
        ("Authorization", auth_b.as_str()),
        ("Idempotency-Key", "launch-42"),
    ];

    let first = call("POST", &url, &a, Some(json!({"name": "Q1 outreach"}))).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let again = call("POST", &url, &a, Some(json!({"name": "Q1 outreach"}))).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body["data"]["id"], first.body["data"]["id"]);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));

    let listed = call("GET", &url, &a[..1], None).await;
    assert_eq!(listed.body["metadata"]["total_count"], 1, "{}", listed.body);

    let other = call("POST", &url, &a, Some(json!({"name": "Something else"}))).await;
    assert_eq!(other.status, 422, "{}", other.body);
    assert!(other.body["details"]["Idempotency-Key"].is_string());

    let in_b = call("POST", &url, &b, Some(json!({"name": "Q1 outreach"}))).await;
    assert_eq!(in_b.status, 201, "{}", in_b.body);
    assert_ne!(in_b.body["data"]["id"], first.body["data"]["id"]);
    assert_eq!(in_b.header("idempotent-replayed"), None);
    let listed = call("GET", &url, &a[..1], None).await;
    assert_eq!(listed.body["metadata"]["total_count"], 1);
}

#[actix_web::test]
async fn authenticated_responses_carry_ratelimit_headers_and_every_response_a_request_id() {
    let db = database().await;
    let key = workspace_with_key(&db, "Limits");
    let server = serve(&db, &[("REACHKIT__HTTP__RATE_LIMIT_BURST", "50")]);
    let auth = format!("Bearer {key}");
    let listed = call(
        "GET",
        &format!("{}/api/v1/campaigns", server.origin),
        &[
            ("Authorization", auth.as_str()),
            ("X-Request-Id", "trace-me-1"),
        ],
        None,
    )
    .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.header("ratelimit-limit"), Some("50"));
    assert_eq!(listed.header("ratelimit-remaining"), Some("49"));
    assert!(listed.header("ratelimit-reset").is_some());
    assert_eq!(listed.header("x-request-id"), Some("trace-me-1"));
    let anonymous = call(
        "GET",
        &format!("{}/api/v1/campaigns", server.origin),
        &[],
        None,
    )
    .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.header("ratelimit-limit"), None);
    assert!(anonymous.header("x-request-id").is_some());
}

#[actix_web::test]
async fn sigterm_stops_the_server_gracefully_with_exit_code_0_and_json_logs_carry_request_ids() {
    let db = database().await;
    // With the workers, so that they are stopped too.
    let mut server = serve_with(
        &db,
        &["serve"],
        &[
            ("RUST_LOG", "info"),
            ("REACHKIT__LOG__FORMAT", "json"),
            ("REACHKIT__HTTP__SHUTDOWN_TIMEOUT_SECONDS", "5"),
        ],
    );
    let health = call(
        "GET",
        &format!("{}/healthz", server.origin),
        &[("X-Request-Id", "before-sigterm")],
        None,
    )
    .await;
    assert_eq!(health.status, 200);
    // (The server's standard error is read on the side, so a full pipe never blocks it.)
    let pid = server.child().id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = wait_at_most(server.child(), STOP_BOUND);
    let stderr = server.logs();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let message = |l: &Value| {
        l["fields"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let request_line = lines
        .iter()
        .find(|l| message(l) == "request")
        .unwrap_or_else(|| panic!("no request line: {stderr}"));
    assert_eq!(
        request_line["span"]["request_id"], "before-sigterm",
        "{request_line}"
    );
    assert!(
        lines.iter().any(|l| message(l).starts_with("stopping")),
        "{stderr}"
    );
    assert_eq!(
        lines.last().map(message).as_deref(),
        Some("stopped"),
        "{stderr}"
    );
}

#[actix_web::test]
async fn metrics_are_served_in_prometheus_text_with_route_patterns_and_store_numbers() {
    let db = database().await;
    let key = workspace_with_key(&db, "Metrics");
    let server = serve(&db, &[]);
    let auth = format!("Bearer {key}");
    let created = call(
        "POST",
        &format!("{}/api/v1/campaigns", server.origin),
        &[("Authorization", auth.as_str())],
        Some(json!({"name": "Counted"})),
    )
    .await;
    assert_eq!(created.status, 201);
    let client = awc::Client::default();
    let mut response = client
        .get(format!("{}/metrics", server.origin))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status().as_u16(), 200);
    let text = String::from_utf8(response.body().await.expect("body").to_vec()).expect("utf-8");
    assert!(
        text.contains(
            r#"reachkit_http_requests_total{method="POST",route="/api/v1/campaigns",status="201"} 1"#
        ),
        "{text}"
    );
    for line in [
        "reachkit_metrics_database_up 1",
        "reachkit_emails_sent_total 0",
        "reachkit_send_queue_due 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    assert!(!text.contains("Counted"), "tenant data in metrics");
}

/// Requests waiting on a lock: how many of the server's INSERTs into the blocklist are blocked.
async fn blocked_inserts(db: &TestDatabase) -> i64 {
    use diesel::QueryableByName;
    use diesel::sql_types::BigInt;
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    let c: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM pg_stat_activity \
         WHERE wait_event_type = 'Lock' AND query ILIKE '%insert%blocklist_entries%'",
    )
    .get_result(&mut conn)
    .await
    .expect("pg_stat_activity");
    c.n
}

#[actix_web::test]
async fn sigterm_lets_a_request_in_flight_finish_while_new_connections_are_refused() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

    let db = database().await;
    let key = workspace_with_key(&db, "Drain");
    let mut server = serve(&db, &[("REACHKIT__HTTP__SHUTDOWN_TIMEOUT_SECONDS", "60")]);
    let origin = server.origin.clone();
    // Hold a lock that makes the next blocklist insert wait: the request stays in flight.
    let mut locker = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    diesel::sql_query("BEGIN")
        .execute(&mut locker)
        .await
        .expect("begin");
    diesel::sql_query("LOCK TABLE blocklist_entries IN SHARE MODE")
        .execute(&mut locker)
        .await
        .expect("lock");

    let url = format!("{origin}/api/v1/blocklist");
    let in_flight = binary::request(
        "POST",
        &url,
        &key,
        Some(json!({"email": "late@prospects.test"})),
    );
    let drain = async {
        let started = std::time::Instant::now();
        while blocked_inserts(&db).await == 0 {
            assert!(
                started.elapsed() < STOP_BOUND,
                "the request never reached the database"
            );
            actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let pid = server.child().id().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
        // The server stops accepting at once: a new connection is refused while the first
        // request still waits on the lock.
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(origin.trim_start_matches("http://")).is_ok() {
            assert!(
                started.elapsed() < STOP_BOUND,
                "the server kept accepting after SIGTERM"
            );
            actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(
            blocked_inserts(&db).await,
            1,
            "the request is still in flight"
        );
        diesel::sql_query("COMMIT")
            .execute(&mut locker)
            .await
            .expect("commit");
    };
    let ((status, body), ()) = tokio::join!(in_flight, drain);
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["email"], "late@prospects.test", "{body}");
    let exit = wait_at_most(server.child(), STOP_BOUND);
    assert_eq!(exit.code(), Some(0), "{}", server.logs());
}
