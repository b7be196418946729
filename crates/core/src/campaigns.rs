//! Campaigns: create, read (with stats from counters), update (options and status), schedule,
//! attached inboxes, delete.
//!
//! Stats are read only from counters (`campaign_stats`, `campaign_daily_stats`, the variants'
//! own counters) that the sending engine maintains, so reading a campaign costs the same at 10 or
//! 10 million sends. Rates and progress come from [`reachkit_domain::analytics`].

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use reachkit_domain::analytics::{self, Rates};
use reachkit_domain::campaign::{CampaignChanges, CampaignName, CampaignSettings};
use reachkit_domain::schedule::{Schedule, ScheduleChanges};
use reachkit_domain::validation::{FieldError, ValidationErrors};
use time::{Date, OffsetDateTime};

use crate::StoreError;
use crate::blocklist::ListQuery;
use crate::clock::Clock;
use crate::ids::{CampaignId, InboxId, SequenceId, VariantId, WorkspaceId};
use crate::paging::Page;
use crate::sequences::{StepRecord, step_views};

/// Days in the daily series of show and analytics: today and the 29 days before it.
pub const DAILY_DAYS: u16 = 30;

/// A stored campaign: identity, settings (name, status, options) and schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campaign {
    pub id: CampaignId,
    pub workspace_id: WorkspaceId,
    pub settings: CampaignSettings,
    pub schedule: Schedule,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// The campaign's counters (row of `campaign_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CampaignCounters {
    pub leads_count: u64,
    /// Leads whose sequence is over (completed, replied and stopped, bounced, unsubscribed,
    /// skipped).
    pub finished_leads: u64,
    pub sent: u64,
    pub contacted: u64,
    pub replies: u64,
    pub positive_replies: u64,
    pub bounced: u64,
}

/// An inbox as shown inside a campaign: `{id, email, provider, is_active, connection_status}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedInbox {
    pub id: InboxId,
    pub email: String,
    pub provider: String,
    pub is_active: bool,
    pub connection_status: String,
}

/// What the store returns for one campaign of a show or a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRecord {
    pub campaign: Campaign,
    pub counters: CampaignCounters,
    /// Number of sequence steps.
    pub sequence_steps: u32,
    /// Attached inboxes, in attach order.
    pub inboxes: Vec<AttachedInbox>,
}

/// Everything a show or analytics reads about one campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignDetailRecord {
    pub record: CampaignRecord,
    /// Daily rows of the requested range (days without activity have no row).
    pub daily: Vec<DailyCount>,
    pub steps: Vec<StepRecord>,
}

/// One day of the daily series (a row of `campaign_daily_stats`, or zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyCount {
    pub date: Date,
    pub sent: u64,
    pub replies: u64,
}

/// The headline numbers embedded as `stats` and returned by analytics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CampaignStats {
    pub progress: u8,
    pub sequence_steps: u32,
    pub leads_count: u64,
    pub sent: u64,
    pub contacted: u64,
    pub replies: u64,
    pub reply_rate: f64,
    pub positive_replies: u64,
    pub positive_reply_rate: f64,
    pub bounced: u64,
    pub bounce_rate: f64,
}

impl CampaignStats {
    /// The headline numbers from the counters, with the domain's rates and progress.
    #[must_use]
    pub fn from_counters(c: &CampaignCounters, sequence_steps: u32) -> Self {
        let rates = Rates::new(c.contacted, c.replies, c.positive_replies, c.bounced);
        Self {
            progress: analytics::progress(c.finished_leads, c.leads_count),
            sequence_steps,
            leads_count: c.leads_count,
            sent: c.sent,
            contacted: c.contacted,
            replies: c.replies,
            reply_rate: rates.reply_rate,
            positive_replies: c.positive_replies,
            positive_reply_rate: rates.positive_reply_rate,
            bounced: c.bounced,
            bounce_rate: rates.bounce_rate,
        }
    }
}

/// A campaign with its headline stats and inboxes: the list projection.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignView {
    pub campaign: Campaign,
    pub stats: CampaignStats,
    pub inboxes: Vec<AttachedInbox>,
}

impl From<CampaignRecord> for CampaignView {
    fn from(r: CampaignRecord) -> Self {
        Self {
            stats: CampaignStats::from_counters(&r.counters, r.sequence_steps),
            campaign: r.campaign,
            inboxes: r.inboxes,
        }
    }
}

/// One variant's performance. Its rates are of its own `sent` (each lead gets one variant per
/// step, so a variant's sends are the leads it contacted).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VariantStats {
    pub id: VariantId,
    pub enabled: bool,
    pub sent: u64,
    pub replies: u64,
    pub reply_rate: f64,
    pub positive_replies: u64,
    pub positive_reply_rate: f64,
}

/// One step's performance, per variant.
#[derive(Debug, Clone, PartialEq)]
pub struct StepStats {
    pub id: SequenceId,
    pub step: u32,
    pub variants: Vec<VariantStats>,
}

/// The full projection (show, create, analytics): the list projection plus the 30-day series
/// and the per-step, per-variant numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignDetail {
    pub view: CampaignView,
    /// Exactly [`DAILY_DAYS`] days, oldest first, ending today in the campaign's time zone.
    pub daily: Vec<DailyCount>,
    pub sequences: Vec<StepStats>,
}

/// The fields a campaign listing can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CampaignSort {
    #[default]
    CreatedAt,
    UpdatedAt,
    Name,
    Status,
}

impl CampaignSort {
    /// The names accepted in `sort_by`.
    pub const ALLOWED: &'static [&'static str] = &["created_at", "updated_at", "name", "status"];

    /// Parses a `sort_by` value from the allowlist.
    #[must_use]
    pub fn parse(input: &str) -> Option<Self> {
        match input {
            "created_at" => Some(Self::CreatedAt),
            "updated_at" => Some(Self::UpdatedAt),
            "name" => Some(Self::Name),
            "status" => Some(Self::Status),
            _ => None,
        }
    }
}

/// A new campaign with the ids of its first step and that step's empty variant A.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCampaign {
    pub campaign: Campaign,
    pub first_step: SequenceId,
    pub first_variant: VariantId,
}

/// What a campaign update did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CampaignUpdateOutcome {
    /// No such campaign in the workspace.
    NotFound,
    /// The change set was refused; nothing was written.
    Invalid(ValidationErrors),
    /// Written; the campaign as it is now.
    Updated(Box<CampaignRecord>),
}

/// What a schedule update did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleUpdateOutcome {
    NotFound,
    Invalid(ValidationErrors),
    /// Written; the stored (rounded) schedule.
    Updated(Schedule),
}

/// What an attach or detach did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxSetOutcome {
    /// No such campaign in the workspace.
    CampaignNotFound,
    /// At least one inbox id is unknown or another workspace's; nothing was changed.
    InboxNotFound,
    /// Done; every inbox attached now, in attach order.
    Done(Vec<AttachedInbox>),
}

/// Where campaigns are kept. Every method is scoped to one workspace, and every change is one
/// transaction.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait CampaignRepository: Send + Sync {
    /// Stores the campaign, its zeroed counters row, and step 1 (default delay) with an empty
    /// variant A (subject and body null: a new campaign has the unsubscribe option off), all in
    /// one transaction.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn create(&self, new: &NewCampaign) -> Result<(), StoreError>;

    /// The campaign with its counters, step count and attached inboxes, if it is the
    /// workspace's.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn get(
        &self,
        workspace_id: WorkspaceId,
        id: CampaignId,
    ) -> Result<Option<CampaignRecord>, StoreError>;

    /// One page of the workspace's campaigns (search on the name), with the total count.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn list(
        &self,
        workspace_id: WorkspaceId,
        query: &ListQuery<CampaignSort>,
    ) -> Result<Page<CampaignRecord>, StoreError>;

    /// The campaign with its daily rows from `from` to `to` (inclusive) and its steps with
    /// their variants, read together (the Postgres adapter pipelines them: one round trip), or
    /// `None` when the workspace has no such campaign.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn detail(
        &self,
        workspace_id: WorkspaceId,
        id: CampaignId,
        from: Date,
        to: Date,
    ) -> Result<Option<CampaignDetailRecord>, StoreError>;

    /// In one transaction: reads the campaign under a row lock, computes the launch readiness
    /// from the store (attached inboxes, sendable enabled variants of step 1), applies the
    /// domain's [`CampaignChanges::apply`], writes the result with `updated_at = now`, and when
    /// the unsubscribe option changed rewrites every variant body of the campaign with
    /// [`reachkit_domain::html::apply_unsubscribe`] (and its text version). MUST write nothing
    /// when the change set is invalid.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn update(
        &self,
        workspace_id: WorkspaceId,
        id: CampaignId,
        changes: &CampaignChanges,
        now: OffsetDateTime,
    ) -> Result<CampaignUpdateOutcome, StoreError>;

    /// In one transaction: reads the schedule under a row lock, applies the domain's
    /// [`ScheduleChanges::apply`] and writes the result; nothing when invalid.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn update_schedule(
        &self,
        workspace_id: WorkspaceId,
        id: CampaignId,
        changes: &ScheduleChanges,
        now: OffsetDateTime,
    ) -> Result<ScheduleUpdateOutcome, StoreError>;

    /// Deletes the campaign and everything it owns (cascade); MUST return whether it existed.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn delete(&self, workspace_id: WorkspaceId, id: CampaignId) -> Result<bool, StoreError>;

    /// Attaches the (deduplicated, non-empty) inboxes, keeping those already attached. MUST
    /// change nothing when any id is not an inbox of the workspace. Safe under concurrent calls.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn attach_inboxes(
        &self,
        workspace_id: WorkspaceId,
        id: CampaignId,
        inbox_ids: &[InboxId],
        now: OffsetDateTime,
    ) -> Result<InboxSetOutcome, StoreError>;

    /// Detaches the inboxes, skipping those not attached. MUST change nothing when any id is not
    /// an inbox of the workspace.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn detach_inboxes(
        &self,
        workspace_id: WorkspaceId,
        id: CampaignId,
        inbox_ids: &[InboxId],
        now: OffsetDateTime,
    ) -> Result<InboxSetOutcome, StoreError>;
}

/// Why a campaign operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error("campaign not found")]
    NotFound,
    #[error("inbox not found")]
    InboxNotFound,
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The campaign use cases.
#[derive(Clone)]
pub struct CampaignService {
    campaigns: Arc<dyn CampaignRepository>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for CampaignService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CampaignService").finish_non_exhaustive()
    }
}

fn invalid(field: &str, code: &'static str, message: impl Into<String>) -> CampaignError {
    CampaignError::Invalid(ValidationErrors(vec![FieldError::new(
        field, code, message,
    )]))
}

/// `now` as a jiff instant, for the domain's time-zone maths.
fn instant(now: OffsetDateTime) -> jiff::Timestamp {
    jiff::Timestamp::from_second(now.unix_timestamp()).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

fn to_time_date(d: jiff::civil::Date) -> Result<Date, StoreError> {
    let month = u8::try_from(d.month())
        .ok()
        .and_then(|m| time::Month::try_from(m).ok());
    let day = u8::try_from(d.day()).ok();
    match (month, day) {
        (Some(month), Some(day)) => Date::from_calendar_date(i32::from(d.year()), month, day)
            .map_err(|e| StoreError::Other(anyhow::Error::new(e).context("local date"))),
        _ => Err(StoreError::Other(anyhow::anyhow!(
            "local date {d} out of range"
        ))),
    }
}

/// The [`DAILY_DAYS`] days ending `today`, oldest first, with the counters of the days that
/// have a row and zeros for the others.
#[must_use]
pub fn zero_filled(today: Date, rows: &[DailyCount]) -> Vec<DailyCount> {
    let by_date: HashMap<Date, &DailyCount> = rows.iter().map(|r| (r.date, r)).collect();
    let mut days = Vec::with_capacity(usize::from(DAILY_DAYS));
    let mut date = today;
    for _ in 0..DAILY_DAYS {
        days.push(by_date.get(&date).map_or(
            DailyCount {
                date,
                sent: 0,
                replies: 0,
            },
            |r| **r,
        ));
        match date.previous_day() {
            Some(d) => date = d,
            None => break,
        }
    }
    days.reverse();
    days
}

/// Per-step, per-variant stats from the steps and their variants' counters.
#[must_use]
pub fn step_stats(steps: Vec<StepRecord>) -> Vec<StepStats> {
    step_views(steps)
        .into_iter()
        .map(|s| StepStats {
            id: s.id,
            step: s.step,
            variants: s
                .variants
                .iter()
                .map(|v| VariantStats {
                    id: v.id,
                    enabled: v.enabled,
                    sent: v.sent,
                    replies: v.replies,
                    reply_rate: analytics::rate(v.replies, v.sent),
                    positive_replies: v.positive_replies,
                    positive_reply_rate: analytics::rate(v.positive_replies, v.sent),
                })
                .collect(),
        })
        .collect()
}

impl CampaignService {
    #[must_use]
    pub fn new(campaigns: Arc<dyn CampaignRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { campaigns, clock }
    }

    /// Creates a draft campaign with the product's defaults, step 1 and its empty variant A.
    ///
    /// # Errors
    /// [`CampaignError::Invalid`] naming `name` (blank or over 150 characters), or the store's
    /// failure.
    pub async fn create(
        &self,
        workspace_id: WorkspaceId,
        name: &str,
    ) -> Result<CampaignDetail, CampaignError> {
        let name =
            CampaignName::parse(name).map_err(|e| invalid("name", e.code(), e.to_string()))?;
        let now = self.clock.now();
        let new = NewCampaign {
            campaign: Campaign {
                id: CampaignId::new(),
                workspace_id,
                settings: CampaignSettings::new(name),
                schedule: Schedule::default(),
                created_at: now,
                updated_at: now,
            },
            first_step: SequenceId::new(),
            first_variant: VariantId::new(),
        };
        self.campaigns.create(&new).await?;
        self.show(workspace_id, new.campaign.id).await
    }

    /// The full projection: headline stats, 30 days, per-step and per-variant numbers.
    ///
    /// # Errors
    /// [`CampaignError::NotFound`] for an unknown or another workspace's campaign, or the
    /// store's failure.
    pub async fn show(
        &self,
        workspace_id: WorkspaceId,
        id: CampaignId,
    ) -> Result<CampaignDetail, CampaignError> {
        let now = self.clock.now();
        // The campaign's local "today" is within a day of UTC's: read rows for a UTC range that
        // covers the 30 local days in any zone, and let the domain pick the local days.
        let utc_today = now.date();
        let from = utc_today
            .checked_sub(time::Duration::days(i64::from(DAILY_DAYS) + 1))
            .unwrap_or(utc_today);
        let to = utc_today.next_day().unwrap_or(utc_today);
        let detail = self
            .campaigns
            .detail(workspace_id, id, from, to)
            .await?
            .ok_or(CampaignError::NotFound)?;
        let today = to_time_date(detail.record.campaign.schedule.local_date(instant(now)))?;
        Ok(CampaignDetail {
            view: detail.record.into(),
            daily: zero_filled(today, &detail.daily),
            sequences: step_stats(detail.steps),
        })
    }

    /// One page of the workspace's campaigns, list projection.
    ///
    /// # Errors
    /// The store's failure.
    pub async fn list(
        &self,
        workspace_id: WorkspaceId,
        query: &ListQuery<CampaignSort>,
    ) -> Result<Page<CampaignView>, CampaignError> {
        Ok(self
            .campaigns
            .list(workspace_id, query)
            .await?
            .map(CampaignView::from))
    }

    /// Applies a change set all or nothing (status transitions checked against the stored
    /// readiness; the unsubscribe option rewrites every body in the same transaction).
    ///
    /// # Errors
    /// [`CampaignError::NotFound`], [`CampaignError::Invalid`] naming every refused field with
    /// the domain's code, or the store's failure.
    pub async fn update(
        &self,
        workspace_id: WorkspaceId,
        id: CampaignId,
        changes: &CampaignChanges,
    ) -> Result<CampaignView, CampaignError> {
        match self
            .campaigns
            .update(workspace_id, id, changes, self.clock.now())
            .await?
        {
            CampaignUpdateOutcome::NotFound => Err(CampaignError::NotFound),
            CampaignUpdateOutcome::Invalid(e) => Err(CampaignError::Invalid(e)),
            CampaignUpdateOutcome::Updated(record) => Ok((*record).into()),
        }
    }

    /// Applies a schedule change set all or nothing; times are stored on the 30-minute grid.
    ///
    /// # Errors
    /// [`CampaignError::NotFound`], [`CampaignError::Invalid`], or the store's failure.
    pub async fn update_schedule(
        &self,
        workspace_id: WorkspaceId,
        id: CampaignId,
        changes: &ScheduleChanges,
    ) -> Result<Schedule, CampaignError> {
        match self
            .campaigns
            .update_schedule(workspace_id, id, changes, self.clock.now())
            .await?
        {
            ScheduleUpdateOutcome::NotFound => Err(CampaignError::NotFound),
            ScheduleUpdateOutcome::Invalid(e) => Err(CampaignError::Invalid(e)),
            ScheduleUpdateOutcome::Updated(s) => Ok(s),
        }
    }

    /// Deletes a campaign and everything it owns.
    ///
    /// # Errors
    /// [`CampaignError::NotFound`], or the store's failure.
    pub async fn delete(
        &self,
        workspace_id: WorkspaceId,
        id: CampaignId,
    ) -> Result<(), CampaignError> {
        if self.campaigns.delete(workspace_id, id).await? {
            Ok(())
        } else {
            Err(CampaignError::NotFound)
        }
    }

    /// Attaches inboxes (idempotent; duplicates removed); the attached set after it.
    ///
    /// # Errors
    /// [`CampaignError::Invalid`] naming `inbox_ids` when the list is empty,
    /// [`CampaignError::NotFound`], [`CampaignError::InboxNotFound`] (nothing changed), or the
    /// store's failure.
    pub async fn attach_inboxes(
        &self,
        workspace_id: WorkspaceId,
        id: CampaignId,
        inbox_ids: &[InboxId],
    ) -> Result<Vec<AttachedInbox>, CampaignError> {
        let ids = dedup(inbox_ids)?;
        let outcome = self
            .campaigns
            .attach_inboxes(workspace_id, id, &ids, self.clock.now())
            .await?;
        inbox_outcome(outcome)
    }

    /// Detaches inboxes (idempotent); the attached set after it.
    ///
    /// # Errors
    /// As [`Self::attach_inboxes`].
    pub async fn detach_inboxes(
        &self,
        workspace_id: WorkspaceId,
        id: CampaignId,
        inbox_ids: &[InboxId],
    ) -> Result<Vec<AttachedInbox>, CampaignError> {
        let ids = dedup(inbox_ids)?;
        let outcome = self
            .campaigns
            .detach_inboxes(workspace_id, id, &ids, self.clock.now())
            .await?;
        inbox_outcome(outcome)
    }
}

fn dedup(ids: &[InboxId]) -> Result<Vec<InboxId>, CampaignError> {
    if ids.is_empty() {
        return Err(invalid(
            "inbox_ids",
            "required",
            "must hold at least one inbox id",
        ));
    }
    let mut out: Vec<InboxId> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(id) {
            out.push(*id);
        }
    }
    Ok(out)
}

fn inbox_outcome(outcome: InboxSetOutcome) -> Result<Vec<AttachedInbox>, CampaignError> {
    match outcome {
        InboxSetOutcome::CampaignNotFound => Err(CampaignError::NotFound),
        InboxSetOutcome::InboxNotFound => Err(CampaignError::InboxNotFound),
        InboxSetOutcome::Done(inboxes) => Ok(inboxes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MockClock;
    use crate::sequences::VariantRecord;
    use reachkit_domain::campaign::CampaignStatus;
    use reachkit_domain::variant::VariantLetter;
    use time::macros::{date, datetime};

    // 03:00 UTC on Dec 1 is still Nov 30 in New York.
    const NOW: OffsetDateTime = datetime!(2026-12-01 03:00 UTC);

    fn clock() -> Arc<MockClock> {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(NOW);
        Arc::new(clock)
    }

    fn service(repo: MockCampaignRepository) -> CampaignService {
        CampaignService::new(Arc::new(repo), clock())
    }

    fn record(ws: WorkspaceId, id: CampaignId, counters: CampaignCounters) -> CampaignRecord {
        CampaignRecord {
            campaign: Campaign {
                id,
                workspace_id: ws,
                settings: CampaignSettings::new(CampaignName::parse("Q3").expect("name")),
                schedule: Schedule::default(),
                created_at: NOW,
                updated_at: NOW,
            },
            counters,
            sequence_steps: 1,
            inboxes: vec![],
        }
    }

    fn variant(sent: u64, replies: u64, positive: u64) -> VariantRecord {
        VariantRecord {
            id: VariantId::new(),
            sequence_id: SequenceId::new(),
            letter: VariantLetter::A,
            subject: None,
            body_html: None,
            body_text: None,
            enabled: true,
            sent,
            replies,
            positive_replies: positive,
        }
    }

    #[tokio::test]
    async fn create_refuses_a_blank_name_without_storing() {
        let mut repo = MockCampaignRepository::new();
        repo.expect_create().never();
        let result = service(repo).create(WorkspaceId::new(), "   ").await;
        assert!(matches!(result, Err(CampaignError::Invalid(e)) if e.has("name")));
    }

    #[tokio::test]
    async fn create_stores_a_draft_with_defaults_then_reads_it_back() {
        let ws = WorkspaceId::new();
        let mut repo = MockCampaignRepository::new();
        repo.expect_create()
            .withf(move |n| {
                let c = &n.campaign;
                c.workspace_id == ws
                    && c.settings.name.as_str() == "Q3 outreach"
                    && c.settings.status == CampaignStatus::Draft
                    && c.settings.options.daily_limit == 50
                    && c.schedule == Schedule::default()
                    && c.created_at == NOW
            })
            .times(1)
            .returning(|_| Ok(()));
        repo.expect_detail().returning(move |w, id, _, _| {
            Ok(Some(CampaignDetailRecord {
                record: record(w, id, CampaignCounters::default()),
                daily: vec![],
                steps: vec![StepRecord {
                    id: SequenceId::new(),
                    step: 1,
                    delay_days: 3,
                    variants: vec![variant(0, 0, 0)],
                }],
            }))
        });
        let detail = service(repo)
            .create(ws, "  Q3 outreach ")
            .await
            .expect("created");
        assert_eq!(detail.daily.len(), 30);
        assert_eq!(detail.sequences.len(), 1);
        assert_eq!(detail.sequences[0].variants[0].reply_rate, 0.0);
    }

    #[tokio::test]
    async fn show_reads_counters_and_zero_fills_thirty_local_days() {
        let ws = WorkspaceId::new();
        let id = CampaignId::new();
        let mut repo = MockCampaignRepository::new();
        repo.expect_detail()
            // A UTC range covering the 30 local days in any zone.
            .withf(|_, _, from, to| *from == date!(2026 - 10 - 31) && *to == date!(2026 - 12 - 02))
            .returning(|w, id, _, _| {
                Ok(Some(CampaignDetailRecord {
                    record: record(
                        w,
                        id,
                        CampaignCounters {
                            leads_count: 8,
                            finished_leads: 3,
                            sent: 12,
                            contacted: 3,
                            replies: 1,
                            positive_replies: 1,
                            bounced: 2,
                        },
                    ),
                    daily: vec![
                        DailyCount {
                            date: date!(2026 - 11 - 29),
                            sent: 5,
                            replies: 1,
                        },
                        // Outside the 30 local days: left out.
                        DailyCount {
                            date: date!(2026 - 10 - 31),
                            sent: 100,
                            replies: 0,
                        },
                    ],
                    steps: vec![StepRecord {
                        id: SequenceId::new(),
                        step: 1,
                        delay_days: 3,
                        variants: vec![variant(3, 1, 0)],
                    }],
                }))
            });
        let d = service(repo).show(ws, id).await.expect("show");
        let s = d.view.stats;
        assert_eq!((s.progress, s.sent, s.contacted), (37, 12, 3));
        assert_eq!((s.reply_rate, s.bounce_rate), (33.33, 66.67));
        assert_eq!(d.daily.len(), 30);
        assert_eq!(d.daily[0].date, date!(2026 - 11 - 01));
        assert_eq!(d.daily[29].date, date!(2026 - 11 - 30));
        assert_eq!((d.daily[28].sent, d.daily[28].replies), (5, 1));
        assert_eq!(d.daily.iter().map(|d| d.sent).sum::<u64>(), 5);
        assert_eq!(d.sequences[0].variants[0].reply_rate, 33.33);
    }

    #[tokio::test]
    async fn show_of_an_unknown_campaign_is_not_found() {
        let mut repo = MockCampaignRepository::new();
        repo.expect_detail().returning(|_, _, _, _| Ok(None));
        let result = service(repo)
            .show(WorkspaceId::new(), CampaignId::new())
            .await;
        assert!(matches!(result, Err(CampaignError::NotFound)));
    }

    #[tokio::test]
    async fn update_passes_refusals_through_as_invalid() {
        let mut repo = MockCampaignRepository::new();
        repo.expect_update().returning(|_, _, _, _| {
            Ok(CampaignUpdateOutcome::Invalid(ValidationErrors(vec![
                FieldError::new("status", "no_inbox", "cannot launch"),
            ])))
        });
        let result = service(repo)
            .update(
                WorkspaceId::new(),
                CampaignId::new(),
                &CampaignChanges {
                    status: Some("active".into()),
                    ..CampaignChanges::default()
                },
            )
            .await;
        assert!(
            matches!(result, Err(CampaignError::Invalid(e)) if e.fields()[0].code == "no_inbox")
        );
    }

    #[tokio::test]
    async fn attach_dedups_ids_and_refuses_an_empty_list() {
        let a = InboxId::new();
        let b = InboxId::new();
        let mut repo = MockCampaignRepository::new();
        repo.expect_attach_inboxes()
            .withf(move |_, _, ids, _| ids == [a, b])
            .times(1)
            .returning(|_, _, _, _| Ok(InboxSetOutcome::Done(vec![])));
        let svc = service(repo);
        let ws = WorkspaceId::new();
        let id = CampaignId::new();
        assert!(svc.attach_inboxes(ws, id, &[a, b, a]).await.is_ok());
        let empty = svc.attach_inboxes(ws, id, &[]).await;
        assert!(matches!(empty, Err(CampaignError::Invalid(e)) if e.has("inbox_ids")));
    }

    #[tokio::test]
    async fn detach_with_a_foreign_inbox_is_inbox_not_found() {
        let mut repo = MockCampaignRepository::new();
        repo.expect_detach_inboxes()
            .returning(|_, _, _, _| Ok(InboxSetOutcome::InboxNotFound));
        let result = service(repo)
            .detach_inboxes(WorkspaceId::new(), CampaignId::new(), &[InboxId::new()])
            .await;
        assert!(matches!(result, Err(CampaignError::InboxNotFound)));
    }

    #[tokio::test]
    async fn deleting_an_unknown_campaign_is_not_found() {
        let mut repo = MockCampaignRepository::new();
        repo.expect_delete().returning(|_, _| Ok(false));
        let result = service(repo)
            .delete(WorkspaceId::new(), CampaignId::new())
            .await;
        assert!(matches!(result, Err(CampaignError::NotFound)));
    }

    #[test]
    fn sort_by_accepts_only_the_allowlist() {
        for name in CampaignSort::ALLOWED {
            assert!(CampaignSort::parse(name).is_some(), "{name}");
        }
        assert_eq!(CampaignSort::parse("leads_count"), None);
    }

    #[test]
    fn zero_filling_keeps_thirty_days_in_order() {
        let days = zero_filled(date!(2026 - 03 - 01), &[]);
        assert_eq!(days.len(), 30);
        assert_eq!(days[0].date, date!(2026 - 01 - 31));
        assert!(days.windows(2).all(|w| w[0].date < w[1].date));
    }
}
