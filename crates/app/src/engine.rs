//! The sending engine's loop: every `engine.tick_ms`, recover lost claims, plan due leads and
//! send what is ready. Tests call the service's steps directly with a settable clock.

use std::sync::Arc;
use std::time::Duration;

use reachkit_core::clock::Clock;
use reachkit_core::engine::SendingService;
use tokio::sync::watch;

/// One pass: recovery, planning, then sending. Errors are logged; the next pass tries again.
pub async fn pass(service: &SendingService, clock: &dyn Clock) {
    if let Err(e) = service.recover(clock.now()).await {
        tracing::warn!(error = %format!("{e:#}"), "send recovery failed");
    }
    match service.plan_due(clock.now()).await {
        Ok(r) if r.queued > 0 || r.finished > 0 => {
            tracing::info!(queued = r.queued, finished = r.finished, "planned sends");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "send planning failed"),
    }
    match service.dispatch_due(clock.now()).await {
        Ok(o) if o.claimed > 0 => tracing::info!(
            claimed = o.claimed,
            sent = o.sent,
            bounced = o.bounced,
            deferred = o.deferred,
            failed = o.failed,
            cancelled = o.cancelled,
            auth_failed = o.auth_failed,
            "dispatched sends"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "sending failed"),
    }
}

/// Runs [`pass`] every `every` until `stop` turns true. A pass in progress is never cut short:
/// the sends it claimed are sent and recorded before the loop returns (graceful shutdown).
pub async fn sending_loop(
    service: SendingService,
    clock: Arc<dyn Clock>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(every);
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
