//! Request and response bodies of the inbox endpoints. Passwords come in and never go out.

use reachkit_core::inboxes::{
    Inbox, InboxCampaign, InboxChanges, InboxDetail, NewInboxInput, ServerInput, WarmupStats,
};
use reachkit_core::secrets::Password;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A password in a request body: deserialised, never printed.
#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct SecretString(String);

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One server of an inbox: `{"host", "port", "username", "password", "security"}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ServerRequest {
    pub host: String,
    pub port: i64,
    /// Empty or absent: no authentication (SMTP relays only).
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: SecretString,
    pub security: String,
}

impl From<ServerRequest> for ServerInput {
    fn from(r: ServerRequest) -> Self {
        Self {
            host: r.host,
            port: r.port,
            security: r.security,
            username: r.username,
            password: Password::new(r.password.0),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = InboxCreateRequest)]
pub struct CreateRequest {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub provider: Option<String>,
    pub smtp: ServerRequest,
    pub imap: ServerRequest,
}

impl From<CreateRequest> for NewInboxInput {
    fn from(r: CreateRequest) -> Self {
        Self {
            email: r.email,
            first_name: r.first_name,
            last_name: r.last_name,
            provider: r.provider,
            smtp: r.smtp.into(),
            imap: r.imap.into(),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = InboxUpdateRequest)]
pub struct UpdateRequest {
    pub is_active: Option<bool>,
    pub is_warming: Option<bool>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub reply_to: Option<String>,
    pub signature: Option<String>,
    pub daily_campaign_limit: Option<i64>,
    pub daily_warmup_limit: Option<i64>,
    pub smtp: Option<ServerRequest>,
    pub imap: Option<ServerRequest>,
}

impl From<UpdateRequest> for InboxChanges {
    fn from(r: UpdateRequest) -> Self {
        Self {
            is_active: r.is_active,
            is_warming: r.is_warming,
            first_name: r.first_name,
            last_name: r.last_name,
            reply_to: r.reply_to,
            signature: r.signature,
            daily_campaign_limit: r.daily_campaign_limit,
            daily_warmup_limit: r.daily_warmup_limit,
            smtp: r.smtp.map(Into::into),
            imap: r.imap.map(Into::into),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = InboxCampaignDto)]
pub struct CampaignDto {
    pub id: String,
    pub name: String,
    pub status: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<InboxCampaign> for CampaignDto {
    fn from(c: InboxCampaign) -> Self {
        Self {
            id: c.id.to_string(),
            name: c.name,
            status: c.status.as_str(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// The inbox projection of the contract plus `connection_error`; `campaigns` only on show and
/// update.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InboxDto {
    pub id: String,
    pub email: String,
    pub domain: String,
    pub provider: &'static str,
    pub connection_type: &'static str,
    pub connection_status: &'static str,
    pub connection_error: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub reply_to: String,
    pub signature: String,
    pub is_active: bool,
    pub is_warming: bool,
    pub daily_campaign_limit: u32,
    pub daily_warmup_limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaigns: Option<Vec<CampaignDto>>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Inbox> for InboxDto {
    fn from(i: Inbox) -> Self {
        Self {
            id: i.id.to_string(),
            email: i.email.into_string(),
            domain: i.domain,
            provider: i.provider.as_str(),
            connection_type: i.connection_type.as_str(),
            connection_status: i.connection_status.as_str(),
            connection_error: i.connection_error,
            first_name: i.first_name,
            last_name: i.last_name,
            reply_to: i.reply_to,
            signature: i.signature,
            is_active: i.is_active,
            is_warming: i.is_warming,
            daily_campaign_limit: i.daily_campaign_limit,
            daily_warmup_limit: i.daily_warmup_limit,
            campaigns: None,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

impl From<InboxDetail> for InboxDto {
    fn from(d: InboxDetail) -> Self {
        Self {
            campaigns: Some(d.campaigns.into_iter().map(CampaignDto::from).collect()),
            ..Self::from(d.inbox)
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WarmupDayDto {
    pub date: String,
    pub sent: u64,
    pub spam_count: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WarmupStatsDto {
    pub sent: u64,
    pub received: u64,
    pub saved_from_spam: u64,
    pub health_score: u8,
    pub ramp_up_progress: u8,
    pub daily: Vec<WarmupDayDto>,
}

impl From<WarmupStats> for WarmupStatsDto {
    fn from(s: WarmupStats) -> Self {
        Self {
            sent: s.sent,
            received: s.received,
            saved_from_spam: s.saved_from_spam,
            health_score: s.health_score,
            ramp_up_progress: s.ramp_up_progress,
            daily: s
                .daily
                .into_iter()
                .map(|d| WarmupDayDto {
                    // Date's Display is ISO 8601 (YYYY-MM-DD) for years 0-9999.
                    date: d.date.to_string(),
                    sent: d.sent,
                    spam_count: d.spam_count,
                })
                .collect(),
        }
    }
}
