//! Unsubscribes in PostgreSQL: the lead, its campaign's counters and the workspace blocklist in
//! one transaction.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use reachkit_core::StoreError;
use reachkit_core::ids::{BlocklistEntryId, LeadId};
use reachkit_core::unsubscribe::{UnsubscribeRepository, Unsubscribed};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{TxError, from_diesel};
use crate::pool::Db;
use crate::schema::{blocklist_entries, campaign_stats, leads};

/// [`UnsubscribeRepository`] over PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgUnsubscribeRepository {
    db: Db,
}

impl PgUnsubscribeRepository {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[derive(Queryable)]
struct LockedLead {
    workspace_id: Uuid,
    campaign_id: Uuid,
    email: String,
    status: String,
    is_bounced: bool,
    is_unsubscribed: bool,
}

#[async_trait]
impl UnsubscribeRepository for PgUnsubscribeRepository {
    async fn lead_exists(&self, lead: LeadId) -> Result<bool, StoreError> {
        let mut conn = self.db.conn().await?;
        diesel::select(diesel::dsl::exists(
            leads::table.filter(leads::id.eq(lead.as_uuid())),
        ))
        .get_result(&mut conn)
        .await
        .map_err(from_diesel)
    }

    async fn unsubscribe(
        &self,
        lead: LeadId,
        entry_id: BlocklistEntryId,
        now: OffsetDateTime,
    ) -> Result<Option<Unsubscribed>, StoreError> {
        let id = lead.as_uuid();
        let entry_id = entry_id.as_uuid();
        let mut conn = self.db.conn().await?;
        Ok(conn
            .transaction::<_, TxError, _>(async |c| {
                // The row lock serialises concurrent clicks: the second sees the first's result.
                let Some(found) = leads::table
                    .filter(leads::id.eq(id))
                    .select((
                        leads::workspace_id,
                        leads::campaign_id,
                        leads::email,
                        leads::status,
                        leads::is_bounced,
                        leads::is_unsubscribed,
                    ))
                    .for_update()
                    .first::<LockedLead>(c)
                    .await
                    .optional()?
                else {
                    return Ok(None);
                };
                if found.is_unsubscribed {
                    return Ok(Some(Unsubscribed::Already));
                }
                // Lead::is_finished: replied, bounced or unsubscribed (not the latter here).
                let was_finished = found.status == "replied" || found.is_bounced;
                diesel::update(leads::table.filter(leads::id.eq(id)))
                    .set((leads::is_unsubscribed.eq(true), leads::updated_at.eq(now)))
                    .execute(c)
                    .await?;
                diesel::update(
                    campaign_stats::table.filter(campaign_stats::campaign_id.eq(found.campaign_id)),
                )
                .set((
                    campaign_stats::unsubscribed.eq(campaign_stats::unsubscribed + 1),
                    campaign_stats::finished_leads
                        .eq(campaign_stats::finished_leads + i64::from(!was_finished)),
                ))
                .execute(c)
                .await?;
                diesel::insert_into(blocklist_entries::table)
                    .values((
                        blocklist_entries::id.eq(entry_id),
                        blocklist_entries::workspace_id.eq(found.workspace_id),
                        blocklist_entries::email.eq(&found.email),
                        blocklist_entries::created_at.eq(now),
                    ))
                    .on_conflict((blocklist_entries::workspace_id, blocklist_entries::email))
                    .do_nothing()
                    .execute(c)
                    .await?;
                Ok(Some(Unsubscribed::Now))
            })
            .await?)
    }
}
