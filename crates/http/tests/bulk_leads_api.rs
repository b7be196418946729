//! HTTP contract of `POST /api/v1/campaigns/:campaign_id/leads/bulk` over mocked ports: the
//! report, per-row errors, and every error of the request as a whole.

use std::sync::Arc;

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::{App, test};
use reachkit_core::StoreError;
use reachkit_core::api_keys::{ApiKey, ApiKeyService, KeyHash, MockApiKeyRepository};
use reachkit_core::blocklist::{BlocklistService, MockBlocklistRepository};
use reachkit_core::campaigns::{CampaignService, MockCampaignRepository};
use reachkit_core::clock::Clock;
use reachkit_core::ids::{ApiKeyId, CampaignId, WorkspaceId};
use reachkit_core::inboxes::{InboxService, MockInboxRepository};
use reachkit_core::leads::bulk::EntryOutcome;
use reachkit_core::leads::{LeadService, MockLeadRepository};
use reachkit_core::secrets::AesGcmSecretBox;
use reachkit_core::sequences::{MockSequenceRepository, SequenceService};
use reachkit_core::workspaces::MockWorkspaceRepository;
use reachkit_http::{Services, configure};
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

async fn call_with(
    leads: MockLeadRepository,
    req: test::TestRequest,
    key: bool,
) -> (StatusCode, Value) {
    let secrets =
        AesGcmSecretBox::from_base64(&AesGcmSecretBox::generate_key_base64()).expect("key");
    let services = Services {
        api_keys: ApiKeyService::new(
            Arc::new(keys()),
            Arc::new(MockWorkspaceRepository::new()),
            Arc::new(Fixed),
        ),
        blocklist: BlocklistService::new(Arc::new(MockBlocklistRepository::new()), Arc::new(Fixed)),
        inboxes: InboxService::new(
            Arc::new(MockInboxRepository::new()),
            Arc::new(secrets),
            Arc::new(Fixed),
        ),
        leads: LeadService::new(Arc::new(leads), Arc::new(Fixed)),
        campaigns: CampaignService::new(Arc::new(MockCampaignRepository::new()), Arc::new(Fixed)),
        sequences: SequenceService::new(Arc::new(MockSequenceRepository::new()), Arc::new(Fixed)),
    };
    let app = test::init_service(App::new().configure(configure(services))).await;
    let req = if key {
        req.insert_header(("X-API-Key", KEY))
    } else {
        req
    };
    let response: ServiceResponse = test::call_service(&app, req.to_request()).await;
    let status = response.status();
    let body = test::read_body(response).await;
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"))
    };
    (status, json)
}

async fn call(leads: MockLeadRepository, req: test::TestRequest) -> (StatusCode, Value) {
    call_with(leads, req, true).await
}

fn post(campaign: &str, body: &Value) -> test::TestRequest {
    test::TestRequest::post()
        .uri(&format!("/api/v1/campaigns/{campaign}/leads/bulk"))
        .set_json(body)
}

/// A repository that inserts every entry (or answers `outcome` for each).
fn storing(outcome: EntryOutcome) -> MockLeadRepository {
    let mut repo = MockLeadRepository::new();
    repo.expect_add_many()
        .times(1)
        .returning(move |b| Ok(Some(vec![outcome; b.entries.len()])));
    repo
}

fn untouched() -> MockLeadRepository {
    let mut repo = MockLeadRepository::new();
    repo.expect_add_many().never();
    repo
}

fn assert_error(body: &Value) {
    assert!(body["error"].is_string(), "no error message: {body}");
    assert!(body.get("data").is_none(), "error with data: {body}");
}

#[actix_web::test]
async fn a_bad_row_is_reported_by_index_and_the_others_are_created() {
    let campaign = CampaignId::new();
    let mut repo = MockLeadRepository::new();
    repo.expect_add_many()
        .withf(move |b| {
            b.campaign_id == campaign
                && b.workspace_id == workspace()
                && b.entries.len() == 2
                && b.entries[0].lead.email.as_str() == "ann@acme.com"
        })
        .times(1)
        .returning(|b| Ok(Some(vec![EntryOutcome::Inserted; b.entries.len()])));
    let (status, body) = call(
        repo,
        post(
            &campaign.to_string(),
            &json!({"leads": [
                {"email": " Ann@ACME.com ", "first_name": "Ann", "variables": {"company": "Acme"}},
                {"email": "not-an-address"},
                {"email": 42},
                {"first_name": "No address"},
                {"email": "bob@acme.com", "variables": {"nested": {"a": 1}}},
                {"email": "cy@acme.com"}
            ]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({
            "created": 2, "updated": 0, "skipped": 0, "invalid": 4, "blocklisted": 0,
            "duplicates": 0,
            "errors": [
                {"index": 1, "error": body["data"]["errors"][0]["error"],
                 "details": {"email": body["data"]["errors"][0]["details"]["email"]}},
                {"index": 2, "error": body["data"]["errors"][1]["error"],
                 "details": {"email": body["data"]["errors"][1]["details"]["email"]}},
                {"index": 3, "error": body["data"]["errors"][2]["error"],
                 "details": {"email": body["data"]["errors"][2]["details"]["email"]}},
                {"index": 4, "error": body["data"]["errors"][3]["error"],
                 "details": {"variables.nested": "invalid_type: must be a string, a number or a boolean"}}
            ]
        })
    );
    let errors = &body["data"]["errors"];
    assert!(
        errors[0]["details"]["email"]
            .as_str()
            .is_some_and(|m| m.starts_with("invalid_email: ")),
        "{errors}"
    );
    assert!(
        errors[1]["details"]["email"]
            .as_str()
            .is_some_and(|m| m.starts_with("invalid_type: ")),
        "{errors}"
    );
    assert!(
        errors[2]["details"]["email"]
            .as_str()
            .is_some_and(|m| m.starts_with("required: ")),
        "{errors}"
    );
    assert!(
        errors[0]["error"]
            .as_str()
            .is_some_and(|m| m.starts_with("email "))
    );
}

#[actix_web::test]
async fn duplicates_skips_updates_and_blocklisted_rows_are_counted() {
    let campaign = CampaignId::new().to_string();
    let (status, body) = call(
        storing(EntryOutcome::Existed),
        post(
            &campaign,
            &json!({"if_exists": "update", "leads": [
                {"email": "a@acme.com", "if_exists": "fail"},
                {"email": "b@acme.com", "if_exists": "skip"},
                {"email": "c@acme.com"}
            ]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    assert_eq!(
        [&data["duplicates"], &data["skipped"], &data["updated"]],
        [1, 1, 1]
    );
    assert_eq!(data["errors"][0]["index"], 0);
    assert!(
        data["errors"][0]["details"]["email"]
            .as_str()
            .is_some_and(|m| m.starts_with("duplicate: ")),
        "{data}"
    );

    let (status, body) = call(
        storing(EntryOutcome::Blocklisted),
        post(&campaign, &json!({"leads": [{"email": "a@acme.com"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["blocklisted"], 1);
    assert_eq!(body["data"]["errors"], json!([]));
}

#[actix_web::test]
async fn more_than_a_thousand_leads_or_none_is_a_422_naming_leads() {
    let campaign = CampaignId::new().to_string();
    let many: Vec<Value> = (0..1_001)
        .map(|i| json!({"email": format!("l{i}@acme.com")}))
        .collect();
    for leads in [json!(many), json!([])] {
        let (status, body) = call(untouched(), post(&campaign, &json!({ "leads": leads }))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_error(&body);
        assert!(
            body["details"]["leads"]
                .as_str()
                .is_some_and(|m| m.starts_with("out_of_range: ")),
            "{body}"
        );
    }
}

#[actix_web::test]
async fn a_thousand_leads_over_one_mebibyte_are_accepted() {
    let campaign = CampaignId::new().to_string();
    let note = "x".repeat(2_000);
    let leads: Vec<Value> = (0..1_000)
        .map(|i| json!({"email": format!("l{i}@acme.com"), "variables": {"note": note}}))
        .collect();
    let (status, body) = call(
        storing(EntryOutcome::Inserted),
        post(&campaign, &json!({ "leads": leads })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["created"], 1_000);
}

#[actix_web::test]
async fn malformed_or_misshapen_bodies_are_400_or_422_and_store_nothing() {
    let campaign = CampaignId::new();
    let uri = format!("/api/v1/campaigns/{campaign}/leads/bulk");
    let (status, body) = call(
        untouched(),
        test::TestRequest::post()
            .uri(&uri)
            .insert_header(("Content-Type", "application/json"))
            .set_payload(r#"{"leads": [{"email": "a@acme.com"},"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_error(&body);

    let cases = [
        (json!({}), "leads"),
        (json!({"leads": {"email": "a@acme.com"}}), "leads"),
        (
            json!({"leads": [{"email": "a@acme.com"}], "if_exists": "replace"}),
            "if_exists",
        ),
        (
            json!({"leads": [{"email": "a@acme.com"}], "if_exists": 1}),
            "if_exists",
        ),
    ];
    for (request, field) in cases {
        let (status, body) = call(untouched(), post(&campaign.to_string(), &request)).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{request}: {body}"
        );
        assert_error(&body);
        assert!(body["details"][field].is_string(), "{request}: {body}");
    }
}

#[actix_web::test]
async fn an_unknown_or_other_workspaces_campaign_is_404() {
    let mut repo = MockLeadRepository::new();
    repo.expect_add_many().returning(|_| Ok(None));
    let (status, body) = call(
        repo,
        post(
            &CampaignId::new().to_string(),
            &json!({"leads": [{"email": "a@acme.com"}]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body, json!({"error": "campaign not found"}));

    let (status, body) = call(
        untouched(),
        post("not-a-uuid", &json!({"leads": [{"email": "a@acme.com"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[actix_web::test]
async fn without_a_key_it_is_401_and_other_methods_are_405() {
    let campaign = CampaignId::new().to_string();
    let (status, body) = call_with(
        untouched(),
        post(&campaign, &json!({"leads": [{"email": "a@acme.com"}]})),
        false,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = call(
        untouched(),
        test::TestRequest::get().uri(&format!("/api/v1/campaigns/{campaign}/leads/bulk")),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_error(&body);
}

#[actix_web::test]
async fn a_storage_failure_is_a_500_that_reveals_nothing() {
    let mut repo = MockLeadRepository::new();
    repo.expect_add_many()
        .returning(|_| Err(StoreError::Other(anyhow::anyhow!("secret detail"))));
    let (status, body) = call(
        repo,
        post(
            &CampaignId::new().to_string(),
            &json!({"leads": [{"email": "a@acme.com"}]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, json!({"error": "internal server error"}));
}
