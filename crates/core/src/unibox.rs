//! The unibox: conversations between an inbox and a lead (or the recipients of a conversation
//! started by hand), their messages and attachments; starting a conversation and replying in
//! one send through the inbox's SMTP right away.

use std::sync::Arc;

use async_trait::async_trait;
use reachkit_domain::email::EmailAddress;
use reachkit_domain::label::ReplyLabel;
use time::OffsetDateTime;

use crate::StoreError;
use crate::clock::Clock;
use crate::engine::{SendInbox, smtp_login};
use crate::ids::{AttachmentId, ConversationId, InboxId, LeadId, MessageId, WorkspaceId};
use crate::paging::{Page, PageRequest};
use crate::secrets::SecretBox;
use crate::sending::{MailSender, Mailbox, OutgoingEmail, SendError};
pub use crate::sync::Recipient;

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Outgoing,
    Incoming,
}

impl Direction {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Outgoing => "outgoing",
            Self::Incoming => "incoming",
        }
    }
}

/// What kind of email a message is (`messages.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// Sent by a campaign.
    Campaign,
    /// Sent from the unibox (a new conversation or a reply).
    Manual,
    /// A human reply.
    Reply,
    /// An out-of-office or other automatic answer.
    AutoReply,
}

impl MessageKind {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Campaign => "campaign",
            Self::Manual => "manual",
            Self::Reply => "reply",
            Self::AutoReply => "auto_reply",
        }
    }
}

/// An attachment's description (the bytes come from [`ConversationRepository::attachment`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentMeta {
    pub id: AttachmentId,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
}

/// A downloadable attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentContent {
    pub filename: String,
    pub content_type: String,
    pub content: Vec<u8>,
}

/// One email of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    pub direction: Direction,
    pub kind: MessageKind,
    pub inbox_id: InboxId,
    /// Message-ID header, without angle brackets.
    pub rfc_message_id: String,
    pub in_reply_to: Option<String>,
    /// References header, oldest first, without brackets.
    pub references: Vec<String>,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub from_email: String,
    pub to: Vec<Recipient>,
    pub cc: Vec<Recipient>,
    pub bcc: Vec<Recipient>,
    pub email_date: OffsetDateTime,
    pub is_read: bool,
    pub attachments: Vec<AttachmentMeta>,
}

/// A conversation with its messages, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub id: ConversationId,
    pub workspace_id: WorkspaceId,
    pub inbox_id: InboxId,
    pub lead_id: Option<LeadId>,
    pub subject: String,
    /// The classifier's label.
    pub label: Option<ReplyLabel>,
    /// Set through the API; wins while set.
    pub label_override: Option<ReplyLabel>,
    pub messages: Vec<Message>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Conversation {
    /// The label shown: the override while set, else the classifier's.
    #[must_use]
    pub fn effective_label(&self) -> Option<ReplyLabel> {
        self.label_override.or(self.label)
    }

    /// Whether the effective label is positive (false without a label).
    #[must_use]
    pub fn is_positive(&self) -> bool {
        self.effective_label().is_some_and(ReplyLabel::is_positive)
    }
}

/// The unibox folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    /// A human reply, or started by hand.
    Primary,
    /// The rest (automatic answers only).
    Others,
}

impl Folder {
    /// Parses `primary` or `others` (exact).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "primary" => Some(Self::Primary),
            "others" => Some(Self::Others),
            _ => None,
        }
    }

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Others => "others",
        }
    }
}

/// A listing request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConversationQuery {
    pub page: PageRequest,
    /// Lower-cased, trimmed, non-empty: matched anywhere in the subject, any address (from,
    /// to, cc) or the text of any message of the conversation.
    pub search: Option<String>,
    pub folder: Option<Folder>,
}

/// What a PATCH changes; `None` leaves a field alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConversationChanges {
    /// `Some(None)` clears the override.
    pub label_override: Option<Option<ReplyLabel>>,
    /// Sets every incoming message read or unread.
    pub is_read: Option<bool>,
}

/// A conversation started by hand, with its first (already sent) message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConversation {
    pub id: ConversationId,
    pub workspace_id: WorkspaceId,
    pub inbox_id: InboxId,
    pub subject: String,
    pub message: Message,
    pub at: OffsetDateTime,
}

/// Where conversations are kept. Every method is scoped to one workspace.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ConversationRepository: Send + Sync {
    /// One page of the workspace's conversations matching the query, most recent activity
    /// first, each with its messages and their attachments' descriptions.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn list(
        &self,
        workspace_id: WorkspaceId,
        query: &ConversationQuery,
    ) -> Result<Page<Conversation>, StoreError>;

    /// The conversation, if it belongs to the workspace.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn get(
        &self,
        workspace_id: WorkspaceId,
        id: ConversationId,
    ) -> Result<Option<Conversation>, StoreError>;

    /// Applies the changes in one transaction (keeping `is_positive` that of the effective
    /// label, and `updated_at = now`) and MUST return the conversation as it is then; `None`
    /// when it does not belong to the workspace.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn update(
        &self,
        workspace_id: WorkspaceId,
        id: ConversationId,
        changes: ConversationChanges,
        now: OffsetDateTime,
    ) -> Result<Option<Conversation>, StoreError>;

    /// The inbox to send from with its sealed SMTP password: `inbox_id` when it belongs to the
    /// workspace, else (without one) the workspace's first active inbox (oldest first).
    ///
    /// # Errors
    /// [`StoreError`].
    async fn sending_inbox(
        &self,
        workspace_id: WorkspaceId,
        inbox_id: Option<InboxId>,
    ) -> Result<Option<SendInbox>, StoreError>;

    /// Stores a conversation started by hand (folder primary) with its first message.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn create(&self, conversation: &NewConversation) -> Result<Conversation, StoreError>;

    /// Appends a message to the conversation (bumping its activity time) and MUST return it;
    /// `None` when the conversation does not belong to the workspace.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn add_message(
        &self,
        workspace_id: WorkspaceId,
        conversation_id: ConversationId,
        message: &Message,
        now: OffsetDateTime,
    ) -> Result<Option<Message>, StoreError>;

    /// An attachment of one of the conversation's messages, with its bytes; `None` when any of
    /// the three does not match (or its content was too large to be stored).
    ///
    /// # Errors
    /// [`StoreError`].
    async fn attachment(
        &self,
        workspace_id: WorkspaceId,
        conversation_id: ConversationId,
        attachment_id: AttachmentId,
    ) -> Result<Option<AttachmentContent>, StoreError>;
}

/// Most recipients of a conversation started by hand.
pub const MAX_RECIPIENTS: usize = 50;
/// Longest subject accepted.
pub const MAX_SUBJECT_CHARS: usize = 998;

/// A new conversation, as asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StartConversation {
    pub inbox_id: Option<InboxId>,
    /// (email, name)
    pub to: Vec<(String, Option<String>)>,
    pub subject: String,
    pub content: String,
}

/// Why a unibox operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UniboxError {
    #[error("conversation not found")]
    NotFound,
    /// A request field is invalid: (field, message).
    #[error("{0}: {1}")]
    Invalid(String, String),
    /// The SMTP server refused the email or could not be reached (nothing was stored).
    #[error("the email could not be sent: {0}")]
    Send(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &str, message: &str) -> UniboxError {
    UniboxError::Invalid(field.to_owned(), message.to_owned())
}

/// The unibox use cases.
#[derive(Clone)]
pub struct UniboxService {
    repo: Arc<dyn ConversationRepository>,
    sender: Arc<dyn MailSender>,
    secrets: Arc<dyn SecretBox>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for UniboxService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UniboxService").finish_non_exhaustive()
    }
}

/// The HTML body normalised to the allowlist and its text version.
fn bodies(content: &str) -> Result<(String, String), UniboxError> {
    let html = reachkit_domain::html::sanitize(content);
    if !reachkit_domain::html::has_content(&html) {
        return Err(invalid("content", "is required"));
    }
    let text = reachkit_domain::html::to_text(&html);
    Ok((html, text))
}

fn new_message_id(inbox_email: &str) -> String {
    let domain = inbox_email.rsplit_once('@').map_or("localhost", |(_, d)| d);
    format!("{}@{}", uuid::Uuid::now_v7().simple(), domain)
}

fn from_mailbox(inbox: &SendInbox) -> Mailbox {
    let name = format!("{} {}", inbox.first_name.trim(), inbox.last_name.trim())
        .trim()
        .to_owned();
    Mailbox {
        name: (!name.is_empty()).then_some(name),
        email: inbox.email.clone(),
    }
}

impl UniboxService {
    #[must_use]
    pub fn new(
        repo: Arc<dyn ConversationRepository>,
        sender: Arc<dyn MailSender>,
        secrets: Arc<dyn SecretBox>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            repo,
            sender,
            secrets,
            clock,
        }
    }

    /// One page of conversations.
    ///
    /// # Errors
    /// The store's failure.
    pub async fn list(
        &self,
        workspace_id: WorkspaceId,
        query: &ConversationQuery,
    ) -> Result<Page<Conversation>, UniboxError> {
        Ok(self.repo.list(workspace_id, query).await?)
    }

    /// One conversation.
    ///
    /// # Errors
    /// [`UniboxError::NotFound`], or the store's failure.
    pub async fn get(
        &self,
        workspace_id: WorkspaceId,
        id: ConversationId,
    ) -> Result<Conversation, UniboxError> {
        self.repo
            .get(workspace_id, id)
            .await?
            .ok_or(UniboxError::NotFound)
    }

    /// Changes the label override and/or the read state.
    ///
    /// # Errors
    /// [`UniboxError::NotFound`], or the store's failure.
    pub async fn update(
        &self,
        workspace_id: WorkspaceId,
        id: ConversationId,
        changes: ConversationChanges,
    ) -> Result<Conversation, UniboxError> {
        self.repo
            .update(workspace_id, id, changes, self.clock.now())
            .await?
            .ok_or(UniboxError::NotFound)
    }

    /// An attachment's bytes.
    ///
    /// # Errors
    /// [`UniboxError::NotFound`], or the store's failure.
    pub async fn attachment(
        &self,
        workspace_id: WorkspaceId,
        conversation_id: ConversationId,
        attachment_id: AttachmentId,
    ) -> Result<AttachmentContent, UniboxError> {
        self.repo
            .attachment(workspace_id, conversation_id, attachment_id)
            .await?
            .ok_or(UniboxError::NotFound)
    }

    /// Sends `email` to each recipient (one SMTP session; each recipient gets a copy addressed
    /// to them, sharing the Message-ID).
    async fn send(
        &self,
        inbox: &SendInbox,
        email: &OutgoingEmail,
        to: &[Recipient],
    ) -> Result<(), UniboxError> {
        let login = smtp_login(self.secrets.as_ref(), inbox).map_err(UniboxError::Send)?;
        let mut session = self
            .sender
            .connect(&login)
            .await
            .map_err(|e| UniboxError::Send(e.to_string()))?;
        let mut result: Result<(), SendError> = Ok(());
        for recipient in to {
            let mut copy = email.clone();
            copy.to = Mailbox {
                name: recipient.name.clone(),
                email: recipient.email.clone(),
            };
            result = session.send(&inbox.email, &copy).await;
            if result.is_err() {
                break;
            }
        }
        session.close().await;
        result.map_err(|e| {
            tracing::warn!(inbox = %inbox.id, error = %e, "unibox email not sent");
            UniboxError::Send(e.to_string())
        })
    }

    /// Starts a conversation: validates, sends the first email now, stores it.
    ///
    /// # Errors
    /// [`UniboxError::Invalid`] naming the field (`inbox_id` when there is no usable inbox),
    /// [`UniboxError::Send`] when the SMTP server refused it, or the store's failure.
    pub async fn start(
        &self,
        workspace_id: WorkspaceId,
        request: StartConversation,
    ) -> Result<Conversation, UniboxError> {
        if request.to.is_empty() {
            return Err(invalid("to", "needs at least one recipient"));
        }
        if request.to.len() > MAX_RECIPIENTS {
            return Err(invalid(
                "to",
                &format!("at most {MAX_RECIPIENTS} recipients"),
            ));
        }
        let mut to = Vec::with_capacity(request.to.len());
        for (i, (email, name)) in request.to.iter().enumerate() {
            let email = EmailAddress::parse(email)
                .map_err(|_| invalid(&format!("to[{i}].email"), "is not a valid email address"))?;
            let name = name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned);
            if name.as_deref().is_some_and(|n| n.contains(['\r', '\n'])) {
                return Err(invalid(&format!("to[{i}].name"), "must be one line"));
            }
            to.push(Recipient {
                email: email.as_str().to_owned(),
                name,
            });
        }
        let subject = request.subject.trim().to_owned();
        if subject.is_empty() {
            return Err(invalid("subject", "is required"));
        }
        if subject.chars().count() > MAX_SUBJECT_CHARS || subject.contains(['\r', '\n']) {
            return Err(invalid(
                "subject",
                &format!("must be one line of at most {MAX_SUBJECT_CHARS} characters"),
            ));
        }
        let (html, text) = bodies(&request.content)?;
        let inbox = self
            .repo
            .sending_inbox(workspace_id, request.inbox_id)
            .await?
            .ok_or_else(|| match request.inbox_id {
                Some(_) => invalid("inbox_id", "no such inbox in this workspace"),
                None => invalid("inbox_id", "the workspace has no active inbox"),
            })?;
        let now = self.clock.now();
        let message_id = new_message_id(&inbox.email);
        let email = OutgoingEmail {
            message_id: message_id.clone(),
            from: from_mailbox(&inbox),
            to: Mailbox {
                name: None,
                email: String::new(),
            },
            reply_to: (!inbox.reply_to.trim().is_empty()).then(|| inbox.reply_to.clone()),
            subject: subject.clone(),
            text: text.clone(),
            html: Some(html.clone()),
            in_reply_to: None,
            references: Vec::new(),
            list_unsubscribe: None,
            extra_headers: Vec::new(),
            date: now,
        };
        self.send(&inbox, &email, &to).await?;
        let message = Message {
            id: MessageId::new(),
            direction: Direction::Outgoing,
            kind: MessageKind::Manual,
            inbox_id: inbox.id,
            rfc_message_id: message_id,
            in_reply_to: None,
            references: Vec::new(),
            subject: subject.clone(),
            text_body: text,
            html_body: html,
            from_email: inbox.email.clone(),
            to,
            cc: Vec::new(),
            bcc: Vec::new(),
            email_date: now,
            is_read: true,
            attachments: Vec::new(),
        };
        Ok(self
            .repo
            .create(&NewConversation {
                id: ConversationId::new(),
                workspace_id,
                inbox_id: inbox.id,
                subject,
                message,
                at: now,
            })
            .await?)
    }

    /// Replies in the conversation through its inbox: `Re:` its subject, In-Reply-To the last
    /// incoming message (or the last message), References its chain; to the sender of the last
    /// incoming message, or to the recipients of our last email when nobody answered yet.
    ///
    /// # Errors
    /// [`UniboxError::NotFound`], [`UniboxError::Invalid`] for empty content or a conversation
    /// whose inbox is gone, [`UniboxError::Send`], or the store's failure.
    pub async fn reply(
        &self,
        workspace_id: WorkspaceId,
        conversation_id: ConversationId,
        content: &str,
    ) -> Result<Message, UniboxError> {
        let conversation = self.get(workspace_id, conversation_id).await?;
        let (html, text) = bodies(content)?;
        let inbox = self
            .repo
            .sending_inbox(workspace_id, Some(conversation.inbox_id))
            .await?
            .ok_or_else(|| invalid("inbox_id", "the conversation's inbox no longer exists"))?;
        let last_incoming = conversation
            .messages
            .iter()
            .rev()
            .find(|m| m.direction == Direction::Incoming);
        let Some(parent) = last_incoming.or_else(|| conversation.messages.last()) else {
            return Err(invalid("conversation", "has no message to reply to"));
        };
        let to: Vec<Recipient> = match last_incoming {
            Some(m) => vec![Recipient {
                email: m.from_email.clone(),
                name: None,
            }],
            None => parent.to.clone(),
        };
        if to.is_empty() {
            return Err(invalid("conversation", "has no recipient to reply to"));
        }
        let mut references = parent.references.clone();
        if !parent.rfc_message_id.is_empty() && !references.contains(&parent.rfc_message_id) {
            references.push(parent.rfc_message_id.clone());
        }
        let base = if conversation.subject.trim().is_empty() {
            parent.subject.trim()
        } else {
            conversation.subject.trim()
        };
        let subject = if base.to_ascii_lowercase().starts_with("re:") {
            base.to_owned()
        } else {
            format!("Re: {base}")
        };
        let now = self.clock.now();
        let message_id = new_message_id(&inbox.email);
        let in_reply_to =
            (!parent.rfc_message_id.is_empty()).then(|| parent.rfc_message_id.clone());
        let email = OutgoingEmail {
            message_id: message_id.clone(),
            from: from_mailbox(&inbox),
            to: Mailbox {
                name: None,
                email: String::new(),
            },
            reply_to: (!inbox.reply_to.trim().is_empty()).then(|| inbox.reply_to.clone()),
            subject: subject.clone(),
            text: text.clone(),
            html: Some(html.clone()),
            in_reply_to: in_reply_to.clone(),
            references: references.clone(),
            list_unsubscribe: None,
            extra_headers: Vec::new(),
            date: now,
        };
        self.send(&inbox, &email, &to).await?;
        let message = Message {
            id: MessageId::new(),
            direction: Direction::Outgoing,
            kind: MessageKind::Manual,
            inbox_id: inbox.id,
            rfc_message_id: message_id,
            in_reply_to,
            references,
            subject,
            text_body: text,
            html_body: html,
            from_email: inbox.email.clone(),
            to,
            cc: Vec::new(),
            bcc: Vec::new(),
            email_date: now,
            is_read: true,
            attachments: Vec::new(),
        };
        self.repo
            .add_message(workspace_id, conversation_id, &message, now)
            .await?
            .ok_or(UniboxError::NotFound)
    }
}

#[cfg(test)]
mod tests;
