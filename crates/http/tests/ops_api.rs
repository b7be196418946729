//! The HTTP contract of the operational surface over mocked ports: health and readiness, rate
//! limiting per workspace, `Idempotency-Key`, `X-Request-Id` and `/metrics`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::{App, test};
use async_trait::async_trait;
use reachkit_core::StoreError;
use reachkit_core::api_keys::{ApiKey, ApiKeyService, KeyHash, MockApiKeyRepository};
use reachkit_core::blocklist::{Added, BlocklistService, MockBlocklistRepository};
use reachkit_core::campaigns::{CampaignService, MockCampaignRepository};
use reachkit_core::clock::Clock;
use reachkit_core::health::{HealthService, MockReadinessProbe, NotReady};
use reachkit_core::idempotency::{
    Begin, IdempotencyService, IdempotencyStore, KeyedRequest, StoredResponse,
};
use reachkit_core::ids::{ApiKeyId, WorkspaceId};
use reachkit_core::inboxes::{InboxService, MockInboxRepository};
use reachkit_core::leads::{LeadService, MockLeadRepository};
use reachkit_core::metrics::{MetricsService, MockMetricsSource, PoolUsage, StoreSnapshot};
use reachkit_core::rate_limit::{RateLimitSettings, RateLimiter};
use reachkit_core::secrets::MockSecretBox;
use reachkit_core::sequences::{MockSequenceRepository, SequenceService};
use reachkit_core::workspaces::MockWorkspaceRepository;
use reachkit_http::ops::idempotency::idempotency;
use reachkit_http::ops::metrics::{HttpMetrics, record_metrics};
use reachkit_http::ops::rate_limit::rate_limit;
use reachkit_http::ops::request_id::request_id;
use reachkit_http::ops::{OpsServices, configure_ops};
use reachkit_http::{Services, configure};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

const KEY_A: &str = "rk_AAAAAAAA_0123456789abcdefghij0123456789ABCDEFGHIJ";
const KEY_B: &str = "rk_BBBBBBBB_0123456789abcdefghij0123456789ABCDEFGHIJ";
const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

/// A clock moved by hand, in milliseconds after NOW.
#[derive(Default)]
struct Stepped(AtomicI64);
impl Stepped {
    fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}
impl Clock for Stepped {
    fn now(&self) -> OffsetDateTime {
        NOW + time::Duration::milliseconds(self.0.load(Ordering::SeqCst))
    }
}

fn workspaces() -> (WorkspaceId, WorkspaceId) {
    static IDS: std::sync::OnceLock<(WorkspaceId, WorkspaceId)> = std::sync::OnceLock::new();
    *IDS.get_or_init(|| (WorkspaceId::new(), WorkspaceId::new()))
}

fn keys() -> MockApiKeyRepository {
    let mut keys = MockApiKeyRepository::new();
    keys.expect_find_by_hash().returning(|hash| {
        let (a, b) = workspaces();
        let ws = if hash == &KeyHash::of(KEY_A) {
            a
        } else if hash == &KeyHash::of(KEY_B) {
            b
        } else {
            return Ok(None);
        };
        Ok(Some(ApiKey {
            id: ApiKeyId::new(),
            workspace_id: ws,
            name: "test".into(),
            prefix: "rk_x".into(),
            created_at: NOW,
            last_used_at: Some(NOW),
            revoked_at: None,
        }))
    });
    keys
}

/// A key's request digest and, once complete, its response.
type Slot = (Vec<u8>, Option<StoredResponse>);

/// An in-memory idempotency store with the Postgres adapter's semantics (no expiry here).
#[derive(Default)]
struct MemoryStore(Mutex<HashMap<(WorkspaceId, String), Slot>>);

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn begin(&self, r: &KeyedRequest) -> Result<Begin, StoreError> {
        let mut map = self.0.lock().expect("lock");
        let slot = (r.workspace_id, r.key.clone());
        Ok(match map.get(&slot) {
            None => {
                map.insert(slot, (r.request_hash.clone(), None));
                Begin::Started
            }
            Some((hash, _)) if hash != &r.request_hash => Begin::Mismatch,
            Some((_, None)) => Begin::InFlight,
            Some((_, Some(stored))) => Begin::Replay(stored.clone()),
        })
    }
    async fn complete(
        &self,
        ws: WorkspaceId,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        if let Some(entry) = self.0.lock().expect("lock").get_mut(&(ws, key.to_owned())) {
            entry.1 = Some(response.clone());
        }
        Ok(())
    }
    async fn abandon(&self, ws: WorkspaceId, key: &str) -> Result<(), StoreError> {
        let mut map = self.0.lock().expect("lock");
        if map
            .get(&(ws, key.to_owned()))
            .is_some_and(|e| e.1.is_none())
        {
            map.remove(&(ws, key.to_owned()));
        }
        Ok(())
    }
    async fn purge_expired(&self, _: OffsetDateTime) -> Result<u64, StoreError> {
        Ok(0)
    }
}

fn services(blocklist: MockBlocklistRepository) -> Services {
    let clock = Arc::new(Stepped::default());
    Services {
        api_keys: ApiKeyService::new(
            Arc::new(keys()),
            Arc::new(MockWorkspaceRepository::new()),
            clock.clone(),
        ),
        blocklist: BlocklistService::new(Arc::new(blocklist), clock.clone()),
        inboxes: InboxService::new(
            Arc::new(MockInboxRepository::new()),
            Arc::new(MockSecretBox::new()),
            clock.clone(),
        ),
        leads: LeadService::new(Arc::new(MockLeadRepository::new()), clock.clone()),
        campaigns: CampaignService::new(Arc::new(MockCampaignRepository::new()), clock.clone()),
        sequences: SequenceService::new(Arc::new(MockSequenceRepository::new()), clock),
    }
}

/// A blocklist whose every add creates an entry; `times` bounds how often it may be called.
fn blocklist_adding(times: usize) -> MockBlocklistRepository {
    let mut repo = MockBlocklistRepository::new();
    repo.expect_add().times(times).returning(|e| {
        Ok(Added {
            entry: e.clone(),
            created: true,
        })
    });
    repo.expect_list().returning(|_, q| {
        Ok(reachkit_core::paging::Page {
            items: vec![],
            request: q.page,
            total_count: 0,
        })
    });
    repo
}

struct Response {
    status: StatusCode,
    headers: actix_web::http::header::HeaderMap,
    body: Value,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn call_all(
    services: Services,
    ops: OpsServices,
    requests: Vec<test::TestRequest>,
) -> Vec<Response> {
    let app = test::init_service(
        App::new()
            .wrap(from_fn(idempotency))
            .wrap(from_fn(rate_limit))
            .wrap(from_fn(request_id))
            .configure(configure_ops(ops))
            .configure(configure(services)),
    )
    .await;
    let mut out = Vec::new();
    for req in requests {
        let response = test::call_service(&app, req.to_request()).await;
        let status = response.status();
        let headers = response.headers().clone();
        let body = test::read_body(response).await;
        let body = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"))
        };
        out.push(Response {
            status,
            headers,
            body,
        });
    }
    out
}

fn get(path: &str, key: Option<&str>) -> test::TestRequest {
    let req = test::TestRequest::get().uri(path);
    match key {
        Some(key) => req.insert_header(("Authorization", format!("Bearer {key}"))),
        None => req,
    }
}

fn post(path: &str, key: &str, idempotency_key: Option<&str>, body: &Value) -> test::TestRequest {
    let req = test::TestRequest::post()
        .uri(path)
        .insert_header(("Authorization", format!("Bearer {key}")))
        .set_json(body);
    match idempotency_key {
        Some(k) => req.insert_header(("Idempotency-Key", k)),
        None => req,
    }
}

fn assert_error_envelope(r: &Response) {
    assert!(r.body["error"].is_string(), "no error message: {}", r.body);
    assert!(r.body.get("data").is_none(), "error with data: {}", r.body);
}

fn health(result: fn() -> Result<(), NotReady>) -> OpsServices {
    let mut probe = MockReadinessProbe::new();
    probe.expect_check().returning(result);
    OpsServices {
        health: Some(HealthService::new(Arc::new(probe))),
        ..OpsServices::default()
    }
}

// ---- health -------------------------------------------------------------------------------

#[actix_web::test]
async fn healthz_answers_200_without_a_key() {
    let r = call_all(
        services(MockBlocklistRepository::new()),
        OpsServices::default(),
        vec![get("/healthz", None)],
    )
    .await;
    assert_eq!(r[0].status, StatusCode::OK);
    assert_eq!(r[0].body, json!({"data": {"status": "ok"}}));
}

#[actix_web::test]
async fn readyz_answers_200_when_the_probe_finds_everything_in_order() {
    let r = call_all(
        services(MockBlocklistRepository::new()),
        health(|| Ok(())),
        vec![get("/readyz", None)],
    )
    .await;
    assert_eq!(r[0].status, StatusCode::OK);
    assert_eq!(r[0].body, json!({"data": {"status": "ready"}}));
}

#[actix_web::test]
async fn readyz_is_503_in_the_envelope_when_the_database_is_unreachable() {
    let r = call_all(
        services(MockBlocklistRepository::new()),
        health(|| Err(NotReady::DatabaseUnreachable(anyhow::anyhow!("refused")))),
        vec![get("/readyz", None)],
    )
    .await;
    assert_eq!(r[0].status, StatusCode::SERVICE_UNAVAILABLE);
    assert_error_envelope(&r[0]);
    assert_eq!(r[0].body["details"], json!({"database": "unreachable"}));
    assert_eq!(r[0].header("retry-after"), Some("5"));
    assert!(!r[0].body.to_string().contains("refused"), "cause leaked");
}

#[actix_web::test]
async fn readyz_is_503_naming_pending_migrations() {
    let r = call_all(
        services(MockBlocklistRepository::new()),
        health(|| Err(NotReady::MigrationsPending(vec!["20261130000007".into()]))),
        vec![get("/readyz", None)],
    )
    .await;
    assert_eq!(r[0].status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r[0].body["details"]["migrations"],
        "1 pending: 20261130000007"
    );
}

#[actix_web::test]
async fn health_endpoints_refuse_other_methods_with_405() {
    let r = call_all(
        services(MockBlocklistRepository::new()),
        OpsServices::default(),
        vec![test::TestRequest::post().uri("/healthz")],
    )
    .await;
    assert_eq!(r[0].status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error_envelope(&r[0]);
}

// ---- rate limiting ------------------------------------------------------------------------

fn limited(per_second: u32, burst: u32, clock: Arc<Stepped>) -> OpsServices {
    OpsServices {
        rate_limiter: Some(RateLimiter::new(
            RateLimitSettings { per_second, burst },
            clock,
        )),
        ..OpsServices::default()
    }
}

#[actix_web::test]
async fn a_burst_beyond_the_bucket_gets_429_with_retry_after_and_ratelimit_headers() {
    let clock = Arc::new(Stepped::default());
    let requests = (0..3)
        .map(|_| get("/api/v1/blocklist", Some(KEY_A)))
        .collect();
    let r = call_all(
        services(blocklist_adding(0)),
        limited(1, 2, clock),
        requests,
    )
    .await;
    assert_eq!(r[0].status, StatusCode::OK);
    assert_eq!(r[0].header("ratelimit-limit"), Some("2"));
    assert_eq!(r[0].header("ratelimit-remaining"), Some("1"));
    assert_eq!(r[0].header("ratelimit-reset"), Some("1"));
    assert_eq!(r[1].status, StatusCode::OK);
    assert_eq!(r[1].header("ratelimit-remaining"), Some("0"));
    assert_eq!(r[1].header("ratelimit-reset"), Some("2"));
    assert_eq!(r[2].status, StatusCode::TOO_MANY_REQUESTS);
    assert_error_envelope(&r[2]);
    assert_eq!(r[2].header("retry-after"), Some("1"));
    assert_eq!(r[2].header("ratelimit-limit"), Some("2"));
    assert_eq!(r[2].header("ratelimit-remaining"), Some("0"));
}

#[actix_web::test]
async fn one_workspace_at_its_limit_leaves_another_unaffected_and_tokens_come_back() {
    let clock = Arc::new(Stepped::default());
    let app = test::init_service(
        App::new()
            .wrap(from_fn(rate_limit))
            .configure(configure_ops(limited(1, 1, clock.clone())))
            .configure(configure(services(blocklist_adding(0)))),
    )
    .await;
    let status = |resp: ServiceResponse| resp.status();
    let a1 =
        status(test::call_service(&app, get("/api/v1/blocklist", Some(KEY_A)).to_request()).await);
    let a2 =
        status(test::call_service(&app, get("/api/v1/blocklist", Some(KEY_A)).to_request()).await);
    let b1 =
        status(test::call_service(&app, get("/api/v1/blocklist", Some(KEY_B)).to_request()).await);
    clock.advance_ms(1000);
    let a3 =
        status(test::call_service(&app, get("/api/v1/blocklist", Some(KEY_A)).to_request()).await);
    assert_eq!(
        [a1, a2, b1, a3],
        [
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::OK,
            StatusCode::OK
        ]
    );
}

#[actix_web::test]
async fn requests_without_a_valid_key_are_not_counted_and_get_no_ratelimit_headers() {
    let clock = Arc::new(Stepped::default());
    let mut requests: Vec<_> = (0..5)
        .map(|_| get("/api/v1/blocklist", Some("rk_wrong")))
        .collect();
    requests.push(get("/api/v1/blocklist", Some(KEY_A)));
    let r = call_all(
        services(blocklist_adding(0)),
        limited(1, 2, clock),
        requests,
    )
    .await;
    for unauthorized in &r[..5] {
        assert_eq!(unauthorized.status, StatusCode::UNAUTHORIZED);
        assert_eq!(unauthorized.header("ratelimit-limit"), None);
    }
    assert_eq!(r[5].status, StatusCode::OK);
    assert_eq!(r[5].header("ratelimit-remaining"), Some("1"));
}

#[actix_web::test]
async fn zero_per_second_turns_rate_limiting_off() {
    let clock = Arc::new(Stepped::default());
    let requests = (0..5)
        .map(|_| get("/api/v1/blocklist", Some(KEY_A)))
        .collect();
    let r = call_all(
        services(blocklist_adding(0)),
        limited(0, 1, clock),
        requests,
    )
    .await;
    for response in &r {
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(response.header("ratelimit-limit"), None);
    }
}

// ---- idempotency --------------------------------------------------------------------------

fn idempotent(store: Arc<MemoryStore>) -> OpsServices {
    OpsServices {
        idempotency: Some(IdempotencyService::new(store, Arc::new(Stepped::default()))),
        ..OpsServices::default()
    }
}

#[actix_web::test]
async fn the_same_key_and_body_replays_the_first_response_without_doing_the_work_twice() {
    let body = json!({"email": "bob@example.com"});
    let r = call_all(
        services(blocklist_adding(1)),
        idempotent(Arc::default()),
        vec![
            post("/api/v1/blocklist", KEY_A, Some("order-1"), &body),
            post("/api/v1/blocklist", KEY_A, Some("order-1"), &body),
        ],
    )
    .await;
    assert_eq!(r[0].status, StatusCode::CREATED);
    assert_eq!(r[1].status, StatusCode::CREATED);
    assert_eq!(r[1].body, r[0].body);
    assert_eq!(r[1].header("content-type"), Some("application/json"));
    assert_eq!(r[1].header("idempotent-replayed"), Some("true"));
    assert_eq!(r[0].header("idempotent-replayed"), None);
}

#[actix_web::test]
async fn the_same_key_with_another_body_is_422_naming_the_header() {
    let r = call_all(
        services(blocklist_adding(1)),
        idempotent(Arc::default()),
        vec![
            post(
                "/api/v1/blocklist",
                KEY_A,
                Some("k"),
                &json!({"email": "a@example.com"}),
            ),
            post(
                "/api/v1/blocklist",
                KEY_A,
                Some("k"),
                &json!({"email": "b@example.com"}),
            ),
        ],
    )
    .await;
    assert_eq!(r[1].status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error_envelope(&r[1]);
    assert!(
        r[1].body["details"]["Idempotency-Key"].is_string(),
        "{}",
        r[1].body
    );
}

#[actix_web::test]
async fn a_key_still_in_flight_is_409() {
    let store = Arc::new(MemoryStore::default());
    let (a, _) = workspaces();
    let body = json!({"email": "a@example.com"});
    let hash = reachkit_core::idempotency::request_hash(
        "POST",
        "/api/v1/blocklist",
        &serde_json::to_vec(&body).expect("json"),
    );
    store
        .0
        .lock()
        .expect("lock")
        .insert((a, "busy".into()), (hash, None));
    let r = call_all(
        services(blocklist_adding(0)),
        idempotent(store),
        vec![post("/api/v1/blocklist", KEY_A, Some("busy"), &body)],
    )
    .await;
    assert_eq!(r[0].status, StatusCode::CONFLICT);
    assert_error_envelope(&r[0]);
    assert!(r[0].body["details"]["Idempotency-Key"].is_string());
}

#[actix_web::test]
async fn keys_of_one_workspace_mean_nothing_in_another() {
    let body = json!({"email": "a@example.com"});
    let r = call_all(
        services(blocklist_adding(2)),
        idempotent(Arc::default()),
        vec![
            post("/api/v1/blocklist", KEY_A, Some("shared"), &body),
            post("/api/v1/blocklist", KEY_B, Some("shared"), &body),
        ],
    )
    .await;
    assert_eq!(r[1].status, StatusCode::CREATED);
    assert_eq!(r[1].header("idempotent-replayed"), None);
}

#[actix_web::test]
async fn a_malformed_key_is_422_and_does_nothing() {
    let r = call_all(
        services(blocklist_adding(0)),
        idempotent(Arc::default()),
        vec![post(
            "/api/v1/blocklist",
            KEY_A,
            Some(&"k".repeat(256)),
            &json!({"email": "a@example.com"}),
        )],
    )
    .await;
    assert_eq!(r[0].status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r[0].body["details"]["Idempotency-Key"].is_string());
}

#[actix_web::test]
async fn client_errors_are_replayed_but_server_errors_let_a_retry_run_again() {
    let mut repo = MockBlocklistRepository::new();
    let mut calls = 0;
    repo.expect_add().times(2).returning(move |e| {
        calls += 1;
        if calls == 1 {
            Err(StoreError::Other(anyhow::anyhow!("boom")))
        } else {
            Ok(Added {
                entry: e.clone(),
                created: true,
            })
        }
    });
    let good = json!({"email": "a@example.com"});
    let bad = json!({"email": "not an address"});
    let r = call_all(
        services(repo),
        idempotent(Arc::default()),
        vec![
            post("/api/v1/blocklist", KEY_A, Some("flaky"), &good),
            post("/api/v1/blocklist", KEY_A, Some("flaky"), &good),
            post("/api/v1/blocklist", KEY_A, Some("invalid"), &bad),
            post("/api/v1/blocklist", KEY_A, Some("invalid"), &bad),
        ],
    )
    .await;
    assert_eq!(r[0].status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r[1].status, StatusCode::CREATED, "the retry ran again");
    assert_eq!(r[2].status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r[3].status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r[3].body, r[2].body);
    assert_eq!(r[3].header("idempotent-replayed"), Some("true"));
}

#[actix_web::test]
async fn without_a_key_or_without_a_valid_api_key_nothing_is_stored() {
    let store = Arc::new(MemoryStore::default());
    let body = json!({"email": "a@example.com"});
    let r = call_all(
        services(blocklist_adding(2)),
        idempotent(store.clone()),
        vec![
            post("/api/v1/blocklist", KEY_A, None, &body),
            post("/api/v1/blocklist", KEY_A, None, &body),
            post("/api/v1/blocklist", "rk_wrong", Some("k"), &body),
        ],
    )
    .await;
    assert_eq!(r[2].status, StatusCode::UNAUTHORIZED);
    assert!(store.0.lock().expect("lock").is_empty());
}

// ---- request id ---------------------------------------------------------------------------

#[actix_web::test]
async fn every_response_carries_a_request_id_the_client_s_when_sane() {
    let r = call_all(
        services(blocklist_adding(0)),
        OpsServices::default(),
        vec![
            get("/healthz", None),
            get("/healthz", None).insert_header(("X-Request-Id", "client-id-42")),
            get("/healthz", None).insert_header(("X-Request-Id", "bad id with spaces")),
            get("/api/v1/blocklist", None),
            get("/nowhere", None),
        ],
    )
    .await;
    let generated = r[0].header("x-request-id").expect("generated id");
    assert!(uuid::Uuid::parse_str(generated).is_ok(), "{generated}");
    assert_eq!(r[1].header("x-request-id"), Some("client-id-42"));
    let replaced = r[2].header("x-request-id").expect("replaced id");
    assert!(uuid::Uuid::parse_str(replaced).is_ok(), "{replaced}");
    assert_eq!(r[3].status, StatusCode::UNAUTHORIZED);
    assert!(r[3].header("x-request-id").is_some());
    assert_eq!(r[4].status, StatusCode::NOT_FOUND);
    assert!(r[4].header("x-request-id").is_some());
    assert_ne!(r[0].header("x-request-id"), r[3].header("x-request-id"));
}

// ---- metrics ------------------------------------------------------------------------------

fn metrics_ops(snapshot: Result<StoreSnapshot, ()>) -> OpsServices {
    let mut source = MockMetricsSource::new();
    source.expect_snapshot().returning(move |_| {
        snapshot
            .clone()
            .map_err(|()| StoreError::Unavailable(anyhow::anyhow!("down")))
    });
    OpsServices {
        metrics: Some(MetricsService::new(
            Arc::new(source),
            Arc::new(Stepped::default()),
        )),
        http_metrics: Some(HttpMetrics::default()),
        ..OpsServices::default()
    }
}

async fn scrape(ops: OpsServices, before: Vec<test::TestRequest>) -> (StatusCode, String) {
    let app = test::init_service(
        App::new()
            .wrap(from_fn(record_metrics))
            .configure(configure_ops(ops))
            .configure(configure(services(blocklist_adding(0)))),
    )
    .await;
    for req in before {
        let _ = test::call_service(&app, req.to_request()).await;
    }
    let response = test::call_service(&app, get("/metrics", None).to_request()).await;
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let body = test::read_body(response).await;
    (status, String::from_utf8(body.to_vec()).expect("utf-8"))
}

#[actix_web::test]
async fn metrics_count_requests_by_route_pattern_never_by_concrete_path() {
    // Not a UUID: 404 before any repository is asked.
    let id = "concrete-id-4711";
    let (status, text) = scrape(
        metrics_ops(Ok(StoreSnapshot::default())),
        vec![
            get("/api/v1/blocklist", Some(KEY_A)),
            get("/api/v1/blocklist", Some(KEY_A)),
            test::TestRequest::delete()
                .uri(&format!("/api/v1/blocklist/{id}"))
                .insert_header(("Authorization", format!("Bearer {KEY_A}"))),
            get("/api/v1/no/such/thing", None),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains(
            r#"reachkit_http_requests_total{method="GET",route="/api/v1/blocklist",status="200"} 2"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"route="/api/v1/blocklist/{id}""#), "{text}");
    assert!(
        !text.contains(&id.to_string()),
        "a concrete id leaked: {text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(
        text.contains("reachkit_http_request_duration_seconds_bucket{"),
        "{text}"
    );
}

#[actix_web::test]
async fn metrics_show_the_store_s_numbers() {
    let inbox = reachkit_core::ids::InboxId::new();
    let snapshot = StoreSnapshot {
        sends_by_status: vec![
            ("sent".into(), 7),
            ("bounced".into(), 2),
            ("queued".into(), 4),
        ],
        due_sends: 3,
        oldest_due_age_seconds: 42.5,
        replies_by_kind: vec![("reply".into(), 5)],
        sync_lag_seconds: vec![(inbox, 61.0)],
        webhook_deliveries_by_status: vec![("failed".into(), 2)],
        webhook_endpoints_disabled: 1,
        pool: PoolUsage {
            open: 4,
            idle: 1,
            max: 10,
            waiting: 0,
        },
    };
    let (_, text) = scrape(metrics_ops(Ok(snapshot)), vec![]).await;
    for line in [
        "reachkit_metrics_database_up 1",
        "reachkit_emails_sent_total 7",
        "reachkit_emails_bounced_total 2",
        "reachkit_emails_failed_total 0",
        r#"reachkit_sends{status="queued"} 4"#,
        r#"reachkit_replies_total{kind="reply"} 5"#,
        r#"reachkit_replies_total{kind="auto_reply"} 0"#,
        "reachkit_send_queue_due 3",
        r#"reachkit_webhook_deliveries{status="failed"} 2"#,
        r#"reachkit_webhook_deliveries{status="pending"} 0"#,
        "reachkit_webhook_endpoints_disabled 1",
        "reachkit_send_queue_oldest_due_age_seconds 42.5",
        &format!(r#"reachkit_inbox_sync_lag_seconds{{inbox_id="{inbox}"}} 61"#),
        r#"reachkit_db_pool_connections{state="in_use"} 3"#,
        "reachkit_db_pool_max_connections 10",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
}

#[actix_web::test]
async fn metrics_still_answer_when_the_store_is_down() {
    let (status, text) = scrape(metrics_ops(Err(())), vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.lines().any(|l| l == "reachkit_metrics_database_up 0"),
        "{text}"
    );
}
