//! Request and response bodies of the lead endpoints.

use reachkit_core::leads::bulk::{BulkInput, BulkReport, BulkRow, RowError};
use reachkit_core::leads::{Lead, NewLeadInput, Variables};
use reachkit_domain::validation::{FieldError, ValidationErrors};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = LeadCreateRequest)]
pub struct CreateRequest {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Personalisation variables: string keys, scalar values (strings, numbers, booleans).
    #[schema(value_type = Option<HashMap<String, Value>>)]
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

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeadDto {
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub status: &'static str,
    pub is_bounced: bool,
    pub is_unsubscribed: bool,
    pub provider: Option<&'static str>,
    #[schema(value_type = HashMap<String, Value>)]
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

/// `POST /campaigns/{campaign_id}/leads/bulk`. Rows are kept as JSON values so that a row of
/// the wrong shape is that row's error, not the whole request's.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BulkRequest {
    /// Each lead as in the single create (`CreateRequest`).
    #[schema(value_type = Vec<CreateRequest>)]
    pub leads: Vec<Value>,
    pub if_exists: Option<String>,
}

/// Reads one row as a single create's body; a row of the wrong shape becomes its errors.
fn read_row(value: Value) -> BulkRow {
    serde_path_to_error::deserialize::<_, CreateRequest>(value)
        .map(NewLeadInput::from)
        .map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            let field = match message.strip_prefix("missing field `") {
                Some(rest) => rest.trim_end_matches('`').to_owned(),
                None if path == "." => "lead".to_owned(),
                None => path,
            };
            let code = if message.starts_with("missing field") {
                "required"
            } else {
                "invalid_type"
            };
            ValidationErrors(vec![FieldError::new(field, code, message)])
        })
}

impl From<BulkRequest> for BulkInput {
    fn from(r: BulkRequest) -> Self {
        Self {
            if_exists: r.if_exists,
            rows: r.leads.into_iter().map(read_row).collect(),
        }
    }
}

/// One row that was not stored: its index and the envelope's `error` and `details`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RowErrorDto {
    pub index: usize,
    pub error: String,
    #[schema(value_type = HashMap<String, String>)]
    pub details: Map<String, Value>,
}

impl From<RowError> for RowErrorDto {
    fn from(e: RowError) -> Self {
        let error = e.errors.to_string();
        let mut details = Map::new();
        for f in e.errors.0 {
            details
                .entry(f.field)
                .or_insert_with(|| Value::String(format!("{}: {}", f.code, f.message)));
        }
        Self {
            index: e.index,
            error,
            details,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkReportDto {
    pub created: u64,
    pub updated: u64,
    pub skipped: u64,
    pub invalid: u64,
    pub blocklisted: u64,
    pub duplicates: u64,
    pub errors: Vec<RowErrorDto>,
}

impl From<BulkReport> for BulkReportDto {
    fn from(r: BulkReport) -> Self {
        Self {
            created: r.created,
            updated: r.updated,
            skipped: r.skipped,
            invalid: r.invalid,
            blocklisted: r.blocklisted,
            duplicates: r.duplicates,
            errors: r.errors.into_iter().map(RowErrorDto::from).collect(),
        }
    }
}
