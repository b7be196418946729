//! API keys: how a caller proves which workspace it acts for.
//!
//! A key looks like `rk_Ab3dE9xZ_<40 random characters>`. The part up to the second underscore is
//! the visible prefix, kept in clear so a person can tell keys apart; the whole key is stored only
//! as its SHA-256 digest. Keys carry 280 bits of randomness, so a fast digest looked up by equality
//! is safe (no salt or slow hash is needed, unlike for passwords).

use std::sync::Arc;

use async_trait::async_trait;
use rand::Rng;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::StoreError;
use crate::clock::Clock;
use crate::ids::{ApiKeyId, WorkspaceId};

/// Every key starts with this.
pub const KEY_MARKER: &str = "rk_";
const PREFIX_RANDOM_LEN: usize = 8;
const SECRET_RANDOM_LEN: usize = 40;
const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// `last_used_at` is written at most this often per key, so authentication does not turn every
/// request into a write.
pub const LAST_USED_RESOLUTION: Duration = Duration::seconds(60);
/// Longest key name accepted.
pub const MAX_NAME_LEN: usize = 150;

/// The SHA-256 digest of a whole key: the only form in which a key is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    /// The digest of a presented key.
    #[must_use]
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }
}

impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyHash({}…)", hex::encode(&self.0[..4]))
    }
}

/// An API key's record. Never holds the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    /// The visible start of the key, e.g. `rk_Ab3dE9xZ`.
    pub prefix: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

/// A key just created: the record and the secret, which is shown once and then forgotten.
#[derive(Clone)]
pub struct IssuedKey {
    pub key: ApiKey,
    pub secret: String,
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKey")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Where API keys are kept.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ApiKeyRepository: Send + Sync {
    /// Stores a new key with the digest of its secret.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn insert(&self, key: &ApiKey, hash: &KeyHash) -> Result<(), StoreError>;

    /// The key whose digest is `hash`, revoked or not.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn find_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKey>, StoreError>;

    /// Records that the key was used at `at`.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn touch(&self, id: ApiKeyId, at: OffsetDateTime) -> Result<(), StoreError>;

    /// The workspace's keys, oldest first.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn list(&self, workspace_id: WorkspaceId) -> Result<Vec<ApiKey>, StoreError>;

    /// Marks the key revoked at `at` if it belongs to the workspace and is not revoked already.
    /// MUST return the key as stored afterwards, or `None` when the workspace has no such key.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn revoke(
        &self,
        workspace_id: WorkspaceId,
        id: ApiKeyId,
        at: OffsetDateTime,
    ) -> Result<Option<ApiKey>, StoreError>;
}

/// Why a key could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateKeyError {
    #[error("no such workspace")]
    UnknownWorkspace,
    #[error("name must not be empty")]
    EmptyName,
    #[error("name must be at most {MAX_NAME_LEN} characters")]
    NameTooLong,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a presented key was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no API key given")]
    Missing,
    #[error("invalid API key")]
    Invalid,
    #[error("API key revoked")]
    Revoked,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a key could not be revoked.
#[derive(Debug, thiserror::Error)]
pub enum RevokeKeyError {
    #[error("no such API key in this workspace")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Issues, checks, lists and revokes API keys.
#[derive(Clone)]
pub struct ApiKeyService {
    keys: Arc<dyn ApiKeyRepository>,
    workspaces: Arc<dyn crate::workspaces::WorkspaceRepository>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for ApiKeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyService").finish_non_exhaustive()
    }
}

impl ApiKeyService {
    #[must_use]
    pub fn new(
        keys: Arc<dyn ApiKeyRepository>,
        workspaces: Arc<dyn crate::workspaces::WorkspaceRepository>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            keys,
            workspaces,
            clock,
        }
    }

    /// Issues a new key for the workspace. The secret is in the result and nowhere else.
    ///
    /// # Errors
    /// [`CreateKeyError`] for an unknown workspace or a bad name, or the store's failure.
    pub async fn create(
        &self,
        workspace_id: WorkspaceId,
        name: &str,
    ) -> Result<IssuedKey, CreateKeyError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(CreateKeyError::EmptyName);
        }
        if name.chars().count() > MAX_NAME_LEN {
            return Err(CreateKeyError::NameTooLong);
        }
        if self.workspaces.get(workspace_id).await?.is_none() {
            return Err(CreateKeyError::UnknownWorkspace);
        }
        let (prefix, secret) = generate_secret();
        let key = ApiKey {
            id: ApiKeyId::new(),
            workspace_id,
            name: name.to_owned(),
            prefix,
            created_at: self.clock.now(),
            last_used_at: None,
            revoked_at: None,
        };
        self.keys.insert(&key, &KeyHash::of(&secret)).await?;
        Ok(IssuedKey { key, secret })
    }

    /// The workspace a presented key acts for. Keeps `last_used_at` to within a minute.
    ///
    /// # Errors
    /// [`AuthError`]: missing, malformed or unknown (`Invalid`), revoked, or the store's failure.
    pub async fn authenticate(&self, presented: Option<&str>) -> Result<WorkspaceId, AuthError> {
        let presented = presented.map(str::trim).filter(|s| !s.is_empty());
        let Some(secret) = presented else {
            return Err(AuthError::Missing);
        };
        if !looks_like_key(secret) {
            return Err(AuthError::Invalid);
        }
        let Some(key) = self.keys.find_by_hash(&KeyHash::of(secret)).await? else {
            return Err(AuthError::Invalid);
        };
        if key.revoked_at.is_some() {
            return Err(AuthError::Revoked);
        }
        let now = self.clock.now();
        let stale = key
            .last_used_at
            .is_none_or(|used| now - used >= LAST_USED_RESOLUTION);
        if stale {
            self.keys.touch(key.id, now).await?;
        }
        Ok(key.workspace_id)
    }

    /// The workspace's keys, oldest first, revoked ones included.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn list(&self, workspace_id: WorkspaceId) -> Result<Vec<ApiKey>, StoreError> {
        self.keys.list(workspace_id).await
    }

    /// Revokes a key of the workspace; revoking it again changes nothing.
    ///
    /// # Errors
    /// [`RevokeKeyError::NotFound`] when the workspace has no such key, or the store's failure.
    pub async fn revoke(
        &self,
        workspace_id: WorkspaceId,
        id: ApiKeyId,
    ) -> Result<ApiKey, RevokeKeyError> {
        self.keys
            .revoke(workspace_id, id, self.clock.now())
            .await?
            .ok_or(RevokeKeyError::NotFound)
    }
}

fn random_chars(rng: &mut impl Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// A fresh (prefix, whole key) pair from the thread's cryptographically secure generator.
fn generate_secret() -> (String, String) {
    let mut rng = rand::rng();
    let prefix = format!("{KEY_MARKER}{}", random_chars(&mut rng, PREFIX_RANDOM_LEN));
    let secret = format!("{prefix}_{}", random_chars(&mut rng, SECRET_RANDOM_LEN));
    (prefix, secret)
}

/// Cheap shape check, so garbage is refused without a database round trip.
fn looks_like_key(s: &str) -> bool {
    s.len() == KEY_MARKER.len() + PREFIX_RANDOM_LEN + 1 + SECRET_RANDOM_LEN
        && s.starts_with(KEY_MARKER)
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MockClock;
    use crate::workspaces::{MockWorkspaceRepository, Workspace};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

    fn clock() -> Arc<dyn Clock> {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(NOW);
        Arc::new(clock)
    }

    fn workspaces_with(id: WorkspaceId) -> MockWorkspaceRepository {
        let mut repo = MockWorkspaceRepository::new();
        repo.expect_get().returning(move |asked| {
            Ok((asked == id).then(|| Workspace {
                id,
                name: "Acme".into(),
                created_at: NOW,
                updated_at: NOW,
            }))
        });
        repo
    }

    fn key(workspace_id: WorkspaceId) -> ApiKey {
        ApiKey {
            id: ApiKeyId::new(),
            workspace_id,
            name: "ci".into(),
            prefix: "rk_AAAAAAAA".into(),
            created_at: NOW,
            last_used_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn generated_keys_have_the_documented_shape_and_differ() {
        let (prefix, secret) = generate_secret();
        assert!(secret.starts_with(&format!("{prefix}_")));
        assert!(looks_like_key(&secret), "{secret}");
        assert_eq!(prefix.len(), 11);
        let (_, other) = generate_secret();
        assert_ne!(secret, other);
    }

    #[tokio::test]
    async fn create_stores_only_the_digest_of_the_secret() {
        let ws = WorkspaceId::new();
        let mut keys = MockApiKeyRepository::new();
        let stored = Arc::new(std::sync::Mutex::new(None));
        let seen = Arc::clone(&stored);
        keys.expect_insert().times(1).returning(move |k, h| {
            *seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((k.clone(), h.clone()));
            Ok(())
        });
        let service = ApiKeyService::new(Arc::new(keys), Arc::new(workspaces_with(ws)), clock());
        let issued = service.create(ws, " deploy ").await;
        let Ok(issued) = issued else {
            panic!("create failed: {issued:?}");
        };
        let guard = stored
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some((record, hash)) = guard.as_ref() else {
            panic!("nothing stored");
        };
        assert_eq!(record.name, "deploy");
        assert_eq!(hash, &KeyHash::of(&issued.secret));
        assert!(issued.secret.starts_with(&record.prefix));
        assert!(!format!("{issued:?}").contains(&issued.secret));
    }

    #[tokio::test]
    async fn create_refuses_an_unknown_workspace() {
        let mut keys = MockApiKeyRepository::new();
        keys.expect_insert().never();
        let service = ApiKeyService::new(
            Arc::new(keys),
            Arc::new(workspaces_with(WorkspaceId::new())),
            clock(),
        );
        let result = service.create(WorkspaceId::new(), "x").await;
        assert!(matches!(result, Err(CreateKeyError::UnknownWorkspace)));
    }

    #[tokio::test]
    async fn missing_and_malformed_keys_are_refused_without_a_lookup() {
        let mut keys = MockApiKeyRepository::new();
        keys.expect_find_by_hash().never();
        let service = ApiKeyService::new(
            Arc::new(keys),
            Arc::new(MockWorkspaceRepository::new()),
            clock(),
        );
        assert!(matches!(
            service.authenticate(None).await,
            Err(AuthError::Missing)
        ));
        assert!(matches!(
            service.authenticate(Some("  ")).await,
            Err(AuthError::Missing)
        ));
        assert!(matches!(
            service.authenticate(Some("hunter2")).await,
            Err(AuthError::Invalid)
        ));
    }

    #[tokio::test]
    async fn a_valid_key_names_its_workspace_and_is_touched() {
        let ws = WorkspaceId::new();
        let record = key(ws);
        let id = record.id;
        let mut keys = MockApiKeyRepository::new();
        keys.expect_find_by_hash()
            .returning(move |_| Ok(Some(record.clone())));
        keys.expect_touch()
            .withf(move |k, at| *k == id && *at == NOW)
            .times(1)
            .returning(|_, _| Ok(()));
        let service = ApiKeyService::new(
            Arc::new(keys),
            Arc::new(MockWorkspaceRepository::new()),
            clock(),
        );
        let (_, secret) = generate_secret();
        assert_eq!(service.authenticate(Some(&secret)).await.ok(), Some(ws));
    }

    #[tokio::test]
    async fn a_recently_used_key_is_not_written_again() {
        let ws = WorkspaceId::new();
        let mut record = key(ws);
        record.last_used_at = Some(NOW - Duration::seconds(59));
        let mut keys = MockApiKeyRepository::new();
        keys.expect_find_by_hash()
            .returning(move |_| Ok(Some(record.clone())));
        keys.expect_touch().never();
        let service = ApiKeyService::new(
            Arc::new(keys),
            Arc::new(MockWorkspaceRepository::new()),
            clock(),
        );
        let (_, secret) = generate_secret();
        assert_eq!(service.authenticate(Some(&secret)).await.ok(), Some(ws));
    }

    #[tokio::test]
    async fn revoked_and_unknown_keys_are_refused() {
        let mut revoked = key(WorkspaceId::new());
        revoked.revoked_at = Some(NOW);
        let mut keys = MockApiKeyRepository::new();
        let mut calls = 0;
        keys.expect_find_by_hash().returning(move |_| {
            calls += 1;
            Ok((calls == 1).then(|| revoked.clone()))
        });
        keys.expect_touch().never();
        let service = ApiKeyService::new(
            Arc::new(keys),
            Arc::new(MockWorkspaceRepository::new()),
            clock(),
        );
        let (_, secret) = generate_secret();
        assert!(matches!(
            service.authenticate(Some(&secret)).await,
            Err(AuthError::Revoked)
        ));
        assert!(matches!(
            service.authenticate(Some(&secret)).await,
            Err(AuthError::Invalid)
        ));
    }
}
