//! Request and response bodies of the lead endpoints.

use reachkit_core::leads::{Lead, NewLeadInput, Variables};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Deserialize)]
pub struct CreateRequest {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub variables: Option<Variables>,
    pub if_exists: Option<String>,
}

impl From<CreateRequest> for NewLeadInput {
    fn from(r: CreateRequest) -> Self {
        Self {
            email: r.email,
            first_name: r.first_name,
            last_name: r.last_name,
            variables: r.variables,
            if_exists: r.if_exists,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct LeadDto {
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub status: &'static str,
    pub is_bounced: bool,
    pub is_unsubscribed: bool,
    pub provider: Option<&'static str>,
    pub variables: Variables,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Lead> for LeadDto {
    fn from(l: Lead) -> Self {
        Self {
            id: l.id.to_string(),
            email: l.email.into_string(),
            first_name: l.first_name,
            last_name: l.last_name,
            status: l.status.as_str(),
            is_bounced: l.is_bounced,
            is_unsubscribed: l.is_unsubscribed,
            provider: l.provider.map(|p| p.as_str()),
            variables: l.variables,
            created_at: l.created_at,
            updated_at: l.updated_at,
        }
    }
}
