//! Inbox handlers: translate HTTP to the inbox service and back.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use reachkit_core::ids::InboxId;
use reachkit_core::inboxes::{InboxError, InboxService, InboxSort};
use reachkit_core::paging::DEFAULT_PAGE_SIZE;

use super::dto::{CreateRequest, InboxDto, UpdateRequest, WarmupStatsDto};
use crate::auth::Authenticated;
use crate::envelope;
use crate::error::ApiError;
use crate::extract::{ApiJson, ListParams, path_id};

const NOT_FOUND: &str = "inbox not found";

fn api_error(e: InboxError) -> ApiError {
    match e {
        InboxError::Invalid(errors) => ApiError::from_validation(errors),
        InboxError::NotFound => ApiError::NotFound(NOT_FOUND),
        InboxError::Duplicate => ApiError::Conflict(
            "an inbox with this email already exists in the workspace".to_owned(),
        ),
        InboxError::Secret(e) => ApiError::Internal(anyhow::Error::new(e)),
        InboxError::Store(e) => e.into(),
    }
}

/// `GET /inboxes`
#[utoipa::path(
    get,
    path = "/api/v1/inboxes",
    tag = "inboxes",
    operation_id = "list_inboxes",
    params(crate::extract::ListParams),
    responses(
        (status = 200, description = "One page of inboxes.", body = crate::openapi::Page<super::dto::InboxDto>),
        (status = 400, description = "A query parameter could not be read.", body = crate::openapi::ErrorBody),
        (status = 422, description = "Invalid list parameters.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn index(
    auth: Authenticated,
    service: web::Data<InboxService>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let query =
        params
            .into_inner()
            .into_query(DEFAULT_PAGE_SIZE, InboxSort::parse, InboxSort::ALLOWED)?;
    let page = service
        .list(auth.workspace_id, &query)
        .await
        .map_err(api_error)?;
    Ok(envelope::page(page, InboxDto::from))
}

/// `POST /inboxes` (an extension): 201 with the new inbox, in `pending`.
#[utoipa::path(
    post,
    path = "/api/v1/inboxes",
    tag = "inboxes",
    operation_id = "create_inbox",
    request_body(content = super::dto::CreateRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The new inbox, in pending (an extension).", body = crate::openapi::Data<super::dto::InboxDto>),
        (status = 400, description = "Malformed JSON.", body = crate::openapi::ErrorBody),
        (status = 409, description = "An inbox with this address exists.", body = crate::openapi::ErrorBody),
        (status = 422, description = "Invalid field.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn create(
    auth: Authenticated,
    service: web::Data<InboxService>,
    body: ApiJson<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let inbox = service
        .create(auth.workspace_id, &body.0.into())
        .await
        .map_err(api_error)?;
    Ok(envelope::data(StatusCode::CREATED, InboxDto::from(inbox)))
}

/// `GET /inboxes/{id}`
#[utoipa::path(
    get,
    path = "/api/v1/inboxes/{id}",
    tag = "inboxes",
    operation_id = "get_inbox",
    params(("id" = String, Path, description = "The inbox's id.")),
    responses(
        (status = 200, description = "The inbox with its campaigns.", body = crate::openapi::Data<super::dto::InboxDto>),
        (status = 404, description = "Unknown inbox.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn show(
    auth: Authenticated,
    service: web::Data<InboxService>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: InboxId = path_id(&id, NOT_FOUND)?;
    let detail = service
        .get(auth.workspace_id, id)
        .await
        .map_err(api_error)?;
    Ok(envelope::data(StatusCode::OK, InboxDto::from(detail)))
}

/// `PATCH /inboxes/{id}`: all fields or none.
#[utoipa::path(
    patch,
    path = "/api/v1/inboxes/{id}",
    tag = "inboxes",
    operation_id = "update_inbox",
    params(("id" = String, Path, description = "The inbox's id.")),
    request_body(content = super::dto::UpdateRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated inbox (all fields changed, or none).", body = crate::openapi::Data<super::dto::InboxDto>),
        (status = 400, description = "Malformed JSON.", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown inbox.", body = crate::openapi::ErrorBody),
        (status = 409, description = "Conflicts with an existing inbox.", body = crate::openapi::ErrorBody),
        (status = 422, description = "Invalid field.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn update(
    auth: Authenticated,
    service: web::Data<InboxService>,
    id: web::Path<String>,
    body: ApiJson<UpdateRequest>,
) -> Result<HttpResponse, ApiError> {
    let id: InboxId = path_id(&id, NOT_FOUND)?;
    let detail = service
        .update(auth.workspace_id, id, &body.0.into())
        .await
        .map_err(api_error)?;
    Ok(envelope::data(StatusCode::OK, InboxDto::from(detail)))
}

/// `DELETE /inboxes/{id}` (an extension).
#[utoipa::path(
    delete,
    path = "/api/v1/inboxes/{id}",
    tag = "inboxes",
    operation_id = "delete_inbox",
    params(("id" = String, Path, description = "The inbox's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "Unknown inbox.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn delete(
    auth: Authenticated,
    service: web::Data<InboxService>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: InboxId = path_id(&id, NOT_FOUND)?;
    service
        .delete(auth.workspace_id, id)
        .await
        .map_err(api_error)?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /inboxes/{inbox_id}/warmup/stats`
#[utoipa::path(
    get,
    path = "/api/v1/inboxes/{inbox_id}/warmup/stats",
    tag = "inboxes",
    operation_id = "inbox_warmup_stats",
    params(("inbox_id" = String, Path, description = "The inbox's id.")),
    responses(
        (status = 200, description = "Warmup numbers and the daily series.", body = crate::openapi::Data<super::dto::WarmupStatsDto>),
        (status = 404, description = "Unknown inbox.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn warmup_stats(
    auth: Authenticated,
    service: web::Data<InboxService>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: InboxId = path_id(&id, NOT_FOUND)?;
    let stats = service
        .warmup_stats(auth.workspace_id, id)
        .await
        .map_err(api_error)?;
    Ok(envelope::data(StatusCode::OK, WarmupStatsDto::from(stats)))
}
