//! The error envelope: every failure leaves as `{"error": "...", "details": {...}?}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use reachkit_core::StoreError;
use reachkit_domain::validation::ValidationErrors;
use serde_json::{Map, Value, json};

/// An API failure, with the status code and message the contract gives it.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the JSON or the query string could not be read.
    BadRequest {
        message: String,
        details: Option<Map<String, Value>>,
    },
    /// 401: no key, or a key that is unknown or revoked.
    Unauthorized(&'static str),
    /// 404: unknown id, or another workspace's (the two are indistinguishable).
    NotFound(&'static str),
    /// 405: the path exists but not with this method.
    MethodNotAllowed,
    /// 409: the request conflicts with what exists.
    Conflict(String),
    /// 413: the body is larger than accepted.
    PayloadTooLarge,
    /// 415: the body is not JSON.
    UnsupportedMediaType,
    /// 422: well-formed but invalid; `details` names each field and what is wrong with it.
    Validation {
        message: String,
        details: Map<String, Value>,
    },
    /// 503: the database cannot be reached right now.
    Unavailable(anyhow::Error),
    /// 500: a bug or a broken invariant, never bad input.
    Internal(anyhow::Error),
}

impl ApiError {
    /// A 422 for one field.
    pub fn invalid_field(field: &str, problem: impl std::fmt::Display) -> Self {
        let problem = problem.to_string();
        let mut details = Map::new();
        details.insert(field.to_owned(), Value::String(problem.clone()));
        Self::Validation {
            message: format!("{field} {problem}"),
            details,
        }
    }

    /// A 422 from the domain's field errors: `details` maps each field (a dotted path for nested
    /// ones) to `"<code>: <message>"`, e.g. `{"status": "no_inbox: cannot launch ..."}`, so
    /// clients can match the stable code before the colon; `error` lists every problem.
    #[must_use]
    pub fn from_validation(errors: ValidationErrors) -> Self {
        let message = errors.to_string();
        let mut details = Map::new();
        for e in errors.0 {
            details
                .entry(e.field)
                .or_insert_with(|| Value::String(format!("{}: {}", e.code, e.message)));
        }
        Self::Validation { message, details }
    }

    /// A 400 for one query parameter that could not be read.
    pub fn bad_query_param(field: &str, problem: impl std::fmt::Display) -> Self {
        let problem = problem.to_string();
        let mut details = Map::new();
        details.insert(field.to_owned(), Value::String(problem.clone()));
        Self::BadRequest {
            message: format!("invalid query parameter {field}: {problem}"),
            details: Some(details),
        }
    }

    fn message(&self) -> String {
        match self {
            Self::BadRequest { message, .. }
            | Self::Conflict(message)
            | Self::Validation { message, .. } => message.clone(),
            Self::Unauthorized(m) | Self::NotFound(m) => (*m).to_owned(),
            Self::MethodNotAllowed => "method not allowed".to_owned(),
            Self::PayloadTooLarge => "request body too large".to_owned(),
            Self::UnsupportedMediaType => "Content-Type must be application/json".to_owned(),
            Self::Unavailable(_) => "service temporarily unavailable".to_owned(),
            Self::Internal(_) => "internal server error".to_owned(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => Self::Unavailable(cause),
            StoreError::Other(cause) => Self::Internal(cause),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        // The cause is logged here, once; the client gets only the generic message.
        match self {
            Self::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "request failed");
            }
            Self::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "database unavailable");
            }
            _ => {}
        }
        let details = match self {
            Self::BadRequest { details, .. } => details.clone(),
            Self::Validation { details, .. } => Some(details.clone()),
            _ => None,
        };
        let body = match details {
            Some(details) => json!({ "error": self.message(), "details": details }),
            None => json!({ "error": self.message() }),
        };
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, Self::Unauthorized(_)) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if matches!(self, Self::Unavailable(_)) {
            response.insert_header(("Retry-After", "5"));
        }
        response.json(body)
    }
}
