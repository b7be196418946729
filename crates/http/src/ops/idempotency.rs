//! `Idempotency-Key` on `POST /api/v1/...`: the first response to a key is stored (2xx and 4xx;
//! a 5xx releases the key) and replayed to a retry of the same request within 24 hours; the
//! same key with another request is a 422, and with a request still in flight a 409.

use actix_web::body::{BoxBody, MessageBody, to_bytes};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError, web};
use futures_util::StreamExt;
use reachkit_core::idempotency::{Begin, IdempotencyError, IdempotencyService, StoredResponse};

use super::{authenticate_once, envelope_error};
use crate::error::ApiError;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// Set to `true` on a replayed response.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// The response headers stored and replayed besides status and body.
const KEPT_HEADERS: &[&str] = &["content-type", "location"];
/// The largest body read under a key (larger ones are refused with 413).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Middleware for `actix_web::middleware::from_fn`.
///
/// # Errors
/// Whatever the inner service returns.
pub async fn idempotency(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let service = req.app_data::<web::Data<IdempotencyService>>().cloned();
    let applies = req.method() == Method::POST && req.path().starts_with("/api/v1/");
    let (Some(service), true, Some(raw)) = (service, applies, req.headers().get(HEADER).cloned())
    else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(auth) = authenticate_once(&req).await else {
        // No valid key: the handler answers 401 and nothing is stored.
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let ws = auth.workspace_id;
    let Ok(key) = raw.to_str().map(str::trim).map(ToOwned::to_owned) else {
        return Ok(req.into_response(invalid_key()));
    };
    let body = match read_body(&mut req).await {
        Ok(body) => body,
        Err(response) => return Ok(req.into_response(response)),
    };
    req.set_payload(body.clone().into());
    let path = req.path().to_owned();
    match service.begin(ws, &key, "POST", &path, &body).await {
        Err(IdempotencyError::InvalidKey) => Ok(req.into_response(invalid_key())),
        Err(IdempotencyError::Store(e)) => {
            Ok(req.into_response(ApiError::from(e).error_response()))
        }
        Ok(Begin::Mismatch) => Ok(req.into_response(envelope_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Idempotency-Key was already used with a different request",
            Some((
                "Idempotency-Key",
                "was used in the last 24 hours with another method, path or body",
            )),
        ))),
        Ok(Begin::InFlight) => Ok(req.into_response(envelope_error(
            StatusCode::CONFLICT,
            "a request with this Idempotency-Key is still in progress; retry later",
            Some(("Idempotency-Key", "is in use by a request in progress")),
        ))),
        Ok(Begin::Replay(stored)) => Ok(req.into_response(replay(&stored))),
        Ok(Begin::Started) => run_and_store(req, next, &service, ws, &key).await,
    }
}

async fn run_and_store(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    service: &IdempotencyService,
    ws: reachkit_core::ids::WorkspaceId,
    key: &str,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let response = match next.call(req).await {
        Ok(response) => response.map_into_boxed_body(),
        Err(e) => {
            release(service, ws, key).await;
            return Err(e);
        }
    };
    let (http_req, http_res) = response.into_parts();
    let status = http_res.status();
    let (head, body) = http_res.into_parts();
    let bytes = match to_bytes(body).await {
        Ok(bytes) => bytes,
        Err(e) => {
            release(service, ws, key).await;
            let cause = anyhow::anyhow!("cannot read the response body: {e}");
            return Ok(ServiceResponse::new(
                http_req,
                ApiError::Internal(cause).error_response(),
            ));
        }
    };
    let stored = StoredResponse {
        status: status.as_u16(),
        headers: KEPT_HEADERS
            .iter()
            .filter_map(|name| {
                let value = head.headers().get(*name)?.to_str().ok()?;
                Some(((*name).to_owned(), value.to_owned()))
            })
            .collect(),
        body: bytes.to_vec(),
    };
    if let Err(e) = service.finish(ws, key, &stored).await {
        // The work is done and its answer goes out; only a retry's replay is lost (it will
        // find the key in flight until the lease ends).
        tracing::warn!(
            error = format!("{e:#}"),
            "cannot store an idempotent response"
        );
    }
    Ok(ServiceResponse::new(
        http_req,
        head.set_body(BoxBody::new(bytes)),
    ))
}

async fn release(service: &IdempotencyService, ws: reachkit_core::ids::WorkspaceId, key: &str) {
    if let Err(e) = service.abandon(ws, key).await {
        tracing::warn!(
            error = format!("{e:#}"),
            "cannot release an idempotency key"
        );
    }
}

fn invalid_key() -> HttpResponse {
    envelope_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Idempotency-Key must be 1 to 255 visible ASCII characters",
        Some((
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        )),
    )
}

/// The whole request body, up to [`MAX_BODY_BYTES`].
async fn read_body(req: &mut ServiceRequest) -> Result<web::Bytes, HttpResponse> {
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::BadRequest {
                message: format!("cannot read the request body: {e}"),
                details: None,
            }
            .error_response()
        })?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge.error_response());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn replay(stored: &StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    for (name, value) in &stored.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.insert_header((name, value));
        }
    }
    response.insert_header((REPLAYED_HEADER, "true"));
    response.body(stored.body.clone())
}
