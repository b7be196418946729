//! Warmup (docs/WARMUP.md): warming inboxes of the installation send each other natural-looking
//! emails, ramping up each day to their `daily_warmup_limit`; the recipients' syncs find them by
//! a hidden marker, mark them read, move them out of spam and answer a share of them.
//!
//! [`WarmupService::send_due`] is the sending step the app runs every tick: it claims the warming
//! inboxes whose next warmup send is due (one process per inbox: a lease), writes each email's
//! row ([`WarmupStore::begin_send`]) BEFORE the SMTP transaction (so the recipient's sync always
//! knows the marker), sends it and records the outcome. [`WarmupReceiver`] is what sync calls for
//! the messages that carry a known marker. The statistics are counted from the rows
//! ([`WarmupStore::counts`]).

use std::sync::Arc;

use async_trait::async_trait;
use reachkit_domain::warmup;
use time::{Date, Duration, OffsetDateTime, UtcOffset};
use uuid::Uuid;

use crate::StoreError;
use crate::clock::Clock;
use crate::engine::{SendInbox, smtp_login};
use crate::ids::{InboxId, WorkspaceId};
use crate::secrets::SecretBox;
use crate::sending::{MailSender, Mailbox, OutgoingEmail};

/// The header that marks a warmup email; its value is the email's opaque token.
pub const MARKER_HEADER: &str = "X-Reachkit-Warmup";
/// Warming inboxes handled per step.
pub const INBOXES_PER_STEP: i64 = 20;

/// Warmup settings (`[warmup]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmupSettings {
    /// Off: no warmup email is sent (received ones are still recognised).
    pub enabled: bool,
    /// The shortest gap between two warmup sends of one inbox.
    pub min_interval_seconds: u32,
    /// Spread the day's quota evenly over the rest of the UTC day (else: every
    /// `min_interval_seconds` until the quota is reached).
    pub spread_over_day: bool,
    /// Share (0-100) of received warmup emails that are answered.
    pub reply_share_percent: u8,
    /// How long a claimed inbox stays ours.
    pub lease_seconds: u32,
}

impl Default for WarmupSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            min_interval_seconds: 900,
            spread_over_day: true,
            reply_share_percent: 30,
            lease_seconds: 300,
        }
    }
}

/// A warming inbox claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmupSender {
    pub inbox: SendInbox,
    pub workspace_id: WorkspaceId,
    pub daily_warmup_limit: u32,
    /// The first day of its current warming period (ramp day 1).
    pub started_on: Date,
    /// Warmup emails written for it so far (the recipient rotation).
    pub sends_total: u64,
    /// Warmup emails counted against today's quota (sending or sent today).
    pub sent_today: u32,
}

/// An inbox of the warmup pool (warming, active, connected; any workspace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolInbox {
    pub id: InboxId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

/// A received warmup email the inbox is to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTask {
    pub original_id: Uuid,
    pub original_message_id: String,
    pub subject: String,
    /// The original sender.
    pub to: PoolInbox,
}

/// A warmup email about to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmupIntent {
    pub id: Uuid,
    pub token: String,
    pub message_id: String,
    pub sender: InboxId,
    pub recipient: InboxId,
    pub subject: String,
    /// The warmup email this one answers.
    pub reply_to_id: Option<Uuid>,
    /// The UTC day it counts against.
    pub day: Date,
    pub now: OffsetDateTime,
}

/// What an inbox's sync found of one warmup email addressed to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmupReceipt {
    pub token: String,
    /// Found in the spam folder.
    pub in_spam: bool,
    /// Moved from the spam folder to INBOX.
    pub saved: bool,
    /// To be answered.
    pub reply_wanted: bool,
}

/// One UTC day of an inbox's sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmupDayCounts {
    pub date: Date,
    pub sent: u64,
    /// Of those, found in the recipient's spam folder.
    pub spam: u64,
}

/// Counts of an inbox's warmup over a range of UTC days.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WarmupCounts {
    /// Only the days with sends, in any order.
    pub daily: Vec<WarmupDayCounts>,
    /// Warmup emails it received in the range (by the day its sync found them).
    pub received: u64,
    /// Of those, moved out of its spam folder.
    pub saved_from_spam: u64,
    /// The first day of its current warming period, if it has started.
    pub started_on: Option<Date>,
}

/// Where warmup state lives (installation-wide: the pool spans workspaces).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait WarmupStore: Send + Sync {
    /// Claims up to `limit` inboxes of the pool (warming, active, connected) whose next warmup
    /// send is due at `now` and whose lease is free or expired, leasing them to `owner` until
    /// `lease_until` (skipping rows another process holds); starts the ramp (today) of those
    /// that had not started.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn claim_due(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<WarmupSender>, StoreError>;

    /// The pool, ordered by inbox id.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn pool(&self) -> Result<Vec<PoolInbox>, StoreError>;

    /// The oldest received warmup email `inbox` is to answer whose sender is still in the pool.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn due_reply(&self, inbox: InboxId) -> Result<Option<ReplyTask>, StoreError>;

    /// Writes the email's row (status sending) and counts it for the sender, in one
    /// transaction, only while `owner` holds the sender's lease and it is still warming (else
    /// nothing changes and `false` comes back). A reply marks its original answered.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn begin_send(&self, owner: &str, intent: &WarmupIntent) -> Result<bool, StoreError>;

    /// Records the SMTP outcome: sent (counted in the statistics) or failed (never counted).
    ///
    /// # Errors
    /// [`StoreError`].
    async fn finish_send(
        &self,
        id: Uuid,
        sent: bool,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Releases `owner`'s lease on the inbox and sets when its next warmup send is due.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn release(
        &self,
        owner: &str,
        inbox: InboxId,
        next_send_at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Which of `tokens` are warmup emails addressed to `recipient`.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn known_tokens(
        &self,
        recipient: InboxId,
        tokens: &[String],
    ) -> Result<Vec<String>, StoreError>;

    /// Records what `recipient`'s sync found. Idempotent: finding an email again changes
    /// nothing but raising a flag that was not set (in spam, saved, reply wanted).
    ///
    /// # Errors
    /// [`StoreError`].
    async fn record_received(
        &self,
        recipient: InboxId,
        receipts: &[WarmupReceipt],
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// The inbox's counts for the UTC days `from..=to`.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn counts(
        &self,
        inbox: InboxId,
        from: Date,
        to: Date,
    ) -> Result<WarmupCounts, StoreError>;
}

/// What a warmup step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WarmupReport {
    pub inboxes: u64,
    pub sent: u64,
    pub replies: u64,
    pub failed: u64,
}

/// A fresh owner name for a process's warmup leases.
#[must_use]
pub fn fresh_owner() -> String {
    format!("warmup-{}", Uuid::new_v4().simple())
}

/// The UTC day of `t`.
#[must_use]
pub fn utc_day(t: OffsetDateTime) -> Date {
    t.to_offset(UtcOffset::UTC).date()
}

fn seconds_into_day(t: OffsetDateTime) -> u32 {
    let t = t.to_offset(UtcOffset::UTC);
    u32::from(t.hour()) * 3600 + u32::from(t.minute()) * 60 + u32::from(t.second())
}

/// The inbox's ramp day on `today` (1 on its first day of warming).
#[must_use]
pub fn ramp_day(started_on: Option<Date>, today: Date) -> u32 {
    warmup::ramp_day(started_on.map(|s| (today - s).whole_days()))
}

fn domain_of(email: &str) -> &str {
    email.rsplit_once('@').map_or("localhost", |(_, d)| d)
}

fn full_name(first: &str, last: &str) -> String {
    format!("{first} {last}").trim().to_owned()
}

/// The warmup sending use case.
pub struct WarmupService {
    store: Arc<dyn WarmupStore>,
    sender: Arc<dyn MailSender>,
    secrets: Arc<dyn SecretBox>,
    clock: Arc<dyn Clock>,
    settings: WarmupSettings,
    owner: String,
}

impl std::fmt::Debug for WarmupService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmupService")
            .field("owner", &self.owner)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

enum Outcome {
    /// Nothing to send now (quota reached, nobody to send to, lease lost).
    Nothing,
    Sent {
        reply: bool,
    },
    Failed,
}

impl WarmupService {
    #[must_use]
    pub fn new(
        store: Arc<dyn WarmupStore>,
        sender: Arc<dyn MailSender>,
        secrets: Arc<dyn SecretBox>,
        clock: Arc<dyn Clock>,
        settings: WarmupSettings,
        owner: String,
    ) -> Self {
        Self {
            store,
            sender,
            secrets,
            clock,
            settings,
            owner,
        }
    }

    #[must_use]
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Sends at most one warmup email (a pending reply first) for each warming inbox that is due
    /// at `now`, then sets when its next one is due.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn send_due(&self, now: OffsetDateTime) -> Result<WarmupReport, StoreError> {
        let mut report = WarmupReport::default();
        if !self.settings.enabled {
            return Ok(report);
        }
        let lease_until = now + Duration::seconds(i64::from(self.settings.lease_seconds.max(1)));
        let senders = self
            .store
            .claim_due(&self.owner, now, lease_until, INBOXES_PER_STEP)
            .await?;
        if senders.is_empty() {
            return Ok(report);
        }
        let pool = self.store.pool().await?;
        for s in senders {
            report.inboxes += 1;
            let today = utc_day(now);
            let quota =
                warmup::daily_target(ramp_day(Some(s.started_on), today), s.daily_warmup_limit);
            let mut used = s.sent_today;
            if used < quota {
                match self.send_one(&s, &pool).await {
                    Ok(Outcome::Nothing) => {}
                    Ok(Outcome::Sent { reply }) => {
                        used += 1;
                        report.sent += 1;
                        report.replies += u64::from(reply);
                    }
                    Ok(Outcome::Failed) => {
                        used += 1;
                        report.failed += 1;
                    }
                    Err(e) => {
                        let _ = self.store.release(&self.owner, s.inbox.id, now).await;
                        return Err(e);
                    }
                }
            }
            let at = self.clock.now();
            let gap = warmup::next_send_gap(
                seconds_into_day(at),
                quota.saturating_sub(used),
                self.settings.min_interval_seconds,
                self.settings.spread_over_day,
            );
            self.store
                .release(
                    &self.owner,
                    s.inbox.id,
                    at + Duration::seconds(i64::from(gap)),
                )
                .await?;
        }
        Ok(report)
    }

    async fn send_one(&self, s: &WarmupSender, pool: &[PoolInbox]) -> Result<Outcome, StoreError> {
        let me = &s.inbox;
        let sender_name = full_name(&me.first_name, &me.last_name);
        let token = Uuid::new_v4().simple().to_string();
        let id = Uuid::now_v7();
        let message_id = format!("{}@{}", Uuid::new_v4().simple(), domain_of(&me.email));
        let (to, content, reply_to) = match self.store.due_reply(me.id).await? {
            Some(task) => {
                let content =
                    warmup::compose_reply(&token, &task.subject, &task.to.first_name, &sender_name);
                (task.to.clone(), content, Some(task))
            }
            None => {
                let others: Vec<&PoolInbox> = pool.iter().filter(|p| p.id != me.id).collect();
                let Some(i) = warmup::recipient_index(s.sends_total, others.len()) else {
                    return Ok(Outcome::Nothing);
                };
                let to = others[i].clone();
                let content = warmup::compose(&token, &to.first_name, &sender_name);
                (to, content, None)
            }
        };
        let now = self.clock.now();
        let intent = WarmupIntent {
            id,
            token: token.clone(),
            message_id: message_id.clone(),
            sender: me.id,
            recipient: to.id,
            subject: content.subject.clone(),
            reply_to_id: reply_to.as_ref().map(|t| t.original_id),
            day: utc_day(now),
            now,
        };
        if !self.store.begin_send(&self.owner, &intent).await? {
            return Ok(Outcome::Nothing);
        }
        let email = OutgoingEmail {
            message_id,
            from: Mailbox {
                name: Some(sender_name).filter(|n| !n.is_empty()),
                email: me.email.clone(),
            },
            to: Mailbox {
                name: Some(full_name(&to.first_name, &to.last_name)).filter(|n| !n.is_empty()),
                email: to.email.clone(),
            },
            reply_to: None,
            subject: content.subject,
            text: content.text,
            html: None,
            in_reply_to: reply_to.as_ref().map(|t| t.original_message_id.clone()),
            references: reply_to
                .as_ref()
                .map(|t| vec![t.original_message_id.clone()])
                .unwrap_or_default(),
            list_unsubscribe: None,
            extra_headers: vec![(MARKER_HEADER.to_owned(), token)],
            date: now,
        };
        let sent = self.deliver(me, &email).await;
        self.store.finish_send(id, sent, self.clock.now()).await?;
        Ok(if sent {
            Outcome::Sent {
                reply: reply_to.is_some(),
            }
        } else {
            Outcome::Failed
        })
    }

    async fn deliver(&self, me: &SendInbox, email: &OutgoingEmail) -> bool {
        let login = match smtp_login(self.secrets.as_ref(), me) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(inbox = %me.id, error = %e, "warmup send failed");
                return false;
            }
        };
        let mut session = match self.sender.connect(&login).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(inbox = %me.id, error = %e, "warmup send failed");
                return false;
            }
        };
        let result = session.send(&me.email, email).await;
        session.close().await;
        match result {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(inbox = %me.id, error = %e, "warmup send failed");
                false
            }
        }
    }
}

/// A fetched message of a synced folder that carries a warmup marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkedMessage {
    pub uid: u32,
    pub token: String,
}

/// What sync does with the warmup emails it finds: which markers are ours, and recording them.
#[derive(Clone)]
pub struct WarmupReceiver {
    store: Arc<dyn WarmupStore>,
    reply_share_percent: u8,
}

impl std::fmt::Debug for WarmupReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmupReceiver")
            .field("reply_share_percent", &self.reply_share_percent)
            .finish_non_exhaustive()
    }
}

impl WarmupReceiver {
    #[must_use]
    pub fn new(store: Arc<dyn WarmupStore>, reply_share_percent: u8) -> Self {
        Self {
            store,
            reply_share_percent: reply_share_percent.min(100),
        }
    }

    /// The messages among `marked` whose marker is a warmup email addressed to `inbox` (a forged
    /// or foreign marker is ordinary mail).
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn ours(
        &self,
        inbox: InboxId,
        marked: Vec<MarkedMessage>,
    ) -> Result<Vec<MarkedMessage>, StoreError> {
        if marked.is_empty() {
            return Ok(marked);
        }
        let tokens: Vec<String> = marked.iter().map(|m| m.token.clone()).collect();
        let known = self.store.known_tokens(inbox, &tokens).await?;
        Ok(marked
            .into_iter()
            .filter(|m| known.contains(&m.token))
            .collect())
    }

    /// Records the warmup emails found in a folder (`in_spam`: the spam folder, from which they
    /// were moved to INBOX).
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn received(
        &self,
        inbox: InboxId,
        found: &[MarkedMessage],
        in_spam: bool,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if found.is_empty() {
            return Ok(());
        }
        let receipts: Vec<WarmupReceipt> = found
            .iter()
            .map(|m| WarmupReceipt {
                token: m.token.clone(),
                in_spam,
                saved: in_spam,
                reply_wanted: warmup::wants_reply(&m.token, self.reply_share_percent),
            })
            .collect();
        self.store.record_received(inbox, &receipts, now).await
    }
}

#[cfg(test)]
mod tests;
