//! The operational surface: health and readiness endpoints, `/metrics`, request ids, rate
//! limiting per workspace and `Idempotency-Key` (docs/API.md, "Operations").
//!
//! The middlewares read their services from the app data [`configure_ops`] registers, and do
//! nothing when it is absent, so an app without them behaves as before.

pub(crate) mod health;
pub mod idempotency;
pub mod metrics;
pub mod rate_limit;
pub mod request_id;

use actix_web::dev::ServiceRequest;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpResponse, web};
use reachkit_core::health::HealthService;
use reachkit_core::idempotency::IdempotencyService;
use reachkit_core::metrics::MetricsService;
use reachkit_core::rate_limit::RateLimiter;
use serde_json::{Map, Value, json};

use crate::auth::Authenticated;

/// The operational services; each is optional so tests mount only what they exercise.
#[derive(Debug, Clone, Default)]
pub struct OpsServices {
    /// Serves `GET /readyz` (`/healthz` is always served).
    pub health: Option<HealthService>,
    /// Limits `/api/v1` requests per workspace (absent or off: no limit, no headers).
    pub rate_limiter: Option<RateLimiter>,
    /// Honours `Idempotency-Key` on `POST /api/v1/...`.
    pub idempotency: Option<IdempotencyService>,
    /// The store's numbers for `GET /metrics`.
    pub metrics: Option<MetricsService>,
    /// This process's HTTP counters, filled by [`metrics::record_metrics`] and shown by
    /// `GET /metrics`.
    pub http_metrics: Option<metrics::HttpMetrics>,
}

/// Mounts `/healthz`, `/readyz` and `/metrics` and registers the middlewares' services. Configure it before
/// [`crate::configure`], whose default service answers unknown paths.
pub fn configure_ops(ops: OpsServices) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        if let Some(health) = ops.health {
            cfg.app_data(web::Data::new(health));
        }
        if let Some(limiter) = ops.rate_limiter {
            cfg.app_data(web::Data::new(limiter));
        }
        if let Some(idempotency) = ops.idempotency {
            cfg.app_data(web::Data::new(idempotency));
        }
        if let Some(store) = ops.metrics {
            cfg.app_data(web::Data::new(store));
        }
        if let Some(http) = ops.http_metrics {
            cfg.app_data(web::Data::new(http));
        }
        routes().mount(cfg);
    }
}

/// The operational routes (at the root).
pub(crate) fn routes() -> crate::routes::Routes {
    let mut r = crate::routes::Routes::new("", crate::resource);
    health::routes(&mut r);
    metrics::routes(&mut r);
    r
}

/// The workspace of an `/api/v1` request whose key is valid, authenticated once per request:
/// the result is kept in the request so the handler's [`Authenticated`] does not look again.
/// `None` for any other request (the handler then answers 401 as usual).
pub(crate) async fn authenticate_once(req: &ServiceRequest) -> Option<Authenticated> {
    if !req.path().starts_with("/api/v1/") {
        return None;
    }
    if let Some(auth) = req.extensions().get::<Authenticated>() {
        return Some(*auth);
    }
    let auth = Authenticated::extract(req.request()).await.ok()?;
    req.extensions_mut().insert(auth);
    Some(auth)
}

/// A response in the contract's error envelope.
pub(crate) fn envelope_error(
    status: StatusCode,
    message: &str,
    details: Option<(&str, &str)>,
) -> HttpResponse {
    let body = match details {
        Some((field, problem)) => {
            let mut map = Map::new();
            map.insert(field.to_owned(), Value::String(problem.to_owned()));
            json!({ "error": message, "details": map })
        }
        None => json!({ "error": message }),
    };
    HttpResponse::build(status).json(body)
}
