//! Unibox handlers: translate HTTP to the unibox service and back.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpResponse, web};
use reachkit_core::blocklist::ListQuery;
use reachkit_core::ids::{AttachmentId, ConversationId, InboxId};
use reachkit_core::paging::{PageRequest, PagingError};
use reachkit_core::unibox::{
    ConversationChanges, ConversationQuery, Folder, StartConversation, UniboxError, UniboxService,
};
use reachkit_domain::label::ReplyLabel;

use super::dto::{
    ConversationDto, CreateRequest, IndexParams, MessageDto, ReplyRequest, UpdateRequest,
};
use crate::auth::Authenticated;
use crate::envelope;
use crate::error::ApiError;
use crate::extract::{ApiJson, path_id};

const NOT_FOUND: &str = "conversation not found";
const ATTACHMENT_NOT_FOUND: &str = "attachment not found";
/// The contract's default page size for conversations.
const DEFAULT_PAGE_SIZE: u32 = 20;

fn api_error(e: UniboxError) -> ApiError {
    match e {
        UniboxError::NotFound => ApiError::NotFound(NOT_FOUND),
        UniboxError::Invalid(field, message) => ApiError::invalid_field(&field, message),
        // The SMTP server's refusal is about the request's recipients or the inbox's settings:
        // a 422 on the inbox, with the server's answer (never credentials).
        UniboxError::Send(reason) => {
            ApiError::invalid_field("inbox_id", format!("the email could not be sent: {reason}"))
        }
        UniboxError::Store(e) => e.into(),
    }
}

fn parse_int(field: &str, raw: Option<&String>) -> Result<Option<i64>, ApiError> {
    raw.map(|s| {
        s.trim()
            .parse::<i64>()
            .map_err(|_| ApiError::bad_query_param(field, "must be an integer"))
    })
    .transpose()
}

/// `GET /unibox/conversations`
#[utoipa::path(
    get,
    path = "/api/v1/unibox/conversations",
    tag = "unibox",
    operation_id = "list_conversations",
    params(super::dto::IndexParams),
    responses(
        (status = 200, description = "One page of conversations, latest activity first.", body = crate::openapi::Page<super::dto::ConversationDto>),
        (status = 400, description = "A query parameter could not be read.", body = crate::openapi::ErrorBody),
        (status = 422, description = "Invalid page, page_size or folder.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn index(
    auth: Authenticated,
    service: web::Data<UniboxService>,
    params: web::Query<IndexParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let page = PageRequest::new(
        parse_int("page", params.page.as_ref())?,
        parse_int("page_size", params.page_size.as_ref())?,
        DEFAULT_PAGE_SIZE,
    )
    .map_err(|e| match e {
        PagingError::PageBelowOne => ApiError::invalid_field("page", e),
        PagingError::PageSizeBelowOne => ApiError::invalid_field("page_size", e),
    })?;
    let folder = match params.folder.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(
            Folder::parse(raw)
                .ok_or_else(|| ApiError::invalid_field("folder", "must be primary or others"))?,
        ),
    };
    let query = ConversationQuery {
        page,
        search: ListQuery::<()>::search_term(params.search.as_deref()),
        folder,
    };
    let page = service
        .list(auth.workspace_id, &query)
        .await
        .map_err(api_error)?;
    Ok(envelope::page(page, ConversationDto::from))
}

/// `GET /unibox/conversations/{id}`
#[utoipa::path(
    get,
    path = "/api/v1/unibox/conversations/{id}",
    tag = "unibox",
    operation_id = "get_conversation",
    params(("id" = String, Path, description = "The conversation's id.")),
    responses(
        (status = 200, description = "The conversation with its messages.", body = crate::openapi::Data<super::dto::ConversationDto>),
        (status = 404, description = "Unknown conversation.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn show(
    auth: Authenticated,
    service: web::Data<UniboxService>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: ConversationId = path_id(&id, NOT_FOUND)?;
    let c = service
        .get(auth.workspace_id, id)
        .await
        .map_err(api_error)?;
    Ok(envelope::data(StatusCode::OK, ConversationDto::from(c)))
}

/// `PATCH /unibox/conversations/{id}`
#[utoipa::path(
    patch,
    path = "/api/v1/unibox/conversations/{id}",
    tag = "unibox",
    operation_id = "update_conversation",
    params(("id" = String, Path, description = "The conversation's id.")),
    request_body(content = super::dto::UpdateRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated conversation.", body = crate::openapi::Data<super::dto::ConversationDto>),
        (status = 400, description = "Malformed JSON.", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown conversation.", body = crate::openapi::ErrorBody),
        (status = 422, description = "Invalid field.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn update(
    auth: Authenticated,
    service: web::Data<UniboxService>,
    id: web::Path<String>,
    body: ApiJson<UpdateRequest>,
) -> Result<HttpResponse, ApiError> {
    let id: ConversationId = path_id(&id, NOT_FOUND)?;
    let body = body.0;
    let label_override = match body.label_override {
        None => None,
        Some(None) => Some(None),
        Some(Some(raw)) => Some(Some(ReplyLabel::parse(&raw).map_err(|_| {
            let all: Vec<&str> = ReplyLabel::ALL.iter().map(|l| l.as_str()).collect();
            ApiError::invalid_field(
                "label_override",
                format!("must be null or one of: {}", all.join(", ")),
            )
        })?)),
    };
    let c = service
        .update(
            auth.workspace_id,
            id,
            ConversationChanges {
                label_override,
                is_read: body.is_read,
            },
        )
        .await
        .map_err(api_error)?;
    Ok(envelope::data(StatusCode::OK, ConversationDto::from(c)))
}

/// `POST /unibox/conversations`: 201 with the conversation and its first (sent) email.
#[utoipa::path(
    post,
    path = "/api/v1/unibox/conversations",
    tag = "unibox",
    operation_id = "create_conversation",
    request_body(content = super::dto::CreateRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The conversation and its first (sent) email.", body = crate::openapi::Data<super::dto::ConversationDto>),
        (status = 400, description = "Malformed JSON.", body = crate::openapi::ErrorBody),
        (status = 422, description = "Invalid field, unknown inbox, or the email could not be sent.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn create(
    auth: Authenticated,
    service: web::Data<UniboxService>,
    body: ApiJson<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let inbox_id =
        match body.inbox_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(raw.parse::<InboxId>().map_err(|_| {
                ApiError::invalid_field("inbox_id", "no such inbox in this workspace")
            })?),
        };
    let request = StartConversation {
        inbox_id,
        to: body
            .to
            .unwrap_or_default()
            .into_iter()
            .map(|r| (r.email, r.name))
            .collect(),
        subject: body
            .subject
            .ok_or_else(|| ApiError::invalid_field("subject", "is required"))?,
        content: body
            .content
            .ok_or_else(|| ApiError::invalid_field("content", "is required"))?,
    };
    let c = service
        .start(auth.workspace_id, request)
        .await
        .map_err(api_error)?;
    Ok(envelope::data(
        StatusCode::CREATED,
        ConversationDto::from(c),
    ))
}

/// `POST /unibox/conversations/{id}/reply`: 201 with the sent message (a new resource).
#[utoipa::path(
    post,
    path = "/api/v1/unibox/conversations/{id}/reply",
    tag = "unibox",
    operation_id = "reply_to_conversation",
    params(("id" = String, Path, description = "The conversation's id.")),
    request_body(content = super::dto::ReplyRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The sent message.", body = crate::openapi::Data<super::dto::MessageDto>),
        (status = 400, description = "Malformed JSON.", body = crate::openapi::ErrorBody),
        (status = 404, description = "Unknown conversation.", body = crate::openapi::ErrorBody),
        (status = 422, description = "content missing, or the email could not be sent.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn reply(
    auth: Authenticated,
    service: web::Data<UniboxService>,
    id: web::Path<String>,
    body: ApiJson<ReplyRequest>,
) -> Result<HttpResponse, ApiError> {
    let id: ConversationId = path_id(&id, NOT_FOUND)?;
    let content = body
        .0
        .content
        .ok_or_else(|| ApiError::invalid_field("content", "is required"))?;
    let m = service
        .reply(auth.workspace_id, id, &content)
        .await
        .map_err(api_error)?;
    Ok(envelope::data(StatusCode::CREATED, MessageDto::from(m)))
}

/// `GET /unibox/conversations/{conversation_id}/attachments/{id}`: the bytes, with the stored
/// content type and the file name as an attachment disposition.
#[utoipa::path(
    get,
    path = "/api/v1/unibox/conversations/{conversation_id}/attachments/{id}",
    tag = "unibox",
    operation_id = "get_attachment",
    params(("conversation_id" = String, Path, description = "The conversation's id."), ("id" = String, Path, description = "The attachment's id.")),
    responses(
        (status = 200, description = "The attachment's bytes, with its stored content type and Content-Disposition: attachment.", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, description = "Unknown conversation or attachment.", body = crate::openapi::ErrorBody)
    )
)]
pub async fn attachment(
    auth: Authenticated,
    service: web::Data<UniboxService>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (conversation_id, id) = path.into_inner();
    let conversation_id: ConversationId = path_id(&conversation_id, ATTACHMENT_NOT_FOUND)?;
    let id: AttachmentId = path_id(&id, ATTACHMENT_NOT_FOUND)?;
    let a = service
        .attachment(auth.workspace_id, conversation_id, id)
        .await
        .map_err(|e| match e {
            UniboxError::NotFound => ApiError::NotFound(ATTACHMENT_NOT_FOUND),
            other => api_error(other),
        })?;
    // A stored type that is not a valid header value (or not type/subtype) is served as bytes.
    let content_type = header::HeaderValue::from_str(a.content_type.trim())
        .ok()
        .filter(|_| a.content_type.contains('/'))
        .unwrap_or_else(|| header::HeaderValue::from_static("application/octet-stream"));
    let disposition = ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![DispositionParam::Filename(a.filename)],
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_DISPOSITION, disposition))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(a.content))
}
