//! `GET /healthz` (the process answers) and `GET /readyz` (it can serve: the database answers
//! and has every migration). Neither needs an API key.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use reachkit_core::health::{HealthService, NotReady};
use serde_json::json;

use super::envelope_error;
use crate::envelope;
use crate::routes::Routes;

pub(super) fn routes(r: &mut Routes) {
    r.get("/healthz", healthz).get("/readyz", readyz);
}

/// Liveness: the process answers.
#[utoipa::path(
    get, path = "/healthz", tag = "operations", operation_id = "healthz",
    responses((status = 200, description = "`{\"data\": {\"status\": \"ok\"}}`", body = crate::openapi::Data<crate::openapi::StatusDto>))
)]
pub(crate) async fn healthz() -> HttpResponse {
    envelope::data(StatusCode::OK, json!({ "status": "ok" }))
}

/// Readiness: the database answers and has every migration this build embeds.
#[utoipa::path(
    get, path = "/readyz", tag = "operations", operation_id = "readyz",
    responses(
        (status = 200, description = "`{\"data\": {\"status\": \"ready\"}}`", body = crate::openapi::Data<crate::openapi::StatusDto>),
        (status = 503, description = "Not ready: the database is unreachable or migrations are pending (details say which); Retry-After: 5.", body = crate::openapi::ErrorBody)
    )
)]
pub(crate) async fn readyz(health: Option<web::Data<HealthService>>) -> HttpResponse {
    let Some(health) = health else {
        return not_ready(
            "readiness is not configured",
            ("readiness", "not configured"),
        );
    };
    match health.ready().await {
        Ok(()) => envelope::data(StatusCode::OK, json!({ "status": "ready" })),
        Err(NotReady::DatabaseUnreachable(cause)) => {
            tracing::warn!(
                error = format!("{cause:#}"),
                "not ready: database unreachable"
            );
            not_ready(
                "not ready: database unreachable",
                ("database", "unreachable"),
            )
        }
        Err(NotReady::MigrationsPending(pending)) => {
            let problem = format!("{} pending: {}", pending.len(), pending.join(", "));
            tracing::warn!(pending = %problem, "not ready: migrations pending");
            not_ready("not ready: migrations pending", ("migrations", &problem))
        }
    }
}

fn not_ready(message: &str, detail: (&str, &str)) -> HttpResponse {
    let mut response = envelope_error(StatusCode::SERVICE_UNAVAILABLE, message, Some(detail));
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str("5") {
        response
            .headers_mut()
            .insert(actix_web::http::header::RETRY_AFTER, value);
    }
    response
}
