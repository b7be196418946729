//! Operational metrics from PostgreSQL: a handful of aggregate queries per scrape.

use async_trait::async_trait;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use reachkit_core::StoreError;
use reachkit_core::ids::InboxId;
use reachkit_core::metrics::{MetricsSource, StoreSnapshot};
use time::OffsetDateTime;

use crate::error::from_diesel;
use crate::pool::Db;

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Nullable<Double>)]
    oldest_age: Option<f64>,
}

#[derive(QueryableByName)]
struct Lag {
    #[diesel(sql_type = SqlUuid)]
    inbox_id: uuid::Uuid,
    #[diesel(sql_type = Double)]
    lag: f64,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

/// [`MetricsSource`] over PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgMetricsSource {
    db: Db,
}

impl PgMetricsSource {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl MetricsSource for PgMetricsSource {
    async fn snapshot(&self, now: OffsetDateTime) -> Result<StoreSnapshot, StoreError> {
        let mut conn = self.db.conn().await?;
        let sends: Vec<Counted> =
            diesel::sql_query("SELECT status AS name, count(*) AS n FROM sends GROUP BY status")
                .load(&mut conn)
                .await
                .map_err(from_diesel)?;
        let due: Due = diesel::sql_query(
            "SELECT count(*) AS n, \
                    extract(epoch FROM ($1 - min(not_before)))::float8 AS oldest_age \
             FROM sends WHERE status IN ('queued', 'deferred') AND not_before <= $1",
        )
        .bind::<Timestamptz, _>(now)
        .get_result(&mut conn)
        .await
        .map_err(from_diesel)?;
        let replies: Vec<Counted> = diesel::sql_query(
            "SELECT kind AS name, count(*) AS n FROM messages \
             WHERE kind IN ('reply', 'auto_reply') GROUP BY kind",
        )
        .load(&mut conn)
        .await
        .map_err(from_diesel)?;
        let lags: Vec<Lag> = diesel::sql_query(
            "SELECT inbox_id, greatest(extract(epoch FROM ($1 - last_synced_at))::float8, 0) AS lag \
             FROM inbox_sync_leases WHERE last_synced_at IS NOT NULL ORDER BY inbox_id",
        )
        .bind::<Timestamptz, _>(now)
        .load(&mut conn)
        .await
        .map_err(from_diesel)?;
        let webhooks: Vec<Counted> = diesel::sql_query(
            "SELECT status AS name, count(*) AS n FROM webhook_deliveries GROUP BY status",
        )
        .load(&mut conn)
        .await
        .map_err(from_diesel)?;
        let disabled: Counted = diesel::sql_query(
            "SELECT 'disabled' AS name, count(*) AS n FROM webhook_endpoints WHERE NOT enabled",
        )
        .get_result(&mut conn)
        .await
        .map_err(from_diesel)?;
        drop(conn);
        Ok(StoreSnapshot {
            sends_by_status: sends.into_iter().map(|c| (c.name, count(c.n))).collect(),
            due_sends: count(due.n),
            oldest_due_age_seconds: due.oldest_age.unwrap_or(0.0).max(0.0),
            replies_by_kind: replies.into_iter().map(|c| (c.name, count(c.n))).collect(),
            sync_lag_seconds: lags
                .into_iter()
                .map(|l| (InboxId::from_uuid(l.inbox_id), l.lag))
                .collect(),
            webhook_deliveries_by_status: webhooks
                .into_iter()
                .map(|c| (c.name, count(c.n)))
                .collect(),
            webhook_endpoints_disabled: count(disabled.n),
            pool: self.db.usage(),
        })
    }
}
