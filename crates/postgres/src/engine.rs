//! The send queue in PostgreSQL: planning (capacity reserved in usage rows under their row
//! locks), claiming (`FOR UPDATE SKIP LOCKED`, leased), recording outcomes with their counters
//! and events in one transaction, and recovering lost claims as `unknown`. See docs/ENGINE.md.
//!
//! Lock order, the same in every transaction so that concurrent steps never deadlock:
//! sends -> campaign_usage -> inbox_usage -> inbox_send_state -> leads -> variants ->
//! campaign_stats -> campaign_daily_stats.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Bool, Date as SqlDate, Integer, Jsonb, Nullable, SmallInt, Text, Timestamptz,
    Uuid as SqlUuid,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reachkit_core::StoreError;
use reachkit_core::engine::{
    AUTH_FAILURES_BEFORE_ERROR, CancelReason, ClaimedSend, FinishReason, Outcome, PlanReport,
    PlanSettings, RecoverReport, SendCampaign, SendInbox, SendLead, SendQueue, SendResult,
    SendVariant, SentContent,
};
use reachkit_core::ids::{CampaignId, InboxId, LeadId, SendId, WorkspaceId};
use reachkit_core::inboxes::{Security, ServerSettings};
use reachkit_domain::schedule::Schedule;
use reachkit_domain::sequence::{earliest_next_send, next_step_due};
use reachkit_domain::variant::{VariantLetter, VariantLoad, pick_least_sent};
use serde_json::{Value, json};
use time::{Date, OffsetDateTime, UtcOffset};
use uuid::Uuid;

use crate::campaigns::stored_schedule;
use crate::error::{TxError, corrupt};
use crate::pool::Db;
use crate::schema::{events, sends};

/// The send queue on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgSendQueue {
    db: Db,
}

impl PgSendQueue {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

fn instant(at: OffsetDateTime) -> jiff::Timestamp {
    jiff::Timestamp::from_second(at.unix_timestamp()).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

fn from_instant(t: jiff::Timestamp) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(t.as_second()).map_err(|e| corrupt(e.to_string()))
}

fn to_date(d: jiff::civil::Date) -> Result<Date, StoreError> {
    let month = u8::try_from(d.month())
        .ok()
        .and_then(|m| time::Month::try_from(m).ok());
    let day = u8::try_from(d.day()).ok();
    match (month, day) {
        (Some(month), Some(day)) => Date::from_calendar_date(i32::from(d.year()), month, day)
            .map_err(|e| corrupt(format!("local date: {e}"))),
        _ => Err(corrupt("local date")),
    }
}

fn utc_day(at: OffsetDateTime) -> Date {
    at.to_offset(UtcOffset::UTC).date()
}

/// The local day of the campaign's zone that `at` falls on.
fn local_day(schedule: &Schedule, at: OffsetDateTime) -> Result<Date, StoreError> {
    to_date(schedule.local_date(instant(at)))
}

/// When step `step + 1` is due after step `step` was sent at `sent_at`.
fn next_due(
    schedule: &Schedule,
    sent_at: OffsetDateTime,
    delay_days: u32,
) -> Result<OffsetDateTime, StoreError> {
    let sent = instant(sent_at);
    let due = earliest_next_send(sent, delay_days, schedule)
        .unwrap_or_else(|| next_step_due(sent, delay_days, schedule.time_zone()));
    from_instant(due)
}

fn count_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = Integer)]
    n: i32,
}

// ---------------------------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------------------------

#[derive(QueryableByName, Debug)]
struct CampaignRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    workspace_id: Uuid,
    #[diesel(sql_type = Integer)]
    daily_limit: i32,
    #[diesel(sql_type = Bool)]
    esp_matching: bool,
    #[diesel(sql_type = Bool)]
    stop_on_reply: bool,
    #[diesel(sql_type = Text)]
    timezone: String,
    #[diesel(sql_type = SmallInt)]
    window_start: i16,
    #[diesel(sql_type = SmallInt)]
    window_end: i16,
    #[diesel(sql_type = Jsonb)]
    schedule_days: Value,
}

impl CampaignRow {
    fn schedule(&self) -> Result<Schedule, StoreError> {
        stored_schedule(
            &self.timezone,
            self.window_start,
            self.window_end,
            &self.schedule_days,
        )
    }
}

const DUE_CAMPAIGNS: &str = "\
SELECT c.id, c.workspace_id, c.daily_limit, c.esp_matching, c.stop_on_reply, c.timezone, \
       c.window_start, c.window_end, c.schedule_days \
FROM campaigns c \
WHERE c.status = 'active' \
  AND EXISTS (SELECT 1 FROM leads l WHERE l.campaign_id = c.id AND l.next_due_at <= $1 \
              AND l.finished_reason IS NULL) \
ORDER BY c.id";

#[derive(QueryableByName, Debug)]
struct InboxCap {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    domain: String,
    #[diesel(sql_type = Text)]
    provider: String,
    #[diesel(sql_type = Integer)]
    daily_campaign_limit: i32,
}

#[derive(QueryableByName)]
struct Usage {
    #[diesel(sql_type = SqlUuid)]
    inbox_id: Uuid,
    #[diesel(sql_type = Integer)]
    n: i32,
}

#[derive(QueryableByName)]
struct Slot {
    #[diesel(sql_type = SqlUuid)]
    inbox_id: Uuid,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    next_slot_at: Option<OffsetDateTime>,
}

#[derive(QueryableByName)]
struct VariantRow {
    #[diesel(sql_type = Integer)]
    step: i32,
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    letter: String,
    #[diesel(sql_type = Bool)]
    enabled: bool,
    #[diesel(sql_type = BigInt)]
    assigned: i64,
}

#[derive(QueryableByName)]
struct DueLead {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Integer)]
    next_step: i32,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    inbox_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    provider: Option<String>,
    #[diesel(sql_type = Bool)]
    is_bounced: bool,
    #[diesel(sql_type = Bool)]
    is_unsubscribed: bool,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Bool)]
    blocked: bool,
}

const DUE_LEADS: &str = "\
SELECT l.id, l.next_step, l.inbox_id, l.provider, l.is_bounced, l.is_unsubscribed, l.status, \
       EXISTS (SELECT 1 FROM blocklist_entries b \
               WHERE b.workspace_id = l.workspace_id AND b.email = l.email) AS blocked \
FROM leads l \
WHERE l.campaign_id = $1 AND l.next_due_at <= $2 AND l.finished_reason IS NULL \
  AND (l.inbox_id IS NULL OR l.inbox_id = ANY($3)) \
  AND (NOT $4 OR l.inbox_id IS NOT NULL OR l.provider = ANY($5)) \
ORDER BY l.next_due_at, l.id \
LIMIT $6 \
FOR UPDATE OF l SKIP LOCKED";

#[derive(Insertable)]
#[diesel(table_name = sends)]
struct NewSend {
    id: Uuid,
    workspace_id: Uuid,
    campaign_id: Uuid,
    lead_id: Uuid,
    step: i32,
    variant_id: Option<Uuid>,
    inbox_id: Option<Uuid>,
    message_id: String,
    status: &'static str,
    attempts: i32,
    not_before: OffsetDateTime,
    inbox_day: Date,
    campaign_day: Date,
    queued_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = events)]
struct NewEvent {
    workspace_id: Uuid,
    campaign_id: Option<Uuid>,
    lead_id: Option<Uuid>,
    send_id: Option<Uuid>,
    kind: &'static str,
    data: Value,
    created_at: OffsetDateTime,
}

struct Inbox {
    domain: String,
    provider: String,
    capacity: i32,
    used: i32,
    next_slot: OffsetDateTime,
}

fn jitter(max: u32) -> i64 {
    if max == 0 {
        0
    } else {
        i64::from(rand::random_range(0..=max))
    }
}

/// Whether the lead already counts as finished in `finished_leads` (the lead API's rule).
fn counted_finished(status: &str, is_bounced: bool, is_unsubscribed: bool) -> bool {
    status == "replied" || is_bounced || is_unsubscribed
}

async fn finish_leads(
    c: &mut AsyncPgConnection,
    workspace_id: Uuid,
    campaign_id: Uuid,
    finished: &[(Uuid, FinishReason, bool)],
    now: OffsetDateTime,
) -> Result<(), TxError> {
    if finished.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = finished.iter().map(|f| f.0).collect();
    let reasons: Vec<String> = finished.iter().map(|f| f.1.as_str().to_owned()).collect();
    diesel::sql_query(
        "UPDATE leads l SET next_due_at = NULL, finished_reason = v.r, updated_at = $3 \
         FROM unnest($1::uuid[], $2::text[]) AS v(id, r) WHERE l.id = v.id",
    )
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<Array<Text>, _>(&reasons)
    .bind::<Timestamptz, _>(now)
    .execute(c)
    .await?;
    let newly = finished.iter().filter(|f| f.2).count();
    if newly > 0 {
        diesel::sql_query(
            "UPDATE campaign_stats SET finished_leads = finished_leads + $2 \
             WHERE campaign_id = $1",
        )
        .bind::<SqlUuid, _>(campaign_id)
        .bind::<BigInt, _>(i64::try_from(newly).unwrap_or(0))
        .execute(c)
        .await?;
    }
    let rows: Vec<NewEvent> = finished
        .iter()
        .map(|(id, reason, _)| NewEvent {
            workspace_id,
            campaign_id: Some(campaign_id),
            lead_id: Some(*id),
            send_id: None,
            kind: "lead_finished",
            data: json!({ "reason": reason.as_str() }),
            created_at: now,
        })
        .collect();
    diesel::insert_into(events::table)
        .values(&rows)
        .execute(c)
        .await?;
    Ok(())
}

#[expect(
    clippy::too_many_lines,
    reason = "one transaction, read in order: reserve, choose, write"
)]
async fn plan_campaign(
    c: &mut AsyncPgConnection,
    camp: &CampaignRow,
    schedule: &Schedule,
    now: OffsetDateTime,
    settings: PlanSettings,
) -> Result<PlanReport, TxError> {
    let mut report = PlanReport::default();
    let campaign_day = local_day(schedule, now)?;
    let inbox_day = utc_day(now);
    // 1. The campaign's daily usage row: its lock serialises the planners of this campaign.
    diesel::sql_query(
        "INSERT INTO campaign_usage (campaign_id, day) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind::<SqlUuid, _>(camp.id)
    .bind::<SqlDate, _>(campaign_day)
    .execute(c)
    .await?;
    let used: N = diesel::sql_query(
        "SELECT sends AS n FROM campaign_usage WHERE campaign_id = $1 AND day = $2 FOR UPDATE",
    )
    .bind::<SqlUuid, _>(camp.id)
    .bind::<SqlDate, _>(campaign_day)
    .get_result(c)
    .await?;
    let settings_cap = i32::try_from(settings.max_per_campaign).unwrap_or(i32::MAX);
    let mut budget = (camp.daily_limit - used.n).clamp(0, settings_cap);
    if budget == 0 {
        return Ok(report);
    }
    // 2. The usable attached inboxes, their UTC-day usage rows (locked, in id order) and pacing.
    let caps: Vec<InboxCap> = diesel::sql_query(
        "SELECT i.id, i.domain, i.provider, i.daily_campaign_limit \
         FROM campaign_inboxes ci JOIN inboxes i ON i.id = ci.inbox_id \
         WHERE ci.campaign_id = $1 AND i.is_active AND i.connection_status = 'connected' \
         ORDER BY i.id",
    )
    .bind::<SqlUuid, _>(camp.id)
    .load(c)
    .await?;
    if caps.is_empty() {
        return Ok(report);
    }
    let ids: Vec<Uuid> = caps.iter().map(|i| i.id).collect();
    diesel::sql_query(
        "INSERT INTO inbox_usage (inbox_id, day) \
         SELECT id, $2 FROM unnest($1::uuid[]) AS id ORDER BY id ON CONFLICT DO NOTHING",
    )
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<SqlDate, _>(inbox_day)
    .execute(c)
    .await?;
    let usage: Vec<Usage> = diesel::sql_query(
        "SELECT inbox_id, campaign_sends AS n FROM inbox_usage \
         WHERE inbox_id = ANY($1) AND day = $2 ORDER BY inbox_id FOR UPDATE",
    )
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<SqlDate, _>(inbox_day)
    .load(c)
    .await?;
    diesel::sql_query(
        "INSERT INTO inbox_send_state (inbox_id) \
         SELECT id FROM unnest($1::uuid[]) AS id ORDER BY id ON CONFLICT DO NOTHING",
    )
    .bind::<Array<SqlUuid>, _>(&ids)
    .execute(c)
    .await?;
    let slots: Vec<Slot> = diesel::sql_query(
        "SELECT inbox_id, next_slot_at FROM inbox_send_state \
         WHERE inbox_id = ANY($1) ORDER BY inbox_id FOR UPDATE",
    )
    .bind::<Array<SqlUuid>, _>(&ids)
    .load(c)
    .await?;
    let used_by: HashMap<Uuid, i32> = usage.into_iter().map(|u| (u.inbox_id, u.n)).collect();
    let slot_of: HashMap<Uuid, Option<OffsetDateTime>> = slots
        .into_iter()
        .map(|s| (s.inbox_id, s.next_slot_at))
        .collect();
    let mut inboxes: BTreeMap<Uuid, Inbox> = caps
        .into_iter()
        .map(|i| {
            let used = used_by.get(&i.id).copied().unwrap_or(0);
            let next_slot = slot_of
                .get(&i.id)
                .copied()
                .flatten()
                .map_or(now, |t| t.max(now));
            (
                i.id,
                Inbox {
                    domain: i.domain,
                    provider: i.provider,
                    capacity: (i.daily_campaign_limit - used).max(0),
                    used,
                    next_slot,
                },
            )
        })
        .collect();
    let open: Vec<Uuid> = inboxes
        .iter()
        .filter(|(_, i)| i.capacity > 0)
        .map(|(id, _)| *id)
        .collect();
    if open.is_empty() {
        return Ok(report);
    }
    let providers: Vec<String> = open
        .iter()
        .filter_map(|id| inboxes.get(id).map(|i| i.provider.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // 3. The sequence: number of steps and the variants of each step with their assignments.
    let steps: N =
        diesel::sql_query("SELECT count(*)::int AS n FROM sequences WHERE campaign_id = $1")
            .bind::<SqlUuid, _>(camp.id)
            .get_result(c)
            .await?;
    let variant_rows: Vec<VariantRow> = diesel::sql_query(
        "SELECT s.step, v.id, v.letter, v.enabled, v.assigned \
         FROM sequences s JOIN variants v ON v.sequence_id = s.id \
         WHERE s.campaign_id = $1 ORDER BY s.step, v.ordinal",
    )
    .bind::<SqlUuid, _>(camp.id)
    .load(c)
    .await?;
    let mut variants: BTreeMap<i32, Vec<(Uuid, VariantLoad)>> = BTreeMap::new();
    for v in variant_rows {
        let letter = VariantLetter::parse(&v.letter)
            .ok_or_else(|| corrupt(format!("variant letter {}", v.letter)))?;
        variants.entry(v.step).or_default().push((
            v.id,
            VariantLoad {
                letter,
                enabled: v.enabled,
                sent: u64::try_from(v.assigned).unwrap_or(0),
            },
        ));
    }
    // 4. The due leads, locked (others planning skip them).
    let leads: Vec<DueLead> = diesel::sql_query(DUE_LEADS)
        .bind::<SqlUuid, _>(camp.id)
        .bind::<Timestamptz, _>(now)
        .bind::<Array<SqlUuid>, _>(&open)
        .bind::<Bool, _>(camp.esp_matching)
        .bind::<Array<Text>, _>(&providers)
        .bind::<BigInt, _>(i64::from(budget))
        .load(c)
        .await?;
    let mut finished: Vec<(Uuid, FinishReason, bool)> = Vec::new();
    let mut planned: Vec<NewSend> = Vec::new();
    let mut assigned: HashMap<Uuid, i64> = HashMap::new();
    for lead in leads {
        let already = counted_finished(&lead.status, lead.is_bounced, lead.is_unsubscribed);
        let stop = if lead.blocked {
            Some(FinishReason::Blocklisted)
        } else if lead.is_bounced {
            Some(FinishReason::Bounced)
        } else if lead.is_unsubscribed {
            Some(FinishReason::Unsubscribed)
        } else if lead.status == "replied" && camp.stop_on_reply {
            Some(FinishReason::Replied)
        } else if lead.next_step > steps.n {
            Some(FinishReason::Completed)
        } else {
            None
        };
        if let Some(reason) = stop {
            finished.push((lead.id, reason, !already));
            continue;
        }
        if budget == 0 {
            break;
        }
        let Some(step_variants) = variants.get_mut(&lead.next_step) else {
            continue; // a step without variants: the lead waits
        };
        let inbox_id = match lead.inbox_id {
            Some(id) => inboxes.get(&id).filter(|i| i.capacity > 0).map(|_| id),
            None => {
                if camp.esp_matching && lead.provider.is_none() {
                    None
                } else {
                    inboxes
                        .iter()
                        .filter(|(_, i)| i.capacity > 0)
                        .filter(|(_, i)| {
                            !camp.esp_matching
                                || lead.provider.as_deref() == Some(i.provider.as_str())
                        })
                        .min_by_key(|(id, i)| (i.used, **id))
                        .map(|(id, _)| *id)
                }
            }
        };
        let Some(inbox_id) = inbox_id else {
            continue;
        };
        let loads: Vec<VariantLoad> = step_variants.iter().map(|(_, l)| *l).collect();
        let Some(pick) = pick_least_sent(&loads) else {
            continue; // no enabled variant: the lead waits
        };
        let Some((variant_id, load)) = step_variants.get_mut(pick) else {
            continue;
        };
        load.sent += 1;
        *assigned.entry(*variant_id).or_default() += 1;
        let Some(inbox) = inboxes.get_mut(&inbox_id) else {
            continue;
        };
        inbox.capacity -= 1;
        inbox.used += 1;
        let not_before = inbox.next_slot;
        inbox.next_slot = not_before
            + time::Duration::seconds(
                i64::from(settings.min_gap_seconds) + jitter(settings.max_jitter_seconds),
            );
        budget -= 1;
        planned.push(NewSend {
            id: Uuid::now_v7(),
            workspace_id: camp.workspace_id,
            campaign_id: camp.id,
            lead_id: lead.id,
            step: lead.next_step,
            variant_id: Some(*variant_id),
            inbox_id: Some(inbox_id),
            message_id: format!("{}@{}", Uuid::now_v7().simple(), inbox.domain),
            status: "queued",
            attempts: 0,
            not_before,
            inbox_day,
            campaign_day,
            queued_at: now,
            updated_at: now,
        });
    }
    finish_leads(c, camp.workspace_id, camp.id, &finished, now).await?;
    report.finished = u64::try_from(finished.len()).unwrap_or(0);
    if planned.is_empty() {
        return Ok(report);
    }
    // 5. Insert the sends; the unique (lead, step) key refuses a step queued before.
    let planned_leads: Vec<Uuid> = planned.iter().map(|p| p.lead_id).collect();
    let inserted: Vec<(Uuid, Option<Uuid>, Option<Uuid>)> = diesel::insert_into(sends::table)
        .values(&planned)
        .on_conflict_do_nothing()
        .returning((sends::lead_id, sends::inbox_id, sends::variant_id))
        .get_results(c)
        .await?;
    if inserted.len() < planned.len() {
        tracing::warn!(
            campaign = %camp.id,
            refused = planned.len() - inserted.len(),
            "steps already queued or sent were refused by the unique key"
        );
    }
    let mut per_inbox: BTreeMap<Uuid, i32> = BTreeMap::new();
    let mut per_variant: BTreeMap<Uuid, i64> = BTreeMap::new();
    let (mut lead_ids, mut lead_inboxes) = (Vec::new(), Vec::new());
    for (lead, inbox, variant) in &inserted {
        if let Some(inbox) = inbox {
            *per_inbox.entry(*inbox).or_default() += 1;
        }
        if let Some(variant) = variant {
            *per_variant.entry(*variant).or_default() += 1;
        }
        lead_ids.push(*lead);
        lead_inboxes.push(inbox.unwrap_or_default());
    }
    // 6. Reserve what was queued, move the pacing, count the assignments, take the leads.
    diesel::sql_query(
        "UPDATE campaign_usage SET sends = sends + $3 WHERE campaign_id = $1 AND day = $2",
    )
    .bind::<SqlUuid, _>(camp.id)
    .bind::<SqlDate, _>(campaign_day)
    .bind::<Integer, _>(count_i32(inserted.len()))
    .execute(c)
    .await?;
    let (inbox_ids, inbox_counts): (Vec<Uuid>, Vec<i32>) = per_inbox.into_iter().unzip();
    diesel::sql_query(
        "UPDATE inbox_usage u SET campaign_sends = u.campaign_sends + v.n \
         FROM unnest($1::uuid[], $2::int[]) AS v(id, n) WHERE u.inbox_id = v.id AND u.day = $3",
    )
    .bind::<Array<SqlUuid>, _>(&inbox_ids)
    .bind::<Array<Integer>, _>(&inbox_counts)
    .bind::<SqlDate, _>(inbox_day)
    .execute(c)
    .await?;
    let (slot_ids, slot_times): (Vec<Uuid>, Vec<OffsetDateTime>) =
        inboxes.iter().map(|(id, i)| (*id, i.next_slot)).unzip();
    diesel::sql_query(
        "UPDATE inbox_send_state s SET next_slot_at = v.t \
         FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, t) \
         WHERE s.inbox_id = v.id AND v.t > $3",
    )
    .bind::<Array<SqlUuid>, _>(&slot_ids)
    .bind::<Array<Timestamptz>, _>(&slot_times)
    .bind::<Timestamptz, _>(now)
    .execute(c)
    .await?;
    diesel::sql_query(
        "UPDATE leads l SET next_due_at = NULL, inbox_id = COALESCE(l.inbox_id, v.inbox) \
         FROM unnest($1::uuid[], $2::uuid[]) AS v(id, inbox) WHERE l.id = v.id",
    )
    .bind::<Array<SqlUuid>, _>(&lead_ids)
    .bind::<Array<SqlUuid>, _>(&lead_inboxes)
    .execute(c)
    .await?;
    let refused: Vec<Uuid> = planned_leads
        .into_iter()
        .filter(|id| !lead_ids.contains(id))
        .collect();
    if !refused.is_empty() {
        // Their step is queued or was sent already: its outcome moves them on.
        diesel::sql_query("UPDATE leads SET next_due_at = NULL WHERE id = ANY($1)")
            .bind::<Array<SqlUuid>, _>(&refused)
            .execute(c)
            .await?;
    }
    let (variant_ids, variant_counts): (Vec<Uuid>, Vec<i64>) = per_variant.into_iter().unzip();
    diesel::sql_query(
        "UPDATE variants x SET assigned = x.assigned + v.n \
         FROM unnest($1::uuid[], $2::bigint[]) AS v(id, n) WHERE x.id = v.id",
    )
    .bind::<Array<SqlUuid>, _>(&variant_ids)
    .bind::<Array<BigInt>, _>(&variant_counts)
    .execute(c)
    .await?;
    drop(assigned);
    report.queued = u64::try_from(inserted.len()).unwrap_or(0);
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// Claiming
// ---------------------------------------------------------------------------------------------

const CLAIM: &str = "\
WITH picked AS ( \
    SELECT s.id FROM sends s \
    JOIN campaigns c ON c.id = s.campaign_id \
    JOIN inboxes i ON i.id = s.inbox_id \
    WHERE s.status IN ('queued', 'deferred') AND s.not_before <= $1 \
      AND c.status = 'active' AND i.is_active AND i.connection_status = 'connected' \
    ORDER BY s.not_before, s.id \
    LIMIT $4 \
    FOR UPDATE OF s SKIP LOCKED \
), claimed AS ( \
    UPDATE sends s SET status = 'sending', lease_owner = $2, lease_expires_at = $3, \
        attempts = s.attempts + 1, updated_at = $1 \
    FROM picked WHERE s.id = picked.id \
    RETURNING s.* \
) \
SELECT s.id, s.workspace_id, s.campaign_id, s.lead_id, s.step, s.message_id, s.attempts, \
       s.queued_at, \
       l.email, l.first_name AS lead_first_name, l.last_name AS lead_last_name, l.variables, \
       l.is_bounced, l.is_unsubscribed, l.status AS lead_status, l.thread_message_ids, \
       l.thread_subject, \
       EXISTS (SELECT 1 FROM blocklist_entries b \
               WHERE b.workspace_id = l.workspace_id AND b.email = l.email) AS blocked, \
       v.id IS NOT NULL AS has_variant, v.subject, v.body_html, v.body_text, \
       c.text_only, c.unsubscribe_option, c.stop_on_reply, c.timezone, c.window_start, \
       c.window_end, c.schedule_days, \
       i.id AS inbox_id, i.email AS inbox_email, i.first_name AS inbox_first_name, \
       i.last_name AS inbox_last_name, i.reply_to, i.signature, i.smtp_host, i.smtp_port, \
       i.smtp_security, i.smtp_username, i.smtp_password \
FROM claimed s \
JOIN leads l ON l.id = s.lead_id \
JOIN campaigns c ON c.id = s.campaign_id \
JOIN inboxes i ON i.id = s.inbox_id \
LEFT JOIN variants v ON v.id = s.variant_id \
ORDER BY s.not_before, s.id";

#[derive(QueryableByName)]
struct ClaimRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    workspace_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    campaign_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    lead_id: Uuid,
    #[diesel(sql_type = Integer)]
    step: i32,
    #[diesel(sql_type = Text)]
    message_id: String,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = Timestamptz)]
    queued_at: OffsetDateTime,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    lead_first_name: String,
    #[diesel(sql_type = Text)]
    lead_last_name: String,
    #[diesel(sql_type = Jsonb)]
    variables: Value,
    #[diesel(sql_type = Bool)]
    is_bounced: bool,
    #[diesel(sql_type = Bool)]
    is_unsubscribed: bool,
    #[diesel(sql_type = Text)]
    lead_status: String,
    #[diesel(sql_type = Array<Text>)]
    thread_message_ids: Vec<String>,
    #[diesel(sql_type = Nullable<Text>)]
    thread_subject: Option<String>,
    #[diesel(sql_type = Bool)]
    blocked: bool,
    #[diesel(sql_type = Bool)]
    has_variant: bool,
    #[diesel(sql_type = Nullable<Text>)]
    subject: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    body_html: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    body_text: Option<String>,
    #[diesel(sql_type = Bool)]
    text_only: bool,
    #[diesel(sql_type = Bool)]
    unsubscribe_option: bool,
    #[diesel(sql_type = Bool)]
    stop_on_reply: bool,
    #[diesel(sql_type = Text)]
    timezone: String,
    #[diesel(sql_type = SmallInt)]
    window_start: i16,
    #[diesel(sql_type = SmallInt)]
    window_end: i16,
    #[diesel(sql_type = Jsonb)]
    schedule_days: Value,
    #[diesel(sql_type = SqlUuid)]
    inbox_id: Uuid,
    #[diesel(sql_type = Text)]
    inbox_email: String,
    #[diesel(sql_type = Text)]
    inbox_first_name: String,
    #[diesel(sql_type = Text)]
    inbox_last_name: String,
    #[diesel(sql_type = Text)]
    reply_to: String,
    #[diesel(sql_type = Text)]
    signature: String,
    #[diesel(sql_type = Text)]
    smtp_host: String,
    #[diesel(sql_type = Integer)]
    smtp_port: i32,
    #[diesel(sql_type = Text)]
    smtp_security: String,
    #[diesel(sql_type = Text)]
    smtp_username: String,
    #[diesel(sql_type = Nullable<diesel::sql_types::Binary>)]
    smtp_password: Option<Vec<u8>>,
}

fn variables(value: &Value) -> Vec<(String, String)> {
    value
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => return None,
                    };
                    Some((k.clone(), text))
                })
                .collect()
        })
        .unwrap_or_default()
}

impl ClaimRow {
    fn claimed(self) -> Result<ClaimedSend, StoreError> {
        let schedule = stored_schedule(
            &self.timezone,
            self.window_start,
            self.window_end,
            &self.schedule_days,
        )?;
        let security = Security::parse(&self.smtp_security)
            .ok_or_else(|| corrupt(format!("smtp_security {}", self.smtp_security)))?;
        let stopped = if self.blocked {
            Some(FinishReason::Blocklisted)
        } else if self.is_bounced {
            Some(FinishReason::Bounced)
        } else if self.is_unsubscribed {
            Some(FinishReason::Unsubscribed)
        } else if self.lead_status == "replied" && self.stop_on_reply {
            Some(FinishReason::Replied)
        } else {
            None
        };
        Ok(ClaimedSend {
            id: SendId::from_uuid(self.id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            step: u32::try_from(self.step).unwrap_or(1),
            message_id: self.message_id,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            queued_at: self.queued_at,
            lead: SendLead {
                id: LeadId::from_uuid(self.lead_id),
                variables: variables(&self.variables),
                email: self.email,
                first_name: self.lead_first_name,
                last_name: self.lead_last_name,
                stopped,
                thread: self.thread_message_ids,
                thread_subject: self.thread_subject,
            },
            variant: self.has_variant.then_some(SendVariant {
                subject: self.subject,
                body_html: self.body_html,
                body_text: self.body_text,
            }),
            campaign: SendCampaign {
                id: CampaignId::from_uuid(self.campaign_id),
                schedule,
                text_only: self.text_only,
                unsubscribe_option: self.unsubscribe_option,
            },
            inbox: SendInbox {
                id: InboxId::from_uuid(self.inbox_id),
                email: self.inbox_email,
                first_name: self.inbox_first_name,
                last_name: self.inbox_last_name,
                reply_to: self.reply_to,
                signature: self.signature,
                smtp: ServerSettings {
                    host: self.smtp_host,
                    port: u16::try_from(self.smtp_port)
                        .map_err(|_| corrupt(format!("smtp_port {}", self.smtp_port)))?,
                    security,
                    username: self.smtp_username,
                },
                smtp_password: self.smtp_password,
            },
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------------------------

/// A send row as an outcome left it.
#[derive(QueryableByName, Debug, Clone)]
struct SendInfo {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    workspace_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    campaign_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    lead_id: Uuid,
    #[diesel(sql_type = Integer)]
    step: i32,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    variant_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    inbox_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    message_id: String,
    #[diesel(sql_type = SqlDate)]
    inbox_day: Date,
    #[diesel(sql_type = SqlDate)]
    campaign_day: Date,
    /// The variant's subject template (for `unknown` outcomes, whose rendering is lost).
    #[diesel(sql_type = Nullable<Text>)]
    variant_subject: Option<String>,
}

const SEND_INFO: &str = "s.id, s.workspace_id, s.campaign_id, s.lead_id, s.step, s.variant_id, \
    s.inbox_id, s.message_id, s.inbox_day, s.campaign_day, \
    (SELECT v.subject FROM variants v WHERE v.id = s.variant_id) AS variant_subject";

/// What an outcome does to the lead and the counters.
#[derive(Debug, Clone)]
enum Change {
    /// Sent (or `unknown`: treated as sent for the lead; `sent: false` keeps it out of `sent`).
    Sent {
        sent: bool,
        /// `Some`: the email started a new thread with this subject.
        new_thread_subject: Option<String>,
    },
    Bounced,
    Failed,
    Stopped(FinishReason),
    Replan,
    /// Only the send row changes.
    Nothing,
}

#[derive(QueryableByName)]
struct LeadState {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Bool)]
    is_bounced: bool,
    #[diesel(sql_type = Bool)]
    is_unsubscribed: bool,
    #[diesel(sql_type = Nullable<Text>)]
    finished_reason: Option<String>,
    #[diesel(sql_type = Array<Text>)]
    thread_message_ids: Vec<String>,
    #[diesel(sql_type = Nullable<Text>)]
    thread_subject: Option<String>,
}

#[derive(QueryableByName)]
struct CampaignSeq {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    timezone: String,
    #[diesel(sql_type = SmallInt)]
    window_start: i16,
    #[diesel(sql_type = SmallInt)]
    window_end: i16,
    #[diesel(sql_type = Jsonb)]
    schedule_days: Value,
    #[diesel(sql_type = Array<Integer>)]
    delays: Vec<i32>,
}

#[derive(Default)]
struct CampaignDelta {
    workspace_id: Uuid,
    sent: i64,
    contacted: i64,
    bounced: i64,
    finished: i64,
    unknown: i64,
}

/// Returns the reservations of sends that will not happen (usage rows in key order: the lock
/// order); gives back the assignments to take off each variant.
async fn return_reservations(
    c: &mut AsyncPgConnection,
    changes: &[(SendInfo, Change, OffsetDateTime)],
) -> Result<BTreeMap<Uuid, i64>, TxError> {
    let mut campaign_returns: BTreeMap<(Uuid, Date), i32> = BTreeMap::new();
    let mut inbox_returns: BTreeMap<(Uuid, Date), i32> = BTreeMap::new();
    let mut assigned_returns: BTreeMap<Uuid, i64> = BTreeMap::new();
    for (info, change, _) in changes {
        if matches!(change, Change::Failed | Change::Stopped(_) | Change::Replan) {
            *campaign_returns
                .entry((info.campaign_id, info.campaign_day))
                .or_default() += 1;
            if let Some(inbox) = info.inbox_id {
                *inbox_returns.entry((inbox, info.inbox_day)).or_default() += 1;
            }
            if let Some(v) = info.variant_id {
                *assigned_returns.entry(v).or_default() += 1;
            }
        }
    }
    for ((campaign, day), n) in &campaign_returns {
        diesel::sql_query(
            "UPDATE campaign_usage SET sends = greatest(sends - $3, 0) \
             WHERE campaign_id = $1 AND day = $2",
        )
        .bind::<SqlUuid, _>(campaign)
        .bind::<SqlDate, _>(day)
        .bind::<Integer, _>(n)
        .execute(c)
        .await?;
    }
    for ((inbox, day), n) in &inbox_returns {
        diesel::sql_query(
            "UPDATE inbox_usage SET campaign_sends = greatest(campaign_sends - $3, 0) \
             WHERE inbox_id = $1 AND day = $2",
        )
        .bind::<SqlUuid, _>(inbox)
        .bind::<SqlDate, _>(day)
        .bind::<Integer, _>(n)
        .execute(c)
        .await?;
    }
    Ok(assigned_returns)
}

/// Applies the lead, counter and event changes of sends whose rows were just updated (after
/// [`return_reservations`]).
#[expect(
    clippy::too_many_lines,
    reason = "one pass over the batch, then one write per table"
)]
async fn apply_changes(
    c: &mut AsyncPgConnection,
    changes: &[(SendInfo, Change, OffsetDateTime)],
    assigned_returns: &BTreeMap<Uuid, i64>,
) -> Result<(), TxError> {
    if changes.is_empty() {
        return Ok(());
    }
    // The leads, locked, and the campaigns' schedules and step delays.
    let lead_ids: Vec<Uuid> = changes
        .iter()
        .filter(|(_, ch, _)| !matches!(ch, Change::Nothing))
        .map(|(i, _, _)| i.lead_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let states: Vec<LeadState> = diesel::sql_query(
        "SELECT id, status, is_bounced, is_unsubscribed, finished_reason, thread_message_ids, \
         thread_subject FROM leads WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind::<Array<SqlUuid>, _>(&lead_ids)
    .load(c)
    .await?;
    let mut states: HashMap<Uuid, LeadState> = states.into_iter().map(|s| (s.id, s)).collect();
    let campaign_ids: Vec<Uuid> = changes
        .iter()
        .map(|(i, _, _)| i.campaign_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let seqs: Vec<CampaignSeq> = diesel::sql_query(
        "SELECT c.id, c.timezone, c.window_start, c.window_end, c.schedule_days, \
         COALESCE(array_agg(s.delay_days ORDER BY s.step) FILTER (WHERE s.id IS NOT NULL), \
                  '{}') AS delays \
         FROM campaigns c LEFT JOIN sequences s ON s.campaign_id = c.id \
         WHERE c.id = ANY($1) GROUP BY c.id",
    )
    .bind::<Array<SqlUuid>, _>(&campaign_ids)
    .load(c)
    .await?;
    let mut seq_of: HashMap<Uuid, (Schedule, Vec<i32>)> = HashMap::new();
    for s in seqs {
        let schedule =
            stored_schedule(&s.timezone, s.window_start, s.window_end, &s.schedule_days)?;
        seq_of.insert(s.id, (schedule, s.delays));
    }
    let mut deltas: BTreeMap<Uuid, CampaignDelta> = BTreeMap::new();
    let mut daily: BTreeMap<(Uuid, Date), (Uuid, i64)> = BTreeMap::new();
    let mut variant_sent: BTreeMap<Uuid, i64> = BTreeMap::new();
    let mut new_events: Vec<NewEvent> = Vec::new();
    for (info, change, at) in changes {
        let Some(state) = states.get_mut(&info.lead_id) else {
            continue; // the lead was deleted (its sends went with it)
        };
        let Some((schedule, delays)) = seq_of.get(&info.campaign_id) else {
            continue;
        };
        let delta = deltas.entry(info.campaign_id).or_default();
        delta.workspace_id = info.workspace_id;
        let already = counted_finished(&state.status, state.is_bounced, state.is_unsubscribed)
            || state.finished_reason.is_some();
        let event = |kind: &'static str, data: Value| NewEvent {
            workspace_id: info.workspace_id,
            campaign_id: Some(info.campaign_id),
            lead_id: Some(info.lead_id),
            send_id: Some(info.id),
            kind,
            data,
            created_at: *at,
        };
        match change {
            Change::Nothing => {}
            Change::Sent {
                sent,
                new_thread_subject,
            } => {
                let contacted = state.status == "uncontacted";
                let mut thread = state.thread_message_ids.clone();
                let mut subject = state.thread_subject.clone();
                match new_thread_subject {
                    Some(s) => {
                        thread = vec![info.message_id.clone()];
                        subject = Some(s.clone());
                    }
                    None => thread.push(info.message_id.clone()),
                }
                let steps = i32::try_from(delays.len()).unwrap_or(i32::MAX);
                let (next_due, finished_reason) = if info.step >= steps {
                    (None, Some(FinishReason::Completed.as_str()))
                } else {
                    let delay = delays
                        .get(usize::try_from(info.step - 1).unwrap_or(0))
                        .copied()
                        .unwrap_or(0);
                    (
                        Some(next_due(schedule, *at, u32::try_from(delay).unwrap_or(0))?),
                        None,
                    )
                };
                diesel::sql_query(
                    "UPDATE leads SET status = CASE WHEN status = 'uncontacted' \
                         THEN 'contacted' ELSE status END, \
                     next_step = $2, next_due_at = CASE WHEN finished_reason IS NULL \
                         THEN $3 ELSE NULL END, \
                     finished_reason = COALESCE(finished_reason, $4), \
                     thread_message_ids = $5, thread_subject = $6, last_sent_at = $7, \
                     updated_at = $7 WHERE id = $1",
                )
                .bind::<SqlUuid, _>(info.lead_id)
                .bind::<Integer, _>(info.step + 1)
                .bind::<Nullable<Timestamptz>, _>(next_due)
                .bind::<Nullable<Text>, _>(finished_reason)
                .bind::<Array<Text>, _>(&thread)
                .bind::<Nullable<Text>, _>(&subject)
                .bind::<Timestamptz, _>(*at)
                .execute(c)
                .await?;
                if contacted {
                    delta.contacted += 1;
                    state.status = "contacted".to_owned();
                }
                if finished_reason.is_some() && !already {
                    delta.finished += 1;
                    state.finished_reason = finished_reason.map(str::to_owned);
                }
                state.thread_message_ids = thread;
                state.thread_subject = subject;
                if *sent {
                    delta.sent += 1;
                    let day = local_day(schedule, *at)?;
                    daily
                        .entry((info.campaign_id, day))
                        .or_insert((info.workspace_id, 0))
                        .1 += 1;
                    if let Some(v) = info.variant_id {
                        *variant_sent.entry(v).or_default() += 1;
                    }
                    new_events.push(event(
                        "email_sent",
                        json!({ "step": info.step, "message_id": info.message_id }),
                    ));
                } else {
                    delta.unknown += 1;
                    new_events.push(event(
                        "email_unknown",
                        json!({ "step": info.step, "message_id": info.message_id }),
                    ));
                }
                if finished_reason.is_some() {
                    new_events.push(event("lead_finished", json!({ "reason": "completed" })));
                }
            }
            Change::Bounced => {
                diesel::sql_query(
                    "UPDATE leads SET is_bounced = true, next_due_at = NULL, \
                     finished_reason = COALESCE(finished_reason, 'bounced'), updated_at = $2 \
                     WHERE id = $1",
                )
                .bind::<SqlUuid, _>(info.lead_id)
                .bind::<Timestamptz, _>(*at)
                .execute(c)
                .await?;
                if !state.is_bounced {
                    delta.bounced += 1;
                }
                if !already {
                    delta.finished += 1;
                }
                state.is_bounced = true;
                state
                    .finished_reason
                    .get_or_insert_with(|| "bounced".to_owned());
                new_events.push(event(
                    "lead_bounced",
                    json!({ "step": info.step, "message_id": info.message_id }),
                ));
            }
            Change::Failed | Change::Stopped(_) => {
                let reason = match change {
                    Change::Stopped(r) => *r,
                    _ => FinishReason::Failed,
                };
                diesel::sql_query(
                    "UPDATE leads SET next_due_at = NULL, \
                     finished_reason = COALESCE(finished_reason, $2), updated_at = $3 \
                     WHERE id = $1",
                )
                .bind::<SqlUuid, _>(info.lead_id)
                .bind::<Text, _>(reason.as_str())
                .bind::<Timestamptz, _>(*at)
                .execute(c)
                .await?;
                if !already {
                    delta.finished += 1;
                }
                state
                    .finished_reason
                    .get_or_insert_with(|| reason.as_str().to_owned());
                new_events.push(event(
                    "lead_finished",
                    json!({ "reason": reason.as_str(), "step": info.step }),
                ));
            }
            Change::Replan => {
                diesel::sql_query(
                    "UPDATE leads SET next_due_at = $2 WHERE id = $1 \
                     AND finished_reason IS NULL",
                )
                .bind::<SqlUuid, _>(info.lead_id)
                .bind::<Timestamptz, _>(*at)
                .execute(c)
                .await?;
            }
        }
    }
    // Counters: one update per variant, campaign and day.
    let mut variant_ids: BTreeSet<Uuid> = variant_sent.keys().copied().collect();
    variant_ids.extend(assigned_returns.keys().copied());
    for v in variant_ids {
        diesel::sql_query(
            "UPDATE variants SET sent = sent + $2, assigned = greatest(assigned - $3, 0) \
             WHERE id = $1",
        )
        .bind::<SqlUuid, _>(v)
        .bind::<BigInt, _>(variant_sent.get(&v).copied().unwrap_or(0))
        .bind::<BigInt, _>(assigned_returns.get(&v).copied().unwrap_or(0))
        .execute(c)
        .await?;
    }
    for (campaign, d) in &deltas {
        if d.sent == 0 && d.contacted == 0 && d.bounced == 0 && d.finished == 0 && d.unknown == 0 {
            continue;
        }
        diesel::sql_query(
            "INSERT INTO campaign_stats (campaign_id, workspace_id, sent, contacted, bounced, \
             finished_leads, unknown) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (campaign_id) DO UPDATE SET \
             sent = campaign_stats.sent + $3, contacted = campaign_stats.contacted + $4, \
             bounced = campaign_stats.bounced + $5, \
             finished_leads = campaign_stats.finished_leads + $6, \
             unknown = campaign_stats.unknown + $7",
        )
        .bind::<SqlUuid, _>(campaign)
        .bind::<SqlUuid, _>(d.workspace_id)
        .bind::<BigInt, _>(d.sent)
        .bind::<BigInt, _>(d.contacted)
        .bind::<BigInt, _>(d.bounced)
        .bind::<BigInt, _>(d.finished)
        .bind::<BigInt, _>(d.unknown)
        .execute(c)
        .await?;
    }
    for ((campaign, day), (workspace, n)) in &daily {
        diesel::sql_query(
            "INSERT INTO campaign_daily_stats (campaign_id, day, workspace_id, sent) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (campaign_id, day) DO UPDATE SET \
             sent = campaign_daily_stats.sent + $4",
        )
        .bind::<SqlUuid, _>(campaign)
        .bind::<SqlDate, _>(day)
        .bind::<SqlUuid, _>(workspace)
        .bind::<BigInt, _>(n)
        .execute(c)
        .await?;
    }
    if !new_events.is_empty() {
        diesel::insert_into(events::table)
            .values(&new_events)
            .execute(c)
            .await?;
    }
    Ok(())
}

struct RowUpdate<'a> {
    status: &'static str,
    reply: Option<&'a str>,
    not_before: Option<OffsetDateTime>,
    sent_at: Option<OffsetDateTime>,
    cancel_reason: Option<&'static str>,
    /// The rendered email of a `sent` outcome.
    content: Option<&'a SentContent>,
    /// An attempt that never reached the server (AUTH refused) is not counted.
    uncount: i32,
    change: Change,
}

fn row_update(outcome: &Outcome, at: OffsetDateTime) -> RowUpdate<'_> {
    let base = |status, change| RowUpdate {
        status,
        reply: None,
        not_before: None,
        sent_at: None,
        cancel_reason: None,
        content: None,
        uncount: 0,
        change,
    };
    match outcome {
        Outcome::Sent {
            reply,
            new_thread_subject,
            content,
        } => RowUpdate {
            reply: Some(reply),
            sent_at: Some(at),
            content: content.as_ref(),
            ..base(
                "sent",
                Change::Sent {
                    sent: true,
                    new_thread_subject: new_thread_subject.clone(),
                },
            )
        },
        Outcome::Bounced { reply } => RowUpdate {
            reply: Some(reply),
            ..base("bounced", Change::Bounced)
        },
        Outcome::Retry { reply, not_before } => RowUpdate {
            reply: Some(reply),
            not_before: Some(*not_before),
            ..base("deferred", Change::Nothing)
        },
        Outcome::Failed { reply } => RowUpdate {
            reply: Some(reply),
            ..base("failed", Change::Failed)
        },
        Outcome::AuthFailed { reason, not_before } => RowUpdate {
            reply: Some(reason),
            not_before: Some(*not_before),
            uncount: 1,
            ..base("queued", Change::Nothing)
        },
        Outcome::Cancelled(CancelReason::Stopped(r)) => RowUpdate {
            cancel_reason: Some(r.as_str()),
            ..base("cancelled", Change::Stopped(*r))
        },
        Outcome::Cancelled(CancelReason::Replan(why)) => RowUpdate {
            cancel_reason: Some(why),
            ..base("cancelled", Change::Replan)
        },
    }
}

async fn record_in(
    c: &mut AsyncPgConnection,
    owner: &str,
    results: &[SendResult],
) -> Result<(), TxError> {
    let mut changes = Vec::with_capacity(results.len());
    let mut auth_failed: BTreeMap<Uuid, (String, OffsetDateTime)> = BTreeMap::new();
    let mut auth_ok: BTreeSet<Uuid> = BTreeSet::new();
    // 1. The send rows, in id order (the lock order), only while still ours.
    let mut ordered: Vec<&SendResult> = results.iter().collect();
    ordered.sort_by_key(|r| r.send_id.as_uuid());
    for r in ordered {
        let u = row_update(&r.outcome, r.at);
        let info: Option<SendInfo> = diesel::sql_query(format!(
            "UPDATE sends s SET status = $3, last_reply = COALESCE($4, s.last_reply), \
             not_before = COALESCE($5, s.not_before), sent_at = $6, cancel_reason = $7, \
             attempts = s.attempts - $8, lease_owner = NULL, lease_expires_at = NULL, \
             updated_at = $9, subject = COALESCE($10, s.subject), \
             text_body = COALESCE($11, s.text_body), html_body = COALESCE($12, s.html_body) \
             WHERE s.id = $1 AND s.status = 'sending' AND s.lease_owner = $2 \
             RETURNING {SEND_INFO}"
        ))
        .bind::<SqlUuid, _>(r.send_id.as_uuid())
        .bind::<Text, _>(owner)
        .bind::<Text, _>(u.status)
        .bind::<Nullable<Text>, _>(u.reply)
        .bind::<Nullable<Timestamptz>, _>(u.not_before)
        .bind::<Nullable<Timestamptz>, _>(u.sent_at)
        .bind::<Nullable<Text>, _>(u.cancel_reason)
        .bind::<Integer, _>(u.uncount)
        .bind::<Timestamptz, _>(r.at)
        .bind::<Nullable<Text>, _>(u.content.map(|c| c.subject.as_str()))
        .bind::<Nullable<Text>, _>(u.content.map(|c| c.text.as_str()))
        .bind::<Nullable<Text>, _>(u.content.and_then(|c| c.html.as_deref()))
        .get_result(c)
        .await
        .optional()?;
        let Some(info) = info else {
            tracing::warn!(send = %r.send_id, "outcome of a send no longer claimed by us ignored");
            continue;
        };
        if let Some(inbox) = info.inbox_id {
            match &r.outcome {
                Outcome::AuthFailed { reason, .. } => {
                    auth_failed.insert(inbox, (reason.clone(), r.at));
                }
                Outcome::Sent { .. } | Outcome::Bounced { .. } => {
                    auth_ok.insert(inbox);
                }
                _ => {}
            }
        }
        changes.push((info, u.change, r.at));
    }
    // 2. Reservations, leads, counters, events.
    apply_changes_ordered(c, &changes, &auth_failed, &auth_ok).await
}

async fn apply_changes_ordered(
    c: &mut AsyncPgConnection,
    changes: &[(SendInfo, Change, OffsetDateTime)],
    auth_failed: &BTreeMap<Uuid, (String, OffsetDateTime)>,
    auth_ok: &BTreeSet<Uuid>,
) -> Result<(), TxError> {
    let assigned_returns = return_reservations(c, changes).await?;
    if !auth_ok.is_empty() {
        let ids: Vec<Uuid> = auth_ok.iter().copied().collect();
        diesel::sql_query(
            "UPDATE inbox_send_state SET auth_failures = 0 \
             WHERE inbox_id = ANY($1) AND auth_failures > 0",
        )
        .bind::<Array<SqlUuid>, _>(&ids)
        .execute(c)
        .await?;
    }
    for (inbox, (reason, at)) in auth_failed {
        let failures: N = diesel::sql_query(
            "INSERT INTO inbox_send_state (inbox_id, auth_failures) VALUES ($1, 1) \
             ON CONFLICT (inbox_id) DO UPDATE SET \
             auth_failures = inbox_send_state.auth_failures + 1 \
             RETURNING auth_failures AS n",
        )
        .bind::<SqlUuid, _>(inbox)
        .get_result(c)
        .await?;
        if failures.n >= AUTH_FAILURES_BEFORE_ERROR {
            diesel::sql_query(
                "UPDATE inboxes SET connection_status = 'error', connection_error = $2, \
                 connection_checked_at = $3 WHERE id = $1 AND connection_status = 'connected'",
            )
            .bind::<SqlUuid, _>(inbox)
            .bind::<Text, _>(format!(
                "SMTP authentication failed {} times in a row while sending: {reason}",
                failures.n
            ))
            .bind::<Timestamptz, _>(*at)
            .execute(c)
            .await?;
            tracing::warn!(inbox = %inbox, "inbox set to error after repeated SMTP AUTH failures");
        }
    }
    apply_changes(c, changes, &assigned_returns).await
}

#[async_trait]
impl SendQueue for PgSendQueue {
    async fn plan(
        &self,
        now: OffsetDateTime,
        settings: PlanSettings,
    ) -> Result<PlanReport, StoreError> {
        let mut conn = self.db.conn().await?;
        let campaigns: Vec<CampaignRow> = diesel::sql_query(DUE_CAMPAIGNS)
            .bind::<Timestamptz, _>(now)
            .load(&mut conn)
            .await
            .map_err(crate::error::from_diesel)?;
        let mut total = PlanReport::default();
        for camp in &campaigns {
            let schedule = match camp.schedule() {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(campaign = %camp.id, error = %e, "unreadable schedule");
                    continue;
                }
            };
            if !schedule.is_open(instant(now)) {
                continue;
            }
            let report = conn
                .transaction::<_, TxError, _>(async |c| {
                    plan_campaign(c, camp, &schedule, now, settings).await
                })
                .await?;
            total.queued += report.queued;
            total.finished += report.finished;
        }
        Ok(total)
    }

    async fn claim(
        &self,
        now: OffsetDateTime,
        owner: &str,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<ClaimedSend>, StoreError> {
        let mut conn = self.db.conn().await?;
        let rows: Vec<ClaimRow> = diesel::sql_query(CLAIM)
            .bind::<Timestamptz, _>(now)
            .bind::<Text, _>(owner)
            .bind::<Timestamptz, _>(lease_until)
            .bind::<BigInt, _>(limit)
            .load(&mut conn)
            .await
            .map_err(crate::error::from_diesel)?;
        rows.into_iter().map(ClaimRow::claimed).collect()
    }

    async fn record(&self, owner: &str, results: &[SendResult]) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        let mut conn = self.db.conn().await?;
        Ok(conn
            .transaction::<_, TxError, _>(async |c| record_in(c, owner, results).await)
            .await?)
    }

    async fn recover(&self, now: OffsetDateTime) -> Result<RecoverReport, StoreError> {
        let mut conn = self.db.conn().await?;
        Ok(conn
            .transaction::<_, TxError, _>(async |c| {
                let unknown: Vec<SendInfo> = diesel::sql_query(format!(
                    "UPDATE sends s SET status = 'unknown', lease_owner = NULL, \
                     lease_expires_at = NULL, updated_at = $1 \
                     WHERE s.id IN (SELECT id FROM sends WHERE status = 'sending' \
                         AND lease_expires_at < $1 ORDER BY id FOR UPDATE SKIP LOCKED) \
                     RETURNING {SEND_INFO}"
                ))
                .bind::<Timestamptz, _>(now)
                .load(c)
                .await?;
                let orphans: Vec<SendInfo> = diesel::sql_query(format!(
                    "UPDATE sends s SET status = 'cancelled', cancel_reason = 'orphaned', \
                     updated_at = $1 \
                     WHERE s.id IN (SELECT id FROM sends WHERE status IN ('queued', 'deferred') \
                         AND (inbox_id IS NULL OR variant_id IS NULL) \
                         ORDER BY id FOR UPDATE SKIP LOCKED) \
                     RETURNING {SEND_INFO}"
                ))
                .bind::<Timestamptz, _>(now)
                .load(c)
                .await?;
                let report = RecoverReport {
                    unknown: u64::try_from(unknown.len()).unwrap_or(0),
                    replanned: u64::try_from(orphans.len()).unwrap_or(0),
                };
                let mut changes: Vec<(SendInfo, Change, OffsetDateTime)> = Vec::new();
                for info in unknown {
                    // The rendered subject is lost with the process: a thread started by this
                    // send keeps the subject template, which renders to the same text.
                    let starts_thread = info.step == 1
                        || info
                            .variant_subject
                            .as_deref()
                            .is_some_and(|s| !s.trim().is_empty());
                    let subject = info.variant_subject.clone().unwrap_or_default();
                    changes.push((
                        info,
                        Change::Sent {
                            sent: false,
                            new_thread_subject: starts_thread.then_some(subject),
                        },
                        now,
                    ));
                }
                for info in orphans {
                    changes.push((info, Change::Replan, now));
                }
                let assigned_returns = return_reservations(c, &changes).await?;
                apply_changes(c, &changes, &assigned_returns).await?;
                Ok(report)
            })
            .await?)
    }
}
