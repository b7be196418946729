//! Sequence steps and variants in PostgreSQL.
//!
//! Every change locks the campaign row first (`FOR UPDATE`): changes of one campaign are
//! serialised, the last-enabled-variant rule is checked on a state nobody changes underneath,
//! and a body gets the unsubscribe block of the option as it is when the body is written.

use std::collections::HashMap;

use async_trait::async_trait;
use diesel::dsl::max;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reachkit_core::StoreError;
use reachkit_core::ids::{CampaignId, SequenceId, VariantId, WorkspaceId};
use reachkit_core::sequences::{
    NewStep, NewVariant, SequenceRepository, StepRecord, VariantOutcome, VariantPatch,
    VariantRecord,
};
use reachkit_domain::html::prepare_body;
use reachkit_domain::variant::{
    VariantError, VariantLetter, VariantState, check_delete, check_set_enabled,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::campaigns::unsubscribe_body;
use crate::error::{TxError, corrupt, from_diesel};
use crate::pool::Db;
use crate::schema::{campaigns, sequences, variants};

#[derive(Debug, Queryable, Selectable, serde::Deserialize)]
#[diesel(table_name = variants, check_for_backend(diesel::pg::Pg))]
pub(crate) struct VariantRow {
    id: Uuid,
    sequence_id: Uuid,
    letter: String,
    subject: Option<String>,
    body_html: Option<String>,
    body_text: Option<String>,
    enabled: bool,
    sent: i64,
    replies: i64,
    positive_replies: i64,
}

impl TryFrom<VariantRow> for VariantRecord {
    type Error = StoreError;

    fn try_from(r: VariantRow) -> Result<Self, StoreError> {
        let letter = VariantLetter::parse(&r.letter)
            .ok_or_else(|| corrupt(format!("variant letter {:?}", r.letter)))?;
        Ok(Self {
            id: VariantId::from_uuid(r.id),
            sequence_id: SequenceId::from_uuid(r.sequence_id),
            letter,
            subject: r.subject,
            body_html: r.body_html,
            body_text: r.body_text,
            enabled: r.enabled,
            sent: u64::try_from(r.sent).unwrap_or(0),
            replies: u64::try_from(r.replies).unwrap_or(0),
            positive_replies: u64::try_from(r.positive_replies).unwrap_or(0),
        })
    }
}

#[derive(AsChangeset)]
#[diesel(table_name = variants)]
struct VariantChanges {
    subject: Option<String>,
    body_html: Option<String>,
    body_text: Option<String>,
    enabled: Option<bool>,
    updated_at: OffsetDateTime,
}

/// Locks the campaign row; its unsubscribe option, `None` when it is not the workspace's.
async fn lock_campaign(
    c: &mut AsyncPgConnection,
    ws: Uuid,
    id: Uuid,
) -> Result<Option<bool>, TxError> {
    Ok(campaigns::table
        .filter(campaigns::workspace_id.eq(ws))
        .filter(campaigns::id.eq(id))
        .select(campaigns::unsubscribe_option)
        .for_update()
        .first(c)
        .await
        .optional()?)
}

pub(crate) async fn load_steps<C>(
    c: &mut C,
    ws: Uuid,
    campaign: Uuid,
) -> Result<Vec<StepRecord>, TxError>
where
    C: diesel_async::AsyncConnectionCore<Backend = diesel::pg::Pg> + Send,
{
    let steps: Vec<(Uuid, i32, i32)> = sequences::table
        .filter(sequences::workspace_id.eq(ws))
        .filter(sequences::campaign_id.eq(campaign))
        .order(sequences::step.asc())
        .select((sequences::id, sequences::step, sequences::delay_days))
        .load(c)
        .await?;
    let rows: Vec<VariantRow> = variants::table
        .filter(variants::workspace_id.eq(ws))
        .filter(variants::campaign_id.eq(campaign))
        .order((variants::ordinal.asc(), variants::id.asc()))
        .select(VariantRow::as_select())
        .load(c)
        .await?;
    assemble_steps(steps, rows)
}

/// Steps (id, number, delay) and their variants' rows as the API's step records.
pub(crate) fn assemble_steps(
    steps: Vec<(Uuid, i32, i32)>,
    rows: Vec<VariantRow>,
) -> Result<Vec<StepRecord>, TxError> {
    let mut by_step: HashMap<Uuid, Vec<VariantRecord>> = HashMap::new();
    for row in rows {
        by_step
            .entry(row.sequence_id)
            .or_default()
            .push(row.try_into()?);
    }
    steps
        .into_iter()
        .map(|(id, step, delay)| {
            Ok(StepRecord {
                id: SequenceId::from_uuid(id),
                step: u32::try_from(step).map_err(|_| corrupt("step below 1"))?,
                delay_days: u32::try_from(delay).map_err(|_| corrupt("negative delay"))?,
                variants: by_step.remove(&id).unwrap_or_default(),
            })
        })
        .collect()
}

/// The enabled states of a step's variants.
async fn step_states(
    c: &mut AsyncPgConnection,
    step: Uuid,
) -> Result<Vec<VariantState<Uuid>>, TxError> {
    let rows: Vec<(Uuid, bool)> = variants::table
        .filter(variants::sequence_id.eq(step))
        .select((variants::id, variants::enabled))
        .load(c)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, enabled)| VariantState { id, enabled })
        .collect())
}

/// The variant's step, if the variant is the campaign's.
async fn variant_step(
    c: &mut AsyncPgConnection,
    ws: Uuid,
    campaign: Uuid,
    variant: Uuid,
) -> Result<Option<Uuid>, TxError> {
    Ok(variants::table
        .filter(variants::workspace_id.eq(ws))
        .filter(variants::campaign_id.eq(campaign))
        .filter(variants::id.eq(variant))
        .select(variants::sequence_id)
        .first(c)
        .await
        .optional()?)
}

fn prepared(raw: &str, on: bool) -> Result<(String, String), StoreError> {
    let body = prepare_body(raw, on)
        .map_err(|e| StoreError::Other(anyhow::anyhow!("unchecked body reached the store: {e}")))?;
    Ok((body.html, body.text))
}

/// [`SequenceRepository`] over PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgSequenceRepository {
    db: Db,
}

impl PgSequenceRepository {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl SequenceRepository for PgSequenceRepository {
    async fn steps(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
    ) -> Result<Option<Vec<StepRecord>>, StoreError> {
        let (ws, campaign) = (workspace_id.as_uuid(), campaign_id.as_uuid());
        let mut conn = self.db.conn().await?;
        let exists: bool = diesel::select(diesel::dsl::exists(
            campaigns::table
                .filter(campaigns::workspace_id.eq(ws))
                .filter(campaigns::id.eq(campaign)),
        ))
        .get_result(&mut conn)
        .await
        .map_err(from_diesel)?;
        if !exists {
            return Ok(None);
        }
        Ok(Some(load_steps(&mut conn, ws, campaign).await?))
    }

    async fn add_step(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        step: &NewStep,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<StepRecord>>, StoreError> {
        let (ws, campaign) = (workspace_id.as_uuid(), campaign_id.as_uuid());
        let mut conn = self.db.conn().await?;
        let steps = conn
            .transaction(async |c| -> Result<Option<Vec<StepRecord>>, TxError> {
                let Some(on) = lock_campaign(c, ws, campaign).await? else {
                    return Ok(None);
                };
                let last: Option<i32> = sequences::table
                    .filter(sequences::campaign_id.eq(campaign))
                    .select(max(sequences::step))
                    .get_result(c)
                    .await?;
                let id = step.id.as_uuid();
                diesel::insert_into(sequences::table)
                    .values((
                        sequences::id.eq(id),
                        sequences::workspace_id.eq(ws),
                        sequences::campaign_id.eq(campaign),
                        sequences::step.eq(last.unwrap_or(0) + 1),
                        sequences::delay_days.eq(i32::try_from(step.delay_days).unwrap_or(0)),
                        sequences::created_at.eq(now),
                        sequences::updated_at.eq(now),
                    ))
                    .execute(c)
                    .await?;
                let (body_html, body_text) = unsubscribe_body(None, on);
                diesel::insert_into(variants::table)
                    .values((
                        variants::id.eq(step.variant_id.as_uuid()),
                        variants::workspace_id.eq(ws),
                        variants::campaign_id.eq(campaign),
                        variants::sequence_id.eq(id),
                        variants::letter.eq(VariantLetter::A.to_string()),
                        variants::ordinal.eq(0),
                        variants::subject.eq(None::<String>),
                        variants::body_html.eq(body_html),
                        variants::body_text.eq(body_text),
                        variants::enabled.eq(true),
                        variants::created_at.eq(now),
                        variants::updated_at.eq(now),
                    ))
                    .execute(c)
                    .await?;
                Ok(Some(load_steps(c, ws, campaign).await?))
            })
            .await?;
        Ok(steps)
    }

    async fn set_delay(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        step_id: SequenceId,
        delay_days: u32,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<StepRecord>>, StoreError> {
        let (ws, campaign) = (workspace_id.as_uuid(), campaign_id.as_uuid());
        let mut conn = self.db.conn().await?;
        let steps = conn
            .transaction(async |c| -> Result<Option<Vec<StepRecord>>, TxError> {
                if lock_campaign(c, ws, campaign).await?.is_none() {
                    return Ok(None);
                }
                let updated = diesel::update(
                    sequences::table
                        .filter(sequences::workspace_id.eq(ws))
                        .filter(sequences::campaign_id.eq(campaign))
                        .filter(sequences::id.eq(step_id.as_uuid())),
                )
                .set((
                    sequences::delay_days.eq(i32::try_from(delay_days).unwrap_or(0)),
                    sequences::updated_at.eq(now),
                ))
                .execute(c)
                .await?;
                if updated == 0 {
                    return Ok(None);
                }
                Ok(Some(load_steps(c, ws, campaign).await?))
            })
            .await?;
        Ok(steps)
    }

    async fn delete_step(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        step_id: SequenceId,
    ) -> Result<bool, StoreError> {
        let (ws, campaign) = (workspace_id.as_uuid(), campaign_id.as_uuid());
        let mut conn = self.db.conn().await?;
        let deleted = conn
            .transaction(async |c| -> Result<bool, TxError> {
                if lock_campaign(c, ws, campaign).await?.is_none() {
                    return Ok(false);
                }
                let removed: Option<i32> = diesel::delete(
                    sequences::table
                        .filter(sequences::workspace_id.eq(ws))
                        .filter(sequences::campaign_id.eq(campaign))
                        .filter(sequences::id.eq(step_id.as_uuid())),
                )
                .returning(sequences::step)
                .get_result(c)
                .await
                .optional()?;
                let Some(removed) = removed else {
                    return Ok(false);
                };
                // One statement shifts every later step; the (campaign_id, step) key is
                // deferred, so the intermediate duplicates are never checked.
                diesel::update(
                    sequences::table
                        .filter(sequences::campaign_id.eq(campaign))
                        .filter(sequences::step.gt(removed)),
                )
                .set(sequences::step.eq(sequences::step - 1))
                .execute(c)
                .await?;
                Ok(true)
            })
            .await?;
        Ok(deleted)
    }

    async fn add_variant(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        step_id: SequenceId,
        variant: &NewVariant,
        now: OffsetDateTime,
    ) -> Result<Option<VariantRecord>, StoreError> {
        let (ws, campaign, step) = (
            workspace_id.as_uuid(),
            campaign_id.as_uuid(),
            step_id.as_uuid(),
        );
        let mut conn = self.db.conn().await?;
        let created = conn
            .transaction(async |c| -> Result<Option<VariantRecord>, TxError> {
                let Some(on) = lock_campaign(c, ws, campaign).await? else {
                    return Ok(None);
                };
                let step_exists: bool = diesel::select(diesel::dsl::exists(
                    sequences::table
                        .filter(sequences::workspace_id.eq(ws))
                        .filter(sequences::campaign_id.eq(campaign))
                        .filter(sequences::id.eq(step)),
                ))
                .get_result(c)
                .await?;
                if !step_exists {
                    return Ok(None);
                }
                let letters: Vec<String> = variants::table
                    .filter(variants::sequence_id.eq(step))
                    .select(variants::letter)
                    .load(c)
                    .await?;
                let letter = VariantLetter::next_after(
                    letters.iter().filter_map(|l| VariantLetter::parse(l)),
                );
                let (body_html, body_text) = match &variant.body_html {
                    Some(raw) => {
                        let (h, t) = prepared(raw, on)?;
                        (Some(h), Some(t))
                    }
                    None => unsubscribe_body(None, on),
                };
                let row: VariantRow = diesel::insert_into(variants::table)
                    .values((
                        variants::id.eq(variant.id.as_uuid()),
                        variants::workspace_id.eq(ws),
                        variants::campaign_id.eq(campaign),
                        variants::sequence_id.eq(step),
                        variants::letter.eq(letter.to_string()),
                        variants::ordinal.eq(i32::try_from(letter.index()).unwrap_or(i32::MAX)),
                        variants::subject.eq(Some(&variant.subject)),
                        variants::body_html.eq(body_html),
                        variants::body_text.eq(body_text),
                        variants::enabled.eq(variant.enabled),
                        variants::created_at.eq(now),
                        variants::updated_at.eq(now),
                    ))
                    .returning(VariantRow::as_returning())
                    .get_result(c)
                    .await?;
                Ok(Some(row.try_into()?))
            })
            .await?;
        Ok(created)
    }

    async fn update_variant(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        variant_id: VariantId,
        patch: &VariantPatch,
        now: OffsetDateTime,
    ) -> Result<VariantOutcome<VariantRecord>, StoreError> {
        let (ws, campaign, id) = (
            workspace_id.as_uuid(),
            campaign_id.as_uuid(),
            variant_id.as_uuid(),
        );
        let mut conn = self.db.conn().await?;
        let outcome = conn
            .transaction(
                async |c| -> Result<VariantOutcome<VariantRecord>, TxError> {
                    let Some(on) = lock_campaign(c, ws, campaign).await? else {
                        return Ok(VariantOutcome::NotFound);
                    };
                    let Some(step) = variant_step(c, ws, campaign, id).await? else {
                        return Ok(VariantOutcome::NotFound);
                    };
                    if let Some(enabled) = patch.enabled {
                        match check_set_enabled(&step_states(c, step).await?, &id, enabled) {
                            Ok(()) => {}
                            Err(VariantError::LastEnabledVariant) => {
                                return Ok(VariantOutcome::LastEnabledVariant);
                            }
                            Err(VariantError::NotFound) => return Ok(VariantOutcome::NotFound),
                        }
                    }
                    let (body_html, body_text) = match &patch.body_html {
                        Some(raw) => {
                            let (h, t) = prepared(raw, on)?;
                            (Some(h), Some(t))
                        }
                        None => (None, None),
                    };
                    let row: VariantRow =
                        diesel::update(variants::table.filter(variants::id.eq(id)))
                            .set(VariantChanges {
                                subject: patch.subject.clone(),
                                body_html,
                                body_text,
                                enabled: patch.enabled,
                                updated_at: now,
                            })
                            .returning(VariantRow::as_returning())
                            .get_result(c)
                            .await?;
                    Ok(VariantOutcome::Done(row.try_into()?))
                },
            )
            .await?;
        Ok(outcome)
    }

    async fn delete_variant(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        variant_id: VariantId,
    ) -> Result<VariantOutcome<()>, StoreError> {
        let (ws, campaign, id) = (
            workspace_id.as_uuid(),
            campaign_id.as_uuid(),
            variant_id.as_uuid(),
        );
        let mut conn = self.db.conn().await?;
        let outcome = conn
            .transaction(async |c| -> Result<VariantOutcome<()>, TxError> {
                if lock_campaign(c, ws, campaign).await?.is_none() {
                    return Ok(VariantOutcome::NotFound);
                }
                let Some(step) = variant_step(c, ws, campaign, id).await? else {
                    return Ok(VariantOutcome::NotFound);
                };
                match check_delete(&step_states(c, step).await?, &id) {
                    Ok(()) => {}
                    Err(VariantError::LastEnabledVariant) => {
                        return Ok(VariantOutcome::LastEnabledVariant);
                    }
                    Err(VariantError::NotFound) => return Ok(VariantOutcome::NotFound),
                }
                diesel::delete(variants::table.filter(variants::id.eq(id)))
                    .execute(c)
                    .await?;
                Ok(VariantOutcome::Done(()))
            })
            .await?;
        Ok(outcome)
    }
}
