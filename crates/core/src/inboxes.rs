//! Inboxes: the sending mailboxes of a workspace, connected with IMAP/SMTP credentials.
//!
//! Passwords are sealed with the [`SecretBox`] before they reach the repository, bound to the
//! inbox id and the column they are stored in ([`password_aad`]); they are never returned.
//! Creating an inbox, or changing its SMTP or IMAP settings, puts it in `pending`, which the
//! background [`crate::connection_check`] picks up.

use std::sync::Arc;

use async_trait::async_trait;
use reachkit_domain::campaign::CampaignStatus;
use reachkit_domain::email::EmailAddress;
use reachkit_domain::esp::Provider;
use reachkit_domain::validation::{FieldError, ValidationErrors};
use reachkit_domain::warmup;
use time::{Date, Duration, OffsetDateTime};

use crate::StoreError;
use crate::blocklist::ListQuery;
use crate::clock::Clock;
use crate::ids::{CampaignId, InboxId, WorkspaceId};
use crate::paging::Page;
use crate::secrets::{Password, SecretBox, SecretError};
use crate::warmup::{WarmupCounts, WarmupStore};

/// Smallest and largest `daily_campaign_limit`.
pub const CAMPAIGN_LIMIT_RANGE: (u32, u32) = (1, 500);
/// Smallest and largest `daily_warmup_limit`.
pub const WARMUP_LIMIT_RANGE: (u32, u32) = (1, 100);
/// Default `daily_campaign_limit` of a new inbox.
pub const DEFAULT_CAMPAIGN_LIMIT: u32 = 30;
/// Default `daily_warmup_limit` of a new inbox.
pub const DEFAULT_WARMUP_LIMIT: u32 = 10;
/// Longest first or last name.
pub const MAX_NAME_LEN: usize = 100;
/// Longest signature.
pub const MAX_SIGNATURE_LEN: usize = 10_000;
/// Days covered by the warmup statistics.
pub const WARMUP_STATS_DAYS: i64 = 7;

/// How a connection to a mail server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain text (a local relay).
    None,
    /// Plain text upgraded with STARTTLS (ports 587, 143).
    StartTls,
    /// TLS from the first byte (ports 465, 993).
    Tls,
}

impl Security {
    pub const ALL: [Self; 3] = [Self::None, Self::StartTls, Self::Tls];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::StartTls => "starttls",
            Self::Tls => "tls",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Where an inbox is in its connection check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStatus {
    Pending,
    Validating,
    Connected,
    Error,
}

impl ConnectionStatus {
    pub const ALL: [Self; 4] = [
        Self::Pending,
        Self::Validating,
        Self::Connected,
        Self::Error,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Validating => "validating",
            Self::Connected => "connected",
            Self::Error => "error",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// How an inbox connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionType {
    OAuth,
    ImapSmtp,
}

impl ConnectionType {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OAuth => "oauth",
            Self::ImapSmtp => "imap_smtp",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::OAuth, Self::ImapSmtp]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// One mail server of an inbox, without its password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// Empty: no authentication (allowed for SMTP only).
    pub username: String,
}

/// An inbox as stored (passwords are not part of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbox {
    pub id: InboxId,
    pub workspace_id: WorkspaceId,
    pub email: EmailAddress,
    pub domain: String,
    pub provider: Provider,
    pub connection_type: ConnectionType,
    pub connection_status: ConnectionStatus,
    /// Why the last connection check failed; `None` unless the status is `error`.
    pub connection_error: Option<String>,
    pub first_name: String,
    pub last_name: String,
    /// Empty when unset.
    pub reply_to: String,
    pub signature: String,
    pub is_active: bool,
    pub is_warming: bool,
    pub daily_campaign_limit: u32,
    pub daily_warmup_limit: u32,
    pub smtp: ServerSettings,
    pub imap: ServerSettings,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A campaign an inbox sends for (the `campaigns` of an inbox's detail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxCampaign {
    pub id: CampaignId,
    pub name: String,
    pub status: CampaignStatus,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// An inbox with the campaigns it is attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxDetail {
    pub inbox: Inbox,
    pub campaigns: Vec<InboxCampaign>,
}

/// Sealed passwords (`nonce || ciphertext`), `None` when there is none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SealedPasswords {
    pub smtp: Option<Vec<u8>>,
    pub imap: Option<Vec<u8>>,
}

/// Which stored password a sealed value belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordField {
    Smtp,
    Imap,
}

/// The associated data that binds a sealed password to its inbox row and column.
#[must_use]
pub fn password_aad(id: InboxId, field: PasswordField) -> Vec<u8> {
    let column = match field {
        PasswordField::Smtp => "smtp_password",
        PasswordField::Imap => "imap_password",
    };
    format!("reachkit/inboxes/{id}/{column}").into_bytes()
}

/// The fields an inbox listing can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InboxSort {
    #[default]
    CreatedAt,
    UpdatedAt,
    Email,
}

impl InboxSort {
    /// The names accepted in `sort_by`.
    pub const ALLOWED: &'static [&'static str] = &["created_at", "updated_at", "email"];

    #[must_use]
    pub fn parse(input: &str) -> Option<Self> {
        match input {
            "created_at" => Some(Self::CreatedAt),
            "updated_at" => Some(Self::UpdatedAt),
            "email" => Some(Self::Email),
            _ => None,
        }
    }
}

/// A mail server as the client sent it (validated by the service).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerInput {
    pub host: String,
    pub port: i64,
    pub security: String,
    pub username: String,
    pub password: Password,
}

/// A new inbox as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewInboxInput {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub provider: Option<String>,
    pub smtp: ServerInput,
    pub imap: ServerInput,
}

/// A PATCH of an inbox: `None` leaves a field unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InboxChanges {
    pub is_active: Option<bool>,
    pub is_warming: Option<bool>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Empty clears it.
    pub reply_to: Option<String>,
    pub signature: Option<String>,
    pub daily_campaign_limit: Option<i64>,
    pub daily_warmup_limit: Option<i64>,
    /// New SMTP settings (an extension): the whole block, password included.
    pub smtp: Option<ServerInput>,
    /// New IMAP settings (an extension): the whole block, password included.
    pub imap: Option<ServerInput>,
}

/// New settings of one server with its sealed password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUpdate {
    pub settings: ServerSettings,
    pub sealed_password: Option<Vec<u8>>,
}

/// A validated change set, applied by the repository in one statement. When `smtp` or `imap`
/// is set the repository MUST also set the status to `pending` and clear `connection_error`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InboxUpdate {
    pub is_active: Option<bool>,
    pub is_warming: Option<bool>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub reply_to: Option<String>,
    pub signature: Option<String>,
    pub daily_campaign_limit: Option<u32>,
    pub daily_warmup_limit: Option<u32>,
    pub smtp: Option<ServerUpdate>,
    pub imap: Option<ServerUpdate>,
    pub updated_at: Option<OffsetDateTime>,
}

impl InboxUpdate {
    /// Whether the SMTP or IMAP settings change (the inbox must be checked again).
    #[must_use]
    pub fn changes_credentials(&self) -> bool {
        self.smtp.is_some() || self.imap.is_some()
    }
}

/// One day of warmup statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmupDay {
    pub date: Date,
    pub sent: u64,
    pub spam_count: u64,
}

/// Warmup statistics of an inbox over [`WARMUP_STATS_DAYS`] days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmupStats {
    pub sent: u64,
    pub received: u64,
    pub saved_from_spam: u64,
    pub health_score: u8,
    pub ramp_up_progress: u8,
    /// Oldest first, ending today (UTC).
    pub daily: Vec<WarmupDay>,
}

/// Where inboxes are kept. Every method is scoped to one workspace.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait InboxRepository: Send + Sync {
    /// Stores a new inbox with its sealed passwords. MUST return `false`, storing nothing, when
    /// the workspace already has an inbox with this address (safe under concurrent inserts).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn insert(&self, inbox: &Inbox, passwords: &SealedPasswords) -> Result<bool, StoreError>;

    /// The inbox with its campaigns (ordered by campaign creation), if the workspace has it.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn get(
        &self,
        workspace_id: WorkspaceId,
        id: InboxId,
    ) -> Result<Option<InboxDetail>, StoreError>;

    /// One page of the workspace's inboxes; `search` matches the address or the names.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn list(
        &self,
        workspace_id: WorkspaceId,
        query: &ListQuery<InboxSort>,
    ) -> Result<Page<Inbox>, StoreError>;

    /// Applies the whole update at once and returns the inbox after it, or `None` (changing
    /// nothing) when the workspace has no such inbox.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn update(
        &self,
        workspace_id: WorkspaceId,
        id: InboxId,
        update: &InboxUpdate,
    ) -> Result<Option<InboxDetail>, StoreError>;

    /// Deletes the inbox (and its campaign attachments); MUST return whether one was deleted.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn delete(&self, workspace_id: WorkspaceId, id: InboxId) -> Result<bool, StoreError>;
}

/// Why an inbox operation failed.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error("inbox not found")]
    NotFound,
    #[error("an inbox with this address already exists in the workspace")]
    Duplicate,
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The inbox use cases.
#[derive(Clone)]
pub struct InboxService {
    repo: Arc<dyn InboxRepository>,
    secrets: Arc<dyn SecretBox>,
    clock: Arc<dyn Clock>,
    warmup: Option<Arc<dyn WarmupStore>>,
}

impl std::fmt::Debug for InboxService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboxService").finish_non_exhaustive()
    }
}

fn name_field(errors: &mut Vec<FieldError>, field: &str, value: &str) -> String {
    let value = value.trim();
    if value.chars().count() > MAX_NAME_LEN {
        errors.push(FieldError::new(
            field,
            "too_long",
            format!("must be at most {MAX_NAME_LEN} characters"),
        ));
    }
    value.to_owned()
}

fn limit_field(errors: &mut Vec<FieldError>, field: &str, value: i64, range: (u32, u32)) -> u32 {
    match u32::try_from(value) {
        Ok(v) if (range.0..=range.1).contains(&v) => v,
        _ => {
            errors.push(FieldError::new(
                field,
                "out_of_range",
                format!("must be between {} and {}", range.0, range.1),
            ));
            range.0
        }
    }
}

fn signature_field(errors: &mut Vec<FieldError>, value: &str) -> String {
    if value.chars().count() > MAX_SIGNATURE_LEN {
        errors.push(FieldError::new(
            "signature",
            "too_long",
            format!("must be at most {MAX_SIGNATURE_LEN} characters"),
        ));
    }
    value.to_owned()
}

fn reply_to_field(errors: &mut Vec<FieldError>, value: &str) -> String {
    if value.trim().is_empty() {
        return String::new();
    }
    match EmailAddress::parse(value) {
        Ok(address) => address.into_string(),
        Err(e) => {
            errors.push(FieldError::new("reply_to", "invalid_email", e.to_string()));
            String::new()
        }
    }
}

/// Validates one server block; `needs_login` makes the username mandatory (IMAP).
fn server_field(
    errors: &mut Vec<FieldError>,
    prefix: &str,
    input: &ServerInput,
    needs_login: bool,
) -> (ServerSettings, Password) {
    let host = input.host.trim().to_ascii_lowercase();
    if host.is_empty() {
        errors.push(FieldError::new(
            format!("{prefix}.host"),
            "required",
            "is required",
        ));
    } else if host.len() > 253 || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        errors.push(FieldError::new(
            format!("{prefix}.host"),
            "invalid_value",
            "must be a host name or an IP address",
        ));
    }
    let port = match u16::try_from(input.port) {
        Ok(p) if p >= 1 => p,
        _ => {
            errors.push(FieldError::new(
                format!("{prefix}.port"),
                "out_of_range",
                "must be between 1 and 65535",
            ));
            1
        }
    };
    let security = Security::parse(&input.security).unwrap_or_else(|| {
        errors.push(FieldError::new(
            format!("{prefix}.security"),
            "invalid_value",
            "must be one of: none, starttls, tls",
        ));
        Security::Tls
    });
    let username = input.username.trim().to_owned();
    if needs_login && username.is_empty() {
        errors.push(FieldError::new(
            format!("{prefix}.username"),
            "required",
            "is required",
        ));
    }
    if !username.is_empty() && input.password.is_empty() {
        errors.push(FieldError::new(
            format!("{prefix}.password"),
            "required",
            "is required when a username is given",
        ));
    }
    // Without a username no AUTH is attempted, so a password would never be used: none is kept.
    let password = if username.is_empty() {
        Password::default()
    } else {
        input.password.clone()
    };
    (
        ServerSettings {
            host,
            port,
            security,
            username,
        },
        password,
    )
}

fn invalid<T>(errors: Vec<FieldError>, value: T) -> Result<T, InboxError> {
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(InboxError::Invalid(ValidationErrors(errors)))
    }
}

impl InboxService {
    #[must_use]
    pub fn new(
        repo: Arc<dyn InboxRepository>,
        secrets: Arc<dyn SecretBox>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            repo,
            secrets,
            clock,
            warmup: None,
        }
    }

    /// Counts the warmup statistics from `store` (without one they are all zero).
    #[must_use]
    pub fn with_warmup_store(mut self, store: Arc<dyn WarmupStore>) -> Self {
        self.warmup = Some(store);
        self
    }

    fn seal(
        &self,
        id: InboxId,
        field: PasswordField,
        password: &Password,
    ) -> Result<Option<Vec<u8>>, InboxError> {
        if password.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.secrets.seal(
            password.expose().as_bytes(),
            &password_aad(id, field),
        )?))
    }

    /// Creates an IMAP/SMTP inbox in `pending`, with the defaults of a new inbox.
    ///
    /// # Errors
    /// [`InboxError::Invalid`] naming every invalid field, [`InboxError::Duplicate`] when the
    /// workspace has the address already, or a store or encryption failure.
    pub async fn create(
        &self,
        workspace_id: WorkspaceId,
        input: &NewInboxInput,
    ) -> Result<Inbox, InboxError> {
        let mut errors = Vec::new();
        let email = EmailAddress::parse(&input.email)
            .map_err(|e| errors.push(FieldError::new("email", "invalid_email", e.to_string())))
            .ok();
        let first_name = name_field(
            &mut errors,
            "first_name",
            input.first_name.as_deref().unwrap_or(""),
        );
        let last_name = name_field(
            &mut errors,
            "last_name",
            input.last_name.as_deref().unwrap_or(""),
        );
        let provider = match input.provider.as_deref() {
            None => Provider::Other,
            Some(p) => match Provider::parse(p) {
                Some(p @ (Provider::Google | Provider::Microsoft | Provider::Other)) => p,
                _ => {
                    errors.push(FieldError::new(
                        "provider",
                        "invalid_value",
                        "must be one of: google, microsoft, other",
                    ));
                    Provider::Other
                }
            },
        };
        let (smtp, smtp_password) = server_field(&mut errors, "smtp", &input.smtp, false);
        let (imap, imap_password) = server_field(&mut errors, "imap", &input.imap, true);
        let email = invalid(errors, email)?;
        let Some(email) = email else {
            return Err(InboxError::Invalid(ValidationErrors(vec![])));
        };
        // Stored with microsecond precision: answer with what a later read will show.
        let now = self.clock.now();
        let now = now
            .replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now);
        let id = InboxId::new();
        let passwords = SealedPasswords {
            smtp: self.seal(id, PasswordField::Smtp, &smtp_password)?,
            imap: self.seal(id, PasswordField::Imap, &imap_password)?,
        };
        let inbox = Inbox {
            id,
            workspace_id,
            domain: email.domain().to_owned(),
            email,
            provider,
            connection_type: ConnectionType::ImapSmtp,
            connection_status: ConnectionStatus::Pending,
            connection_error: None,
            first_name,
            last_name,
            reply_to: String::new(),
            signature: String::new(),
            is_active: true,
            is_warming: false,
            daily_campaign_limit: DEFAULT_CAMPAIGN_LIMIT,
            daily_warmup_limit: DEFAULT_WARMUP_LIMIT,
            smtp,
            imap,
            created_at: now,
            updated_at: now,
        };
        if self.repo.insert(&inbox, &passwords).await? {
            Ok(inbox)
        } else {
            Err(InboxError::Duplicate)
        }
    }

    /// One page of the workspace's inboxes.
    ///
    /// # Errors
    /// The store's failure.
    pub async fn list(
        &self,
        workspace_id: WorkspaceId,
        query: &ListQuery<InboxSort>,
    ) -> Result<Page<Inbox>, InboxError> {
        Ok(self.repo.list(workspace_id, query).await?)
    }

    /// One inbox with its campaigns.
    ///
    /// # Errors
    /// [`InboxError::NotFound`] or the store's failure.
    pub async fn get(
        &self,
        workspace_id: WorkspaceId,
        id: InboxId,
    ) -> Result<InboxDetail, InboxError> {
        self.repo
            .get(workspace_id, id)
            .await?
            .ok_or(InboxError::NotFound)
    }

    /// Applies a PATCH: every field is validated first, and nothing changes unless all are
    /// valid. New SMTP or IMAP settings put the inbox back in `pending`.
    ///
    /// # Errors
    /// [`InboxError::Invalid`] naming every invalid field, [`InboxError::NotFound`], or a store
    /// or encryption failure.
    pub async fn update(
        &self,
        workspace_id: WorkspaceId,
        id: InboxId,
        changes: &InboxChanges,
    ) -> Result<InboxDetail, InboxError> {
        let mut errors = Vec::new();
        let mut update = InboxUpdate {
            is_active: changes.is_active,
            is_warming: changes.is_warming,
            first_name: changes
                .first_name
                .as_deref()
                .map(|v| name_field(&mut errors, "first_name", v)),
            last_name: changes
                .last_name
                .as_deref()
                .map(|v| name_field(&mut errors, "last_name", v)),
            reply_to: changes
                .reply_to
                .as_deref()
                .map(|v| reply_to_field(&mut errors, v)),
            signature: changes
                .signature
                .as_deref()
                .map(|v| signature_field(&mut errors, v)),
            daily_campaign_limit: changes
                .daily_campaign_limit
                .map(|v| limit_field(&mut errors, "daily_campaign_limit", v, CAMPAIGN_LIMIT_RANGE)),
            daily_warmup_limit: changes
                .daily_warmup_limit
                .map(|v| limit_field(&mut errors, "daily_warmup_limit", v, WARMUP_LIMIT_RANGE)),
            smtp: None,
            imap: None,
            updated_at: None,
        };
        let smtp = changes
            .smtp
            .as_ref()
            .map(|s| server_field(&mut errors, "smtp", s, false));
        let imap = changes
            .imap
            .as_ref()
            .map(|s| server_field(&mut errors, "imap", s, true));
        let mut update = invalid(errors, {
            update.updated_at = Some(self.clock.now());
            update
        })?;
        if let Some((settings, password)) = smtp {
            update.smtp = Some(ServerUpdate {
                settings,
                sealed_password: self.seal(id, PasswordField::Smtp, &password)?,
            });
        }
        if let Some((settings, password)) = imap {
            update.imap = Some(ServerUpdate {
                settings,
                sealed_password: self.seal(id, PasswordField::Imap, &password)?,
            });
        }
        self.repo
            .update(workspace_id, id, &update)
            .await?
            .ok_or(InboxError::NotFound)
    }

    /// Deletes an inbox; its address can be used again.
    ///
    /// # Errors
    /// [`InboxError::NotFound`] or the store's failure.
    pub async fn delete(&self, workspace_id: WorkspaceId, id: InboxId) -> Result<(), InboxError> {
        if self.repo.delete(workspace_id, id).await? {
            Ok(())
        } else {
            Err(InboxError::NotFound)
        }
    }

    /// Warmup statistics over the last [`WARMUP_STATS_DAYS`] UTC days, today included, oldest
    /// first, counted from the recorded warmup emails (docs/WARMUP.md): `sent` and each day's
    /// `sent`/`spam_count` by the day the inbox sent them, `received` and `saved_from_spam` by the
    /// day its sync found them; the scores come from the domain's warmup rules (health 100 when
    /// nothing was sent; ramp-up 0 while not warming).
    ///
    /// # Errors
    /// [`InboxError::NotFound`] or the store's failure.
    pub async fn warmup_stats(
        &self,
        workspace_id: WorkspaceId,
        id: InboxId,
    ) -> Result<WarmupStats, InboxError> {
        let detail = self.get(workspace_id, id).await?;
        let today = self.clock.now().to_offset(time::UtcOffset::UTC).date();
        let from = today - Duration::days(WARMUP_STATS_DAYS - 1);
        let counts = match &self.warmup {
            Some(store) => store.counts(id, from, today).await?,
            None => WarmupCounts::default(),
        };
        let daily: Vec<WarmupDay> = (0..WARMUP_STATS_DAYS)
            .rev()
            .map(|back| {
                let date = today - Duration::days(back);
                let (sent, spam_count) = counts
                    .daily
                    .iter()
                    .filter(|d| d.date == date)
                    .fold((0, 0), |(s, p), d| (s + d.sent, p + d.spam));
                WarmupDay {
                    date,
                    sent,
                    spam_count,
                }
            })
            .collect();
        let sent: u64 = daily.iter().map(|d| d.sent).sum();
        let spam: u64 = daily.iter().map(|d| d.spam_count).sum();
        let warming_days = if detail.inbox.is_warming {
            crate::warmup::ramp_day(counts.started_on, today)
        } else {
            0
        };
        Ok(WarmupStats {
            sent,
            received: counts.received,
            saved_from_spam: counts.saved_from_spam,
            health_score: warmup::health_score(sent, spam),
            ramp_up_progress: warmup::ramp_up_progress(
                warming_days,
                detail.inbox.daily_warmup_limit,
            ),
            daily,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MockClock;
    use crate::secrets::{AesGcmSecretBox, MockSecretBox};
    use time::macros::{date, datetime};

    const NOW: OffsetDateTime = datetime!(2026-11-30 23:59:59.123456789 UTC);

    fn clock() -> Arc<MockClock> {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(NOW);
        Arc::new(clock)
    }

    fn real_box() -> Arc<AesGcmSecretBox> {
        Arc::new(
            AesGcmSecretBox::from_base64(&AesGcmSecretBox::generate_key_base64()).expect("key"),
        )
    }

    fn server(username: &str, password: &str, security: &str) -> ServerInput {
        ServerInput {
            host: " Mail.Example.com ".into(),
            port: 587,
            security: security.into(),
            username: username.into(),
            password: Password::new(password),
        }
    }

    fn input() -> NewInboxInput {
        NewInboxInput {
            email: " Sales@Acme.COM ".into(),
            first_name: Some("Ann".into()),
            last_name: None,
            provider: None,
            smtp: server("sales@acme.com", "smtp-secret", "starttls"),
            imap: server("sales@acme.com", "imap-secret", "tls"),
        }
    }

    fn detail(inbox: Inbox) -> InboxDetail {
        InboxDetail {
            inbox,
            campaigns: vec![],
        }
    }

    fn sample(ws: WorkspaceId) -> Inbox {
        Inbox {
            id: InboxId::new(),
            workspace_id: ws,
            email: EmailAddress::parse("a@acme.com").expect("valid"),
            domain: "acme.com".into(),
            provider: Provider::Other,
            connection_type: ConnectionType::ImapSmtp,
            connection_status: ConnectionStatus::Connected,
            connection_error: None,
            first_name: String::new(),
            last_name: String::new(),
            reply_to: String::new(),
            signature: String::new(),
            is_active: true,
            is_warming: false,
            daily_campaign_limit: 30,
            daily_warmup_limit: 10,
            smtp: ServerSettings {
                host: "h".into(),
                port: 25,
                security: Security::None,
                username: String::new(),
            },
            imap: ServerSettings {
                host: "h".into(),
                port: 143,
                security: Security::None,
                username: "u".into(),
            },
            created_at: NOW,
            updated_at: NOW,
        }
    }

    fn fields(result: Result<impl std::fmt::Debug, InboxError>) -> Vec<String> {
        match result {
            Err(InboxError::Invalid(e)) => e.fields().iter().map(|f| f.field.clone()).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn create_stores_a_pending_imap_smtp_inbox_with_defaults_and_sealed_passwords() {
        let ws = WorkspaceId::new();
        let secrets = real_box();
        let check = Arc::clone(&secrets);
        let mut repo = MockInboxRepository::new();
        repo.expect_insert()
            .withf(move |inbox, sealed| {
                let smtp = sealed.smtp.as_deref().unwrap_or_default();
                let imap = sealed.imap.as_deref().unwrap_or_default();
                inbox.workspace_id == ws
                    && inbox.email.as_str() == "sales@acme.com"
                    && inbox.domain == "acme.com"
                    && inbox.connection_status == ConnectionStatus::Pending
                    && inbox.connection_type == ConnectionType::ImapSmtp
                    && inbox.daily_campaign_limit == 30
                    && inbox.daily_warmup_limit == 10
                    && inbox.is_active
                    && !inbox.is_warming
                    && inbox.provider == Provider::Other
                    && inbox.smtp.host == "mail.example.com"
                    && check
                        .open(smtp, &password_aad(inbox.id, PasswordField::Smtp))
                        .as_deref()
                        == Ok(b"smtp-secret".as_slice())
                    && check
                        .open(imap, &password_aad(inbox.id, PasswordField::Imap))
                        .as_deref()
                        == Ok(b"imap-secret".as_slice())
                    && check
                        .open(smtp, &password_aad(inbox.id, PasswordField::Imap))
                        .is_err()
            })
            .times(1)
            .returning(|_, _| Ok(true));
        let service = InboxService::new(Arc::new(repo), secrets, clock());
        let inbox = service.create(ws, &input()).await.expect("created");
        assert_eq!(inbox.first_name, "Ann");
        assert_eq!(
            inbox.created_at.nanosecond() % 1_000,
            0,
            "microseconds, as stored"
        );
        assert_eq!(inbox.last_name, "");
    }

    #[tokio::test]
    async fn create_names_every_invalid_field_and_stores_nothing() {
        let mut repo = MockInboxRepository::new();
        repo.expect_insert().never();
        let service = InboxService::new(Arc::new(repo), real_box(), clock());
        let bad = NewInboxInput {
            email: "nope".into(),
            provider: Some("yahoo".into()),
            smtp: ServerInput {
                host: String::new(),
                port: 70000,
                security: "ssl".into(),
                username: "u".into(),
                password: Password::default(),
            },
            imap: ServerInput {
                host: "imap.x".into(),
                port: 993,
                security: "tls".into(),
                username: String::new(),
                password: Password::default(),
            },
            ..NewInboxInput::default()
        };
        assert_eq!(
            fields(service.create(WorkspaceId::new(), &bad).await),
            [
                "email",
                "provider",
                "smtp.host",
                "smtp.port",
                "smtp.security",
                "smtp.password",
                "imap.username"
            ]
        );
    }

    #[tokio::test]
    async fn an_smtp_server_without_username_needs_no_password_and_keeps_none() {
        let mut repo = MockInboxRepository::new();
        repo.expect_insert()
            .withf(|_, sealed| sealed.smtp.is_none() && sealed.imap.is_some())
            .returning(|_, _| Ok(true));
        let service = InboxService::new(Arc::new(repo), real_box(), clock());
        let mut relay = input();
        relay.smtp = server("", "ignored", "none");
        assert!(service.create(WorkspaceId::new(), &relay).await.is_ok());
    }

    #[tokio::test]
    async fn a_duplicate_address_is_reported() {
        let mut repo = MockInboxRepository::new();
        repo.expect_insert().returning(|_, _| Ok(false));
        let service = InboxService::new(Arc::new(repo), real_box(), clock());
        assert!(matches!(
            service.create(WorkspaceId::new(), &input()).await,
            Err(InboxError::Duplicate)
        ));
    }

    #[tokio::test]
    async fn update_validates_every_field_before_changing_anything() {
        let mut repo = MockInboxRepository::new();
        repo.expect_update().never();
        let service = InboxService::new(Arc::new(repo), Arc::new(MockSecretBox::new()), clock());
        let changes = InboxChanges {
            is_active: Some(false),
            reply_to: Some("not an address".into()),
            daily_campaign_limit: Some(501),
            daily_warmup_limit: Some(0),
            first_name: Some("x".repeat(101)),
            ..InboxChanges::default()
        };
        assert_eq!(
            fields(
                service
                    .update(WorkspaceId::new(), InboxId::new(), &changes)
                    .await
            ),
            [
                "first_name",
                "reply_to",
                "daily_campaign_limit",
                "daily_warmup_limit"
            ]
        );
    }

    #[tokio::test]
    async fn update_passes_valid_changes_and_an_empty_reply_to_clears_it() {
        let ws = WorkspaceId::new();
        let mut repo = MockInboxRepository::new();
        repo.expect_update()
            .withf(|_, _, u| {
                u.reply_to.as_deref() == Some("")
                    && u.daily_campaign_limit == Some(500)
                    && u.daily_warmup_limit == Some(1)
                    && u.is_warming == Some(true)
                    && u.updated_at == Some(NOW)
                    && !u.changes_credentials()
            })
            .returning(move |_, _, _| Ok(Some(detail(sample(ws)))));
        let service = InboxService::new(Arc::new(repo), Arc::new(MockSecretBox::new()), clock());
        let changes = InboxChanges {
            reply_to: Some(String::new()),
            daily_campaign_limit: Some(500),
            daily_warmup_limit: Some(1),
            is_warming: Some(true),
            ..InboxChanges::default()
        };
        assert!(service.update(ws, InboxId::new(), &changes).await.is_ok());
    }

    #[tokio::test]
    async fn reply_to_is_stored_in_canonical_form() {
        let mut repo = MockInboxRepository::new();
        repo.expect_update()
            .withf(|_, _, u| u.reply_to.as_deref() == Some("boss@acme.com"))
            .returning(|ws, _, _| Ok(Some(detail(sample(ws)))));
        let service = InboxService::new(Arc::new(repo), Arc::new(MockSecretBox::new()), clock());
        let changes = InboxChanges {
            reply_to: Some(" Boss@ACME.com".into()),
            ..InboxChanges::default()
        };
        assert!(
            service
                .update(WorkspaceId::new(), InboxId::new(), &changes)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn new_credentials_are_sealed_for_this_inbox() {
        let id = InboxId::new();
        let secrets = real_box();
        let check = Arc::clone(&secrets);
        let mut repo = MockInboxRepository::new();
        repo.expect_update()
            .withf(move |_, got, u| {
                let sealed = u
                    .smtp
                    .as_ref()
                    .and_then(|s| s.sealed_password.clone())
                    .unwrap_or_default();
                *got == id
                    && u.changes_credentials()
                    && u.imap.is_none()
                    && check
                        .open(&sealed, &password_aad(id, PasswordField::Smtp))
                        .as_deref()
                        == Ok(b"new".as_slice())
            })
            .returning(|ws, _, _| Ok(Some(detail(sample(ws)))));
        let service = InboxService::new(Arc::new(repo), secrets, clock());
        let changes = InboxChanges {
            smtp: Some(server("u", "new", "tls")),
            ..InboxChanges::default()
        };
        assert!(
            service
                .update(WorkspaceId::new(), id, &changes)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn unknown_inboxes_are_not_found() {
        let mut repo = MockInboxRepository::new();
        repo.expect_get().returning(|_, _| Ok(None));
        repo.expect_update().returning(|_, _, _| Ok(None));
        repo.expect_delete().returning(|_, _| Ok(false));
        let service = InboxService::new(Arc::new(repo), Arc::new(MockSecretBox::new()), clock());
        let (ws, id) = (WorkspaceId::new(), InboxId::new());
        assert!(matches!(
            service.get(ws, id).await,
            Err(InboxError::NotFound)
        ));
        assert!(matches!(
            service.update(ws, id, &InboxChanges::default()).await,
            Err(InboxError::NotFound)
        ));
        assert!(matches!(
            service.delete(ws, id).await,
            Err(InboxError::NotFound)
        ));
        assert!(matches!(
            service.warmup_stats(ws, id).await,
            Err(InboxError::NotFound)
        ));
    }

    #[tokio::test]
    async fn warmup_stats_are_counted_from_the_store_over_the_last_seven_days() {
        use crate::warmup::{MockWarmupStore, WarmupDayCounts};
        let mut repo = MockInboxRepository::new();
        repo.expect_get().returning(|ws, _| {
            let mut inbox = sample(ws);
            inbox.is_warming = true;
            Ok(Some(detail(inbox)))
        });
        let id = InboxId::new();
        let mut store = MockWarmupStore::new();
        store
            .expect_counts()
            .withf(move |inbox, from, to| {
                *inbox == id && *from == date!(2026 - 11 - 24) && *to == date!(2026 - 11 - 30)
            })
            .returning(|_, _, _| {
                Ok(WarmupCounts {
                    daily: vec![
                        WarmupDayCounts {
                            date: date!(2026 - 11 - 30),
                            sent: 4,
                            spam: 1,
                        },
                        WarmupDayCounts {
                            date: date!(2026 - 11 - 29),
                            sent: 2,
                            spam: 0,
                        },
                    ],
                    received: 5,
                    saved_from_spam: 1,
                    started_on: Some(date!(2026 - 11 - 29)),
                })
            });
        let service = InboxService::new(Arc::new(repo), Arc::new(MockSecretBox::new()), clock())
            .with_warmup_store(Arc::new(store));
        let stats = service
            .warmup_stats(WorkspaceId::new(), id)
            .await
            .expect("stats");
        assert_eq!(
            (stats.sent, stats.received, stats.saved_from_spam),
            (6, 5, 1)
        );
        // 1 of 6 in spam: 83; ramp day 2 of a limit of 10: target 4, 40 %.
        assert_eq!((stats.health_score, stats.ramp_up_progress), (83, 40));
        let days: Vec<(u64, u64)> = stats.daily.iter().map(|d| (d.sent, d.spam_count)).collect();
        assert_eq!(
            days,
            [(0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (2, 0), (4, 1)]
        );
    }

    #[tokio::test]
    async fn warmup_stats_are_seven_zero_days_ending_today_with_full_health() {
        let mut repo = MockInboxRepository::new();
        repo.expect_get()
            .returning(|ws, _| Ok(Some(detail(sample(ws)))));
        let service = InboxService::new(Arc::new(repo), Arc::new(MockSecretBox::new()), clock());
        let stats = service
            .warmup_stats(WorkspaceId::new(), InboxId::new())
            .await
            .expect("stats");
        assert_eq!(
            (stats.sent, stats.received, stats.saved_from_spam),
            (0, 0, 0)
        );
        assert_eq!(stats.health_score, 100);
        assert_eq!(stats.ramp_up_progress, 0);
        let dates: Vec<Date> = stats.daily.iter().map(|d| d.date).collect();
        assert_eq!(
            dates,
            [
                date!(2026 - 11 - 24),
                date!(2026 - 11 - 25),
                date!(2026 - 11 - 26),
                date!(2026 - 11 - 27),
                date!(2026 - 11 - 28),
                date!(2026 - 11 - 29),
                date!(2026 - 11 - 30)
            ]
        );
        assert!(stats.daily.iter().all(|d| d.sent == 0 && d.spam_count == 0));
    }

    #[test]
    fn sort_by_accepts_only_the_allowlist() {
        for name in InboxSort::ALLOWED {
            assert!(InboxSort::parse(name).is_some(), "{name}");
        }
        assert_eq!(InboxSort::parse("password"), None);
    }
}
