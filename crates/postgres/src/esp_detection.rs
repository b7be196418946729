//! ESP detection's storage: claiming email domains of leads whose provider is unknown, and
//! setting the provider of every lead at a domain.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamptz};
use diesel_async::RunQueryDsl;
use reachkit_core::StoreError;
use reachkit_core::esp_detection::EspDetectionRepository;
use reachkit_domain::esp::Provider;
use time::OffsetDateTime;

use crate::error::from_diesel;
use crate::pool::Db;
use crate::schema::leads;

/// [`EspDetectionRepository`] over PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgEspDetectionRepository {
    db: Db,
}

impl PgEspDetectionRepository {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

/// Picks up to $3 domains with unclaimed (or stale) unknown leads, then stamps those leads with
/// the claim time. Rows another claimer holds are skipped (no waiting, no deadlock); a domain
/// split between two claimers is resolved twice, harmlessly (same answer, same update).
const CLAIM_SQL: &str = "
WITH picked AS (
    SELECT DISTINCT email_domain FROM leads
    WHERE provider IS NULL
      AND (provider_checked_at IS NULL OR provider_checked_at <= $2)
    LIMIT $3
), claimed AS (
    UPDATE leads SET provider_checked_at = $1
    WHERE id IN (
        SELECT id FROM leads
        WHERE provider IS NULL
          AND email_domain IN (SELECT email_domain FROM picked)
          AND (provider_checked_at IS NULL OR provider_checked_at <= $2)
        FOR UPDATE SKIP LOCKED
    )
    RETURNING email_domain
)
SELECT DISTINCT email_domain FROM claimed ORDER BY email_domain";

#[derive(QueryableByName)]
struct DomainRow {
    #[diesel(sql_type = Text)]
    email_domain: String,
}

#[async_trait]
impl EspDetectionRepository for PgEspDetectionRepository {
    async fn claim_domains(
        &self,
        now: OffsetDateTime,
        stale_before: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.db.conn().await?;
        let rows: Vec<DomainRow> = diesel::sql_query(CLAIM_SQL)
            .bind::<Timestamptz, _>(now)
            .bind::<Timestamptz, _>(stale_before)
            .bind::<BigInt, _>(limit)
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(rows.into_iter().map(|r| r.email_domain).collect())
    }

    async fn set_provider(
        &self,
        domain: &str,
        provider: Provider,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let mut conn = self.db.conn().await?;
        // updated_at is left alone: it tracks changes made through the API (docs/ENGINE.md).
        let changed = diesel::update(
            leads::table
                .filter(leads::email_domain.eq(domain))
                .filter(leads::provider.is_null()),
        )
        .set((
            leads::provider.eq(provider.as_str()),
            leads::provider_checked_at.eq(now),
        ))
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(u64::try_from(changed).unwrap_or_default())
    }
}
