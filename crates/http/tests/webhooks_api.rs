//! The HTTP contract of the webhook endpoints, over mocked ports.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{App, test};
use reachkit_core::api_keys::{ApiKey, ApiKeyService, KeyHash, MockApiKeyRepository};
use reachkit_core::blocklist::{BlocklistService, MockBlocklistRepository};
use reachkit_core::campaigns::{CampaignService, MockCampaignRepository};
use reachkit_core::clock::Clock;
use reachkit_core::ids::{ApiKeyId, WebhookDeliveryId, WebhookEndpointId, WorkspaceId};
use reachkit_core::inboxes::{InboxService, MockInboxRepository};
use reachkit_core::leads::{LeadService, MockLeadRepository};
use reachkit_core::paging::Page;
use reachkit_core::secrets::MockSecretBox;
use reachkit_core::sequences::{MockSequenceRepository, SequenceService};
use reachkit_core::webhooks::{
    Delivery, DeliveryStatus, MockWebhookRepository, WebhookEndpoint, WebhookService,
    WebhookSettings,
};
use reachkit_core::workspaces::MockWorkspaceRepository;
use reachkit_http::{Services, configure, configure_webhooks};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

const KEY: &str = "rk_AAAAAAAA_0123456789abcdefghij0123456789ABCDEFGHIJ";
const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

struct Fixed;
impl Clock for Fixed {
    fn now(&self) -> OffsetDateTime {
        NOW
    }
}

fn workspace() -> WorkspaceId {
    static ID: std::sync::OnceLock<WorkspaceId> = std::sync::OnceLock::new();
    *ID.get_or_init(WorkspaceId::new)
}

fn keys() -> MockApiKeyRepository {
    let mut keys = MockApiKeyRepository::new();
    keys.expect_find_by_hash().returning(|hash| {
        Ok((hash == &KeyHash::of(KEY)).then(|| ApiKey {
            id: ApiKeyId::new(),
            workspace_id: workspace(),
            name: "test".into(),
            prefix: "rk_AAAAAAAA".into(),
            created_at: NOW,
            last_used_at: Some(NOW),
            revoked_at: None,
        }))
    });
    keys
}

async fn call(repo: MockWebhookRepository, req: test::TestRequest) -> (StatusCode, Value) {
    let services = Services {
        api_keys: ApiKeyService::new(
            Arc::new(keys()),
            Arc::new(MockWorkspaceRepository::new()),
            Arc::new(Fixed),
        ),
        blocklist: BlocklistService::new(Arc::new(MockBlocklistRepository::new()), Arc::new(Fixed)),
        inboxes: InboxService::new(
            Arc::new(MockInboxRepository::new()),
            Arc::new(MockSecretBox::new()),
            Arc::new(Fixed),
        ),
        leads: LeadService::new(Arc::new(MockLeadRepository::new()), Arc::new(Fixed)),
        campaigns: CampaignService::new(Arc::new(MockCampaignRepository::new()), Arc::new(Fixed)),
        sequences: SequenceService::new(Arc::new(MockSequenceRepository::new()), Arc::new(Fixed)),
    };
    let mut secrets = MockSecretBox::new();
    secrets
        .expect_seal()
        .returning(|p, _| Ok([b"sealed:".as_slice(), p].concat()));
    let webhooks = WebhookService::new(
        Arc::new(repo),
        Arc::new(secrets),
        Arc::new(Fixed),
        WebhookSettings::default(),
    );
    let app = test::init_service(
        App::new()
            .configure(configure_webhooks(webhooks))
            .configure(configure(services)),
    )
    .await;
    let response = test::call_service(&app, req.to_request()).await;
    let status = response.status();
    let body = test::read_body(response).await;
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"))
    };
    (status, json)
}

fn authed(req: test::TestRequest) -> test::TestRequest {
    req.insert_header(("Authorization", format!("Bearer {KEY}")))
}

fn assert_error(body: &Value, field: Option<&str>) {
    assert!(body["error"].is_string(), "no error message: {body}");
    if let Some(field) = field {
        assert!(
            body["details"][field].is_string(),
            "details lack {field}: {body}"
        );
    }
}

fn endpoint(id: WebhookEndpointId) -> WebhookEndpoint {
    WebhookEndpoint {
        id,
        workspace_id: workspace(),
        url: "https://hooks.example.com/in".into(),
        description: String::new(),
        event_types: vec!["email_sent".into()],
        campaign_id: None,
        enabled: false,
        disabled_reason: Some("disabled after 3 deliveries failed in a row".into()),
        created_at: NOW,
        updated_at: NOW,
    }
}

fn found(id: WebhookEndpointId) -> MockWebhookRepository {
    let mut repo = MockWebhookRepository::new();
    repo.expect_get()
        .withf(move |ws, i| *ws == workspace() && *i == id)
        .returning(move |_, i| Ok(Some(endpoint(i))));
    repo.expect_get().returning(|_, _| Ok(None));
    repo
}

fn delivery(id: WebhookDeliveryId, endpoint: WebhookEndpointId) -> Delivery {
    Delivery {
        id,
        endpoint_id: endpoint,
        event_type: "email_sent".into(),
        payload: json!({"type": "email_sent", "data": {}}),
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: Some(NOW),
        last_attempt_at: None,
        last_status_code: None,
        last_error: None,
        delivered_at: None,
        created_at: NOW,
    }
}

#[actix_web::test]
async fn create_answers_201_with_the_secret_shown_once() {
    let mut repo = MockWebhookRepository::new();
    repo.expect_create()
        .withf(|n| n.endpoint.workspace_id == workspace())
        .times(1)
        .returning(|_| Ok(()));
    let (status, body) = call(
        repo,
        authed(test::TestRequest::post().uri("/api/v1/webhooks")).set_json(json!({
            "url": "https://hooks.example.com/in",
            "event_types": ["email_sent", "reply_received"],
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let data = &body["data"];
    assert!(data["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(data["event_types"], json!(["email_sent", "reply_received"]));
    assert_eq!(data["enabled"], true);
    assert_eq!(data["campaign_id"], Value::Null);
}

#[actix_web::test]
async fn create_refuses_invalid_fields_with_422_naming_them() {
    for (body, field) in [
        (
            json!({"url": "http://127.0.0.1:8080/", "event_types": ["email_sent"]}),
            "url",
        ),
        (
            json!({"url": "ftp://hooks.example.com", "event_types": ["email_sent"]}),
            "url",
        ),
        (
            json!({"url": "https://hooks.example.com", "event_types": []}),
            "event_types",
        ),
        (
            json!({"url": "https://hooks.example.com", "event_types": ["nope"]}),
            "event_types",
        ),
        (
            json!({"url": "https://hooks.example.com", "event_types": ["email_sent"],
                   "campaign_id": "not-an-id"}),
            "campaign_id",
        ),
        (json!({"event_types": ["email_sent"]}), "url"),
        (
            json!({"url": "https://hooks.example.com", "event_types": "email_sent"}),
            "event_types",
        ),
    ] {
        let mut repo = MockWebhookRepository::new();
        repo.expect_create().never();
        let (status, response) = call(
            repo,
            authed(test::TestRequest::post().uri("/api/v1/webhooks")).set_json(&body),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} -> {response}"
        );
        assert_error(&response, Some(field));
    }
}

#[actix_web::test]
async fn create_refuses_another_workspaces_campaign_with_422() {
    let mut repo = MockWebhookRepository::new();
    repo.expect_campaign_exists().returning(|_, _| Ok(false));
    repo.expect_create().never();
    let (status, body) = call(
        repo,
        authed(test::TestRequest::post().uri("/api/v1/webhooks")).set_json(json!({
            "url": "https://hooks.example.com", "event_types": ["email_sent"],
            "campaign_id": "0195d9a4-0000-7000-8000-000000000001",
        })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, Some("campaign_id"));
}

#[actix_web::test]
async fn malformed_json_is_400_and_a_missing_key_is_401() {
    let (status, body) = call(
        MockWebhookRepository::new(),
        authed(test::TestRequest::post().uri("/api/v1/webhooks"))
            .insert_header(("Content-Type", "application/json"))
            .set_payload("{"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, None);
    let (status, _) = call(
        MockWebhookRepository::new(),
        test::TestRequest::get().uri("/api/v1/webhooks"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn list_is_paginated_and_never_shows_secrets() {
    let mut repo = MockWebhookRepository::new();
    repo.expect_list()
        .withf(|ws, p| *ws == workspace() && p.page() == 2 && p.page_size() == 1)
        .returning(|_, p| {
            Ok(Page {
                items: vec![endpoint(WebhookEndpointId::new())],
                request: p,
                total_count: 3,
            })
        });
    let (status, body) = call(
        repo,
        authed(test::TestRequest::get().uri("/api/v1/webhooks?page=2&page_size=1")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert!(body["data"][0].get("secret").is_none());
    assert_eq!(body["metadata"]["total_count"], 3);
    let (status, body) = call(
        MockWebhookRepository::new(),
        authed(test::TestRequest::get().uri("/api/v1/webhooks?page=0")),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, Some("page"));
}

#[actix_web::test]
async fn show_answers_the_endpoint_or_404() {
    let id = WebhookEndpointId::new();
    let (status, body) = call(
        found(id),
        authed(test::TestRequest::get().uri(&format!("/api/v1/webhooks/{id}"))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["id"], id.to_string());
    assert_eq!(body["data"]["enabled"], false);
    assert!(body["data"]["disabled_reason"].is_string());
    assert!(body["data"].get("secret").is_none());
    for uri in [
        format!("/api/v1/webhooks/{}", WebhookEndpointId::new()),
        "/api/v1/webhooks/not-a-uuid".to_owned(),
    ] {
        let (status, body) = call(found(id), authed(test::TestRequest::get().uri(&uri))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_error(&body, None);
    }
}

#[actix_web::test]
async fn update_reenables_and_validates() {
    let id = WebhookEndpointId::new();
    let mut repo = found(id);
    repo.expect_update()
        .withf(|e, set| *set && e.enabled && e.disabled_reason.is_none() && e.campaign_id.is_none())
        .times(1)
        .returning(|e, _| Ok(Some(e.clone())));
    let (status, body) = call(
        repo,
        authed(test::TestRequest::patch().uri(&format!("/api/v1/webhooks/{id}")))
            .set_json(json!({"enabled": true, "campaign_id": null})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["enabled"], true);
    assert_eq!(body["data"]["disabled_reason"], Value::Null);

    let mut repo = found(id);
    repo.expect_update().never();
    let (status, body) = call(
        repo,
        authed(test::TestRequest::patch().uri(&format!("/api/v1/webhooks/{id}")))
            .set_json(json!({"url": "http://localhost/"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, Some("url"));

    let (status, _) = call(
        found(id),
        authed(
            test::TestRequest::patch()
                .uri(&format!("/api/v1/webhooks/{}", WebhookEndpointId::new())),
        )
        .set_json(json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn delete_answers_204_then_404() {
    let id = WebhookEndpointId::new();
    let mut repo = MockWebhookRepository::new();
    repo.expect_delete()
        .withf(move |ws, i| *ws == workspace() && *i == id)
        .returning(|_, _| Ok(true));
    repo.expect_delete().returning(|_, _| Ok(false));
    let (status, body) = call(
        repo,
        authed(test::TestRequest::delete().uri(&format!("/api/v1/webhooks/{id}"))),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);
    let mut repo = MockWebhookRepository::new();
    repo.expect_delete().returning(|_, _| Ok(false));
    let (status, _) = call(
        repo,
        authed(test::TestRequest::delete().uri(&format!("/api/v1/webhooks/{id}"))),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_test_event_is_queued_with_202() {
    let id = WebhookEndpointId::new();
    let mut repo = found(id);
    repo.expect_enqueue()
        .withf(move |ws, e, _, t, p, at| {
            *ws == workspace() && *e == id && t == "test" && p["type"] == "test" && *at == NOW
        })
        .times(1)
        .returning(|_, _, _, _, _, _| Ok(()));
    let (status, body) = call(
        repo,
        authed(test::TestRequest::post().uri(&format!("/api/v1/webhooks/{id}/test"))),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(body["data"]["delivery_id"].is_string());
    let (status, _) = call(
        found(id),
        authed(test::TestRequest::post().uri(&format!(
            "/api/v1/webhooks/{}/test",
            WebhookEndpointId::new()
        ))),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_delivery_log_is_paginated_and_scoped_to_the_endpoint() {
    let id = WebhookEndpointId::new();
    let mut repo = found(id);
    repo.expect_deliveries()
        .withf(move |ws, e, _| *ws == workspace() && *e == id)
        .returning(move |_, e, p| {
            Ok(Page {
                items: vec![delivery(WebhookDeliveryId::new(), e)],
                request: p,
                total_count: 1,
            })
        });
    let (status, body) = call(
        repo,
        authed(test::TestRequest::get().uri(&format!("/api/v1/webhooks/{id}/deliveries"))),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let d = &body["data"][0];
    assert_eq!(d["status"], "pending");
    assert_eq!(d["attempts"], 0);
    assert_eq!(d["webhook_id"], id.to_string());
    assert_eq!(d["next_attempt_at"], "2026-11-30T12:00:00Z");
    let (status, _) = call(
        found(id),
        authed(test::TestRequest::get().uri(&format!(
            "/api/v1/webhooks/{}/deliveries",
            WebhookEndpointId::new()
        ))),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn redelivery_answers_202_or_404_for_an_unknown_delivery() {
    let id = WebhookEndpointId::new();
    let d = WebhookDeliveryId::new();
    let mut repo = found(id);
    repo.expect_redeliver()
        .withf(move |ws, e, x, at| *ws == workspace() && *e == id && *x == d && *at == NOW)
        .returning(move |_, e, x, _| Ok(Some(delivery(x, e))));
    repo.expect_redeliver().returning(|_, _, _, _| Ok(None));
    let (status, body) = call(
        repo,
        authed(
            test::TestRequest::post()
                .uri(&format!("/api/v1/webhooks/{id}/deliveries/{d}/redeliver")),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["data"]["id"], d.to_string());
    for uri in [
        format!(
            "/api/v1/webhooks/{id}/deliveries/{}/redeliver",
            WebhookDeliveryId::new()
        ),
        format!("/api/v1/webhooks/{id}/deliveries/nope/redeliver"),
    ] {
        let mut repo = found(id);
        repo.expect_redeliver().returning(|_, _, _, _| Ok(None));
        let (status, body) = call(repo, authed(test::TestRequest::post().uri(&uri))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(body["error"], "delivery not found");
    }
}

#[actix_web::test]
async fn an_unsupported_method_is_405() {
    let (status, body) = call(
        MockWebhookRepository::new(),
        authed(test::TestRequest::put().uri("/api/v1/webhooks")),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&body, None);
}
