//! Reachkit's mail adapters.
//!
//! The inbound part is pure: [`inbound::classify`] reads one raw message
//! (`&[u8]`, as fetched over IMAP) and says whether it is a bounce, an auto-reply, a human message
//! that may be a reply, or something else, with the headers the inbox sync needs to match it to
//! what was sent. No I/O happens there.
//!
//! [`smtp::SmtpSender`] sends campaign email (the `MailSender` port); [`smtp::compose`] renders
//! an `OutgoingEmail` to RFC 5322 bytes. [`mx::HickoryMxResolver`] looks up MX records for ESP
//! detection (the `MxResolver` port).
//!
//! [`imap::ImapReader`] reads inboxes for the inbox sync (the `MailboxReader` port) and
//! [`imap::MailAnalyzer`] turns raw messages into the sync's `InboundMessage`.
//!
//! [`check::MailChecker`] logs in to an inbox's SMTP and IMAP servers for the background
//! connection check (the `MailboxChecker` port of `reachkit-core`).

pub mod check;
pub mod imap;
pub mod imap_idle;
pub mod inbound;
pub mod mx;
pub mod reply;
pub mod smtp;
pub mod webhook;

pub use inbound::{
    BounceInfo, BounceReason, BouncedRecipient, Classification, Kind, OtherReason, bounce_reason,
    classify, cli_json,
};
