//! Leads in PostgreSQL, with the campaign's lead counters kept in the same transaction.

use std::collections::HashSet;

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{Array, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reachkit_core::StoreError;
use reachkit_core::blocklist::ListQuery;
use reachkit_core::ids::{CampaignId, LeadId, WorkspaceId};
use reachkit_core::leads::bulk::{BatchEntry, EntryOutcome, LeadBatch};
use reachkit_core::leads::{AddOutcome, Lead, LeadRepository, LeadSort, NewLead};
use reachkit_core::paging::{Page, SortOrder};
use reachkit_domain::email::EmailAddress;
use reachkit_domain::esp::Provider;
use reachkit_domain::lead::{IfExists, LeadStatus};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::blocklist::like_pattern;
use crate::error::{TxError, from_diesel};
use crate::pool::Db;
use crate::schema::{campaign_stats, campaigns, leads};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = leads, check_for_backend(diesel::pg::Pg))]
struct LeadRow {
    id: Uuid,
    workspace_id: Uuid,
    campaign_id: Uuid,
    email: String,
    email_domain: String,
    company_domain: Option<String>,
    first_name: String,
    last_name: String,
    variables: serde_json::Value,
    status: String,
    is_bounced: bool,
    is_unsubscribed: bool,
    provider: Option<String>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

fn corrupt(what: &str, id: Uuid) -> StoreError {
    StoreError::Other(anyhow::anyhow!("lead {id} holds an invalid {what}"))
}

impl TryFrom<LeadRow> for Lead {
    type Error = StoreError;

    fn try_from(r: LeadRow) -> Result<Self, StoreError> {
        let id = r.id;
        let serde_json::Value::Object(variables) = r.variables else {
            return Err(corrupt("variables object", id));
        };
        Ok(Self {
            id: LeadId::from_uuid(r.id),
            workspace_id: WorkspaceId::from_uuid(r.workspace_id),
            campaign_id: CampaignId::from_uuid(r.campaign_id),
            email: EmailAddress::parse(&r.email).map_err(|_| corrupt("address", id))?,
            email_domain: r.email_domain,
            company_domain: r.company_domain,
            first_name: r.first_name,
            last_name: r.last_name,
            variables,
            status: LeadStatus::parse(&r.status).map_err(|_| corrupt("status", id))?,
            is_bounced: r.is_bounced,
            is_unsubscribed: r.is_unsubscribed,
            provider: match r.provider {
                None => None,
                Some(p) => Some(Provider::parse(&p).ok_or_else(|| corrupt("provider", id))?),
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

impl From<&Lead> for LeadRow {
    fn from(l: &Lead) -> Self {
        Self {
            id: l.id.as_uuid(),
            workspace_id: l.workspace_id.as_uuid(),
            campaign_id: l.campaign_id.as_uuid(),
            email: l.email.as_str().to_owned(),
            email_domain: l.email_domain.clone(),
            company_domain: l.company_domain.clone(),
            first_name: l.first_name.clone(),
            last_name: l.last_name.clone(),
            variables: serde_json::Value::Object(l.variables.clone()),
            status: l.status.as_str().to_owned(),
            is_bounced: l.is_bounced,
            is_unsubscribed: l.is_unsubscribed,
            provider: l.provider.map(|p| p.as_str().to_owned()),
            created_at: l.created_at,
            updated_at: l.updated_at,
        }
    }
}

/// Whether the workspace has the campaign; locks it against deletion until the transaction ends.
async fn campaign_exists(
    conn: &mut AsyncPgConnection,
    workspace_id: Uuid,
    campaign_id: Uuid,
) -> QueryResult<bool> {
    campaigns::table
        .filter(campaigns::workspace_id.eq(workspace_id))
        .filter(campaigns::id.eq(campaign_id))
        .select(campaigns::id)
        .for_key_share()
        .first::<Uuid>(conn)
        .await
        .optional()
        .map(|found| found.is_some())
}

/// Adds `leads` and `finished` to the campaign's counters (creating its row if missing).
async fn bump_counters(
    conn: &mut AsyncPgConnection,
    workspace_id: Uuid,
    campaign_id: Uuid,
    leads: i64,
    finished: i64,
) -> QueryResult<()> {
    diesel::insert_into(campaign_stats::table)
        .values((
            campaign_stats::campaign_id.eq(campaign_id),
            campaign_stats::workspace_id.eq(workspace_id),
            campaign_stats::leads_count.eq(leads.max(0)),
            campaign_stats::finished_leads.eq(finished.max(0)),
        ))
        .on_conflict(campaign_stats::campaign_id)
        .do_update()
        .set((
            campaign_stats::leads_count.eq(campaign_stats::leads_count + leads),
            campaign_stats::finished_leads.eq(campaign_stats::finished_leads + finished),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

#[derive(AsChangeset)]
#[diesel(table_name = leads)]
struct LeadMerge {
    first_name: Option<String>,
    last_name: Option<String>,
    updated_at: OffsetDateTime,
}

async fn add_in(conn: &mut AsyncPgConnection, new: &NewLead) -> Result<AddOutcome, TxError> {
    let row = LeadRow::from(&new.lead);
    if !campaign_exists(conn, row.workspace_id, row.campaign_id).await? {
        return Ok(AddOutcome::CampaignNotFound);
    }
    // A lead deleted between our conflict and our read is gone: try the insert once more.
    for _ in 0..2 {
        let inserted = diesel::insert_into(leads::table)
            .values(&row)
            .on_conflict((leads::campaign_id, leads::email))
            .do_nothing()
            .returning(LeadRow::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        if let Some(inserted) = inserted {
            bump_counters(conn, row.workspace_id, row.campaign_id, 1, 0).await?;
            return Ok(AddOutcome::Created(inserted.try_into()?));
        }
        let existing = leads::table
            .filter(leads::workspace_id.eq(row.workspace_id))
            .filter(leads::campaign_id.eq(row.campaign_id))
            .filter(leads::email.eq(&row.email));
        let found = match new.if_exists {
            IfExists::Fail => return Ok(AddOutcome::Duplicate),
            IfExists::Skip => existing
                .select(LeadRow::as_select())
                .first(conn)
                .await
                .optional()?,
            IfExists::Update => {
                // Names given replace the old ones; variables are merged key by key (`||`).
                let merge = LeadMerge {
                    first_name: new.first_name_given.then(|| row.first_name.clone()),
                    last_name: new.last_name_given.then(|| row.last_name.clone()),
                    updated_at: row.updated_at,
                };
                diesel::update(existing)
                    .set((
                        merge,
                        leads::variables.eq(leads::variables.concat(row.variables.clone())),
                    ))
                    .returning(LeadRow::as_returning())
                    .get_result(conn)
                    .await
                    .optional()?
            }
        };
        if let Some(found) = found {
            let lead = Lead::try_from(found)?;
            return Ok(match new.if_exists {
                IfExists::Update => AddOutcome::Updated(lead),
                _ => AddOutcome::Skipped(lead),
            });
        }
    }
    Err(StoreError::Other(anyhow::anyhow!(
        "lead kept conflicting and disappearing while being added"
    ))
    .into())
}

#[derive(QueryableByName)]
struct EmailRow {
    #[diesel(sql_type = Text)]
    email: String,
}

/// Inserts the entries whose address the campaign does not have, in address order (so that
/// concurrent batches wait on each other instead of deadlocking); returns the inserted addresses.
async fn insert_new(
    conn: &mut AsyncPgConnection,
    batch: &LeadBatch,
    entries: &[&BatchEntry],
) -> QueryResult<HashSet<String>> {
    let mut ids = Vec::with_capacity(entries.len());
    let mut emails = Vec::with_capacity(entries.len());
    let mut domains = Vec::with_capacity(entries.len());
    let mut companies = Vec::with_capacity(entries.len());
    let mut firsts = Vec::with_capacity(entries.len());
    let mut lasts = Vec::with_capacity(entries.len());
    let mut variables = Vec::with_capacity(entries.len());
    let mut created = Vec::with_capacity(entries.len());
    for e in entries {
        let l = &e.lead;
        ids.push(l.id.as_uuid());
        emails.push(l.email.as_str());
        domains.push(l.email_domain.as_str());
        companies.push(l.company_domain.as_deref());
        firsts.push(l.first_name.as_str());
        lasts.push(l.last_name.as_str());
        variables.push(serde_json::Value::Object(l.variables.clone()));
        created.push(l.created_at);
    }
    let rows: Vec<EmailRow> = diesel::sql_query(
        "INSERT INTO leads (id, workspace_id, campaign_id, email, email_domain, company_domain, \
           first_name, last_name, variables, status, is_bounced, is_unsubscribed, created_at, \
           updated_at) \
         SELECT r.id, $1, $2, r.email, r.email_domain, r.company_domain, r.first_name, \
           r.last_name, r.variables, 'uncontacted', false, false, r.created_at, r.created_at \
         FROM unnest($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], \
           $9::jsonb[], $10::timestamptz[]) \
           AS r(id, email, email_domain, company_domain, first_name, last_name, variables, \
           created_at) \
         ORDER BY r.email \
         ON CONFLICT (campaign_id, email) DO NOTHING \
         RETURNING email",
    )
    .bind::<SqlUuid, _>(batch.workspace_id.as_uuid())
    .bind::<SqlUuid, _>(batch.campaign_id.as_uuid())
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<Array<Text>, _>(&emails)
    .bind::<Array<Text>, _>(&domains)
    .bind::<Array<Nullable<Text>>, _>(&companies)
    .bind::<Array<Text>, _>(&firsts)
    .bind::<Array<Text>, _>(&lasts)
    .bind::<Array<Jsonb>, _>(&variables)
    .bind::<Array<Timestamptz>, _>(&created)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.email).collect())
}

/// Applies the entries' updates to the campaign's existing leads, after locking them in address
/// order; returns the addresses updated (an address deleted meanwhile is missing).
async fn update_existing(
    conn: &mut AsyncPgConnection,
    batch: &LeadBatch,
    entries: &[&BatchEntry],
) -> QueryResult<HashSet<String>> {
    let mut emails = Vec::with_capacity(entries.len());
    let mut firsts = Vec::with_capacity(entries.len());
    let mut lasts = Vec::with_capacity(entries.len());
    let mut variables = Vec::with_capacity(entries.len());
    for e in entries {
        let Some(patch) = &e.update else { continue };
        emails.push(e.lead.email.as_str());
        firsts.push(patch.first_name.as_deref());
        lasts.push(patch.last_name.as_deref());
        variables.push(serde_json::Value::Object(patch.variables.clone()));
    }
    let (ws, campaign) = (batch.workspace_id.as_uuid(), batch.campaign_id.as_uuid());
    let _locked: Vec<EmailRow> = diesel::sql_query(
        "SELECT email FROM leads WHERE workspace_id = $1 AND campaign_id = $2 \
         AND email = ANY($3) ORDER BY email FOR UPDATE",
    )
    .bind::<SqlUuid, _>(ws)
    .bind::<SqlUuid, _>(campaign)
    .bind::<Array<Text>, _>(&emails)
    .load(conn)
    .await?;
    // Names given replace the old ones; variables are merged key by key (`||`).
    let rows: Vec<EmailRow> = diesel::sql_query(
        "UPDATE leads l SET first_name = COALESCE(p.first_name, l.first_name), \
           last_name = COALESCE(p.last_name, l.last_name), \
           variables = l.variables || p.variables, updated_at = $7 \
         FROM unnest($3::text[], $4::text[], $5::text[], $6::jsonb[]) \
           AS p(email, first_name, last_name, variables) \
         WHERE l.workspace_id = $1 AND l.campaign_id = $2 AND l.email = p.email \
         RETURNING l.email",
    )
    .bind::<SqlUuid, _>(ws)
    .bind::<SqlUuid, _>(campaign)
    .bind::<Array<Text>, _>(&emails)
    .bind::<Array<Nullable<Text>>, _>(&firsts)
    .bind::<Array<Nullable<Text>>, _>(&lasts)
    .bind::<Array<Jsonb>, _>(&variables)
    .bind::<Timestamptz, _>(batch.now)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.email).collect())
}

async fn add_many_in(
    conn: &mut AsyncPgConnection,
    batch: &LeadBatch,
) -> Result<Option<Vec<EntryOutcome>>, TxError> {
    let (ws, campaign) = (batch.workspace_id.as_uuid(), batch.campaign_id.as_uuid());
    if !campaign_exists(conn, ws, campaign).await? {
        return Ok(None);
    }
    let mut outcomes: Vec<Option<EntryOutcome>> = vec![None; batch.entries.len()];
    if batch.entries.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let emails: Vec<&str> = batch
        .entries
        .iter()
        .map(|e| e.lead.email.as_str())
        .collect();
    let blocked: HashSet<String> = diesel::sql_query(
        "SELECT email FROM blocklist_entries WHERE workspace_id = $1 AND email = ANY($2)",
    )
    .bind::<SqlUuid, _>(ws)
    .bind::<Array<Text>, _>(&emails)
    .load::<EmailRow>(conn)
    .await?
    .into_iter()
    .map(|r| r.email)
    .collect();
    let mut pending = Vec::new();
    for (i, e) in batch.entries.iter().enumerate() {
        if blocked.contains(e.lead.email.as_str()) {
            outcomes[i] = Some(EntryOutcome::Blocklisted);
        } else {
            pending.push(i);
        }
    }
    let mut inserted_count: i64 = 0;
    // An existing lead deleted between our conflict and our update is gone: insert it again.
    for _ in 0..2 {
        if pending.is_empty() {
            break;
        }
        let entries: Vec<&BatchEntry> = pending.iter().map(|&i| &batch.entries[i]).collect();
        let inserted = insert_new(conn, batch, &entries).await?;
        inserted_count += i64::try_from(inserted.len()).unwrap_or(i64::MAX);
        let mut to_update = Vec::new();
        for &i in &pending {
            let e = &batch.entries[i];
            if inserted.contains(e.lead.email.as_str()) {
                outcomes[i] = Some(EntryOutcome::Inserted);
            } else if e.update.is_none() {
                outcomes[i] = Some(EntryOutcome::Existed);
            } else {
                to_update.push(i);
            }
        }
        pending.clear();
        if to_update.is_empty() {
            break;
        }
        let entries: Vec<&BatchEntry> = to_update.iter().map(|&i| &batch.entries[i]).collect();
        let updated = update_existing(conn, batch, &entries).await?;
        for i in to_update {
            if updated.contains(batch.entries[i].lead.email.as_str()) {
                outcomes[i] = Some(EntryOutcome::Existed);
            } else {
                pending.push(i);
            }
        }
    }
    if !pending.is_empty() {
        return Err(StoreError::Other(anyhow::anyhow!(
            "leads kept conflicting and disappearing while being added"
        ))
        .into());
    }
    if inserted_count > 0 {
        bump_counters(conn, ws, campaign, inserted_count, 0).await?;
    }
    Ok(Some(outcomes.into_iter().flatten().collect()))
}

/// [`LeadRepository`] over PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgLeadRepository {
    db: Db,
}

impl PgLeadRepository {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl LeadRepository for PgLeadRepository {
    async fn add(&self, lead: &NewLead) -> Result<AddOutcome, StoreError> {
        let mut conn = self.db.conn().await?;
        Ok(conn
            .transaction::<_, TxError, _>(async |c| add_in(c, lead).await)
            .await?)
    }

    async fn add_many(&self, batch: &LeadBatch) -> Result<Option<Vec<EntryOutcome>>, StoreError> {
        let mut conn = self.db.conn().await?;
        Ok(conn
            .transaction::<_, TxError, _>(async |c| add_many_in(c, batch).await)
            .await?)
    }

    async fn get(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        id: LeadId,
    ) -> Result<Option<Lead>, StoreError> {
        let mut conn = self.db.conn().await?;
        leads::table
            .filter(leads::workspace_id.eq(workspace_id.as_uuid()))
            .filter(leads::campaign_id.eq(campaign_id.as_uuid()))
            .filter(leads::id.eq(id.as_uuid()))
            .select(LeadRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?
            .map(Lead::try_from)
            .transpose()
    }

    async fn list(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        query: &ListQuery<LeadSort>,
    ) -> Result<Option<Page<Lead>>, StoreError> {
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
        let filtered = || {
            let mut q = leads::table
                .filter(leads::workspace_id.eq(ws))
                .filter(leads::campaign_id.eq(campaign))
                .into_boxed();
            if let Some(term) = &query.search {
                let pattern = like_pattern(term);
                q = q.filter(
                    leads::email
                        .ilike(pattern.clone())
                        .or(leads::first_name.ilike(pattern.clone()))
                        .or(leads::last_name.ilike(pattern)),
                );
            }
            q
        };
        let total: i64 = filtered()
            .count()
            .get_result(&mut conn)
            .await
            .map_err(from_diesel)?;
        let q = filtered();
        let q = match (query.sort, query.order) {
            (LeadSort::CreatedAt, SortOrder::Asc) => {
                q.order((leads::created_at.asc(), leads::id.asc()))
            }
            (LeadSort::CreatedAt, SortOrder::Desc) => {
                q.order((leads::created_at.desc(), leads::id.desc()))
            }
            (LeadSort::Email, SortOrder::Asc) => q.order(leads::email.asc()),
            (LeadSort::Email, SortOrder::Desc) => q.order(leads::email.desc()),
            (LeadSort::FirstName, SortOrder::Asc) => {
                q.order((leads::first_name.asc(), leads::id.asc()))
            }
            (LeadSort::FirstName, SortOrder::Desc) => {
                q.order((leads::first_name.desc(), leads::id.desc()))
            }
            (LeadSort::LastName, SortOrder::Asc) => {
                q.order((leads::last_name.asc(), leads::id.asc()))
            }
            (LeadSort::LastName, SortOrder::Desc) => {
                q.order((leads::last_name.desc(), leads::id.desc()))
            }
            (LeadSort::Status, SortOrder::Asc) => q.order((leads::status.asc(), leads::id.asc())),
            (LeadSort::Status, SortOrder::Desc) => {
                q.order((leads::status.desc(), leads::id.desc()))
            }
        };
        let rows = q
            .offset(query.page.offset())
            .limit(query.page.limit())
            .select(LeadRow::as_select())
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(Some(Page {
            items: rows
                .into_iter()
                .map(Lead::try_from)
                .collect::<Result<_, _>>()?,
            request: query.page,
            total_count: u64::try_from(total).unwrap_or_default(),
        }))
    }

    async fn delete(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        id: LeadId,
    ) -> Result<bool, StoreError> {
        let (ws, campaign, id) = (workspace_id.as_uuid(), campaign_id.as_uuid(), id.as_uuid());
        let mut conn = self.db.conn().await?;
        Ok(conn
            .transaction::<_, TxError, _>(async |c| {
                let deleted: Option<(LeadRow, Option<String>)> = diesel::delete(
                    leads::table
                        .filter(leads::workspace_id.eq(ws))
                        .filter(leads::campaign_id.eq(campaign))
                        .filter(leads::id.eq(id)),
                )
                .returning((LeadRow::as_returning(), leads::finished_reason))
                .get_result(c)
                .await
                .optional()?;
                let Some((deleted, finished_reason)) = deleted else {
                    return Ok(false);
                };
                // Finished by the engine (completed, blocklisted, failed) counts as well.
                let finished =
                    i64::from(Lead::try_from(deleted)?.is_finished() || finished_reason.is_some());
                bump_counters(c, ws, campaign, -1, -finished).await?;
                Ok(true)
            })
            .await?)
    }
}
