//! Workspaces: the tenants.

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::StoreError;
use crate::clock::Clock;
use crate::ids::WorkspaceId;

/// Longest workspace name accepted.
pub const MAX_NAME_LEN: usize = 150;

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// Where workspaces are kept.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait WorkspaceRepository: Send + Sync {
    /// Stores a new workspace.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn insert(&self, workspace: &Workspace) -> Result<(), StoreError>;

    /// The workspace with this id, if any.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn get(&self, id: WorkspaceId) -> Result<Option<Workspace>, StoreError>;
}

/// Why a workspace could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateWorkspaceError {
    #[error("name must not be empty")]
    EmptyName,
    #[error("name must be at most {MAX_NAME_LEN} characters")]
    NameTooLong,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates and reads workspaces.
#[derive(Clone)]
pub struct WorkspaceService {
    repo: Arc<dyn WorkspaceRepository>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for WorkspaceService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkspaceService").finish_non_exhaustive()
    }
}

impl WorkspaceService {
    #[must_use]
    pub fn new(repo: Arc<dyn WorkspaceRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { repo, clock }
    }

    /// Creates a workspace with a trimmed, non-empty name of at most 150 characters.
    ///
    /// # Errors
    /// [`CreateWorkspaceError`] naming what is wrong, or the store's failure.
    pub async fn create(&self, name: &str) -> Result<Workspace, CreateWorkspaceError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(CreateWorkspaceError::EmptyName);
        }
        if name.chars().count() > MAX_NAME_LEN {
            return Err(CreateWorkspaceError::NameTooLong);
        }
        let now = self.clock.now();
        let workspace = Workspace {
            id: WorkspaceId::new(),
            name: name.to_owned(),
            created_at: now,
            updated_at: now,
        };
        self.repo.insert(&workspace).await?;
        Ok(workspace)
    }

    /// The workspace with this id, if any.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn get(&self, id: WorkspaceId) -> Result<Option<Workspace>, StoreError> {
        self.repo.get(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MockClock;
    use time::macros::datetime;

    fn fixed_clock() -> Arc<dyn Clock> {
        let mut clock = MockClock::new();
        clock
            .expect_now()
            .return_const(datetime!(2026-11-30 12:00 UTC));
        Arc::new(clock)
    }

    #[tokio::test]
    async fn create_trims_the_name_and_stores_the_workspace() {
        let mut repo = MockWorkspaceRepository::new();
        repo.expect_insert()
            .withf(|w| w.name == "Acme Sales" && w.created_at == datetime!(2026-11-30 12:00 UTC))
            .times(1)
            .returning(|_| Ok(()));
        let service = WorkspaceService::new(Arc::new(repo), fixed_clock());
        let created = service.create("  Acme Sales ").await;
        assert!(matches!(created, Ok(w) if w.name == "Acme Sales"));
    }

    #[tokio::test]
    async fn create_refuses_empty_and_overlong_names_without_storing() {
        let mut repo = MockWorkspaceRepository::new();
        repo.expect_insert().never();
        let service = WorkspaceService::new(Arc::new(repo), fixed_clock());
        assert!(matches!(
            service.create("   ").await,
            Err(CreateWorkspaceError::EmptyName)
        ));
        assert!(matches!(
            service.create(&"x".repeat(151)).await,
            Err(CreateWorkspaceError::NameTooLong)
        ));
    }
}
