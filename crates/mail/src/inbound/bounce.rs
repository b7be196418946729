//! Bounce detection and extraction: RFC 3464 reports first, then the non-standard formats.

use std::collections::HashSet;

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

use super::dsn::{self, DsnRecipient};
use super::reason::{BounceReason, reason_in_context};
use super::text::{addresses, contains_any, dsn_address, enhanced_codes, squash, status_from_text};
use super::{BounceInfo, BouncedRecipient, header};

/// What the report-level look at a message found.
#[derive(Debug)]
pub(crate) enum Outcome {
    Bounce(BounceInfo),
    Complaint,
    Delivered,
    NotABounce,
}

/// Headers of the returned (original) message.
#[derive(Debug, Default)]
struct Original {
    message_id: Option<String>,
    to: Vec<String>,
    senders: Vec<String>,
}

impl Original {
    fn of(message: &Message<'_>) -> Self {
        let list = |a: Option<&mail_parser::Address<'_>>| -> Vec<String> {
            a.map(|a| {
                a.iter()
                    .filter_map(|x| x.address())
                    .map(str::to_ascii_lowercase)
                    .collect()
            })
            .unwrap_or_default()
        };
        let mut senders = list(message.from());
        senders.extend(list(message.sender()));
        senders.extend(list(message.reply_to()));
        if let Some(rp) = message.return_address() {
            senders.push(rp.to_ascii_lowercase());
        }
        Self {
            message_id: message.message_id().map(str::to_owned),
            to: list(message.to()),
            senders,
        }
    }

    fn is_empty(&self) -> bool {
        self.message_id.is_none() && self.to.is_empty() && self.senders.is_empty()
    }
}

/// Everything the parts of a message hold that matters for bounces.
#[derive(Debug, Default)]
struct Parts {
    delivery_status: Vec<String>,
    feedback: bool,
    original: Option<Original>,
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn gather(message: &Message<'_>) -> Parts {
    let mut parts = Parts::default();
    if let Some(ct) = message.root_part().content_type() {
        let report_type = ct.attribute("report-type").unwrap_or_default();
        if ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && report_type.eq_ignore_ascii_case("feedback-report")
        {
            parts.feedback = true;
        }
    }
    for part in message.parts.iter().skip(1) {
        let (ctype, subtype) = part
            .content_type()
            .map(|ct| {
                (
                    ct.ctype().to_ascii_lowercase(),
                    ct.subtype().unwrap_or_default().to_ascii_lowercase(),
                )
            })
            .unwrap_or_default();
        match (ctype.as_str(), subtype.as_str()) {
            ("message", "delivery-status" | "global-delivery-status") => {
                parts.delivery_status.push(lossy(part.contents()));
            }
            ("message", "feedback-report") => parts.feedback = true,
            ("text" | "message", "rfc822-headers" | "global-headers") => {
                if parts.original.is_none() {
                    let raw = part.contents();
                    if let Some(headers) = MessageParser::default().parse_headers(raw) {
                        let original = Original::of(&headers);
                        if !original.is_empty() {
                            parts.original = Some(original);
                        }
                    }
                }
            }
            _ => {
                if let PartType::Message(inner) = &part.body
                    && parts.original.is_none()
                {
                    let original = Original::of(inner);
                    if !original.is_empty() {
                        parts.original = Some(original);
                    }
                }
            }
        }
    }
    parts
}

/// Lines that introduce a copy of the returned message inside the text of a bounce.
fn is_original_marker(line: &str) -> bool {
    let l = line.trim().to_ascii_lowercase();
    let dashed = l.starts_with("---") || l.starts_with("===") || l.starts_with("***");
    (dashed
        && contains_any(
            &l,
            &[
                "original message",
                "copy of the message",
                "copy of your message",
                "returned message",
                "unsent message",
                "below this line",
                "message follows",
                "message header",
                "header of the original",
                "original mail",
                "headers of your message",
                "message text follows",
                "the message you sent",
            ],
        ))
        || l.starts_with("original message headers:")
        || l == "message headers follow."
        || l == "original mail as follows:"
        || l == "content-type: message/rfc822"
}

/// Splits a bounce's text into the notification and an inlined copy of the returned message.
fn split_inline_original(text: &str) -> (&str, Option<&str>) {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if is_original_marker(line) {
            return (&text[..offset], Some(&text[offset + line.len()..]));
        }
        offset += line.len();
    }
    (text, None)
}

const DAEMON_LOCAL_PARTS: &[&str] = &[
    "mailer-daemon",
    "mailer_daemon",
    "mailerdaemon",
    "mail-daemon",
    "maildaemon",
    "postmaster",
    "mail.delivery.system",
    "mail-delivery-system",
    "mdaemon",
    "double-bounce",
];

const DAEMON_NAMES: &[&str] = &[
    "mail delivery",
    "mail deliver system",
    "mailer-daemon",
    "mailer daemon",
    "postmaster",
    "delivery subsystem",
    "mail administrator",
    "ndr administrator",
    "system administrator",
    "mail system",
];

const BOUNCE_SUBJECTS: &[&str] = &[
    "undeliver",
    "undelivered",
    "not delivered",
    "delivery status",
    "delivery notification",
    "delivery failure",
    "delivery failed",
    "failed delivery",
    "delivery has failed",
    "delivery problem",
    "delivery delayed",
    "delayed mail",
    "delivery error",
    "failure notice",
    "returned mail",
    "returned to sender",
    "mail system error",
    "could not be delivered",
    "couldn't be delivered",
    "could not send",
    "non-delivery",
    "nondeliverable",
    "non delivery",
    "error sending",
    "non remis",
    "unzustellbar",
    "no se puede entregar",
    "non recapitabile",
    "не доставлено",
    "недоставлен",
];

const BOUNCE_PHRASES: &[&str] = &[
    "could not be delivered",
    "couldn't be delivered",
    "could not be delivere",
    "was not delivered",
    "wasn't delivered",
    "not be delivered",
    "undeliverable",
    "undelivered",
    "not delivered",
    "delivery to the following",
    "following recipient",
    "following address",
    "permanent error",
    "fatal error",
    "wasn't able to deliver",
    "unable to deliver",
    "not able to deliver",
    "could not deliver",
    "couldn't deliver",
    "delivery has failed",
    "failed to deliver",
    "delivery failed",
    "delivery failure",
    "delivery to these recipients",
    "mail delivery software",
    "qmail-send",
    "did not reach",
    "returned to sender",
    "has been delayed",
    "delivery attempts",
    "message could not",
    "rcpt to",
    "user unknown",
    "does not exist",
    "transcript of session",
    "delivery status notification",
    "returned mail",
    "message was rejected",
    "message rejected",
    "error occurred",
    "error has occurred",
    "could not send",
    "recipient address rejected",
    "mailbox",
    "не доставлено",
    "送信できません",
    "届きません",
    "配信",
];

/// Phrases that say "your message was not delivered" on their own.
const STRONG_PHRASES: &[&str] = &[
    "could not be delivered",
    "couldn't be delivered",
    "was not delivered",
    "wasn't delivered",
    "undeliverable",
    "delivery has failed",
    "delivery failed",
    "permanent error",
    "unable to deliver",
];

fn has_attached_message(message: &Message<'_>) -> bool {
    message
        .parts
        .iter()
        .skip(1)
        .any(|p| matches!(p.body, PartType::Message(_)))
}

fn is_daemon_sender(message: &Message<'_>) -> bool {
    let Some(from) = message.from().and_then(|a| a.first()) else {
        // No parseable From at all is typical of old MTAs' bounces, never of people.
        return false;
    };
    let address = from.address().unwrap_or_default().to_ascii_lowercase();
    let local = address.split('@').next().unwrap_or_default();
    let name = from.name().unwrap_or_default().to_lowercase();
    DAEMON_LOCAL_PARTS.contains(&local)
        || DAEMON_LOCAL_PARTS.iter().any(|d| address == *d)
        || contains_any(&name, DAEMON_NAMES)
        || (address.is_empty() && name.is_empty())
}

/// Amazon SES/SNS JSON notifications (`"notificationType":"Bounce"`).
fn ses_json(text: &str) -> Option<(&'static str, &str)> {
    let compact = text;
    for (needle, kind) in [
        ("\"notificationType\":\"Bounce\"", "bounce"),
        ("\"eventType\":\"Bounce\"", "bounce"),
        ("\"notificationType\":\"Complaint\"", "complaint"),
        ("\"eventType\":\"Complaint\"", "complaint"),
        ("\"notificationType\":\"Delivery\"", "delivery"),
        ("\"eventType\":\"Delivery\"", "delivery"),
    ] {
        if let Some(at) = compact.find(needle) {
            return Some((kind, &compact[at..]));
        }
    }
    None
}

/// `"key":"value"` right after `from` in a JSON-ish text, without a JSON parser: SES samples
/// are often line-wrapped mid-token, which a strict parser refuses.
fn json_string<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("\"{key}\":\"");
    let at = text.find(&needle)? + needle.len();
    let rest = &text[at..];
    let end = rest.find('"')?;
    Some(&rest[..end])
}

fn ses_recipients(json: &str) -> Vec<Candidate> {
    let Some(at) = json.find("\"bouncedRecipients\"") else {
        return Vec::new();
    };
    let rest = &json[at..];
    let list = &rest[..rest.find(']').unwrap_or(rest.len())];
    let bounce_type = json_string(json, "bounceType").unwrap_or_default();
    list.split('{')
        .skip(1)
        .filter_map(|item| {
            let address = dsn_address(json_string(item, "emailAddress")?)?;
            let diagnostic = json_string(item, "diagnosticCode").unwrap_or_default();
            let status = json_string(item, "status")
                .map(str::to_owned)
                .or_else(|| status_from_text(diagnostic));
            let mut diag = diagnostic.to_owned();
            if bounce_type.eq_ignore_ascii_case("transient") {
                diag.push_str(" (transient)");
            }
            Some(Candidate {
                address,
                status,
                diagnostic: diag,
            })
        })
        .collect()
}

/// A recipient found outside a DSN, with the text that explains its failure.
#[derive(Debug)]
struct Candidate {
    address: String,
    status: Option<String>,
    diagnostic: String,
}

/// Recipients named at the start of a line (`<a@b>:`, `  a@b`, `a@b: host ... said`), each with
/// the text up to the next such line: the layout of Postfix, qmail, Exim, Sendmail, Gmail,
/// Exchange and most others.
fn anchored(notification: &str, exclude: &HashSet<String>) -> Vec<Candidate> {
    let mut anchors: Vec<(String, usize, usize)> = Vec::new();
    let mut offset = 0;
    for line in notification.split_inclusive('\n') {
        if let Some(found) = anchor_in_line(line)
            && !exclude.contains(&found.address)
            && !is_daemon_address(&found.address)
        {
            anchors.push((found.address, offset, offset));
        }
        offset += line.len();
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, (address, _, diag_start)) in anchors.iter().enumerate() {
        let diag_end = anchors
            .get(i + 1)
            .map_or(notification.len(), |(_, start, _)| *start);
        let diagnostic = squash(&notification[*diag_start..diag_end.max(*diag_start)]);
        if seen.insert(address.clone()) {
            out.push(Candidate {
                address: address.clone(),
                status: status_from_text(&diagnostic),
                diagnostic,
            });
        } else if let Some(existing) = out.iter_mut().find(|c| &c.address == address) {
            // The same address listed twice (summary, then detail): keep the richer text.
            if existing.status.is_none() {
                existing.status = status_from_text(&diagnostic);
            }
            existing.diagnostic.push(' ');
            existing.diagnostic.push_str(&diagnostic);
        }
    }
    out
}

/// Labels some MTAs put before the failed address.
const RECIPIENT_LABELS: &[&str] = &[
    "recipient address:",
    "failed recipient:",
    "original recipient:",
    "unknown recipient:",
    "invalid recipient:",
    "recipient:",
    "address:",
];

/// The address a line starts with (after indentation, an optional bracket or quote, an
/// optional recipient label or a transcript's reply code such as `554 <a@b>...`).
fn anchor_in_line(line: &str) -> Option<super::text::Found> {
    let trimmed = line.trim_start();
    let mut pos = line.len() - trimmed.len();
    let lower = trimmed.to_ascii_lowercase();
    if let Some(label) = RECIPIENT_LABELS.iter().find(|l| lower.starts_with(*l)) {
        pos += label.len();
    } else {
        let b = trimmed.as_bytes();
        if b.len() > 5 && b[..3].iter().all(u8::is_ascii_digit) && b[3] == b' ' && b[4] == b'<' {
            pos += 4;
        }
    }
    let rest = &line[pos..];
    pos += rest.len() - rest.trim_start().len();
    let skip = usize::from(line[pos..].starts_with(['<', '"', '\'', '[']));
    addresses(line)
        .into_iter()
        .find(|f| f.start >= pos)
        .filter(|f| f.start == pos + skip)
}

fn is_daemon_address(address: &str) -> bool {
    let local = address.split('@').next().unwrap_or_default();
    DAEMON_LOCAL_PARTS.contains(&local)
}

/// The best single address in free text: words around it that point to a recipient count up,
/// sender and message-id contexts count down.
fn scored(notification: &str, exclude: &HashSet<String>) -> Option<String> {
    let mut best: Option<(i32, String)> = None;
    for line in notification.lines() {
        let l = line.to_lowercase();
        for found in addresses(line) {
            if exclude.contains(&found.address) {
                continue;
            }
            let mut score = 0;
            for (word, weight) in [
                ("rcpt to", 4),
                ("recipient", 3),
                ("to:", 1),
                ("user", 1),
                ("address", 1),
                ("mailbox", 1),
                ("failed", 1),
                ("unknown", 1),
                ("delivered to", 2),
                ("deliver to", 2),
                ("could not be delivered", 2),
                ("from:", -4),
                ("sender", -3),
                ("message-id", -6),
                ("return-path", -6),
                ("reply-to", -4),
                ("envelope-from", -6),
                ("mail from", -4),
                ("postmaster", -2),
            ] {
                if l.contains(word) {
                    score += weight;
                }
            }
            let local = found.address.split('@').next().unwrap_or_default();
            if DAEMON_LOCAL_PARTS.contains(&local) {
                score -= 3;
            }
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, found.address));
            }
        }
    }
    best.and_then(|(score, address)| (score >= 0).then_some(address))
}

/// Builds a recipient from its evidence, deciding hard or soft.
fn recipient(
    address: String,
    original_recipient: Option<String>,
    status: Option<String>,
    diagnostic: &str,
    context: &str,
    delayed: bool,
) -> BouncedRecipient {
    let mut why = reason_in_context(diagnostic, context, status.as_deref());
    if why == BounceReason::Undefined || why == BounceReason::Expired {
        let wider = reason_in_context(context, "", status.as_deref());
        if wider != BounceReason::Undefined {
            why = wider;
        }
    }
    let hard = !delayed && why.is_hard(status.as_deref());
    BouncedRecipient {
        recipient: address,
        original_recipient,
        status,
        hard,
        reason: why,
        delayed,
    }
}

fn is_success(record: &DsnRecipient) -> bool {
    match record.action.as_deref() {
        Some(a) => {
            let a = a.split_whitespace().next().unwrap_or_default();
            matches!(a, "delivered" | "relayed" | "expanded" | "deliverable")
                || (a != "failed"
                    && a != "delayed"
                    && record.status.as_deref().is_some_and(|s| s.starts_with('2')))
        }
        None => record.status.as_deref().is_some_and(|s| s.starts_with('2')),
    }
}

fn from_dsn(records: &[DsnRecipient], notification: &str, subject: &str) -> Vec<BouncedRecipient> {
    records
        .iter()
        .filter(|r| !is_success(r))
        .filter_map(|r| {
            let address = r.address()?.to_owned();
            let delayed = r
                .action
                .as_deref()
                .is_some_and(|a| a.starts_with("delayed"));
            let diagnostic = r.diagnostic.clone().unwrap_or_default();
            // The code inside the remote server's own answer is more specific than the
            // reporting MTA's summary `Status` (often `5.0.0`, sometimes plain wrong).
            let mut status = enhanced_codes(&diagnostic)
                .into_iter()
                .find(|c| c.starts_with(['4', '5']))
                .or_else(|| r.status.clone());
            if status.is_none() {
                status = status_from_text(&diagnostic);
            }
            if status.is_none() && delayed {
                status = Some("4.0.0".to_owned());
            }
            let original = r
                .original_recipient
                .clone()
                .filter(|o| Some(o.as_str()) != r.final_recipient.as_deref());
            let context = format!("{subject} {}", squash(notification));
            Some(recipient(
                address,
                original,
                status,
                &diagnostic,
                &context,
                delayed,
            ))
        })
        .collect()
}

/// Looks for a bounce (or a complaint or success report) in `message`, whose inline text
/// bodies are `body`.
pub(crate) fn examine(message: &Message<'_>, body: &str) -> Outcome {
    let parts = gather(message);
    // A broken MIME structure (a multipart without its boundaries) leaves no text body: read
    // the raw body instead.
    let raw_body;
    let body = if body.trim().is_empty() && parts.delivery_status.is_empty() {
        let raw = message.raw_message();
        let start = message.root_part().raw_body_offset() as usize;
        raw_body = String::from_utf8_lossy(raw.get(start..).unwrap_or_default()).into_owned();
        raw_body.as_str()
    } else {
        body
    };
    if parts.feedback {
        return Outcome::Complaint;
    }
    let subject = message.subject().unwrap_or_default();
    let (notification, inline_original) = split_inline_original(body);
    let mut original = parts.original;
    if original.is_none()
        && let Some(copy) = inline_original
        && let Some(headers) = MessageParser::default().parse_headers(copy.trim_start().as_bytes())
    {
        let o = Original::of(&headers);
        if !o.is_empty() {
            original = Some(o);
        }
    }
    let original = original.unwrap_or_default();
    let original_message_id = original.message_id.clone();
    let bounce = |recipients: Vec<BouncedRecipient>| {
        Outcome::Bounce(BounceInfo {
            recipients,
            original_message_id: original_message_id.clone(),
        })
    };

    // 1. RFC 3464 delivery-status parts.
    let records: Vec<DsnRecipient> = parts
        .delivery_status
        .iter()
        .flat_map(|text| dsn::parse(text))
        .collect();
    if !records.is_empty() {
        let failed = from_dsn(&records, notification, subject);
        return if failed.is_empty() {
            Outcome::Delivered
        } else {
            bounce(failed)
        };
    }

    // 2. Amazon SES JSON notifications.
    if let Some((kind, json)) = ses_json(body) {
        match kind {
            "complaint" => return Outcome::Complaint,
            "delivery" => return Outcome::Delivered,
            _ => {
                let context = format!("{subject} {}", squash(notification));
                let recipients = ses_recipients(json)
                    .into_iter()
                    .map(|c| {
                        let transient = c.diagnostic.ends_with("(transient)");
                        let mut r =
                            recipient(c.address, None, c.status, &c.diagnostic, &context, false);
                        r.hard = r.hard && !transient;
                        r
                    })
                    .collect();
                return bounce(recipients);
            }
        }
    }

    // 3. Non-standard bounces: a bounce-like sender, subject or header, and bounce-like text.
    let x_failed: Vec<String> = header(message, "x-failed-recipients")
        .map(|v| addresses(v).into_iter().map(|f| f.address).collect())
        .unwrap_or_default();
    let subject_lc = subject.to_lowercase();
    let daemon = is_daemon_sender(message);
    let bounce_subject = contains_any(&subject_lc, BOUNCE_SUBJECTS);
    let forwarded_by_person = !daemon
        && ["re:", "fw:", "fwd:", "aw:", "wg:", "tr:"]
            .iter()
            .any(|p| subject_lc.trim_start().starts_with(p));
    let notification_lc = notification.to_lowercase();
    let phrase = contains_any(&notification_lc, BOUNCE_PHRASES);
    let dsn_in_text = notification_lc.contains("final-recipient:");
    let returned_attached = has_attached_message(message);
    let is_bounce = !x_failed.is_empty()
        || (!forwarded_by_person
            && (daemon || bounce_subject)
            && (phrase || dsn_in_text || (daemon && bounce_subject)))
        || (!forwarded_by_person
            && returned_attached
            && contains_any(&notification_lc, STRONG_PHRASES));
    if !is_bounce {
        return Outcome::NotABounce;
    }

    let delayed = contains_any(&subject_lc, &["delay", "warning"])
        && !contains_any(&subject_lc, &["fail", "undeliver", "returned"]);
    let context = format!("{subject} {}", squash(notification));

    // DSN fields pasted into the text.
    if dsn_in_text {
        let records = dsn::parse(notification);
        let failed = from_dsn(&records, notification, subject);
        if !failed.is_empty() {
            return bounce(failed);
        }
    }

    let mut exclude: HashSet<String> = HashSet::new();
    for name in [
        "to",
        "cc",
        "delivered-to",
        "x-original-to",
        "from",
        "sender",
        "reply-to",
    ] {
        for h in message
            .headers_raw()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            exclude.extend(addresses(h.1).into_iter().map(|f| f.address));
        }
    }
    exclude.extend(original.senders.iter().cloned());
    // A returned message addressed to the bounce's own recipient would exclude everything;
    // keep the original's recipients eligible.
    for to in &original.to {
        exclude.remove(to);
    }

    // Anchored addresses are strong evidence: only the bounce's own sender is excluded (some
    // anonymised samples send from and to the same address).
    let mut anchor_exclude: HashSet<String> = HashSet::new();
    for h in message
        .headers_raw()
        .filter(|(n, _)| n.eq_ignore_ascii_case("from"))
    {
        anchor_exclude.extend(addresses(h.1).into_iter().map(|f| f.address));
    }
    let mut candidates = anchored(notification, &anchor_exclude);
    if !x_failed.is_empty() {
        let mut from_header: Vec<Candidate> = x_failed
            .iter()
            .map(|address| {
                let known = candidates.iter().find(|c| &c.address == address);
                Candidate {
                    address: address.clone(),
                    status: known.and_then(|c| c.status.clone()),
                    diagnostic: known.map(|c| c.diagnostic.clone()).unwrap_or_default(),
                }
            })
            .collect();
        // Keep the text's order when it names the same addresses.
        if from_header.iter().all(|c| !c.diagnostic.is_empty())
            && from_header.len() == candidates.len()
        {
            from_header = candidates;
        }
        candidates = from_header;
    }
    if candidates.is_empty()
        && let Some(address) = scored(notification, &exclude)
            .or_else(|| original.to.first().cloned())
            .or_else(|| scored(subject, &exclude))
    {
        candidates.push(Candidate {
            address,
            status: status_from_text(notification),
            diagnostic: squash(notification),
        });
    }
    let fallback_status = status_from_text(notification);
    let recipients = candidates
        .into_iter()
        .map(|c| {
            let mut status = c.status.or_else(|| fallback_status.clone());
            if status.is_none() && delayed {
                status = Some("4.0.0".to_owned());
            }
            recipient(c.address, None, status, &c.diagnostic, &context, delayed)
        })
        .collect();
    bounce(recipients)
}
