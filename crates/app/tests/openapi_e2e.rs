//! End to end: the real binary serves its OpenAPI document and the reference page, without an
//! API key, and the document describes the routes the binary answers.

use reachkit_testkit::TestDatabase;
use reachkit_testkit::binary::{self, Server};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_reachkit");

/// A running `reachkit serve --api-only`, killed when dropped.
fn serve(db: &TestDatabase) -> Server {
    Server::start(binary::command(BIN, &db.url, "warn").args(["serve", "--api-only"]))
}

async fn get(url: &str) -> (u16, String, Vec<u8>) {
    let mut response = awc::Client::default()
        .get(url)
        .send()
        .await
        .expect("request");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.body().limit(8 * 1024 * 1024).await.expect("body");
    (response.status().as_u16(), content_type, body.to_vec())
}

#[actix_web::test]
async fn the_server_serves_its_openapi_document_and_the_reference_page_without_a_key() {
    let db = TestDatabase::create()
        .await
        .unwrap_or_else(|e| panic!("cannot create a test database: {e:#}"));
    let server = serve(&db);

    let (status, content_type, body) = get(&format!("{}/api/v1/openapi.json", server.origin)).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let doc: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/api/v1/campaigns",
        "/api/v1/campaigns/{campaign_id}/leads/bulk",
        "/api/v1/unibox/conversations",
        "/u/{token}",
        "/healthz",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is not documented");
    }

    // A documented route answers as documented: no key is a 401 in the error envelope.
    let (status, _, body) = get(&format!("{}/api/v1/campaigns", server.origin)).await;
    assert_eq!(status, 401);
    assert!(doc["paths"]["/api/v1/campaigns"]["get"]["responses"]["401"].is_object());
    let error: Value = serde_json::from_slice(&body).expect("JSON");
    assert!(error["error"].is_string());

    let (status, content_type, body) = get(&format!("{}/docs", server.origin)).await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );
    let html = String::from_utf8(body).expect("UTF-8");
    assert!(html.contains("/api/v1/openapi.json"));
}
