//! IMAP IDLE's loop (docs/SYNC.md, "IDLE"): every [`WATCH_REFRESH`] the process claims or renews
//! the watch leases of up to `sync.idle_max_inboxes` inboxes, starts a watcher task for each new
//! one (or one whose IMAP settings changed) and stops the tasks of inboxes it no longer holds
//! (removed, paused, disconnected, taken over). A watcher keeps one IMAP connection in IDLE on
//! INBOX and wakes the inbox (the sync loop syncs it within a second) on new mail; it reconnects
//! with exponential backoff, and a server without IDLE is asked again after an hour (its inbox is
//! polled meanwhile). On shutdown the tasks stop and the leases are given up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reachkit_core::ids::InboxId;
use reachkit_core::inbox_watch::{WatchError, WatchService};
use reachkit_core::sync::SyncInbox;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the watch leases are renewed and the set of watched inboxes refreshed (a newly
/// connected inbox is watched within this time; one cheap query per process).
pub const WATCH_REFRESH: Duration = Duration::from_secs(10);
/// How long a watch lease lasts: six refreshes, so a live process never loses one.
pub const WATCH_LEASE_SECONDS: u32 = 60;
/// The first pause after a failed connection; doubled up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_secs(5);
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// When a server without IDLE is asked again.
pub const NO_IDLE_RETRY: Duration = Duration::from_secs(3600);

/// Watches inboxes with IDLE until `stop` turns true, then gives up the watch leases.
pub async fn idle_loop(service: WatchService, mut stop: watch::Receiver<bool>) {
    let service = Arc::new(service);
    tracing::info!(owner = %service.owner(), "IMAP IDLE watcher started");
    let mut watched: HashMap<InboxId, (SyncInbox, JoinHandle<()>)> = HashMap::new();
    let mut ticker = tokio::time::interval(WATCH_REFRESH);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if *stop.borrow() {
            break;
        }
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => break,
        }
        // A task that ended (it never should) is started again.
        watched.retain(|_, (_, task)| !task.is_finished());
        match service.claim().await {
            Ok(inboxes) => reconcile(&service, &mut watched, inboxes),
            // The tasks go on; the leases last three refreshes.
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "renewing IDLE watches failed"),
        }
    }
    for (_, (_, task)) in watched.drain() {
        task.abort();
        let _ = task.await;
    }
    if let Err(e) = service.release().await {
        tracing::warn!(error = %format!("{e:#}"), "giving up IDLE watches failed");
    }
}

/// Starts a watcher for every claimed inbox not watched yet, restarts those whose settings
/// changed, stops those no longer claimed.
fn reconcile(
    service: &Arc<WatchService>,
    watched: &mut HashMap<InboxId, (SyncInbox, JoinHandle<()>)>,
    inboxes: Vec<SyncInbox>,
) {
    watched.retain(|_, (inbox, task)| {
        let keep = inboxes.contains(inbox);
        if !keep {
            task.abort();
        }
        keep
    });
    for inbox in inboxes {
        if let std::collections::hash_map::Entry::Vacant(slot) = watched.entry(inbox.id) {
            let task = tokio::spawn(watch_inbox(Arc::clone(service), inbox.clone()));
            slot.insert((inbox, task));
        }
    }
}

fn next_backoff(current: Duration) -> Duration {
    (current * 2).min(BACKOFF_MAX)
}

/// Keeps `inbox` in IDLE for as long as the task runs (it is aborted to stop).
pub async fn watch_inbox(service: Arc<WatchService>, inbox: SyncInbox) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let pause = match service.connect(&inbox).await {
            Ok(None) => {
                tracing::info!(inbox = %inbox.id, "the IMAP server has no IDLE: the inbox is polled");
                NO_IDLE_RETRY
            }
            Err(e) => {
                tracing::warn!(inbox = %inbox.id, error = %e, "IDLE connection failed; retrying");
                let pause = backoff;
                backoff = next_backoff(backoff);
                pause
            }
            Ok(Some(mut session)) => {
                // Mail that arrived while nobody watched is synced now.
                if let Err(e) = service.wake(inbox.id).await {
                    tracing::warn!(inbox = %inbox.id, error = %format!("{e:#}"), "waking the inbox failed");
                }
                tracing::info!(inbox = %inbox.id, "watching the inbox with IMAP IDLE");
                let error = loop {
                    match service.idle_once(inbox.id, session.as_mut()).await {
                        Ok(new_mail) => {
                            // A full IDLE round: the connection is healthy.
                            backoff = BACKOFF_MIN;
                            if new_mail {
                                tracing::debug!(inbox = %inbox.id, "new mail: inbox woken");
                            }
                        }
                        // The next poll syncs it anyway.
                        Err(WatchError::Store(e)) => tracing::warn!(
                            inbox = %inbox.id, error = %format!("{e:#}"), "waking the inbox failed"
                        ),
                        Err(WatchError::Read(e)) => break e,
                    }
                };
                session.close().await;
                tracing::warn!(inbox = %inbox.id, error = %error, "IDLE connection lost; reconnecting");
                let pause = backoff;
                backoff = next_backoff(backoff);
                pause
            }
        };
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration as StdDuration;

    use async_trait::async_trait;
    use reachkit_core::StoreError;
    use reachkit_core::clock::SystemClock;
    use reachkit_core::connection_check::ServerLogin;
    use reachkit_core::ids::WorkspaceId;
    use reachkit_core::inbox_watch::{IdleSession, MailboxWatcher, WatchSettings, WatchStore};
    use reachkit_core::inboxes::{Security, ServerSettings};
    use reachkit_core::secrets::AesGcmSecretBox;
    use reachkit_core::sync::ReadError;
    use time::OffsetDateTime;
    use tokio::sync::mpsc;

    use super::*;

    /// Records wakes and releases; claims return `inboxes`.
    struct FakeStore {
        inboxes: Vec<SyncInbox>,
        wakes: mpsc::UnboundedSender<InboxId>,
        released: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl WatchStore for FakeStore {
        async fn claim_watches(
            &self,
            _: &str,
            _: OffsetDateTime,
            _: OffsetDateTime,
            _: i64,
        ) -> Result<Vec<SyncInbox>, StoreError> {
            Ok(self.inboxes.clone())
        }
        async fn wake(&self, inbox: InboxId, _: OffsetDateTime) -> Result<(), StoreError> {
            let _ = self.wakes.send(inbox);
            Ok(())
        }
        async fn release_watches(&self, owner: &str) -> Result<(), StoreError> {
            self.released.lock().expect("lock").push(owner.to_owned());
            Ok(())
        }
    }

    /// Each connection reports new mail once, then waits forever.
    struct OneMessage;

    struct OneMessageSession {
        reported: bool,
    }

    #[async_trait]
    impl MailboxWatcher for OneMessage {
        async fn connect(
            &self,
            _: &ServerLogin,
        ) -> Result<Option<Box<dyn IdleSession>>, ReadError> {
            Ok(Some(Box::new(OneMessageSession { reported: false })))
        }
    }

    #[async_trait]
    impl IdleSession for OneMessageSession {
        async fn wait(&mut self, _: StdDuration) -> Result<bool, ReadError> {
            if self.reported {
                std::future::pending::<()>().await;
            }
            self.reported = true;
            Ok(true)
        }
        async fn close(self: Box<Self>) {}
    }

    fn inbox() -> SyncInbox {
        SyncInbox {
            id: InboxId::new(),
            workspace_id: WorkspaceId::new(),
            email: "alice@reachkit.test".into(),
            imap: ServerSettings {
                host: "imap.test".into(),
                port: 143,
                security: Security::None,
                username: "alice".into(),
            },
            imap_password: None,
        }
    }

    #[tokio::test]
    async fn a_watched_inbox_is_woken_on_connect_and_on_new_mail_and_stopping_gives_up_the_leases()
    {
        let ibx = inbox();
        let (tx, mut wakes) = mpsc::unbounded_channel();
        let store = Arc::new(FakeStore {
            inboxes: vec![ibx.clone()],
            wakes: tx,
            released: Mutex::default(),
        });
        let service = WatchService::new(
            store.clone(),
            Arc::new(OneMessage),
            Arc::new(
                AesGcmSecretBox::from_base64(&AesGcmSecretBox::generate_key_base64()).expect("key"),
            ),
            Arc::new(SystemClock),
            WatchSettings::default(),
            "me".into(),
        );
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(idle_loop(service, stopped));
        // Once when the connection is up (mail that came while nobody watched), once for the
        // new mail IDLE reported.
        assert_eq!(wakes.recv().await, Some(ibx.id));
        assert_eq!(wakes.recv().await, Some(ibx.id));
        stop.send(true).expect("stop");
        task.await.expect("the loop ends");
        assert_eq!(store.released.lock().expect("lock").as_slice(), ["me"]);
    }

    #[test]
    fn the_reconnect_backoff_doubles_up_to_five_minutes() {
        let mut b = BACKOFF_MIN;
        let mut seen = Vec::new();
        for _ in 0..8 {
            seen.push(b.as_secs());
            b = next_backoff(b);
        }
        assert_eq!(seen, [5, 10, 20, 40, 80, 160, 300, 300]);
    }
}
