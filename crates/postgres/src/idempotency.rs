//! Idempotency keys in PostgreSQL: one row per workspace and key, reserved while the request
//! runs, then holding its response until it expires.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use reachkit_core::StoreError;
use reachkit_core::idempotency::{Begin, IdempotencyStore, KeyedRequest, StoredResponse};
use reachkit_core::ids::WorkspaceId;
use serde_json::Value;
use time::OffsetDateTime;

use crate::error::{TxError, corrupt, from_diesel};
use crate::pool::Db;
use crate::schema::idempotency_keys as keys;

#[derive(Insertable)]
#[diesel(table_name = keys, check_for_backend(diesel::pg::Pg))]
struct NewKeyRow<'a> {
    workspace_id: uuid::Uuid,
    key: &'a str,
    request_hash: &'a [u8],
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = keys, check_for_backend(diesel::pg::Pg))]
struct KeyRow {
    request_hash: Vec<u8>,
    response_status: Option<i16>,
    response_headers: Option<Value>,
    response_body: Option<Vec<u8>>,
}

impl KeyRow {
    fn into_begin(self, request_hash: &[u8]) -> Result<Begin, StoreError> {
        if self.request_hash != request_hash {
            return Ok(Begin::Mismatch);
        }
        let Some(status) = self.response_status else {
            return Ok(Begin::InFlight);
        };
        let status = u16::try_from(status).map_err(|_| corrupt("negative response status"))?;
        let headers: Vec<(String, String)> =
            serde_json::from_value(self.response_headers.unwrap_or(Value::Array(vec![])))
                .map_err(|e| corrupt(format!("stored response headers: {e}")))?;
        Ok(Begin::Replay(StoredResponse {
            status,
            headers,
            body: self.response_body.unwrap_or_default(),
        }))
    }
}

/// [`IdempotencyStore`] over PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgIdempotencyStore {
    db: Db,
}

impl PgIdempotencyStore {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl IdempotencyStore for PgIdempotencyStore {
    async fn begin(&self, request: &KeyedRequest) -> Result<Begin, StoreError> {
        let ws = request.workspace_id.as_uuid();
        let mut conn = self.db.conn().await?;
        Ok(conn
            .transaction::<_, TxError, _>(async |c| {
                // Expired keys of this workspace go on every use (the index makes it cheap);
                // this key's abandoned reservation (a dead process's) is taken over.
                diesel::delete(
                    keys::table.filter(keys::workspace_id.eq(ws)).filter(
                        keys::expires_at.le(request.now).or(keys::key
                            .eq(&request.key)
                            .and(keys::response_status.is_null())
                            .and(keys::created_at.lt(request.stale_before))),
                    ),
                )
                .execute(c)
                .await?;
                let inserted = diesel::insert_into(keys::table)
                    .values(NewKeyRow {
                        workspace_id: ws,
                        key: &request.key,
                        request_hash: &request.request_hash,
                        created_at: request.now,
                        expires_at: request.expires_at,
                    })
                    .on_conflict((keys::workspace_id, keys::key))
                    .do_nothing()
                    .execute(c)
                    .await?;
                if inserted == 1 {
                    return Ok(Begin::Started);
                }
                // Another request holds the key (committed: the insert waited for it).
                let existing = keys::table
                    .filter(keys::workspace_id.eq(ws))
                    .filter(keys::key.eq(&request.key))
                    .select(KeyRow::as_select())
                    .first(c)
                    .await
                    .optional()?;
                match existing {
                    Some(row) => Ok(row.into_begin(&request.request_hash)?),
                    // Released between the two statements: its owner failed; report it busy
                    // and let the client retry.
                    None => Ok(Begin::InFlight),
                }
            })
            .await?)
    }

    async fn complete(
        &self,
        workspace_id: WorkspaceId,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        let headers = serde_json::to_value(&response.headers)
            .map_err(|e| StoreError::Other(anyhow::Error::new(e)))?;
        let mut conn = self.db.conn().await?;
        diesel::update(
            keys::table
                .filter(keys::workspace_id.eq(workspace_id.as_uuid()))
                .filter(keys::key.eq(key))
                .filter(keys::response_status.is_null()),
        )
        .set((
            keys::response_status.eq(i16::try_from(response.status).unwrap_or(i16::MAX)),
            keys::response_headers.eq(headers),
            keys::response_body.eq(&response.body),
        ))
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(())
    }

    async fn abandon(&self, workspace_id: WorkspaceId, key: &str) -> Result<(), StoreError> {
        let mut conn = self.db.conn().await?;
        diesel::delete(
            keys::table
                .filter(keys::workspace_id.eq(workspace_id.as_uuid()))
                .filter(keys::key.eq(key))
                .filter(keys::response_status.is_null()),
        )
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(())
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut conn = self.db.conn().await?;
        let deleted = diesel::delete(keys::table.filter(keys::expires_at.le(now)))
            .execute(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(u64::try_from(deleted).unwrap_or_default())
    }
}
