//! Request extraction that speaks the error envelope: JSON bodies, list parameters, path ids,
//! and handlers for actix's own rejections.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;

use actix_web::dev::Payload;
use actix_web::error::{PayloadError, QueryPayloadError};
use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpRequest};
use reachkit_core::blocklist::ListQuery;
use reachkit_core::paging::{PageRequest, PagingError, SortOrder};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Largest JSON body accepted.
pub const MAX_JSON_BYTES: usize = 1024 * 1024;

/// A JSON body whose errors are reported in the envelope: malformed JSON is a 400, a value of
/// the wrong shape is a 422 naming the field, a body that is not JSON is a 415.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

fn is_json(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        // Tolerate clients that send JSON without saying so.
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// Parses a JSON body into `T`, naming the field at fault.
///
/// # Errors
/// 400 for malformed JSON, 422 for a well-formed body of the wrong shape.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(shape_error)?;
    // Trailing characters after the value make the body malformed.
    de.end().map_err(|e| ApiError::BadRequest {
        message: format!("malformed JSON: {e}"),
        details: None,
    })?;
    Ok(value)
}

fn shape_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if inner.is_syntax() || inner.is_eof() || inner.is_io() {
        return ApiError::BadRequest {
            message: format!("malformed JSON: {inner}"),
            details: None,
        };
    }
    let message = strip_position(&inner.to_string());
    // A missing field is reported at its parent; name the field itself.
    let field = match message.strip_prefix("missing field `") {
        Some(rest) => {
            let name = rest.trim_end_matches('`');
            if path == "." {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            }
        }
        None if path == "." => "body".to_owned(),
        None => path,
    };
    let mut details = Map::new();
    details.insert(field.clone(), Value::String(message.clone()));
    ApiError::Validation {
        message: format!("{field}: {message}"),
        details,
    }
}

/// serde_json appends " at line 1 column 12"; clients need the field, not the column.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Like [`ApiJson`], but an empty body (no bytes, or only white space) stands for
/// `T::default()`: for endpoints whose every field is optional, such as adding a sequence step.
#[derive(Debug)]
pub struct ApiJsonOrDefault<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for ApiJsonOrDefault<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let body = Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = read_body(json, body).await?;
            if body.iter().all(u8::is_ascii_whitespace) {
                Ok(Self(T::default()))
            } else {
                parse_json(&body).map(ApiJsonOrDefault)
            }
        })
    }
}

/// Reads a request body, with the envelope's errors for a non-JSON or oversized body.
async fn read_body(json: bool, body: <Bytes as FromRequest>::Future) -> Result<Bytes, ApiError> {
    let body = body.await.map_err(|e| {
        if matches!(e.as_error::<PayloadError>(), Some(PayloadError::Overflow))
            || e.as_response_error().status_code().as_u16() == 413
        {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest {
                message: format!("cannot read the request body: {e}"),
                details: None,
            }
        }
    })?;
    if !json && !body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::UnsupportedMediaType);
    }
    Ok(body)
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let body = Bytes::from_request(req, payload);
        Box::pin(async move {
            if !json {
                return Err(ApiError::UnsupportedMediaType);
            }
            let body = body.await.map_err(|e| {
                if matches!(e.as_error::<PayloadError>(), Some(PayloadError::Overflow))
                    || e.as_response_error().status_code().as_u16() == 413
                {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::BadRequest {
                        message: format!("cannot read the request body: {e}"),
                        details: None,
                    }
                }
            })?;
            parse_json(&body).map(ApiJson)
        })
    }
}

/// The query parameters every list endpoint shares, read as text so each can be checked and
/// named on its own.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page number, from 1 (default 1).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub page: Option<String>,
    /// Items per page, 1 to 100 (default 30 unless the endpoint says otherwise).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub page_size: Option<String>,
    /// Case-insensitive text filter.
    pub search: Option<String>,
    /// The field to sort by (each endpoint accepts its own; an unknown one is a 422).
    pub sort_by: Option<String>,
    /// `asc` or `desc`.
    pub sort_order: Option<String>,
}

fn parse_int(field: &str, raw: Option<&String>) -> Result<Option<i64>, ApiError> {
    raw.map(|s| {
        s.trim()
            .parse::<i64>()
            .map_err(|_| ApiError::bad_query_param(field, "must be an integer"))
    })
    .transpose()
}

impl ListParams {
    /// Checks the parameters against the paging rules and a resource's sort allowlist.
    ///
    /// # Errors
    /// 400 for a non-integer page or page_size; 422 for a page below 1, an unknown sort_by
    /// or a sort_order other than asc/desc.
    pub fn into_query<S: Default>(
        self,
        default_page_size: u32,
        parse_sort: impl Fn(&str) -> Option<S>,
        allowed: &[&str],
    ) -> Result<ListQuery<S>, ApiError> {
        let page = parse_int("page", self.page.as_ref())?;
        let page_size = parse_int("page_size", self.page_size.as_ref())?;
        let page = PageRequest::new(page, page_size, default_page_size).map_err(|e| match e {
            PagingError::PageBelowOne => ApiError::invalid_field("page", e),
            PagingError::PageSizeBelowOne => ApiError::invalid_field("page_size", e),
        })?;
        let sort = match self
            .sort_by
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => S::default(),
            Some(name) => parse_sort(name).ok_or_else(|| {
                ApiError::invalid_field(
                    "sort_by",
                    format!("must be one of: {}", allowed.join(", ")),
                )
            })?,
        };
        let order = match self
            .sort_order
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => SortOrder::default(),
            Some(raw) => SortOrder::parse(raw)
                .ok_or_else(|| ApiError::invalid_field("sort_order", "must be asc or desc"))?,
        };
        Ok(ListQuery {
            page,
            search: ListQuery::<S>::search_term(self.search.as_deref()),
            sort,
            order,
        })
    }
}

/// Parses an id from the path. An id that cannot exist is as unknown as one that does not: 404.
///
/// # Errors
/// [`ApiError::NotFound`] when the text is not an id.
pub fn path_id<T: FromStr>(raw: &str, not_found: &'static str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound(not_found))
}

/// actix's own query rejections, in the envelope.
#[must_use]
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|e: QueryPayloadError, _req| {
        ApiError::BadRequest {
            message: format!("malformed query string: {e}"),
            details: None,
        }
        .into()
    })
}

/// actix's own path rejections, in the envelope (an id that does not parse is unknown: 404).
#[must_use]
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_e, _req| ApiError::NotFound("not found").into())
}

/// actix's own JSON rejections, in the envelope, for any handler using `web::Json`.
#[must_use]
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_JSON_BYTES)
        .error_handler(|e, _req| {
            use actix_web::error::JsonPayloadError as E;
            match e {
                E::ContentType => ApiError::UnsupportedMediaType,
                E::Overflow { .. } | E::OverflowKnownLength { .. } => ApiError::PayloadTooLarge,
                E::Deserialize(inner) if inner.is_data() => {
                    ApiError::invalid_field("body", strip_position(&inner.to_string()))
                }
                other => ApiError::BadRequest {
                    message: format!("malformed JSON: {other}"),
                    details: None,
                },
            }
            .into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[expect(dead_code, reason = "only its parsing is tested")]
        email: String,
    }

    fn status(r: Result<Body, ApiError>) -> (u16, String) {
        use actix_web::ResponseError;
        match r {
            Ok(_) => (200, String::new()),
            Err(e) => (e.status_code().as_u16(), e.to_string()),
        }
    }

    #[test]
    fn json_errors_are_400_for_syntax_and_422_naming_the_field_for_shape() {
        assert_eq!(status(parse_json(br#"{"email": "a@b.co"}"#)).0, 200);
        assert_eq!(status(parse_json(br#"{"email": "#)).0, 400);
        assert_eq!(status(parse_json(br#"{"email": "a@b.co"} x"#)).0, 400);
        assert_eq!(status(parse_json(b"")).0, 400);
        assert_eq!(
            status(parse_json(br"{}")),
            (422, "email: missing field `email`".to_owned())
        );
        let (code, message) = status(parse_json(br#"{"email": 5}"#));
        assert_eq!(code, 422);
        assert!(
            message.starts_with("email: invalid type: integer `5`"),
            "{message}"
        );
        assert_eq!(status(parse_json(br"[1]")).0, 422);
    }
}
