//! API keys in PostgreSQL: only the digest of each secret is stored.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reachkit_core::StoreError;
use reachkit_core::api_keys::{ApiKey, ApiKeyRepository, KeyHash};
use reachkit_core::ids::{ApiKeyId, WorkspaceId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::from_diesel;
use crate::pool::Db;
use crate::schema::api_keys;

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
struct ApiKeyRow {
    id: Uuid,
    workspace_id: Uuid,
    name: String,
    prefix: String,
    created_at: OffsetDateTime,
    last_used_at: Option<OffsetDateTime>,
    revoked_at: Option<OffsetDateTime>,
}

#[derive(Insertable)]
#[diesel(table_name = api_keys)]
struct NewApiKeyRow<'a> {
    id: Uuid,
    workspace_id: Uuid,
    name: &'a str,
    prefix: &'a str,
    key_hash: &'a [u8],
    created_at: OffsetDateTime,
}

impl From<ApiKeyRow> for ApiKey {
    fn from(row: ApiKeyRow) -> Self {
        Self {
            id: ApiKeyId::from_uuid(row.id),
            workspace_id: WorkspaceId::from_uuid(row.workspace_id),
            name: row.name,
            prefix: row.prefix,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// [`ApiKeyRepository`] over PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgApiKeyRepository {
    db: Db,
}

impl PgApiKeyRepository {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl ApiKeyRepository for PgApiKeyRepository {
    async fn insert(&self, key: &ApiKey, hash: &KeyHash) -> Result<(), StoreError> {
        let row = NewApiKeyRow {
            id: key.id.as_uuid(),
            workspace_id: key.workspace_id.as_uuid(),
            name: &key.name,
            prefix: &key.prefix,
            key_hash: &hash.0,
            created_at: key.created_at,
        };
        let mut conn = self.db.conn().await?;
        diesel::insert_into(api_keys::table)
            .values(&row)
            .execute(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(())
    }

    async fn find_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKey>, StoreError> {
        let mut conn = self.db.conn().await?;
        api_keys::table
            .filter(api_keys::key_hash.eq(&hash.0[..]))
            .select(ApiKeyRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map(|row| row.map(ApiKey::from))
            .map_err(from_diesel)
    }

    async fn touch(&self, id: ApiKeyId, at: OffsetDateTime) -> Result<(), StoreError> {
        let mut conn = self.db.conn().await?;
        // Never move the mark backwards when two requests race.
        diesel::update(
            api_keys::table.find(id.as_uuid()).filter(
                api_keys::last_used_at
                    .is_null()
                    .or(api_keys::last_used_at.lt(at)),
            ),
        )
        .set(api_keys::last_used_at.eq(at))
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(())
    }

    async fn list(&self, workspace_id: WorkspaceId) -> Result<Vec<ApiKey>, StoreError> {
        let mut conn = self.db.conn().await?;
        api_keys::table
            .filter(api_keys::workspace_id.eq(workspace_id.as_uuid()))
            .order((api_keys::created_at.asc(), api_keys::id.asc()))
            .select(ApiKeyRow::as_select())
            .load(&mut conn)
            .await
            .map(|rows| rows.into_iter().map(ApiKey::from).collect())
            .map_err(from_diesel)
    }

    async fn revoke(
        &self,
        workspace_id: WorkspaceId,
        id: ApiKeyId,
        at: OffsetDateTime,
    ) -> Result<Option<ApiKey>, StoreError> {
        let mut conn = self.db.conn().await?;
        let scoped = api_keys::table
            .filter(api_keys::workspace_id.eq(workspace_id.as_uuid()))
            .filter(api_keys::id.eq(id.as_uuid()));
        // Keep the first revocation time: revoking twice changes nothing.
        diesel::update(scoped.filter(api_keys::revoked_at.is_null()))
            .set(api_keys::revoked_at.eq(at))
            .execute(&mut conn)
            .await
            .map_err(from_diesel)?;
        scoped
            .select(ApiKeyRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map(|row| row.map(ApiKey::from))
            .map_err(from_diesel)
    }
}
