//! Request and response bodies of the campaign, sequence and variant endpoints.

use reachkit_core::campaigns::{
    AttachedInbox, CampaignDetail, CampaignStats, CampaignView, DailyCount, StepStats, VariantStats,
};
use reachkit_core::sequences::{SequenceStep, VariantRecord};
use reachkit_domain::campaign::CampaignChanges;
use reachkit_domain::schedule::{Day, DayChanges, Schedule, ScheduleChanges, WindowInput};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;

// ---- requests ----

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateCampaignRequest {
    pub name: String,
}

/// `PATCH /campaigns/:id`: every field optional; `null` is the same as absent.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UpdateCampaignRequest {
    pub name: Option<String>,
    pub status: Option<String>,
    pub daily_limit: Option<i64>,
    pub stop_on_reply: Option<bool>,
    pub stop_on_company_reply: Option<bool>,
    pub text_only: Option<bool>,
    pub esp_matching: Option<bool>,
    pub unsubscribe_option: Option<bool>,
}

impl From<UpdateCampaignRequest> for CampaignChanges {
    fn from(r: UpdateCampaignRequest) -> Self {
        Self {
            name: r.name,
            status: r.status,
            daily_limit: r.daily_limit,
            stop_on_reply: r.stop_on_reply,
            stop_on_company_reply: r.stop_on_company_reply,
            text_only: r.text_only,
            esp_matching: r.esp_matching,
            unsubscribe_option: r.unsubscribe_option,
        }
    }
}

/// Absent stays `None`; `null` becomes `Some(None)`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct WindowRequest {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DayRequest {
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub start: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub end: Option<Option<String>>,
}

/// Any subset of the seven days; another key is a 422 on `days`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DaysRequest {
    pub monday: Option<DayRequest>,
    pub tuesday: Option<DayRequest>,
    pub wednesday: Option<DayRequest>,
    pub thursday: Option<DayRequest>,
    pub friday: Option<DayRequest>,
    pub saturday: Option<DayRequest>,
    pub sunday: Option<DayRequest>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ScheduleRequest {
    pub timezone: Option<String>,
    pub default_window: Option<WindowRequest>,
    pub days: Option<DaysRequest>,
}

impl From<ScheduleRequest> for ScheduleChanges {
    fn from(r: ScheduleRequest) -> Self {
        let mut days = Vec::new();
        if let Some(d) = r.days {
            let all = [
                (Day::Monday, d.monday),
                (Day::Tuesday, d.tuesday),
                (Day::Wednesday, d.wednesday),
                (Day::Thursday, d.thursday),
                (Day::Friday, d.friday),
                (Day::Saturday, d.saturday),
                (Day::Sunday, d.sunday),
            ];
            for (day, change) in all {
                if let Some(c) = change {
                    days.push((
                        day,
                        DayChanges {
                            enabled: c.enabled,
                            start: c.start,
                            end: c.end,
                        },
                    ));
                }
            }
        }
        Self {
            timezone: r.timezone,
            default_window: r.default_window.map(|w| WindowInput {
                start: w.start,
                end: w.end,
            }),
            days,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct InboxIdsRequest {
    pub inbox_ids: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct CreateStepRequest {
    pub delay_days: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UpdateStepRequest {
    pub delay_days: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct VariantRequest {
    pub subject: Option<String>,
    pub body_html: Option<String>,
    pub enabled: Option<bool>,
}

// ---- responses ----

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = CampaignInboxDto)]
pub struct InboxDto {
    pub id: String,
    pub email: String,
    pub provider: String,
    pub is_active: bool,
    pub connection_status: String,
}

impl From<AttachedInbox> for InboxDto {
    fn from(i: AttachedInbox) -> Self {
        Self {
            id: i.id.to_string(),
            email: i.email,
            provider: i.provider,
            is_active: i.is_active,
            connection_status: i.connection_status,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WindowDto {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DayDto {
    pub enabled: bool,
    pub start: Option<String>,
    pub end: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DaysDto {
    pub monday: DayDto,
    pub tuesday: DayDto,
    pub wednesday: DayDto,
    pub thursday: DayDto,
    pub friday: DayDto,
    pub saturday: DayDto,
    pub sunday: DayDto,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScheduleDto {
    pub timezone: String,
    pub default_window: WindowDto,
    pub days: DaysDto,
}

impl From<&Schedule> for ScheduleDto {
    fn from(s: &Schedule) -> Self {
        let day = |d: Day| {
            let d = s.day(d);
            DayDto {
                enabled: d.enabled,
                start: d.start.map(|t| t.to_string()),
                end: d.end.map(|t| t.to_string()),
            }
        };
        let w = s.default_window();
        Self {
            timezone: s.zone().name().to_owned(),
            default_window: WindowDto {
                start: w.start().to_string(),
                end: w.end().to_string(),
            },
            days: DaysDto {
                monday: day(Day::Monday),
                tuesday: day(Day::Tuesday),
                wednesday: day(Day::Wednesday),
                thursday: day(Day::Thursday),
                friday: day(Day::Friday),
                saturday: day(Day::Saturday),
                sunday: day(Day::Sunday),
            },
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OptionsDto {
    pub daily_limit: u32,
    pub stop_on_reply: bool,
    pub stop_on_company_reply: bool,
    pub text_only: bool,
    pub esp_matching: bool,
    pub unsubscribe_option: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DailyDto {
    pub date: String,
    pub sent: u64,
    pub replies: u64,
}

impl From<&DailyCount> for DailyDto {
    fn from(d: &DailyCount) -> Self {
        Self {
            date: format!(
                "{:04}-{:02}-{:02}",
                d.date.year(),
                u8::from(d.date.month()),
                d.date.day()
            ),
            sent: d.sent,
            replies: d.replies,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VariantStatsDto {
    pub id: String,
    pub enabled: bool,
    pub sent: u64,
    pub replies: u64,
    pub reply_rate: f64,
    pub positive_replies: u64,
    pub positive_reply_rate: f64,
}

impl From<&VariantStats> for VariantStatsDto {
    fn from(v: &VariantStats) -> Self {
        Self {
            id: v.id.to_string(),
            enabled: v.enabled,
            sent: v.sent,
            replies: v.replies,
            reply_rate: v.reply_rate,
            positive_replies: v.positive_replies,
            positive_reply_rate: v.positive_reply_rate,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StepStatsDto {
    pub id: String,
    pub step: u32,
    pub variants: Vec<VariantStatsDto>,
}

impl From<&StepStats> for StepStatsDto {
    fn from(s: &StepStats) -> Self {
        Self {
            id: s.id.to_string(),
            step: s.step,
            variants: s.variants.iter().map(VariantStatsDto::from).collect(),
        }
    }
}

/// The headline numbers, plus `daily` and `sequences` in the full projection (show, create,
/// analytics) and without them in the list projection (index, update).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatsDto {
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily: Option<Vec<DailyDto>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequences: Option<Vec<StepStatsDto>>,
}

impl StatsDto {
    fn headline(s: &CampaignStats) -> Self {
        Self {
            progress: s.progress,
            sequence_steps: s.sequence_steps,
            leads_count: s.leads_count,
            sent: s.sent,
            contacted: s.contacted,
            replies: s.replies,
            reply_rate: s.reply_rate,
            positive_replies: s.positive_replies,
            positive_reply_rate: s.positive_reply_rate,
            bounced: s.bounced,
            bounce_rate: s.bounce_rate,
            daily: None,
            sequences: None,
        }
    }

    /// The analytics body: headline, 30 days, per step and variant.
    #[must_use]
    pub fn full(d: &CampaignDetail) -> Self {
        Self {
            daily: Some(d.daily.iter().map(DailyDto::from).collect()),
            sequences: Some(d.sequences.iter().map(StepStatsDto::from).collect()),
            ..Self::headline(&d.view.stats)
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CampaignDto {
    pub id: String,
    pub name: String,
    pub status: String,
    pub progress: u8,
    pub options: OptionsDto,
    pub schedule: ScheduleDto,
    pub stats: StatsDto,
    pub inboxes: Vec<InboxDto>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<CampaignView> for CampaignDto {
    /// The list projection.
    fn from(v: CampaignView) -> Self {
        let c = &v.campaign;
        let o = c.settings.options;
        Self {
            id: c.id.to_string(),
            name: c.settings.name.as_str().to_owned(),
            status: c.settings.status.as_str().to_owned(),
            progress: v.stats.progress,
            options: OptionsDto {
                daily_limit: o.daily_limit,
                stop_on_reply: o.stop_on_reply,
                stop_on_company_reply: o.stop_on_company_reply,
                text_only: o.text_only,
                esp_matching: o.esp_matching,
                unsubscribe_option: o.unsubscribe_option,
            },
            schedule: ScheduleDto::from(&c.schedule),
            stats: StatsDto::headline(&v.stats),
            inboxes: v.inboxes.into_iter().map(InboxDto::from).collect(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

impl From<CampaignDetail> for CampaignDto {
    /// The full projection.
    fn from(d: CampaignDetail) -> Self {
        let stats = StatsDto::full(&d);
        Self {
            stats,
            ..Self::from(d.view)
        }
    }
}

/// A variant inside a step (sequence endpoints): with its letter.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StepVariantDto {
    pub id: String,
    pub letter: String,
    pub subject: Option<String>,
    pub body_html: Option<String>,
    pub body_text: Option<String>,
    pub enabled: bool,
}

impl From<VariantRecord> for StepVariantDto {
    fn from(v: VariantRecord) -> Self {
        Self {
            id: v.id.to_string(),
            letter: v.letter.to_string(),
            subject: v.subject,
            body_html: v.body_html,
            body_text: v.body_text,
            enabled: v.enabled,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StepDto {
    pub id: String,
    pub step: u32,
    pub delay_days: Option<u32>,
    pub variants: Vec<StepVariantDto>,
}

impl From<SequenceStep> for StepDto {
    fn from(s: SequenceStep) -> Self {
        Self {
            id: s.id.to_string(),
            step: s.step,
            delay_days: s.delay_days,
            variants: s.variants.into_iter().map(StepVariantDto::from).collect(),
        }
    }
}

/// A variant on its own (variant endpoints): `{id, subject, body_html, body_text, enabled}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VariantDto {
    pub id: String,
    pub subject: Option<String>,
    pub body_html: Option<String>,
    pub body_text: Option<String>,
    pub enabled: bool,
}

impl From<VariantRecord> for VariantDto {
    fn from(v: VariantRecord) -> Self {
        Self {
            id: v.id.to_string(),
            subject: v.subject,
            body_html: v.body_html,
            body_text: v.body_text,
            enabled: v.enabled,
        }
    }
}
