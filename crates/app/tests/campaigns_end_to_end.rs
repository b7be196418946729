//! End to end: a campaign walked from creation to launch and pause through the real `reachkit`
//! binary and a real PostgreSQL, and kept out of another workspace's reach.

use std::process::Command;

use reachkit_testkit::binary::{self, Server, request};
use reachkit_testkit::{TestDatabase, insert_inbox};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_reachkit");

fn reachkit(db: &TestDatabase) -> Command {
    binary::command(BIN, &db.url, "warn")
}

/// A workspace and an API key for it: (workspace id, key).
fn tenant(db: &TestDatabase, name: &str) -> (String, String) {
    binary::tenant(|| reachkit(db), name)
}

fn serve(db: &TestDatabase) -> Server {
    Server::start(reachkit(db).arg("serve"))
}

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

#[actix_web::test]
async fn a_campaign_goes_from_creation_to_launch_and_pause_within_its_workspace() {
    let db = TestDatabase::create().await.expect("database");
    let (ws_a, key_a) = tenant(&db, "Agency A");
    let (ws_b, key_b) = tenant(&db, "Agency B");
    let server = serve(&db);
    let api = &server.api;

    // Create: draft, defaults, step 1 with an empty variant A.
    let (status, created) = request(
        "POST",
        &format!("{api}/campaigns"),
        &key_a,
        Some(json!({"name": "Q3 outreach"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let c = &created["data"];
    assert_eq!(c["status"], "draft");
    assert_eq!(c["stats"]["sequence_steps"], 1);
    assert_eq!(c["stats"]["daily"].as_array().map(Vec::len), Some(30));
    let id = text(&c["id"]);
    let step_1 = text(&c["stats"]["sequences"][0]["id"]);
    let variant_a = text(&c["stats"]["sequences"][0]["variants"][0]["id"]);
    let campaign = format!("{api}/campaigns/{id}");

    // Schedule: grid rounding echoed back.
    let (status, schedule) = request(
        "PATCH",
        &format!("{campaign}/schedule"),
        &key_a,
        Some(json!({"timezone": "Europe/Berlin",
                    "default_window": {"start": "09:23", "end": "17:00"},
                    "days": {"saturday": {"enabled": true}}})),
    )
    .await;
    assert_eq!(status, 200, "{schedule}");
    assert_eq!(schedule["data"]["default_window"]["start"], "09:30");
    assert_eq!(schedule["data"]["days"]["saturday"]["enabled"], true);
    let (status, bad) = request(
        "PATCH",
        &format!("{campaign}/schedule"),
        &key_a,
        Some(json!({"timezone": "Mars/Olympus"})),
    )
    .await;
    assert_eq!(status, 422);
    assert!(text(&bad["details"]["timezone"]).starts_with("unsupported_timezone"));

    // Step 2 (no body: defaults), then the sequence shows the delays.
    let (status, step) = request("POST", &format!("{campaign}/sequences"), &key_a, None).await;
    assert_eq!(status, 201, "{step}");
    assert_eq!(
        (step["data"]["step"].as_u64(), &step["data"]["delay_days"]),
        (Some(2), &Value::Null)
    );
    let (_, steps) = request("GET", &format!("{campaign}/sequences"), &key_a, None).await;
    assert_eq!(steps["data"][0]["id"], step_1.as_str());
    assert_eq!(steps["data"][0]["delay_days"], 3);
    assert_eq!(steps["data"][1]["delay_days"], Value::Null);

    // Variant content, normalised.
    let (status, variant) = request(
        "PATCH",
        &format!("{campaign}/variants/{variant_a}"),
        &key_a,
        Some(json!({"subject": "Hi {{first_name}}",
                    "body_html": "<h1>Hello</h1><script>x()</script> {{company|there}}"})),
    )
    .await;
    assert_eq!(status, 200, "{variant}");
    assert_eq!(variant["data"]["body_html"], "Hello {{company|there}}");
    assert_eq!(variant["data"]["body_text"], "Hello {{company|there}}");
    let (status, bad) = request(
        "PATCH",
        &format!("{campaign}/variants/{variant_a}"),
        &key_a,
        Some(json!({"body_html": "Hi {{first_name"})),
    )
    .await;
    assert_eq!(status, 422);
    assert!(text(&bad["details"]["body_html"]).contains("byte 3"));

    // Launch is refused without an inbox, naming the reason.
    let launch = json!({"status": "active"});
    let (status, refused) = request("PATCH", &campaign, &key_a, Some(launch.clone())).await;
    assert_eq!(status, 422, "{refused}");
    assert!(text(&refused["details"]["status"]).starts_with("no_inbox:"));

    let ws_a_uuid = ws_a.parse().expect("uuid");
    let inbox = insert_inbox(&db.url, ws_a_uuid, "sender@agency-a.test", "connected")
        .await
        .expect("inbox");
    let (status, attached) = request(
        "POST",
        &format!("{campaign}/inboxes/attach"),
        &key_a,
        Some(json!({"inbox_ids": [inbox.to_string(), inbox.to_string()]})),
    )
    .await;
    assert_eq!(status, 200, "{attached}");
    assert_eq!(
        attached["data"],
        json!([{"id": inbox.to_string(), "email": "sender@agency-a.test", "provider": "other",
                "is_active": true, "connection_status": "connected"}])
    );

    let (status, live) = request("PATCH", &campaign, &key_a, Some(launch)).await;
    assert_eq!(status, 200, "{live}");
    assert_eq!(live["data"]["status"], "active");
    assert_eq!(live["data"]["inboxes"][0]["id"], inbox.to_string());
    let (status, paused) = request(
        "PATCH",
        &campaign,
        &key_a,
        Some(json!({"status": "paused", "daily_limit": 120})),
    )
    .await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["data"]["status"], "paused");
    assert_eq!(paused["data"]["options"]["daily_limit"], 120);

    let (status, analytics) = request("GET", &format!("{campaign}/analytics"), &key_a, None).await;
    assert_eq!(status, 200);
    assert_eq!(analytics["data"]["sequence_steps"], 2);
    assert_eq!(
        analytics["data"]["daily"].as_array().map(Vec::len),
        Some(30)
    );

    // Workspace B: 404 on every one of A's ids, and an empty index.
    let (_, b_index) = request("GET", &format!("{api}/campaigns"), &key_b, None).await;
    assert_eq!(b_index["metadata"]["total_count"], 0);
    let (_, a_index) = request("GET", &format!("{api}/campaigns"), &key_a, None).await;
    assert_eq!(a_index["metadata"]["total_count"], 1);
    let attach_a = json!({"inbox_ids": [inbox.to_string()]});
    let attempts = [
        ("GET", campaign.clone(), None),
        ("PATCH", campaign.clone(), Some(json!({"name": "mine"}))),
        (
            "PATCH",
            format!("{campaign}/schedule"),
            Some(json!({"timezone": "Asia/Tokyo"})),
        ),
        ("GET", format!("{campaign}/analytics"), None),
        ("GET", format!("{campaign}/sequences"), None),
        ("POST", format!("{campaign}/sequences"), Some(json!({}))),
        (
            "PATCH",
            format!("{campaign}/sequences/{step_1}"),
            Some(json!({"delay_days": 1})),
        ),
        (
            "POST",
            format!("{campaign}/sequences/{step_1}/variants"),
            Some(json!({"subject": "x"})),
        ),
        (
            "PATCH",
            format!("{campaign}/variants/{variant_a}"),
            Some(json!({"subject": "x"})),
        ),
        ("DELETE", format!("{campaign}/variants/{variant_a}"), None),
        ("DELETE", format!("{campaign}/sequences/{step_1}"), None),
        (
            "POST",
            format!("{campaign}/inboxes/attach"),
            Some(attach_a.clone()),
        ),
        (
            "POST",
            format!("{campaign}/inboxes/detach"),
            Some(attach_a.clone()),
        ),
        ("DELETE", campaign.clone(), None),
    ];
    for (method, url, body) in attempts {
        let (status, _) = request(method, &url, &key_b, body).await;
        assert_eq!(status, 404, "B: {method} {url}");
    }
    let (_, b_campaign) = request(
        "POST",
        &format!("{api}/campaigns"),
        &key_b,
        Some(json!({"name": "B's"})),
    )
    .await;
    let (status, _) = request(
        "POST",
        &format!(
            "{api}/campaigns/{}/inboxes/attach",
            text(&b_campaign["data"]["id"])
        ),
        &key_b,
        Some(attach_a),
    )
    .await;
    assert_eq!(status, 404, "B cannot attach A's inbox");
    assert_ne!(ws_a, ws_b);

    // Nothing of A's changed; then A deletes it.
    let (_, still) = request("GET", &campaign, &key_a, None).await;
    assert_eq!(still["data"]["name"], "Q3 outreach");
    assert_eq!(still["data"]["status"], "paused");
    assert_eq!(still["data"]["schedule"]["timezone"], "Europe/Berlin");
    assert_eq!(still["data"]["stats"]["sequence_steps"], 2);
    let (status, body) = request("DELETE", &campaign, &key_a, None).await;
    assert_eq!((status, body), (204, Value::Null));
    let (status, _) = request("GET", &campaign, &key_a, None).await;
    assert_eq!(status, 404);
}
