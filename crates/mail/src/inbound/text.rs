//! Small hand-written scanners over free text: addresses, status codes, phrase lists.
//!
//! Hand-written rather than regex-based to keep the dependency list short; every scanner is
//! linear in the input and never panics on arbitrary UTF-8.

/// Characters allowed in the local part we accept from free text (RFC 5322 atext plus `.`).
fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ".!#$%&'*+-/=?^_`{|}~".contains(c)
}

fn is_domain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '.'
}

/// An address found in text, with its byte span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) address: String,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Every plausible `local@domain.tld` in `text`, in order of appearance, lower-cased.
pub(crate) fn addresses(text: &str) -> Vec<Found> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut search_from = 0;
    while let Some(rel) = text[search_from..].find('@') {
        let at = search_from + rel;
        search_from = at + 1;
        // Walk left over the local part.
        let mut start = at;
        while start > 0 {
            let c = char::from(bytes[start - 1]);
            if bytes[start - 1].is_ascii() && is_local_char(c) {
                start -= 1;
            } else {
                break;
            }
        }
        // Walk right over the domain.
        let mut end = at + 1;
        while end < bytes.len() && bytes[end].is_ascii() && is_domain_char(char::from(bytes[end])) {
            end += 1;
        }
        let mut local = &text[start..at];
        let mut domain = &text[at + 1..end];
        local = local.trim_start_matches(['.', '\'', '`', '/', '|', '{', '}']);
        domain = domain.trim_end_matches(['.', '-']);
        let local_start = at - local.len();
        if local.is_empty() || domain.is_empty() {
            continue;
        }
        // A "domain" must look like a host name with a TLD: at least one dot, no empty labels.
        if !domain.contains('.') || domain.split('.').any(str::is_empty) {
            continue;
        }
        let tld = domain.rsplit('.').next().unwrap_or_default();
        if tld.len() < 2 || tld.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        // `local@domain` immediately followed by another `@` is not an address (e.g. routes).
        let stop = at + 1 + domain.len();
        out.push(Found {
            address: format!("{local}@{domain}").to_ascii_lowercase(),
            start: local_start,
            end: stop,
        });
        search_from = stop.max(search_from);
    }
    out
}

/// Whether `address` is one our scanner accepts whole (a plausible routable address).
pub(crate) fn is_plausible(address: &str) -> bool {
    addresses(address)
        .first()
        .is_some_and(|f| f.address.len() == address.len())
}

/// The first address in `text`, if any.
pub(crate) fn first_address(text: &str) -> Option<String> {
    addresses(text).into_iter().next().map(|f| f.address)
}

/// Normalises a DSN address field: `rfc822; <Foo@Example.org>` -> `foo@example.org`.
pub(crate) fn dsn_address(value: &str) -> Option<String> {
    let value = value.trim();
    let value = match value.split_once(';') {
        Some((kind, rest)) if !kind.contains('@') => rest,
        _ => value,
    };
    let mut cleaned = value
        .trim()
        .trim_matches(|c: char| c == '<' || c == '>' || c == '"' || c.is_whitespace());
    // RFC 821 source routes: `@relay.example:user@host`.
    if cleaned.starts_with('@')
        && let Some((_, rest)) = cleaned.split_once(':')
    {
        cleaned = rest;
    }
    if cleaned.contains('@') {
        if let Some(found) = first_address(cleaned) {
            return Some(found);
        }
        // Addresses our scanner refuses (odd local parts) are still kept as given.
        return Some(cleaned.to_ascii_lowercase());
    }
    None
}

fn is_boundary(text: &[u8], idx: Option<usize>) -> bool {
    match idx {
        None => true,
        Some(i) => match text.get(i) {
            None => true,
            Some(b) => !(b.is_ascii_alphanumeric() || *b == b'.' || *b == b'-' || *b == b'_'),
        },
    }
}

/// `550-5.1.1`: an enhanced code right after a multi-line reply code.
fn after_reply_code(b: &[u8], i: usize) -> bool {
    i >= 4
        && b[i - 1] == b'-'
        && b[i - 4..i - 1].iter().all(u8::is_ascii_digit)
        && is_boundary(b, i.checked_sub(5))
}

/// RFC 3463 enhanced status codes (`5.1.1`, `4.7.650`) in `text`, in order.
pub(crate) fn enhanced_codes(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if matches!(b[i], b'2' | b'4' | b'5')
            && (is_boundary(b, i.checked_sub(1)) || after_reply_code(b, i))
            && b.get(i + 1) == Some(&b'.')
        {
            let mut j = i + 2;
            let s1 = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let l1 = j - s1;
            if (1..=3).contains(&l1) && b.get(j) == Some(&b'.') {
                j += 1;
                let s2 = j;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                let l2 = j - s2;
                // A trailing dot followed by a digit would make this part of an IP address.
                let ip_like =
                    b.get(j) == Some(&b'.') && b.get(j + 1).is_some_and(u8::is_ascii_digit);
                if (1..=3).contains(&l2) && !ip_like && is_boundary(b, Some(j)) {
                    out.push(text[i..j].to_owned());
                    i = j;
                    continue;
                }
            }
        }
        i += 1;
    }
    out
}

/// SMTP reply codes (`550`, `421`) standing as their own word in `text`, in order.
pub(crate) fn reply_codes(text: &str) -> Vec<u16> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 3 <= b.len() {
        let w = &b[i..i + 3];
        if matches!(w[0], b'4' | b'5')
            && w[1].is_ascii_digit()
            && w[1] <= b'5'
            && w[2].is_ascii_digit()
            && is_boundary(b, i.checked_sub(1))
            && (i + 3 == b.len()
                || matches!(
                    b[i + 3],
                    b' ' | b'-' | b':' | b';' | b'\t' | b'\r' | b'\n' | b')' | b'"' | b','
                ))
        {
            let code =
                u16::from(w[0] - b'0') * 100 + u16::from(w[1] - b'0') * 10 + u16::from(w[2] - b'0');
            out.push(code);
            i += 3;
            continue;
        }
        i += 1;
    }
    out
}

/// The status code a free-text diagnostic carries: the first enhanced code whose class is a
/// failure (4 or 5), else `X.0.0` from the first reply code.
pub(crate) fn status_from_text(text: &str) -> Option<String> {
    if let Some(code) = enhanced_codes(text)
        .into_iter()
        .find(|c| c.starts_with('4') || c.starts_with('5'))
    {
        return Some(code);
    }
    reply_codes(text)
        .first()
        .map(|code| format!("{}.0.0", code / 100))
}

/// Whether `haystack` (already lower-case) contains any of `needles`.
pub(crate) fn contains_any(haystack: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| haystack.contains(n))
}

/// Collapses runs of whitespace (including folded lines) into single spaces.
pub(crate) fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_addresses_in_brackets_and_prose() {
        let found: Vec<_> = addresses("<Kijitora@Example.JP>: said: 550 to x.y@b-c.example.org.")
            .into_iter()
            .map(|f| f.address)
            .collect();
        assert_eq!(found, ["kijitora@example.jp", "x.y@b-c.example.org"]);
    }

    #[test]
    fn ignores_things_that_are_not_addresses() {
        assert!(addresses("user@localhost and @ and a@1.2.3.4").is_empty());
    }

    #[test]
    fn enhanced_codes_skip_ip_addresses_and_versions() {
        assert_eq!(
            enhanced_codes("from 192.0.2.153 said 550 5.1.1 <a@b.c>"),
            ["5.1.1"]
        );
        assert_eq!(enhanced_codes("status 4.7.650 (x)"), ["4.7.650"]);
        assert_eq!(enhanced_codes("550-5.1.1 The email account"), ["5.1.1"]);
        assert!(enhanced_codes("id-5.1.1").is_empty());
        assert!(enhanced_codes("10.5.1.1 and 5.1.1.1").is_empty());
    }

    #[test]
    fn status_falls_back_to_reply_code_class() {
        assert_eq!(
            status_from_text("said: 550 Mailbox unknown").as_deref(),
            Some("5.0.0")
        );
        assert_eq!(status_from_text("nothing here"), None);
    }

    #[test]
    fn dsn_address_strips_type_and_brackets() {
        assert_eq!(
            dsn_address("rfc822; <Nobody@B.test>").as_deref(),
            Some("nobody@b.test")
        );
        assert_eq!(
            dsn_address("rfc822; <Nobody@B.example>").as_deref(),
            Some("nobody@b.example")
        );
        assert_eq!(
            dsn_address("rfc822;x@y.example").as_deref(),
            Some("x@y.example")
        );
    }
}
