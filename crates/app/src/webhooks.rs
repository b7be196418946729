//! The webhook delivery loop (docs/WEBHOOKS.md).

use std::time::Duration;

use reachkit_core::webhooks::WebhookDeliveryService;
use tokio::sync::watch;

/// Delivers due webhooks until `stop` turns true: again at once after a full batch, else after
/// `every`.
pub async fn webhook_loop(
    service: WebhookDeliveryService,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let busy = match service.tick().await {
            Ok(report) => {
                if report.failed > 0 || report.retried > 0 {
                    tracing::info!(
                        delivered = report.delivered,
                        retried = report.retried,
                        failed = report.failed,
                        "webhook deliveries attempted"
                    );
                }
                report.delivered + report.retried + report.failed > 0
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "webhook delivery pass failed");
                false
            }
        };
        if busy {
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}
