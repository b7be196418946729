//! Email service providers, recognised from a domain's MX host names.

use std::fmt;

/// A mailbox provider (the contract's `provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// Google Workspace / Gmail.
    Google,
    /// Microsoft 365 / Outlook.
    Microsoft,
    /// Yahoo.
    Yahoo,
    /// Zoho Mail.
    Zoho,
    /// Anything else (including no MX at all).
    Other,
}

/// MX host suffixes per provider, matched on a label boundary.
const SUFFIXES: &[(&str, Provider)] = &[
    ("google.com", Provider::Google),
    ("googlemail.com", Provider::Google),
    ("outlook.com", Provider::Microsoft),
    ("hotmail.com", Provider::Microsoft),
    ("yahoodns.net", Provider::Yahoo),
    ("yahoo.com", Provider::Yahoo),
    ("zoho.com", Provider::Zoho),
    ("zoho.eu", Provider::Zoho),
    ("zoho.in", Provider::Zoho),
    ("zoho.com.au", Provider::Zoho),
    ("zoho.jp", Provider::Zoho),
    ("zoho.com.cn", Provider::Zoho),
    ("zohomail.com", Provider::Zoho),
];

impl Provider {
    /// Every provider.
    pub const ALL: [Self; 5] = [
        Self::Google,
        Self::Microsoft,
        Self::Yahoo,
        Self::Zoho,
        Self::Other,
    ];

    /// `google`, `microsoft`, `yahoo`, `zoho`, `other`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::Microsoft => "microsoft",
            Self::Yahoo => "yahoo",
            Self::Zoho => "zoho",
            Self::Other => "other",
        }
    }

    /// Parses the contract's spelling.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The provider behind one MX host (`aspmx.l.google.com`,
    /// `acme-com.mail.protection.outlook.com`, `mta5.am0.yahoodns.net`, `mx.zoho.eu`), case and
    /// trailing dot ignored.
    #[must_use]
    pub fn from_mx_host(host: &str) -> Self {
        let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
        SUFFIXES
            .iter()
            .find(|(suffix, _)| {
                host == *suffix
                    || host
                        .strip_suffix(suffix)
                        .is_some_and(|rest| rest.ends_with('.'))
            })
            .map_or(Self::Other, |(_, p)| *p)
    }

    /// The provider of a domain from its MX hosts **in preference order** (lowest preference
    /// value first): the most preferred host receives the mail, so it decides (a filtering
    /// gateway in front of Google makes the domain `other`). No hosts: `other`.
    #[must_use]
    pub fn from_mx_hosts<'a>(hosts: impl IntoIterator<Item = &'a str>) -> Self {
        hosts
            .into_iter()
            .next()
            .map_or(Self::Other, Self::from_mx_host)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mx_hosts_name_their_provider() {
        let cases = [
            ("aspmx.l.google.com", Provider::Google),
            ("ALT1.ASPMX.L.GOOGLE.COM.", Provider::Google),
            ("smtp.google.com", Provider::Google),
            ("aspmx2.googlemail.com", Provider::Google),
            ("acme-com.mail.protection.outlook.com", Provider::Microsoft),
            (
                "hotmail-com.olc.protection.outlook.com",
                Provider::Microsoft,
            ),
            ("outlook.com", Provider::Microsoft),
            ("mta5.am0.yahoodns.net", Provider::Yahoo),
            ("mx-eu.mail.am0.yahoodns.net", Provider::Yahoo),
            ("mx.zoho.com", Provider::Zoho),
            ("mx2.zoho.eu", Provider::Zoho),
            ("mx.zoho.in", Provider::Zoho),
            ("mx.zoho.com.au", Provider::Zoho),
            ("mx.zohomail.com", Provider::Zoho),
            ("mx1.mimecast.com", Provider::Other),
            ("notgoogle.com", Provider::Other),
            ("google.com.evil.net", Provider::Other),
            ("mail.example.com", Provider::Other),
            ("", Provider::Other),
        ];
        for (host, expected) in cases {
            assert_eq!(Provider::from_mx_host(host), expected, "{host}");
        }
    }

    #[test]
    fn the_most_preferred_host_decides() {
        assert_eq!(
            Provider::from_mx_hosts(["aspmx.l.google.com", "mx.zoho.com"]),
            Provider::Google
        );
        assert_eq!(
            Provider::from_mx_hosts(["us-smtp-inbound-1.mimecast.com", "aspmx.l.google.com"]),
            Provider::Other
        );
        assert_eq!(Provider::from_mx_hosts([]), Provider::Other);
    }

    #[test]
    fn providers_round_trip() {
        for p in Provider::ALL {
            assert_eq!(Provider::parse(p.as_str()), Some(p));
        }
        assert_eq!(Provider::parse("gmail"), None);
    }
}
