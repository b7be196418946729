//! Embedded migrations, applied with diesel's synchronous harness over diesel-async.

use diesel::Connection;
use diesel::RunQueryDsl;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");
/// Serialises migrations across processes: two servers starting at once must not both migrate.
const MIGRATION_LOCK_KEY: i64 = 0x7265_6163_686b_6974; // "reachkit"

/// Why migrations could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("migration failed: {0}")]
    Failed(String),
}

/// Applies every pending migration to the database at `url`; returns the versions applied.
///
/// Holds a PostgreSQL advisory lock while it runs, so concurrent callers wait for each other
/// and the second finds nothing left to do.
///
/// # Errors
/// [`MigrationError`] when the database cannot be reached or a migration fails.
pub async fn run_migrations(url: &str) -> Result<Vec<String>, MigrationError> {
    let url = url.to_owned();
    // The wrapper blocks on its own runtime: it must run on a blocking thread, never on a
    // runtime worker (and diesel-async's async harness panics on a current-thread runtime).
    tokio::task::spawn_blocking(move || {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .map_err(|e| MigrationError::Connect(e.to_string()))?;
        diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
            .execute(&mut conn)
            .map_err(|e| MigrationError::Failed(e.to_string()))?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|e| MigrationError::Failed(e.to_string()));
        // The lock is released with the session anyway; unlock explicitly to be prompt.
        let _unlocked =
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
                .execute(&mut conn);
        applied
    })
    .await
    .map_err(|e| MigrationError::Failed(format!("migration task failed: {e}")))?
}

/// The versions of the migrations this build embeds, as diesel records them once applied.
///
/// # Errors
/// When the embedded migrations cannot be listed (a build defect).
pub(crate) fn embedded_versions() -> anyhow::Result<Vec<String>> {
    let migrations = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("cannot list the embedded migrations: {e}"))?;
    Ok(migrations
        .iter()
        .map(|m| m.name().version().to_string())
        .collect())
}
