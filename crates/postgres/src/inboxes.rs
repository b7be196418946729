//! Inboxes in PostgreSQL, and the claims of the background connection check.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reachkit_core::StoreError;
use reachkit_core::blocklist::ListQuery;
use reachkit_core::connection_check::{CheckOutcome, ConnectionCheckRepository, PendingCheck};
use reachkit_core::ids::{CampaignId, InboxId, WorkspaceId};
use reachkit_core::inboxes::{
    ConnectionStatus, ConnectionType, Inbox, InboxCampaign, InboxDetail, InboxRepository,
    InboxSort, InboxUpdate, SealedPasswords, Security, ServerSettings,
};
use reachkit_core::paging::{Page, SortOrder};
use reachkit_domain::campaign::CampaignStatus;
use reachkit_domain::email::EmailAddress;
use reachkit_domain::esp::Provider;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::blocklist::like_pattern;
use crate::error::{TxError, from_diesel};
use crate::pool::Db;
use crate::schema::{campaign_inboxes, campaigns, inboxes};

fn corrupt(what: &str, id: Uuid, value: &str) -> StoreError {
    StoreError::Other(anyhow::anyhow!(
        "inbox {id} holds an invalid {what}: {value:?}"
    ))
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = inboxes, check_for_backend(diesel::pg::Pg))]
struct InboxRow {
    id: Uuid,
    workspace_id: Uuid,
    email: String,
    domain: String,
    provider: String,
    connection_type: String,
    connection_status: String,
    connection_error: Option<String>,
    first_name: String,
    last_name: String,
    reply_to: String,
    signature: String,
    is_active: bool,
    is_warming: bool,
    daily_campaign_limit: i32,
    daily_warmup_limit: i32,
    smtp_host: String,
    smtp_port: i32,
    smtp_security: String,
    smtp_username: String,
    imap_host: String,
    imap_port: i32,
    imap_security: String,
    imap_username: String,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

fn server(
    id: Uuid,
    host: String,
    port: i32,
    security: &str,
    username: String,
) -> Result<ServerSettings, StoreError> {
    Ok(ServerSettings {
        host,
        port: u16::try_from(port).map_err(|_| corrupt("port", id, &port.to_string()))?,
        security: Security::parse(security).ok_or_else(|| corrupt("security", id, security))?,
        username,
    })
}

impl TryFrom<InboxRow> for Inbox {
    type Error = StoreError;

    fn try_from(r: InboxRow) -> Result<Self, StoreError> {
        let id = r.id;
        Ok(Self {
            id: InboxId::from_uuid(r.id),
            workspace_id: WorkspaceId::from_uuid(r.workspace_id),
            email: EmailAddress::parse(&r.email).map_err(|_| corrupt("address", id, &r.email))?,
            domain: r.domain,
            provider: Provider::parse(&r.provider)
                .ok_or_else(|| corrupt("provider", id, &r.provider))?,
            connection_type: ConnectionType::parse(&r.connection_type)
                .ok_or_else(|| corrupt("connection type", id, &r.connection_type))?,
            connection_status: ConnectionStatus::parse(&r.connection_status)
                .ok_or_else(|| corrupt("connection status", id, &r.connection_status))?,
            connection_error: r.connection_error,
            first_name: r.first_name,
            last_name: r.last_name,
            reply_to: r.reply_to,
            signature: r.signature,
            is_active: r.is_active,
            is_warming: r.is_warming,
            daily_campaign_limit: u32::try_from(r.daily_campaign_limit).unwrap_or(1),
            daily_warmup_limit: u32::try_from(r.daily_warmup_limit).unwrap_or(1),
            smtp: server(
                id,
                r.smtp_host,
                r.smtp_port,
                &r.smtp_security,
                r.smtp_username,
            )?,
            imap: server(
                id,
                r.imap_host,
                r.imap_port,
                &r.imap_security,
                r.imap_username,
            )?,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = inboxes)]
struct NewInboxRow<'a> {
    id: Uuid,
    workspace_id: Uuid,
    email: &'a str,
    domain: &'a str,
    provider: &'a str,
    connection_type: &'a str,
    connection_status: &'a str,
    first_name: &'a str,
    last_name: &'a str,
    reply_to: &'a str,
    signature: &'a str,
    is_active: bool,
    is_warming: bool,
    daily_campaign_limit: i32,
    daily_warmup_limit: i32,
    smtp_host: &'a str,
    smtp_port: i32,
    smtp_security: &'a str,
    smtp_username: &'a str,
    smtp_password: Option<&'a [u8]>,
    imap_host: &'a str,
    imap_port: i32,
    imap_security: &'a str,
    imap_username: &'a str,
    imap_password: Option<&'a [u8]>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

#[derive(AsChangeset)]
#[diesel(table_name = inboxes)]
struct InboxChangeset {
    is_active: Option<bool>,
    is_warming: Option<bool>,
    first_name: Option<String>,
    last_name: Option<String>,
    reply_to: Option<String>,
    signature: Option<String>,
    daily_campaign_limit: Option<i32>,
    daily_warmup_limit: Option<i32>,
    smtp_host: Option<String>,
    smtp_port: Option<i32>,
    smtp_security: Option<String>,
    smtp_username: Option<String>,
    smtp_password: Option<Option<Vec<u8>>>,
    imap_host: Option<String>,
    imap_port: Option<i32>,
    imap_security: Option<String>,
    imap_username: Option<String>,
    imap_password: Option<Option<Vec<u8>>>,
    connection_status: Option<String>,
    connection_error: Option<Option<String>>,
    updated_at: Option<OffsetDateTime>,
}

fn limit(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

impl From<&InboxUpdate> for InboxChangeset {
    fn from(u: &InboxUpdate) -> Self {
        let smtp = u.smtp.as_ref();
        let imap = u.imap.as_ref();
        let recheck = u.changes_credentials();
        Self {
            is_active: u.is_active,
            is_warming: u.is_warming,
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            reply_to: u.reply_to.clone(),
            signature: u.signature.clone(),
            daily_campaign_limit: u.daily_campaign_limit.map(limit),
            daily_warmup_limit: u.daily_warmup_limit.map(limit),
            smtp_host: smtp.map(|s| s.settings.host.clone()),
            smtp_port: smtp.map(|s| i32::from(s.settings.port)),
            smtp_security: smtp.map(|s| s.settings.security.as_str().to_owned()),
            smtp_username: smtp.map(|s| s.settings.username.clone()),
            smtp_password: smtp.map(|s| s.sealed_password.clone()),
            imap_host: imap.map(|s| s.settings.host.clone()),
            imap_port: imap.map(|s| i32::from(s.settings.port)),
            imap_security: imap.map(|s| s.settings.security.as_str().to_owned()),
            imap_username: imap.map(|s| s.settings.username.clone()),
            imap_password: imap.map(|s| s.sealed_password.clone()),
            connection_status: recheck.then(|| ConnectionStatus::Pending.as_str().to_owned()),
            connection_error: recheck.then_some(None),
            updated_at: u.updated_at,
        }
    }
}

#[derive(Queryable)]
struct CampaignRow {
    id: Uuid,
    name: String,
    status: String,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

async fn campaigns_of(
    conn: &mut AsyncPgConnection,
    workspace_id: Uuid,
    inbox_id: Uuid,
) -> Result<Vec<InboxCampaign>, StoreError> {
    let rows: Vec<CampaignRow> = campaign_inboxes::table
        .inner_join(campaigns::table)
        .filter(campaign_inboxes::inbox_id.eq(inbox_id))
        .filter(campaigns::workspace_id.eq(workspace_id))
        .order((campaigns::created_at.asc(), campaigns::id.asc()))
        .select((
            campaigns::id,
            campaigns::name,
            campaigns::status,
            campaigns::created_at,
            campaigns::updated_at,
        ))
        .load(conn)
        .await
        .map_err(from_diesel)?;
    rows.into_iter()
        .map(|r| {
            Ok(InboxCampaign {
                id: CampaignId::from_uuid(r.id),
                status: CampaignStatus::parse(&r.status).map_err(|_| {
                    StoreError::Other(anyhow::anyhow!(
                        "campaign {} holds an invalid status {:?}",
                        r.id,
                        r.status
                    ))
                })?,
                name: r.name,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
        })
        .collect()
}

/// [`InboxRepository`] and [`ConnectionCheckRepository`] over PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgInboxRepository {
    db: Db,
}

impl PgInboxRepository {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl InboxRepository for PgInboxRepository {
    async fn insert(&self, inbox: &Inbox, passwords: &SealedPasswords) -> Result<bool, StoreError> {
        let row = NewInboxRow {
            id: inbox.id.as_uuid(),
            workspace_id: inbox.workspace_id.as_uuid(),
            email: inbox.email.as_str(),
            domain: &inbox.domain,
            provider: inbox.provider.as_str(),
            connection_type: inbox.connection_type.as_str(),
            connection_status: inbox.connection_status.as_str(),
            first_name: &inbox.first_name,
            last_name: &inbox.last_name,
            reply_to: &inbox.reply_to,
            signature: &inbox.signature,
            is_active: inbox.is_active,
            is_warming: inbox.is_warming,
            daily_campaign_limit: limit(inbox.daily_campaign_limit),
            daily_warmup_limit: limit(inbox.daily_warmup_limit),
            smtp_host: &inbox.smtp.host,
            smtp_port: i32::from(inbox.smtp.port),
            smtp_security: inbox.smtp.security.as_str(),
            smtp_username: &inbox.smtp.username,
            smtp_password: passwords.smtp.as_deref(),
            imap_host: &inbox.imap.host,
            imap_port: i32::from(inbox.imap.port),
            imap_security: inbox.imap.security.as_str(),
            imap_username: &inbox.imap.username,
            imap_password: passwords.imap.as_deref(),
            created_at: inbox.created_at,
            updated_at: inbox.updated_at,
        };
        let mut conn = self.db.conn().await?;
        let inserted = diesel::insert_into(inboxes::table)
            .values(&row)
            .on_conflict((inboxes::workspace_id, inboxes::email))
            .do_nothing()
            .execute(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(inserted == 1)
    }

    async fn get(
        &self,
        workspace_id: WorkspaceId,
        id: InboxId,
    ) -> Result<Option<InboxDetail>, StoreError> {
        let mut conn = self.db.conn().await?;
        let row = inboxes::table
            .filter(inboxes::workspace_id.eq(workspace_id.as_uuid()))
            .filter(inboxes::id.eq(id.as_uuid()))
            .select(InboxRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let campaigns = campaigns_of(&mut conn, workspace_id.as_uuid(), id.as_uuid()).await?;
        Ok(Some(InboxDetail {
            inbox: row.try_into()?,
            campaigns,
        }))
    }

    async fn list(
        &self,
        workspace_id: WorkspaceId,
        query: &ListQuery<InboxSort>,
    ) -> Result<Page<Inbox>, StoreError> {
        let filtered = || {
            let mut q = inboxes::table
                .filter(inboxes::workspace_id.eq(workspace_id.as_uuid()))
                .into_boxed();
            if let Some(term) = &query.search {
                let pattern = like_pattern(term);
                q = q.filter(
                    inboxes::email
                        .ilike(pattern.clone())
                        .or(inboxes::first_name.ilike(pattern.clone()))
                        .or(inboxes::last_name.ilike(pattern)),
                );
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
            (InboxSort::CreatedAt, SortOrder::Asc) => {
                q.order((inboxes::created_at.asc(), inboxes::id.asc()))
            }
            (InboxSort::CreatedAt, SortOrder::Desc) => {
                q.order((inboxes::created_at.desc(), inboxes::id.desc()))
            }
            (InboxSort::UpdatedAt, SortOrder::Asc) => {
                q.order((inboxes::updated_at.asc(), inboxes::id.asc()))
            }
            (InboxSort::UpdatedAt, SortOrder::Desc) => {
                q.order((inboxes::updated_at.desc(), inboxes::id.desc()))
            }
            (InboxSort::Email, SortOrder::Asc) => q.order(inboxes::email.asc()),
            (InboxSort::Email, SortOrder::Desc) => q.order(inboxes::email.desc()),
        };
        let rows = q
            .offset(query.page.offset())
            .limit(query.page.limit())
            .select(InboxRow::as_select())
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(Inbox::try_from)
                .collect::<Result<_, _>>()?,
            request: query.page,
            total_count: u64::try_from(total).unwrap_or_default(),
        })
    }

    async fn update(
        &self,
        workspace_id: WorkspaceId,
        id: InboxId,
        update: &InboxUpdate,
    ) -> Result<Option<InboxDetail>, StoreError> {
        if update == &InboxUpdate::default() {
            // Nothing to change (an SQL UPDATE needs at least one column).
            return self.get(workspace_id, id).await;
        }
        let changes = InboxChangeset::from(update);
        let (ws, id) = (workspace_id.as_uuid(), id.as_uuid());
        let mut conn = self.db.conn().await?;
        Ok(conn
            .transaction::<_, TxError, _>(async |c| {
                let row = diesel::update(
                    inboxes::table
                        .filter(inboxes::workspace_id.eq(ws))
                        .filter(inboxes::id.eq(id)),
                )
                .set(&changes)
                .returning(InboxRow::as_returning())
                .get_result(c)
                .await
                .optional()?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let campaigns = campaigns_of(c, ws, id).await?;
                Ok(Some(InboxDetail {
                    inbox: Inbox::try_from(row)?,
                    campaigns,
                }))
            })
            .await?)
    }

    async fn delete(&self, workspace_id: WorkspaceId, id: InboxId) -> Result<bool, StoreError> {
        let mut conn = self.db.conn().await?;
        let deleted = diesel::delete(
            inboxes::table
                .filter(inboxes::workspace_id.eq(workspace_id.as_uuid()))
                .filter(inboxes::id.eq(id.as_uuid())),
        )
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(deleted > 0)
    }
}

#[derive(QueryableByName)]
struct ClaimRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    workspace_id: Uuid,
    #[diesel(sql_type = Text)]
    smtp_host: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    smtp_port: i32,
    #[diesel(sql_type = Text)]
    smtp_security: String,
    #[diesel(sql_type = Text)]
    smtp_username: String,
    #[diesel(sql_type = Nullable<diesel::sql_types::Bytea>)]
    smtp_password: Option<Vec<u8>>,
    #[diesel(sql_type = Text)]
    imap_host: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    imap_port: i32,
    #[diesel(sql_type = Text)]
    imap_security: String,
    #[diesel(sql_type = Text)]
    imap_username: String,
    #[diesel(sql_type = Nullable<diesel::sql_types::Bytea>)]
    imap_password: Option<Vec<u8>>,
}

const CLAIM_SQL: &str = "
UPDATE inboxes SET connection_status = 'validating', connection_checked_at = $1
WHERE id IN (
    SELECT id FROM inboxes
    WHERE connection_status = 'pending'
       OR (connection_status = 'validating' AND connection_checked_at < $2)
    ORDER BY updated_at, id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
RETURNING id, workspace_id, smtp_host, smtp_port, smtp_security, smtp_username, smtp_password,
          imap_host, imap_port, imap_security, imap_username, imap_password";

#[async_trait]
impl ConnectionCheckRepository for PgInboxRepository {
    async fn claim_pending(
        &self,
        now: OffsetDateTime,
        stale_before: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<PendingCheck>, StoreError> {
        let mut conn = self.db.conn().await?;
        let rows: Vec<ClaimRow> = diesel::sql_query(CLAIM_SQL)
            .bind::<Timestamptz, _>(now)
            .bind::<Timestamptz, _>(stale_before)
            .bind::<BigInt, _>(limit)
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        rows.into_iter()
            .map(|r| {
                Ok(PendingCheck {
                    inbox_id: InboxId::from_uuid(r.id),
                    workspace_id: WorkspaceId::from_uuid(r.workspace_id),
                    smtp: server(
                        r.id,
                        r.smtp_host,
                        r.smtp_port,
                        &r.smtp_security,
                        r.smtp_username,
                    )?,
                    imap: server(
                        r.id,
                        r.imap_host,
                        r.imap_port,
                        &r.imap_security,
                        r.imap_username,
                    )?,
                    smtp_password: r.smtp_password,
                    imap_password: r.imap_password,
                })
            })
            .collect()
    }

    async fn record(
        &self,
        inbox_id: InboxId,
        outcome: &CheckOutcome,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (status, reason) = match outcome {
            Ok(()) => (ConnectionStatus::Connected, None),
            Err(reason) => (ConnectionStatus::Error, Some(reason.clone())),
        };
        let mut conn = self.db.conn().await?;
        // Only the claim that started at `now` may record: a change of settings (back to
        // pending) or a newer claim in the meantime wins.
        let updated = diesel::update(
            inboxes::table
                .filter(inboxes::id.eq(inbox_id.as_uuid()))
                .filter(inboxes::connection_status.eq(ConnectionStatus::Validating.as_str()))
                .filter(inboxes::connection_checked_at.eq(now)),
        )
        .set((
            inboxes::connection_status.eq(status.as_str()),
            inboxes::connection_error.eq(reason),
        ))
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(updated == 1)
    }
}
