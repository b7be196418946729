//! Request and response bodies of the blocklist endpoints.

use reachkit_core::blocklist::BlocklistEntry;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = BlocklistCreateRequest)]
pub struct CreateRequest {
    pub email: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckParams {
    /// The address to check (required).
    pub email: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EntryDto {
    pub id: String,
    pub email: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<BlocklistEntry> for EntryDto {
    fn from(e: BlocklistEntry) -> Self {
        Self {
            id: e.id.to_string(),
            email: e.email.into_string(),
            created_at: e.created_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckDto {
    pub blocked: bool,
}
