//! `reachkit serve`: migrate, connect, serve the API until a shutdown signal.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer};
use anyhow::Context;
use reachkit_core::clock::{Clock, SystemClock};
use reachkit_core::connection_check::ConnectionCheckService;
use reachkit_core::esp_detection::EspDetectionService;
use reachkit_http::request_log::log_request;
use reachkit_mail::check::MailChecker;
use reachkit_mail::mx::HickoryMxResolver;
use tokio::sync::watch;

use crate::settings::Settings;
use crate::wiring::Wiring;

/// How often ESP detection looks for leads whose provider is unknown.
const ESP_DETECTION_EVERY: Duration = Duration::from_secs(2);

/// Seconds in-flight requests get to finish after a shutdown signal.
const SHUTDOWN_GRACE_SECONDS: u64 = 30;

/// A bound, not yet running server and the addresses it listens on.
pub struct Bound {
    pub server: Server,
    pub addrs: Vec<SocketAddr>,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound")
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}

/// Binds the API to `listen` over the given services. Handles SIGINT and SIGTERM: stops
/// accepting, lets in-flight requests finish, then returns.
///
/// # Errors
/// When the address cannot be bound.
pub fn bind(wiring: &Wiring, listen: SocketAddr) -> anyhow::Result<Bound> {
    let services = wiring.http_services();
    let unsubscribe = wiring.unsubscribe.clone();
    let server = HttpServer::new(move || {
        let unsubscribe = unsubscribe.clone();
        App::new()
            .wrap(from_fn(log_request))
            .configure(move |cfg| {
                if let Some(service) = unsubscribe {
                    reachkit_http::configure_unsubscribe(service)(cfg);
                }
            })
            .configure(reachkit_http::configure(services.clone()))
    })
    .shutdown_timeout(SHUTDOWN_GRACE_SECONDS)
    .bind(listen)
    .with_context(|| format!("cannot listen on {listen} (http.listen / REACHKIT_LISTEN)"))?;
    let addrs = server.addrs();
    Ok(Bound {
        server: server.run(),
        addrs,
    })
}

/// Runs `reachkit serve`.
///
/// # Errors
/// When migrations fail, the database is unreachable or the address cannot be bound.
pub async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let url = settings.database_url()?;
    let secrets = Arc::new(settings.secret_box()?);
    let applied = reachkit_postgres::run_migrations(url).await?;
    if !applied.is_empty() {
        tracing::info!(count = applied.len(), "applied migrations");
    }
    let wiring = Wiring::connect_system(url, settings.pool(), secrets)
        .await?
        .with_unsubscribe_tokens(settings.unsubscribe_tokens()?);
    let listen = settings
        .listen_addr()
        .with_context(|| format!("http.listen {:?} is not an address", settings.http.listen))?;
    let bound = bind(&wiring, listen)?;
    {
        let mut out = std::io::stdout().lock();
        for addr in &bound.addrs {
            writeln!(out, "reachkit listening on http://{addr}")?;
        }
        out.flush()?;
    }
    tracing::info!(addrs = ?bound.addrs, "serving the API");
    let (stop, stopped) = watch::channel(false);
    let checker = Arc::new(MailChecker::new(settings.mail_checks()));
    let worker = tokio::spawn(connection_check_loop(
        wiring.connection_check(checker),
        Arc::new(SystemClock),
        Duration::from_secs(settings.engine.connection_check_seconds),
        stopped,
    ));
    let resolver = HickoryMxResolver::new(&settings.mx()?).map_err(anyhow::Error::msg)?;
    let esp = tokio::spawn(esp_detection_loop(
        wiring.esp_detection(Arc::new(resolver)),
        Arc::new(SystemClock),
        ESP_DETECTION_EVERY,
        stop.subscribe(),
    ));
    let served = bound.server.await;
    let _ = stop.send(true);
    if let Err(e) = worker.await {
        tracing::error!(error = %e, "the connection check worker failed");
    }
    if let Err(e) = esp.await {
        tracing::error!(error = %e, "the ESP detection worker failed");
    }
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// Checks pending inboxes every `every` until `stop` turns true. A check in flight is abandoned
/// at shutdown; its inboxes are claimed again once the claim is stale.
pub async fn connection_check_loop(
    service: ConnectionCheckService,
    clock: Arc<dyn Clock>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        tokio::select! {
            result = service.check_pending(clock.now()) => match result {
                Ok(0) => {}
                Ok(checked) => tracing::info!(checked, "checked inbox connections"),
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "inbox connection check failed"),
            },
            _ = stop.changed() => return,
        }
    }
}

/// Detects the providers of new leads every `every` until `stop` turns true; a step that found
/// work runs again at once. A step in flight is abandoned at shutdown; its domains are claimed
/// again once the claim is stale.
pub async fn esp_detection_loop(
    service: EspDetectionService,
    clock: Arc<dyn Clock>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut busy = false;
    loop {
        if !busy {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
        }
        tokio::select! {
            result = service.detect_pending(clock.now()) => match result {
                Ok(report) => {
                    busy = report.domains + report.deferred > 0;
                    if busy {
                        tracing::info!(
                            domains = report.domains,
                            leads = report.leads,
                            deferred = report.deferred,
                            "detected lead providers"
                        );
                    }
                }
                Err(e) => {
                    busy = false;
                    tracing::warn!(error = %format!("{e:#}"), "ESP detection failed");
                }
            },
            _ = stop.changed() => return,
        }
    }
}
