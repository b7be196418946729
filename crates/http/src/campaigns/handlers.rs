//! Campaign, sequence and variant handlers: translate HTTP to the services and back.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use reachkit_core::campaigns::{CampaignError, CampaignService, CampaignSort};
use reachkit_core::ids::{CampaignId, InboxId, SequenceId, VariantId};
use reachkit_core::paging::DEFAULT_PAGE_SIZE;
use reachkit_core::sequences::{SequenceError, SequenceService, VariantPatch};
use reachkit_domain::validation::{FieldError, ValidationErrors};

use super::dto::{
    CampaignDto, CreateCampaignRequest, CreateStepRequest, InboxDto, InboxIdsRequest, ScheduleDto,
    ScheduleRequest, StatsDto, StepDto, UpdateCampaignRequest, UpdateStepRequest, VariantDto,
    VariantRequest,
};
use crate::auth::Authenticated;
use crate::envelope;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiJsonOrDefault, ListParams, path_id};

const CAMPAIGN_NOT_FOUND: &str = "campaign not found";
const STEP_NOT_FOUND: &str = "sequence not found";
const VARIANT_NOT_FOUND: &str = "variant not found";
const INBOX_NOT_FOUND: &str = "inbox not found";

fn campaign_error(e: CampaignError) -> ApiError {
    match e {
        CampaignError::NotFound => ApiError::NotFound(CAMPAIGN_NOT_FOUND),
        CampaignError::InboxNotFound => ApiError::NotFound(INBOX_NOT_FOUND),
        CampaignError::Invalid(e) => ApiError::from_validation(e),
        CampaignError::Store(e) => e.into(),
    }
}

/// The last-enabled-variant refusal, on the field the request touched (`enabled` for a PATCH,
/// `variant` for a DELETE), with the contract's code.
fn last_variant(field: &str) -> ApiError {
    ApiError::from_validation(ValidationErrors(vec![FieldError::new(
        field,
        "cannot_delete_last_variant",
        "the last enabled variant of a step cannot be disabled or deleted",
    )]))
}

fn sequence_error(e: SequenceError, last_variant_field: &str) -> ApiError {
    match e {
        SequenceError::CampaignNotFound => ApiError::NotFound(CAMPAIGN_NOT_FOUND),
        SequenceError::StepNotFound => ApiError::NotFound(STEP_NOT_FOUND),
        SequenceError::VariantNotFound => ApiError::NotFound(VARIANT_NOT_FOUND),
        SequenceError::Invalid(e) => ApiError::from_validation(e),
        SequenceError::LastEnabledVariant => last_variant(last_variant_field),
        SequenceError::Store(e) => e.into(),
    }
}

fn campaign_id(raw: &str) -> Result<CampaignId, ApiError> {
    path_id(raw, CAMPAIGN_NOT_FOUND)
}

/// `GET /campaigns`
#[utoipa::path(
    get,
    path = "/api/v1/campaigns",
    tag = "campaigns",
    operation_id = "list_campaigns",
    params(crate::extract::ListParams),
    responses(
        (status = 200, description = "One page of campaigns.", body = crate::openapi::Page<super::dto::CampaignDto>),
        (status = 400, description = "A query parameter could not be read.", body = crate::openapi::ErrorBody),
        (status = 422, description = "Invalid list parameters.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn index(
    auth: Authenticated,
    service: web::Data<CampaignService>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let query = params.into_inner().into_query(
        DEFAULT_PAGE_SIZE,
        CampaignSort::parse,
        CampaignSort::ALLOWED,
    )?;
    let page = service
        .list(auth.workspace_id, &query)
        .await
        .map_err(campaign_error)?;
    Ok(envelope::page(page, CampaignDto::from))
}

/// `POST /campaigns`
#[utoipa::path(
    post,
    path = "/api/v1/campaigns",
    tag = "campaigns",
    operation_id = "create_campaign",
    request_body(content = super::dto::CreateCampaignRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The new campaign, in draft.", body = crate::openapi::Data<super::dto::CampaignDto>),
        (status = 400, description = "Malformed JSON.", body = crate::openapi::ErrorBody),
        (status = 422, description = "Invalid name.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn create(
    auth: Authenticated,
    service: web::Data<CampaignService>,
    body: ApiJson<CreateCampaignRequest>,
) -> Result<HttpResponse, ApiError> {
    let detail = service
        .create(auth.workspace_id, &body.0.name)
        .await
        .map_err(campaign_error)?;
    Ok(envelope::data(
        StatusCode::CREATED,
        CampaignDto::from(detail),
    ))
}

/// `GET /campaigns/{id}`
#[utoipa::path(
    get,
    path = "/api/v1/campaigns/{id}",
    tag = "campaigns",
    operation_id = "get_campaign",
    params(("id" = String, Path, description = "The campaign's id.")),
    responses(
        (status = 200, description = "The campaign with its options, schedule, stats and inboxes.", body = crate::openapi::Data<super::dto::CampaignDto>),
        (status = 404, description = "Unknown campaign.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn show(
    auth: Authenticated,
    service: web::Data<CampaignService>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = campaign_id(&id)?;
    let detail = service
        .show(auth.workspace_id, id)
        .await
        .map_err(campaign_error)?;
    Ok(envelope::data(StatusCode::OK, CampaignDto::from(detail)))
}

/// `PATCH /campaigns/{id}`
#[utoipa::path(
    patch,
    path = "/api/v1/campaigns/{id}",
    tag = "campaigns",
    operation_id = "update_campaign",
    params(("id" = String, Path, description = "The campaign's id.")),
    request_body(content = super::dto::UpdateCampaignRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated campaign.", body = crate::openapi::Data<super::dto::CampaignDto>),
        (status = 400, description = "Malformed JSON.", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown campaign.", body = crate::openapi::ErrorBody),
        (status = 422, description = "An invalid field or status transition (details name the field and its code).", body = crate::openapi::ErrorBody)
    )
)]
pub async fn update(
    auth: Authenticated,
    service: web::Data<CampaignService>,
    id: web::Path<String>,
    body: ApiJson<UpdateCampaignRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = campaign_id(&id)?;
    let view = service
        .update(auth.workspace_id, id, &body.0.into())
        .await
        .map_err(campaign_error)?;
    Ok(envelope::data(StatusCode::OK, CampaignDto::from(view)))
}

/// `DELETE /campaigns/{id}`
#[utoipa::path(
    delete,
    path = "/api/v1/campaigns/{id}",
    tag = "campaigns",
    operation_id = "delete_campaign",
    params(("id" = String, Path, description = "The campaign's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "Unknown campaign.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn delete(
    auth: Authenticated,
    service: web::Data<CampaignService>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = campaign_id(&id)?;
    service
        .delete(auth.workspace_id, id)
        .await
        .map_err(campaign_error)?;
    Ok(HttpResponse::NoContent().finish())
}

/// `PATCH /campaigns/{campaign_id}/schedule`
#[utoipa::path(
    patch,
    path = "/api/v1/campaigns/{campaign_id}/schedule",
    tag = "campaigns",
    operation_id = "update_campaign_schedule",
    params(("campaign_id" = String, Path, description = "The campaign's id.")),
    request_body(content = super::dto::ScheduleRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The whole schedule after the change.", body = crate::openapi::Data<super::dto::ScheduleDto>),
        (status = 400, description = "Malformed JSON.", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown campaign.", body = crate::openapi::ErrorBody),
        (status = 422, description = "Invalid timezone, window or day.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn update_schedule(
    auth: Authenticated,
    service: web::Data<CampaignService>,
    id: web::Path<String>,
    body: ApiJson<ScheduleRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = campaign_id(&id)?;
    let schedule = service
        .update_schedule(auth.workspace_id, id, &body.0.into())
        .await
        .map_err(campaign_error)?;
    Ok(envelope::data(StatusCode::OK, ScheduleDto::from(&schedule)))
}

/// The inbox ids of an attach or detach: missing or empty is a 422 on `inbox_ids`; an id that
/// is not a UUID is unknown, so the whole request is a 404.
fn inbox_ids(body: InboxIdsRequest) -> Result<Vec<InboxId>, ApiError> {
    let ids = body.inbox_ids.unwrap_or_default();
    if ids.is_empty() {
        return Err(ApiError::from_validation(ValidationErrors(vec![
            FieldError::new("inbox_ids", "required", "must hold at least one inbox id"),
        ])));
    }
    ids.iter()
        .map(|raw| path_id(raw.trim(), INBOX_NOT_FOUND))
        .collect()
}

/// `POST /campaigns/{campaign_id}/inboxes/attach`
#[utoipa::path(
    post,
    path = "/api/v1/campaigns/{campaign_id}/inboxes/attach",
    tag = "campaigns",
    operation_id = "attach_inboxes",
    params(("campaign_id" = String, Path, description = "The campaign's id.")),
    request_body(content = super::dto::InboxIdsRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The campaign's inboxes after attaching.", body = crate::openapi::Data<Vec<super::dto::InboxDto>>),
        (status = 400, description = "Malformed JSON.", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown campaign or inbox.", body = crate::openapi::ErrorBody),
        (status = 422, description = "inbox_ids missing or empty.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn attach(
    auth: Authenticated,
    service: web::Data<CampaignService>,
    id: web::Path<String>,
    body: ApiJson<InboxIdsRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = campaign_id(&id)?;
    let ids = inbox_ids(body.0)?;
    let inboxes = service
        .attach_inboxes(auth.workspace_id, id, &ids)
        .await
        .map_err(campaign_error)?;
    let list: Vec<InboxDto> = inboxes.into_iter().map(InboxDto::from).collect();
    Ok(envelope::data(StatusCode::OK, list))
}

/// `POST /campaigns/{campaign_id}/inboxes/detach`
#[utoipa::path(
    post,
    path = "/api/v1/campaigns/{campaign_id}/inboxes/detach",
    tag = "campaigns",
    operation_id = "detach_inboxes",
    params(("campaign_id" = String, Path, description = "The campaign's id.")),
    request_body(content = super::dto::InboxIdsRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The campaign's inboxes after detaching.", body = crate::openapi::Data<Vec<super::dto::InboxDto>>),
        (status = 400, description = "Malformed JSON.", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown campaign or inbox.", body = crate::openapi::ErrorBody),
        (status = 422, description = "inbox_ids missing or empty.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn detach(
    auth: Authenticated,
    service: web::Data<CampaignService>,
    id: web::Path<String>,
    body: ApiJson<InboxIdsRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = campaign_id(&id)?;
    let ids = inbox_ids(body.0)?;
    let inboxes = service
        .detach_inboxes(auth.workspace_id, id, &ids)
        .await
        .map_err(campaign_error)?;
    let list: Vec<InboxDto> = inboxes.into_iter().map(InboxDto::from).collect();
    Ok(envelope::data(StatusCode::OK, list))
}

/// `GET /campaigns/{campaign_id}/analytics`
#[utoipa::path(
    get,
    path = "/api/v1/campaigns/{campaign_id}/analytics",
    tag = "campaigns",
    operation_id = "campaign_analytics",
    params(("campaign_id" = String, Path, description = "The campaign's id.")),
    responses(
        (status = 200, description = "Totals, daily series and per-variant numbers.", body = crate::openapi::Data<super::dto::StatsDto>),
        (status = 404, description = "Unknown campaign.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn analytics(
    auth: Authenticated,
    service: web::Data<CampaignService>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = campaign_id(&id)?;
    let detail = service
        .show(auth.workspace_id, id)
        .await
        .map_err(campaign_error)?;
    Ok(envelope::data(StatusCode::OK, StatsDto::full(&detail)))
}

/// `GET /campaigns/{campaign_id}/sequences`
#[utoipa::path(
    get,
    path = "/api/v1/campaigns/{campaign_id}/sequences",
    tag = "sequences",
    operation_id = "list_sequence_steps",
    params(("campaign_id" = String, Path, description = "The campaign's id.")),
    responses(
        (status = 200, description = "The steps in order, with their variants.", body = crate::openapi::Data<Vec<super::dto::StepDto>>),
        (status = 404, description = "Unknown campaign.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn list_steps(
    auth: Authenticated,
    service: web::Data<SequenceService>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = campaign_id(&id)?;
    let steps = service
        .list(auth.workspace_id, id)
        .await
        .map_err(|e| sequence_error(e, "variant"))?;
    let list: Vec<StepDto> = steps.into_iter().map(StepDto::from).collect();
    Ok(envelope::data(StatusCode::OK, list))
}

/// `POST /campaigns/{campaign_id}/sequences` (the body may be empty: every field is optional)
#[utoipa::path(
    post,
    path = "/api/v1/campaigns/{campaign_id}/sequences",
    tag = "sequences",
    operation_id = "create_sequence_step",
    params(("campaign_id" = String, Path, description = "The campaign's id.")),
    request_body(content = Option<super::dto::CreateStepRequest>, content_type = "application/json"),
    responses(
        (status = 201, description = "The new step (the body may be empty).", body = crate::openapi::Data<super::dto::StepDto>),
        (status = 400, description = "Malformed JSON.", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown campaign.", body = crate::openapi::ErrorBody),
        (status = 422, description = "Invalid delay_days.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn create_step(
    auth: Authenticated,
    service: web::Data<SequenceService>,
    id: web::Path<String>,
    body: ApiJsonOrDefault<CreateStepRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = campaign_id(&id)?;
    let step = service
        .add_step(auth.workspace_id, id, body.0.delay_days)
        .await
        .map_err(|e| sequence_error(e, "variant"))?;
    Ok(envelope::data(StatusCode::CREATED, StepDto::from(step)))
}

fn ids<A: std::str::FromStr>(
    path: &(String, String),
    not_found: &'static str,
) -> Result<(CampaignId, A), ApiError> {
    Ok((campaign_id(&path.0)?, path_id(&path.1, not_found)?))
}

/// `PATCH /campaigns/{campaign_id}/sequences/{id}`
#[utoipa::path(
    patch,
    path = "/api/v1/campaigns/{campaign_id}/sequences/{id}",
    tag = "sequences",
    operation_id = "update_sequence_step",
    params(("campaign_id" = String, Path, description = "The campaign's id."), ("id" = String, Path, description = "The step's id.")),
    request_body(content = super::dto::UpdateStepRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated step.", body = crate::openapi::Data<super::dto::StepDto>),
        (status = 400, description = "Malformed JSON.", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown campaign or step.", body = crate::openapi::ErrorBody),
        (status = 422, description = "Invalid delay_days.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn update_step(
    auth: Authenticated,
    service: web::Data<SequenceService>,
    path: web::Path<(String, String)>,
    body: ApiJson<UpdateStepRequest>,
) -> Result<HttpResponse, ApiError> {
    let (campaign, step): (_, SequenceId) = ids(&path, STEP_NOT_FOUND)?;
    let step = service
        .set_delay(auth.workspace_id, campaign, step, body.0.delay_days)
        .await
        .map_err(|e| sequence_error(e, "variant"))?;
    Ok(envelope::data(StatusCode::OK, StepDto::from(step)))
}

/// `DELETE /campaigns/{campaign_id}/sequences/{id}`
#[utoipa::path(
    delete,
    path = "/api/v1/campaigns/{campaign_id}/sequences/{id}",
    tag = "sequences",
    operation_id = "delete_sequence_step",
    params(("campaign_id" = String, Path, description = "The campaign's id."), ("id" = String, Path, description = "The step's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "Unknown campaign or step.", body = crate::openapi::ErrorBody),
        (status = 422, description = "The step cannot be deleted now (details give the code).", body = crate::openapi::ErrorBody)
    )
)]
pub async fn delete_step(
    auth: Authenticated,
    service: web::Data<SequenceService>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (campaign, step): (_, SequenceId) = ids(&path, STEP_NOT_FOUND)?;
    service
        .delete_step(auth.workspace_id, campaign, step)
        .await
        .map_err(|e| sequence_error(e, "variant"))?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /campaigns/{campaign_id}/sequences/{id}/variants`
#[utoipa::path(
    post,
    path = "/api/v1/campaigns/{campaign_id}/sequences/{id}/variants",
    tag = "sequences",
    operation_id = "create_variant",
    params(("campaign_id" = String, Path, description = "The campaign's id."), ("id" = String, Path, description = "The step's id.")),
    request_body(content = super::dto::VariantRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The new variant.", body = crate::openapi::Data<super::dto::VariantDto>),
        (status = 400, description = "Malformed JSON.", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown campaign or step.", body = crate::openapi::ErrorBody),
        (status = 422, description = "Invalid subject or body.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn create_variant(
    auth: Authenticated,
    service: web::Data<SequenceService>,
    path: web::Path<(String, String)>,
    body: ApiJson<VariantRequest>,
) -> Result<HttpResponse, ApiError> {
    let (campaign, step): (_, SequenceId) = ids(&path, STEP_NOT_FOUND)?;
    let body = body.0;
    let variant = service
        .add_variant(
            auth.workspace_id,
            campaign,
            step,
            body.subject,
            body.body_html,
            body.enabled,
        )
        .await
        .map_err(|e| sequence_error(e, "variant"))?;
    Ok(envelope::data(
        StatusCode::CREATED,
        VariantDto::from(variant),
    ))
}

/// `PATCH /campaigns/{campaign_id}/variants/{variant_id}`
#[utoipa::path(
    patch,
    path = "/api/v1/campaigns/{campaign_id}/variants/{variant_id}",
    tag = "sequences",
    operation_id = "update_variant",
    params(("campaign_id" = String, Path, description = "The campaign's id."), ("variant_id" = String, Path, description = "The variant's id.")),
    request_body(content = super::dto::VariantRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated variant.", body = crate::openapi::Data<super::dto::VariantDto>),
        (status = 400, description = "Malformed JSON.", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown campaign or variant.", body = crate::openapi::ErrorBody),
        (status = 422, description = "Invalid field, or disabling the step's last enabled variant.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn update_variant(
    auth: Authenticated,
    service: web::Data<SequenceService>,
    path: web::Path<(String, String)>,
    body: ApiJson<VariantRequest>,
) -> Result<HttpResponse, ApiError> {
    let (campaign, variant): (_, VariantId) = ids(&path, VARIANT_NOT_FOUND)?;
    let body = body.0;
    let patch = VariantPatch {
        subject: body.subject,
        body_html: body.body_html,
        enabled: body.enabled,
    };
    let variant = service
        .update_variant(auth.workspace_id, campaign, variant, &patch)
        .await
        .map_err(|e| sequence_error(e, "enabled"))?;
    Ok(envelope::data(StatusCode::OK, VariantDto::from(variant)))
}

/// `DELETE /campaigns/{campaign_id}/variants/{variant_id}`
#[utoipa::path(
    delete,
    path = "/api/v1/campaigns/{campaign_id}/variants/{variant_id}",
    tag = "sequences",
    operation_id = "delete_variant",
    params(("campaign_id" = String, Path, description = "The campaign's id."), ("variant_id" = String, Path, description = "The variant's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "Unknown campaign or variant.", body = crate::openapi::ErrorBody),
        (status = 422, description = "The step's last enabled variant cannot be deleted.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn delete_variant(
    auth: Authenticated,
    service: web::Data<SequenceService>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (campaign, variant): (_, VariantId) = ids(&path, VARIANT_NOT_FOUND)?;
    service
        .delete_variant(auth.workspace_id, campaign, variant)
        .await
        .map_err(|e| sequence_error(e, "variant"))?;
    Ok(HttpResponse::NoContent().finish())
}
