//! The connection pool shared by every repository.

use std::time::Duration;

use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use reachkit_core::StoreError;

use crate::error::from_pool;

/// How the pool is sized and how long a caller waits for a connection.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: usize,
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// A handle on the database: cheap to clone, shared by all repositories.
#[derive(Clone)]
pub struct Db {
    pool: Pool<AsyncPgConnection>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool.status();
        f.debug_struct("Db")
            .field("size", &status.size)
            .field("available", &status.available)
            .finish()
    }
}

impl Db {
    /// Builds the pool and checks that the database answers.
    ///
    /// # Errors
    /// When the pool cannot be built or no connection can be made.
    pub async fn connect(url: &str, settings: PoolSettings) -> anyhow::Result<Self> {
        let db = Self::connect_lazily(url, settings)?;
        let _check = db
            .conn()
            .await
            .map_err(|e| anyhow::Error::new(e).context("cannot connect to the database"))?;
        Ok(db)
    }

    /// Builds the pool without connecting: the first use connects (or fails with
    /// [`StoreError::Unavailable`]). For readiness checks against a database that may be down.
    ///
    /// # Errors
    /// When the pool cannot be built (a malformed setting).
    pub fn connect_lazily(url: &str, settings: PoolSettings) -> anyhow::Result<Self> {
        // Fast recycling: a pooled connection is not pinged before each use (the default costs a
        // round trip per checkout); a connection that broke is marked broken by diesel-async and
        // dropped by the pool, and the request that found it fails with 503 once.
        let mut config = ManagerConfig::<AsyncPgConnection>::default();
        config.recycling_method = RecyclingMethod::Fast;
        let manager =
            AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
        let pool = Pool::builder(manager)
            .max_size(settings.max_connections)
            .wait_timeout(Some(settings.acquire_timeout))
            .create_timeout(Some(settings.acquire_timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()?;
        Ok(Self { pool })
    }

    /// How the pool is used right now.
    #[must_use]
    pub fn usage(&self) -> reachkit_core::metrics::PoolUsage {
        let status = self.pool.status();
        let as_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        reachkit_core::metrics::PoolUsage {
            open: as_u64(status.size),
            idle: as_u64(status.available),
            max: as_u64(status.max_size),
            waiting: as_u64(status.waiting),
        }
    }

    /// A connection from the pool.
    pub(crate) async fn conn(&self) -> Result<Object<AsyncPgConnection>, StoreError> {
        self.pool.get().await.map_err(from_pool)
    }
}
