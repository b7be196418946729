//! RFC 3464 `message/delivery-status` bodies.
//!
//! mail-parser has no DSN model: the body is a list of header blocks separated by blank lines
//! (the per-message fields, then one block per recipient). Real reports bend that shape, so a
//! recipient record also starts whenever a second `Final-Recipient` turns up in the same block.

use super::text::{dsn_address, is_plausible, squash};

/// One per-recipient block of a delivery-status report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DsnRecipient {
    pub(crate) final_recipient: Option<String>,
    pub(crate) original_recipient: Option<String>,
    /// Lower-case `Action` value: failed, delayed, delivered, relayed, expanded.
    pub(crate) action: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) diagnostic: Option<String>,
}

impl DsnRecipient {
    /// `Final-Recipient`, unless only `Original-Recipient` is a plausible address (some MTAs
    /// put internal routes such as `user@server` in `Final-Recipient`).
    pub(crate) fn address(&self) -> Option<&str> {
        let finals = self.final_recipient.as_deref();
        let original = self.original_recipient.as_deref();
        if finals.is_some_and(is_plausible) {
            return finals;
        }
        original.filter(|o| is_plausible(o)).or(finals).or(original)
    }

    fn is_empty(&self) -> bool {
        self.final_recipient.is_none()
            && self.original_recipient.is_none()
            && self.action.is_none()
            && self.status.is_none()
    }
}

/// Splits `text` into header fields `(lower-case name, value)`, unfolding continuation lines,
/// with `None` marking each blank line.
fn fields(text: &str) -> Vec<Option<(String, String)>> {
    let mut out: Vec<Option<(String, String)>> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            out.push(None);
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(Some((_, value))) = out.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            if !name.is_empty() && !name.contains(' ') {
                out.push(Some((name.to_ascii_lowercase(), value.trim().to_owned())));
            }
        }
    }
    out
}

/// Keeps a status only when it looks like `D.D{1,3}.D{1,3}`.
fn valid_status(value: &str) -> Option<String> {
    let token = value
        .split(|c: char| c.is_whitespace() || c == '(' || c == ';')
        .find(|t| !t.is_empty())?;
    let mut parts = token.split('.');
    let class = parts.next()?;
    let subject = parts.next()?;
    let detail = parts.next()?;
    let ok = parts.next().is_none()
        && matches!(class, "2" | "4" | "5")
        && (1..=3).contains(&subject.len())
        && (1..=3).contains(&detail.len())
        && subject.bytes().all(|b| b.is_ascii_digit())
        && detail.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| token.to_owned())
}

/// Strips a DSN type prefix such as `smtp;` from a Diagnostic-Code.
fn diagnostic_text(value: &str) -> String {
    let value = match value.split_once(';') {
        Some((kind, rest)) if !kind.contains(' ') && kind.len() < 20 => rest,
        _ => value,
    };
    squash(value)
}

/// The per-recipient records of a delivery-status body, in order.
pub(crate) fn parse(text: &str) -> Vec<DsnRecipient> {
    let mut records = Vec::new();
    let mut current = DsnRecipient::default();
    let mut flush = |current: &mut DsnRecipient| {
        if current.address().is_some() {
            records.push(std::mem::take(current));
        } else {
            *current = DsnRecipient::default();
        }
    };
    for field in fields(text) {
        let Some((name, value)) = field else {
            flush(&mut current);
            continue;
        };
        match name.as_str() {
            "final-recipient" => {
                if current.final_recipient.is_some() {
                    flush(&mut current);
                }
                current.final_recipient = dsn_address(&value);
            }
            "original-recipient" => {
                if current.original_recipient.is_some() {
                    flush(&mut current);
                }
                current.original_recipient = dsn_address(&value);
            }
            "action" => current.action = Some(value.to_ascii_lowercase()),
            "status" => current.status = valid_status(&value),
            "diagnostic-code" => current.diagnostic = Some(diagnostic_text(&value)),
            _ => {}
        }
    }
    if !current.is_empty() {
        flush(&mut current);
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_per_recipient_blocks() {
        let text = "Reporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; a@b.example\n\
                    Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 <a@b.example>\n  \
                    User unknown\n\nFinal-Recipient: rfc822;c@d.example\nAction: delayed\nStatus: 4.4.7\n";
        let records = parse(text);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].address(), Some("a@b.example"));
        assert_eq!(records[0].status.as_deref(), Some("5.1.1"));
        assert_eq!(
            records[0].diagnostic.as_deref(),
            Some("550 5.1.1 <a@b.example> User unknown")
        );
        assert_eq!(records[1].action.as_deref(), Some("delayed"));
    }

    #[test]
    fn splits_blocks_missing_their_blank_line() {
        let text = "Final-Recipient: rfc822; a@b.example\nStatus: 5.0.0\n\
                    Final-Recipient: rfc822; c@d.example\nStatus: 5.1.1\n";
        let records = parse(text);
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].status.as_deref(), Some("5.1.1"));
    }
}
