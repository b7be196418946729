//! Rate limiting per workspace, after authentication: a 429 in the envelope with `Retry-After`
//! when the workspace's bucket is empty, and `RateLimit-Limit`, `RateLimit-Remaining` and
//! `RateLimit-Reset` on every authenticated response. Requests without a valid key are not
//! counted (they get their 401 from the handler).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use actix_web::middleware::Next;
use actix_web::{Error, web};
use reachkit_core::rate_limit::{Decision, RateLimiter};

use super::{authenticate_once, envelope_error};

/// Middleware for `actix_web::middleware::from_fn`; wrap it outside the idempotency middleware
/// (a replayed response counts as a request).
///
/// # Errors
/// Whatever the inner service returns.
pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let limiter = req
        .app_data::<web::Data<RateLimiter>>()
        .filter(|l| l.settings().enabled())
        .cloned();
    let Some(limiter) = limiter else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(auth) = authenticate_once(&req).await else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(decision) = limiter.check(auth.workspace_id) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if !decision.allowed {
        let settings = limiter.settings();
        let message = format!(
            "too many requests: this workspace may make {} requests a second, in bursts of {}; \
             retry after {} s",
            settings.per_second, settings.burst, decision.retry_after_seconds
        );
        let mut response = envelope_error(StatusCode::TOO_MANY_REQUESTS, &message, None);
        let headers = response.headers_mut();
        headers.insert(RETRY_AFTER, number(decision.retry_after_seconds));
        add_headers(headers, decision);
        return Ok(req.into_response(response));
    }
    let mut response = next.call(req).await?.map_into_boxed_body();
    add_headers(response.headers_mut(), decision);
    Ok(response)
}

fn number(n: u64) -> HeaderValue {
    HeaderValue::from(n)
}

fn add_headers(headers: &mut HeaderMap, decision: Decision) {
    headers.insert(
        HeaderName::from_static("ratelimit-limit"),
        number(u64::from(decision.limit)),
    );
    headers.insert(
        HeaderName::from_static("ratelimit-remaining"),
        number(u64::from(decision.remaining)),
    );
    headers.insert(
        HeaderName::from_static("ratelimit-reset"),
        number(decision.reset_seconds),
    );
}
