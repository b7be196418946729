//! The background connection check: inboxes in `pending` are claimed (`validating`), logged in
//! to over SMTP and IMAP, and recorded as `connected` or `error` with the reason.
//!
//! This is a step, not a loop: the app calls [`ConnectionCheckService::check_pending`] every few
//! seconds. Reasons never contain a password.

use std::sync::Arc;

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use crate::StoreError;
use crate::ids::{InboxId, WorkspaceId};
use crate::inboxes::{PasswordField, Security, ServerSettings, password_aad};
use crate::secrets::{Password, SecretBox};

/// Inboxes checked per step.
pub const BATCH_SIZE: i64 = 10;
/// A claim older than this (the process died mid-check) is claimed again.
pub const STALE_CLAIM: Duration = Duration::minutes(5);
/// Longest reason kept.
pub const MAX_REASON_LEN: usize = 500;

/// An inbox claimed for checking, with its sealed passwords.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCheck {
    pub inbox_id: InboxId,
    pub workspace_id: WorkspaceId,
    pub smtp: ServerSettings,
    pub imap: ServerSettings,
    pub smtp_password: Option<Vec<u8>>,
    pub imap_password: Option<Vec<u8>>,
}

/// The result of a check: `Ok` is `connected`, `Err` the reason of `error`.
pub type CheckOutcome = Result<(), String>;

/// Where the connection state of inboxes is kept.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ConnectionCheckRepository: Send + Sync {
    /// Claims up to `limit` inboxes in `pending` (or in `validating` with a claim older than
    /// `stale_before`): MUST set them to `validating` with `connection_checked_at = now`, and
    /// skip rows locked by another claimer (any number of processes may claim at once).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn claim_pending(
        &self,
        now: OffsetDateTime,
        stale_before: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<PendingCheck>, StoreError>;

    /// Records the outcome of the check claimed at `claimed_at` (the `now` given to
    /// [`ConnectionCheckRepository::claim_pending`]): `connected` (error cleared) or `error` with
    /// the reason. MUST change nothing, returning false, unless the inbox is still `validating`
    /// under that same claim (its settings may have changed, or a newer claim taken over).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn record(
        &self,
        inbox_id: InboxId,
        outcome: &CheckOutcome,
        claimed_at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}

/// A server and the credentials to log in with (no AUTH when `username` is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLogin {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: String,
    pub password: Password,
}

/// Why a login check failed. Messages never carry the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    #[error("cannot connect: {0}")]
    Unreachable(String),
    #[error("TLS failed: {0}")]
    Tls(String),
    #[error("login refused: {0}")]
    AuthFailed(String),
    #[error("unexpected server behaviour: {0}")]
    Protocol(String),
    #[error("timed out")]
    Timeout,
}

/// Logs in to mail servers to see whether an inbox's settings work.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MailboxChecker: Send + Sync {
    /// Connects, says EHLO, secures the connection as configured, authenticates when a username
    /// is given, and quits, all within a timeout.
    ///
    /// # Errors
    /// [`CheckError`] saying what failed.
    async fn check_smtp(&self, login: &ServerLogin) -> Result<(), CheckError>;

    /// Connects, secures the connection as configured, reads the greeting, logs in and out,
    /// all within a timeout.
    ///
    /// # Errors
    /// [`CheckError`] saying what failed.
    async fn check_imap(&self, login: &ServerLogin) -> Result<(), CheckError>;
}

/// Checks pending inboxes.
#[derive(Clone)]
pub struct ConnectionCheckService {
    repo: Arc<dyn ConnectionCheckRepository>,
    checker: Arc<dyn MailboxChecker>,
    secrets: Arc<dyn SecretBox>,
}

impl std::fmt::Debug for ConnectionCheckService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionCheckService")
            .finish_non_exhaustive()
    }
}

fn truncate(reason: String) -> String {
    if reason.chars().count() <= MAX_REASON_LEN {
        reason
    } else {
        reason.chars().take(MAX_REASON_LEN).collect()
    }
}

impl ConnectionCheckService {
    #[must_use]
    pub fn new(
        repo: Arc<dyn ConnectionCheckRepository>,
        checker: Arc<dyn MailboxChecker>,
        secrets: Arc<dyn SecretBox>,
    ) -> Self {
        Self {
            repo,
            checker,
            secrets,
        }
    }

    fn login(&self, check: &PendingCheck, field: PasswordField) -> Result<ServerLogin, String> {
        let (settings, sealed, name) = match field {
            PasswordField::Smtp => (&check.smtp, &check.smtp_password, "SMTP"),
            PasswordField::Imap => (&check.imap, &check.imap_password, "IMAP"),
        };
        let password = match sealed {
            None => Password::default(),
            Some(sealed) => {
                let clear = self
                    .secrets
                    .open(sealed, &password_aad(check.inbox_id, field))
                    .map_err(|_| {
                        format!(
                            "{name}: the stored password cannot be decrypted (was secrets.key \
                             changed?); set the password again"
                        )
                    })?;
                Password::new(String::from_utf8(clear).map_err(|_| {
                    format!("{name}: the stored password is not text; set it again")
                })?)
            }
        };
        Ok(ServerLogin {
            host: settings.host.clone(),
            port: settings.port,
            security: settings.security,
            username: settings.username.clone(),
            password,
        })
    }

    async fn check_one(&self, check: &PendingCheck) -> CheckOutcome {
        let smtp = self.login(check, PasswordField::Smtp)?;
        let imap = self.login(check, PasswordField::Imap)?;
        self.checker
            .check_smtp(&smtp)
            .await
            .map_err(|e| format!("SMTP {}:{}: {e}", smtp.host, smtp.port))?;
        self.checker
            .check_imap(&imap)
            .await
            .map_err(|e| format!("IMAP {}:{}: {e}", imap.host, imap.port))?;
        Ok(())
    }

    /// Claims pending inboxes, checks each (SMTP, then IMAP) and records the outcome. Returns
    /// how many were checked.
    ///
    /// # Errors
    /// The store's failure (a failed login is an outcome, not an error).
    pub async fn check_pending(&self, now: OffsetDateTime) -> Result<usize, StoreError> {
        let claimed = self
            .repo
            .claim_pending(now, now - STALE_CLAIM, BATCH_SIZE)
            .await?;
        for check in &claimed {
            let outcome = self.check_one(check).await.map_err(truncate);
            self.repo.record(check.inbox_id, &outcome, now).await?;
        }
        Ok(claimed.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::AesGcmSecretBox;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

    fn secrets() -> Arc<AesGcmSecretBox> {
        Arc::new(
            AesGcmSecretBox::from_base64(&AesGcmSecretBox::generate_key_base64()).expect("key"),
        )
    }

    fn pending(secrets: &AesGcmSecretBox, smtp_user: &str) -> PendingCheck {
        let id = InboxId::new();
        let seal = |pw: &str, f| {
            Some(
                secrets
                    .seal(pw.as_bytes(), &password_aad(id, f))
                    .expect("seal"),
            )
        };
        PendingCheck {
            inbox_id: id,
            workspace_id: WorkspaceId::new(),
            smtp: ServerSettings {
                host: "smtp.acme.com".into(),
                port: 587,
                security: Security::StartTls,
                username: smtp_user.into(),
            },
            imap: ServerSettings {
                host: "imap.acme.com".into(),
                port: 993,
                security: Security::Tls,
                username: "ann".into(),
            },
            smtp_password: if smtp_user.is_empty() {
                None
            } else {
                seal("smtp-pw", PasswordField::Smtp)
            },
            imap_password: seal("imap-pw", PasswordField::Imap),
        }
    }

    #[tokio::test]
    async fn working_credentials_are_recorded_as_connected() {
        let b = secrets();
        let check = pending(&b, "ann");
        let id = check.inbox_id;
        let mut repo = MockConnectionCheckRepository::new();
        repo.expect_claim_pending()
            .withf(|now, stale, limit| {
                *now == NOW && *stale == NOW - STALE_CLAIM && *limit == BATCH_SIZE
            })
            .returning(move |_, _, _| Ok(vec![check.clone()]));
        repo.expect_record()
            .withf(move |got, outcome, now| *got == id && outcome.is_ok() && *now == NOW)
            .times(1)
            .returning(|_, _, _| Ok(true));
        let mut checker = MockMailboxChecker::new();
        checker
            .expect_check_smtp()
            .withf(|l| l.username == "ann" && l.password.expose() == "smtp-pw" && l.port == 587)
            .returning(|_| Ok(()));
        checker
            .expect_check_imap()
            .withf(|l| l.password.expose() == "imap-pw" && l.security == Security::Tls)
            .returning(|_| Ok(()));
        let service = ConnectionCheckService::new(Arc::new(repo), Arc::new(checker), b);
        assert_eq!(service.check_pending(NOW).await.ok(), Some(1));
    }

    #[tokio::test]
    async fn a_refused_login_is_recorded_with_its_reason_and_never_the_password() {
        let b = secrets();
        let check = pending(&b, "ann");
        let mut repo = MockConnectionCheckRepository::new();
        repo.expect_claim_pending()
            .returning(move |_, _, _| Ok(vec![check.clone()]));
        repo.expect_record()
            .withf(|_, outcome, _| {
                matches!(outcome, Err(reason) if reason.contains("SMTP smtp.acme.com:587")
                    && reason.contains("535")
                    && !reason.contains("smtp-pw"))
            })
            .times(1)
            .returning(|_, _, _| Ok(true));
        let mut checker = MockMailboxChecker::new();
        checker
            .expect_check_smtp()
            .returning(|_| Err(CheckError::AuthFailed("535 bad credentials".into())));
        checker.expect_check_imap().never();
        let service = ConnectionCheckService::new(Arc::new(repo), Arc::new(checker), b);
        assert_eq!(service.check_pending(NOW).await.ok(), Some(1));
    }

    #[tokio::test]
    async fn an_smtp_relay_without_username_is_checked_without_a_password() {
        let b = secrets();
        let check = pending(&b, "");
        let mut repo = MockConnectionCheckRepository::new();
        repo.expect_claim_pending()
            .returning(move |_, _, _| Ok(vec![check.clone()]));
        repo.expect_record()
            .withf(|_, outcome, _| outcome.is_ok())
            .returning(|_, _, _| Ok(true));
        let mut checker = MockMailboxChecker::new();
        checker
            .expect_check_smtp()
            .withf(|l| l.username.is_empty() && l.password.is_empty())
            .returning(|_| Ok(()));
        checker.expect_check_imap().returning(|_| Ok(()));
        let service = ConnectionCheckService::new(Arc::new(repo), Arc::new(checker), b);
        assert_eq!(service.check_pending(NOW).await.ok(), Some(1));
    }

    #[tokio::test]
    async fn a_password_sealed_for_another_inbox_is_an_error_without_a_login() {
        let b = secrets();
        let mut check = pending(&b, "ann");
        let other = pending(&b, "ann");
        check.imap_password = other.imap_password;
        let mut repo = MockConnectionCheckRepository::new();
        repo.expect_claim_pending()
            .returning(move |_, _, _| Ok(vec![check.clone()]));
        repo.expect_record()
            .withf(|_, outcome, _| {
                matches!(outcome, Err(reason) if reason.contains("IMAP: the stored password cannot be decrypted"))
            })
            .times(1)
            .returning(|_, _, _| Ok(true));
        let mut checker = MockMailboxChecker::new();
        checker.expect_check_smtp().never();
        checker.expect_check_imap().never();
        let service = ConnectionCheckService::new(Arc::new(repo), Arc::new(checker), b);
        assert_eq!(service.check_pending(NOW).await.ok(), Some(1));
    }

    #[tokio::test]
    async fn nothing_pending_checks_nothing() {
        let mut repo = MockConnectionCheckRepository::new();
        repo.expect_claim_pending().returning(|_, _, _| Ok(vec![]));
        repo.expect_record().never();
        let service = ConnectionCheckService::new(
            Arc::new(repo),
            Arc::new(MockMailboxChecker::new()),
            secrets(),
        );
        assert_eq!(service.check_pending(NOW).await.ok(), Some(0));
    }

    #[test]
    fn long_reasons_are_cut() {
        assert_eq!(truncate("x".repeat(600)).len(), MAX_REASON_LEN);
        assert_eq!(truncate("short".into()), "short");
    }
}
