//! Inbox sync: what arrives in an inbox over IMAP becomes state (docs/SYNC.md).
//!
//! [`SyncService::sync_due`] is a step the app calls every `sync.poll_seconds`: it claims inboxes
//! whose last sync is old enough (one process per inbox: a lease with expiry), reads the new
//! messages of INBOX and the spam folder after each folder's checkpoint ([`MailboxReader`]),
//! analyses each one ([`InboundAnalyzer`]: bounce, auto-reply, reply or other, with the headers
//! and bodies), labels human replies ([`AsyncReplyClassifier`]: the configured classifier, remote
//! or built-in, called before and outside the store's transaction) and hands a batch to the store
//! ([`SyncStore::apply_batch`]), which matches every message to what was sent, applies the effects
//! (lead replied/stopped, company stop, bounce, conversation and message rows, counters, events)
//! and moves the folder's checkpoint in ONE transaction. A message already seen (by Message-ID,
//! else by a digest of its bytes) changes nothing, so a replay or a UIDVALIDITY rescan is safe.

use std::sync::Arc;

use async_trait::async_trait;
use reachkit_domain::label::ReplyLabel;
use time::{Duration, OffsetDateTime};

use crate::StoreError;
use crate::classifier::AsyncReplyClassifier;
use crate::clock::Clock;
use crate::connection_check::ServerLogin;
use crate::ids::{InboxId, WorkspaceId};
use crate::inboxes::{PasswordField, ServerSettings, password_aad};
use crate::secrets::{Password, SecretBox};
use crate::warmup::{MarkedMessage, WarmupReceiver};

/// Messages handed to the store per transaction.
pub const BATCH_SIZE: usize = 50;
/// Inboxes synced per step.
pub const INBOXES_PER_STEP: i64 = 10;
/// Attachments larger than this are kept as metadata only (no content).
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;
/// Longest error kept on the lease row.
pub const MAX_ERROR_LEN: usize = 500;

/// An inbox claimed for syncing, with its sealed IMAP password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncInbox {
    pub id: InboxId,
    pub workspace_id: WorkspaceId,
    pub email: String,
    pub imap: ServerSettings,
    pub imap_password: Option<Vec<u8>>,
}

/// A folder's checkpoint: every message with a UID up to `last_uid` under `uidvalidity` is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub uidvalidity: u32,
    pub last_uid: u32,
}

/// One message as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedMessage {
    pub uid: u32,
    pub raw: Vec<u8>,
}

/// Why reading a mailbox failed. Never carries a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("IMAP login refused: {0}")]
    Auth(String),
    #[error("IMAP connection failed: {0}")]
    Connection(String),
    #[error("IMAP error: {0}")]
    Protocol(String),
}

/// Reads an inbox over IMAP.
#[async_trait]
pub trait MailboxReader: Send + Sync {
    /// Connects and logs in.
    ///
    /// # Errors
    /// [`ReadError`].
    async fn open(&self, login: &ServerLogin) -> Result<Box<dyn MailboxSession>, ReadError>;
}

/// A logged-in IMAP session.
#[async_trait]
pub trait MailboxSession: Send {
    /// The folders to sync: `INBOX` first, then the spam folder when there is one (the `\Junk`
    /// special-use folder, else one named like Junk/Spam/`[Gmail]/Spam`).
    ///
    /// # Errors
    /// [`ReadError`].
    async fn folders(&mut self) -> Result<Vec<String>, ReadError>;

    /// Opens `folder` read-only and returns its UIDVALIDITY.
    ///
    /// # Errors
    /// [`ReadError`].
    async fn examine(&mut self, folder: &str) -> Result<u32, ReadError>;

    /// Up to `limit` messages of the open folder with a UID above `after`, in UID order.
    ///
    /// # Errors
    /// [`ReadError`].
    async fn fetch_after(
        &mut self,
        after: u32,
        limit: usize,
    ) -> Result<Vec<FetchedMessage>, ReadError>;

    /// Marks the messages `uids` of `folder` `\Seen` and, with `move_to_inbox`, moves them to
    /// INBOX (the folder is opened read-write for this; fetching from it goes on as before).
    /// Only warmup emails are ever changed (docs/WARMUP.md). A session that cannot change
    /// mailboxes keeps this default, which refuses.
    ///
    /// # Errors
    /// [`ReadError`].
    async fn settle_warmup(
        &mut self,
        folder: &str,
        uids: &[u32],
        move_to_inbox: bool,
    ) -> Result<(), ReadError> {
        let _ = (folder, uids, move_to_inbox);
        Err(ReadError::Protocol(
            "this mailbox session cannot mark or move warmup emails".to_owned(),
        ))
    }

    /// Logs out (errors ignored).
    async fn close(self: Box<Self>);
}

/// An address with its display name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recipient {
    pub email: String,
    pub name: Option<String>,
}

/// A recipient reported by a bounce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BouncedAddress {
    /// Lower-case.
    pub email: String,
    /// The address originally sent to, when the report gives a different one.
    pub original: Option<String>,
    pub status: Option<String>,
    /// The address itself is bad: the lead is marked bounced. Soft: only logged.
    pub hard: bool,
}

/// What an inbound message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundKind {
    /// Written by a human: a reply when it matches something we sent.
    Reply,
    /// Out-of-office / vacation / autoresponder: shown with label out_of_office, never a reply.
    AutoReply,
    Bounce {
        recipients: Vec<BouncedAddress>,
        /// Message-ID of the returned message, without brackets.
        original_message_id: Option<String>,
    },
    /// Anything else: left alone.
    Other,
}

/// An attachment of an inbound message. `content` is `None` above [`MAX_ATTACHMENT_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundAttachment {
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    pub content: Option<Vec<u8>>,
}

/// An inbound message, analysed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    pub kind: InboundKind,
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    /// Oldest first.
    pub references: Vec<String>,
    /// Lower-case sender address.
    pub from: Option<String>,
    pub to: Vec<Recipient>,
    pub cc: Vec<Recipient>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub date: Option<OffsetDateTime>,
    pub attachments: Vec<InboundAttachment>,
    /// Hex SHA-256 of the raw bytes (the dedupe key of a message without Message-ID).
    pub digest: String,
    /// The warmup marker's token (the `X-Reachkit-Warmup` header), if any: a known one makes
    /// the message a warmup email, handled by [`crate::warmup::WarmupReceiver`] (marked read,
    /// moved out of spam) and never given to the store's effects.
    pub warmup: Option<String>,
}

impl InboundMessage {
    /// The key that makes processing idempotent per inbox.
    #[must_use]
    pub fn key(&self) -> String {
        match self.message_id.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() => format!("mid:{id}"),
            _ => format!("sha256:{}", self.digest),
        }
    }

    /// Every Message-ID this message answers: In-Reply-To, then References newest first.
    #[must_use]
    pub fn answered_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.in_reply_to.iter().cloned().collect();
        for r in self.references.iter().rev() {
            if !ids.contains(r) {
                ids.push(r.clone());
            }
        }
        ids
    }
}

/// Parses and classifies raw inbound mail (pure; the mail crate implements it).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait InboundAnalyzer: Send + Sync {
    fn analyze(&self, raw: &[u8]) -> InboundMessage;
}

/// Labels a human reply (the text with or without the quoted part).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait ReplyClassifier: Send + Sync {
    fn classify(&self, text: &str) -> ReplyLabel;
}

/// A message of a batch with its label (replies: the classifier's; auto-replies: out_of_office).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundItem {
    pub message: InboundMessage,
    pub label: Option<ReplyLabel>,
}

/// What the store applies in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundBatch {
    pub inbox_id: InboxId,
    pub workspace_id: WorkspaceId,
    pub inbox_email: String,
    pub folder: String,
    /// The checkpoint after this batch.
    pub checkpoint: Checkpoint,
    pub items: Vec<InboundItem>,
    pub now: OffsetDateTime,
}

/// What a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchReport {
    pub replies: u64,
    pub auto_replies: u64,
    pub bounces: u64,
    pub soft_bounces: u64,
    /// Other, unmatched, or already seen.
    pub ignored: u64,
}

impl BatchReport {
    fn add(&mut self, other: Self) {
        self.replies += other.replies;
        self.auto_replies += other.auto_replies;
        self.bounces += other.bounces;
        self.soft_bounces += other.soft_bounces;
        self.ignored += other.ignored;
    }
}

/// Where sync state lives.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SyncStore: Send + Sync {
    /// Claims up to `limit` active, connected inboxes last synced before `due_before` (or never)
    /// whose lease is free or expired: sets their lease to `owner` until `lease_until`, skipping
    /// rows another process holds.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn claim_due(
        &self,
        owner: &str,
        now: OffsetDateTime,
        due_before: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<SyncInbox>, StoreError>;

    /// The folder's checkpoint, if any.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn checkpoint(
        &self,
        inbox: InboxId,
        folder: &str,
    ) -> Result<Option<Checkpoint>, StoreError>;

    /// Applies a batch and moves the checkpoint, in one transaction, only while `owner` holds
    /// the inbox's lease (else nothing changes and `Ok(None)` comes back).
    ///
    /// # Errors
    /// [`StoreError`].
    async fn apply_batch(
        &self,
        owner: &str,
        batch: &InboundBatch,
    ) -> Result<Option<BatchReport>, StoreError>;

    /// Releases the lease and stamps the sync time and its error (`None`: success).
    ///
    /// # Errors
    /// [`StoreError`].
    async fn release(
        &self,
        owner: &str,
        inbox: InboxId,
        now: OffsetDateTime,
        error: Option<String>,
    ) -> Result<(), StoreError>;
}

/// Sync settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncSettings {
    /// How often an inbox is synced.
    pub poll_seconds: u32,
    /// How long a claimed inbox stays ours.
    pub lease_seconds: u32,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            poll_seconds: 60,
            lease_seconds: 600,
        }
    }
}

/// What a sync step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncReport {
    pub inboxes: u64,
    pub failed: u64,
    pub messages: BatchReport,
}

/// A fresh owner name for a process's sync leases.
#[must_use]
pub fn fresh_owner() -> String {
    format!("sync-{}", uuid::Uuid::new_v4().simple())
}

/// The sync use case.
pub struct SyncService {
    store: Arc<dyn SyncStore>,
    reader: Arc<dyn MailboxReader>,
    analyzer: Arc<dyn InboundAnalyzer>,
    classifier: Arc<dyn AsyncReplyClassifier>,
    secrets: Arc<dyn SecretBox>,
    clock: Arc<dyn Clock>,
    settings: SyncSettings,
    owner: String,
    warmup: Option<WarmupReceiver>,
}

impl std::fmt::Debug for SyncService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncService")
            .field("owner", &self.owner)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl SyncService {
    #[must_use]
    #[expect(clippy::too_many_arguments, reason = "one Arc per port, wired once")]
    pub fn new(
        store: Arc<dyn SyncStore>,
        reader: Arc<dyn MailboxReader>,
        analyzer: Arc<dyn InboundAnalyzer>,
        classifier: Arc<dyn AsyncReplyClassifier>,
        secrets: Arc<dyn SecretBox>,
        clock: Arc<dyn Clock>,
        settings: SyncSettings,
        owner: String,
    ) -> Self {
        Self {
            store,
            reader,
            analyzer,
            classifier,
            secrets,
            clock,
            settings,
            owner,
            warmup: None,
        }
    }

    /// Recognises warmup emails (docs/WARMUP.md) with `receiver`; without one every message is
    /// ordinary mail.
    #[must_use]
    pub fn with_warmup(mut self, receiver: WarmupReceiver) -> Self {
        self.warmup = Some(receiver);
        self
    }

    /// Syncs the inboxes that are due at `now`, one after the other. A failing inbox is recorded
    /// (its error kept on the lease row) and does not stop the others.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn sync_due(&self, now: OffsetDateTime) -> Result<SyncReport, StoreError> {
        let due_before = now - Duration::seconds(i64::from(self.settings.poll_seconds));
        let lease_until = now + Duration::seconds(i64::from(self.settings.lease_seconds));
        let inboxes = self
            .store
            .claim_due(&self.owner, now, due_before, lease_until, INBOXES_PER_STEP)
            .await?;
        let mut report = SyncReport::default();
        for inbox in inboxes {
            report.inboxes += 1;
            let result = self.sync_inbox(&inbox, &mut report.messages).await;
            let error = match result {
                Ok(()) => None,
                Err(SyncError::Store(e)) => {
                    let _ = self
                        .store
                        .release(
                            &self.owner,
                            inbox.id,
                            self.clock.now(),
                            Some(cut(&e.to_string())),
                        )
                        .await;
                    return Err(e);
                }
                Err(SyncError::Read(e)) => {
                    tracing::warn!(inbox = %inbox.id, error = %e, "inbox sync failed");
                    report.failed += 1;
                    Some(cut(&e.to_string()))
                }
            };
            self.store
                .release(&self.owner, inbox.id, self.clock.now(), error)
                .await?;
        }
        Ok(report)
    }

    fn login(&self, inbox: &SyncInbox) -> Result<ServerLogin, ReadError> {
        imap_login(self.secrets.as_ref(), inbox)
    }

    async fn sync_inbox(
        &self,
        inbox: &SyncInbox,
        total: &mut BatchReport,
    ) -> Result<(), SyncError> {
        let login = self.login(inbox)?;
        let mut session = self.reader.open(&login).await?;
        let result = self.sync_folders(inbox, session.as_mut(), total).await;
        session.close().await;
        result
    }

    async fn sync_folders(
        &self,
        inbox: &SyncInbox,
        session: &mut dyn MailboxSession,
        total: &mut BatchReport,
    ) -> Result<(), SyncError> {
        for (index, folder) in session.folders().await?.into_iter().enumerate() {
            // INBOX comes first; the other folder is the spam folder.
            let in_spam = index > 0;
            let uidvalidity = session.examine(&folder).await?;
            let stored = self.store.checkpoint(inbox.id, &folder).await?;
            let mut last_uid = match stored {
                // A different UIDVALIDITY: the UIDs mean nothing any more; rescan from the start
                // (inbound_seen makes the messages already processed change nothing).
                Some(c) if c.uidvalidity == uidvalidity => c.last_uid,
                _ => 0,
            };
            let mut applied = false;
            loop {
                let fetched = session.fetch_after(last_uid, BATCH_SIZE).await?;
                let fresh: Vec<&FetchedMessage> =
                    fetched.iter().filter(|m| m.uid > last_uid).collect();
                let Some(max_uid) = fresh.iter().map(|m| m.uid).max() else {
                    break;
                };
                let messages = self
                    .without_warmup(inbox, session, &folder, in_spam, &fresh)
                    .await?;
                // Labelled before the store's transaction: a remote classifier may take seconds.
                let items = self.label(messages).await;
                let batch = self.batch(inbox, &folder, uidvalidity, max_uid, items);
                match self.store.apply_batch(&self.owner, &batch).await? {
                    Some(r) => total.add(r),
                    // The lease was lost (we took too long): another process carries on.
                    None => return Ok(()),
                }
                applied = true;
                last_uid = max_uid;
                if fetched.len() < BATCH_SIZE {
                    break;
                }
            }
            let recorded = stored.is_some_and(|c| c.uidvalidity == uidvalidity);
            if !applied && !recorded {
                // An empty folder (or one emptied by a UIDVALIDITY change) records its checkpoint.
                let batch = self.batch(inbox, &folder, uidvalidity, last_uid, Vec::new());
                if self.store.apply_batch(&self.owner, &batch).await?.is_none() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn batch(
        &self,
        inbox: &SyncInbox,
        folder: &str,
        uidvalidity: u32,
        last_uid: u32,
        items: Vec<InboundItem>,
    ) -> InboundBatch {
        InboundBatch {
            inbox_id: inbox.id,
            workspace_id: inbox.workspace_id,
            inbox_email: inbox.email.clone(),
            folder: folder.to_owned(),
            checkpoint: Checkpoint {
                uidvalidity,
                last_uid,
            },
            items,
            now: self.clock.now(),
        }
    }

    /// Analyses the fetched messages and takes out the warmup emails addressed to this inbox:
    /// marked `\Seen` (and moved to INBOX from the spam folder) and recorded, BEFORE any
    /// effect, so they never reach the store's replies, conversations or counters.
    async fn without_warmup(
        &self,
        inbox: &SyncInbox,
        session: &mut dyn MailboxSession,
        folder: &str,
        in_spam: bool,
        fetched: &[&FetchedMessage],
    ) -> Result<Vec<InboundMessage>, SyncError> {
        let items: Vec<(u32, InboundMessage)> = fetched
            .iter()
            .map(|m| (m.uid, self.analyzer.analyze(&m.raw)))
            .collect();
        let Some(receiver) = &self.warmup else {
            return Ok(items.into_iter().map(|(_, i)| i).collect());
        };
        let marked: Vec<MarkedMessage> = items
            .iter()
            .filter_map(|(uid, i)| {
                i.warmup.as_ref().map(|token| MarkedMessage {
                    uid: *uid,
                    token: token.clone(),
                })
            })
            .collect();
        let ours = receiver.ours(inbox.id, marked).await?;
        if ours.is_empty() {
            return Ok(items.into_iter().map(|(_, i)| i).collect());
        }
        let uids: Vec<u32> = ours.iter().map(|m| m.uid).collect();
        session.settle_warmup(folder, &uids, in_spam).await?;
        receiver
            .received(inbox.id, &ours, in_spam, self.clock.now())
            .await?;
        Ok(items
            .into_iter()
            .filter(|(uid, _)| !uids.contains(uid))
            .map(|(_, i)| i)
            .collect())
    }

    /// Labels the human replies (auto-replies are `out_of_office` without asking).
    async fn label(&self, messages: Vec<InboundMessage>) -> Vec<InboundItem> {
        let mut items = Vec::with_capacity(messages.len());
        for message in messages {
            let label = match message.kind {
                InboundKind::Reply => Some(self.classifier.classify_reply(&message.text).await),
                InboundKind::AutoReply => Some(ReplyLabel::OutOfOffice),
                InboundKind::Bounce { .. } | InboundKind::Other => None,
            };
            items.push(InboundItem { message, label });
        }
        items
    }
}

/// The IMAP login of an inbox: its settings with the sealed password opened (AAD: inbox id +
/// `imap_password`). Also used by the IDLE watcher (`crate::inbox_watch`).
///
/// # Errors
/// [`ReadError::Auth`] when the password cannot be decrypted or is not text.
pub fn imap_login(secrets: &dyn SecretBox, inbox: &SyncInbox) -> Result<ServerLogin, ReadError> {
    let password =
        match &inbox.imap_password {
            None => Password::default(),
            Some(sealed) => {
                let clear = secrets
                    .open(sealed, &password_aad(inbox.id, PasswordField::Imap))
                    .map_err(|_| {
                        ReadError::Auth(
                            "the stored IMAP password cannot be decrypted (was secrets.key \
                         changed?); set the password again"
                                .to_owned(),
                        )
                    })?;
                Password::new(String::from_utf8(clear).map_err(|_| {
                    ReadError::Auth("the stored IMAP password is not text".to_owned())
                })?)
            }
        };
    Ok(ServerLogin {
        host: inbox.imap.host.clone(),
        port: inbox.imap.port,
        security: inbox.imap.security,
        username: inbox.imap.username.clone(),
        password,
    })
}

enum SyncError {
    Store(StoreError),
    Read(ReadError),
}

impl From<StoreError> for SyncError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<ReadError> for SyncError {
    fn from(e: ReadError) -> Self {
        Self::Read(e)
    }
}

fn cut(s: &str) -> String {
    s.chars().take(MAX_ERROR_LEN).collect()
}

#[cfg(test)]
mod tests;
