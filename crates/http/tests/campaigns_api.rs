//! The HTTP contract of campaigns, schedules, inboxes, analytics, sequences and variants, over
//! mocked ports: every endpoint, its success shape and every documented error.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{App, test};
use reachkit_core::api_keys::{ApiKey, ApiKeyService, KeyHash, MockApiKeyRepository};
use reachkit_core::blocklist::{BlocklistService, MockBlocklistRepository};
use reachkit_core::campaigns::{
    AttachedInbox, Campaign, CampaignCounters, CampaignDetailRecord, CampaignRecord,
    CampaignService, CampaignSort, CampaignUpdateOutcome, DailyCount, InboxSetOutcome,
    MockCampaignRepository, ScheduleUpdateOutcome,
};
use reachkit_core::clock::Clock;
use reachkit_core::ids::{ApiKeyId, CampaignId, InboxId, SequenceId, VariantId, WorkspaceId};
use reachkit_core::inboxes::{InboxService, MockInboxRepository};
use reachkit_core::leads::{LeadService, MockLeadRepository};
use reachkit_core::paging::Page;
use reachkit_core::secrets::MockSecretBox;
use reachkit_core::sequences::{
    MockSequenceRepository, SequenceService, StepRecord, VariantOutcome, VariantRecord,
};
use reachkit_core::workspaces::MockWorkspaceRepository;
use reachkit_domain::campaign::{CampaignName, CampaignSettings, LaunchReadiness};
use reachkit_domain::schedule::Schedule;
use reachkit_domain::validation::ValidationErrors;
use reachkit_domain::variant::VariantLetter;
use reachkit_http::{Services, configure};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::{date, datetime};

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

async fn call(
    campaigns: MockCampaignRepository,
    sequences: MockSequenceRepository,
    req: test::TestRequest,
) -> (StatusCode, Value) {
    call_with(Arc::new(campaigns), Arc::new(sequences), req).await
}

/// Like [`call`], with a sequence mock shared by several requests.
async fn call_shared(
    sequences: Arc<MockSequenceRepository>,
    req: test::TestRequest,
) -> (StatusCode, Value) {
    call_with(Arc::new(MockCampaignRepository::new()), sequences, req).await
}

async fn call_with(
    campaigns: Arc<MockCampaignRepository>,
    sequences: Arc<MockSequenceRepository>,
    req: test::TestRequest,
) -> (StatusCode, Value) {
    let services = Services {
        api_keys: ApiKeyService::new(
            Arc::new(keys()),
            Arc::new(MockWorkspaceRepository::new()),
            Arc::new(Fixed),
        ),
        blocklist: BlocklistService::new(Arc::new(MockBlocklistRepository::new()), Arc::new(Fixed)),
        campaigns: CampaignService::new(campaigns, Arc::new(Fixed)),
        sequences: SequenceService::new(sequences, Arc::new(Fixed)),
        inboxes: InboxService::new(
            Arc::new(MockInboxRepository::new()),
            Arc::new(MockSecretBox::new()),
            Arc::new(Fixed),
        ),
        leads: LeadService::new(Arc::new(MockLeadRepository::new()), Arc::new(Fixed)),
    };
    let app = test::init_service(App::new().configure(configure(services))).await;
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

/// Calls with only a campaign repository (and no sequence expectations).
async fn call_c(repo: MockCampaignRepository, req: test::TestRequest) -> (StatusCode, Value) {
    call(repo, MockSequenceRepository::new(), req).await
}

/// Calls with only a sequence repository.
async fn call_s(repo: MockSequenceRepository, req: test::TestRequest) -> (StatusCode, Value) {
    call(MockCampaignRepository::new(), repo, req).await
}

fn get(uri: &str) -> test::TestRequest {
    authed(test::TestRequest::get().uri(uri))
}

fn authed(req: test::TestRequest) -> test::TestRequest {
    req.insert_header(("Authorization", format!("Bearer {KEY}")))
}

fn with_json(req: test::TestRequest, body: &Value) -> test::TestRequest {
    authed(req.set_json(body))
}

fn post(uri: &str, body: &Value) -> test::TestRequest {
    with_json(test::TestRequest::post().uri(uri), body)
}

fn patch(uri: &str, body: &Value) -> test::TestRequest {
    with_json(test::TestRequest::patch().uri(uri), body)
}

fn delete(uri: &str) -> test::TestRequest {
    authed(test::TestRequest::delete().uri(uri))
}

fn raw(req: test::TestRequest, body: &'static str) -> test::TestRequest {
    authed(
        req.insert_header(("Content-Type", "application/json"))
            .set_payload(body),
    )
}

fn assert_error(body: &Value) {
    assert!(body["error"].is_string(), "no error message: {body}");
    assert!(body.get("data").is_none(), "error with data: {body}");
}

/// The details entry of a 422, which is `"<code>: <message>"` for domain rules.
fn detail(body: &Value, field: &str) -> String {
    assert_error(body);
    body["details"][field]
        .as_str()
        .unwrap_or_else(|| panic!("no details.{field}: {body}"))
        .to_owned()
}

fn keys_of(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

fn record(id: CampaignId) -> CampaignRecord {
    CampaignRecord {
        campaign: Campaign {
            id,
            workspace_id: workspace(),
            settings: CampaignSettings::new(CampaignName::parse("Q3").expect("name")),
            schedule: Schedule::default(),
            created_at: NOW,
            updated_at: NOW,
        },
        counters: CampaignCounters {
            leads_count: 10,
            finished_leads: 5,
            sent: 20,
            contacted: 8,
            replies: 2,
            positive_replies: 1,
            bounced: 1,
        },
        sequence_steps: 2,
        inboxes: vec![AttachedInbox {
            id: InboxId::new(),
            email: "sender@acme.test".into(),
            provider: "google".into(),
            is_active: true,
            connection_status: "connected".into(),
        }],
    }
}

fn variant(subject: Option<&str>, enabled: bool) -> VariantRecord {
    VariantRecord {
        id: VariantId::new(),
        sequence_id: SequenceId::new(),
        letter: VariantLetter::A,
        subject: subject.map(str::to_owned),
        body_html: None,
        body_text: None,
        enabled,
        sent: 4,
        replies: 1,
        positive_replies: 0,
    }
}

fn steps() -> Vec<StepRecord> {
    vec![
        StepRecord {
            id: SequenceId::new(),
            step: 1,
            delay_days: 2,
            variants: vec![variant(Some("Hi"), true)],
        },
        StepRecord {
            id: SequenceId::new(),
            step: 2,
            delay_days: 3,
            variants: vec![variant(None, true)],
        },
    ]
}

/// A campaign repository that shows one campaign (any id) with counters and one daily row.
fn shows() -> MockCampaignRepository {
    let mut repo = MockCampaignRepository::new();
    repo.expect_get().returning(|_, id| Ok(Some(record(id))));
    repo.expect_detail().returning(|_, id, _, _| {
        Ok(Some(CampaignDetailRecord {
            record: record(id),
            daily: vec![DailyCount {
                date: date!(2026 - 11 - 29),
                sent: 6,
                replies: 1,
            }],
            steps: steps(),
        }))
    });
    repo
}

fn has_steps() -> MockSequenceRepository {
    let mut seq = MockSequenceRepository::new();
    seq.expect_steps().returning(|_, _| Ok(Some(steps())));
    seq
}

fn unknown() -> MockCampaignRepository {
    let mut repo = MockCampaignRepository::new();
    repo.expect_get().returning(|_, _| Ok(None));
    repo.expect_detail().returning(|_, _, _, _| Ok(None));
    repo.expect_delete().returning(|_, _| Ok(false));
    repo.expect_update()
        .returning(|_, _, _, _| Ok(CampaignUpdateOutcome::NotFound));
    repo.expect_update_schedule()
        .returning(|_, _, _, _| Ok(ScheduleUpdateOutcome::NotFound));
    repo.expect_attach_inboxes()
        .returning(|_, _, _, _| Ok(InboxSetOutcome::CampaignNotFound));
    repo.expect_detach_inboxes()
        .returning(|_, _, _, _| Ok(InboxSetOutcome::CampaignNotFound));
    repo
}

const CAMPAIGN_KEYS: [&str; 10] = [
    "created_at",
    "id",
    "inboxes",
    "name",
    "options",
    "progress",
    "schedule",
    "stats",
    "status",
    "updated_at",
];

const HEADLINE: [&str; 11] = [
    "bounce_rate",
    "bounced",
    "contacted",
    "leads_count",
    "positive_replies",
    "positive_reply_rate",
    "progress",
    "replies",
    "reply_rate",
    "sent",
    "sequence_steps",
];

fn full_stats_keys() -> Vec<&'static str> {
    let mut k: Vec<&str> = HEADLINE.to_vec();
    k.extend(["daily", "sequences"]);
    k.sort_unstable();
    k
}

#[actix_web::test]
async fn every_campaign_endpoint_needs_a_key() {
    let id = CampaignId::new();
    let uris = [
        ("GET", "/api/v1/campaigns".to_owned()),
        ("POST", "/api/v1/campaigns".to_owned()),
        ("GET", format!("/api/v1/campaigns/{id}")),
        ("PATCH", format!("/api/v1/campaigns/{id}")),
        ("DELETE", format!("/api/v1/campaigns/{id}")),
        ("PATCH", format!("/api/v1/campaigns/{id}/schedule")),
        ("POST", format!("/api/v1/campaigns/{id}/inboxes/attach")),
        ("POST", format!("/api/v1/campaigns/{id}/inboxes/detach")),
        ("GET", format!("/api/v1/campaigns/{id}/analytics")),
        ("GET", format!("/api/v1/campaigns/{id}/sequences")),
        ("POST", format!("/api/v1/campaigns/{id}/sequences")),
        ("PATCH", format!("/api/v1/campaigns/{id}/sequences/{id}")),
        ("DELETE", format!("/api/v1/campaigns/{id}/sequences/{id}")),
        (
            "POST",
            format!("/api/v1/campaigns/{id}/sequences/{id}/variants"),
        ),
        ("PATCH", format!("/api/v1/campaigns/{id}/variants/{id}")),
        ("DELETE", format!("/api/v1/campaigns/{id}/variants/{id}")),
    ];
    for (method, uri) in uris {
        let req = test::TestRequest::default()
            .method(method.parse().expect("method"))
            .uri(&uri)
            .set_json(json!({}));
        let (status, body) = call_c(MockCampaignRepository::new(), req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri}");
        assert_error(&body);
    }
}

#[actix_web::test]
async fn create_answers_201_with_the_full_projection() {
    let mut repo = shows();
    repo.expect_create()
        .withf(|n| n.campaign.settings.name.as_str() == "Q3 outreach")
        .times(1)
        .returning(|_| Ok(()));
    let (status, body) = call(
        repo,
        has_steps(),
        post("/api/v1/campaigns", &json!({"name": " Q3 outreach "})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let d = &body["data"];
    assert_eq!(keys_of(d), CAMPAIGN_KEYS);
    assert_eq!(d["status"], "draft");
    assert_eq!(
        d["options"],
        json!({"daily_limit": 50, "stop_on_reply": true, "stop_on_company_reply": false,
               "text_only": false, "esp_matching": false, "unsubscribe_option": false})
    );
    assert_eq!(d["schedule"]["timezone"], "America/New_York");
    assert_eq!(
        d["schedule"]["default_window"],
        json!({"start": "09:00", "end": "17:00"})
    );
    assert_eq!(
        d["schedule"]["days"]["saturday"],
        json!({"enabled": false, "start": null, "end": null})
    );
    assert_eq!(
        keys_of(&d["schedule"]["days"]),
        [
            "friday",
            "monday",
            "saturday",
            "sunday",
            "thursday",
            "tuesday",
            "wednesday"
        ]
    );
    assert_eq!(keys_of(&d["stats"]), full_stats_keys());
    assert_eq!(d["created_at"], "2026-11-30T12:00:00Z");
}

#[actix_web::test]
async fn create_refuses_a_missing_blank_or_long_name_and_malformed_json() {
    let (status, body) = call_c(
        MockCampaignRepository::new(),
        post("/api/v1/campaigns", &json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(detail(&body, "name").contains("missing field"));
    for name in ["   ".to_owned(), "x".repeat(151)] {
        let (status, body) = call_c(
            MockCampaignRepository::new(),
            post("/api/v1/campaigns", &json!({ "name": name })),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let d = detail(&body, "name");
        assert!(
            d.starts_with("required:") || d.starts_with("too_long:"),
            "{d}"
        );
    }
    let (status, body) = call_c(
        MockCampaignRepository::new(),
        raw(
            test::TestRequest::post().uri("/api/v1/campaigns"),
            "{\"name\": ",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body);
}

#[actix_web::test]
async fn index_lists_the_projection_without_daily_or_sequences() {
    let mut repo = MockCampaignRepository::new();
    repo.expect_list()
        .withf(|_, q| q.sort == CampaignSort::Name && q.search.as_deref() == Some("q3"))
        .returning(|_, q| {
            Ok(Page {
                items: vec![record(CampaignId::new())],
                request: q.page,
                total_count: 1,
            })
        });
    let (status, body) = call_c(
        repo,
        get("/api/v1/campaigns?sort_by=name&sort_order=asc&search=%20Q3%20"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let item = &body["data"][0];
    assert_eq!(keys_of(item), CAMPAIGN_KEYS);
    assert_eq!(keys_of(&item["stats"]), HEADLINE);
    assert_eq!(item["stats"]["progress"], 50);
    assert_eq!(item["stats"]["reply_rate"], 25.0);
    assert_eq!(item["stats"]["bounce_rate"], 12.5);
    assert_eq!(
        item["inboxes"][0],
        json!({"id": item["inboxes"][0]["id"], "email": "sender@acme.test", "provider": "google",
               "is_active": true, "connection_status": "connected"})
    );
    assert_eq!(
        body["metadata"],
        json!({"page": 1, "page_size": 30, "total_count": 1, "total_pages": 1})
    );
}

#[actix_web::test]
async fn index_refuses_an_unknown_sort_and_a_bad_page() {
    for (uri, code, field) in [
        ("/api/v1/campaigns?sort_by=leads", 422, "sort_by"),
        ("/api/v1/campaigns?sort_order=up", 422, "sort_order"),
        ("/api/v1/campaigns?page=0", 422, "page"),
        ("/api/v1/campaigns?page=abc", 400, "page"),
    ] {
        let (status, body) = call_c(MockCampaignRepository::new(), get(uri)).await;
        assert_eq!(status.as_u16(), code, "{uri}");
        detail(&body, field);
    }
}

#[actix_web::test]
async fn show_embeds_thirty_days_and_per_variant_numbers() {
    let id = CampaignId::new();
    let (status, body) = call(
        shows(),
        has_steps(),
        get(&format!("/api/v1/campaigns/{id}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let d = &body["data"];
    assert_eq!(d["id"], id.to_string());
    assert_eq!(d["progress"], 50);
    let daily = d["stats"]["daily"].as_array().expect("daily");
    assert_eq!(daily.len(), 30);
    assert_eq!(
        daily[0],
        json!({"date": "2026-11-01", "sent": 0, "replies": 0})
    );
    assert_eq!(
        daily[28],
        json!({"date": "2026-11-29", "sent": 6, "replies": 1})
    );
    assert_eq!(daily[29]["date"], "2026-11-30");
    let seqs = d["stats"]["sequences"].as_array().expect("sequences");
    assert_eq!(seqs.len(), 2);
    assert_eq!(seqs[1]["step"], 2);
    let v = &seqs[0]["variants"][0];
    assert_eq!(
        keys_of(v),
        [
            "enabled",
            "id",
            "positive_replies",
            "positive_reply_rate",
            "replies",
            "reply_rate",
            "sent"
        ]
    );
    assert_eq!(
        (v["sent"].as_u64(), v["reply_rate"].as_f64()),
        (Some(4), Some(25.0))
    );
}

#[actix_web::test]
async fn unknown_and_malformed_campaign_ids_are_404_everywhere() {
    for id in [CampaignId::new().to_string(), "not-a-uuid".to_owned()] {
        let requests = [
            get(&format!("/api/v1/campaigns/{id}")),
            patch(&format!("/api/v1/campaigns/{id}"), &json!({"name": "x"})),
            delete(&format!("/api/v1/campaigns/{id}")),
            patch(&format!("/api/v1/campaigns/{id}/schedule"), &json!({})),
            post(
                &format!("/api/v1/campaigns/{id}/inboxes/attach"),
                &json!({"inbox_ids": [InboxId::new().to_string()]}),
            ),
            post(
                &format!("/api/v1/campaigns/{id}/inboxes/detach"),
                &json!({"inbox_ids": [InboxId::new().to_string()]}),
            ),
            get(&format!("/api/v1/campaigns/{id}/analytics")),
        ];
        for req in requests {
            let (status, body) = call_c(unknown(), req).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{id}: {body}");
            assert_eq!(body["error"], "campaign not found");
        }
    }
}

#[actix_web::test]
async fn update_answers_the_list_projection() {
    let mut repo = MockCampaignRepository::new();
    repo.expect_update()
        .withf(|_, _, c, _| c.name.as_deref() == Some("New") && c.daily_limit == Some(0))
        .returning(|_, id, _, _| Ok(CampaignUpdateOutcome::Updated(Box::new(record(id)))));
    let (status, body) = call_c(
        repo,
        patch(
            &format!("/api/v1/campaigns/{}", CampaignId::new()),
            &json!({"name": "New", "daily_limit": 0, "text_only": null}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys_of(&body["data"]), CAMPAIGN_KEYS);
    assert_eq!(keys_of(&body["data"]["stats"]), HEADLINE);
}

#[actix_web::test]
async fn update_refusals_name_each_field_with_the_domain_code() {
    let mut repo = MockCampaignRepository::new();
    repo.expect_update().returning(|_, _, changes, _| {
        // The adapter applies the domain's rules; here with a campaign that has no inbox.
        let current = CampaignSettings::new(CampaignName::parse("Q3").expect("name"));
        match changes.apply(&current, &LaunchReadiness::default()) {
            Err(e) => Ok(CampaignUpdateOutcome::Invalid(e)),
            Ok(_) => Ok(CampaignUpdateOutcome::Invalid(ValidationErrors(vec![]))),
        }
    });
    let (status, body) = call_c(
        repo,
        patch(
            &format!("/api/v1/campaigns/{}", CampaignId::new()),
            &json!({"status": "active", "daily_limit": -1, "name": ""}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(detail(&body, "status").starts_with("no_inbox: cannot launch"));
    assert!(detail(&body, "daily_limit").starts_with("out_of_range:"));
    assert!(detail(&body, "name").starts_with("required:"));
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("status cannot launch")),
        "{body}"
    );
}

#[actix_web::test]
async fn update_with_a_mistyped_field_is_422_and_malformed_json_400() {
    let uri = format!("/api/v1/campaigns/{}", CampaignId::new());
    let (status, body) = call_c(
        MockCampaignRepository::new(),
        patch(&uri, &json!({"daily_limit": "ten"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    detail(&body, "daily_limit");
    let (status, body) = call_c(
        MockCampaignRepository::new(),
        raw(test::TestRequest::patch().uri(&uri), "{oops"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body);
}

#[actix_web::test]
async fn delete_answers_204() {
    let mut repo = MockCampaignRepository::new();
    repo.expect_delete().times(1).returning(|_, _| Ok(true));
    let (status, body) = call_c(
        repo,
        delete(&format!("/api/v1/campaigns/{}", CampaignId::new())),
    )
    .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
}

fn schedules() -> MockCampaignRepository {
    let mut repo = MockCampaignRepository::new();
    repo.expect_update_schedule().returning(|_, _, changes, _| {
        match changes.apply(&Schedule::default()) {
            Ok(s) => Ok(ScheduleUpdateOutcome::Updated(s)),
            Err(e) => Ok(ScheduleUpdateOutcome::Invalid(e)),
        }
    });
    repo
}

#[actix_web::test]
async fn schedule_echoes_the_rounded_times() {
    let (status, body) = call_c(
        schedules(),
        patch(
            &format!("/api/v1/campaigns/{}/schedule", CampaignId::new()),
            &json!({"timezone": "europe/paris", "default_window": {"start": "09:23", "end": "17:00"},
                    "days": {"saturday": {"enabled": true, "start": "10:44"},
                             "monday": {"start": null}}}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let d = &body["data"];
    assert_eq!(keys_of(d), ["days", "default_window", "timezone"]);
    assert_eq!(d["timezone"], "Europe/Paris");
    assert_eq!(
        d["default_window"],
        json!({"start": "09:30", "end": "17:00"})
    );
    assert_eq!(
        d["days"]["saturday"],
        json!({"enabled": true, "start": "10:30", "end": null})
    );
    assert_eq!(
        d["days"]["monday"],
        json!({"enabled": true, "start": null, "end": null})
    );
}

#[actix_web::test]
async fn schedule_refusals_name_the_field() {
    let uri = format!("/api/v1/campaigns/{}/schedule", CampaignId::new());
    let cases = [
        (
            json!({"timezone": "Europe/Kyiv"}),
            "timezone",
            "unsupported_timezone",
        ),
        (
            json!({"default_window": {"start": "9:00", "end": "17:00"}}),
            "default_window.start",
            "invalid_format",
        ),
        (
            json!({"days": {"friday": {"start": "18:00"}}}),
            "days.friday",
            "end_not_after_start",
        ),
    ];
    for (request, field, code) in cases {
        let (status, body) = call_c(schedules(), patch(&uri, &request)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{request}");
        assert!(detail(&body, field).starts_with(code), "{body}");
    }
    let (status, body) = call_c(
        MockCampaignRepository::new(),
        patch(&uri, &json!({"days": {"funday": {"enabled": true}}})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(detail(&body, "days.funday").starts_with("unknown field"));
}

fn attaches() -> MockCampaignRepository {
    let mut repo = MockCampaignRepository::new();
    let set = |ids: &[InboxId]| {
        InboxSetOutcome::Done(
            ids.iter()
                .map(|id| AttachedInbox {
                    id: *id,
                    email: format!("{id}@acme.test"),
                    provider: "microsoft".into(),
                    is_active: true,
                    connection_status: "pending".into(),
                })
                .collect(),
        )
    };
    repo.expect_attach_inboxes()
        .returning(move |_, _, ids, _| Ok(set(ids)));
    repo.expect_detach_inboxes()
        .returning(|_, _, _, _| Ok(InboxSetOutcome::Done(vec![])));
    repo
}

#[actix_web::test]
async fn attach_answers_the_attached_set_with_duplicates_removed() {
    let a = InboxId::new();
    let (status, body) = call_c(
        attaches(),
        post(
            &format!("/api/v1/campaigns/{}/inboxes/attach", CampaignId::new()),
            &json!({"inbox_ids": [a.to_string(), a.to_string()]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let list = body["data"].as_array().expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(
        keys_of(&list[0]),
        ["connection_status", "email", "id", "is_active", "provider"]
    );
    let (status, body) = call_c(
        attaches(),
        post(
            &format!("/api/v1/campaigns/{}/inboxes/detach", CampaignId::new()),
            &json!({"inbox_ids": [a.to_string()]}),
        ),
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"data": []})));
}

#[actix_web::test]
async fn attach_and_detach_refuse_empty_lists_and_unknown_inboxes() {
    for action in ["attach", "detach"] {
        let uri = format!("/api/v1/campaigns/{}/inboxes/{action}", CampaignId::new());
        for request in [
            json!({}),
            json!({"inbox_ids": []}),
            json!({"inbox_ids": null}),
        ] {
            let (status, body) = call_c(MockCampaignRepository::new(), post(&uri, &request)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{request}");
            detail(&body, "inbox_ids");
        }
        let (status, body) = call_c(
            MockCampaignRepository::new(),
            post(&uri, &json!({"inbox_ids": ["nope"]})),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"], "inbox not found");
        let mut repo = MockCampaignRepository::new();
        repo.expect_attach_inboxes()
            .returning(|_, _, _, _| Ok(InboxSetOutcome::InboxNotFound));
        repo.expect_detach_inboxes()
            .returning(|_, _, _, _| Ok(InboxSetOutcome::InboxNotFound));
        let (status, body) = call_c(
            repo,
            post(&uri, &json!({"inbox_ids": [InboxId::new().to_string()]})),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"], "inbox not found");
    }
}

#[actix_web::test]
async fn analytics_answers_the_headline_days_and_sequences() {
    let (status, body) = call(
        shows(),
        has_steps(),
        get(&format!(
            "/api/v1/campaigns/{}/analytics",
            CampaignId::new()
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let d = &body["data"];
    assert_eq!(keys_of(d), full_stats_keys());
    assert_eq!(
        (d["sent"].as_u64(), d["contacted"].as_u64()),
        (Some(20), Some(8))
    );
    assert_eq!(d["positive_reply_rate"], 12.5);
    assert_eq!(d["daily"].as_array().map(Vec::len), Some(30));
    assert_eq!(keys_of(&d["sequences"][0]), ["id", "step", "variants"]);
}

#[actix_web::test]
async fn sequences_index_orders_steps_and_nulls_the_last_delay() {
    let (status, body) = call_s(
        has_steps(),
        get(&format!(
            "/api/v1/campaigns/{}/sequences",
            CampaignId::new()
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let steps = body["data"].as_array().expect("list");
    assert_eq!(
        (steps[0]["step"].as_u64(), steps[0]["delay_days"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(steps[1]["delay_days"], Value::Null);
    let v = &steps[1]["variants"][0];
    assert_eq!(
        keys_of(v),
        [
            "body_html",
            "body_text",
            "enabled",
            "id",
            "letter",
            "subject"
        ]
    );
    assert_eq!(
        (v["letter"].as_str(), &v["subject"]),
        (Some("A"), &Value::Null)
    );

    let mut none = MockSequenceRepository::new();
    none.expect_steps().returning(|_, _| Ok(None));
    let (status, body) = call_s(
        none,
        get(&format!(
            "/api/v1/campaigns/{}/sequences",
            CampaignId::new()
        )),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "campaign not found");
}

fn adds_steps() -> MockSequenceRepository {
    let mut seq = MockSequenceRepository::new();
    seq.expect_add_step().returning(|_, _, s, _| {
        let mut all = steps();
        all.push(StepRecord {
            id: s.id,
            step: 3,
            delay_days: s.delay_days,
            variants: vec![variant(None, true)],
        });
        Ok(Some(all))
    });
    seq
}

#[actix_web::test]
async fn creating_a_step_accepts_an_empty_body_and_answers_201() {
    let uri = format!("/api/v1/campaigns/{}/sequences", CampaignId::new());
    for req in [
        authed(test::TestRequest::post().uri(&uri)),
        post(&uri, &json!({"delay_days": 5})),
    ] {
        let (status, body) = call_s(adds_steps(), req).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["data"]["step"], 3);
        assert_eq!(body["data"]["delay_days"], Value::Null);
        assert_eq!(body["data"]["variants"][0]["enabled"], true);
    }
}

#[actix_web::test]
async fn creating_or_updating_a_step_refuses_bad_delays() {
    let c = CampaignId::new();
    let s = SequenceId::new();
    let cases = [
        post(
            &format!("/api/v1/campaigns/{c}/sequences"),
            &json!({"delay_days": -1}),
        ),
        post(
            &format!("/api/v1/campaigns/{c}/sequences"),
            &json!({"delay_days": "3"}),
        ),
        patch(
            &format!("/api/v1/campaigns/{c}/sequences/{s}"),
            &json!({"delay_days": 366}),
        ),
        patch(&format!("/api/v1/campaigns/{c}/sequences/{s}"), &json!({})),
    ];
    for req in cases {
        let (status, body) = call_s(MockSequenceRepository::new(), req).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        detail(&body, "delay_days");
    }
}

#[actix_web::test]
async fn updating_a_step_answers_it_and_unknown_steps_are_404() {
    let c = CampaignId::new();
    let mut seq = MockSequenceRepository::new();
    seq.expect_set_delay().returning(|_, _, id, d, _| {
        let mut all = steps();
        all[0].id = id;
        all[0].delay_days = d;
        Ok(Some(all))
    });
    let s = SequenceId::new();
    let (status, body) = call_s(
        seq,
        patch(
            &format!("/api/v1/campaigns/{c}/sequences/{s}"),
            &json!({"delay_days": 0}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (
            body["data"]["id"].as_str(),
            body["data"]["delay_days"].as_u64()
        ),
        (Some(s.to_string().as_str()), Some(0))
    );

    let mut seq = MockSequenceRepository::new();
    seq.expect_set_delay().returning(|_, _, _, _, _| Ok(None));
    seq.expect_delete_step().returning(|_, _, _| Ok(false));
    seq.expect_add_variant().returning(|_, _, _, _, _| Ok(None));
    let seq = Arc::new(seq);
    for step in [SequenceId::new().to_string(), "12".to_owned()] {
        let requests = [
            patch(
                &format!("/api/v1/campaigns/{c}/sequences/{step}"),
                &json!({"delay_days": 1}),
            ),
            delete(&format!("/api/v1/campaigns/{c}/sequences/{step}")),
            post(
                &format!("/api/v1/campaigns/{c}/sequences/{step}/variants"),
                &json!({"subject": "Hi"}),
            ),
        ];
        for req in requests {
            let (status, body) = call_shared(Arc::clone(&seq), req).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{step}: {body}");
            assert_eq!(body["error"], "sequence not found");
        }
    }
}

#[actix_web::test]
async fn deleting_a_step_answers_204() {
    let mut seq = MockSequenceRepository::new();
    seq.expect_delete_step()
        .times(1)
        .returning(|_, _, _| Ok(true));
    let (status, body) = call_s(
        seq,
        delete(&format!(
            "/api/v1/campaigns/{}/sequences/{}",
            CampaignId::new(),
            SequenceId::new()
        )),
    )
    .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
}

#[actix_web::test]
async fn creating_a_variant_answers_201_with_its_content() {
    let mut seq = MockSequenceRepository::new();
    seq.expect_add_variant()
        .withf(|_, _, _, v, _| v.subject == "Hi {{first_name}}" && v.enabled)
        .returning(|_, _, _, v, _| {
            Ok(Some(VariantRecord {
                subject: Some(v.subject.clone()),
                body_html: Some("<b>x</b>".into()),
                body_text: Some("x".into()),
                ..variant(None, v.enabled)
            }))
        });
    let (status, body) = call_s(
        seq,
        post(
            &format!(
                "/api/v1/campaigns/{}/sequences/{}/variants",
                CampaignId::new(),
                SequenceId::new()
            ),
            &json!({"subject": "Hi {{first_name}}", "body_html": "<h1>x</h1>"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        keys_of(&body["data"]),
        ["body_html", "body_text", "enabled", "id", "subject"]
    );
    assert_eq!(body["data"]["subject"], "Hi {{first_name}}");
}

#[actix_web::test]
async fn variant_content_errors_name_the_field_and_the_offset() {
    let uri = format!(
        "/api/v1/campaigns/{}/sequences/{}/variants",
        CampaignId::new(),
        SequenceId::new()
    );
    for request in [json!({}), json!({"subject": ""}), json!({"subject": "  "})] {
        let (status, body) = call_s(MockSequenceRepository::new(), post(&uri, &request)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{request}");
        assert!(detail(&body, "subject").starts_with("required:"));
    }
    let (status, body) = call_s(
        MockSequenceRepository::new(),
        post(
            &uri,
            &json!({"subject": "ok", "body_html": "<p>Hi {{first_name</p>"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let d = detail(&body, "body_html");
    assert!(
        d.starts_with("unbalanced_braces:") && d.contains("byte 6"),
        "{d}"
    );

    let patch_uri = format!(
        "/api/v1/campaigns/{}/variants/{}",
        CampaignId::new(),
        VariantId::new()
    );
    let (status, body) = call_s(
        MockSequenceRepository::new(),
        patch(&patch_uri, &json!({"subject": "{{}}"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(detail(&body, "subject").starts_with("empty_merge_tag:"));
}

#[actix_web::test]
async fn updating_a_variant_answers_it() {
    let mut seq = MockSequenceRepository::new();
    seq.expect_update_variant()
        .withf(|_, _, _, p, _| p.enabled == Some(false) && p.subject.is_none())
        .returning(|_, _, id, _, _| {
            Ok(VariantOutcome::Done(VariantRecord {
                id,
                ..variant(Some("Hi"), false)
            }))
        });
    let (status, body) = call_s(
        seq,
        patch(
            &format!(
                "/api/v1/campaigns/{}/variants/{}",
                CampaignId::new(),
                VariantId::new()
            ),
            &json!({"enabled": false}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["enabled"], false);
}

#[actix_web::test]
async fn the_last_enabled_variant_is_refused_with_its_code() {
    let mut seq = MockSequenceRepository::new();
    seq.expect_update_variant()
        .returning(|_, _, _, _, _| Ok(VariantOutcome::LastEnabledVariant));
    seq.expect_delete_variant()
        .returning(|_, _, _| Ok(VariantOutcome::LastEnabledVariant));
    let seq = Arc::new(seq);
    let uri = format!(
        "/api/v1/campaigns/{}/variants/{}",
        CampaignId::new(),
        VariantId::new()
    );
    let (status, body) =
        call_shared(Arc::clone(&seq), patch(&uri, &json!({"enabled": false}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(detail(&body, "enabled").starts_with("cannot_delete_last_variant:"));
    let (status, body) = call_shared(seq, delete(&uri)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(detail(&body, "variant").starts_with("cannot_delete_last_variant:"));
}

#[actix_web::test]
async fn deleting_a_variant_answers_204_and_unknown_variants_are_404() {
    let mut seq = MockSequenceRepository::new();
    seq.expect_delete_variant()
        .times(1)
        .returning(|_, _, _| Ok(VariantOutcome::Done(())));
    let c = CampaignId::new();
    let (status, body) = call_s(
        seq,
        delete(&format!(
            "/api/v1/campaigns/{c}/variants/{}",
            VariantId::new()
        )),
    )
    .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));

    let mut seq = MockSequenceRepository::new();
    seq.expect_delete_variant()
        .returning(|_, _, _| Ok(VariantOutcome::NotFound));
    seq.expect_update_variant()
        .returning(|_, _, _, _, _| Ok(VariantOutcome::NotFound));
    let seq = Arc::new(seq);
    for v in [VariantId::new().to_string(), "x".to_owned()] {
        for req in [
            delete(&format!("/api/v1/campaigns/{c}/variants/{v}")),
            patch(
                &format!("/api/v1/campaigns/{c}/variants/{v}"),
                &json!({"subject": "s"}),
            ),
        ] {
            let (status, body) = call_shared(Arc::clone(&seq), req).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
            assert_eq!(body["error"], "variant not found");
        }
    }
}

#[actix_web::test]
async fn an_unsupported_method_is_405_in_the_envelope() {
    let (status, body) = call_c(
        MockCampaignRepository::new(),
        authed(test::TestRequest::put().uri(&format!("/api/v1/campaigns/{}", CampaignId::new()))),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&body);
}
