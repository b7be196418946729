//! The warmup worker's loop (docs/WARMUP.md): every second, send the warmup emails that are due.

use std::sync::Arc;
use std::time::Duration;

use reachkit_core::clock::Clock;
use reachkit_core::warmup::WarmupService;
use tokio::sync::watch;

/// How often the loop looks for warming inboxes whose next send is due (the spacing itself
/// comes from the `[warmup]` settings; this only bounds the delay after a send becomes due).
pub const WARMUP_TICK: Duration = Duration::from_secs(1);

/// One warmup step; errors are logged and the next tick tries again.
pub async fn pass(service: &WarmupService, clock: &dyn Clock) {
    match service.send_due(clock.now()).await {
        Ok(r) if r.sent + r.failed > 0 => tracing::info!(
            inboxes = r.inboxes,
            sent = r.sent,
            replies = r.replies,
            failed = r.failed,
            "sent warmup emails"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "warmup step failed"),
    }
}

/// Runs [`pass`] every [`WARMUP_TICK`] until `stop` turns true (a step in progress finishes).
pub async fn warmup_loop(
    service: WarmupService,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(WARMUP_TICK);
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
