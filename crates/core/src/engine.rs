//! The sending engine: plans due leads into the send queue, claims queued sends, renders and
//! sends them over the inboxes' SMTP sessions, and records each outcome.
//!
//! Every method of [`SendQueue`] is one atomic step (one transaction in the adapter); the
//! promises (never twice, limits never overrun, no blind re-send after a crash) are kept there,
//! see docs/ENGINE.md. [`SendingService`] holds the steps the app's loops call with `now` from
//! the `Clock`; tests call them directly.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::stream::{self, StreamExt};
use reachkit_domain::schedule::Schedule;
use reachkit_domain::template::{Format, MergeData, RenderContext, Template, escape_html};
use time::{Duration, OffsetDateTime};

use crate::StoreError;
use crate::clock::Clock;
use crate::connection_check::ServerLogin;
use crate::ids::{CampaignId, InboxId, LeadId, SendId, WorkspaceId};
use crate::inboxes::{PasswordField, ServerSettings, password_aad};
use crate::secrets::{Password, SecretBox};
use crate::sending::{ListUnsubscribe, MailSender, MailSession, Mailbox, OutgoingEmail, SendError};
use crate::unsubscribe::UnsubscribeTokens;

/// A temporary failure is retried until the send has been attempted this many times; then it
/// is `failed` and the lead finished with reason `failed`.
pub const MAX_ATTEMPTS: u32 = 5;
/// ... or until this long after it was queued, whichever comes first.
pub const MAX_RETRY_AGE: Duration = Duration::days(3);
/// The longest wait between two attempts (the backoff doubles from `engine.retry_base_seconds`).
pub const MAX_BACKOFF: Duration = Duration::hours(6);
/// Consecutive SMTP sessions refused at AUTH after which the inbox goes to
/// `connection_status = error` (and is no longer used until its settings are fixed).
pub const AUTH_FAILURES_BEFORE_ERROR: i32 = 3;
/// Longest SMTP reply or reason kept on a send.
pub const MAX_REPLY_LEN: usize = 500;

/// Why a lead's sequence ended (`leads.finished_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FinishReason {
    /// Every step was sent.
    Completed,
    /// A 5xx at SMTP time (or a bounce found later).
    Bounced,
    Unsubscribed,
    /// Replied, with the campaign's stop_on_reply on.
    Replied,
    /// The address is on the workspace blocklist.
    Blocklisted,
    /// Temporary failures until [`MAX_ATTEMPTS`] or [`MAX_RETRY_AGE`].
    Failed,
}

impl FinishReason {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Bounced => "bounced",
            Self::Unsubscribed => "unsubscribed",
            Self::Replied => "replied",
            Self::Blocklisted => "blocklisted",
            Self::Failed => "failed",
        }
    }
}

/// What the planner needs besides `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanSettings {
    /// Least time between two sends of one inbox.
    pub min_gap_seconds: u32,
    /// Random extra time (0..=this) added to each gap.
    pub max_jitter_seconds: u32,
    /// Most sends queued per campaign in one planning step.
    pub max_per_campaign: u32,
}

/// What a planning step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanReport {
    /// Sends queued.
    pub queued: u64,
    /// Leads finished without a send (blocklisted, stopped, sequence completed).
    pub finished: u64,
}

/// The sending inbox of a claimed send, with its sealed SMTP password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendInbox {
    pub id: InboxId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// Empty: none.
    pub reply_to: String,
    /// Plain text, appended to both parts.
    pub signature: String,
    pub smtp: ServerSettings,
    pub smtp_password: Option<Vec<u8>>,
}

/// The variant's content as stored (templates, rendered per lead at send time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendVariant {
    /// `None` or empty on a follow-up: a reply in the current thread.
    pub subject: Option<String>,
    pub body_html: Option<String>,
    pub body_text: Option<String>,
}

/// The campaign options that shape an email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendCampaign {
    pub id: CampaignId,
    pub schedule: Schedule,
    pub text_only: bool,
    pub unsubscribe_option: bool,
}

/// The lead of a claimed send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendLead {
    pub id: LeadId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// The lead's custom variables (strings, numbers and booleans as text).
    pub variables: Vec<(String, String)>,
    /// Set when the lead must not be mailed any more (checked again at send time).
    pub stopped: Option<FinishReason>,
    /// Message-IDs of the current thread, oldest first.
    pub thread: Vec<String>,
    /// The subject of the current thread.
    pub thread_subject: Option<String>,
}

/// A send claimed for this process (`sending`, under a lease), with all it takes to render it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedSend {
    pub id: SendId,
    pub workspace_id: WorkspaceId,
    pub step: u32,
    /// Without angle brackets.
    pub message_id: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
    pub queued_at: OffsetDateTime,
    pub lead: SendLead,
    /// `None` when the variant was deleted since the send was queued.
    pub variant: Option<SendVariant>,
    pub campaign: SendCampaign,
    pub inbox: SendInbox,
}

/// Why a claimed send is not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// The lead must not be mailed any more: it is finished with this reason.
    Stopped(FinishReason),
    /// The window closed, or the variant is gone: the lead is due again and planned anew.
    Replan(&'static str),
}

/// What happened to one claimed send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server took it. `new_thread_subject` is the subject when the email started a thread
    /// (step 1 or a follow-up with its own subject); `None` for a reply in the thread.
    Sent {
        reply: String,
        new_thread_subject: Option<String>,
        /// The rendered email as sent, stored on the send so a conversation can show it.
        content: Option<SentContent>,
    },
    /// A 5xx: the lead bounced.
    Bounced { reply: String },
    /// A 4xx or a connection failure: `deferred` until `not_before`, same Message-ID.
    Retry {
        reply: String,
        not_before: OffsetDateTime,
    },
    /// Given up after temporary failures, or never sendable (a broken template): `failed`.
    Failed { reply: String },
    /// The server refused the inbox's credentials: back to `queued` until `not_before`; the
    /// inbox's consecutive AUTH failures are counted.
    AuthFailed {
        reason: String,
        not_before: OffsetDateTime,
    },
    /// Not sent; its reservation is returned.
    Cancelled(CancelReason),
}

/// The rendered subject and bodies of a sent email (kept on `sends` for the unibox).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SentContent {
    pub subject: String,
    pub text: String,
    /// `None` for text-only emails.
    pub html: Option<String>,
}

/// The outcome of one send, at the time it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    pub send_id: SendId,
    pub at: OffsetDateTime,
    pub outcome: Outcome,
}

/// What a recovery step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoverReport {
    /// `sending` rows whose lease expired, now `unknown`.
    pub unknown: u64,
    /// Queued sends whose inbox or variant was deleted, cancelled and their leads due again.
    pub replanned: u64,
}

/// The send queue and everything the engine's steps change.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SendQueue: Send + Sync {
    /// For every active campaign whose window is open at `now`: queues the due leads' next
    /// steps within the campaign's daily limit (its local day) and its inboxes' daily campaign
    /// limits (UTC day), reserving that capacity, choosing inbox (sticky after step 1, least
    /// used, esp_matching), variant (least assigned) and a paced `not_before` per inbox; finishes
    /// leads that are blocklisted, stopped or past their last step. MUST never queue a step of a
    /// lead twice nor overrun a limit, whatever other planners run at the same time.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn plan(
        &self,
        now: OffsetDateTime,
        settings: PlanSettings,
    ) -> Result<PlanReport, StoreError>;

    /// Claims up to `limit` queued or deferred sends whose `not_before` has passed, of active
    /// campaigns and usable inboxes, skipping rows others hold: they become `sending` under
    /// `owner`'s lease until `lease_until` (committed before any SMTP).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn claim(
        &self,
        now: OffsetDateTime,
        owner: &str,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<ClaimedSend>, StoreError>;

    /// Records the outcomes of sends `owner` claimed, with the leads, counters, usage and
    /// events they change, in one transaction. A send no longer `sending` under `owner` (its
    /// lease expired and recovery took it) is left alone.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn record(&self, owner: &str, results: &[SendResult]) -> Result<(), StoreError>;

    /// Turns `sending` rows whose lease expired before `now` into `unknown` (never re-sent; the
    /// lead advances as if sent) and replans queued sends whose inbox or variant is gone.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn recover(&self, now: OffsetDateTime) -> Result<RecoverReport, StoreError>;
}

/// The engine's settings (`engine.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineSettings {
    pub min_gap_seconds: u32,
    pub max_jitter_seconds: u32,
    pub retry_base_seconds: u32,
    /// Inbox sessions run in parallel.
    pub concurrency: usize,
    /// How long a claim holds its sends before recovery may call them `unknown`.
    pub lease_seconds: u32,
    /// Sends claimed per dispatch step.
    pub batch_size: u32,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            min_gap_seconds: 60,
            max_jitter_seconds: 30,
            retry_base_seconds: 300,
            concurrency: 8,
            lease_seconds: 600,
            batch_size: 200,
        }
    }
}

/// What a dispatch step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchOutcome {
    pub claimed: usize,
    pub sent: usize,
    pub bounced: usize,
    pub deferred: usize,
    pub failed: usize,
    pub cancelled: usize,
    pub auth_failed: usize,
}

impl DispatchOutcome {
    fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Sent { .. } => self.sent += 1,
            Outcome::Bounced { .. } => self.bounced += 1,
            Outcome::Retry { .. } => self.deferred += 1,
            Outcome::Failed { .. } => self.failed += 1,
            Outcome::AuthFailed { .. } => self.auth_failed += 1,
            Outcome::Cancelled(_) => self.cancelled += 1,
        }
    }
}

fn cut(reply: String) -> String {
    if reply.chars().count() <= MAX_REPLY_LEN {
        reply
    } else {
        reply.chars().take(MAX_REPLY_LEN).collect()
    }
}

/// The wait before attempt `attempts + 1`: base, 2 x base, 4 x base, ... at most
/// [`MAX_BACKOFF`].
#[must_use]
pub fn backoff(retry_base_seconds: u32, attempts: u32) -> Duration {
    let factor = 1_i64 << attempts.saturating_sub(1).min(20);
    Duration::seconds(i64::from(retry_base_seconds.max(1)).saturating_mul(factor)).min(MAX_BACKOFF)
}

fn instant(at: OffsetDateTime) -> jiff::Timestamp {
    jiff::Timestamp::from_second(at.unix_timestamp()).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// The SMTP login of an inbox: its settings with the sealed password opened (no password when
/// none is stored). Shared by the engine and the unibox, so both read credentials the same way.
///
/// # Errors
/// A reason (never the password) when the stored password cannot be opened or is not text.
pub fn smtp_login(secrets: &dyn SecretBox, inbox: &SendInbox) -> Result<ServerLogin, String> {
    let password = match &inbox.smtp_password {
        None => Password::default(),
        Some(sealed) => {
            let clear = secrets
                .open(sealed, &password_aad(inbox.id, PasswordField::Smtp))
                .map_err(|_| {
                    "SMTP: the stored password cannot be decrypted (was secrets.key \
                     changed?); set the password again"
                        .to_owned()
                })?;
            Password::new(
                String::from_utf8(clear)
                    .map_err(|_| "SMTP: the stored password is not text".to_owned())?,
            )
        }
    };
    Ok(ServerLogin {
        host: inbox.smtp.host.clone(),
        port: inbox.smtp.port,
        security: inbox.smtp.security,
        username: inbox.smtp.username.clone(),
        password,
    })
}

/// Plans, sends and records.
#[derive(Clone)]
pub struct SendingService {
    queue: Arc<dyn SendQueue>,
    sender: Arc<dyn MailSender>,
    secrets: Arc<dyn SecretBox>,
    clock: Arc<dyn Clock>,
    tokens: UnsubscribeTokens,
    settings: EngineSettings,
    owner: String,
}

impl std::fmt::Debug for SendingService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendingService")
            .field("owner", &self.owner)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl SendingService {
    /// A service whose claims carry a fresh owner name (one per process).
    #[must_use]
    pub fn new(
        queue: Arc<dyn SendQueue>,
        sender: Arc<dyn MailSender>,
        secrets: Arc<dyn SecretBox>,
        clock: Arc<dyn Clock>,
        tokens: UnsubscribeTokens,
        settings: EngineSettings,
    ) -> Self {
        Self {
            queue,
            sender,
            secrets,
            clock,
            tokens,
            settings,
            owner: format!("worker-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// The name this process's claims are leased under.
    #[must_use]
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Queues the due leads of every campaign whose window is open at `now`.
    ///
    /// # Errors
    /// The store's failure.
    pub async fn plan_due(&self, now: OffsetDateTime) -> Result<PlanReport, StoreError> {
        self.queue
            .plan(
                now,
                PlanSettings {
                    min_gap_seconds: self.settings.min_gap_seconds,
                    max_jitter_seconds: self.settings.max_jitter_seconds,
                    max_per_campaign: self.settings.batch_size.max(1),
                },
            )
            .await
    }

    /// Turns expired `sending` claims into `unknown` and replans orphaned queued sends.
    ///
    /// # Errors
    /// The store's failure.
    pub async fn recover(&self, now: OffsetDateTime) -> Result<RecoverReport, StoreError> {
        let report = self.queue.recover(now).await?;
        if report.unknown > 0 {
            tracing::warn!(
                unknown = report.unknown,
                "sends whose outcome is unknown after a lost claim (see docs/ENGINE.md)"
            );
        }
        Ok(report)
    }

    /// Claims the sends ready at `now` and sends them ([`SendingService::dispatch_claimed`]).
    ///
    /// # Errors
    /// The store's failure (a refused email is an outcome, not an error).
    pub async fn dispatch_due(&self, now: OffsetDateTime) -> Result<DispatchOutcome, StoreError> {
        let lease_until = now + Duration::seconds(i64::from(self.settings.lease_seconds.max(1)));
        let claimed = self
            .queue
            .claim(
                now,
                &self.owner,
                lease_until,
                i64::from(self.settings.batch_size.max(1)),
            )
            .await?;
        self.dispatch_claimed(now, claimed).await
    }

    /// Sends claimed sends: one SMTP session per inbox, up to `engine.concurrency` inboxes at
    /// once, each inbox's outcomes recorded in one transaction as soon as its session ends.
    ///
    /// # Errors
    /// The store's failure while recording (the remaining groups still run).
    pub async fn dispatch_claimed(
        &self,
        now: OffsetDateTime,
        claimed: Vec<ClaimedSend>,
    ) -> Result<DispatchOutcome, StoreError> {
        let mut total = DispatchOutcome {
            claimed: claimed.len(),
            ..DispatchOutcome::default()
        };
        let mut groups: BTreeMap<InboxId, Vec<ClaimedSend>> = BTreeMap::new();
        for send in claimed {
            groups.entry(send.inbox.id).or_default().push(send);
        }
        let results: Vec<Result<Vec<SendResult>, StoreError>> = stream::iter(groups.into_values())
            .map(|group| async move {
                let results = self.send_group(now, group).await;
                self.queue.record(&self.owner, &results).await?;
                Ok(results)
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        let mut first_error = None;
        for r in results {
            match r {
                Ok(results) => results.iter().for_each(|r| total.count(&r.outcome)),
                Err(e) => {
                    tracing::error!(error = %e, "recording send outcomes failed");
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(total), Err)
    }

    fn login(&self, inbox: &SendInbox) -> Result<ServerLogin, String> {
        smtp_login(self.secrets.as_ref(), inbox)
    }

    fn temporary(&self, send: &ClaimedSend, reply: String, at: OffsetDateTime) -> Outcome {
        let reply = cut(reply);
        if send.attempts >= MAX_ATTEMPTS || at - send.queued_at >= MAX_RETRY_AGE {
            Outcome::Failed { reply }
        } else {
            Outcome::Retry {
                reply,
                not_before: at + backoff(self.settings.retry_base_seconds, send.attempts),
            }
        }
    }

    fn classify(&self, send: &ClaimedSend, error: SendError, at: OffsetDateTime) -> Outcome {
        match error {
            SendError::Rejected { .. } => Outcome::Bounced {
                reply: cut(error.to_string()),
            },
            SendError::Deferred { .. } | SendError::Connection(_) => {
                self.temporary(send, error.to_string(), at)
            }
            SendError::Auth(reason) => Outcome::AuthFailed {
                reason: cut(reason),
                not_before: at + backoff(self.settings.retry_base_seconds, 1),
            },
        }
    }

    /// What must happen to a send before any SMTP: `Some` when it is not to be sent.
    fn precheck(send: &ClaimedSend, now: OffsetDateTime) -> Option<Outcome> {
        if let Some(reason) = send.lead.stopped {
            return Some(Outcome::Cancelled(CancelReason::Stopped(reason)));
        }
        if send.variant.is_none() {
            return Some(Outcome::Cancelled(CancelReason::Replan("variant_deleted")));
        }
        if !send.campaign.schedule.is_open(instant(now)) {
            return Some(Outcome::Cancelled(CancelReason::Replan("window_closed")));
        }
        None
    }

    async fn send_group(&self, now: OffsetDateTime, group: Vec<ClaimedSend>) -> Vec<SendResult> {
        let mut results = Vec::with_capacity(group.len());
        let mut ready = Vec::with_capacity(group.len());
        for send in group {
            match Self::precheck(&send, now) {
                Some(outcome) => results.push(SendResult {
                    send_id: send.id,
                    at: now,
                    outcome,
                }),
                None => ready.push(send),
            }
        }
        let Some(first) = ready.first() else {
            return results;
        };
        let inbox = first.inbox.clone();
        let session = match self.login(&inbox) {
            Err(reason) => Err(SendError::Auth(reason)),
            Ok(login) => self.sender.connect(&login).await,
        };
        let mut session: Box<dyn MailSession> = match session {
            Ok(s) => s,
            Err(error) => {
                let at = self.clock.now();
                tracing::warn!(inbox = %inbox.id, error = %error, "SMTP session failed");
                for send in &ready {
                    results.push(SendResult {
                        send_id: send.id,
                        at,
                        outcome: self.classify(send, error.clone(), at),
                    });
                }
                return results;
            }
        };
        let mut broken: Option<SendError> = None;
        for send in &ready {
            let at = self.clock.now();
            if let Some(error) = &broken {
                results.push(SendResult {
                    send_id: send.id,
                    at,
                    outcome: self.classify(send, error.clone(), at),
                });
                continue;
            }
            let (email, new_thread_subject) = match self.render(send, at) {
                Ok(rendered) => rendered,
                Err(reason) => {
                    results.push(SendResult {
                        send_id: send.id,
                        at,
                        outcome: Outcome::Failed { reply: cut(reason) },
                    });
                    continue;
                }
            };
            let outcome = match session.send(&inbox.email, &email).await {
                Ok(()) => Outcome::Sent {
                    reply: "250 accepted".to_owned(),
                    new_thread_subject,
                    content: Some(SentContent {
                        subject: email.subject.clone(),
                        text: email.text.clone(),
                        html: email.html.clone(),
                    }),
                },
                Err(error) => {
                    if !error.session_usable() {
                        broken = Some(error.clone());
                    }
                    self.classify(send, error, at)
                }
            };
            results.push(SendResult {
                send_id: send.id,
                at,
                outcome,
            });
        }
        session.close().await;
        results
    }

    /// Renders a send into an email. The second value is the subject when the email starts a
    /// thread, `None` when it replies in the lead's current thread.
    ///
    /// # Errors
    /// A reason when a stored template cannot be parsed.
    pub fn render(
        &self,
        send: &ClaimedSend,
        at: OffsetDateTime,
    ) -> Result<(OutgoingEmail, Option<String>), String> {
        let lead = &send.lead;
        let inbox = &send.inbox;
        let variant = send
            .variant
            .as_ref()
            .ok_or_else(|| "the variant was deleted".to_owned())?;
        let data = MergeData::new(
            &lead.email,
            &lead.first_name,
            &lead.last_name,
            lead.variables.iter().map(|(k, v)| (k.as_str(), v.clone())),
        );
        let unsubscribe_url = self.tokens.url(lead.id);
        let lead_key = lead.id.to_string();
        let ctx = RenderContext {
            data: &data,
            unsubscribe_url: Some(&unsubscribe_url),
            lead_key: &lead_key,
            step: send.step,
        };
        let render = |source: &str, format: Format, what: &str| {
            Template::parse(source)
                .map(|t| t.render(&ctx, format).text)
                .map_err(|e| format!("the {what} template cannot be parsed: {}", e.code()))
        };
        let own_subject = match variant.subject.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => render(s, Format::Text, "subject")?.trim().to_owned(),
            _ => String::new(),
        };
        let reply_in_thread = own_subject.is_empty() && send.step > 1 && !lead.thread.is_empty();
        let (subject, in_reply_to, references, new_thread) = if reply_in_thread {
            let previous = lead.thread_subject.as_deref().unwrap_or_default();
            // A subject kept as a template (an unknown outcome) renders to the same text.
            let previous = render(previous, Format::Text, "thread subject")
                .unwrap_or_else(|_| previous.to_owned());
            let subject = if previous.to_ascii_lowercase().starts_with("re:") {
                previous
            } else {
                format!("Re: {previous}")
            };
            (
                subject,
                lead.thread.last().cloned(),
                lead.thread.clone(),
                None,
            )
        } else {
            (own_subject.clone(), None, Vec::new(), Some(own_subject))
        };
        let signature = inbox.signature.trim();
        let mut text = match (&variant.body_text, &variant.body_html) {
            (Some(t), _) => render(t, Format::Text, "body_text")?,
            (None, Some(h)) => {
                reachkit_domain::html::to_text(&render(h, Format::Text, "body_html")?)
            }
            (None, None) => String::new(),
        };
        if !signature.is_empty() {
            text.push_str("\n\n");
            text.push_str(signature);
        }
        let html = if send.campaign.text_only {
            None
        } else {
            let mut html = match &variant.body_html {
                Some(h) => render(h, Format::Html, "body_html")?,
                None => String::new(),
            };
            if !signature.is_empty() {
                html.push_str("<br><br>");
                let mut escaped = String::new();
                escape_html(&mut escaped, signature);
                html.push_str(&escaped.replace('\n', "<br>"));
            }
            Some(html)
        };
        let name = format!("{} {}", inbox.first_name.trim(), inbox.last_name.trim())
            .trim()
            .to_owned();
        let list_unsubscribe = send.campaign.unsubscribe_option.then(|| ListUnsubscribe {
            url: unsubscribe_url.clone(),
            mailto: format!(
                "mailto:{}?subject=unsubscribe-{}",
                inbox.email,
                self.tokens.token(lead.id)
            ),
        });
        let to_name = format!("{} {}", lead.first_name.trim(), lead.last_name.trim())
            .trim()
            .to_owned();
        Ok((
            OutgoingEmail {
                message_id: send.message_id.clone(),
                from: Mailbox {
                    name: (!name.is_empty()).then_some(name),
                    email: inbox.email.clone(),
                },
                to: Mailbox {
                    name: (!to_name.is_empty()).then_some(to_name),
                    email: lead.email.clone(),
                },
                reply_to: (!inbox.reply_to.trim().is_empty()).then(|| inbox.reply_to.clone()),
                subject,
                text,
                html,
                in_reply_to,
                references,
                list_unsubscribe,
                extra_headers: Vec::new(),
                date: at,
            },
            new_thread,
        ))
    }
}

#[cfg(test)]
mod tests;
