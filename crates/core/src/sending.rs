//! The ports the sending engine drives to put an email on the wire.
//!
//! An adapter (SMTP in `reachkit-mail`) opens one session per inbox and sends many emails over
//! it; the engine decides what to send, when and from which inbox.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::connection_check::ServerLogin;

/// A name and an address, as in a From or To header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// Display name; `None` or empty for a bare address.
    pub name: Option<String>,
    pub email: String,
}

/// The two ways to unsubscribe that an email advertises (RFC 2369 and RFC 8058).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListUnsubscribe {
    /// The https one-click URL (POST unsubscribes, GET shows a confirmation page).
    pub url: String,
    /// A `mailto:` URI that reaches the sending inbox.
    pub mailto: String,
}

/// A fully rendered email, ready for the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// Our Message-ID, without angle brackets (`<id>@<domain>`); kept across retries.
    pub message_id: String,
    pub from: Mailbox,
    pub to: Mailbox,
    pub reply_to: Option<String>,
    pub subject: String,
    /// The text/plain part (always present).
    pub text: String,
    /// The text/html part; `None` for text-only emails.
    pub html: Option<String>,
    /// Message-ID this email answers (follow-ups in the same thread), without brackets.
    pub in_reply_to: Option<String>,
    /// The thread's Message-IDs, oldest first, without brackets.
    pub references: Vec<String>,
    /// List-Unsubscribe and List-Unsubscribe-Post, when the campaign offers unsubscribing.
    pub list_unsubscribe: Option<ListUnsubscribe>,
    /// Further headers (name, value), e.g. the warmup marker.
    pub extra_headers: Vec<(String, String)>,
    pub date: OffsetDateTime,
}

/// Why the SMTP server did not take an email.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// A 5xx reply: the recipient or the message was refused for good (a bounce).
    #[error("rejected: {code} {message}")]
    Rejected {
        code: u16,
        /// The enhanced status code (e.g. "5.1.1") when the server gave one.
        status: Option<String>,
        message: String,
    },
    /// A 4xx reply: try again later with the same Message-ID.
    #[error("deferred: {code} {message}")]
    Deferred {
        code: u16,
        status: Option<String>,
        message: String,
    },
    /// The server could not be reached, or the connection broke: try again later.
    #[error("connection failed: {0}")]
    Connection(String),
    /// The server refused our credentials.
    #[error("authentication failed: {0}")]
    Auth(String),
}

impl SendError {
    /// Whether the session can still be used after this error (the server answered a command;
    /// the connection itself is fine).
    #[must_use]
    pub const fn session_usable(&self) -> bool {
        matches!(self, Self::Rejected { .. } | Self::Deferred { .. })
    }
}

/// An open SMTP session for one inbox.
#[async_trait]
pub trait MailSession: Send {
    /// Sends one email with `envelope_from` as MAIL FROM (the inbox address, so bounces come
    /// back to the inbox) and the email's To address as the only RCPT TO.
    ///
    /// # Errors
    /// [`SendError`] classifying the server's answer or the failure.
    async fn send(&mut self, envelope_from: &str, email: &OutgoingEmail) -> Result<(), SendError>;

    /// Says QUIT and closes the connection (best effort).
    async fn close(self: Box<Self>);
}

/// Opens SMTP sessions.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MailSender: Send + Sync {
    /// Connects to the inbox's SMTP server, secures and authenticates the session as the login
    /// says (no AUTH when its username is empty), within a timeout.
    ///
    /// # Errors
    /// [`SendError::Connection`] or [`SendError::Auth`].
    async fn connect(&self, login: &ServerLogin) -> Result<Box<dyn MailSession>, SendError>;
}
