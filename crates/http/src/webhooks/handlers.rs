//! Webhook handlers: translate HTTP to the webhook service and back.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use reachkit_core::ids::{CampaignId, WebhookDeliveryId, WebhookEndpointId};
use reachkit_core::paging::{DEFAULT_PAGE_SIZE, PageRequest};
use reachkit_core::webhooks::{EndpointChanges, EndpointInput, WebhookError, WebhookService};

use super::dto::{CreateRequest, DeliveryDto, EndpointDto, TestQueuedDto, UpdateRequest};
use crate::auth::Authenticated;
use crate::envelope;
use crate::error::ApiError;
use crate::extract::{ApiJson, ListParams, path_id};

const NOT_FOUND: &str = "webhook not found";
const DELIVERY_NOT_FOUND: &str = "delivery not found";

fn api_error(e: WebhookError) -> ApiError {
    match e {
        WebhookError::Invalid(field, problem) => ApiError::invalid_field(field, problem),
        WebhookError::NotFound => ApiError::NotFound(NOT_FOUND),
        WebhookError::DeliveryNotFound => ApiError::NotFound(DELIVERY_NOT_FOUND),
        WebhookError::Secret => {
            ApiError::Internal(anyhow::anyhow!("the webhook secret cannot be sealed"))
        }
        WebhookError::Store(e) => e.into(),
    }
}

/// A campaign id from the body: one that is not an id is as unknown as another workspace's.
fn campaign(raw: &str) -> Result<CampaignId, ApiError> {
    raw.trim()
        .parse()
        .map_err(|_| ApiError::invalid_field("campaign_id", "is not a campaign of this workspace"))
}

fn page(params: ListParams) -> Result<PageRequest, ApiError> {
    Ok(params
        .into_query(DEFAULT_PAGE_SIZE, |_| Some(()), &[])?
        .page)
}

/// `GET /webhooks`
#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    tag = "webhooks",
    operation_id = "list_webhooks",
    params(crate::extract::ListParams),
    responses(
        (status = 200, description = "One page of endpoints, oldest first.", body = crate::openapi::Page<super::dto::EndpointDto>),
        (status = 400, description = "A query parameter could not be read.", body = crate::openapi::ErrorBody),
        (status = 422, description = "Invalid page or page_size.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn index(
    auth: Authenticated,
    service: web::Data<WebhookService>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let page = service
        .list(auth.workspace_id, page(params.into_inner())?)
        .await
        .map_err(api_error)?;
    Ok(envelope::page(page, EndpointDto::from))
}

/// `POST /webhooks`: 201 with the endpoint and its `secret`, shown this once.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks",
    tag = "webhooks",
    operation_id = "create_webhook",
    request_body(content = super::dto::CreateRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The new endpoint with its signing secret, shown only here.", body = crate::openapi::Data<super::dto::EndpointDto>),
        (status = 400, description = "Malformed JSON.", body = crate::openapi::ErrorBody),
        (status = 422, description = "Invalid url, event_types or campaign_id.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn create(
    auth: Authenticated,
    service: web::Data<WebhookService>,
    body: ApiJson<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let campaign_id = body.campaign_id.as_deref().map(campaign).transpose()?;
    let created = service
        .create(
            auth.workspace_id,
            EndpointInput {
                url: body.url,
                description: body.description,
                event_types: body.event_types,
                campaign_id,
            },
        )
        .await
        .map_err(api_error)?;
    let mut dto = EndpointDto::from(created.endpoint);
    dto.secret = Some(created.secret);
    Ok(envelope::data(StatusCode::CREATED, dto))
}

/// `GET /webhooks/{id}`
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    operation_id = "get_webhook",
    params(("id" = String, Path, description = "The webhook's id.")),
    responses(
        (status = 200, description = "The endpoint (never its secret).", body = crate::openapi::Data<super::dto::EndpointDto>),
        (status = 404, description = "Unknown webhook.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn show(
    auth: Authenticated,
    service: web::Data<WebhookService>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: WebhookEndpointId = path_id(&id, NOT_FOUND)?;
    let endpoint = service
        .get(auth.workspace_id, id)
        .await
        .map_err(api_error)?;
    Ok(envelope::data(StatusCode::OK, EndpointDto::from(endpoint)))
}

/// `PATCH /webhooks/{id}`: any subset of the fields; `enabled: true` re-enables.
#[utoipa::path(
    patch,
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    operation_id = "update_webhook",
    params(("id" = String, Path, description = "The webhook's id.")),
    request_body(content = super::dto::UpdateRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated endpoint; enabled true re-enables it.", body = crate::openapi::Data<super::dto::EndpointDto>),
        (status = 400, description = "Malformed JSON.", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown webhook.", body = crate::openapi::ErrorBody),
        (status = 422, description = "Invalid url, event_types or campaign_id.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn update(
    auth: Authenticated,
    service: web::Data<WebhookService>,
    id: web::Path<String>,
    body: ApiJson<UpdateRequest>,
) -> Result<HttpResponse, ApiError> {
    let id: WebhookEndpointId = path_id(&id, NOT_FOUND)?;
    let body = body.0;
    let campaign_id = match body.campaign_id {
        None => None,
        Some(None) => Some(None),
        Some(Some(raw)) => Some(Some(campaign(&raw)?)),
    };
    let endpoint = service
        .update(
            auth.workspace_id,
            id,
            EndpointChanges {
                url: body.url,
                description: body.description,
                event_types: body.event_types,
                campaign_id,
                enabled: body.enabled,
            },
        )
        .await
        .map_err(api_error)?;
    Ok(envelope::data(StatusCode::OK, EndpointDto::from(endpoint)))
}

/// `DELETE /webhooks/{id}`
#[utoipa::path(
    delete,
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    operation_id = "delete_webhook",
    params(("id" = String, Path, description = "The webhook's id.")),
    responses(
        (status = 204, description = "Deleted, with its delivery log."),
        (status = 404, description = "Unknown webhook.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn delete(
    auth: Authenticated,
    service: web::Data<WebhookService>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: WebhookEndpointId = path_id(&id, NOT_FOUND)?;
    service
        .delete(auth.workspace_id, id)
        .await
        .map_err(api_error)?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /webhooks/{id}/test`: 202, a `test` event is queued.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/test",
    tag = "webhooks",
    operation_id = "test_webhook",
    params(("id" = String, Path, description = "The webhook's id.")),
    responses(
        (status = 202, description = "A test event is queued for the endpoint.", body = crate::openapi::Data<super::dto::TestQueuedDto>),
        (status = 404, description = "Unknown webhook.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn test(
    auth: Authenticated,
    service: web::Data<WebhookService>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: WebhookEndpointId = path_id(&id, NOT_FOUND)?;
    let delivery = service
        .send_test(auth.workspace_id, id)
        .await
        .map_err(api_error)?;
    Ok(envelope::data(
        StatusCode::ACCEPTED,
        TestQueuedDto {
            delivery_id: delivery.to_string(),
        },
    ))
}

/// `GET /webhooks/{id}/deliveries`: newest first.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}/deliveries",
    tag = "webhooks",
    operation_id = "list_webhook_deliveries",
    params(("id" = String, Path, description = "The webhook's id."), crate::extract::ListParams),
    responses(
        (status = 200, description = "One page of the endpoint's deliveries, newest first.", body = crate::openapi::Page<super::dto::DeliveryDto>),
        (status = 400, description = "A query parameter could not be read.", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown webhook.", body = crate::openapi::ErrorBody),
        (status = 422, description = "Invalid page or page_size.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn deliveries(
    auth: Authenticated,
    service: web::Data<WebhookService>,
    id: web::Path<String>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let id: WebhookEndpointId = path_id(&id, NOT_FOUND)?;
    let page = service
        .deliveries(auth.workspace_id, id, page(params.into_inner())?)
        .await
        .map_err(api_error)?;
    Ok(envelope::page(page, DeliveryDto::from))
}

/// `POST /webhooks/{id}/deliveries/{delivery_id}/redeliver`: 202 with the pending delivery.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
    tag = "webhooks",
    operation_id = "redeliver_webhook_delivery",
    params(("id" = String, Path, description = "The webhook's id."), ("delivery_id" = String, Path, description = "The delivery's id.")),
    responses(
        (status = 202, description = "The delivery, pending again (due now, attempts reset).", body = crate::openapi::Data<super::dto::DeliveryDto>),
        (status = 404, description = "Unknown webhook or delivery.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn redeliver(
    auth: Authenticated,
    service: web::Data<WebhookService>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, delivery) = path.into_inner();
    let id: WebhookEndpointId = path_id(&id, NOT_FOUND)?;
    let delivery: WebhookDeliveryId = path_id(&delivery, DELIVERY_NOT_FOUND)?;
    let d = service
        .redeliver(auth.workspace_id, id, delivery)
        .await
        .map_err(api_error)?;
    Ok(envelope::data(StatusCode::ACCEPTED, DeliveryDto::from(d)))
}
