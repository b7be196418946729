//! Request and response bodies of the unibox endpoints.

use reachkit_core::unibox::{AttachmentMeta, Conversation, Message, Recipient};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;

/// Query of `GET /unibox/conversations`, read as text so each parameter is checked on its own.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IndexParams {
    /// Page number, from 1 (default 1).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub page: Option<String>,
    /// Items per page, 1 to 100.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub page_size: Option<String>,
    /// Text filter on the lead's address, name and subject.
    pub search: Option<String>,
    /// `primary` or `others`.
    pub folder: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RecipientRequest {
    pub email: String,
    pub name: Option<String>,
}

/// `POST /unibox/conversations`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = ConversationCreateRequest)]
pub struct CreateRequest {
    pub inbox_id: Option<String>,
    pub to: Option<Vec<RecipientRequest>>,
    pub subject: Option<String>,
    pub content: Option<String>,
}

/// Absent stays `None`; `null` becomes `Some(None)`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `PATCH /unibox/conversations/:id`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = ConversationUpdateRequest)]
pub struct UpdateRequest {
    #[serde(default, deserialize_with = "present")]
    pub label_override: Option<Option<String>>,
    pub is_read: Option<bool>,
}

/// `POST /unibox/conversations/:id/reply`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReplyRequest {
    pub content: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecipientDto {
    pub email: String,
    /// The display name; `""` when the address came without one (the contract types it string).
    pub name: String,
}

impl From<Recipient> for RecipientDto {
    fn from(r: Recipient) -> Self {
        Self {
            email: r.email,
            name: r.name.unwrap_or_default(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttachmentDto {
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
}

impl From<AttachmentMeta> for AttachmentDto {
    fn from(a: AttachmentMeta) -> Self {
        Self {
            id: a.id.to_string(),
            filename: a.filename,
            content_type: a.content_type,
            size: a.size,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageDto {
    pub direction: &'static str,
    pub inbox_id: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub from_email: String,
    pub to_recipients: Vec<RecipientDto>,
    pub cc_recipients: Vec<RecipientDto>,
    pub bcc_recipients: Vec<RecipientDto>,
    #[serde(with = "time::serde::rfc3339")]
    pub email_date: OffsetDateTime,
    pub is_read: bool,
    pub attachments: Vec<AttachmentDto>,
}

impl From<Message> for MessageDto {
    fn from(m: Message) -> Self {
        let list = |v: Vec<Recipient>| v.into_iter().map(RecipientDto::from).collect();
        Self {
            direction: m.direction.as_str(),
            inbox_id: m.inbox_id.to_string(),
            subject: m.subject,
            text_body: m.text_body,
            html_body: m.html_body,
            from_email: m.from_email,
            to_recipients: list(m.to),
            cc_recipients: list(m.cc),
            bcc_recipients: list(m.bcc),
            email_date: m.email_date,
            is_read: m.is_read,
            attachments: m.attachments.into_iter().map(AttachmentDto::from).collect(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationDto {
    pub id: String,
    pub label: Option<&'static str>,
    pub is_positive: bool,
    pub lead_id: Option<String>,
    pub messages: Vec<MessageDto>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Conversation> for ConversationDto {
    fn from(c: Conversation) -> Self {
        Self {
            id: c.id.to_string(),
            label: c.effective_label().map(|l| l.as_str()),
            is_positive: c.is_positive(),
            lead_id: c.lead_id.map(|l| l.to_string()),
            created_at: c.created_at,
            updated_at: c.updated_at,
            messages: c.messages.into_iter().map(MessageDto::from).collect(),
        }
    }
}
