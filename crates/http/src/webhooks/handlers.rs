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
