//! Readiness in PostgreSQL: the database answers and has every embedded migration.

use std::collections::HashSet;

use async_trait::async_trait;
use diesel::QueryableByName;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use reachkit_core::StoreError;
use reachkit_core::health::{NotReady, ReadinessProbe};

use crate::migrate::embedded_versions;
use crate::pool::Db;

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = Text)]
    version: String,
}

/// [`ReadinessProbe`] over the pool.
#[derive(Debug, Clone)]
pub struct PgReadinessProbe {
    db: Db,
}

impl PgReadinessProbe {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl ReadinessProbe for PgReadinessProbe {
    async fn check(&self) -> Result<(), NotReady> {
        let unreachable = |e: StoreError| NotReady::DatabaseUnreachable(e.into());
        let mut conn = self.db.conn().await.map_err(unreachable)?;
        let applied: Vec<Version> =
            match diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
                .load(&mut conn)
                .await
            {
                Ok(rows) => rows,
                // The server answered with an error: the table is missing, nothing is applied.
                Err(DieselError::DatabaseError(kind, _))
                    if !matches!(kind, DatabaseErrorKind::ClosedConnection) =>
                {
                    Vec::new()
                }
                Err(e) => {
                    return Err(NotReady::DatabaseUnreachable(
                        anyhow::Error::new(e).context("readiness query failed"),
                    ));
                }
            };
        let applied: HashSet<String> = applied.into_iter().map(|v| v.version).collect();
        let pending: Vec<String> = embedded_versions()
            .map_err(NotReady::DatabaseUnreachable)?
            .into_iter()
            .filter(|v| !applied.contains(v))
            .collect();
        if pending.is_empty() {
            Ok(())
        } else {
            Err(NotReady::MigrationsPending(pending))
        }
    }
}
