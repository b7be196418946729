//! Blocklist handlers: translate HTTP to the blocklist service and back.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use reachkit_core::blocklist::{BlocklistError, BlocklistService, BlocklistSort};
use reachkit_core::ids::BlocklistEntryId;
use reachkit_core::paging::DEFAULT_PAGE_SIZE;

use super::dto::{CheckDto, CheckParams, CreateRequest, EntryDto};
use crate::auth::Authenticated;
use crate::envelope;
use crate::error::ApiError;
use crate::extract::{ApiJson, ListParams, path_id};

const NOT_FOUND: &str = "blocklist entry not found";

fn api_error(e: BlocklistError) -> ApiError {
    match e {
        BlocklistError::InvalidEmail(reason) => ApiError::invalid_field("email", reason),
        BlocklistError::NotFound => ApiError::NotFound(NOT_FOUND),
        BlocklistError::Store(e) => e.into(),
    }
}

/// `GET /blocklist`
#[utoipa::path(
    get,
    path = "/api/v1/blocklist",
    tag = "blocklist",
    operation_id = "list_blocklist",
    params(crate::extract::ListParams),
    responses(
        (status = 200, description = "One page of entries, newest first by default.", body = crate::openapi::Page<super::dto::EntryDto>),
        (status = 400, description = "A query parameter could not be read.", body = crate::openapi::ErrorBody),
        (status = 422, description = "Invalid page, page_size, sort_by or sort_order.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn index(
    auth: Authenticated,
    service: web::Data<BlocklistService>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let query = params.into_inner().into_query(
        DEFAULT_PAGE_SIZE,
        BlocklistSort::parse,
        BlocklistSort::ALLOWED,
    )?;
    let page = service
        .list(auth.workspace_id, &query)
        .await
        .map_err(api_error)?;
    Ok(envelope::page(page, EntryDto::from))
}

/// `POST /blocklist`: 201 with the new entry, or 200 with the existing one when the address was
/// already blocked.
#[utoipa::path(
    post,
    path = "/api/v1/blocklist",
    tag = "blocklist",
    operation_id = "add_to_blocklist",
    request_body(content = super::dto::CreateRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The new entry.", body = crate::openapi::Data<super::dto::EntryDto>),
        (status = 200, description = "The address was already blocked: the existing entry.", body = crate::openapi::Data<super::dto::EntryDto>),
        (status = 400, description = "Malformed JSON.", body = crate::openapi::ErrorBody),
        (status = 422, description = "The email is missing or not a valid address.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn create(
    auth: Authenticated,
    service: web::Data<BlocklistService>,
    body: ApiJson<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let added = service
        .add(auth.workspace_id, &body.0.email)
        .await
        .map_err(api_error)?;
    let status = if added.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(envelope::data(status, EntryDto::from(added.entry)))
}

/// `GET /blocklist/check?email=`
#[utoipa::path(
    get,
    path = "/api/v1/blocklist/check",
    tag = "blocklist",
    operation_id = "check_blocklist",
    params(super::dto::CheckParams),
    responses(
        (status = 200, description = "Whether the address is blocked.", body = crate::openapi::Data<super::dto::CheckDto>),
        (status = 422, description = "email is missing or not an address.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn check(
    auth: Authenticated,
    service: web::Data<BlocklistService>,
    params: web::Query<CheckParams>,
) -> Result<HttpResponse, ApiError> {
    let Some(email) = params.into_inner().email else {
        return Err(ApiError::invalid_field("email", "is required"));
    };
    let blocked = service
        .is_blocked(auth.workspace_id, &email)
        .await
        .map_err(api_error)?;
    Ok(envelope::data(StatusCode::OK, CheckDto { blocked }))
}

/// `DELETE /blocklist/{id}`
#[utoipa::path(
    delete,
    path = "/api/v1/blocklist/{id}",
    tag = "blocklist",
    operation_id = "delete_blocklist_entry",
    params(("id" = String, Path, description = "The entry's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "Unknown entry (or another workspace's).", body = crate::openapi::ErrorBody)
    )
)]
pub async fn delete(
    auth: Authenticated,
    service: web::Data<BlocklistService>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: BlocklistEntryId = path_id(&id, NOT_FOUND)?;
    service
        .delete(auth.workspace_id, id)
        .await
        .map_err(api_error)?;
    Ok(HttpResponse::NoContent().finish())
}
