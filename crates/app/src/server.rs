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
use reachkit_core::rate_limit::RateLimitSettings;
use reachkit_core::sending::MailSender;
use reachkit_http::ops::idempotency::idempotency;
use reachkit_http::ops::metrics::record_metrics;
use reachkit_http::ops::rate_limit::rate_limit;
use reachkit_http::ops::request_id::request_id;
use reachkit_http::request_log::log_request;
use reachkit_mail::check::MailChecker;
use reachkit_mail::imap::{ImapReader, MailAnalyzer};
use reachkit_mail::imap_idle::ImapWatcher;
use reachkit_mail::mx::HickoryMxResolver;
use reachkit_mail::smtp::{SmtpSender, SmtpSettings};
use tokio::sync::watch;

use crate::engine::sending_loop;
use crate::idle::idle_loop;
use crate::settings::Settings;
use crate::sync::sync_loop;
use crate::warmup::warmup_loop;
use crate::wiring::{Wiring, reply_classifier};

/// How often ESP detection looks for leads whose provider is unknown.
const ESP_DETECTION_EVERY: Duration = Duration::from_secs(2);

/// How often expired idempotency keys of every workspace are deleted (each workspace's own
/// expired keys also go whenever it uses a key).
const IDEMPOTENCY_PURGE_EVERY: Duration = Duration::from_secs(3600);

/// What the API needs besides the services.
#[derive(Debug, Clone, Copy)]
pub struct HttpOptions {
    /// The per-workspace rate limit (`http.rate_limit_per_second`, `http.rate_limit_burst`).
    pub rate_limit: RateLimitSettings,
    /// How long in-flight requests get after a shutdown signal
    /// (`http.shutdown_timeout_seconds`).
    pub shutdown_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            rate_limit: RateLimitSettings {
                per_second: 100,
                burst: 200,
            },
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

impl HttpOptions {
    /// The options the settings give.
    #[must_use]
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            rate_limit: settings.rate_limit(),
            shutdown_timeout: settings.shutdown_timeout(),
        }
    }
}

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

/// Binds the API to `listen` over the given services, with the default [`HttpOptions`].
///
/// # Errors
/// When the address cannot be bound.
pub fn bind(wiring: &Wiring, listen: SocketAddr) -> anyhow::Result<Bound> {
    bind_with(wiring, listen, HttpOptions::default())
}

/// Binds the API to `listen` over the given services. Signals are not handled here:
/// [`serve`] stops the server (gracefully, within `options.shutdown_timeout`) on SIGINT or
/// SIGTERM.
///
/// # Errors
/// When the address cannot be bound.
pub fn bind_with(
    wiring: &Wiring,
    listen: SocketAddr,
    options: HttpOptions,
) -> anyhow::Result<Bound> {
    let services = wiring.http_services();
    let ops = wiring.ops_services(options.rate_limit);
    let unsubscribe = wiring.unsubscribe.clone();
    let unibox = wiring.unibox.clone();
    let webhooks = wiring.webhooks.clone();
    let server = HttpServer::new(move || {
        let unsubscribe = unsubscribe.clone();
        let unibox = unibox.clone();
        let webhooks = webhooks.clone();
        // The last wrap runs first: request id, metrics, request log, rate limit, idempotency.
        App::new()
            .wrap(from_fn(idempotency))
            .wrap(from_fn(rate_limit))
            .wrap(from_fn(log_request))
            .wrap(from_fn(record_metrics))
            .wrap(from_fn(request_id))
            .configure(reachkit_http::ops::configure_ops(ops.clone()))
            .configure(move |cfg| {
                if let Some(service) = unsubscribe {
                    reachkit_http::configure_unsubscribe(service)(cfg);
                }
                if let Some(service) = unibox {
                    reachkit_http::configure_unibox(service)(cfg);
                }
                if let Some(service) = webhooks {
                    reachkit_http::configure_webhooks(service)(cfg);
                }
            })
            .configure(reachkit_http::configure(services.clone()))
    })
    .shutdown_timeout(options.shutdown_timeout.as_secs())
    .disable_signals()
    .bind(listen)
    .with_context(|| format!("cannot listen on {listen} (http.listen / REACHKIT_LISTEN)"))?;
    let addrs = server.addrs();
    Ok(Bound {
        server: server.run(),
        addrs,
    })
}

/// The SMTP adapter, with the mail settings.
fn mail_sender(settings: &Settings) -> Arc<dyn MailSender> {
    Arc::new(SmtpSender::new(SmtpSettings {
        timeout: Duration::from_secs(settings.mail.check_timeout_seconds),
        allow_invalid_certs: settings.mail.allow_invalid_certs,
        helo_host: None,
    }))
}

/// The background workers: the connection check, ESP detection, the inbox sync, IMAP IDLE
/// (unless `sync.idle` is off), warmup and the sending engine.
struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Workers {
    fn start(settings: &Settings, wiring: &Wiring) -> anyhow::Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let checker = Arc::new(MailChecker::new(settings.mail_checks()));
        let check = tokio::spawn(connection_check_loop(
            wiring.connection_check(checker),
            Arc::clone(&clock),
            Duration::from_secs(settings.engine.connection_check_seconds),
            stopped.clone(),
        ));
        let resolver = HickoryMxResolver::new(&settings.mx()?).map_err(anyhow::Error::msg)?;
        let esp = tokio::spawn(esp_detection_loop(
            wiring.esp_detection(Arc::new(resolver)),
            Arc::clone(&clock),
            ESP_DETECTION_EVERY,
            stopped.clone(),
        ));
        let sending = wiring.sending(
            mail_sender(settings),
            settings.unsubscribe_tokens()?,
            settings.sending(),
        );
        tracing::info!(owner = %sending.owner(), "sending engine started");
        let sync = tokio::spawn(sync_loop(
            wiring
                .sync_with_clock(
                    Arc::new(ImapReader::new(settings.imap())),
                    Arc::new(MailAnalyzer),
                    // classifier.base_url set: the remote classifier with the built-in rules as
                    // its fallback; else the built-in rules.
                    reply_classifier(&settings.classifier)?,
                    settings.sync(),
                    Arc::clone(&clock),
                )
                .with_warmup(wiring.warmup_receiver(settings.warmup().reply_share_percent)),
            Arc::clone(&clock),
            stopped.clone(),
        ));
        let warmup =
            wiring.warmup_with_clock(mail_sender(settings), settings.warmup(), Arc::clone(&clock));
        tracing::info!(owner = %warmup.owner(), "warmup worker started");
        let warmup = tokio::spawn(warmup_loop(warmup, Arc::clone(&clock), stopped.clone()));
        let mut tasks = vec![check, esp, sync, warmup];
        if let Some(watch) = settings.watch() {
            tasks.push(tokio::spawn(idle_loop(
                wiring.inbox_watch(Arc::new(ImapWatcher::new(settings.imap())), watch),
                stopped.clone(),
            )));
        }
        tasks.push(tokio::spawn(idempotency_purge_loop(
            wiring.idempotency(),
            IDEMPOTENCY_PURGE_EVERY,
            stopped.clone(),
        )));
        tasks.push(tokio::spawn(crate::webhooks::webhook_loop(
            wiring.webhook_delivery(
                Arc::new(reachkit_mail::webhook::HttpWebhookPoster {
                    allow_private_targets: settings.webhooks.allow_private_targets,
                    timeout: Duration::from_secs(settings.webhooks.timeout_seconds),
                }),
                settings.webhooks(),
                Arc::clone(&clock),
            ),
            Duration::from_millis(settings.webhooks.tick_ms),
            stopped.clone(),
        )));
        let send = tokio::spawn(sending_loop(
            sending,
            clock,
            Duration::from_millis(settings.engine.tick_ms),
            stopped,
        ));
        tasks.push(send);
        Ok(Self { stop, tasks })
    }

    /// Tells every worker to stop claiming new work.
    fn signal_stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops claiming, lets the sends in flight finish, and waits for the workers, at most
    /// `deadline`: after it, work still in flight is abandoned (its leases expire and another
    /// process recovers it, see docs/ENGINE.md).
    async fn stop(self, deadline: Duration) {
        self.signal_stop();
        let join = async {
            for task in self.tasks {
                if let Err(e) = task.await {
                    tracing::error!(error = %e, "a background worker failed");
                }
            }
        };
        if tokio::time::timeout(deadline, join).await.is_err() {
            tracing::warn!(
                deadline_seconds = deadline.as_secs(),
                "shutdown deadline passed: abandoning the work still in flight"
            );
        }
    }
}

/// Deletes expired idempotency keys every `every` until `stop` turns true.
pub async fn idempotency_purge_loop(
    service: reachkit_core::idempotency::IdempotencyService,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        match service.purge_expired().await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged expired idempotency keys"),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "purging idempotency keys failed"),
        }
    }
}

async fn connect(settings: &Settings) -> anyhow::Result<Wiring> {
    let url = settings.database_url()?;
    let secrets = Arc::new(settings.secret_box()?);
    let applied = reachkit_postgres::run_migrations(url).await?;
    if !applied.is_empty() {
        tracing::info!(count = applied.len(), "applied migrations");
    }
    Ok(Wiring::connect_system(url, settings.pool(), secrets)
        .await?
        .with_unsubscribe_tokens(settings.unsubscribe_tokens()?)
        .with_unibox(mail_sender(settings))
        .with_webhooks(settings.webhooks()))
}

/// Runs `reachkit serve` (with the workers unless `with_workers` is false).
///
/// # Errors
/// When migrations fail, the database is unreachable or the address cannot be bound.
pub async fn serve(settings: &Settings, with_workers: bool) -> anyhow::Result<()> {
    let wiring = connect(settings).await?;
    let listen = settings
        .listen_addr()
        .with_context(|| format!("http.listen {:?} is not an address", settings.http.listen))?;
    let options = HttpOptions::from_settings(settings);
    let bound = bind_with(&wiring, listen, options)?;
    {
        let mut out = std::io::stdout().lock();
        for addr in &bound.addrs {
            writeln!(out, "reachkit listening on http://{addr}")?;
        }
        out.flush()?;
    }
    tracing::info!(addrs = ?bound.addrs, "serving the API");
    let workers = if with_workers {
        Some(Workers::start(settings, &wiring)?)
    } else {
        None
    };
    let handle = bound.server.handle();
    let mut server = std::pin::pin!(bound.server);
    let served = tokio::select! {
        served = &mut server => served,
        () = shutdown_signal() => {
            tracing::info!(
                deadline_seconds = options.shutdown_timeout.as_secs(),
                "stopping: no new connections or claims; finishing the requests and sends in flight"
            );
            // Workers stop claiming at once, while the server drains its requests.
            if let Some(workers) = &workers {
                workers.signal_stop();
            }
            // The stop command is carried out by the server future: poll both.
            let ((), served) = tokio::join!(handle.stop(true), server);
            served
        }
    };
    if let Some(workers) = workers {
        workers.stop(options.shutdown_timeout).await;
    }
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// Runs `reachkit worker`: the workers without the API, until SIGINT or SIGTERM.
///
/// # Errors
/// When migrations fail or the database is unreachable.
pub async fn work(settings: &Settings) -> anyhow::Result<()> {
    let wiring = connect(settings).await?;
    let workers = Workers::start(settings, &wiring)?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "reachkit worker running")?;
        out.flush()?;
    }
    shutdown_signal().await;
    tracing::info!("stopping: finishing the sends in flight");
    workers.stop(settings.shutdown_timeout()).await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
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
