//! Request and response bodies of the webhook endpoints.

use reachkit_core::webhooks::{Delivery, WebhookEndpoint};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = WebhookCreateRequest)]
pub struct CreateRequest {
    pub url: String,
    pub event_types: Vec<String>,
    pub campaign_id: Option<String>,
    pub description: Option<String>,
}

/// Absent stays `None`; `null` becomes `Some(None)`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = WebhookUpdateRequest)]
pub struct UpdateRequest {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    /// null removes the campaign filter.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub campaign_id: Option<Option<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// A webhook endpoint.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = WebhookEndpoint)]
pub struct EndpointDto {
    pub id: String,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub campaign_id: Option<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Only in the create response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<WebhookEndpoint> for EndpointDto {
    fn from(e: WebhookEndpoint) -> Self {
        Self {
            id: e.id.to_string(),
            url: e.url,
            description: e.description,
            event_types: e.event_types,
            campaign_id: e.campaign_id.map(|c| c.to_string()),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            created_at: e.created_at,
            updated_at: e.updated_at,
            secret: None,
        }
    }
}

/// One delivery of an event to an endpoint.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = WebhookDelivery)]
pub struct DeliveryDto {
    pub id: String,
    pub webhook_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    #[schema(value_type = String)]
    pub status: &'static str,
    pub attempts: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_attempt_at: Option<OffsetDateTime>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The JSON body sent: `{"type", "timestamp", "data"}`.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl From<Delivery> for DeliveryDto {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id.to_string(),
            webhook_id: d.endpoint_id.to_string(),
            event_type: d.event_type,
            status: d.status.as_str(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_attempt_at: d.last_attempt_at,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            delivered_at: d.delivered_at,
            created_at: d.created_at,
            payload: d.payload,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = WebhookTestQueued)]
pub struct TestQueuedDto {
    pub delivery_id: String,
}
