//! The HTTP contract of the inbox and lead endpoints, over mocked ports.

use std::sync::Arc;

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::{App, test};
use reachkit_core::StoreError;
use reachkit_core::api_keys::{ApiKey, ApiKeyService, KeyHash, MockApiKeyRepository};
use reachkit_core::blocklist::{BlocklistService, MockBlocklistRepository};
use reachkit_core::campaigns::{CampaignService, MockCampaignRepository};
use reachkit_core::clock::Clock;
use reachkit_core::ids::{ApiKeyId, CampaignId, InboxId, LeadId, WorkspaceId};
use reachkit_core::inboxes::{
    ConnectionStatus, ConnectionType, Inbox, InboxCampaign, InboxDetail, InboxService, InboxSort,
    MockInboxRepository, Security, ServerSettings,
};
use reachkit_core::leads::{AddOutcome, Lead, LeadService, LeadSort, MockLeadRepository};
use reachkit_core::paging::{Page, SortOrder};
use reachkit_core::secrets::AesGcmSecretBox;
use reachkit_core::sequences::{MockSequenceRepository, SequenceService};
use reachkit_core::workspaces::MockWorkspaceRepository;
use reachkit_domain::campaign::CampaignStatus;
use reachkit_domain::email::EmailAddress;
use reachkit_domain::esp::Provider;
use reachkit_domain::lead::{IfExists, LeadStatus};
use reachkit_http::{Services, configure};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

const KEY: &str = "rk_AAAAAAAA_0123456789abcdefghij0123456789ABCDEFGHIJ";
const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);
const PASSWORD: &str = "Sup3r-Secret-pw";

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

fn inbox_service(inboxes: MockInboxRepository) -> InboxService {
    let secrets =
        AesGcmSecretBox::from_base64(&AesGcmSecretBox::generate_key_base64()).expect("key");
    InboxService::new(Arc::new(inboxes), Arc::new(secrets), Arc::new(Fixed))
}

async fn call(
    inboxes: MockInboxRepository,
    leads: MockLeadRepository,
    req: test::TestRequest,
) -> (StatusCode, Value) {
    call_with(inbox_service(inboxes), leads, req).await
}

async fn call_with(
    inboxes: InboxService,
    leads: MockLeadRepository,
    req: test::TestRequest,
) -> (StatusCode, Value) {
    let services = Services {
        api_keys: ApiKeyService::new(
            Arc::new(keys()),
            Arc::new(MockWorkspaceRepository::new()),
            Arc::new(Fixed),
        ),
        blocklist: BlocklistService::new(Arc::new(MockBlocklistRepository::new()), Arc::new(Fixed)),
        inboxes,
        leads: LeadService::new(Arc::new(leads), Arc::new(Fixed)),
        campaigns: CampaignService::new(Arc::new(MockCampaignRepository::new()), Arc::new(Fixed)),
        sequences: SequenceService::new(Arc::new(MockSequenceRepository::new()), Arc::new(Fixed)),
    };
    let app = test::init_service(App::new().configure(configure(services))).await;
    let response: ServiceResponse =
        test::call_service(&app, req.insert_header(("X-API-Key", KEY)).to_request()).await;
    let status = response.status();
    let body = test::read_body(response).await;
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"))
    };
    (status, json)
}

async fn inbox_call(repo: MockInboxRepository, req: test::TestRequest) -> (StatusCode, Value) {
    call(repo, MockLeadRepository::new(), req).await
}

async fn lead_call(repo: MockLeadRepository, req: test::TestRequest) -> (StatusCode, Value) {
    call(MockInboxRepository::new(), repo, req).await
}

fn assert_error(body: &Value) {
    assert!(body["error"].is_string(), "no error message: {body}");
    assert!(body.get("data").is_none(), "error with data: {body}");
}

fn detail_fields(body: &Value) -> Vec<String> {
    let mut fields: Vec<String> = body["details"]
        .as_object()
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default();
    fields.sort();
    fields
}

fn inbox() -> Inbox {
    Inbox {
        id: InboxId::new(),
        workspace_id: workspace(),
        email: EmailAddress::parse("sales@acme.com").expect("valid"),
        domain: "acme.com".into(),
        provider: Provider::Google,
        connection_type: ConnectionType::ImapSmtp,
        connection_status: ConnectionStatus::Error,
        connection_error: Some("SMTP smtp.acme.com:587: login refused: 535".into()),
        first_name: "Ann".into(),
        last_name: "Lee".into(),
        reply_to: "boss@acme.com".into(),
        signature: "-- Ann".into(),
        is_active: true,
        is_warming: false,
        daily_campaign_limit: 30,
        daily_warmup_limit: 10,
        smtp: ServerSettings {
            host: "smtp.acme.com".into(),
            port: 587,
            security: Security::StartTls,
            username: "sales@acme.com".into(),
        },
        imap: ServerSettings {
            host: "imap.acme.com".into(),
            port: 993,
            security: Security::Tls,
            username: "sales@acme.com".into(),
        },
        created_at: NOW,
        updated_at: NOW,
    }
}

fn detail(inbox: Inbox) -> InboxDetail {
    InboxDetail {
        inbox,
        campaigns: vec![InboxCampaign {
            id: CampaignId::new(),
            name: "Q1 outreach".into(),
            status: CampaignStatus::Active,
            created_at: NOW,
            updated_at: NOW,
        }],
    }
}

fn create_body() -> Value {
    json!({
        "email": "Sales@Acme.com",
        "first_name": "Ann",
        "smtp": {"host": "smtp.acme.com", "port": 587, "username": "sales@acme.com",
                 "password": PASSWORD, "security": "starttls"},
        "imap": {"host": "imap.acme.com", "port": 993, "username": "sales@acme.com",
                 "password": PASSWORD, "security": "tls"}
    })
}

const INBOX_KEYS: [&str; 17] = [
    "connection_error",
    "connection_status",
    "connection_type",
    "created_at",
    "daily_campaign_limit",
    "daily_warmup_limit",
    "domain",
    "email",
    "first_name",
    "id",
    "is_active",
    "is_warming",
    "last_name",
    "provider",
    "reply_to",
    "signature",
    "updated_at",
];

fn keys_of(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

#[actix_web::test]
async fn index_lists_inboxes_with_the_documented_projection_and_metadata() {
    let mut repo = MockInboxRepository::new();
    repo.expect_list()
        .withf(|ws, q| {
            *ws == workspace()
                && q.search.as_deref() == Some("acme")
                && q.sort == InboxSort::Email
                && q.order == SortOrder::Asc
                && q.page.page_size() == 100
        })
        .returning(|_, q| {
            Ok(Page {
                items: vec![inbox()],
                request: q.page,
                total_count: 1,
            })
        });
    let (status, body) = inbox_call(
        repo,
        test::TestRequest::get()
            .uri("/api/v1/inboxes?search=Acme&sort_by=email&sort_order=asc&page_size=500"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let item = &body["data"][0];
    assert_eq!(keys_of(item), INBOX_KEYS);
    assert_eq!(item["email"], "sales@acme.com");
    assert_eq!(item["provider"], "google");
    assert_eq!(item["connection_type"], "imap_smtp");
    assert_eq!(item["connection_status"], "error");
    assert_eq!(item["daily_campaign_limit"], 30);
    assert_eq!(item["created_at"], "2026-11-30T12:00:00Z");
    assert_eq!(
        body["metadata"],
        json!({"page": 1, "page_size": 100, "total_count": 1, "total_pages": 1})
    );
}

#[actix_web::test]
async fn index_refuses_an_unknown_sort_field() {
    let mut repo = MockInboxRepository::new();
    repo.expect_list().never();
    let (status, body) = inbox_call(
        repo,
        test::TestRequest::get().uri("/api/v1/inboxes?sort_by=smtp_password"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(detail_fields(&body), ["sort_by"]);
}

#[actix_web::test]
async fn show_includes_the_inboxes_campaigns() {
    let shown = inbox();
    let id = shown.id;
    let mut repo = MockInboxRepository::new();
    repo.expect_get()
        .withf(move |ws, got| *ws == workspace() && *got == id)
        .returning(move |_, _| Ok(Some(detail(shown.clone()))));
    let (status, body) = inbox_call(
        repo,
        test::TestRequest::get().uri(&format!("/api/v1/inboxes/{id}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut expected: Vec<String> = INBOX_KEYS.iter().map(|k| (*k).to_owned()).collect();
    expected.push("campaigns".into());
    expected.sort();
    assert_eq!(keys_of(&body["data"]), expected);
    let campaign = &body["data"]["campaigns"][0];
    assert_eq!(
        keys_of(campaign),
        ["created_at", "id", "name", "status", "updated_at"]
    );
    assert_eq!(campaign["status"], "active");
    assert_eq!(campaign["name"], "Q1 outreach");
}

#[actix_web::test]
async fn unknown_other_workspace_and_malformed_inbox_ids_are_404() {
    let id = InboxId::new();
    let requests = [
        test::TestRequest::get().uri(&format!("/api/v1/inboxes/{id}")),
        test::TestRequest::patch()
            .uri(&format!("/api/v1/inboxes/{id}"))
            .set_json(json!({"is_active": false})),
        test::TestRequest::delete().uri(&format!("/api/v1/inboxes/{id}")),
        test::TestRequest::get().uri(&format!("/api/v1/inboxes/{id}/warmup/stats")),
        test::TestRequest::get().uri("/api/v1/inboxes/not-a-uuid"),
        test::TestRequest::get().uri("/api/v1/inboxes/not-a-uuid/warmup/stats"),
    ];
    for req in requests {
        let mut r = MockInboxRepository::new();
        r.expect_get().returning(|_, _| Ok(None));
        r.expect_update().returning(|_, _, _| Ok(None));
        r.expect_delete().returning(|_, _| Ok(false));
        let (status, body) = inbox_call(r, req).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["error"], "inbox not found");
    }
}

#[actix_web::test]
async fn create_answers_201_with_a_pending_inbox_and_never_echoes_the_password() {
    let mut repo = MockInboxRepository::new();
    repo.expect_insert()
        .withf(|inbox, sealed| {
            inbox.email.as_str() == "sales@acme.com"
                && sealed.smtp.is_some()
                && sealed.imap.is_some()
                && !sealed
                    .smtp
                    .as_deref()
                    .unwrap_or_default()
                    .windows(PASSWORD.len())
                    .any(|w| w == PASSWORD.as_bytes())
        })
        .returning(|_, _| Ok(true));
    let (status, body) = inbox_call(
        repo,
        test::TestRequest::post()
            .uri("/api/v1/inboxes")
            .set_json(create_body()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let data = &body["data"];
    assert_eq!(keys_of(data), INBOX_KEYS);
    assert_eq!(data["email"], "sales@acme.com");
    assert_eq!(data["domain"], "acme.com");
    assert_eq!(data["provider"], "other");
    assert_eq!(data["connection_type"], "imap_smtp");
    assert_eq!(data["connection_status"], "pending");
    assert_eq!(data["connection_error"], Value::Null);
    assert_eq!(data["first_name"], "Ann");
    assert_eq!(data["last_name"], "");
    assert_eq!(data["reply_to"], "");
    assert_eq!(data["daily_campaign_limit"], 30);
    assert_eq!(data["daily_warmup_limit"], 10);
    assert_eq!(data["is_active"], true);
    assert_eq!(data["is_warming"], false);
    assert!(!body.to_string().contains(PASSWORD));
}

#[actix_web::test]
async fn create_of_an_address_the_workspace_has_is_409() {
    let mut repo = MockInboxRepository::new();
    repo.expect_insert().returning(|_, _| Ok(false));
    let (status, body) = inbox_call(
        repo,
        test::TestRequest::post()
            .uri("/api/v1/inboxes")
            .set_json(create_body()),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body);
}

#[actix_web::test]
async fn create_refuses_invalid_bodies_naming_each_field_and_stores_nothing() {
    let mut bad_values = create_body();
    bad_values["email"] = json!("nope");
    bad_values["smtp"]["port"] = json!(0);
    bad_values["imap"]["security"] = json!("ssl");
    bad_values["provider"] = json!("aol");
    let mut missing = create_body();
    missing
        .as_object_mut()
        .map(|o| o.remove("imap"))
        .expect("object");
    let mut wrong_type = create_body();
    wrong_type["smtp"]["port"] = json!("587");
    let cases = [
        (
            bad_values,
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["email", "imap.security", "provider", "smtp.port"],
        ),
        (missing, StatusCode::UNPROCESSABLE_ENTITY, vec!["imap"]),
        (
            wrong_type,
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["smtp.port"],
        ),
    ];
    for (body, expected_status, fields) in cases {
        let mut repo = MockInboxRepository::new();
        repo.expect_insert().never();
        let (status, response) = inbox_call(
            repo,
            test::TestRequest::post()
                .uri("/api/v1/inboxes")
                .set_json(body),
        )
        .await;
        assert_eq!(status, expected_status, "{response}");
        assert_eq!(detail_fields(&response), fields, "{response}");
        assert!(!response.to_string().contains(PASSWORD));
    }
    let mut repo = MockInboxRepository::new();
    repo.expect_insert().never();
    let (status, body) = inbox_call(
        repo,
        test::TestRequest::post()
            .uri("/api/v1/inboxes")
            .insert_header(("Content-Type", "application/json"))
            .set_payload("{\"email\": "),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body);
}

#[actix_web::test]
async fn update_applies_valid_changes_and_answers_with_the_inbox_and_its_campaigns() {
    let id = InboxId::new();
    let mut repo = MockInboxRepository::new();
    repo.expect_update()
        .withf(move |ws, got, u| {
            *ws == workspace()
                && *got == id
                && u.is_active == Some(false)
                && u.reply_to.as_deref() == Some("")
                && u.signature.as_deref() == Some("Best, Ann")
                && u.daily_campaign_limit == Some(1)
                && u.daily_warmup_limit == Some(100)
                && u.first_name.is_none()
        })
        .returning(|_, _, _| {
            Ok(Some(detail(Inbox {
                is_active: false,
                reply_to: String::new(),
                ..inbox()
            })))
        });
    let (status, body) = inbox_call(
        repo,
        test::TestRequest::patch()
            .uri(&format!("/api/v1/inboxes/{id}"))
            .set_json(
                json!({"is_active": false, "reply_to": "", "signature": "Best, Ann",
                             "daily_campaign_limit": 1, "daily_warmup_limit": 100}),
            ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["is_active"], false);
    assert_eq!(body["data"]["reply_to"], "");
    assert!(body["data"]["campaigns"].is_array());
}

#[actix_web::test]
async fn update_names_every_invalid_field_and_changes_nothing() {
    let mut repo = MockInboxRepository::new();
    repo.expect_update().never();
    let (status, body) = inbox_call(
        repo,
        test::TestRequest::patch()
            .uri(&format!("/api/v1/inboxes/{}", InboxId::new()))
            .set_json(json!({"is_active": false, "reply_to": "not-an-address",
                             "daily_campaign_limit": 501, "daily_warmup_limit": 0})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        detail_fields(&body),
        ["daily_campaign_limit", "daily_warmup_limit", "reply_to"]
    );
    assert_error(&body);

    let mut repo = MockInboxRepository::new();
    repo.expect_update().never();
    let (status, body) = inbox_call(
        repo,
        test::TestRequest::patch()
            .uri(&format!("/api/v1/inboxes/{}", InboxId::new()))
            .set_json(json!({"is_active": "yes"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(detail_fields(&body), ["is_active"]);
}

#[actix_web::test]
async fn delete_answers_204() {
    let id = InboxId::new();
    let mut repo = MockInboxRepository::new();
    repo.expect_delete()
        .withf(move |ws, got| *ws == workspace() && *got == id)
        .returning(|_, _| Ok(true));
    let (status, body) = inbox_call(
        repo,
        test::TestRequest::delete().uri(&format!("/api/v1/inboxes/{id}")),
    )
    .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
}

#[actix_web::test]
async fn warmup_stats_have_the_documented_shape_over_seven_days() {
    let mut repo = MockInboxRepository::new();
    repo.expect_get()
        .returning(|_, _| Ok(Some(detail(inbox()))));
    let (status, body) = inbox_call(
        repo,
        test::TestRequest::get().uri(&format!("/api/v1/inboxes/{}/warmup/stats", InboxId::new())),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    assert_eq!(
        keys_of(data),
        [
            "daily",
            "health_score",
            "ramp_up_progress",
            "received",
            "saved_from_spam",
            "sent"
        ]
    );
    assert_eq!(data["health_score"], 100);
    assert_eq!(data["sent"], 0);
    let daily = data["daily"].as_array().expect("daily");
    assert_eq!(daily.len(), 7);
    assert_eq!(
        daily[0],
        json!({"date": "2026-11-24", "sent": 0, "spam_count": 0})
    );
    assert_eq!(daily[6]["date"], "2026-11-30");
}

#[actix_web::test]
async fn warmup_stats_show_what_the_warmup_store_counted() {
    use reachkit_core::warmup::{MockWarmupStore, WarmupCounts, WarmupDayCounts};
    let mut repo = MockInboxRepository::new();
    repo.expect_get().returning(|_, _| {
        let mut i = inbox();
        i.is_warming = true;
        Ok(Some(detail(i)))
    });
    let mut store = MockWarmupStore::new();
    store.expect_counts().returning(|_, _, to| {
        Ok(WarmupCounts {
            daily: vec![WarmupDayCounts {
                date: to,
                sent: 2,
                spam: 1,
            }],
            received: 3,
            saved_from_spam: 1,
            started_on: Some(to),
        })
    });
    let (status, body) = call_with(
        inbox_service(repo).with_warmup_store(Arc::new(store)),
        MockLeadRepository::new(),
        test::TestRequest::get().uri(&format!("/api/v1/inboxes/{}/warmup/stats", InboxId::new())),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    assert_eq!(
        (
            &data["sent"],
            &data["received"],
            &data["saved_from_spam"],
            &data["health_score"],
            &data["ramp_up_progress"]
        ),
        (&json!(2), &json!(3), &json!(1), &json!(50), &json!(20))
    );
    assert_eq!(
        data["daily"][6],
        json!({"date": "2026-11-30", "sent": 2, "spam_count": 1})
    );
}

#[actix_web::test]
async fn a_storage_failure_is_a_500_that_reveals_nothing() {
    let mut repo = MockInboxRepository::new();
    repo.expect_list()
        .returning(|_, _| Err(StoreError::Other(anyhow::anyhow!("secret detail"))));
    let (status, body) = inbox_call(repo, test::TestRequest::get().uri("/api/v1/inboxes")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, json!({"error": "internal server error"}));
}

fn lead(campaign_id: CampaignId, email: &str) -> Lead {
    let email = EmailAddress::parse(email).expect("valid");
    let mut variables = Map::new();
    variables.insert("company".into(), json!("Acme"));
    Lead {
        id: LeadId::new(),
        workspace_id: workspace(),
        campaign_id,
        email_domain: email.domain().to_owned(),
        company_domain: Some(email.domain().to_owned()),
        email,
        first_name: "Ann".into(),
        last_name: "Lee".into(),
        variables,
        status: LeadStatus::Uncontacted,
        is_bounced: false,
        is_unsubscribed: false,
        provider: None,
        created_at: NOW,
        updated_at: NOW,
    }
}

const LEAD_KEYS: [&str; 11] = [
    "created_at",
    "email",
    "first_name",
    "id",
    "is_bounced",
    "is_unsubscribed",
    "last_name",
    "provider",
    "status",
    "updated_at",
    "variables",
];

#[actix_web::test]
async fn creating_a_lead_answers_201_with_the_documented_projection() {
    let campaign = CampaignId::new();
    let mut repo = MockLeadRepository::new();
    repo.expect_add()
        .withf(move |n| {
            n.lead.campaign_id == campaign
                && n.lead.workspace_id == workspace()
                && n.lead.email.as_str() == "ann@acme.com"
                && n.if_exists == IfExists::Fail
        })
        .returning(|n| Ok(AddOutcome::Created(n.lead.clone())));
    let (status, body) = lead_call(
        repo,
        test::TestRequest::post()
            .uri(&format!("/api/v1/campaigns/{campaign}/leads"))
            .set_json(json!({"email": " Ann@ACME.com ", "first_name": "Ann",
                             "variables": {"company": "Acme", "seats": 12, "vip": true}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let data = &body["data"];
    assert_eq!(keys_of(data), LEAD_KEYS);
    assert_eq!(data["email"], "ann@acme.com");
    assert_eq!(data["status"], "uncontacted");
    assert_eq!(data["provider"], Value::Null);
    assert_eq!(data["last_name"], "");
    assert_eq!(
        data["variables"],
        json!({"company": "Acme", "seats": 12, "vip": true})
    );
}

#[actix_web::test]
async fn if_exists_fail_is_409_and_skip_or_update_answer_200_with_the_lead() {
    let campaign = CampaignId::new();
    let cases = [
        ("fail", StatusCode::CONFLICT),
        ("skip", StatusCode::OK),
        ("update", StatusCode::OK),
    ];
    for (mode, expected) in cases {
        let mut repo = MockLeadRepository::new();
        repo.expect_add().returning(move |n| {
            let existing = lead(n.lead.campaign_id, "ann@acme.com");
            Ok(match n.if_exists {
                IfExists::Fail => AddOutcome::Duplicate,
                IfExists::Skip => AddOutcome::Skipped(existing),
                IfExists::Update => AddOutcome::Updated(existing),
            })
        });
        let (status, body) = lead_call(
            repo,
            test::TestRequest::post()
                .uri(&format!("/api/v1/campaigns/{campaign}/leads"))
                .set_json(json!({"email": "ann@acme.com", "if_exists": mode})),
        )
        .await;
        assert_eq!(status, expected, "{mode}: {body}");
        if expected == StatusCode::OK {
            assert_eq!(body["data"]["email"], "ann@acme.com");
        } else {
            assert_error(&body);
        }
    }
}

#[actix_web::test]
async fn lead_creation_refuses_bad_input_naming_each_field() {
    let campaign = CampaignId::new();
    let cases = [
        (
            json!({"email": "nope", "if_exists": "merge", "variables": {"a": {"b": 1}}}),
            vec!["email", "if_exists", "variables.a"],
        ),
        (json!({"first_name": "Ann"}), vec!["email"]),
        (
            json!({"email": "a@b.co", "variables": [1, 2]}),
            vec!["variables"],
        ),
        (
            json!({"email": "a@b.co", "variables": {"list": [1]}}),
            vec!["variables.list"],
        ),
    ];
    for (body, fields) in cases {
        let mut repo = MockLeadRepository::new();
        repo.expect_add().never();
        let (status, response) = lead_call(
            repo,
            test::TestRequest::post()
                .uri(&format!("/api/v1/campaigns/{campaign}/leads"))
                .set_json(body.clone()),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {response}"
        );
        assert_eq!(detail_fields(&response), fields, "{body}: {response}");
    }
}

#[actix_web::test]
async fn leads_of_an_unknown_or_other_workspaces_campaign_are_404() {
    let campaign = CampaignId::new();
    let lead_id = LeadId::new();
    let requests = [
        test::TestRequest::post()
            .uri(&format!("/api/v1/campaigns/{campaign}/leads"))
            .set_json(json!({"email": "a@b.co"})),
        test::TestRequest::get().uri(&format!("/api/v1/campaigns/{campaign}/leads")),
        test::TestRequest::get().uri(&format!("/api/v1/campaigns/{campaign}/leads/{lead_id}")),
        test::TestRequest::delete().uri(&format!("/api/v1/campaigns/{campaign}/leads/{lead_id}")),
        test::TestRequest::get().uri("/api/v1/campaigns/nope/leads"),
        test::TestRequest::get().uri(&format!("/api/v1/campaigns/{campaign}/leads/nope")),
    ];
    for req in requests {
        let mut repo = MockLeadRepository::new();
        repo.expect_add()
            .returning(|_| Ok(AddOutcome::CampaignNotFound));
        repo.expect_list().returning(|_, _, _| Ok(None));
        repo.expect_get().returning(|_, _, _| Ok(None));
        repo.expect_delete().returning(|_, _, _| Ok(false));
        let (status, body) = lead_call(repo, req).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_error(&body);
    }
}

#[actix_web::test]
async fn lead_index_searches_sorts_and_pages() {
    let campaign = CampaignId::new();
    let mut repo = MockLeadRepository::new();
    repo.expect_list()
        .withf(move |ws, c, q| {
            *ws == workspace()
                && *c == campaign
                && q.search.as_deref() == Some("lee")
                && q.sort == LeadSort::LastName
                && q.order == SortOrder::Desc
                && q.page.page() == 2
        })
        .returning(move |_, c, q| {
            Ok(Some(Page {
                items: vec![lead(c, "ann@acme.com")],
                request: q.page,
                total_count: 31,
            }))
        });
    let (status, body) = lead_call(
        repo,
        test::TestRequest::get().uri(&format!(
            "/api/v1/campaigns/{campaign}/leads?search=Lee&sort_by=last_name&page=2"
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys_of(&body["data"][0]), LEAD_KEYS);
    assert_eq!(
        body["metadata"],
        json!({"page": 2, "page_size": 30, "total_count": 31, "total_pages": 2})
    );
    let mut repo = MockLeadRepository::new();
    repo.expect_list().never();
    let (status, body) = lead_call(
        repo,
        test::TestRequest::get().uri(&format!(
            "/api/v1/campaigns/{campaign}/leads?sort_by=variables"
        )),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(detail_fields(&body), ["sort_by"]);
}

#[actix_web::test]
async fn a_lead_is_shown_and_deleted() {
    let campaign = CampaignId::new();
    let shown = lead(campaign, "ann@acme.com");
    let id = shown.id;
    let mut repo = MockLeadRepository::new();
    repo.expect_get()
        .withf(move |ws, c, l| *ws == workspace() && *c == campaign && *l == id)
        .returning(move |_, _, _| Ok(Some(shown.clone())));
    let (status, body) = lead_call(
        repo,
        test::TestRequest::get().uri(&format!("/api/v1/campaigns/{campaign}/leads/{id}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["id"], id.to_string());
    assert_eq!(body["data"]["variables"], json!({"company": "Acme"}));

    let mut repo = MockLeadRepository::new();
    repo.expect_delete()
        .withf(move |ws, c, l| *ws == workspace() && *c == campaign && *l == id)
        .returning(|_, _, _| Ok(true));
    let (status, body) = lead_call(
        repo,
        test::TestRequest::delete().uri(&format!("/api/v1/campaigns/{campaign}/leads/{id}")),
    )
    .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
}

#[actix_web::test]
async fn unsupported_methods_on_lead_and_inbox_paths_are_405() {
    let campaign = CampaignId::new();
    for req in [
        test::TestRequest::put().uri("/api/v1/inboxes"),
        test::TestRequest::post().uri(&format!(
            "/api/v1/campaigns/{campaign}/leads/{}",
            LeadId::new()
        )),
    ] {
        let (status, body) = call(MockInboxRepository::new(), MockLeadRepository::new(), req).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    }
}
