//! Unsubscribe tokens: a signed, unguessable reference to one lead, put in every email's
//! unsubscribe link. Anyone holding the token may unsubscribe that lead and nothing else.
//!
//! [`UnsubscribeService`] is what the public link (`/u/{token}`) drives: [`UnsubscribeService::check`]
//! for the confirmation page (changes nothing) and [`UnsubscribeService::unsubscribe`] for the
//! button and RFC 8058 one-click POSTs (marks the lead unsubscribed and blocklists its address in
//! the lead's workspace, once).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::StoreError;
use crate::clock::Clock;
use crate::ids::{BlocklistEntryId, LeadId};

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

/// What an unsubscribe did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsubscribed {
    /// The lead was unsubscribed now.
    Now,
    /// The lead had unsubscribed before: nothing changed.
    Already,
}

/// Why an unsubscribe link did nothing.
#[derive(Debug, thiserror::Error)]
pub enum UnsubscribeError {
    /// The token is not ours, or its lead no longer exists.
    #[error("unknown unsubscribe link")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where unsubscribes are recorded.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UnsubscribeRepository: Send + Sync {
    /// Whether the lead exists (in any workspace: the token names it).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn lead_exists(&self, lead: LeadId) -> Result<bool, StoreError>;

    /// In ONE transaction, with the lead row locked: `None` when the lead does not exist;
    /// [`Unsubscribed::Already`] (changing nothing) when it is unsubscribed already; otherwise
    /// sets `is_unsubscribed` (and `updated_at = now`), adds 1 to its campaign's
    /// `unsubscribed` counter and to `finished_leads` unless the lead was finished already, and
    /// adds its address to its workspace's blocklist (an entry with `entry_id` and
    /// `created_at = now`, unless the address is blocked already). All of it or nothing.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails (then nothing changed).
    async fn unsubscribe(
        &self,
        lead: LeadId,
        entry_id: BlocklistEntryId,
        now: OffsetDateTime,
    ) -> Result<Option<Unsubscribed>, StoreError>;
}

/// The public unsubscribe link's use case.
#[derive(Clone)]
pub struct UnsubscribeService {
    repo: Arc<dyn UnsubscribeRepository>,
    tokens: UnsubscribeTokens,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for UnsubscribeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnsubscribeService")
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl UnsubscribeService {
    #[must_use]
    pub fn new(
        repo: Arc<dyn UnsubscribeRepository>,
        tokens: UnsubscribeTokens,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            repo,
            tokens,
            clock,
        }
    }

    /// The tokens links are made and checked with.
    #[must_use]
    pub const fn tokens(&self) -> &UnsubscribeTokens {
        &self.tokens
    }

    /// Whether the link is good (for the confirmation page). Changes nothing.
    ///
    /// # Errors
    /// [`UnsubscribeError::NotFound`] for a token that is not ours or a lead that is gone.
    pub async fn check(&self, token: &str) -> Result<LeadId, UnsubscribeError> {
        let lead = self
            .tokens
            .verify(token)
            .ok_or(UnsubscribeError::NotFound)?;
        if self.repo.lead_exists(lead).await? {
            Ok(lead)
        } else {
            Err(UnsubscribeError::NotFound)
        }
    }

    /// Unsubscribes the link's lead and blocklists its address; a second time changes nothing.
    ///
    /// # Errors
    /// [`UnsubscribeError::NotFound`] for a token that is not ours or a lead that is gone.
    pub async fn unsubscribe(&self, token: &str) -> Result<Unsubscribed, UnsubscribeError> {
        let lead = self
            .tokens
            .verify(token)
            .ok_or(UnsubscribeError::NotFound)?;
        self.repo
            .unsubscribe(lead, BlocklistEntryId::new(), self.clock.now())
            .await?
            .ok_or(UnsubscribeError::NotFound)
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

    mod service {
        use super::super::*;
        use crate::clock::MockClock;
        use time::macros::datetime;

        const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

        fn tokens() -> UnsubscribeTokens {
            UnsubscribeTokens::new(&[7; 32], "https://reach.example.com")
        }

        fn service(repo: MockUnsubscribeRepository) -> UnsubscribeService {
            let mut clock = MockClock::new();
            clock.expect_now().return_const(NOW);
            UnsubscribeService::new(Arc::new(repo), tokens(), Arc::new(clock))
        }

        #[tokio::test]
        async fn checking_a_good_link_only_looks() {
            let lead = LeadId::new();
            let mut repo = MockUnsubscribeRepository::new();
            repo.expect_lead_exists()
                .withf(move |l| *l == lead)
                .returning(|_| Ok(true));
            repo.expect_unsubscribe().never();
            let token = tokens().token(lead);
            assert_eq!(service(repo).check(&token).await.ok(), Some(lead));
        }

        #[tokio::test]
        async fn a_tampered_token_is_not_found_without_touching_the_store() {
            let mut repo = MockUnsubscribeRepository::new();
            repo.expect_lead_exists().never();
            repo.expect_unsubscribe().never();
            let s = service(repo);
            let mut token = tokens().token(LeadId::new());
            token.replace_range(0..1, if token.starts_with('A') { "B" } else { "A" });
            assert!(matches!(
                s.check(&token).await,
                Err(UnsubscribeError::NotFound)
            ));
            assert!(matches!(
                s.unsubscribe(&token).await,
                Err(UnsubscribeError::NotFound)
            ));
            assert!(matches!(
                s.unsubscribe("").await,
                Err(UnsubscribeError::NotFound)
            ));
        }

        #[tokio::test]
        async fn a_deleted_lead_is_not_found() {
            let mut repo = MockUnsubscribeRepository::new();
            repo.expect_lead_exists().returning(|_| Ok(false));
            repo.expect_unsubscribe().returning(|_, _, _| Ok(None));
            let s = service(repo);
            let token = tokens().token(LeadId::new());
            assert!(matches!(
                s.check(&token).await,
                Err(UnsubscribeError::NotFound)
            ));
            assert!(matches!(
                s.unsubscribe(&token).await,
                Err(UnsubscribeError::NotFound)
            ));
        }

        #[tokio::test]
        async fn unsubscribing_records_the_lead_at_the_clock_s_time() {
            let lead = LeadId::new();
            let mut repo = MockUnsubscribeRepository::new();
            repo.expect_unsubscribe()
                .withf(move |l, _, now| *l == lead && *now == NOW)
                .times(1)
                .returning(|_, _, _| Ok(Some(Unsubscribed::Now)));
            let token = tokens().token(lead);
            assert_eq!(
                service(repo).unsubscribe(&token).await.ok(),
                Some(Unsubscribed::Now)
            );
        }
    }
}
