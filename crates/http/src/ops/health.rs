//! `GET /healthz` (the process answers) and `GET /readyz` (it can serve: the database answers
//! and has every migration). Neither needs an API key.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use reachkit_core::health::{HealthService, NotReady};
use serde_json::json;

use super::envelope_error;
use crate::envelope;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(crate::resource("/healthz").route(web::get().to(healthz)))
        .service(crate::resource("/readyz").route(web::get().to(readyz)));
}

async fn healthz() -> HttpResponse {
    envelope::data(StatusCode::OK, json!({ "status": "ok" }))
}

async fn readyz(health: Option<web::Data<HealthService>>) -> HttpResponse {
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
