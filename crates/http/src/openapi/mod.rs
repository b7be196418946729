//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations and the
//! DTOs' `ToSchema` derives, served at `GET /api/v1/openapi.json`, and the API reference page
//! served at `GET /docs` (one self-contained HTML page: no CDN, works offline).
//!
//! To document a new endpoint: annotate the handler with `#[utoipa::path(...)]` (its own
//! statuses: 200/201/204 and 400/404/409/422 as it answers them), derive `utoipa::ToSchema` on
//! its DTOs, add the handler to [`ApiDoc`]'s `paths(...)`, and mount it through
//! [`crate::routes::Routes`]. What every `/api/v1` endpoint shares (the API key, 401, 429 and
//! the rate-limit headers, 503, `X-Request-Id`, `Idempotency-Key` on `POST`) is added by
//! [`Extensions`], not repeated on each handler.

use std::collections::HashMap;
use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpResponse, Responder};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ObjectBuilder, Ref, RefOr, Required, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::routes::Routes;
use crate::{blocklist, campaigns, inboxes, leads, ops, unibox, unsubscribe, webhooks};

/// The error envelope every failure of the API answers with.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"error": "email must be a valid address", "details": {"email": "must be a valid address"}}))]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub error: String,
    /// For 400 and 422: each field (a dotted path for nested ones) and what is wrong with it;
    /// business-rule failures read `"<code>: <message>"`.
    pub details: Option<HashMap<String, String>>,
}

/// The success envelope of one resource: `{"data": ...}`.
#[derive(Debug, ToSchema)]
pub struct Data<T> {
    pub data: T,
}

/// The success envelope of a list: one page and its metadata.
#[derive(Debug, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub metadata: crate::envelope::Metadata,
}

/// The body of the health endpoints.
#[derive(Debug, ToSchema)]
pub struct StatusDto {
    /// `ok` (`/health`, `/healthz`) or `ready` (`/readyz`).
    pub status: String,
}

/// The API description.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Reachkit API",
        description = "Reachkit's REST API (reachkit-api.md) with its extensions. Every /api/v1 \
            endpoint but this document needs a workspace API key. Errors use the envelope \
            {\"error\", \"details\"}; lists are paged with page, page_size, search, sort_by, sort_order.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        openapi_json, docs_page, health,
        ops::health::healthz, ops::health::readyz, ops::metrics::metrics,
        unsubscribe::confirm, unsubscribe::unsubscribe,
        blocklist::handlers::index, blocklist::handlers::create, blocklist::handlers::check,
        blocklist::handlers::delete,
        campaigns::handlers::index, campaigns::handlers::create, campaigns::handlers::show,
        campaigns::handlers::update, campaigns::handlers::delete,
        campaigns::handlers::update_schedule, campaigns::handlers::attach,
        campaigns::handlers::detach, campaigns::handlers::analytics,
        campaigns::handlers::list_steps, campaigns::handlers::create_step,
        campaigns::handlers::update_step, campaigns::handlers::delete_step,
        campaigns::handlers::create_variant, campaigns::handlers::update_variant,
        campaigns::handlers::delete_variant,
        inboxes::handlers::index, inboxes::handlers::create, inboxes::handlers::show,
        inboxes::handlers::update, inboxes::handlers::delete, inboxes::handlers::warmup_stats,
        leads::handlers::index, leads::handlers::create, leads::handlers::bulk,
        leads::handlers::show, leads::handlers::delete,
        unibox::handlers::index, unibox::handlers::create, unibox::handlers::show,
        unibox::handlers::update, unibox::handlers::reply, unibox::handlers::attachment,
        webhooks::handlers::index, webhooks::handlers::create, webhooks::handlers::show,
        webhooks::handlers::update, webhooks::handlers::delete, webhooks::handlers::test,
        webhooks::handlers::deliveries, webhooks::handlers::redeliver,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Extensions),
    tags(
        (name = "blocklist", description = "Addresses never emailed, per workspace."),
        (name = "campaigns", description = "Campaigns, their schedule, inboxes and analytics."),
        (name = "sequences", description = "A campaign's steps and their A/B variants."),
        (name = "inboxes", description = "Sending mailboxes (SMTP and IMAP) and their warmup."),
        (name = "leads", description = "A campaign's leads, one by one or in bulk."),
        (name = "unibox", description = "Conversations with leads: replies across every inbox."),
        (name = "webhooks", description = "Signed event notifications to your URLs, their delivery log and redelivery."),
        (name = "unsubscribe", description = "The public unsubscribe link put in emails (HTML, no API key)."),
        (name = "operations", description = "Health, readiness, metrics and this description (no API key)."),
    )
)]
pub struct ApiDoc;

/// What every `/api/v1` operation shares: the API key (three ways), 401, 429 with the
/// rate-limit headers, 500, 503, `X-Request-Id`, and `Idempotency-Key` on `POST`.
#[derive(Debug)]
pub struct Extensions;

const BEARER: &str = "bearer";
const HEADER_KEY: &str = "api_key_header";
const QUERY_KEY: &str = "api_key_query";

fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        utoipa::openapi::ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    )
}

fn integer_header(description: &str) -> RefOr<utoipa::openapi::header::Header> {
    RefOr::T(
        HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
            .description(Some(description))
            .build(),
    )
}

fn string_header(description: &str) -> RefOr<utoipa::openapi::header::Header> {
    RefOr::T(
        HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .description(Some(description))
            .build(),
    )
}

fn header_param(name: &str, description: &str) -> RefOr<utoipa::openapi::path::Parameter> {
    RefOr::T(
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(description))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .build(),
    )
}

fn reference<T>(kind: &str, name: &str) -> RefOr<T> {
    RefOr::Ref(Ref::new(format!("#/components/{kind}/{name}")))
}

/// The shared headers, parameters and responses, referenced from the operations.
fn add_components(components: &mut utoipa::openapi::Components) {
    let headers = [
        (
            "X-Request-Id",
            string_header("This request's id (the client's, or a new one)."),
        ),
        (
            "RateLimit-Limit",
            integer_header("Requests a second this workspace may make (when rate limiting is on)."),
        ),
        (
            "RateLimit-Remaining",
            integer_header("Requests left in the current window (when rate limiting is on)."),
        ),
        (
            "RateLimit-Reset",
            integer_header("Seconds until the window resets (when rate limiting is on)."),
        ),
        (
            "Retry-After",
            integer_header("Seconds to wait before retrying."),
        ),
        (
            "Idempotent-Replayed",
            string_header(
                "`true` when this is the stored answer to an earlier request with the same \
                 Idempotency-Key.",
            ),
        ),
        ("WWW-Authenticate", string_header("`Bearer`.")),
    ];
    for (name, header) in headers {
        components.headers.insert(name.to_owned(), header);
    }
    components.parameters.insert(
        "X-Request-Id".to_owned(),
        header_param(
            "X-Request-Id",
            "Optional id for this request (1 to 128 visible ASCII characters); echoed in the \
             response's X-Request-Id and logged. A new one is made when absent or unusable.",
        ),
    );
    components.parameters.insert(
        "Idempotency-Key".to_owned(),
        header_param(
            "Idempotency-Key",
            "Optional, 1 to 255 visible ASCII characters. The same key with the same body \
             within 24 hours answers the first response again (with Idempotent-Replayed: true) \
             without doing the work twice; with another body it is a 422; while the first \
             request is still running, a 409.",
        ),
    );
    let with_headers = |description: &str, names: &[&str]| {
        let mut response = error_response(description).build();
        for name in names {
            response
                .headers
                .insert((*name).to_owned(), reference("headers", name));
        }
        RefOr::T(response)
    };
    components.responses.insert(
        "Unauthorized".to_owned(),
        with_headers(
            "No API key, or an unknown or revoked one.",
            &["WWW-Authenticate", "X-Request-Id"],
        ),
    );
    components.responses.insert(
        "TooManyRequests".to_owned(),
        with_headers(
            "The workspace's rate limit is exhausted (when rate limiting is on).",
            &[
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
                "X-Request-Id",
            ],
        ),
    );
    components.responses.insert(
        "InternalError".to_owned(),
        with_headers(
            "A bug: `internal server error`, never for bad input.",
            &["X-Request-Id"],
        ),
    );
    components.responses.insert(
        "Unavailable".to_owned(),
        with_headers(
            "The database cannot be reached right now (Retry-After: 5).",
            &["Retry-After", "X-Request-Id"],
        ),
    );
}

fn extend(path: &str, method: &HttpMethod, op: &mut Operation) {
    let api = path.starts_with("/api/v1/") && path != "/api/v1/openapi.json";
    let post = *method == HttpMethod::Post;
    let parameters = op.parameters.get_or_insert_with(Vec::new);
    parameters.push(reference("parameters", "X-Request-Id"));
    if api && post {
        parameters.push(reference("parameters", "Idempotency-Key"));
    }
    if api && post {
        let responses = &mut op.responses.responses;
        responses.entry("409".to_owned()).or_insert_with(|| {
            RefOr::T(
                error_response("A request with the same Idempotency-Key is still in progress.")
                    .build(),
            )
        });
        responses.entry("422".to_owned()).or_insert_with(|| {
            RefOr::T(
                error_response("An Idempotency-Key reused with another body, or an invalid one.")
                    .build(),
            )
        });
    }
    for (status, response) in &mut op.responses.responses {
        if let RefOr::T(response) = response {
            let mut names = vec!["X-Request-Id"];
            if api {
                names.extend(["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"]);
            }
            if api && post && status.starts_with('2') {
                names.push("Idempotent-Replayed");
            }
            for name in names {
                response
                    .headers
                    .insert(name.to_owned(), reference("headers", name));
            }
        }
    }
    if !api {
        return;
    }
    op.security = Some(vec![
        SecurityRequirement::new(BEARER, Vec::<String>::new()),
        SecurityRequirement::new(HEADER_KEY, Vec::<String>::new()),
        SecurityRequirement::new(QUERY_KEY, Vec::<String>::new()),
    ]);
    let responses = &mut op.responses.responses;
    for (status, name) in [
        ("401", "Unauthorized"),
        ("429", "TooManyRequests"),
        ("500", "InternalError"),
        ("503", "Unavailable"),
    ] {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| reference("responses", name));
    }
}

impl Modify for Extensions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        add_components(components);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A workspace API key: `Authorization: Bearer KEY`."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            HEADER_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "A workspace API key in `X-API-Key` (used when there is no Authorization header).",
            ))),
        );
        components.add_security_scheme(
            QUERY_KEY,
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "api_key",
                "A workspace API key in the query (`?api_key=KEY`), the last resort: URLs get logged.",
            ))),
        );
        for (path, item) in &mut openapi.paths.paths {
            for (method, op) in [
                (HttpMethod::Get, item.get.as_mut()),
                (HttpMethod::Post, item.post.as_mut()),
                (HttpMethod::Put, item.put.as_mut()),
                (HttpMethod::Patch, item.patch.as_mut()),
                (HttpMethod::Delete, item.delete.as_mut()),
            ] {
                if let Some(op) = op {
                    extend(path, &method, op);
                }
            }
        }
    }
}

/// utoipa inlines a generic argument, so `Data_LeadDto.data` would repeat `LeadDto` (and client
/// generators would make a second, identical type). Point the envelopes' `data` at the named
/// schema instead.
fn reference_envelope_data(doc: &mut serde_json::Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return;
    };
    let names: std::collections::BTreeSet<String> = schemas.keys().cloned().collect();
    for (name, schema) in schemas.iter_mut() {
        let (inner, list) = if let Some(inner) = name.strip_prefix("Data_Vec_") {
            (inner, true)
        } else if let Some(inner) = name.strip_prefix("Data_") {
            (inner, false)
        } else if let Some(inner) = name.strip_prefix("Page_") {
            (inner, true)
        } else {
            continue;
        };
        if !names.contains(inner) {
            continue;
        }
        let Some(data) = schema.pointer_mut("/properties/data") else {
            continue;
        };
        let reference = serde_json::json!({ "$ref": format!("#/components/schemas/{inner}") });
        if list {
            if let Some(items) = data.get_mut("items") {
                *items = reference;
            }
        } else {
            *data = reference;
        }
    }
}

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    let written = serde_json::to_value(ApiDoc::openapi()).and_then(|mut doc| {
        reference_envelope_data(&mut doc);
        serde_json::to_string_pretty(&doc)
    });
    written.unwrap_or_else(|e| format!("{{\"error\": \"the document could not be written: {e}\"}}"))
});

/// The OpenAPI document as JSON.
#[must_use]
pub fn document() -> &'static str {
    &DOCUMENT
}

/// The API reference page: fetches the document and renders it (no external assets).
const DOCS_HTML: &str = include_str!("docs.html");

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "operations", operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document (this document).",
        content_type = "application/json", body = Object))
)]
pub(crate) async fn openapi_json() -> impl Responder {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}

/// The browsable API reference (HTML; everything served by Reachkit, no internet needed).
#[utoipa::path(
    get, path = "/docs", tag = "operations", operation_id = "docs",
    responses((status = 200, description = "An HTML page that renders /api/v1/openapi.json.",
        content_type = "text/html", body = String))
)]
pub(crate) async fn docs_page() -> impl Responder {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; frame-ancestors 'none'",
        ))
        .body(DOCS_HTML)
}

/// The legacy liveness check (`/healthz` is the same).
#[utoipa::path(
    get, path = "/health", tag = "operations", operation_id = "health",
    responses((status = 200, description = "The process answers.", body = Data<StatusDto>))
)]
pub(crate) async fn health() -> HttpResponse {
    crate::envelope::data(
        actix_web::http::StatusCode::OK,
        serde_json::json!({ "status": "ok" }),
    )
}

/// Adds `/api/v1/openapi.json` (inside `/api/v1`).
pub(crate) fn api_routes(r: &mut Routes) {
    r.get("/openapi.json", openapi_json);
}

/// Adds `/health` and `/docs` (at the root).
pub(crate) fn root_routes(r: &mut Routes) {
    r.get("/health", health).get("/docs", docs_page);
}
