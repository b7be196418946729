//! IMAP IDLE (RFC 2177): new mail makes an inbox due for a sync at once (docs/SYNC.md, "IDLE").
//!
//! Polling (`crate::sync`) stays the safety net; IDLE only shortens the wait. A process watches
//! the inboxes it holds a watch lease for ([`WatchStore::claim_watches`]: one process per inbox
//! however many run, renewed while it watches, taken over when a dead process's lease expires),
//! keeps one IMAP connection per inbox in IDLE on INBOX ([`MailboxWatcher`], [`IdleSession`]),
//! and on an untagged EXISTS or RECENT asks for a sync of that inbox ([`WatchStore::wake`]). The
//! sync itself is the usual one: exclusive by its own lease, idempotent by `inbound_seen`, so a
//! wake too many costs one IMAP round trip and changes nothing.
//!
//! This module holds the ports and the steps; the app runs them in a loop (timers, backoff,
//! shutdown: `reachkit-app::idle`).

use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use crate::StoreError;
use crate::clock::Clock;
use crate::connection_check::ServerLogin;
use crate::ids::InboxId;
use crate::secrets::SecretBox;
use crate::sync::{ReadError, SyncInbox, imap_login};

/// RFC 2177: a client re-issues IDLE at least every 29 minutes so the server does not log it out.
pub const IDLE_RENEW: StdDuration = StdDuration::from_secs(29 * 60);

/// Where the watch leases and wake requests live.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait WatchStore: Send + Sync {
    /// Renews the watch leases `owner` holds and claims free or expired ones of active,
    /// connected inboxes, up to `limit` in all (the ones it holds first), until `lease_until`.
    /// Drops `owner`'s leases of inboxes no longer active and connected. Returns every inbox
    /// `owner` watches now.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn claim_watches(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<SyncInbox>, StoreError>;

    /// Asks for a sync of `inbox` now: the next sync step claims it even when its last sync is
    /// recent (a sync in progress does not swallow the request: it is cleared when claimed).
    ///
    /// # Errors
    /// [`StoreError`].
    async fn wake(&self, inbox: InboxId, now: OffsetDateTime) -> Result<(), StoreError>;

    /// Gives up every watch lease of `owner` (at shutdown).
    ///
    /// # Errors
    /// [`StoreError`].
    async fn release_watches(&self, owner: &str) -> Result<(), StoreError>;
}

/// Opens IMAP connections that wait in IDLE.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MailboxWatcher: Send + Sync {
    /// Connects, logs in and opens INBOX read-only. `Ok(None)` when the server does not
    /// advertise IDLE (the inbox is then only polled).
    ///
    /// # Errors
    /// [`ReadError`].
    async fn connect(&self, login: &ServerLogin)
    -> Result<Option<Box<dyn IdleSession>>, ReadError>;
}

/// An IMAP connection with INBOX open.
#[async_trait]
pub trait IdleSession: Send {
    /// Waits in IDLE for at most `max`: `true` as soon as the server reports new mail (an
    /// untagged EXISTS or RECENT), `false` when `max` passed without. Ends IDLE (DONE) before
    /// returning, so the next call re-issues it.
    ///
    /// # Errors
    /// [`ReadError`] (the connection is unusable then).
    async fn wait(&mut self, max: StdDuration) -> Result<bool, ReadError>;

    /// Logs out (errors ignored).
    async fn close(self: Box<Self>);
}

/// IDLE settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchSettings {
    /// The most inboxes one process watches (one IMAP connection each).
    pub max_inboxes: u32,
    /// How long a watch lease lasts; the app renews it well before.
    pub lease_seconds: u32,
}

impl Default for WatchSettings {
    fn default() -> Self {
        Self {
            max_inboxes: 100,
            lease_seconds: 60,
        }
    }
}

/// A fresh owner name for a process's watch leases.
#[must_use]
pub fn fresh_owner() -> String {
    format!("watch-{}", uuid::Uuid::new_v4().simple())
}

/// The IDLE use case: which inboxes to watch, a connection per inbox, wake requests.
#[derive(Clone)]
pub struct WatchService {
    store: Arc<dyn WatchStore>,
    watcher: Arc<dyn MailboxWatcher>,
    secrets: Arc<dyn SecretBox>,
    clock: Arc<dyn Clock>,
    settings: WatchSettings,
    owner: String,
}

impl std::fmt::Debug for WatchService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchService")
            .field("owner", &self.owner)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl WatchService {
    #[must_use]
    pub fn new(
        store: Arc<dyn WatchStore>,
        watcher: Arc<dyn MailboxWatcher>,
        secrets: Arc<dyn SecretBox>,
        clock: Arc<dyn Clock>,
        settings: WatchSettings,
        owner: String,
    ) -> Self {
        Self {
            store,
            watcher,
            secrets,
            clock,
            settings,
            owner,
        }
    }

    #[must_use]
    pub fn owner(&self) -> &str {
        &self.owner
    }

    #[must_use]
    pub fn settings(&self) -> WatchSettings {
        self.settings
    }

    /// The inboxes this process should watch now (claimed or renewed until now + the lease).
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn claim(&self) -> Result<Vec<SyncInbox>, StoreError> {
        let now = self.clock.now();
        self.store
            .claim_watches(
                &self.owner,
                now,
                now + Duration::seconds(i64::from(self.settings.lease_seconds)),
                i64::from(self.settings.max_inboxes),
            )
            .await
    }

    /// An IDLE connection to `inbox`'s INBOX; `Ok(None)` when its server has no IDLE.
    ///
    /// # Errors
    /// [`ReadError`] (login refused, connection failed, undecryptable password).
    pub async fn connect(
        &self,
        inbox: &SyncInbox,
    ) -> Result<Option<Box<dyn IdleSession>>, ReadError> {
        let login = imap_login(self.secrets.as_ref(), inbox)?;
        self.watcher.connect(&login).await
    }

    /// Waits in IDLE on `session` for at most [`IDLE_RENEW`] and asks for a sync of `inbox` when
    /// new mail arrived. Returns whether it did.
    ///
    /// # Errors
    /// [`WatchError::Read`] when the connection failed (reconnect), [`WatchError::Store`] when
    /// the wake request could not be stored (the next poll syncs anyway).
    pub async fn idle_once(
        &self,
        inbox: InboxId,
        session: &mut dyn IdleSession,
    ) -> Result<bool, WatchError> {
        let new_mail = session.wait(IDLE_RENEW).await?;
        if new_mail {
            self.wake(inbox).await?;
        }
        Ok(new_mail)
    }

    /// Asks for a sync of `inbox` now.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn wake(&self, inbox: InboxId) -> Result<(), StoreError> {
        self.store.wake(inbox, self.clock.now()).await
    }

    /// Gives up this process's watch leases.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn release(&self) -> Result<(), StoreError> {
        self.store.release_watches(&self.owner).await
    }
}

/// Why a watch step failed.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests;
