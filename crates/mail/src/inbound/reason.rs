//! Why a message bounced, and whether that makes the address itself bad (a hard bounce).
//!
//! The rule, measured against the bounce corpus (see `docs/INBOUND.md`): a bounce is **hard only
//! when the address itself is definitively bad** (unknown user, unknown host, moved, or a domain
//! that accepts no mail at all). A permanent `5.x.x` failure for any other reason (mailbox full,
//! spam filter, policy, blocked IP, disabled account) is soft: the mail failed for good but the
//! address may still be valid, so the lead is retried later rather than suppressed.
//!
//! The reason comes from the diagnostic text first, because status codes are often generic or
//! wrong (`5.2.1 ... User Unknown`, `5.1.1 ... mailbox full`), and from the status code only
//! when the text says nothing recognisable.

use serde::Serialize;

use super::text::contains_any;

/// Why a recipient bounced, as far as the message tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BounceReason {
    /// The mailbox does not exist (hard).
    UserUnknown,
    /// The domain does not resolve or has no mail server (hard).
    HostUnknown,
    /// The recipient has moved and left no forwarding (hard).
    HasMoved,
    /// The domain accepts no mail at all, e.g. a null MX (hard unless temporary).
    NotAccept,
    /// Mailbox full or over quota (soft).
    MailboxFull,
    /// Account disabled, suspended or inactive (soft: may come back).
    Suspended,
    /// Spam filters, content, authentication or policy rejections, blocked senders (soft).
    Rejected,
    /// The message was too large (soft).
    MessageTooBig,
    /// Delivery was delayed or gave up after retrying, or the network failed (soft).
    Expired,
    /// Nothing recognisable (soft).
    Undefined,
}

impl BounceReason {
    /// Whether the address itself is bad, given the status code of the failure.
    #[must_use]
    pub fn is_hard(self, status: Option<&str>) -> bool {
        match self {
            Self::UserUnknown | Self::HasMoved => true,
            // A DNS failure reported as temporary (`4.x.x`) may clear up by itself.
            Self::HostUnknown => !status.is_some_and(|s| s.starts_with('4')),
            // A temporary "does not accept mail" is a remote hiccup, not a verdict on the domain.
            Self::NotAccept => !status.is_some_and(|s| s.starts_with('4')),
            _ => false,
        }
    }
}

const MAILBOX_FULL: &[&str] = &[
    "mailbox full",
    "mailbox is full",
    "mailbox has exceeded",
    "mailbox exceeds",
    "mailbox is over",
    "mailfolder is full",
    "full mailbox",
    "over quota",
    "overquota",
    "over the quota",
    "quota exceeded",
    "exceeded quota",
    "exceeds quota",
    "exceeded its quota",
    "quota full",
    "disk quota",
    "quota",
    "insufficient storage",
    "insufficient system storage",
    "exceeded storage",
    "storage limit",
    "mailbox size limit",
    "not enough space",
    "out of space",
    "user is over",
    "too much mail",
];

const SUSPENDED: &[&str] = &[
    "account disabled",
    "account is disabled",
    "account has been disabled",
    "is disabled",
    "mailbox disabled",
    "mailbox is disabled",
    "suspended",
    "deactivated",
    "inactive",
    "is not active",
    "account expired",
    "has been frozen",
    "temporarily disabled",
];

const HAS_MOVED: &[&str] = &["has moved", "have moved", "user moved"];

const USER_UNKNOWN: &[&str] = &[
    "user unknown",
    "unknown user",
    "unknown recipient",
    "recipient unknown",
    "addressee unknown",
    "unknown address",
    "unknown mailbox",
    "unknown local part",
    "unknown or illegal alias",
    "unknown email address",
    "no such user",
    "no such mailbox",
    "no such recipient",
    "no such address",
    "no such account",
    "no such person",
    "no mailbox here",
    "user not found",
    "recipient not found",
    "mailbox not found",
    "address not found",
    "account not found",
    "recipnotfound",
    "does not exist",
    "doesn't exist",
    "does not exists",
    "not exist",
    "invalid recipient",
    "invalid mailbox",
    "invalid address",
    "invalid user",
    "bad destination mailbox",
    "bad recipient",
    "not a valid mailbox",
    "not a valid recipient",
    "not a valid address",
    "is not a known user",
    "not listed in",
    "unrouteable address",
    "couldn't be found",
    "could not be found",
    "no longer valid",
    "no valid recipients",
    "mailbox unavailable or access denied",
    "user doesn't have",
    "no account by that name",
    "not our customer",
    "utilisateur inconnu",
    "adresse inconnue",
    "unbekannt",
    "no existe",
    "non esiste",
    "bad address syntax",
    "address syntax",
    "syntax error in",
];

const HOST_UNKNOWN: &[&str] = &[
    "host unknown",
    "unknown host",
    "host not found",
    "domain not found",
    "host or domain name not found",
    "name or service not known",
    "host name lookup failure",
    "domain does not exist",
    "domain name not found",
    "no such domain",
    "unknown domain",
    "unrouteable mail domain",
    "nxdomain",
    "no mx record",
    "no mx for",
    "bad destination host",
    "illegal host",
    "domain is not reachable",
    "domain isn't reachable",
];

/// Rejections of the recipient that name no cause: a bad address unless policy words say
/// otherwise (Microsoft 365 answers unknown recipients with "Recipient address rejected:
/// Access denied").
const WEAK_USER_UNKNOWN: &[&str] = &[
    "recipient address rejected",
    "address rejected",
    "recipient rejected",
    "mailbox unavailable",
];

/// Words that make a recipient rejection a policy decision rather than a bad address.
const POLICY_WORDS: &[&str] = &[
    "spam",
    "policy",
    "greylist",
    "graylist",
    "block",
    "blacklist",
    "rbl",
    "dnsbl",
    "listed",
    "reputation",
    "spf",
    "dmarc",
    "dkim",
    "rate",
    "too many",
    "virus",
    "content",
    "relay",
    "try again",
    "try later",
];

/// The failure happened after the message was sent (`DATA`), not when the recipient was
/// named: a "user unknown" there is a content filter's answer and says nothing about the
/// address.
const AFTER_DATA: &[&str] = &[
    ">>> data",
    "after data",
    "after end of data",
    "end of data command",
    "in reply to data command",
    "for text command",
];

/// The failure names the recipient explicitly (`RCPT TO`).
const AT_RCPT: &[&str] = &["rcpt to", "does not like recipient", "rcpt command"];

/// The failure concerns our sender address, not the recipient.
const SENDER_SIDE: &[&str] = &[
    "after mail from",
    "in reply to mail from",
    "sender address rejected",
];

const NOT_ACCEPT: &[&str] = &[
    "does not accept mail",
    "doesn't accept mail",
    "not accept any mail",
    "accepts no mail",
    "does not receive mail",
    "null mx",
    "nullmx",
];

const TOO_BIG: &[&str] = &[
    "message too big",
    "message too large",
    "message is too large",
    "message size exceeds",
    "exceeds size",
    "size limit",
    "too large",
];

const EXPIRED: &[&str] = &[
    "retry timeout",
    "retry time",
    "timed out",
    "time out",
    "timeout",
    "has been delayed",
    "delayed",
    "deferred",
    "expired",
    "could not be delivered within",
    "gave up",
    "giving up",
    "connection refused",
    "network",
];

const REJECTED: &[&str] = &[
    "spam",
    "blocked",
    "blacklist",
    "block list",
    "blocklist",
    "denied",
    "policy",
    "dmarc",
    "spf",
    "dkim",
    "reputation",
    "not authorized",
    "unauthenticated",
    "relay",
    "rejected",
    "refused",
    "filter",
    "virus",
    "content",
    "rate limit",
    "too many",
];

/// The reason a diagnostic text (any case, any whitespace) and a status code point to.
///
/// Also meant for failures seen at SMTP time: pass the server's reply text and its enhanced
/// status code (if any), then ask [`BounceReason::is_hard`].
#[must_use]
pub fn bounce_reason(diagnostic: &str, status: Option<&str>) -> BounceReason {
    reason_in_context(diagnostic, "", status)
}

/// Like [`reason`], with the surrounding report text (an SMTP transcript, say) telling at
/// which stage of the SMTP dialogue the failure happened.
#[must_use]
pub(crate) fn reason_in_context(
    diagnostic: &str,
    context: &str,
    status: Option<&str>,
) -> BounceReason {
    let text = diagnostic.to_lowercase();
    let stage = format!("{text} {}", context.to_lowercase());
    // A rejection of our sender address says nothing about the recipient's.
    if contains_any(&text, SENDER_SIDE) {
        return BounceReason::Rejected;
    }
    // Soft reasons that often come with words of the hard ones ("mailbox ... does not have
    // enough space", "account ... is disabled") are checked first.
    if contains_any(&text, MAILBOX_FULL) {
        return BounceReason::MailboxFull;
    }
    if contains_any(&text, SUSPENDED) {
        return BounceReason::Suspended;
    }
    if contains_any(&text, HAS_MOVED) {
        return BounceReason::HasMoved;
    }
    if contains_any(&text, NOT_ACCEPT) {
        return BounceReason::NotAccept;
    }
    if contains_any(&text, HOST_UNKNOWN) {
        return BounceReason::HostUnknown;
    }
    let status_subject = status.and_then(|s| s.split('.').nth(1));
    let explicit_user_unknown = status.is_some_and(|s| s.ends_with(".1.1"));
    if contains_any(&text, USER_UNKNOWN) {
        // Sisimai's "filtered": a user-unknown answer to the message (after DATA), or with a
        // 5.2.x mailbox status, without the recipient being named at RCPT time.
        let filtered = !explicit_user_unknown
            && !contains_any(&stage, AT_RCPT)
            && (contains_any(&stage, AFTER_DATA) || status_subject == Some("2"));
        return if filtered {
            BounceReason::Rejected
        } else {
            BounceReason::UserUnknown
        };
    }
    if let Some(from_status) = status.and_then(reason_from_status) {
        return from_status;
    }
    if contains_any(&text, TOO_BIG) {
        return BounceReason::MessageTooBig;
    }
    if contains_any(&text, WEAK_USER_UNKNOWN) && !contains_any(&text, POLICY_WORDS) {
        return BounceReason::UserUnknown;
    }
    if contains_any(&text, REJECTED) {
        return BounceReason::Rejected;
    }
    if contains_any(&text, EXPIRED) {
        return BounceReason::Expired;
    }
    BounceReason::Undefined
}

/// RFC 3463 subject and detail codes that name a reason unambiguously.
fn reason_from_status(status: &str) -> Option<BounceReason> {
    let mut parts = status.splitn(3, '.');
    let _class = parts.next()?;
    let subject = parts.next()?;
    let detail = parts.next()?;
    match (subject, detail) {
        ("1", "1" | "3" | "10") => Some(BounceReason::UserUnknown),
        ("1", "2") => Some(BounceReason::HostUnknown),
        ("1", "6") => Some(BounceReason::HasMoved),
        ("2", "2") => Some(BounceReason::MailboxFull),
        ("2", "1") => Some(BounceReason::Suspended),
        ("3", "4") | ("2", "3") => Some(BounceReason::MessageTooBig),
        ("4", "7") => Some(BounceReason::Expired),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_beats_a_generic_or_wrong_status() {
        assert_eq!(
            bounce_reason(
                "does not like recipient. 550 5.2.1 <a@b.example>... User Unknown",
                Some("5.2.1")
            ),
            BounceReason::UserUnknown
        );
        assert_eq!(
            bounce_reason("550 5.1.1 mailbox is full", Some("5.1.1")),
            BounceReason::MailboxFull
        );
    }

    #[test]
    fn user_unknown_after_data_is_a_content_filter() {
        let transcript = ">>> DATA <<< 550 Unknown user a@b.example 554 5.0.0 Service unavailable";
        assert_eq!(
            bounce_reason(transcript, Some("5.2.0")),
            BounceReason::Rejected
        );
        assert_eq!(
            bounce_reason("550 5.2.1 <a@b.example>... User Unknown", Some("5.2.1")),
            BounceReason::Rejected
        );
    }

    #[test]
    fn unexplained_recipient_rejections_are_bad_addresses_unless_policy_says_so() {
        assert_eq!(
            bounce_reason(
                "550 5.4.1 Recipient address rejected: Access denied",
                Some("5.4.1")
            ),
            BounceReason::UserUnknown
        );
        assert_eq!(
            bounce_reason(
                "554 Recipient address rejected: blocked by RBL",
                Some("5.7.1")
            ),
            BounceReason::Rejected
        );
        assert_eq!(
            bounce_reason(
                "SMTP error after MAIL FROM: 553 5.1.0 domain does not exist",
                Some("5.1.0")
            ),
            BounceReason::Rejected
        );
    }

    #[test]
    fn status_decides_when_the_text_is_silent() {
        assert_eq!(
            bounce_reason("550 blah", Some("5.1.1")),
            BounceReason::UserUnknown
        );
        assert_eq!(bounce_reason("", Some("5.2.2")), BounceReason::MailboxFull);
        assert_eq!(bounce_reason("", None), BounceReason::Undefined);
    }

    #[test]
    fn only_a_bad_address_is_hard() {
        assert!(BounceReason::UserUnknown.is_hard(Some("4.1.1")));
        assert!(BounceReason::NotAccept.is_hard(Some("5.1.10")));
        assert!(!BounceReason::NotAccept.is_hard(Some("4.0.0")));
        assert!(!BounceReason::MailboxFull.is_hard(Some("5.2.2")));
        assert!(!BounceReason::Rejected.is_hard(Some("5.7.1")));
    }
}
