//! Campaigns in PostgreSQL: the campaign row (options and schedule), its counters, its inboxes.
//!
//! The schedule is stored as `timezone`, `window_start`/`window_end` (minutes after local
//! midnight, on the grid) and `schedule_days`, a JSON object with one entry per day:
//! `{"monday": {"enabled": true, "start": null, "end": 600}, ...}` (minutes or null).
//!
//! Every change of a campaign locks its row first (`FOR UPDATE`), so changes of one campaign
//! (options, schedule, inboxes, steps, variants) are serialised and launch readiness is read
//! from a state no concurrent request can change underneath.

use std::collections::HashMap;

use async_trait::async_trait;
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reachkit_core::StoreError;
use reachkit_core::blocklist::ListQuery;
use reachkit_core::campaigns::{
    AttachedInbox, Campaign, CampaignCounters, CampaignDetailRecord, CampaignRecord,
    CampaignRepository, CampaignSort, CampaignUpdateOutcome, DailyCount, InboxSetOutcome,
    NewCampaign, ScheduleUpdateOutcome,
};
use reachkit_core::ids::{CampaignId, InboxId, WorkspaceId};
use reachkit_core::paging::{Page, SortOrder};
use reachkit_domain::campaign::{
    CampaignChanges, CampaignName, CampaignOptions, CampaignSettings, CampaignStatus,
    LaunchReadiness,
};
use reachkit_domain::html::{apply_unsubscribe, to_text};
use reachkit_domain::schedule::{
    Day, DaySchedule, Schedule, ScheduleChanges, TimeOfDay, Window, Zone,
};
use reachkit_domain::sequence::DEFAULT_DELAY_DAYS;
use reachkit_domain::variant::{VariantContent, VariantLetter};
use serde_json::{Map, Value, json};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::error::{TxError, corrupt, from_diesel};
use crate::pool::Db;
use crate::schema::{
    campaign_inboxes, campaign_stats as stats, campaigns, inboxes, sequences, variants,
};
use crate::sequences::{VariantRow, assemble_steps};

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = campaigns, check_for_backend(diesel::pg::Pg))]
struct CampaignRow {
    id: Uuid,
    workspace_id: Uuid,
    name: String,
    status: String,
    daily_limit: i32,
    stop_on_reply: bool,
    stop_on_company_reply: bool,
    text_only: bool,
    esp_matching: bool,
    unsubscribe_option: bool,
    timezone: String,
    window_start: i16,
    window_end: i16,
    schedule_days: Value,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

#[derive(Debug, Queryable, Selectable, serde::Deserialize)]
#[diesel(table_name = stats, check_for_backend(diesel::pg::Pg))]
struct StatsRow {
    campaign_id: Uuid,
    leads_count: i64,
    finished_leads: i64,
    sent: i64,
    contacted: i64,
    replies: i64,
    positive_replies: i64,
    bounced: i64,
}

impl From<StatsRow> for CampaignCounters {
    fn from(s: StatsRow) -> Self {
        Self {
            leads_count: count(s.leads_count),
            finished_leads: count(s.finished_leads),
            sent: count(s.sent),
            contacted: count(s.contacted),
            replies: count(s.replies),
            positive_replies: count(s.positive_replies),
            bounced: count(s.bounced),
        }
    }
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

const DETAIL_SQL: &str = "
SELECT c.*,
  to_jsonb(s) AS stats,
  COALESCE((SELECT jsonb_agg(jsonb_build_array(ci.campaign_id, i.id, i.email, i.provider,
                                               i.is_active, i.connection_status)
                             ORDER BY ci.created_at, i.id)
              FROM campaign_inboxes ci JOIN inboxes i ON i.id = ci.inbox_id
             WHERE ci.campaign_id = c.id AND ci.workspace_id = c.workspace_id), '[]') AS inboxes,
  COALESCE((SELECT jsonb_agg(jsonb_build_array(d.day::text, d.sent, d.replies) ORDER BY d.day)
              FROM campaign_daily_stats d
             WHERE d.campaign_id = c.id AND d.day BETWEEN $3 AND $4), '[]') AS daily,
  COALESCE((SELECT jsonb_agg(jsonb_build_array(q.id, q.step, q.delay_days) ORDER BY q.step)
              FROM sequences q
             WHERE q.campaign_id = c.id AND q.workspace_id = c.workspace_id), '[]') AS steps,
  COALESCE((SELECT jsonb_agg(to_jsonb(v) ORDER BY v.ordinal, v.id)
              FROM variants v
             WHERE v.campaign_id = c.id AND v.workspace_id = c.workspace_id), '[]') AS variants
FROM campaigns c
LEFT JOIN campaign_stats s ON s.campaign_id = c.id
WHERE c.workspace_id = $1 AND c.id = $2";

/// The row of [`DETAIL_SQL`]: the campaign's columns and its parts as JSON.
#[derive(QueryableByName)]
struct DetailRow {
    #[diesel(embed)]
    campaign: CampaignRow,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Jsonb>)]
    stats: Option<Value>,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    inboxes: Value,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    daily: Value,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    steps: Value,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    variants: Value,
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, v: Value) -> Result<T, StoreError> {
    serde_json::from_value(v).map_err(|e| corrupt(format!("campaign {what}: {e}")))
}

impl DetailRow {
    fn into_record(self) -> Result<CampaignDetailRecord, StoreError> {
        let counters = match self.stats {
            None | Some(Value::Null) => CampaignCounters::default(),
            Some(v) => CampaignCounters::from(from_json::<StatsRow>("counters", v)?),
        };
        let inboxes: Vec<InboxRow> = from_json("inboxes", self.inboxes)?;
        let daily: Vec<(String, i64, i64)> = from_json("daily rows", self.daily)?;
        let steps: Vec<(Uuid, i32, i32)> = from_json("steps", self.steps)?;
        let variants: Vec<VariantRow> = from_json("variants", self.variants)?;
        let steps = assemble_steps(steps, variants)?;
        let day_format = time::macros::format_description!("[year]-[month]-[day]");
        let daily = daily
            .into_iter()
            .map(|(day, sent, replies)| {
                Ok(DailyCount {
                    date: Date::parse(&day, &day_format)
                        .map_err(|e| corrupt(format!("daily row date {day:?}: {e}")))?,
                    sent: count(sent),
                    replies: count(replies),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(CampaignDetailRecord {
            record: CampaignRecord {
                campaign: self.campaign.campaign()?,
                counters,
                sequence_steps: u32::try_from(steps.len()).unwrap_or(u32::MAX),
                inboxes: inboxes.into_iter().map(attached).collect(),
            },
            daily,
            steps,
        })
    }
}

fn minutes(t: TimeOfDay) -> i16 {
    i16::try_from(t.minutes()).unwrap_or(0)
}

fn time_of_day(m: i64) -> Result<TimeOfDay, StoreError> {
    u16::try_from(m)
        .ok()
        .and_then(TimeOfDay::from_minutes)
        .ok_or_else(|| corrupt(format!("schedule time {m}")))
}

/// The `schedule_days` JSON of a schedule.
pub(crate) fn days_json(s: &Schedule) -> Value {
    let mut days = Map::new();
    for day in Day::ALL {
        let d = s.day(day);
        days.insert(
            day.as_str().to_owned(),
            json!({
                "enabled": d.enabled,
                "start": d.start.map(minutes),
                "end": d.end.map(minutes),
            }),
        );
    }
    Value::Object(days)
}

fn day_from_json(value: &Value, day: Day) -> Result<DaySchedule, StoreError> {
    let entry = value
        .get(day.as_str())
        .ok_or_else(|| corrupt(format!("schedule_days without {}", day.as_str())))?;
    let enabled = entry
        .get("enabled")
        .and_then(Value::as_bool)
        .ok_or_else(|| corrupt("schedule_days entry without enabled"))?;
    let time = |key: &str| match entry.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| corrupt(format!("schedule_days {key}")))
            .and_then(time_of_day)
            .map(Some),
    };
    Ok(DaySchedule {
        enabled,
        start: time("start")?,
        end: time("end")?,
    })
}

/// A campaign's schedule from its stored columns.
pub(crate) fn stored_schedule(
    timezone: &str,
    window_start: i16,
    window_end: i16,
    schedule_days: &Value,
) -> Result<Schedule, StoreError> {
    let zone = Zone::parse(timezone).map_err(corrupt)?;
    let window = Window::new(
        time_of_day(i64::from(window_start))?,
        time_of_day(i64::from(window_end))?,
    )
    .map_err(corrupt)?;
    let mut days = [DaySchedule::plain(false); 7];
    for (slot, day) in days.iter_mut().zip(Day::ALL) {
        *slot = day_from_json(schedule_days, day)?;
    }
    Schedule::new(zone, window, days).map_err(corrupt)
}

impl CampaignRow {
    fn new(c: &Campaign) -> Self {
        let s = &c.settings;
        let o = s.options;
        let w = c.schedule.default_window();
        Self {
            id: c.id.as_uuid(),
            workspace_id: c.workspace_id.as_uuid(),
            name: s.name.as_str().to_owned(),
            status: s.status.as_str().to_owned(),
            daily_limit: i32::try_from(o.daily_limit).unwrap_or(i32::MAX),
            stop_on_reply: o.stop_on_reply,
            stop_on_company_reply: o.stop_on_company_reply,
            text_only: o.text_only,
            esp_matching: o.esp_matching,
            unsubscribe_option: o.unsubscribe_option,
            timezone: c.schedule.zone().name().to_owned(),
            window_start: minutes(w.start()),
            window_end: minutes(w.end()),
            schedule_days: days_json(&c.schedule),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }

    fn settings(&self) -> Result<CampaignSettings, StoreError> {
        Ok(CampaignSettings {
            name: CampaignName::parse(&self.name).map_err(|e| corrupt(format!("name: {e}")))?,
            status: CampaignStatus::parse(&self.status).map_err(corrupt)?,
            options: CampaignOptions {
                daily_limit: u32::try_from(self.daily_limit)
                    .map_err(|_| corrupt("negative daily_limit"))?,
                stop_on_reply: self.stop_on_reply,
                stop_on_company_reply: self.stop_on_company_reply,
                text_only: self.text_only,
                esp_matching: self.esp_matching,
                unsubscribe_option: self.unsubscribe_option,
            },
        })
    }

    fn schedule(&self) -> Result<Schedule, StoreError> {
        stored_schedule(
            &self.timezone,
            self.window_start,
            self.window_end,
            &self.schedule_days,
        )
    }

    fn campaign(&self) -> Result<Campaign, StoreError> {
        Ok(Campaign {
            id: CampaignId::from_uuid(self.id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            settings: self.settings()?,
            schedule: self.schedule()?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

type InboxRow = (Uuid, Uuid, String, String, bool, String);

fn attached(row: InboxRow) -> AttachedInbox {
    let (_, id, email, provider, is_active, connection_status) = row;
    AttachedInbox {
        id: InboxId::from_uuid(id),
        email,
        provider,
        is_active,
        connection_status,
    }
}

/// The attached inboxes of some campaigns, in attach order.
async fn attached_inboxes<C>(c: &mut C, ws: Uuid, ids: &[Uuid]) -> Result<Vec<InboxRow>, TxError>
where
    C: diesel_async::AsyncConnectionCore<Backend = diesel::pg::Pg> + Send,
{
    Ok(campaign_inboxes::table
        .inner_join(inboxes::table)
        .filter(campaign_inboxes::workspace_id.eq(ws))
        .filter(campaign_inboxes::campaign_id.eq_any(ids))
        .order((campaign_inboxes::created_at.asc(), inboxes::id.asc()))
        .select((
            campaign_inboxes::campaign_id,
            inboxes::id,
            inboxes::email,
            inboxes::provider,
            inboxes::is_active,
            inboxes::connection_status,
        ))
        .load(c)
        .await?)
}

/// Counters, step counts and inboxes of campaign rows: a constant number of queries per page.
async fn records(
    c: &mut AsyncPgConnection,
    ws: Uuid,
    rows: Vec<CampaignRow>,
) -> Result<Vec<CampaignRecord>, TxError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let counters: HashMap<Uuid, CampaignCounters> = stats::table
        .filter(stats::workspace_id.eq(ws))
        .filter(stats::campaign_id.eq_any(&ids))
        .select(StatsRow::as_select())
        .load(c)
        .await?
        .into_iter()
        .map(|s| (s.campaign_id, CampaignCounters::from(s)))
        .collect();
    let steps: HashMap<Uuid, i64> = sequences::table
        .filter(sequences::workspace_id.eq(ws))
        .filter(sequences::campaign_id.eq_any(&ids))
        .group_by(sequences::campaign_id)
        .select((sequences::campaign_id, count_star()))
        .load::<(Uuid, i64)>(c)
        .await?
        .into_iter()
        .collect();
    let mut inboxes: HashMap<Uuid, Vec<AttachedInbox>> = HashMap::new();
    for row in attached_inboxes(c, ws, &ids).await? {
        inboxes.entry(row.0).or_default().push(attached(row));
    }
    rows.into_iter()
        .map(|row| {
            Ok(CampaignRecord {
                campaign: row.campaign()?,
                counters: counters.get(&row.id).copied().unwrap_or_default(),
                sequence_steps: steps
                    .get(&row.id)
                    .and_then(|n| u32::try_from(*n).ok())
                    .unwrap_or(0),
                inboxes: inboxes.remove(&row.id).unwrap_or_default(),
            })
        })
        .collect()
}

async fn locked_row(
    c: &mut AsyncPgConnection,
    ws: Uuid,
    id: Uuid,
) -> Result<Option<CampaignRow>, TxError> {
    Ok(campaigns::table
        .filter(campaigns::workspace_id.eq(ws))
        .filter(campaigns::id.eq(id))
        .select(CampaignRow::as_select())
        .for_update()
        .first(c)
        .await
        .optional()?)
}

/// Launch readiness from the store: attached inboxes, sendable enabled variants of step 1.
async fn readiness(c: &mut AsyncPgConnection, id: Uuid) -> Result<LaunchReadiness, TxError> {
    let inbox_count: i64 = campaign_inboxes::table
        .filter(campaign_inboxes::campaign_id.eq(id))
        .count()
        .get_result(c)
        .await?;
    let step_one: Vec<(bool, Option<String>, Option<String>)> = variants::table
        .inner_join(sequences::table)
        .filter(sequences::campaign_id.eq(id))
        .filter(sequences::step.eq(1))
        .select((variants::enabled, variants::subject, variants::body_html))
        .load(c)
        .await?;
    let sendable = step_one
        .iter()
        .filter(|(enabled, subject, body)| {
            VariantContent {
                enabled: *enabled,
                subject: subject.as_deref(),
                body_html: body.as_deref(),
            }
            .is_sendable()
        })
        .count();
    Ok(LaunchReadiness {
        inbox_count: usize::try_from(inbox_count).unwrap_or(0),
        sendable_step_one_variants: sendable,
    })
}

/// A body with the unsubscribe block applied or removed, and its text version. A body left
/// empty by the removal is stored as null, like a new variant's.
pub(crate) fn unsubscribe_body(
    body_html: Option<&str>,
    on: bool,
) -> (Option<String>, Option<String>) {
    let html = apply_unsubscribe(body_html, on).filter(|h| !h.is_empty());
    let text = html.as_deref().map(to_text);
    (html, text)
}

/// Rewrites every variant body of the campaign for the new unsubscribe option.
async fn rewrite_bodies(
    c: &mut AsyncPgConnection,
    campaign: Uuid,
    on: bool,
    now: OffsetDateTime,
) -> Result<(), TxError> {
    let bodies: Vec<(Uuid, Option<String>)> = variants::table
        .filter(variants::campaign_id.eq(campaign))
        .select((variants::id, variants::body_html))
        .load(c)
        .await?;
    for (id, body) in bodies {
        let (html, text) = unsubscribe_body(body.as_deref(), on);
        if html == body {
            continue;
        }
        diesel::update(variants::table.filter(variants::id.eq(id)))
            .set((
                variants::body_html.eq(html),
                variants::body_text.eq(text),
                variants::updated_at.eq(now),
            ))
            .execute(c)
            .await?;
    }
    Ok(())
}

/// Escapes LIKE's wildcards so a search term matches literally.
fn like_pattern(term: &str) -> String {
    let mut escaped = String::with_capacity(term.len() + 2);
    escaped.push('%');
    for ch in term.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(ch);
    }
    escaped.push('%');
    escaped
}

/// [`CampaignRepository`] over PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgCampaignRepository {
    db: Db,
}

impl PgCampaignRepository {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    async fn set_inboxes(
        &self,
        workspace_id: WorkspaceId,
        id: CampaignId,
        inbox_ids: &[InboxId],
        now: OffsetDateTime,
        attach: bool,
    ) -> Result<InboxSetOutcome, StoreError> {
        let (ws, id) = (workspace_id.as_uuid(), id.as_uuid());
        let ids: Vec<Uuid> = inbox_ids.iter().map(InboxId::as_uuid).collect();
        let mut conn = self.db.conn().await?;
        let outcome = conn
            .transaction(async |c| -> Result<InboxSetOutcome, TxError> {
                if locked_row(c, ws, id).await?.is_none() {
                    return Ok(InboxSetOutcome::CampaignNotFound);
                }
                let known: i64 = inboxes::table
                    .filter(inboxes::workspace_id.eq(ws))
                    .filter(inboxes::id.eq_any(&ids))
                    .count()
                    .get_result(c)
                    .await?;
                if usize::try_from(known).ok() != Some(ids.len()) {
                    return Ok(InboxSetOutcome::InboxNotFound);
                }
                let changed = if attach {
                    let rows: Vec<_> = ids
                        .iter()
                        .map(|inbox| {
                            (
                                campaign_inboxes::campaign_id.eq(id),
                                campaign_inboxes::inbox_id.eq(*inbox),
                                campaign_inboxes::workspace_id.eq(ws),
                                campaign_inboxes::created_at.eq(now),
                            )
                        })
                        .collect();
                    diesel::insert_into(campaign_inboxes::table)
                        .values(rows)
                        .on_conflict_do_nothing()
                        .execute(c)
                        .await?
                } else {
                    diesel::delete(
                        campaign_inboxes::table
                            .filter(campaign_inboxes::campaign_id.eq(id))
                            .filter(campaign_inboxes::inbox_id.eq_any(&ids)),
                    )
                    .execute(c)
                    .await?
                };
                if changed > 0 {
                    diesel::update(campaigns::table.filter(campaigns::id.eq(id)))
                        .set(campaigns::updated_at.eq(now))
                        .execute(c)
                        .await?;
                }
                let list = attached_inboxes(c, ws, &[id]).await?;
                Ok(InboxSetOutcome::Done(
                    list.into_iter().map(attached).collect(),
                ))
            })
            .await?;
        Ok(outcome)
    }
}

#[async_trait]
impl CampaignRepository for PgCampaignRepository {
    async fn create(&self, new: &NewCampaign) -> Result<(), StoreError> {
        let row = CampaignRow::new(&new.campaign);
        let (ws, id, now) = (row.workspace_id, row.id, row.created_at);
        let on = new.campaign.settings.options.unsubscribe_option;
        let (body_html, body_text) = unsubscribe_body(None, on);
        let mut conn = self.db.conn().await?;
        conn.transaction(async |c| -> Result<(), TxError> {
            diesel::insert_into(campaigns::table)
                .values(&row)
                .execute(c)
                .await?;
            diesel::insert_into(stats::table)
                .values((stats::campaign_id.eq(id), stats::workspace_id.eq(ws)))
                .execute(c)
                .await?;
            let step = new.first_step.as_uuid();
            diesel::insert_into(sequences::table)
                .values((
                    sequences::id.eq(step),
                    sequences::workspace_id.eq(ws),
                    sequences::campaign_id.eq(id),
                    sequences::step.eq(1),
                    sequences::delay_days.eq(i32::try_from(DEFAULT_DELAY_DAYS).unwrap_or(3)),
                    sequences::created_at.eq(now),
                    sequences::updated_at.eq(now),
                ))
                .execute(c)
                .await?;
            diesel::insert_into(variants::table)
                .values((
                    variants::id.eq(new.first_variant.as_uuid()),
                    variants::workspace_id.eq(ws),
                    variants::campaign_id.eq(id),
                    variants::sequence_id.eq(step),
                    variants::letter.eq(VariantLetter::A.to_string()),
                    variants::ordinal.eq(0),
                    variants::subject.eq(None::<String>),
                    variants::body_html.eq(&body_html),
                    variants::body_text.eq(&body_text),
                    variants::enabled.eq(true),
                    variants::created_at.eq(now),
                    variants::updated_at.eq(now),
                ))
                .execute(c)
                .await?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn get(
        &self,
        workspace_id: WorkspaceId,
        id: CampaignId,
    ) -> Result<Option<CampaignRecord>, StoreError> {
        let ws = workspace_id.as_uuid();
        let mut conn = self.db.conn().await?;
        let row = campaigns::table
            .filter(campaigns::workspace_id.eq(ws))
            .filter(campaigns::id.eq(id.as_uuid()))
            .select(CampaignRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(records(&mut conn, ws, vec![row]).await?.pop())
    }

    async fn list(
        &self,
        workspace_id: WorkspaceId,
        query: &ListQuery<CampaignSort>,
    ) -> Result<Page<CampaignRecord>, StoreError> {
        let ws = workspace_id.as_uuid();
        let filtered = || {
            let mut q = campaigns::table
                .filter(campaigns::workspace_id.eq(ws))
                .into_boxed();
            if let Some(term) = &query.search {
                q = q.filter(campaigns::name.ilike(like_pattern(term)));
            }
            q
        };
        let mut conn = self.db.conn().await?;
        let total: i64 = filtered()
            .count()
            .get_result(&mut conn)
            .await
            .map_err(from_diesel)?;
        let q = filtered();
        let q = match (query.sort, query.order) {
            (CampaignSort::CreatedAt, SortOrder::Asc) => {
                q.order((campaigns::created_at.asc(), campaigns::id.asc()))
            }
            (CampaignSort::CreatedAt, SortOrder::Desc) => {
                q.order((campaigns::created_at.desc(), campaigns::id.desc()))
            }
            (CampaignSort::UpdatedAt, SortOrder::Asc) => {
                q.order((campaigns::updated_at.asc(), campaigns::id.asc()))
            }
            (CampaignSort::UpdatedAt, SortOrder::Desc) => {
                q.order((campaigns::updated_at.desc(), campaigns::id.desc()))
            }
            (CampaignSort::Name, SortOrder::Asc) => {
                q.order((campaigns::name.asc(), campaigns::id.asc()))
            }
            (CampaignSort::Name, SortOrder::Desc) => {
                q.order((campaigns::name.desc(), campaigns::id.desc()))
            }
            (CampaignSort::Status, SortOrder::Asc) => {
                q.order((campaigns::status.asc(), campaigns::id.asc()))
            }
            (CampaignSort::Status, SortOrder::Desc) => {
                q.order((campaigns::status.desc(), campaigns::id.desc()))
            }
        };
        let rows = q
            .offset(query.page.offset())
            .limit(query.page.limit())
            .select(CampaignRow::as_select())
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(Page {
            items: records(&mut conn, ws, rows).await?,
            request: query.page,
            total_count: count(total),
        })
    }

    async fn detail(
        &self,
        workspace_id: WorkspaceId,
        id: CampaignId,
        from: Date,
        to: Date,
    ) -> Result<Option<CampaignDetailRecord>, StoreError> {
        let mut conn = self.db.conn().await?;
        // One statement: the campaign, its counters, attached inboxes, daily rows and steps with
        // variants, aggregated as JSON by PostgreSQL. Every part is read by key (counters and
        // daily rows replace scans), so the cost does not grow with what the campaign has sent.
        let row: Option<DetailRow> = diesel::sql_query(DETAIL_SQL)
            .bind::<diesel::sql_types::Uuid, _>(workspace_id.as_uuid())
            .bind::<diesel::sql_types::Uuid, _>(id.as_uuid())
            .bind::<diesel::sql_types::Date, _>(from)
            .bind::<diesel::sql_types::Date, _>(to)
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?;
        row.map(DetailRow::into_record).transpose()
    }

    async fn update(
        &self,
        workspace_id: WorkspaceId,
        id: CampaignId,
        changes: &CampaignChanges,
        now: OffsetDateTime,
    ) -> Result<CampaignUpdateOutcome, StoreError> {
        let (ws, id) = (workspace_id.as_uuid(), id.as_uuid());
        let mut conn = self.db.conn().await?;
        let outcome = conn
            .transaction(async |c| -> Result<CampaignUpdateOutcome, TxError> {
                let Some(row) = locked_row(c, ws, id).await? else {
                    return Ok(CampaignUpdateOutcome::NotFound);
                };
                let current = row.settings()?;
                let ready = readiness(c, id).await?;
                let update = match changes.apply(&current, &ready) {
                    Ok(u) => u,
                    Err(e) => return Ok(CampaignUpdateOutcome::Invalid(e)),
                };
                let s = &update.settings;
                let o = s.options;
                let updated = diesel::update(campaigns::table.filter(campaigns::id.eq(id)))
                    .set((
                        campaigns::name.eq(s.name.as_str()),
                        campaigns::status.eq(s.status.as_str()),
                        campaigns::daily_limit.eq(i32::try_from(o.daily_limit).unwrap_or(i32::MAX)),
                        campaigns::stop_on_reply.eq(o.stop_on_reply),
                        campaigns::stop_on_company_reply.eq(o.stop_on_company_reply),
                        campaigns::text_only.eq(o.text_only),
                        campaigns::esp_matching.eq(o.esp_matching),
                        campaigns::unsubscribe_option.eq(o.unsubscribe_option),
                        campaigns::updated_at.eq(now),
                    ))
                    .returning(CampaignRow::as_returning())
                    .get_result(c)
                    .await?;
                if let Some(on) = update.unsubscribe_toggled {
                    rewrite_bodies(c, id, on, now).await?;
                }
                let record = records(c, ws, vec![updated])
                    .await?
                    .pop()
                    .ok_or_else(|| corrupt("updated campaign vanished"))?;
                Ok(CampaignUpdateOutcome::Updated(Box::new(record)))
            })
            .await?;
        Ok(outcome)
    }

    async fn update_schedule(
        &self,
        workspace_id: WorkspaceId,
        id: CampaignId,
        changes: &ScheduleChanges,
        now: OffsetDateTime,
    ) -> Result<ScheduleUpdateOutcome, StoreError> {
        let (ws, id) = (workspace_id.as_uuid(), id.as_uuid());
        let mut conn = self.db.conn().await?;
        let outcome = conn
            .transaction(async |c| -> Result<ScheduleUpdateOutcome, TxError> {
                let Some(row) = locked_row(c, ws, id).await? else {
                    return Ok(ScheduleUpdateOutcome::NotFound);
                };
                let schedule = match changes.apply(&row.schedule()?) {
                    Ok(s) => s,
                    Err(e) => return Ok(ScheduleUpdateOutcome::Invalid(e)),
                };
                let w = schedule.default_window();
                diesel::update(campaigns::table.filter(campaigns::id.eq(id)))
                    .set((
                        campaigns::timezone.eq(schedule.zone().name()),
                        campaigns::window_start.eq(minutes(w.start())),
                        campaigns::window_end.eq(minutes(w.end())),
                        campaigns::schedule_days.eq(days_json(&schedule)),
                        campaigns::updated_at.eq(now),
                    ))
                    .execute(c)
                    .await?;
                Ok(ScheduleUpdateOutcome::Updated(schedule))
            })
            .await?;
        Ok(outcome)
    }

    async fn delete(&self, workspace_id: WorkspaceId, id: CampaignId) -> Result<bool, StoreError> {
        let mut conn = self.db.conn().await?;
        let deleted = diesel::delete(
            campaigns::table
                .filter(campaigns::workspace_id.eq(workspace_id.as_uuid()))
                .filter(campaigns::id.eq(id.as_uuid())),
        )
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(deleted > 0)
    }

    async fn attach_inboxes(
        &self,
        workspace_id: WorkspaceId,
        id: CampaignId,
        inbox_ids: &[InboxId],
        now: OffsetDateTime,
    ) -> Result<InboxSetOutcome, StoreError> {
        self.set_inboxes(workspace_id, id, inbox_ids, now, true)
            .await
    }

    async fn detach_inboxes(
        &self,
        workspace_id: WorkspaceId,
        id: CampaignId,
        inbox_ids: &[InboxId],
        now: OffsetDateTime,
    ) -> Result<InboxSetOutcome, StoreError> {
        self.set_inboxes(workspace_id, id, inbox_ids, now, false)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_round_trips_through_its_columns() {
        let c = Campaign {
            id: CampaignId::new(),
            workspace_id: WorkspaceId::new(),
            settings: CampaignSettings::new(CampaignName::parse("x").expect("name")),
            schedule: Schedule::default(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        };
        let row = CampaignRow::new(&c);
        assert_eq!((row.window_start, row.window_end), (540, 1020));
        assert_eq!(
            row.schedule_days["saturday"],
            json!({"enabled": false, "start": null, "end": null})
        );
        assert_eq!(row.campaign().expect("parses"), c);
    }

    #[test]
    fn removing_the_unsubscribe_block_from_a_block_only_body_leaves_null() {
        let (html, text) = unsubscribe_body(None, true);
        assert!(html.is_some() && text.is_some());
        assert_eq!(unsubscribe_body(html.as_deref(), false), (None, None));
    }
}
