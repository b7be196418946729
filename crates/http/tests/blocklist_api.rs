//! The HTTP contract of authentication, the envelope and the blocklist, over mocked ports.

use std::sync::Arc;

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::{App, test};
use reachkit_core::StoreError;
use reachkit_core::api_keys::{ApiKey, ApiKeyService, KeyHash, MockApiKeyRepository};
use reachkit_core::blocklist::{
    Added, BlocklistEntry, BlocklistService, BlocklistSort, MockBlocklistRepository,
};
use reachkit_core::campaigns::{CampaignService, MockCampaignRepository};
use reachkit_core::clock::Clock;
use reachkit_core::ids::{ApiKeyId, BlocklistEntryId, WorkspaceId};
use reachkit_core::inboxes::{InboxService, MockInboxRepository};
use reachkit_core::leads::{LeadService, MockLeadRepository};
use reachkit_core::paging::{Page, SortOrder};
use reachkit_core::secrets::MockSecretBox;
use reachkit_core::sequences::{MockSequenceRepository, SequenceService};
use reachkit_core::workspaces::MockWorkspaceRepository;
use reachkit_domain::email::EmailAddress;
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
    // One stable workspace for the whole test binary.
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

fn entry(address: &str) -> BlocklistEntry {
    BlocklistEntry {
        id: BlocklistEntryId::new(),
        workspace_id: workspace(),
        email: EmailAddress::parse(address).expect("valid"),
        created_at: NOW,
    }
}

async fn call(blocklist: MockBlocklistRepository, req: test::TestRequest) -> (StatusCode, Value) {
    let services = Services {
        api_keys: ApiKeyService::new(
            Arc::new(keys()),
            Arc::new(MockWorkspaceRepository::new()),
            Arc::new(Fixed),
        ),
        blocklist: BlocklistService::new(Arc::new(blocklist), Arc::new(Fixed)),
        inboxes: InboxService::new(
            Arc::new(MockInboxRepository::new()),
            Arc::new(MockSecretBox::new()),
            Arc::new(Fixed),
        ),
        leads: LeadService::new(Arc::new(MockLeadRepository::new()), Arc::new(Fixed)),
        campaigns: CampaignService::new(Arc::new(MockCampaignRepository::new()), Arc::new(Fixed)),
        sequences: SequenceService::new(Arc::new(MockSequenceRepository::new()), Arc::new(Fixed)),
    };
    let app = test::init_service(App::new().configure(configure(services))).await;
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

fn authed(req: test::TestRequest) -> test::TestRequest {
    req.insert_header(("Authorization", format!("Bearer {KEY}")))
}

fn assert_error_envelope(body: &Value) {
    assert!(body["error"].is_string(), "no error message: {body}");
    assert!(body.get("data").is_none(), "error with data: {body}");
}

fn empty_page() -> MockBlocklistRepository {
    let mut repo = MockBlocklistRepository::new();
    repo.expect_list().returning(|_, q| {
        Ok(Page {
            items: vec![],
            request: q.page,
            total_count: 0,
        })
    });
    repo
}

#[actix_web::test]
async fn a_request_without_a_key_is_401_in_the_envelope() {
    let (status, body) = call(
        MockBlocklistRepository::new(),
        test::TestRequest::get().uri("/api/v1/blocklist"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_envelope(&body);
}

#[actix_web::test]
async fn an_unknown_or_malformed_key_is_401() {
    for key in [
        "rk_AAAAAAAA_0123456789abcdefghij0123456789ABCDEFGHIX",
        "nonsense",
    ] {
        let (status, body) = call(
            MockBlocklistRepository::new(),
            test::TestRequest::get()
                .uri("/api/v1/blocklist")
                .insert_header(("X-API-Key", key)),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{key}");
        assert_error_envelope(&body);
    }
}

#[actix_web::test]
async fn the_key_is_accepted_in_each_of_the_three_places() {
    let requests = [
        test::TestRequest::get()
            .uri("/api/v1/blocklist")
            .insert_header(("Authorization", format!("Bearer {KEY}"))),
        test::TestRequest::get()
            .uri("/api/v1/blocklist")
            .insert_header(("X-API-Key", KEY)),
        test::TestRequest::get().uri(&format!("/api/v1/blocklist?api_key={KEY}")),
    ];
    for req in requests {
        let (status, body) = call(empty_page(), req).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"], json!([]));
    }
}

#[actix_web::test]
async fn index_returns_entries_and_pagination_metadata() {
    let mut repo = MockBlocklistRepository::new();
    repo.expect_list()
        .withf(|ws, q| {
            *ws == workspace()
                && q.page.page() == 2
                && q.page.page_size() == 100
                && q.search.as_deref() == Some("acme")
                && q.sort == BlocklistSort::Email
                && q.order == SortOrder::Asc
        })
        .returning(|_, q| {
            Ok(Page {
                items: vec![entry("dave@acme.com")],
                request: q.page,
                total_count: 101,
            })
        });
    let (status, body) = call(
        repo,
        authed(test::TestRequest::get().uri(
            "/api/v1/blocklist?page=2&page_size=1000&search=%20Acme&sort_by=email&sort_order=asc",
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"][0]["email"], "dave@acme.com");
    assert_eq!(body["data"][0]["created_at"], "2026-11-30T12:00:00Z");
    assert!(body["data"][0]["id"].is_string());
    assert_eq!(
        body["metadata"],
        json!({"page": 2, "page_size": 100, "total_count": 101, "total_pages": 2})
    );
}

#[actix_web::test]
async fn index_defaults_to_page_1_of_30_newest_first() {
    let mut repo = MockBlocklistRepository::new();
    repo.expect_list()
        .withf(|_, q| {
            q.page.page() == 1
                && q.page.page_size() == 30
                && q.sort == BlocklistSort::CreatedAt
                && q.order == SortOrder::Desc
                && q.search.is_none()
        })
        .returning(|_, q| {
            Ok(Page {
                items: vec![],
                request: q.page,
                total_count: 0,
            })
        });
    let (status, body) = call(
        repo,
        authed(test::TestRequest::get().uri("/api/v1/blocklist")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["metadata"],
        json!({"page": 1, "page_size": 30, "total_count": 0, "total_pages": 0})
    );
}

#[actix_web::test]
async fn bad_list_parameters_are_refused_naming_the_parameter() {
    let cases = [
        ("page=0", StatusCode::UNPROCESSABLE_ENTITY, "page"),
        ("page=-1", StatusCode::UNPROCESSABLE_ENTITY, "page"),
        ("page_size=0", StatusCode::UNPROCESSABLE_ENTITY, "page_size"),
        ("page=abc", StatusCode::BAD_REQUEST, "page"),
        (
            "sort_by=password",
            StatusCode::UNPROCESSABLE_ENTITY,
            "sort_by",
        ),
        (
            "sort_order=up",
            StatusCode::UNPROCESSABLE_ENTITY,
            "sort_order",
        ),
    ];
    for (query, expected, field) in cases {
        let mut repo = MockBlocklistRepository::new();
        repo.expect_list().never();
        let (status, body) = call(
            repo,
            authed(test::TestRequest::get().uri(&format!("/api/v1/blocklist?{query}"))),
        )
        .await;
        assert_eq!(status, expected, "{query}: {body}");
        assert_error_envelope(&body);
        assert!(body["details"][field].is_string(), "{query}: {body}");
    }
}

#[actix_web::test]
async fn create_answers_201_with_a_new_entry_and_200_with_an_existing_one() {
    for created in [true, false] {
        let mut repo = MockBlocklistRepository::new();
        repo.expect_add()
            .withf(|e| e.email.as_str() == "bob@example.com" && e.workspace_id == workspace())
            .returning(move |e| {
                Ok(Added {
                    entry: e.clone(),
                    created,
                })
            });
        let (status, body) = call(
            repo,
            authed(
                test::TestRequest::post()
                    .uri("/api/v1/blocklist")
                    .set_json(json!({"email": " Bob@Example.com "})),
            ),
        )
        .await;
        let expected = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        assert_eq!(status, expected, "{body}");
        assert_eq!(body["data"]["email"], "bob@example.com");
        let keys: Vec<&String> = body["data"]
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["created_at", "email", "id"]);
    }
}

#[actix_web::test]
async fn create_refuses_bad_bodies_and_changes_nothing() {
    let cases: [(&str, Option<&str>, StatusCode, Option<&str>); 6] = [
        (
            r#"{"email": "bob"}"#,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("email"),
        ),
        (r"{}", None, StatusCode::UNPROCESSABLE_ENTITY, Some("email")),
        (
            r#"{"email": 42}"#,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("email"),
        ),
        (r#"{"email": "#, None, StatusCode::BAD_REQUEST, None),
        ("", None, StatusCode::BAD_REQUEST, None),
        (
            r#"{"email": "bob@example.com"}"#,
            Some("text/plain"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
        ),
    ];
    for (body, content_type, expected, field) in cases {
        let mut repo = MockBlocklistRepository::new();
        repo.expect_add().never();
        let req = authed(
            test::TestRequest::post()
                .uri("/api/v1/blocklist")
                .insert_header(("Content-Type", content_type.unwrap_or("application/json")))
                .set_payload(body.to_owned()),
        );
        let (status, response) = call(repo, req).await;
        assert_eq!(status, expected, "{body}: {response}");
        assert_error_envelope(&response);
        if let Some(field) = field {
            assert!(response["details"][field].is_string(), "{body}: {response}");
        }
    }
}

#[actix_web::test]
async fn check_tells_whether_an_address_is_blocked() {
    let mut repo = MockBlocklistRepository::new();
    repo.expect_is_blocked()
        .withf(|ws, e| *ws == workspace() && e.as_str() == "eve@example.com")
        .returning(|_, _| Ok(true));
    let (status, body) = call(
        repo,
        authed(test::TestRequest::get().uri("/api/v1/blocklist/check?email=EVE%40example.com")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"data": {"blocked": true}}));
}

#[actix_web::test]
async fn check_without_a_valid_email_is_422() {
    for uri in [
        "/api/v1/blocklist/check",
        "/api/v1/blocklist/check?email=nope",
    ] {
        let mut repo = MockBlocklistRepository::new();
        repo.expect_is_blocked().never();
        let (status, body) = call(repo, authed(test::TestRequest::get().uri(uri))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{uri}");
        assert!(body["details"]["email"].is_string(), "{body}");
    }
}

#[actix_web::test]
async fn delete_answers_204_then_404_for_unknown_ids() {
    let known = BlocklistEntryId::new();
    let mut repo = MockBlocklistRepository::new();
    repo.expect_delete()
        .withf(|ws, _| *ws == workspace())
        .returning(move |_, id| Ok(id == known));
    let (status, body) = call(
        repo,
        authed(test::TestRequest::delete().uri(&format!("/api/v1/blocklist/{known}"))),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);

    let mut repo = MockBlocklistRepository::new();
    repo.expect_delete().returning(|_, _| Ok(false));
    let (status, body) = call(
        repo,
        authed(
            test::TestRequest::delete()
                .uri(&format!("/api/v1/blocklist/{}", BlocklistEntryId::new())),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_envelope(&body);
}

#[actix_web::test]
async fn an_id_that_is_not_a_uuid_is_404_without_a_lookup() {
    let mut repo = MockBlocklistRepository::new();
    repo.expect_delete().never();
    let (status, body) = call(
        repo,
        authed(test::TestRequest::delete().uri("/api/v1/blocklist/not-a-uuid")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_envelope(&body);
}

#[actix_web::test]
async fn unknown_paths_and_methods_answer_in_the_envelope() {
    let (status, body) = call(
        MockBlocklistRepository::new(),
        authed(test::TestRequest::get().uri("/api/v1/nothing-here")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_envelope(&body);

    let (status, body) = call(
        MockBlocklistRepository::new(),
        authed(test::TestRequest::put().uri("/api/v1/blocklist")),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error_envelope(&body);
}

#[actix_web::test]
async fn a_storage_failure_is_a_500_that_reveals_nothing() {
    let mut repo = MockBlocklistRepository::new();
    repo.expect_list().returning(|_, _| {
        Err(StoreError::Other(anyhow::anyhow!(
            "relation secret_table missing"
        )))
    });
    let (status, body) = call(
        repo,
        authed(test::TestRequest::get().uri("/api/v1/blocklist")),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, json!({"error": "internal server error"}));
}

#[actix_web::test]
async fn health_needs_no_key() {
    let (status, body) = call(
        MockBlocklistRepository::new(),
        test::TestRequest::get().uri("/health"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["status"], "ok");
}
