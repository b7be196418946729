//! The inbox sync's loop: every second, sync the inboxes whose last sync is older than
//! `sync.poll_seconds`, or that IMAP IDLE woke (`crate::idle`; docs/SYNC.md).

use std::sync::Arc;
use std::time::Duration;

use reachkit_core::clock::Clock;
use reachkit_core::sync::SyncService;
use tokio::sync::watch;

/// How often the loop looks for inboxes due for a sync (each inbox is synced every
/// `sync.poll_seconds`; this only bounds the delay after it becomes due).
pub const SYNC_TICK: Duration = Duration::from_secs(1);

/// One sync step; errors are logged and the next tick tries again.
pub async fn pass(service: &SyncService, clock: &dyn Clock) {
    match service.sync_due(clock.now()).await {
        Ok(r) if r.inboxes > 0 => tracing::info!(
            inboxes = r.inboxes,
            failed = r.failed,
            replies = r.messages.replies,
            auto_replies = r.messages.auto_replies,
            bounces = r.messages.bounces,
            soft_bounces = r.messages.soft_bounces,
            ignored = r.messages.ignored,
            "synced inboxes"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "inbox sync failed"),
    }
}

/// Runs [`pass`] every [`SYNC_TICK`] until `stop` turns true (a step in progress finishes).
pub async fn sync_loop(
    service: SyncService,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(SYNC_TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        pass(&service, clock.as_ref()).await;
    }
}
