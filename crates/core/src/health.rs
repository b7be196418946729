//! Health and readiness: is the process alive, and can it serve (database reachable, schema
//! current)?

use std::sync::Arc;

use async_trait::async_trait;

/// Why the service is not ready to serve.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    /// No connection to the database could be had.
    #[error("database unreachable")]
    DatabaseUnreachable(#[source] anyhow::Error),
    /// The database answers but misses migrations this build embeds.
    #[error("{} migrations pending", .0.len())]
    MigrationsPending(Vec<String>),
}

/// Checks what the service needs to answer requests.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ReadinessProbe: Send + Sync {
    /// MUST reach the database (one round trip) and compare the migrations it has applied with
    /// the ones this build embeds: `Ok` only when it answers and none is pending.
    ///
    /// # Errors
    /// [`NotReady`] naming what is wrong.
    async fn check(&self) -> Result<(), NotReady>;
}

/// The readiness use case (`GET /readyz`).
#[derive(Clone)]
pub struct HealthService {
    probe: Arc<dyn ReadinessProbe>,
}

impl std::fmt::Debug for HealthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthService").finish_non_exhaustive()
    }
}

impl HealthService {
    #[must_use]
    pub fn new(probe: Arc<dyn ReadinessProbe>) -> Self {
        Self { probe }
    }

    /// Whether the service can serve requests now.
    ///
    /// # Errors
    /// [`NotReady`] naming what is wrong.
    pub async fn ready(&self) -> Result<(), NotReady> {
        self.probe.check().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readiness_is_what_the_probe_finds() {
        let mut probe = MockReadinessProbe::new();
        probe
            .expect_check()
            .times(1)
            .returning(|| Err(NotReady::MigrationsPending(vec!["20261130000007".into()])));
        let result = HealthService::new(Arc::new(probe)).ready().await;
        assert!(matches!(result, Err(NotReady::MigrationsPending(v)) if v.len() == 1));
    }
}
