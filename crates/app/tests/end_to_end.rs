//! End to end: the real `reachkit` binary against a real PostgreSQL database.

use std::process::Command;

use reachkit_testkit::TestDatabase;
use reachkit_testkit::binary::{self, Server, json_output, request_with as request};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_reachkit");

fn reachkit(db: &TestDatabase) -> Command {
    binary::command(BIN, &db.url, "warn")
}

fn serve(db: &TestDatabase) -> Server {
    Server::start(reachkit(db).arg("serve"))
}

fn create_workspace(db: &TestDatabase, name: &str) -> String {
    let ws = json_output(reachkit(db).args(["workspace", "create", "--name", name, "--json"]));
    let keys: Vec<&String> = ws.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["id", "name"]);
    assert_eq!(ws["name"], name);
    ws["id"].as_str().expect("id").to_owned()
}

fn create_key(db: &TestDatabase, workspace: &str) -> (String, String) {
    let key = json_output(reachkit(db).args([
        "api-key",
        "create",
        "--workspace",
        workspace,
        "--name",
        "e2e",
        "--json",
    ]));
    let keys: Vec<&String> = key.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["id", "key"]);
    (
        key["id"].as_str().expect("id").to_owned(),
        key["key"].as_str().expect("key").to_owned(),
    )
}

#[actix_web::test]
async fn the_blocklist_works_end_to_end_and_stays_within_its_workspace() {
    let db = TestDatabase::create().await.expect("database");
    let ws_a = create_workspace(&db, "Agency A");
    let ws_b = create_workspace(&db, "Agency B");
    let (_, key_a) = create_key(&db, &ws_a);
    let (_, key_b) = create_key(&db, &ws_b);
    let server = serve(&db);
    let api = format!("{}/api/v1", server.origin);

    let (status, created) = request(
        "POST",
        &format!("{api}/blocklist"),
        Some(&key_a),
        Some(json!({"email": "  Someone@Example.com "})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["data"]["email"], "someone@example.com");
    let id = created["data"]["id"].as_str().expect("id").to_owned();

    let (status, again) = request(
        "POST",
        &format!("{api}/blocklist"),
        Some(&key_a),
        Some(json!({"email": "someone@example.com"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        again["data"], created["data"],
        "the existing entry, not a new one"
    );

    let (status, listed) = request("GET", &format!("{api}/blocklist"), Some(&key_a), None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed["metadata"]["total_count"], 1);

    let check = format!("{api}/blocklist/check?email=SOMEONE%40example.com");
    let (_, blocked) = request("GET", &check, Some(&key_a), None).await;
    assert_eq!(blocked, json!({"data": {"blocked": true}}));

    // Workspace B sees nothing of A's, and cannot delete it.
    let (_, listed_b) = request("GET", &format!("{api}/blocklist"), Some(&key_b), None).await;
    assert_eq!(listed_b["metadata"]["total_count"], 0);
    let (_, blocked_b) = request("GET", &check, Some(&key_b), None).await;
    assert_eq!(blocked_b, json!({"data": {"blocked": false}}));
    let (status, _) = request(
        "DELETE",
        &format!("{api}/blocklist/{id}"),
        Some(&key_b),
        None,
    )
    .await;
    assert_eq!(status, 404);

    let (status, body) = request(
        "DELETE",
        &format!("{api}/blocklist/{id}"),
        Some(&key_a),
        None,
    )
    .await;
    assert_eq!((status, body), (204, Value::Null));
    let (_, unblocked) = request("GET", &check, Some(&key_a), None).await;
    assert_eq!(unblocked, json!({"data": {"blocked": false}}));
    let (status, _) = request(
        "DELETE",
        &format!("{api}/blocklist/{id}"),
        Some(&key_a),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn bad_revoked_and_missing_keys_get_401_and_use_is_recorded() {
    let db = TestDatabase::create().await.expect("database");
    let ws = create_workspace(&db, "Acme");
    let (key_id, key) = create_key(&db, &ws);
    let server = serve(&db);
    let url = format!("{}/api/v1/blocklist", server.origin);

    for bad in [None, Some("rk_nope"), Some(&key[..key.len() - 1])] {
        let (status, body) = request("GET", &url, bad, None).await;
        assert_eq!(status, 401, "{bad:?}");
        assert!(body["error"].is_string(), "{body}");
    }

    // The key in the query string and in X-API-Key.
    let (status, _) = request("GET", &format!("{url}?api_key={key}"), None, None).await;
    assert_eq!(status, 200);
    let listed = json_output(reachkit(&db).args(["api-key", "list", "--workspace", &ws, "--json"]));
    assert!(listed[0]["last_used_at"].is_string(), "{listed}");
    assert!(listed[0].get("key").is_none(), "the secret is never listed");
    assert_eq!(listed[0]["prefix"], key[..11]);

    let revoked = json_output(reachkit(&db).args([
        "api-key",
        "revoke",
        "--workspace",
        &ws,
        &key_id,
        "--json",
    ]));
    assert!(revoked["revoked_at"].is_string());
    let (status, body) = request("GET", &url, Some(&key), None).await;
    assert_eq!(status, 401);
    assert_eq!(body, json!({"error": "API key revoked"}));
}

#[test]
fn administrative_commands_explain_bad_input() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let db = runtime.block_on(TestDatabase::create()).expect("database");
    let cases: [&[&str]; 4] = [
        &[
            "api-key",
            "create",
            "--workspace",
            "not-a-uuid",
            "--name",
            "x",
        ],
        &[
            "api-key",
            "create",
            "--workspace",
            "01a22c5c-77c0-754b-a842-0f69bd14e464",
            "--name",
            "x",
        ],
        &["workspace", "create", "--name", "   "],
        &[
            "api-key",
            "revoke",
            "--workspace",
            "01a22c5c-77c0-754b-a842-0f69bd14e464",
            "01a22c5c-77c0-754b-a842-0f69bd14e464",
        ],
    ];
    for args in cases {
        let output = reachkit(&db).args(args).output().expect("run");
        assert!(!output.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?} printed a result");
    }
}

#[test]
fn an_invalid_setting_stops_start_up_naming_it() {
    let output = Command::new(BIN)
        .arg("serve")
        .env("REACHKIT__HTTP__LISTEN", "everywhere")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("http.listen"), "{stderr}");
}

#[test]
fn an_unknown_setting_is_a_warning_not_an_error() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let db = runtime.block_on(TestDatabase::create()).expect("database");
    let output = reachkit(&db)
        .arg("migrate")
        .env("REACHKIT__HTTP__LISEN", "typo")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("unknown setting") && stderr.contains("http.lisen"),
        "{stderr}"
    );
}

#[test]
fn inbound_classify_prints_one_json_object_per_file() {
    let corpus =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/mail");
    assert!(
        corpus.is_dir(),
        "the shared mail corpus is missing: {}",
        corpus.display()
    );
    let files = [
        corpus.join("dsn-unknown-user.eml"),
        corpus.join("vacation-autoreply.eml"),
        corpus.join("reply-bob-to-alice.eml"),
    ];
    let output = Command::new(BIN)
        .args(["inbound", "classify", "--json"])
        .args(&files)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["kind"], "bounce");
    assert_eq!(lines[0]["bounce"]["status"], "5.1.1");
    assert_eq!(lines[0]["bounce"]["hard"], true);
    assert!(
        lines[0]["bounce"]["recipient"]
            .as_str()
            .is_some_and(|r| r.contains('@'))
    );
    assert_eq!(lines[1], json!({"kind": "auto_reply", "bounce": null}));
    assert_eq!(lines[2], json!({"kind": "reply", "bounce": null}));

    let missing = Command::new(BIN)
        .args(["inbound", "classify", "/nonexistent.eml"])
        .output()
        .expect("run");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent.eml"));
}
