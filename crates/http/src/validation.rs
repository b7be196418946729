//! Field validation failures of the domain and services, as 422 responses naming every field.

use reachkit_domain::validation::ValidationErrors;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// A 422 whose `details` map each invalid field to what is wrong with it, and whose message
/// lists them all (`"reply_to must contain exactly one @; daily_campaign_limit must be ..."`).
pub(crate) fn validation_error(errors: &ValidationErrors) -> ApiError {
    let mut details = Map::new();
    for e in errors.fields() {
        details
            .entry(e.field.clone())
            .or_insert_with(|| Value::String(e.message.clone()));
    }
    let message = if errors.fields().is_empty() {
        "invalid request".to_owned()
    } else {
        errors.to_string()
    };
    ApiError::Validation { message, details }
}
