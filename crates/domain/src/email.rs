//! Email addresses: syntax and the canonical form used for every comparison.

use std::fmt;

/// Longest address accepted (RFC 5321's path limit less the angle brackets).
pub const MAX_ADDRESS_LEN: usize = 254;
/// Longest local part accepted (RFC 5321 section 4.5.3.1.1).
pub const MAX_LOCAL_LEN: usize = 64;
/// Longest domain label accepted (RFC 1035).
pub const MAX_LABEL_LEN: usize = 63;

/// A syntactically valid email address in canonical form: trimmed and lower-cased.
///
/// Two addresses that differ only in case or surrounding white space are equal.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress(String);

/// Why a string is not an acceptable email address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Empty or only white space.
    #[error("is empty")]
    Empty,
    /// Longer than [`MAX_ADDRESS_LEN`] characters.
    #[error("is longer than {MAX_ADDRESS_LEN} characters")]
    TooLong,
    /// No `@`, or more than one.
    #[error("must contain exactly one @")]
    MissingAt,
    /// The local part is empty, too long or has characters or dots out of place.
    #[error("has an empty or invalid part before the @")]
    InvalidLocalPart,
    /// The domain is not dot-separated valid labels with a non-numeric top level.
    #[error("has an invalid domain after the @")]
    InvalidDomain,
}

impl EmailAddress {
    /// Parses and canonicalises an address.
    ///
    /// # Errors
    /// An [`EmailError`] naming what is wrong with the input.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.chars().count() > MAX_ADDRESS_LEN {
            return Err(EmailError::TooLong);
        }
        let mut parts = trimmed.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(EmailError::MissingAt);
        };
        if !valid_local(local) {
            return Err(EmailError::InvalidLocalPart);
        }
        if !valid_domain(domain) {
            return Err(EmailError::InvalidDomain);
        }
        Ok(Self(trimmed.to_lowercase()))
    }

    /// The canonical address.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`.
    #[must_use]
    pub fn local_part(&self) -> &str {
        self.0.split_once('@').map_or("", |(l, _)| l)
    }

    /// The domain after the `@`, lower-cased.
    #[must_use]
    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, d)| d)
    }

    /// Consumes the address, returning its canonical string.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// Addresses are personal data: Debug never prints the local part, so a stray `{:?}` in a log
// line does not leak who was written to.
impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress(***@{})", self.domain())
    }
}

/// Characters allowed unquoted in a local part (RFC 5322 `atext` plus the dot).
fn is_atext(c: char) -> bool {
    c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c)
}

fn valid_local(local: &str) -> bool {
    !local.is_empty()
        && local.chars().count() <= MAX_LOCAL_LEN
        && local.chars().all(is_atext)
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.chars().count() <= MAX_LABEL_LEN
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        // The top-level domain is never all digits ("a@1.2" is not an address).
        && labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_is_trimmed_and_lower_cased() {
        let cases = [
            ("alice@example.com", "alice@example.com"),
            ("  Alice@Example.COM\t", "alice@example.com"),
            (
                "first.last+tag@sub.example.co.uk",
                "first.last+tag@sub.example.co.uk",
            ),
            ("o'brien@example.ie", "o'brien@example.ie"),
            ("JÖRG@bücher.de", "jörg@bücher.de"),
        ];
        for (input, expected) in cases {
            let parsed = EmailAddress::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(parsed.as_str(), expected, "{input}");
        }
    }

    #[test]
    fn invalid_addresses_name_what_is_wrong() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_address = format!("a@{}.com", "b.".repeat(130));
        let cases: [(&str, EmailError); 14] = [
            ("", EmailError::Empty),
            ("   ", EmailError::Empty),
            ("alice", EmailError::MissingAt),
            ("a@b@example.com", EmailError::MissingAt),
            ("@example.com", EmailError::InvalidLocalPart),
            (".alice@example.com", EmailError::InvalidLocalPart),
            ("al..ice@example.com", EmailError::InvalidLocalPart),
            ("al ice@example.com", EmailError::InvalidLocalPart),
            (&long_local, EmailError::InvalidLocalPart),
            ("alice@", EmailError::InvalidDomain),
            ("alice@localhost", EmailError::InvalidDomain),
            ("alice@-example.com", EmailError::InvalidDomain),
            ("alice@example..com", EmailError::InvalidDomain),
            (&long_address, EmailError::TooLong),
        ];
        for (input, expected) in cases {
            assert_eq!(EmailAddress::parse(input), Err(expected), "{input:?}");
        }
        assert_eq!(EmailAddress::parse("a@1.2"), Err(EmailError::InvalidDomain));
    }

    #[test]
    fn comparison_ignores_case() {
        let a = EmailAddress::parse("Bob@Example.com").ok();
        let b = EmailAddress::parse("bob@EXAMPLE.com ").ok();
        assert!(a.is_some());
        assert_eq!(a, b);
    }

    #[test]
    fn parts_are_split_at_the_at_sign() {
        let a = EmailAddress::parse("Bob.Smith@Mail.Example.com").ok();
        assert_eq!(a.as_ref().map(EmailAddress::local_part), Some("bob.smith"));
        assert_eq!(
            a.as_ref().map(EmailAddress::domain),
            Some("mail.example.com")
        );
    }

    #[test]
    fn debug_output_hides_the_local_part() {
        let a = EmailAddress::parse("secret.person@example.com").ok();
        let shown = format!("{a:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("example.com"), "{shown}");
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_and_is_idempotent(input in "\\PC{0,80}") {
            if let Ok(a) = EmailAddress::parse(&input) {
                let again = EmailAddress::parse(a.as_str());
                proptest::prop_assert_eq!(again, Ok(a));
            }
        }
    }
}
