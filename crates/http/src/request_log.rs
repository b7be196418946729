//! One log line per request: method, path (never the query, which may hold an API key; an
//! unsubscribe token is shown as `{token}`), status and duration.

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

/// Middleware for `actix_web::middleware::from_fn`.
///
/// # Errors
/// Whatever the inner service returns.
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = redacted(req.path());
    let response = next.call(req).await?;
    tracing::info!(
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis(),
        "request"
    );
    Ok(response)
}

/// The path as logged: the token of `/u/{token}` (it unsubscribes a lead) is left out.
fn redacted(path: &str) -> String {
    match path.strip_prefix("/u/") {
        Some(rest) if !rest.is_empty() => "/u/{token}".to_owned(),
        _ => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn unsubscribe_tokens_never_reach_the_log() {
        assert_eq!(redacted("/u/abcDEF123"), "/u/{token}");
        assert_eq!(redacted("/api/v1/leads"), "/api/v1/leads");
    }
}
