//! Authentication: a workspace API key in `Authorization: Bearer`, `X-API-Key` or `?api_key=`.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use reachkit_core::api_keys::{ApiKeyService, AuthError};
use reachkit_core::ids::WorkspaceId;
use serde::Deserialize;

use crate::error::ApiError;

/// The workspace the request acts for, proven by its API key.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated {
    pub workspace_id: WorkspaceId,
}

#[derive(Deserialize)]
struct KeyParam {
    api_key: Option<String>,
}

/// The key presented, in the contract's order of precedence: Bearer, X-API-Key, query.
fn presented_key(req: &HttpRequest) -> Option<String> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?.trim();
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned());
    }
    if let Some(value) = req.headers().get("x-api-key") {
        return value.to_str().ok().map(|v| v.trim().to_owned());
    }
    web::Query::<KeyParam>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().api_key)
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        // Authenticated once already (by the rate-limit or idempotency middleware).
        if let Some(auth) = req.extensions().get::<Self>().copied() {
            return Box::pin(async move { Ok(auth) });
        }
        let service = req.app_data::<web::Data<ApiKeyService>>().cloned();
        let key = presented_key(req);
        Box::pin(async move {
            let Some(service) = service else {
                return Err(ApiError::Internal(anyhow::anyhow!(
                    "ApiKeyService is not registered with the app"
                )));
            };
            match service.authenticate(key.as_deref()).await {
                Ok(workspace_id) => Ok(Self { workspace_id }),
                Err(AuthError::Missing) => Err(ApiError::Unauthorized(
                    "missing API key: send Authorization: Bearer <key>, X-API-Key or ?api_key=",
                )),
                Err(AuthError::Invalid) => Err(ApiError::Unauthorized("invalid API key")),
                Err(AuthError::Revoked) => Err(ApiError::Unauthorized("API key revoked")),
                Err(AuthError::Store(e)) => Err(e.into()),
            }
        })
    }
}
