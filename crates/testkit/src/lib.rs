//! Test support for Reachkit (a dev-dependency only).
//!
//! - [`TestDatabase`]: a fresh, migrated PostgreSQL database per test, copied from a template
//!   database that is migrated once per cluster. The server comes from `DATABASE_URL` (an admin
//!   URL, e.g. `postgres://postgres@127.0.0.1:5432/postgres`); `scripts/test` starts a throwaway
//!   cluster and sets it. Without it, database tests fail: they never pass vacuously.
//! - [`SettableClock`]: a clock that tests set and advance, so no test sleeps for time to pass.
//! - [`insert_inbox`] and [`execute`]: raw rows for tests that need data no API writes yet
//!   (an inbox, counters maintained by the sending engine).
//! - [`insert_campaign`], [`attach_inbox`] and [`lead_counters`]: campaign rows, attachments and
//!   lead counters for inbox and lead tests.
//! - [`mailstack::MailStack`]: the private mail servers that `scripts/test` starts
//!   (`scripts/mailstack`), with helpers to send over SMTP and read over IMAP.
//! - [`binary`]: the real `reachkit` binary in end-to-end tests (a clean command, a workspace
//!   with a key, a running server, JSON requests).

pub mod binary;
pub mod mailstack;

use std::sync::Mutex;

use diesel::sql_types::{BigInt, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reachkit_core::clock::Clock;
use reachkit_core::ids::{CampaignId, InboxId, WorkspaceId};
use reachkit_postgres::{Db, PoolSettings, run_migrations};
use time::{Duration, OffsetDateTime};

const TEMPLATE: &str = "reachkit_test_template";
const TEMPLATE_LOCK_KEY: i64 = 0x7274_6573_7474_706c;

/// A fresh database with every migration applied, private to one test.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    /// The connection URL of this database.
    pub url: String,
    /// A pool on it.
    pub db: Db,
}

/// The admin URL of the test cluster.
///
/// # Errors
/// When `DATABASE_URL` is not set: run the tests through `scripts/test`, or set it.
pub fn admin_url() -> anyhow::Result<String> {
    std::env::var("DATABASE_URL").map_err(|_| {
        anyhow::anyhow!(
            "DATABASE_URL is not set: database tests need a PostgreSQL server. \
             Run them with scripts/test, which starts a throwaway cluster, or set DATABASE_URL \
             to an admin URL such as postgres://postgres@127.0.0.1:5432/postgres"
        )
    })
}

/// The same server URL with another database name.
#[must_use]
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{database}?{q}"),
        None => format!("{server}/{database}"),
    }
}

#[derive(diesel::QueryableByName)]
struct Exists {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl TestDatabase {
    /// Creates a new database from the migrated template (creating the template first if this
    /// cluster has none yet) and connects a small pool to it.
    ///
    /// # Errors
    /// When the server is unreachable or a migration fails.
    pub async fn create() -> anyhow::Result<Self> {
        let admin = admin_url()?;
        let mut conn = AsyncPgConnection::establish(&admin).await?;
        // One test process creates the template; the others wait on the lock and then copy it.
        diesel::sql_query(format!("SELECT pg_advisory_lock({TEMPLATE_LOCK_KEY})"))
            .execute(&mut conn)
            .await?;
        let exists: Exists =
            diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
                .bind::<Text, _>(TEMPLATE)
                .get_result(&mut conn)
                .await?;
        if exists.n == 0 {
            diesel::sql_query(format!("CREATE DATABASE {TEMPLATE}"))
                .execute(&mut conn)
                .await?;
            run_migrations(&with_database(&admin, TEMPLATE)).await?;
        }
        let name = format!("reachkit_test_{}", uuid::Uuid::new_v4().simple());
        let created = diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))
            .execute(&mut conn)
            .await;
        diesel::sql_query(format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK_KEY})"))
            .execute(&mut conn)
            .await?;
        created?;
        let url = with_database(&admin, &name);
        // A template made before a newer migration existed is brought up to date here.
        run_migrations(&url).await?;
        let db = Db::connect(
            &url,
            PoolSettings {
                max_connections: 4,
                ..PoolSettings::default()
            },
        )
        .await?;
        Ok(Self { url, db })
    }
}

/// Inserts a draft campaign (with its zeroed `campaign_stats` row) directly, for tests of
/// resources that hang off campaigns. Timestamps are the current time.
///
/// # Errors
/// When the database refuses the rows.
pub async fn insert_campaign(
    db: &TestDatabase,
    workspace_id: WorkspaceId,
    name: &str,
) -> anyhow::Result<CampaignId> {
    let id = CampaignId::new();
    let mut conn = AsyncPgConnection::establish(&db.url).await?;
    diesel::sql_query(
        "INSERT INTO campaigns (id, workspace_id, name, schedule_days, created_at, updated_at)
         VALUES ($1, $2, $3, '{}'::jsonb, now(), now())",
    )
    .bind::<SqlUuid, _>(id.as_uuid())
    .bind::<SqlUuid, _>(workspace_id.as_uuid())
    .bind::<Text, _>(name)
    .execute(&mut conn)
    .await?;
    diesel::sql_query("INSERT INTO campaign_stats (campaign_id, workspace_id) VALUES ($1, $2)")
        .bind::<SqlUuid, _>(id.as_uuid())
        .bind::<SqlUuid, _>(workspace_id.as_uuid())
        .execute(&mut conn)
        .await?;
    Ok(id)
}

/// Attaches an inbox to a campaign directly (a `campaign_inboxes` row).
///
/// # Errors
/// When the database refuses the row.
pub async fn attach_inbox(
    db: &TestDatabase,
    workspace_id: WorkspaceId,
    campaign_id: CampaignId,
    inbox_id: InboxId,
) -> anyhow::Result<()> {
    let mut conn = AsyncPgConnection::establish(&db.url).await?;
    diesel::sql_query(
        "INSERT INTO campaign_inboxes (campaign_id, inbox_id, workspace_id, created_at)
         VALUES ($1, $2, $3, now())",
    )
    .bind::<SqlUuid, _>(campaign_id.as_uuid())
    .bind::<SqlUuid, _>(inbox_id.as_uuid())
    .bind::<SqlUuid, _>(workspace_id.as_uuid())
    .execute(&mut conn)
    .await?;
    Ok(())
}

/// The campaign's `(leads_count, finished_leads)` counters.
///
/// # Errors
/// When the campaign has no counters row or the query fails.
pub async fn lead_counters(
    db: &TestDatabase,
    campaign_id: CampaignId,
) -> anyhow::Result<(i64, i64)> {
    #[derive(diesel::QueryableByName)]
    struct Counters {
        #[diesel(sql_type = BigInt)]
        leads_count: i64,
        #[diesel(sql_type = BigInt)]
        finished_leads: i64,
    }
    let mut conn = AsyncPgConnection::establish(&db.url).await?;
    let c: Counters = diesel::sql_query(
        "SELECT leads_count, finished_leads FROM campaign_stats WHERE campaign_id = $1",
    )
    .bind::<SqlUuid, _>(campaign_id.as_uuid())
    .get_result(&mut conn)
    .await?;
    Ok((c.leads_count, c.finished_leads))
}

/// Inserts an IMAP/SMTP inbox row (dummy hosts, security `none`, no passwords) for a test that
/// needs an inbox before or without the inbox API; returns its id.
///
/// # Errors
/// When the database cannot be reached or the row is refused (e.g. a duplicate address).
pub async fn insert_inbox(
    url: &str,
    workspace_id: uuid::Uuid,
    email: &str,
    connection_status: &str,
) -> anyhow::Result<uuid::Uuid> {
    let id = uuid::Uuid::now_v7();
    let domain = email.rsplit_once('@').map_or("", |(_, d)| d).to_owned();
    let mut conn = AsyncPgConnection::establish(url).await?;
    diesel::sql_query(
        "INSERT INTO inboxes (id, workspace_id, email, domain, connection_status, \
         smtp_host, smtp_port, smtp_security, imap_host, imap_port, imap_security, \
         created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, '127.0.0.1', 25, 'none', '127.0.0.1', 143, 'none', \
         now(), now())",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .bind::<diesel::sql_types::Uuid, _>(workspace_id)
    .bind::<Text, _>(email)
    .bind::<Text, _>(domain)
    .bind::<Text, _>(connection_status)
    .execute(&mut conn)
    .await?;
    Ok(id)
}

/// Runs one SQL statement (e.g. setting counters the sending engine will maintain); returns
/// the number of rows it touched.
///
/// # Errors
/// When the database cannot be reached or the statement fails.
pub async fn execute(url: &str, sql: &str) -> anyhow::Result<usize> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    Ok(diesel::sql_query(sql).execute(&mut conn).await?)
}

/// A clock that stands still until a test moves it.
#[derive(Debug)]
pub struct SettableClock {
    now: Mutex<OffsetDateTime>,
}

impl SettableClock {
    #[must_use]
    pub fn new(now: OffsetDateTime) -> Self {
        Self {
            now: Mutex::new(now),
        }
    }

    /// Sets the time.
    pub fn set(&self, now: OffsetDateTime) {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = now;
    }

    /// Moves the time forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *now += by;
    }
}

impl Clock for SettableClock {
    fn now(&self) -> OffsetDateTime {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn with_database_replaces_only_the_database_name() {
        assert_eq!(
            with_database("postgres://u@h:5/postgres", "x"),
            "postgres://u@h:5/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h:5/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h:5", "x"), "postgres://u@h:5/x");
    }
}
