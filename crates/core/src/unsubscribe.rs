//! Unsubscribe tokens: a signed, unguessable reference to one lead, put in every email's
//! unsubscribe link. Anyone holding the token may unsubscribe that lead and nothing else.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::ids::LeadId;

/// Bytes of the HMAC kept in a token: 128 bits is far beyond guessing.
const TAG_LEN: usize = 16;
/// Domain separation: the unsubscribe key is derived from `secrets.key` for this use only.
const KEY_CONTEXT: &[u8] = b"reachkit unsubscribe token v1";

/// Makes and checks unsubscribe tokens and links.
#[derive(Clone)]
pub struct UnsubscribeTokens {
    key: [u8; 32],
    public_url: String,
}

impl std::fmt::Debug for UnsubscribeTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnsubscribeTokens")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl UnsubscribeTokens {
    /// Derives the token key from the installation's secret key; links start at `public_url`.
    #[must_use]
    pub fn new(secret_key: &[u8], public_url: &str) -> Self {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret_key)
            .expect("HMAC takes keys of any length");
        mac.update(KEY_CONTEXT);
        Self {
            key: mac.finalize().into_bytes().into(),
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    fn tag(&self, lead: Uuid) -> [u8; TAG_LEN] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes keys of any length");
        mac.update(lead.as_bytes());
        let full: [u8; 32] = mac.finalize().into_bytes().into();
        let mut tag = [0; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }

    /// The token for a lead: base64url(lead id || truncated HMAC-SHA256).
    #[must_use]
    pub fn token(&self, lead: LeadId) -> String {
        let id = lead.as_uuid();
        let mut bytes = Vec::with_capacity(16 + TAG_LEN);
        bytes.extend_from_slice(id.as_bytes());
        bytes.extend_from_slice(&self.tag(id));
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The lead a token was made for, or `None` for anything not made with this key.
    #[must_use]
    pub fn verify(&self, token: &str) -> Option<LeadId> {
        let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
        if bytes.len() != 16 + TAG_LEN {
            return None;
        }
        let id = Uuid::from_slice(&bytes[..16]).ok()?;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).ok()?;
        mac.update(id.as_bytes());
        // Constant-time comparison of the truncated tag.
        mac.verify_truncated_left(&bytes[16..]).ok()?;
        Some(LeadId::from_uuid(id))
    }

    /// The public unsubscribe link of a lead: `{http.public_url}/u/{token}`.
    #[must_use]
    pub fn url(&self, lead: LeadId) -> String {
        format!("{}/u/{}", self.public_url, self.token(lead))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> UnsubscribeTokens {
        UnsubscribeTokens::new(&[7; 32], "https://reach.example.com/")
    }

    #[test]
    fn a_token_verifies_to_its_lead_only() {
        let lead = LeadId::new();
        let t = tokens().token(lead);
        assert_eq!(tokens().verify(&t), Some(lead));
        assert_ne!(tokens().token(LeadId::new()), t);
    }

    #[test]
    fn tampered_truncated_or_foreign_tokens_are_refused() {
        let t = tokens().token(LeadId::new());
        let mut tampered = t.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap_or_default();
        assert_eq!(tokens().verify(&tampered), None);
        assert_eq!(tokens().verify(&t[..t.len() - 2]), None);
        assert_eq!(tokens().verify("not a token"), None);
        let other_key = UnsubscribeTokens::new(&[8; 32], "https://x");
        assert_eq!(other_key.verify(&t), None);
    }

    #[test]
    fn links_start_at_the_public_url() {
        let lead = LeadId::new();
        let url = tokens().url(lead);
        assert!(url.starts_with("https://reach.example.com/u/"), "{url}");
        assert!(!url.contains("//u/"));
    }
}
