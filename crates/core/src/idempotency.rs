//! `Idempotency-Key`: a POST retried with the same key and the same request gets the first
//! response again instead of doing the work twice.

use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::StoreError;
use crate::clock::Clock;
use crate::ids::WorkspaceId;
use crate::secrets::SecretBox;

/// How long a key and its response are kept.
pub const KEY_TTL: Duration = Duration::hours(24);
/// How long a key stays reserved by a request that never finished (its process died): after
/// this, a retry runs the request again.
pub const IN_FLIGHT_LEASE: Duration = Duration::minutes(5);
/// The longest key accepted.
pub const MAX_KEY_LENGTH: usize = 255;

/// A response as stored for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    /// The headers replayed with it (e.g. `content-type`, `location`), lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A request under a key: what the store keeps to recognise a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedRequest {
    pub workspace_id: WorkspaceId,
    pub key: String,
    /// SHA-256 of method, path and body.
    pub request_hash: Vec<u8>,
    pub now: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// In-flight reservations made before this are abandoned and may be taken over.
    pub stale_before: OffsetDateTime,
}

/// What the store found for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// The key was free (or expired, or abandoned): it is now reserved for this request.
    Started,
    /// The same request already completed: here is its response.
    Replay(StoredResponse),
    /// The key was used with another request.
    Mismatch,
    /// The same key is reserved by a request still in flight.
    InFlight,
}

/// Where keys and their first responses are kept, per workspace.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Atomically: forgets the workspace's keys expired at `now` and any in-flight reservation
    /// of this key made before `stale_before`; then reserves the key for this request if it is
    /// free, or reports what holds it. Safe under concurrent calls with the same key: exactly
    /// one gets [`Begin::Started`].
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn begin(&self, request: &KeyedRequest) -> Result<Begin, StoreError>;

    /// Stores the response of the request that reserved the key.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn complete(
        &self,
        workspace_id: WorkspaceId,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError>;

    /// Releases a reservation without a response (the request failed with a 5xx), so a retry
    /// runs it again.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn abandon(&self, workspace_id: WorkspaceId, key: &str) -> Result<(), StoreError>;

    /// Deletes every key, of every workspace, expired at `now`; returns how many.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    #[error("must be 1 to 255 visible ASCII characters")]
    InvalidKey,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The idempotency use cases.
///
/// With [`IdempotencyService::with_secrets`], stored response bodies are sealed with the secret
/// box (they can hold a secret shown once, such as a webhook's signing secret), bound to the
/// workspace and the key.
#[derive(Clone)]
pub struct IdempotencyService {
    store: Arc<dyn IdempotencyStore>,
    clock: Arc<dyn Clock>,
    secrets: Option<Arc<dyn SecretBox>>,
}

impl std::fmt::Debug for IdempotencyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotencyService").finish_non_exhaustive()
    }
}

/// The digest that tells two requests under one key apart.
#[must_use]
pub fn request_hash(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b"\n");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hasher.finalize().to_vec()
}

/// What a sealed response body is bound to: its workspace and key.
fn body_aad(workspace_id: WorkspaceId, key: &str) -> Vec<u8> {
    format!("idempotency:{workspace_id}:{key}").into_bytes()
}

/// Whether a key is acceptable: 1 to 255 visible ASCII characters (no spaces or controls).
#[must_use]
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LENGTH && key.bytes().all(|b| b.is_ascii_graphic())
}

impl IdempotencyService {
    #[must_use]
    pub fn new(store: Arc<dyn IdempotencyStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            secrets: None,
        }
    }

    /// Seals the stored response bodies with `secrets` (and opens them for a replay).
    #[must_use]
    pub fn with_secrets(mut self, secrets: Arc<dyn SecretBox>) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// Reserves `key` for this request, or says what already holds it.
    ///
    /// # Errors
    /// [`IdempotencyError::InvalidKey`] for a malformed key (nothing stored), or the store's
    /// failure.
    pub async fn begin(
        &self,
        workspace_id: WorkspaceId,
        key: &str,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<Begin, IdempotencyError> {
        if !valid_key(key) {
            return Err(IdempotencyError::InvalidKey);
        }
        let now = self.clock.now();
        let request = KeyedRequest {
            workspace_id,
            key: key.to_owned(),
            request_hash: request_hash(method, path, body),
            now,
            expires_at: now + KEY_TTL,
            stale_before: now - IN_FLIGHT_LEASE,
        };
        match self.store.begin(&request).await? {
            Begin::Replay(mut stored) => {
                if let Some(secrets) = &self.secrets {
                    stored.body = secrets
                        .open(&stored.body, &body_aad(workspace_id, key))
                        .map_err(|_| {
                            StoreError::Other(anyhow::anyhow!(
                                "a stored idempotent response cannot be decrypted (was \
                                 secrets.key changed?)"
                            ))
                        })?;
                }
                Ok(Begin::Replay(stored))
            }
            other => Ok(other),
        }
    }

    /// Records the response of a reserved key: 2xx and 4xx are kept for replay; anything else
    /// (5xx) releases the key so that a retry runs the request again.
    ///
    /// # Errors
    /// The store's failure.
    pub async fn finish(
        &self,
        workspace_id: WorkspaceId,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        if (200..500).contains(&response.status) {
            match &self.secrets {
                None => self.store.complete(workspace_id, key, response).await,
                Some(secrets) => {
                    let sealed = StoredResponse {
                        body: secrets
                            .seal(&response.body, &body_aad(workspace_id, key))
                            .map_err(|e| StoreError::Other(anyhow::Error::new(e)))?,
                        ..response.clone()
                    };
                    self.store.complete(workspace_id, key, &sealed).await
                }
            }
        } else {
            self.store.abandon(workspace_id, key).await
        }
    }

    /// Releases a reserved key without a response.
    ///
    /// # Errors
    /// The store's failure.
    pub async fn abandon(&self, workspace_id: WorkspaceId, key: &str) -> Result<(), StoreError> {
        self.store.abandon(workspace_id, key).await
    }

    /// Deletes expired keys of every workspace; returns how many.
    ///
    /// # Errors
    /// The store's failure.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        self.store.purge_expired(self.clock.now()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MockClock;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

    fn service(store: MockIdempotencyStore) -> IdempotencyService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(NOW);
        IdempotencyService::new(Arc::new(store), Arc::new(clock))
    }

    fn response(status: u16) -> StoredResponse {
        StoredResponse {
            status,
            headers: vec![],
            body: b"{}".to_vec(),
        }
    }

    #[tokio::test]
    async fn begin_reserves_the_key_for_a_day_with_the_request_digest() {
        let ws = WorkspaceId::new();
        let mut store = MockIdempotencyStore::new();
        store
            .expect_begin()
            .withf(move |r| {
                r.workspace_id == ws
                    && r.key == "order-1"
                    && r.request_hash == request_hash("POST", "/api/v1/campaigns", b"{}")
                    && r.expires_at == NOW + Duration::hours(24)
                    && r.stale_before == NOW - Duration::minutes(5)
            })
            .times(1)
            .returning(|_| Ok(Begin::Started));
        let begun = service(store)
            .begin(ws, "order-1", "POST", "/api/v1/campaigns", b"{}")
            .await;
        assert!(matches!(begun, Ok(Begin::Started)));
    }

    #[tokio::test]
    async fn malformed_keys_are_refused_without_touching_the_store() {
        let mut store = MockIdempotencyStore::new();
        store.expect_begin().never();
        let service = service(store);
        for key in ["", "has space", "tab\there", &"k".repeat(256), "é"] {
            let result = service
                .begin(WorkspaceId::new(), key, "POST", "/", b"")
                .await;
            assert!(
                matches!(result, Err(IdempotencyError::InvalidKey)),
                "{key:?}"
            );
        }
    }

    #[test]
    fn the_digest_differs_with_method_path_or_body() {
        let base = request_hash("POST", "/a", b"x");
        assert_ne!(base, request_hash("PUT", "/a", b"x"));
        assert_ne!(base, request_hash("POST", "/b", b"x"));
        assert_ne!(base, request_hash("POST", "/a", b"y"));
        assert_eq!(base, request_hash("POST", "/a", b"x"));
    }

    #[tokio::test]
    async fn success_and_client_errors_are_kept_but_server_errors_release_the_key() {
        let mut store = MockIdempotencyStore::new();
        store
            .expect_complete()
            .withf(|_, _, r| r.status == 201 || r.status == 422)
            .times(2)
            .returning(|_, _, _| Ok(()));
        store.expect_abandon().times(1).returning(|_, _| Ok(()));
        let service = service(store);
        let ws = WorkspaceId::new();
        for status in [201, 422, 503] {
            service
                .finish(ws, "k", &response(status))
                .await
                .expect("finish");
        }
    }

    #[tokio::test]
    async fn with_secrets_bodies_are_stored_sealed_and_replayed_opened() {
        use crate::secrets::AesGcmSecretBox;
        use std::sync::Mutex;

        let secrets: Arc<dyn SecretBox> = Arc::new(
            AesGcmSecretBox::from_base64(&AesGcmSecretBox::generate_key_base64()).expect("key"),
        );
        let ws = WorkspaceId::new();
        let plain = br#"{"data":{"secret":"whsec_c2VjcmV0"}}"#.to_vec();
        let kept: Arc<Mutex<Option<StoredResponse>>> = Arc::default();
        let mut store = MockIdempotencyStore::new();
        let into = Arc::clone(&kept);
        store.expect_complete().times(1).returning(move |_, _, r| {
            *into.lock().expect("lock") = Some(r.clone());
            Ok(())
        });
        let from = Arc::clone(&kept);
        store.expect_begin().times(2).returning(move |_| {
            Ok(Begin::Replay(
                from.lock().expect("lock").clone().expect("stored"),
            ))
        });
        let service = service(store).with_secrets(Arc::clone(&secrets));
        let response = StoredResponse {
            status: 201,
            headers: vec![],
            body: plain.clone(),
        };
        service.finish(ws, "k", &response).await.expect("finish");
        let stored = kept.lock().expect("lock").clone().expect("stored");
        assert_ne!(stored.body, plain, "the body is not stored in the clear");
        assert!(
            !String::from_utf8_lossy(&stored.body).contains("whsec_"),
            "the secret is not stored in the clear"
        );
        match service.begin(ws, "k", "POST", "/", b"{}").await {
            Ok(Begin::Replay(r)) => assert_eq!(r.body, plain),
            other => panic!("{other:?}"),
        }
        // Bound to the workspace and key: the same sealed bytes do not open under another.
        let other = service
            .begin(WorkspaceId::new(), "k", "POST", "/", b"{}")
            .await;
        assert!(
            matches!(other, Err(IdempotencyError::Store(_))),
            "{other:?}"
        );
    }
}
