//! The OpenAPI document: it lists exactly the routes the server mounts (and each of them really
//! answers), it is structurally valid OpenAPI 3.1, and it and the reference page are served.

use std::collections::BTreeSet;
use std::sync::Arc;

use actix_web::http::{Method, StatusCode};
use actix_web::{App, test};
use reachkit_core::api_keys::{ApiKeyService, MockApiKeyRepository};
use reachkit_core::blocklist::{BlocklistService, MockBlocklistRepository};
use reachkit_core::campaigns::{CampaignService, MockCampaignRepository};
use reachkit_core::clock::Clock;
use reachkit_core::inboxes::{InboxService, MockInboxRepository};
use reachkit_core::leads::{LeadService, MockLeadRepository};
use reachkit_core::secrets::MockSecretBox;
use reachkit_core::sending::MockMailSender;
use reachkit_core::sequences::{MockSequenceRepository, SequenceService};
use reachkit_core::unibox::{MockConversationRepository, UniboxService};
use reachkit_core::unsubscribe::{
    MockUnsubscribeRepository, UnsubscribeService, UnsubscribeTokens,
};
use reachkit_core::webhooks::{MockWebhookRepository, WebhookService, WebhookSettings};
use reachkit_core::workspaces::MockWorkspaceRepository;
use reachkit_http::ops::{OpsServices, configure_ops};
use reachkit_http::{
    Services, configure, configure_unibox, configure_unsubscribe, configure_webhooks,
};
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::datetime;

struct Fixed;

impl Clock for Fixed {
    fn now(&self) -> OffsetDateTime {
        datetime!(2026-11-30 12:00 UTC)
    }
}

fn document() -> Value {
    serde_json::from_str(reachkit_http::openapi::document()).expect("the document is JSON")
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths is an object") {
        for method in METHODS {
            if item.get(method).is_some() {
                ops.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// The services of the whole server, over mocks that expect no call.
fn services() -> (Services, UniboxService, UnsubscribeService) {
    let services = Services {
        api_keys: ApiKeyService::new(
            Arc::new(MockApiKeyRepository::new()),
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
    let unibox = UniboxService::new(
        Arc::new(MockConversationRepository::new()),
        Arc::new(MockMailSender::new()),
        Arc::new(MockSecretBox::new()),
        Arc::new(Fixed),
    );
    let unsubscribe = UnsubscribeService::new(
        Arc::new(MockUnsubscribeRepository::new()),
        UnsubscribeTokens::new(&[9; 32], "https://reach.example"),
        Arc::new(Fixed),
    );
    (services, unibox, unsubscribe)
}

/// The whole server as `reachkit serve` mounts it.
macro_rules! server {
    () => {{
        let (services, unibox, unsubscribe) = services();
        let webhooks = WebhookService::new(
            Arc::new(MockWebhookRepository::new()),
            Arc::new(MockSecretBox::new()),
            Arc::new(Fixed),
            WebhookSettings::default(),
        );
        test::init_service(
            App::new()
                .configure(configure_ops(OpsServices::default()))
                .configure(configure_unsubscribe(unsubscribe))
                .configure(configure_unibox(unibox))
                .configure(configure_webhooks(webhooks))
                .configure(configure(services)),
        )
        .await
    }};
}

#[actix_web::test]
async fn every_mounted_route_is_documented_and_every_documented_route_is_mounted() {
    let mounted: BTreeSet<(String, String)> = reachkit_http::route_table().into_iter().collect();
    let documented = documented_operations(&document());
    let undocumented: Vec<_> = mounted.difference(&documented).collect();
    let unmounted: Vec<_> = documented.difference(&mounted).collect();
    assert!(
        undocumented.is_empty(),
        "mounted but not in the OpenAPI document (annotate the handler with #[utoipa::path] and \
         list it in ApiDoc's paths): {undocumented:?}"
    );
    assert!(
        unmounted.is_empty(),
        "in the OpenAPI document but not mounted: {unmounted:?}"
    );
    assert!(
        mounted.len() >= 45,
        "the route table lists only {} routes",
        mounted.len()
    );
}

#[actix_web::test]
async fn the_route_table_lists_no_route_twice() {
    let table = reachkit_http::route_table();
    let unique: BTreeSet<_> = table.iter().collect();
    assert_eq!(unique.len(), table.len(), "{table:?}");
}

/// Each documented operation, requested without an API key on the real app, reaches its own
/// handler: never the catch-all 404 or a 405 (so the route table matches what actix routes, e.g.
/// `leads/bulk` is not taken for a lead id).
#[actix_web::test]
async fn every_documented_operation_reaches_a_handler_of_the_mounted_server() {
    let app = server!();
    for (method, path) in documented_operations(&document()) {
        let concrete = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "00000000-0000-4000-8000-000000000000"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        let req = test::TestRequest::default()
            .method(method.clone())
            .uri(&concrete)
            .insert_header(("Content-Type", "application/json"))
            .set_payload("{}")
            .to_request();
        let response = test::call_service(&app, req).await;
        let status = response.status();
        let body = test::read_body(response).await;
        let generic_404 = status == StatusCode::NOT_FOUND
            && serde_json::from_slice::<Value>(&body)
                .is_ok_and(|v| v == serde_json::json!({"error": "not found"}));
        assert!(
            !generic_404 && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {concrete} answered {status} {}",
            String::from_utf8_lossy(&body)
        );
        if path.starts_with("/api/v1/") && path != "/api/v1/openapi.json" {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {concrete}");
        }
    }
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(pointer)
}

fn collect_refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    if let Some(s) = v.as_str() {
                        out.push(s);
                    }
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[actix_web::test]
async fn the_document_is_structurally_valid_openapi_3_1() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Reachkit API");
    assert!(doc["info"]["version"].is_string());
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 50, "only {} references", refs.len());
    for reference in refs {
        assert!(
            resolve(&doc, reference).is_some(),
            "{reference} does not resolve"
        );
    }
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    let mut operation_ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let id = op["operationId"]
                .as_str()
                .expect("every operation has an id");
            assert!(operation_ids.insert(id.to_owned()), "{id} twice");
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{id} has no tag"
            );
            let responses = op["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{id} has no responses");
            for response in responses.values() {
                assert!(
                    deref(&doc, response)["description"].is_string(),
                    "{id}: a response without description"
                );
            }
            // Every `{param}` of the path is declared as a required path parameter.
            let params: Vec<&Value> = op["parameters"]
                .as_array()
                .map(|ps| ps.iter().map(|p| deref(&doc, p)).collect())
                .unwrap_or_default();
            for segment in path.split('/').filter(|s| s.starts_with('{')) {
                let name = segment.trim_matches(|c| c == '{' || c == '}');
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true),
                    "{id}: path parameter {name} is not declared"
                );
            }
            for requirement in op["security"].as_array().cloned().unwrap_or_default() {
                for scheme in requirement.as_object().expect("a requirement").keys() {
                    assert!(
                        schemes.contains_key(scheme),
                        "{id}: unknown scheme {scheme}"
                    );
                }
            }
        }
    }
}

/// `value`, or what its `$ref` points at.
fn deref<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => resolve(doc, reference).unwrap_or(&Value::Null),
        None => value,
    }
}

#[actix_web::test]
async fn every_api_operation_documents_the_key_the_envelope_and_the_extensions() {
    let doc = document();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let id = op["operationId"].as_str().unwrap_or_default();
            let params: Vec<&Value> = op["parameters"]
                .as_array()
                .map(|ps| ps.iter().map(|p| deref(&doc, p)).collect())
                .unwrap_or_default();
            let has_header = |name: &str| {
                params
                    .iter()
                    .any(|p| p["name"] == name && p["in"] == "header")
            };
            assert!(has_header("X-Request-Id"), "{id}: X-Request-Id");
            for response in op["responses"].as_object().expect("responses").values() {
                assert!(
                    deref(&doc, response)["headers"]["X-Request-Id"].is_object(),
                    "{id}: a response without X-Request-Id"
                );
            }
            if !path.starts_with("/api/v1/") || path == "/api/v1/openapi.json" {
                assert!(op.get("security").is_none(), "{id} needs no key");
                continue;
            }
            assert_eq!(
                op["security"].as_array().map(Vec::len),
                Some(3),
                "{id}: security"
            );
            for status in ["401", "429", "500", "503"] {
                assert_eq!(
                    deref(&doc, &op["responses"][status])["content"]["application/json"]["schema"]
                        ["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{id}: {status}"
                );
            }
            let too_many = deref(&doc, &op["responses"]["429"]);
            for header in [
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
            ] {
                assert!(
                    too_many["headers"][header].is_object(),
                    "{id}: 429 {header}"
                );
            }
            assert_eq!(
                has_header("Idempotency-Key"),
                method == "post",
                "{id}: Idempotency-Key"
            );
        }
    }
}

#[actix_web::test]
async fn the_document_is_served_as_json_without_a_key() {
    let app = server!();
    let response = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/api/v1/openapi.json")
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let body: Value = serde_json::from_slice(&test::read_body(response).await).expect("JSON");
    assert_eq!(body, document());
}

#[actix_web::test]
async fn the_reference_page_is_served_as_html_with_no_external_asset() {
    let app = server!();
    let response =
        test::call_service(&app, test::TestRequest::get().uri("/docs").to_request()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/html; charset=utf-8")
    );
    let csp = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    let html = String::from_utf8(test::read_body(response).await.to_vec()).expect("UTF-8");
    assert!(html.contains("/api/v1/openapi.json"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "an external URL in /docs"
    );
}

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The coverage test sees only routes added through `Routes`: any other way of mounting a
/// handler in the http crate (a bare `.route(...)`, `web::resource(...).to(...)`, actix's route
/// macros) fails here, so a new route cannot slip past the OpenAPI document.
#[actix_web::test]
async fn no_route_is_mounted_outside_the_route_table() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "found only {} source files", files.len());
    let forbidden = [
        ".route(",
        ".to(",
        "web::get(",
        "web::post(",
        "web::put(",
        "web::patch(",
        "web::delete(",
        "web::method(",
        "web::service(",
        "#[get(",
        "#[post(",
        "#[put(",
        "#[patch(",
        "#[delete(",
        "#[route(",
        "actix_web::get(",
        "actix_web::post(",
    ];
    for file in files {
        if file.ends_with("routes.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read");
        for (n, line) in text.lines().enumerate() {
            for pattern in forbidden {
                assert!(
                    !line.contains(pattern),
                    "{}:{}: `{pattern}` mounts a route outside crate::routes::Routes (add it with \
                     Routes::get/post/... so the OpenAPI coverage test sees it)",
                    file.display(),
                    n + 1
                );
            }
            if line.contains("web::resource(") {
                assert!(
                    line.contains("web::resource(path).default_service("),
                    "{}:{}: a bare web::resource; use Routes",
                    file.display(),
                    n + 1
                );
            }
        }
    }
}

#[actix_web::test]
async fn the_envelopes_refer_to_the_named_schemas_instead_of_repeating_them() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["Data_LeadDto"]["properties"]["data"]["$ref"],
        "#/components/schemas/LeadDto"
    );
    assert_eq!(
        schemas["Page_LeadDto"]["properties"]["data"]["items"]["$ref"],
        "#/components/schemas/LeadDto"
    );
    assert_eq!(
        schemas["Data_Vec_StepDto"]["properties"]["data"]["items"]["$ref"],
        "#/components/schemas/StepDto"
    );
    assert_eq!(
        schemas["Page_LeadDto"]["properties"]["metadata"]["$ref"],
        "#/components/schemas/Metadata"
    );
}
