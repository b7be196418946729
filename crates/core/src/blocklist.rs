//! The blocklist: addresses a workspace never sends to, whenever they were added.

use std::sync::Arc;

use async_trait::async_trait;
use reachkit_domain::email::{EmailAddress, EmailError};
use time::OffsetDateTime;

use crate::StoreError;
use crate::clock::Clock;
use crate::ids::{BlocklistEntryId, WorkspaceId};
use crate::paging::{Page, PageRequest, SortOrder};

/// One blocked address of a workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlocklistEntry {
    pub id: BlocklistEntryId,
    pub workspace_id: WorkspaceId,
    pub email: EmailAddress,
    pub created_at: OffsetDateTime,
}

/// The fields a blocklist listing can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BlocklistSort {
    #[default]
    CreatedAt,
    Email,
}

impl BlocklistSort {
    /// The names accepted in `sort_by`.
    pub const ALLOWED: &'static [&'static str] = &["created_at", "email"];

    /// Parses a `sort_by` value from the allowlist.
    #[must_use]
    pub fn parse(input: &str) -> Option<Self> {
        match input {
            "created_at" => Some(Self::CreatedAt),
            "email" => Some(Self::Email),
            _ => None,
        }
    }
}

/// A listing request: page, optional search term, sort.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListQuery<S> {
    pub page: PageRequest,
    /// A trimmed, non-empty term matched case-insensitively anywhere in the text searched.
    pub search: Option<String>,
    pub sort: S,
    pub order: SortOrder,
}

impl<S> ListQuery<S> {
    /// Normalises a raw search term: trimmed, and `None` when nothing is left.
    #[must_use]
    pub fn search_term(raw: Option<&str>) -> Option<String> {
        raw.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_lowercase)
    }
}

/// What an add did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    pub entry: BlocklistEntry,
    /// False when the address was already blocked and the existing entry is returned.
    pub created: bool,
}

/// Where blocklist entries are kept. Every method is scoped to one workspace.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait BlocklistRepository: Send + Sync {
    /// Stores `entry` unless its workspace already blocks the address; then MUST return the
    /// existing entry with `created: false`. Safe under concurrent adds of the same address.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn add(&self, entry: &BlocklistEntry) -> Result<Added, StoreError>;

    /// Whether the workspace blocks this address.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn is_blocked(
        &self,
        workspace_id: WorkspaceId,
        email: &EmailAddress,
    ) -> Result<bool, StoreError>;

    /// Deletes the entry if it belongs to the workspace; MUST return whether one was deleted.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn delete(
        &self,
        workspace_id: WorkspaceId,
        id: BlocklistEntryId,
    ) -> Result<bool, StoreError>;

    /// One page of the workspace's entries matching the query, with the total count.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn list(
        &self,
        workspace_id: WorkspaceId,
        query: &ListQuery<BlocklistSort>,
    ) -> Result<Page<BlocklistEntry>, StoreError>;
}

/// Why a blocklist operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlocklistError {
    #[error("email {0}")]
    InvalidEmail(EmailError),
    #[error("blocklist entry not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The blocklist use cases.
#[derive(Clone)]
pub struct BlocklistService {
    repo: Arc<dyn BlocklistRepository>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for BlocklistService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlocklistService").finish_non_exhaustive()
    }
}

impl BlocklistService {
    #[must_use]
    pub fn new(repo: Arc<dyn BlocklistRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { repo, clock }
    }

    /// Blocks an address. Blocking an address again returns the existing entry.
    ///
    /// # Errors
    /// [`BlocklistError::InvalidEmail`] for a malformed address, or the store's failure.
    pub async fn add(
        &self,
        workspace_id: WorkspaceId,
        email: &str,
    ) -> Result<Added, BlocklistError> {
        let email = EmailAddress::parse(email).map_err(BlocklistError::InvalidEmail)?;
        let entry = BlocklistEntry {
            id: BlocklistEntryId::new(),
            workspace_id,
            email,
            created_at: self.clock.now(),
        };
        Ok(self.repo.add(&entry).await?)
    }

    /// Whether the workspace blocks an address (compared in canonical form).
    ///
    /// # Errors
    /// [`BlocklistError::InvalidEmail`] for a malformed address, or the store's failure.
    pub async fn is_blocked(
        &self,
        workspace_id: WorkspaceId,
        email: &str,
    ) -> Result<bool, BlocklistError> {
        let email = EmailAddress::parse(email).map_err(BlocklistError::InvalidEmail)?;
        Ok(self.repo.is_blocked(workspace_id, &email).await?)
    }

    /// Unblocks an address by entry id.
    ///
    /// # Errors
    /// [`BlocklistError::NotFound`] when the workspace has no such entry, or the store's failure.
    pub async fn delete(
        &self,
        workspace_id: WorkspaceId,
        id: BlocklistEntryId,
    ) -> Result<(), BlocklistError> {
        if self.repo.delete(workspace_id, id).await? {
            Ok(())
        } else {
            Err(BlocklistError::NotFound)
        }
    }

    /// One page of the workspace's blocklist.
    ///
    /// # Errors
    /// The store's failure.
    pub async fn list(
        &self,
        workspace_id: WorkspaceId,
        query: &ListQuery<BlocklistSort>,
    ) -> Result<Page<BlocklistEntry>, BlocklistError> {
        Ok(self.repo.list(workspace_id, query).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MockClock;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

    fn service(repo: MockBlocklistRepository) -> BlocklistService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(NOW);
        BlocklistService::new(Arc::new(repo), Arc::new(clock))
    }

    #[tokio::test]
    async fn add_stores_the_canonical_address_in_the_callers_workspace() {
        let ws = WorkspaceId::new();
        let mut repo = MockBlocklistRepository::new();
        repo.expect_add()
            .withf(move |e| {
                e.workspace_id == ws && e.email.as_str() == "bob@example.com" && e.created_at == NOW
            })
            .times(1)
            .returning(|e| {
                Ok(Added {
                    entry: e.clone(),
                    created: true,
                })
            });
        let added = service(repo).add(ws, "  Bob@Example.com ").await;
        assert!(matches!(added, Ok(a) if a.created && a.entry.email.as_str() == "bob@example.com"));
    }

    #[tokio::test]
    async fn add_refuses_a_malformed_address_without_storing() {
        let mut repo = MockBlocklistRepository::new();
        repo.expect_add().never();
        let result = service(repo).add(WorkspaceId::new(), "bob").await;
        assert!(matches!(
            result,
            Err(BlocklistError::InvalidEmail(EmailError::MissingAt))
        ));
    }

    #[tokio::test]
    async fn check_compares_in_canonical_form() {
        let ws = WorkspaceId::new();
        let mut repo = MockBlocklistRepository::new();
        repo.expect_is_blocked()
            .withf(move |w, e| *w == ws && e.as_str() == "eve@example.org")
            .returning(|_, _| Ok(true));
        assert!(matches!(
            service(repo).is_blocked(ws, "EVE@example.ORG").await,
            Ok(true)
        ));
    }

    #[tokio::test]
    async fn deleting_an_unknown_entry_is_not_found() {
        let mut repo = MockBlocklistRepository::new();
        repo.expect_delete().returning(|_, _| Ok(false));
        let result = service(repo)
            .delete(WorkspaceId::new(), BlocklistEntryId::new())
            .await;
        assert!(matches!(result, Err(BlocklistError::NotFound)));
    }

    #[tokio::test]
    async fn store_failures_pass_through_as_store_errors() {
        let mut repo = MockBlocklistRepository::new();
        repo.expect_delete()
            .returning(|_, _| Err(StoreError::Other(anyhow::anyhow!("boom"))));
        let result = service(repo)
            .delete(WorkspaceId::new(), BlocklistEntryId::new())
            .await;
        assert!(matches!(result, Err(BlocklistError::Store(_))));
    }

    #[test]
    fn sort_by_accepts_only_the_allowlist() {
        assert_eq!(BlocklistSort::parse("email"), Some(BlocklistSort::Email));
        assert_eq!(
            BlocklistSort::parse("created_at"),
            Some(BlocklistSort::CreatedAt)
        );
        assert_eq!(BlocklistSort::parse("id; drop table"), None);
        for name in BlocklistSort::ALLOWED {
            assert!(BlocklistSort::parse(name).is_some(), "{name}");
        }
    }

    #[test]
    fn search_terms_are_trimmed_and_empty_ones_dropped() {
        assert_eq!(
            ListQuery::<BlocklistSort>::search_term(Some("  Acme ")),
            Some("acme".to_owned())
        );
        assert_eq!(ListQuery::<BlocklistSort>::search_term(Some("   ")), None);
        assert_eq!(ListQuery::<BlocklistSort>::search_term(None), None);
    }
}
