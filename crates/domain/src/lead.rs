//! Leads: address rules (via [`crate::email`]), company domains and the lead status.

use std::fmt;

use crate::email::EmailAddress;

/// Consumer mail domains: an address here never identifies a company.
pub const CONSUMER_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "passport.com",
    "yahoo.com",
    "ymail.com",
    "rocketmail.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "aim.com",
    "proton.me",
    "protonmail.com",
    "protonmail.ch",
    "pm.me",
    "tutanota.com",
    "tuta.io",
    "zoho.com",
    "zohomail.com",
    "mail.com",
    "email.com",
    "fastmail.com",
    "hey.com",
    "mail.ru",
    "inbox.ru",
    "list.ru",
    "bk.ru",
    "rambler.ru",
    "ya.ru",
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
    "naver.com",
    "daum.net",
    "web.de",
    "t-online.de",
    "freenet.de",
    "orange.fr",
    "wanadoo.fr",
    "free.fr",
    "laposte.net",
    "sfr.fr",
    "libero.it",
    "virgilio.it",
    "seznam.cz",
    "wp.pl",
    "o2.pl",
    "interia.pl",
    "comcast.net",
    "verizon.net",
    "att.net",
    "sbcglobal.net",
    "btinternet.com",
    "sky.com",
    "rediffmail.com",
    "uol.com.br",
    "bol.com.br",
    "terra.com.br",
];

/// Providers with one consumer domain per country (`gmx.de`, `yahoo.co.uk`, `hotmail.fr`,
/// `yandex.ru`): a domain of two or three labels whose first label is one of these is a
/// consumer domain.
pub const CONSUMER_FAMILIES: &[&str] = &[
    "gmx",
    "yandex",
    "yahoo",
    "hotmail",
    "outlook",
    "live",
    "aol",
    "windowslive",
];

/// Whether a (lower-case) domain is a consumer mail domain.
#[must_use]
pub fn is_consumer_domain(domain: &str) -> bool {
    let domain = domain.trim_end_matches('.');
    if CONSUMER_DOMAINS.contains(&domain) {
        return true;
    }
    let labels = domain.split('.').count();
    (2..=3).contains(&labels)
        && domain
            .split('.')
            .next()
            .is_some_and(|first| CONSUMER_FAMILIES.contains(&first))
}

/// The company domain of an address: its domain, unless that is a consumer mail domain.
#[must_use]
pub fn company_domain(address: &EmailAddress) -> Option<&str> {
    let d = address.domain();
    (!is_consumer_domain(d)).then_some(d)
}

/// Whether two addresses belong to the same company (same non-consumer domain), as
/// `stop_on_company_reply` needs.
#[must_use]
pub fn same_company(a: &EmailAddress, b: &EmailAddress) -> bool {
    company_domain(a).is_some_and(|d| Some(d) == company_domain(b))
}

/// A lead's contact status as the contract shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeadStatus {
    /// Nothing sent yet.
    Uncontacted,
    /// At least one email sent.
    Contacted,
    /// The lead replied.
    Replied,
}

/// A string that is not a lead status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown lead status {0:?}")]
pub struct UnknownLeadStatus(pub String);

impl LeadStatus {
    /// Every status.
    pub const ALL: [Self; 3] = [Self::Uncontacted, Self::Contacted, Self::Replied];

    /// `uncontacted`, `contacted`, `replied`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Uncontacted => "uncontacted",
            Self::Contacted => "contacted",
            Self::Replied => "replied",
        }
    }

    /// Parses the contract's spelling.
    ///
    /// # Errors
    /// [`UnknownLeadStatus`].
    pub fn parse(s: &str) -> Result<Self, UnknownLeadStatus> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownLeadStatus(s.to_owned()))
    }
}

impl fmt::Display for LeadStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do when a created lead's address is already in the campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IfExists {
    /// Refuse (409). The default.
    #[default]
    Fail,
    /// Keep the existing lead unchanged.
    Skip,
    /// Update the existing lead with the new values.
    Update,
}

impl IfExists {
    /// `fail`, `skip`, `update`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Fail => "fail",
            Self::Skip => "skip",
            Self::Update => "update",
        }
    }

    /// Parses the contract's spelling.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Fail, Self::Skip, Self::Update]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> EmailAddress {
        EmailAddress::parse(s).unwrap()
    }

    #[test]
    fn consumer_domains_are_never_a_company() {
        let cases = [
            ("ann@acme.com", Some("acme.com")),
            ("Ann@Sales.Acme.co.uk", Some("sales.acme.co.uk")),
            ("ann@gmail.com", None),
            ("ann@GoogleMail.com", None),
            ("ann@outlook.com", None),
            ("ann@hotmail.co.uk", None),
            ("ann@live.com", None),
            ("ann@yahoo.com", None),
            ("ann@yahoo.co.jp", None),
            ("ann@icloud.com", None),
            ("ann@aol.com", None),
            ("ann@proton.me", None),
            ("ann@protonmail.com", None),
            ("ann@gmx.de", None),
            ("ann@gmx.net", None),
            ("ann@yandex.ru", None),
            ("ann@mail.ru", None),
            ("ann@web.de", None),
            ("ann@gmxtools.com", Some("gmxtools.com")),
            (
                "ann@mail.gmail-partners.com",
                Some("mail.gmail-partners.com"),
            ),
            ("ann@a.b.yahoo.com", Some("a.b.yahoo.com")),
        ];
        for (input, expected) in cases {
            assert_eq!(company_domain(&addr(input)), expected, "{input}");
        }
    }

    #[test]
    fn same_company_needs_the_same_non_consumer_domain() {
        assert!(same_company(&addr("a@acme.com"), &addr("B@ACME.com")));
        assert!(!same_company(&addr("a@acme.com"), &addr("b@other.com")));
        assert!(!same_company(&addr("a@gmail.com"), &addr("b@gmail.com")));
        assert!(!same_company(
            &addr("a@acme.com"),
            &addr("b@sales.acme.com")
        ));
    }

    #[test]
    fn lead_status_and_if_exists_round_trip() {
        for s in LeadStatus::ALL {
            assert_eq!(LeadStatus::parse(s.as_str()), Ok(s));
        }
        assert!(LeadStatus::parse("bounced").is_err());
        assert_eq!(IfExists::default(), IfExists::Fail);
        assert_eq!(IfExists::parse("update"), Some(IfExists::Update));
        assert_eq!(IfExists::parse("skip"), Some(IfExists::Skip));
        assert_eq!(IfExists::parse("Fail"), None);
    }
}
