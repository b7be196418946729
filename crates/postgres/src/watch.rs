//! IMAP IDLE's store (docs/SYNC.md, "IDLE"): watch leases (`inbox_watches`: one process holds an
//! inbox's IDLE connection) and wake requests (`inbox_sync_leases.wake_requested_at`: the next
//! sync step claims the inbox at once).

use async_trait::async_trait;
use diesel::sql_types::{BigInt, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use reachkit_core::StoreError;
use reachkit_core::ids::InboxId;
use reachkit_core::inbox_watch::WatchStore;
use reachkit_core::sync::SyncInbox;
use time::OffsetDateTime;

use crate::error::from_diesel;
use crate::pool::Db;
use crate::sync::InboxRow;

/// [`WatchStore`] over PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgWatchStore {
    db: Db,
}

impl PgWatchStore {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

// The watchable inboxes (active, connected) whose watch is ours, free or expired, ours first,
// up to $4; taken or renewed by an upsert that only overwrites our own or an expired lease (two
// processes racing for one inbox: the second sees the first's fresh lease and skips it). Our
// leases of inboxes that are no longer watchable, or beyond the limit, are dropped.
const CLAIM_WATCHES: &str = "\
WITH candidates AS (
    SELECT i.id FROM inboxes i
    LEFT JOIN inbox_watches w ON w.inbox_id = i.id
    WHERE i.is_active AND i.connection_status = 'connected'
      AND (w.inbox_id IS NULL OR w.owner = $1 OR w.expires_at <= $2)
    ORDER BY (w.owner IS NOT DISTINCT FROM $1) DESC, i.id
    LIMIT $4
), taken AS (
    INSERT INTO inbox_watches (inbox_id, owner, expires_at)
    SELECT id, $1, $3 FROM candidates
    ON CONFLICT (inbox_id) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
    WHERE inbox_watches.owner = $1 OR inbox_watches.expires_at <= $2
    RETURNING inbox_id
), dropped AS (
    DELETE FROM inbox_watches
    WHERE owner = $1 AND inbox_id NOT IN (SELECT inbox_id FROM taken)
)
SELECT i.id, i.workspace_id, i.email, i.imap_host, i.imap_port, i.imap_security,
       i.imap_username, i.imap_password
FROM inboxes i JOIN taken t ON t.inbox_id = i.id
ORDER BY i.id";

#[async_trait]
impl WatchStore for PgWatchStore {
    async fn claim_watches(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<SyncInbox>, StoreError> {
        let mut conn = self.db.conn().await?;
        let rows: Vec<InboxRow> = diesel::sql_query(CLAIM_WATCHES)
            .bind::<Text, _>(owner)
            .bind::<Timestamptz, _>(now)
            .bind::<Timestamptz, _>(lease_until)
            .bind::<BigInt, _>(limit)
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        rows.into_iter().map(InboxRow::into_sync_inbox).collect()
    }

    async fn wake(&self, inbox: InboxId, now: OffsetDateTime) -> Result<(), StoreError> {
        let mut conn = self.db.conn().await?;
        // The inbox may be gone (deleted meanwhile): nothing to wake then.
        diesel::sql_query(
            "INSERT INTO inbox_sync_leases (inbox_id, wake_requested_at) \
             SELECT id, $2 FROM inboxes WHERE id = $1 \
             ON CONFLICT (inbox_id) DO UPDATE SET wake_requested_at = EXCLUDED.wake_requested_at",
        )
        .bind::<SqlUuid, _>(inbox.as_uuid())
        .bind::<Timestamptz, _>(now)
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(())
    }

    async fn release_watches(&self, owner: &str) -> Result<(), StoreError> {
        let mut conn = self.db.conn().await?;
        diesel::sql_query("DELETE FROM inbox_watches WHERE owner = $1")
            .bind::<Text, _>(owner)
            .execute(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(())
    }
}
