//! Operational metrics read from the store: the send queue, outcomes, replies, sync lag and the
//! connection pool (`GET /metrics`).

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::StoreError;
use crate::clock::Clock;
use crate::ids::InboxId;

/// The connection pool right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolUsage {
    /// Connections open (in use plus idle).
    pub open: u64,
    /// Open connections idle in the pool.
    pub idle: u64,
    /// The pool's ceiling (`database.max_connections`).
    pub max: u64,
    /// Callers waiting for a connection.
    pub waiting: u64,
}

/// What the store reports, for every workspace together (no tenant data, no addresses).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreSnapshot {
    /// Sends by status (`queued`, `sending`, `sent`, `bounced`, `failed`, ...).
    pub sends_by_status: Vec<(String, u64)>,
    /// Queued or deferred sends whose time has come.
    pub due_sends: u64,
    /// Seconds since the oldest due send became due (0 without any).
    pub oldest_due_age_seconds: f64,
    /// Inbound replies by kind (`reply`, `auto_reply`).
    pub replies_by_kind: Vec<(String, u64)>,
    /// Seconds since each inbox was last synced (inboxes synced at least once).
    pub sync_lag_seconds: Vec<(InboxId, f64)>,
    /// Webhook deliveries by status (`pending`, `delivered`, `failed`).
    pub webhook_deliveries_by_status: Vec<(String, u64)>,
    /// Webhook endpoints disabled (by the client or after persistent failure).
    pub webhook_endpoints_disabled: u64,
    pub pool: PoolUsage,
}

/// Reads the operational numbers.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MetricsSource: Send + Sync {
    /// MUST read every number as of `now` with a few aggregate queries (no per-row work in the
    /// application), across all workspaces.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn snapshot(&self, now: OffsetDateTime) -> Result<StoreSnapshot, StoreError>;
}

/// The metrics use case.
#[derive(Clone)]
pub struct MetricsService {
    source: Arc<dyn MetricsSource>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for MetricsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsService").finish_non_exhaustive()
    }
}

impl MetricsService {
    #[must_use]
    pub fn new(source: Arc<dyn MetricsSource>, clock: Arc<dyn Clock>) -> Self {
        Self { source, clock }
    }

    /// The store's numbers now.
    ///
    /// # Errors
    /// The store's failure.
    pub async fn snapshot(&self) -> Result<StoreSnapshot, StoreError> {
        self.source.snapshot(self.clock.now()).await
    }
}
