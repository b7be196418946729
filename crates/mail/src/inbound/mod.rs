//! Inbound mail classification: bounce, auto-reply, reply or other.
//!
//! [`classify`] is pure: it takes the raw bytes of one message and returns a [`Classification`]
//! with the verdict, the bounced recipients (address, status code, hard or soft) and the headers
//! the inbox sync needs to match the message to what was sent. The rules and their measured
//! accuracy are in `docs/INBOUND.md`; in short, in this order:
//!
//! 1. ARF feedback reports (`report-type=feedback-report`) are complaints: [`Kind::Other`].
//! 2. RFC 3464 delivery-status reports: every per-recipient block with `Action: failed` (hard or
//!    soft) or `delayed` (always soft) is a bounced recipient; a report with only
//!    delivered/relayed/expanded recipients is a success notice: [`Kind::Other`].
//! 3. Non-standard bounces (qmail, Exim, Sendmail, Exchange, Gmail, Yahoo, Amazon SES, Japanese
//!    carriers, ...): a bounce-like sender, subject or `X-Failed-Recipients` header together with
//!    bounce-like text.
//! 4. Auto-replies: RFC 3834 `Auto-Submitted`, `X-Autoreply`-style headers, `Precedence`,
//!    out-of-office subjects and text in several languages (rules in `autoreply.rs`).
//! 5. Everything else is a human message that may be a reply: [`Kind::Reply`].

mod autoreply;
mod bounce;
mod dsn;
mod reason;
mod text;

use mail_parser::{HeaderValue, Message, MessageParser};
use serde::Serialize;

pub use reason::{BounceReason, bounce_reason};

/// What a message is, for the inbox sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A delivery failure report (DSN or a non-standard one).
    Bounce,
    /// An out-of-office, vacation notice or autoresponder answer: shown, never a reply.
    AutoReply,
    /// A message written by a human, which may answer something we sent (the sync matches it).
    Reply,
    /// Anything else: complaints (ARF), success notices, automated or list mail, unreadable input.
    Other,
}

impl Kind {
    /// The name used on the command line and in JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bounce => "bounce",
            Self::AutoReply => "auto_reply",
            Self::Reply => "reply",
            Self::Other => "other",
        }
    }
}

/// Why a message is [`Kind::Other`], when there is more to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OtherReason {
    /// An ARF feedback report: a recipient complained (marked the mail as spam).
    Complaint,
    /// A delivery-status report that only says the mail was delivered, relayed or expanded.
    DeliveryReport,
    /// Machine-sent mail that answers nothing (notifications, newsletters, list mail).
    Automated,
    /// The bytes could not be read as a message at all.
    Unparseable,
}

/// One recipient a bounce reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BouncedRecipient {
    /// The failed address, lower-case (the DSN `Final-Recipient`, else the best evidence).
    pub recipient: String,
    /// The address as originally sent to (`Original-Recipient`), when the report gives it and it
    /// differs: after an alias expansion this is the lead's address.
    pub original_recipient: Option<String>,
    /// RFC 3463 status code such as `5.1.1`, when the message carries one.
    pub status: Option<String>,
    /// Whether the address itself is bad and should be suppressed (see [`BounceReason::is_hard`]).
    pub hard: bool,
    /// Why it bounced, as far as the text and status tell.
    pub reason: BounceReason,
    /// A delay notice (`Action: delayed`, "Delivery Status Notification (Delay)"): the mail
    /// may still arrive; always soft.
    pub delayed: bool,
}

/// What a bounce tells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BounceInfo {
    /// The bounced recipients, in the order the report lists them (at least one, except for a
    /// bounce that names nobody recognisable).
    pub recipients: Vec<BouncedRecipient>,
    /// The `Message-ID` of the returned message (from the attached `message/rfc822` or
    /// `text/rfc822-headers` part, or a copy inlined in the text), without angle brackets.
    pub original_message_id: Option<String>,
}

/// The verdict on one inbound message, with what the sync needs to match it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    pub kind: Kind,
    /// More detail for [`Kind::Other`].
    pub other: Option<OtherReason>,
    /// Set exactly when `kind` is [`Kind::Bounce`].
    pub bounce: Option<BounceInfo>,
    /// `Message-ID`, without angle brackets.
    pub message_id: Option<String>,
    /// The first `In-Reply-To` id, without angle brackets.
    pub in_reply_to: Option<String>,
    /// `References` ids, oldest first, without angle brackets.
    pub references: Vec<String>,
    /// The `From` address as written (compare case-insensitively).
    pub from: Option<String>,
    /// The decoded `Subject`.
    pub subject: Option<String>,
    /// The plain-text body (derived from the HTML part when there is no text part).
    pub text: String,
}

impl Classification {
    fn unparseable() -> Self {
        Self {
            kind: Kind::Other,
            other: Some(OtherReason::Unparseable),
            bounce: None,
            message_id: None,
            in_reply_to: None,
            references: Vec::new(),
            from: None,
            subject: None,
            text: String::new(),
        }
    }
}

/// Classifies one raw message (RFC 5322 bytes, any line endings). Never panics.
#[must_use]
pub fn classify(raw: &[u8]) -> Classification {
    let Some(message) = MessageParser::default().parse(raw) else {
        return Classification::unparseable();
    };
    let subject = message.subject().map(str::to_owned);
    let text = body_text(&message);
    let mut out = Classification {
        kind: Kind::Reply,
        other: None,
        bounce: None,
        message_id: message.message_id().map(str::to_owned),
        in_reply_to: ids(message.in_reply_to()).into_iter().next(),
        references: ids(message.references()),
        from: message
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_owned),
        subject,
        text,
    };

    match bounce::examine(&message, &out.text) {
        bounce::Outcome::Bounce(info) => {
            out.kind = Kind::Bounce;
            out.bounce = Some(info);
            return out;
        }
        bounce::Outcome::Complaint => {
            out.kind = Kind::Other;
            out.other = Some(OtherReason::Complaint);
            return out;
        }
        bounce::Outcome::Delivered => {
            out.kind = Kind::Other;
            out.other = Some(OtherReason::DeliveryReport);
            return out;
        }
        bounce::Outcome::NotABounce => {}
    }

    let signals = autoreply::Signals {
        auto_submitted: header(&message, "auto-submitted"),
        autoreply_header: has_autoreply_header(&message),
        precedence: header(&message, "precedence"),
        list_mail: header(&message, "list-id").is_some()
            || header(&message, "list-unsubscribe").is_some(),
        null_return_path: header(&message, "return-path")
            .is_some_and(|v| v.trim().trim_matches(['<', '>']).trim().is_empty()),
        answers_something: out.in_reply_to.is_some() || !out.references.is_empty(),
        subject: out.subject.as_deref().unwrap_or_default(),
        body: &out.text,
    };
    match autoreply::verdict(&signals) {
        autoreply::Verdict::AutoReply => out.kind = Kind::AutoReply,
        autoreply::Verdict::Automated => {
            out.kind = Kind::Other;
            out.other = Some(OtherReason::Automated);
        }
        autoreply::Verdict::Human => out.kind = Kind::Reply,
    }
    out
}

/// The CLI shape of a classification:
/// `{"kind": "bounce"|"auto_reply"|"reply"|"other", "bounce": {"recipient", "status", "hard"}|null}`
/// with the first bounced recipient (an empty `recipient` when the bounce names nobody).
#[must_use]
pub fn cli_json(classification: &Classification) -> serde_json::Value {
    let bounce = classification.bounce.as_ref().map(|info| {
        let first = info.recipients.first();
        serde_json::json!({
            "recipient": first.map(|r| r.recipient.as_str()).unwrap_or_default(),
            "status": first.and_then(|r| r.status.as_deref()),
            "hard": first.is_some_and(|r| r.hard),
        })
    });
    serde_json::json!({
        "kind": classification.kind.as_str(),
        "bounce": bounce,
    })
}

/// The raw (undecoded, trimmed) value of the first header named `name` (case-insensitive).
pub(crate) fn header<'a>(message: &'a Message<'_>, name: &str) -> Option<&'a str> {
    message
        .headers_raw()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

fn has_autoreply_header(message: &Message<'_>) -> bool {
    message.headers_raw().any(|(name, value)| {
        let name = name.to_ascii_lowercase();
        let value = value.trim().to_ascii_lowercase();
        match name.as_str() {
            "x-autoreply" | "x-autorespond" | "x-autoresponder" | "x-auto-reply" | "x-vacation" => {
                !matches!(value.as_str(), "no" | "false" | "0")
            }
            "x-autogenerated" => value == "reply",
            "x-post-messageclass" => value.contains("autoresponder"),
            _ => false,
        }
    })
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    value
        .as_text_list()
        .map(|list| {
            list.iter()
                .map(|id| id.trim().trim_matches(['<', '>']).to_owned())
                .filter(|id| !id.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// All inline text bodies of the top-level message, HTML converted to text where needed.
fn body_text(message: &Message<'_>) -> String {
    let mut out = String::new();
    for pos in 0..message.text_body_count() {
        if let Some(text) = message.body_text(pos) {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&text);
        }
    }
    out
}
