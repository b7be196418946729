//! Lead handlers: translate HTTP to the lead service and back.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use reachkit_core::ids::{CampaignId, LeadId};
use reachkit_core::leads::{LeadError, LeadService, LeadSort};
use reachkit_core::paging::DEFAULT_PAGE_SIZE;

use super::dto::{BulkReportDto, BulkRequest, CreateRequest, LeadDto};
use crate::auth::Authenticated;
use crate::envelope;
use crate::error::ApiError;
use crate::extract::{ApiJson, ListParams, path_id};

const CAMPAIGN_NOT_FOUND: &str = "campaign not found";
const NOT_FOUND: &str = "lead not found";

fn api_error(e: LeadError) -> ApiError {
    match e {
        LeadError::Invalid(errors) => ApiError::from_validation(errors),
        LeadError::CampaignNotFound => ApiError::NotFound(CAMPAIGN_NOT_FOUND),
        LeadError::NotFound => ApiError::NotFound(NOT_FOUND),
        LeadError::Duplicate => ApiError::Conflict(
            "a lead with this email already exists in the campaign (use if_exists skip or update)"
                .to_owned(),
        ),
        LeadError::Store(e) => e.into(),
    }
}

/// `GET /campaigns/{campaign_id}/leads`
#[utoipa::path(
    get,
    path = "/api/v1/campaigns/{campaign_id}/leads",
    tag = "leads",
    operation_id = "list_leads",
    params(("campaign_id" = String, Path, description = "The campaign's id."), crate::extract::ListParams),
    responses(
        (status = 200, description = "One page of the campaign's leads.", body = crate::openapi::Page<super::dto::LeadDto>),
        (status = 400, description = "A query parameter could not be read.", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown campaign.", body = crate::openapi::ErrorBody),
        (status = 422, description = "Invalid list parameters.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn index(
    auth: Authenticated,
    service: web::Data<LeadService>,
    campaign_id: web::Path<String>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let campaign_id: CampaignId = path_id(&campaign_id, CAMPAIGN_NOT_FOUND)?;
    let query =
        params
            .into_inner()
            .into_query(DEFAULT_PAGE_SIZE, LeadSort::parse, LeadSort::ALLOWED)?;
    let page = service
        .list(auth.workspace_id, campaign_id, &query)
        .await
        .map_err(api_error)?;
    Ok(envelope::page(page, LeadDto::from))
}

/// `POST /campaigns/{campaign_id}/leads`: 201 for a new lead; 200 with the existing lead for
/// `if_exists` skip (unchanged) or update (after the update).
#[utoipa::path(
    post,
    path = "/api/v1/campaigns/{campaign_id}/leads",
    tag = "leads",
    operation_id = "create_lead",
    params(("campaign_id" = String, Path, description = "The campaign's id.")),
    request_body(content = super::dto::CreateRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The new lead.", body = crate::openapi::Data<super::dto::LeadDto>),
        (status = 200, description = "if_exists skip or update: the existing lead.", body = crate::openapi::Data<super::dto::LeadDto>),
        (status = 400, description = "Malformed JSON.", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown campaign.", body = crate::openapi::ErrorBody),
        (status = 409, description = "The lead exists (if_exists fail, the default).", body = crate::openapi::ErrorBody),
        (status = 422, description = "Invalid field, or the address is blocklisted.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn create(
    auth: Authenticated,
    service: web::Data<LeadService>,
    campaign_id: web::Path<String>,
    body: ApiJson<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let campaign_id: CampaignId = path_id(&campaign_id, CAMPAIGN_NOT_FOUND)?;
    let added = service
        .add(auth.workspace_id, campaign_id, &body.0.into())
        .await
        .map_err(api_error)?;
    let status = if added.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(envelope::data(status, LeadDto::from(added.lead)))
}

/// `POST /campaigns/{campaign_id}/leads/bulk`: 200 with the counts and the rows not stored.
#[utoipa::path(
    post,
    path = "/api/v1/campaigns/{campaign_id}/leads/bulk",
    tag = "leads",
    operation_id = "bulk_create_leads",
    params(("campaign_id" = String, Path, description = "The campaign's id.")),
    request_body(content = super::dto::BulkRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Counts and the rows not stored, in one transaction.", body = crate::openapi::Data<super::dto::BulkReportDto>),
        (status = 400, description = "Malformed JSON.", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown campaign.", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is over 16 MiB.", body = crate::openapi::ErrorBody),
        (status = 422, description = "Invalid request (e.g. more than 1,000 leads or a bad if_exists).", body = crate::openapi::ErrorBody)
    )
)]
pub async fn bulk(
    auth: Authenticated,
    service: web::Data<LeadService>,
    campaign_id: web::Path<String>,
    body: ApiJson<BulkRequest>,
) -> Result<HttpResponse, ApiError> {
    let campaign_id: CampaignId = path_id(&campaign_id, CAMPAIGN_NOT_FOUND)?;
    let report = service
        .add_bulk(auth.workspace_id, campaign_id, &body.0.into())
        .await
        .map_err(api_error)?;
    Ok(envelope::data(StatusCode::OK, BulkReportDto::from(report)))
}

fn ids(path: &(String, String)) -> Result<(CampaignId, LeadId), ApiError> {
    Ok((
        path_id(&path.0, CAMPAIGN_NOT_FOUND)?,
        path_id(&path.1, NOT_FOUND)?,
    ))
}

/// `GET /campaigns/{campaign_id}/leads/{id}`
#[utoipa::path(
    get,
    path = "/api/v1/campaigns/{campaign_id}/leads/{id}",
    tag = "leads",
    operation_id = "get_lead",
    params(("campaign_id" = String, Path, description = "The campaign's id."), ("id" = String, Path, description = "The lead's id.")),
    responses(
        (status = 200, description = "The lead.", body = crate::openapi::Data<super::dto::LeadDto>),
        (status = 404, description = "Unknown campaign or lead.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn show(
    auth: Authenticated,
    service: web::Data<LeadService>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (campaign_id, id) = ids(&path)?;
    let lead = service
        .get(auth.workspace_id, campaign_id, id)
        .await
        .map_err(api_error)?;
    Ok(envelope::data(StatusCode::OK, LeadDto::from(lead)))
}

/// `DELETE /campaigns/{campaign_id}/leads/{id}`
#[utoipa::path(
    delete,
    path = "/api/v1/campaigns/{campaign_id}/leads/{id}",
    tag = "leads",
    operation_id = "delete_lead",
    params(("campaign_id" = String, Path, description = "The campaign's id."), ("id" = String, Path, description = "The lead's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "Unknown campaign or lead.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn delete(
    auth: Authenticated,
    service: web::Data<LeadService>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (campaign_id, id) = ids(&path)?;
    service
        .delete(auth.workspace_id, campaign_id, id)
        .await
        .map_err(api_error)?;
    Ok(HttpResponse::NoContent().finish())
}
