//! Configuration: built-in defaults, then an optional `reachkit.toml`, then `REACHKIT__SECTION__KEY`
//! environment variables; `DATABASE_URL` and `REACHKIT_LISTEN` always win.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use reachkit_core::secrets::AesGcmSecretBox;
use serde::Deserialize;

/// Every setting Reachkit reads, with its section.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub log: LogSettings,
    #[serde(default)]
    pub secrets: SecretsSettings,
    pub mail: MailSettings,
    pub engine: EngineSettings,
    #[serde(default)]
    pub dns: DnsSettings,
    pub sync: SyncSettings,
    pub warmup: WarmupSettings,
    #[serde(default)]
    pub classifier: ClassifierSettings,
    #[serde(default)]
    pub webhooks: WebhooksSettings,
    /// Keys found in the sources that no setting uses: logged as warnings at start-up.
    #[serde(skip)]
    pub unknown_keys: Vec<String>,
    /// Where the file settings came from, if a file was read.
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

#[derive(Clone, Deserialize)]
pub struct DatabaseSettings {
    /// PostgreSQL URL; `DATABASE_URL` overrides it.
    pub url: Option<String>,
    pub max_connections: usize,
    pub acquire_timeout_seconds: u64,
}

// The URL may hold a password: never print it.
impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &self.url.as_ref().map(|_| "<set>"))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout_seconds", &self.acquire_timeout_seconds)
            .finish()
    }
}

/// Keys that protect data at rest.
#[derive(Clone, Default, Deserialize)]
pub struct SecretsSettings {
    /// Base64 of 32 random bytes: the AES-256-GCM key inbox passwords are encrypted with.
    pub key: Option<String>,
}

// The key must never be printed.
impl std::fmt::Debug for SecretsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsSettings")
            .field("key", &self.key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// How Reachkit talks to mail servers.
#[derive(Debug, Clone, Deserialize)]
pub struct MailSettings {
    /// Accept invalid (e.g. self-signed) TLS certificates. For test servers only.
    pub allow_invalid_certs: bool,
    /// The longest one SMTP or IMAP login check may take.
    pub check_timeout_seconds: u64,
}

/// The background workers.
#[derive(Debug, Clone, Deserialize)]
pub struct EngineSettings {
    /// Seconds between two passes of the inbox connection check.
    pub connection_check_seconds: u64,
    /// Milliseconds between two passes of the sending engine (recover, plan, send).
    pub tick_ms: u64,
    /// Least seconds between two sends of one inbox.
    pub min_gap_seconds: u32,
    /// Random extra seconds (0 to this) added to each gap.
    pub max_jitter_seconds: u32,
    /// Seconds before the first retry of a temporary failure; later retries double it.
    pub retry_base_seconds: u32,
    /// Inbox SMTP sessions one process runs at once.
    pub concurrency: usize,
    /// Seconds a claimed send stays leased before recovery calls its outcome unknown.
    pub lease_seconds: u32,
    /// Sends claimed (and most queued per campaign) in one pass.
    pub batch_size: u32,
}

/// Inbox sync (docs/SYNC.md).
#[derive(Debug, Clone, Deserialize)]
pub struct SyncSettings {
    /// Seconds between two syncs of one inbox (polling; with IDLE the safety net).
    pub poll_seconds: u32,
    /// Seconds a process keeps an inbox it is syncing before another may take it over.
    pub lease_seconds: u32,
    /// Watch inboxes whose server has IMAP IDLE: new mail is synced at once instead of at the
    /// next poll (one IMAP connection per watched inbox).
    pub idle: bool,
    /// The most inboxes one process watches with IDLE (the others are only polled).
    pub idle_max_inboxes: u32,
}

/// Warmup (docs/WARMUP.md).
#[derive(Debug, Clone, Deserialize)]
pub struct WarmupSettings {
    /// Send warmup emails for the warming inboxes (received ones are recognised either way).
    pub enabled: bool,
    /// Least seconds between two warmup sends of one inbox.
    pub min_interval_seconds: u32,
    /// Spread each inbox's daily quota evenly over the rest of the UTC day (false: one send
    /// every `min_interval_seconds` until the quota is reached).
    pub spread_over_day: bool,
    /// Share (0-100) of received warmup emails answered in the same thread.
    pub reply_share_percent: u8,
    /// Seconds a process keeps an inbox it is sending warmup for before another may take it.
    pub lease_seconds: u32,
}

/// How MX records are looked up (ESP detection).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DnsSettings {
    /// One name server as `ip:port` (UDP and TCP), e.g. a local dnsmasq in tests; unset or empty
    /// for the system's configuration (`/etc/resolv.conf`).
    pub nameserver: Option<String>,
}

/// The optional remote reply classifier (an OpenAI-compatible chat-completions endpoint).
/// Off while `base_url` is unset or empty: the built-in rules label every reply.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct ClassifierSettings {
    /// e.g. `https://api.openai.com/v1`; `/chat/completions` is appended.
    pub base_url: Option<String>,
    pub model: String,
    /// Sent as a bearer token; never logged.
    pub api_key: Option<String>,
    /// The longest one classification may take before the built-in rules are used.
    pub timeout_seconds: u64,
}

/// Webhook delivery (docs/WEBHOOKS.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WebhooksSettings {
    /// Seconds before the first retry of a failed delivery; each later retry doubles it (at
    /// most 6 hours).
    pub retry_base_seconds: u64,
    /// Attempts (the first included) before a delivery is `failed`. The defaults retry for
    /// about 26.5 hours.
    pub max_attempts: u32,
    /// Deliveries failing for good in a row (no success between) before the endpoint is
    /// disabled.
    pub disable_after_failures: u32,
    /// Allow webhook URLs on private, loopback or link-local addresses (request forgery guard
    /// off). For tests and closed networks only.
    pub allow_private_targets: bool,
    /// The longest one delivery request may take.
    pub timeout_seconds: u64,
    /// Milliseconds between two passes of the delivery worker when nothing was due.
    pub tick_ms: u64,
}

impl Default for WebhooksSettings {
    fn default() -> Self {
        let d = reachkit_core::webhooks::WebhookSettings::default();
        Self {
            retry_base_seconds: d.retry_base.as_secs(),
            max_attempts: d.max_attempts,
            disable_after_failures: d.disable_after_failures,
            allow_private_targets: d.allow_private_targets,
            timeout_seconds: d.timeout.as_secs(),
            tick_ms: 1000,
        }
    }
}

impl Default for ClassifierSettings {
    fn default() -> Self {
        Self {
            base_url: None,
            model: String::new(),
            api_key: None,
            timeout_seconds: 10,
        }
    }
}

impl ClassifierSettings {
    /// The base URL when the remote classifier is on.
    #[must_use]
    pub fn enabled_url(&self) -> Option<&str> {
        self.base_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
    }
}

// The key must never be printed.
impl std::fmt::Debug for ClassifierSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClassifierSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("timeout_seconds", &self.timeout_seconds)
            .finish()
    }
}

/// How to make a key, for every message that asks for one.
pub const KEY_HELP: &str = "make one with `reachkit secrets generate-key` (or `openssl rand -base64 32`) \
     and set REACHKIT__SECRETS__KEY (or secrets.key in reachkit.toml); keep it safe and stable: \
     inbox passwords stored under one key cannot be read with another";

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    /// Address the API listens on; `REACHKIT_LISTEN` overrides it.
    pub listen: String,
    /// The base URL users reach this server at (for links Reachkit puts in emails).
    pub public_url: String,
    /// Requests a second each workspace may make (per process); 0 turns rate limiting off.
    pub rate_limit_per_second: u32,
    /// Requests a workspace may make at once before the per-second rate applies.
    pub rate_limit_burst: u32,
    /// Seconds a shutdown waits for in-flight requests and sends before exiting anyway.
    pub shutdown_timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `reachkit=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Every key a source may set. Anything else is reported as unknown.
const KNOWN_KEYS: &[&str] = &[
    "database.url",
    "database.max_connections",
    "database.acquire_timeout_seconds",
    "http.listen",
    "http.public_url",
    "http.rate_limit_per_second",
    "http.rate_limit_burst",
    "http.shutdown_timeout_seconds",
    "log.format",
    "log.level",
    "secrets.key",
    "mail.allow_invalid_certs",
    "mail.check_timeout_seconds",
    "engine.connection_check_seconds",
    "dns.nameserver",
    "engine.tick_ms",
    "engine.min_gap_seconds",
    "engine.max_jitter_seconds",
    "engine.retry_base_seconds",
    "engine.concurrency",
    "engine.lease_seconds",
    "engine.batch_size",
    "sync.poll_seconds",
    "sync.lease_seconds",
    "sync.idle",
    "sync.idle_max_inboxes",
    "warmup.enabled",
    "warmup.min_interval_seconds",
    "warmup.spread_over_day",
    "warmup.reply_share_percent",
    "warmup.lease_seconds",
    "classifier.base_url",
    "classifier.model",
    "classifier.api_key",
    "classifier.timeout_seconds",
    "webhooks.retry_base_seconds",
    "webhooks.max_attempts",
    "webhooks.disable_after_failures",
    "webhooks.allow_private_targets",
    "webhooks.timeout_seconds",
    "webhooks.tick_ms",
];

const DEFAULTS: &str = r#"
[database]
max_connections = 10
acquire_timeout_seconds = 5

[http]
listen = "127.0.0.1:8080"
public_url = "http://127.0.0.1:8080"
rate_limit_per_second = 100
rate_limit_burst = 200
shutdown_timeout_seconds = 30

[log]
format = "text"
level = "info"


[mail]
allow_invalid_certs = false
check_timeout_seconds = 30

[engine]
connection_check_seconds = 10
tick_ms = 1000
min_gap_seconds = 60
max_jitter_seconds = 30
retry_base_seconds = 300
concurrency = 8
lease_seconds = 600
batch_size = 200

[sync]
poll_seconds = 60
lease_seconds = 600
idle = true
idle_max_inboxes = 100

[warmup]
enabled = true
min_interval_seconds = 900
spread_over_day = true
reply_share_percent = 30
lease_seconds = 300
"#;

/// Why the settings could not be loaded. Each message names the setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The environment the settings are read from, injectable for tests.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
    fn vars(&self) -> Vec<(String, String)>;
}

/// The process environment.
#[derive(Debug, Clone, Copy)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    fn vars(&self) -> Vec<(String, String)> {
        std::env::vars().collect()
    }
}

impl Settings {
    /// Loads the settings. `file` is the `--config` path; without it `REACHKIT_CONFIG` is used,
    /// and without that `./reachkit.toml` when it exists.
    ///
    /// # Errors
    /// [`SettingsError`] naming the file or the setting that is wrong.
    pub fn load(file: Option<&Path>, env: &dyn Env) -> Result<Self, SettingsError> {
        let explicit = file
            .map(Path::to_path_buf)
            .or_else(|| env.var("REACHKIT_CONFIG").map(PathBuf::from));
        let file = match explicit {
            Some(path) if !path.is_file() => return Err(SettingsError::MissingFile(path)),
            Some(path) => Some(path),
            None => Some(PathBuf::from("reachkit.toml")).filter(|p| p.is_file()),
        };

        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(path) = &file {
            builder = builder.add_source(File::from(path.as_path()).format(FileFormat::Toml));
        }
        let environment: config::Map<String, String> = env
            .vars()
            .into_iter()
            .filter(|(k, _)| k.starts_with("REACHKIT__"))
            .collect();
        builder = builder.add_source(
            Environment::with_prefix("REACHKIT")
                .separator("__")
                .try_parsing(true)
                .source(Some(environment)),
        );
        if let Some(url) = env.var("DATABASE_URL") {
            builder = builder
                .set_override("database.url", url)
                .map_err(|e| SettingsError::Invalid(e.to_string()))?;
        }
        if let Some(listen) = env.var("REACHKIT_LISTEN") {
            builder = builder
                .set_override("http.listen", listen)
                .map_err(|e| SettingsError::Invalid(e.to_string()))?;
        }
        let config = builder
            .build()
            .map_err(|e| SettingsError::Invalid(e.to_string()))?;

        let mut unknown_keys = Vec::new();
        if let Ok(tree) = config.clone().try_deserialize::<serde_json::Value>() {
            collect_unknown(&tree, "", &mut unknown_keys);
        }
        let mut settings: Self = config
            .try_deserialize()
            .map_err(|e| SettingsError::Invalid(e.to_string()))?;
        settings.unknown_keys = unknown_keys;
        settings.file = file;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |key: &str, why: &str| Err(SettingsError::Invalid(format!("{key} {why}")));
        if self.listen_addr().is_err() {
            return invalid(
                "http.listen",
                &format!(
                    "must be an address such as 127.0.0.1:8080, not {:?}",
                    self.http.listen
                ),
            );
        }
        if !(self.http.public_url.starts_with("http://")
            || self.http.public_url.starts_with("https://"))
        {
            return invalid("http.public_url", "must start with http:// or https://");
        }
        if self.http.rate_limit_per_second > 0 && self.http.rate_limit_burst == 0 {
            return invalid(
                "http.rate_limit_burst",
                "must be at least 1 (set http.rate_limit_per_second = 0 to turn limiting off)",
            );
        }
        if self.http.shutdown_timeout_seconds == 0 {
            return invalid("http.shutdown_timeout_seconds", "must be at least 1");
        }
        let w = &self.webhooks;
        for (key, value) in [
            ("webhooks.retry_base_seconds", w.retry_base_seconds),
            ("webhooks.max_attempts", u64::from(w.max_attempts)),
            (
                "webhooks.disable_after_failures",
                u64::from(w.disable_after_failures),
            ),
            ("webhooks.timeout_seconds", w.timeout_seconds),
            ("webhooks.tick_ms", w.tick_ms),
        ] {
            if value == 0 {
                return invalid(key, "must be at least 1");
            }
        }
        if self.database.max_connections == 0 {
            return invalid("database.max_connections", "must be at least 1");
        }
        if self.database.acquire_timeout_seconds == 0 {
            return invalid("database.acquire_timeout_seconds", "must be at least 1");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return invalid("log.level", "is not a valid filter (try info or debug)");
        }
        if let Some(key) = &self.secrets.key
            && let Err(e) = AesGcmSecretBox::from_base64(key)
        {
            return invalid(
                "secrets.key",
                &format!("{e} (base64 of 32 random bytes): {KEY_HELP}"),
            );
        }
        if self.mail.check_timeout_seconds == 0 {
            return invalid("mail.check_timeout_seconds", "must be at least 1");
        }
        if self.engine.connection_check_seconds == 0 {
            return invalid("engine.connection_check_seconds", "must be at least 1");
        }
        if let Err(e) = self.dns_nameserver() {
            return invalid("dns.nameserver", &e);
        }
        if self.engine.tick_ms == 0 {
            return invalid("engine.tick_ms", "must be at least 1");
        }
        if self.engine.retry_base_seconds == 0 {
            return invalid("engine.retry_base_seconds", "must be at least 1");
        }
        if self.engine.concurrency == 0 {
            return invalid("engine.concurrency", "must be at least 1");
        }
        if self.engine.lease_seconds < 30 {
            return invalid(
                "engine.lease_seconds",
                "must be at least 30 (longer than one SMTP batch takes)",
            );
        }
        if self.sync.poll_seconds == 0 {
            return invalid("sync.poll_seconds", "must be at least 1");
        }
        if self.sync.lease_seconds < 30 {
            return invalid("sync.lease_seconds", "must be at least 30");
        }
        if self.warmup.reply_share_percent > 100 {
            return invalid("warmup.reply_share_percent", "must be between 0 and 100");
        }
        if self.warmup.lease_seconds < 30 {
            return invalid("warmup.lease_seconds", "must be at least 30");
        }
        if self.sync.idle_max_inboxes == 0 {
            return invalid(
                "sync.idle_max_inboxes",
                "must be at least 1 (set sync.idle = false to turn IDLE off)",
            );
        }
        if let Some(url) = self.classifier.enabled_url() {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return invalid("classifier.base_url", "must start with http:// or https://");
            }
            if self.classifier.model.trim().is_empty() {
                return invalid(
                    "classifier.model",
                    "is required when classifier.base_url is set",
                );
            }
            if self.classifier.timeout_seconds == 0 {
                return invalid("classifier.timeout_seconds", "must be at least 1");
            }
        }
        if self.engine.batch_size == 0 {
            return invalid("engine.batch_size", "must be at least 1");
        }
        Ok(())
    }

    /// The box inbox passwords are sealed with, from `secrets.key`.
    ///
    /// # Errors
    /// When no key is configured, with a message that says how to make one.
    pub fn secret_box(&self) -> anyhow::Result<AesGcmSecretBox> {
        let key = self.secrets.key.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "no secrets.key configured: Reachkit encrypts inbox passwords with it; {KEY_HELP}"
            )
        })?;
        AesGcmSecretBox::from_base64(key)
            .map_err(|e| anyhow::anyhow!("secrets.key {e}: {KEY_HELP}"))
    }

    /// The inbox sync's settings.
    #[must_use]
    pub fn sync(&self) -> reachkit_core::sync::SyncSettings {
        reachkit_core::sync::SyncSettings {
            poll_seconds: self.sync.poll_seconds,
            lease_seconds: self.sync.lease_seconds,
        }
    }

    /// The warmup worker's settings.
    #[must_use]
    pub fn warmup(&self) -> reachkit_core::warmup::WarmupSettings {
        let w = &self.warmup;
        reachkit_core::warmup::WarmupSettings {
            enabled: w.enabled,
            min_interval_seconds: w.min_interval_seconds,
            spread_over_day: w.spread_over_day,
            reply_share_percent: w.reply_share_percent,
            lease_seconds: w.lease_seconds,
        }
    }

    /// IMAP IDLE's settings; `None` when `sync.idle` is off.
    #[must_use]
    pub fn watch(&self) -> Option<reachkit_core::inbox_watch::WatchSettings> {
        self.sync
            .idle
            .then_some(reachkit_core::inbox_watch::WatchSettings {
                max_inboxes: self.sync.idle_max_inboxes,
                lease_seconds: crate::idle::WATCH_LEASE_SECONDS,
            })
    }

    /// The IMAP reader's settings (the mail section's timeout and certificate policy).
    #[must_use]
    pub fn imap(&self) -> reachkit_mail::imap::ImapSettings {
        reachkit_mail::imap::ImapSettings {
            timeout: Duration::from_secs(self.mail.check_timeout_seconds.max(1) * 2),
            allow_invalid_certs: self.mail.allow_invalid_certs,
        }
    }

    /// The webhook settings.
    #[must_use]
    pub fn webhooks(&self) -> reachkit_core::webhooks::WebhookSettings {
        let w = &self.webhooks;
        reachkit_core::webhooks::WebhookSettings {
            retry_base: Duration::from_secs(w.retry_base_seconds),
            max_attempts: w.max_attempts,
            disable_after_failures: w.disable_after_failures,
            allow_private_targets: w.allow_private_targets,
            timeout: Duration::from_secs(w.timeout_seconds),
            ..reachkit_core::webhooks::WebhookSettings::default()
        }
    }

    /// The sending engine's settings.
    #[must_use]
    pub fn sending(&self) -> reachkit_core::engine::EngineSettings {
        let e = &self.engine;
        reachkit_core::engine::EngineSettings {
            min_gap_seconds: e.min_gap_seconds,
            max_jitter_seconds: e.max_jitter_seconds,
            retry_base_seconds: e.retry_base_seconds,
            concurrency: e.concurrency,
            lease_seconds: e.lease_seconds,
            batch_size: e.batch_size,
        }
    }

    /// How mail servers are checked.
    #[must_use]
    pub fn mail_checks(&self) -> reachkit_mail::check::CheckSettings {
        reachkit_mail::check::CheckSettings {
            timeout: Duration::from_secs(self.mail.check_timeout_seconds),
            allow_invalid_certs: self.mail.allow_invalid_certs,
        }
    }

    /// The unsubscribe tokens and links: keyed from `secrets.key` (a key derived for this use
    /// only), links under `http.public_url`.
    ///
    /// # Errors
    /// When no key is configured, with a message that says how to make one.
    pub fn unsubscribe_tokens(
        &self,
    ) -> anyhow::Result<reachkit_core::unsubscribe::UnsubscribeTokens> {
        use base64::Engine as _;
        // secret_box() validates the key and says how to make one.
        self.secret_box()?;
        let key = self.secrets.key.as_deref().unwrap_or_default();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .map_err(|e| anyhow::anyhow!("secrets.key is not base64: {e}"))?;
        Ok(reachkit_core::unsubscribe::UnsubscribeTokens::new(
            &bytes,
            &self.http.public_url,
        ))
    }

    /// The name server `dns.nameserver` names, or `None` for the system's.
    ///
    /// # Errors
    /// When it is set but not `ip:port`.
    pub fn dns_nameserver(&self) -> Result<Option<SocketAddr>, String> {
        match self.dns.nameserver.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(raw) => raw
                .parse()
                .map(Some)
                .map_err(|_| format!("must be ip:port such as 127.0.0.1:53, not {raw:?}")),
        }
    }

    /// How MX records are looked up.
    ///
    /// # Errors
    /// When `dns.nameserver` is malformed (validated at load, so not after [`Settings::load`]).
    pub fn mx(&self) -> anyhow::Result<reachkit_mail::mx::MxSettings> {
        Ok(reachkit_mail::mx::MxSettings {
            nameserver: self
                .dns_nameserver()
                .map_err(|e| anyhow::anyhow!("dns.nameserver {e}"))?,
            ..reachkit_mail::mx::MxSettings::default()
        })
    }

    /// The parsed listen address.
    ///
    /// # Errors
    /// When `http.listen` is not a socket address.
    pub fn listen_addr(&self) -> Result<SocketAddr, std::net::AddrParseError> {
        self.http.listen.parse()
    }

    /// The database URL, or an error that says how to give one.
    ///
    /// # Errors
    /// When neither `DATABASE_URL` nor `database.url` is set.
    pub fn database_url(&self) -> anyhow::Result<&str> {
        self.database.url.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "no database configured: set DATABASE_URL (or database.url in reachkit.toml, \
                 or REACHKIT__DATABASE__URL), e.g. postgres://user:password@127.0.0.1:5432/reachkit"
            )
        })
    }

    /// The per-workspace rate limit of the API.
    #[must_use]
    pub fn rate_limit(&self) -> reachkit_core::rate_limit::RateLimitSettings {
        reachkit_core::rate_limit::RateLimitSettings {
            per_second: self.http.rate_limit_per_second,
            burst: self.http.rate_limit_burst,
        }
    }

    /// How long a shutdown waits for work in flight.
    #[must_use]
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.http.shutdown_timeout_seconds)
    }

    /// Pool settings for the database adapter.
    #[must_use]
    pub fn pool(&self) -> reachkit_postgres::PoolSettings {
        reachkit_postgres::PoolSettings {
            max_connections: self.database.max_connections,
            acquire_timeout: Duration::from_secs(self.database.acquire_timeout_seconds),
        }
    }
}

fn collect_unknown(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                let is_known_section = KNOWN_KEYS
                    .iter()
                    .any(|k| k.starts_with(&format!("{path}.")));
                if KNOWN_KEYS.contains(&path.as_str()) {
                    continue;
                }
                if is_known_section && child.is_object() {
                    collect_unknown(child, &path, out);
                } else {
                    out.push(path);
                }
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct FakeEnv(HashMap<String, String>);

    impl FakeEnv {
        fn new(pairs: &[(&str, &str)]) -> Self {
            Self(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            )
        }
    }

    impl Env for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned().filter(|v| !v.is_empty())
        }
        fn vars(&self) -> Vec<(String, String)> {
            self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        }
    }

    fn temp_file(contents: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "reachkit-settings-{}-{}.toml",
            std::process::id(),
            contents.len()
        ));
        std::fs::write(&path, contents).expect("write temp config");
        path
    }

    #[test]
    fn defaults_apply_without_any_source() {
        let s = Settings::load(None, &FakeEnv::new(&[])).expect("load");
        assert_eq!(s.http.listen, "127.0.0.1:8080");
        assert_eq!(s.database.max_connections, 10);
        assert_eq!(s.log.format, LogFormat::Text);
        assert!(s.database.url.is_none());
        assert!(s.database_url().is_err());
        assert!(s.unknown_keys.is_empty());
    }

    #[test]
    fn imap_idle_is_on_by_default_and_can_be_turned_off() {
        let s = Settings::load(None, &FakeEnv::new(&[])).expect("load");
        let watch = s.watch().expect("IDLE on");
        assert_eq!(watch.max_inboxes, 100);
        let env = FakeEnv::new(&[
            ("REACHKIT__SYNC__IDLE", "false"),
            ("REACHKIT__SYNC__POLL_SECONDS", "3600"),
        ]);
        let s = Settings::load(None, &env).expect("load");
        assert!(s.watch().is_none());
        assert_eq!(s.sync().poll_seconds, 3600);
        assert!(s.unknown_keys.is_empty(), "{:?}", s.unknown_keys);
    }

    #[test]
    fn the_remote_classifier_is_off_by_default_and_its_key_is_never_printed() {
        let s = Settings::load(None, &FakeEnv::new(&[])).expect("load");
        assert!(s.classifier.enabled_url().is_none());
        let env = FakeEnv::new(&[
            ("REACHKIT__CLASSIFIER__BASE_URL", "http://127.0.0.1:9/v1"),
            ("REACHKIT__CLASSIFIER__MODEL", "small"),
            ("REACHKIT__CLASSIFIER__API_KEY", "sk-very-secret"),
        ]);
        let s = Settings::load(None, &env).expect("load");
        assert_eq!(s.classifier.enabled_url(), Some("http://127.0.0.1:9/v1"));
        assert!(s.unknown_keys.is_empty(), "{:?}", s.unknown_keys);
        assert!(!format!("{s:?}").contains("sk-very-secret"));
        let env = FakeEnv::new(&[("REACHKIT__CLASSIFIER__BASE_URL", "http://127.0.0.1:9/v1")]);
        let err = Settings::load(None, &env).unwrap_err().to_string();
        assert!(err.contains("classifier.model"), "{err}");
        let env = FakeEnv::new(&[
            ("REACHKIT__CLASSIFIER__BASE_URL", "ftp://x"),
            ("REACHKIT__CLASSIFIER__MODEL", "small"),
        ]);
        let err = Settings::load(None, &env).unwrap_err().to_string();
        assert!(err.contains("classifier.base_url"), "{err}");
    }

    #[test]
    fn file_then_environment_then_the_two_fixed_variables_win() {
        let file = temp_file(
            "[database]\nurl = \"postgres://file\"\nmax_connections = 3\n[http]\nlisten = \"127.0.0.1:9000\"\n",
        );
        let from_file = Settings::load(Some(&file), &FakeEnv::new(&[])).expect("load");
        assert_eq!(from_file.database.url.as_deref(), Some("postgres://file"));
        assert_eq!(from_file.database.max_connections, 3);
        assert_eq!(from_file.http.listen, "127.0.0.1:9000");

        let env = FakeEnv::new(&[
            ("REACHKIT__DATABASE__MAX_CONNECTIONS", "7"),
            ("REACHKIT__DATABASE__URL", "postgres://env"),
            ("REACHKIT__HTTP__LISTEN", "127.0.0.1:9001"),
        ]);
        let from_env = Settings::load(Some(&file), &env).expect("load");
        assert_eq!(from_env.database.max_connections, 7);
        assert_eq!(from_env.database.url.as_deref(), Some("postgres://env"));
        assert_eq!(from_env.http.listen, "127.0.0.1:9001");

        let env = FakeEnv::new(&[
            ("REACHKIT__DATABASE__URL", "postgres://env"),
            ("REACHKIT__HTTP__LISTEN", "127.0.0.1:9001"),
            ("DATABASE_URL", "postgres://wins"),
            ("REACHKIT_LISTEN", "127.0.0.1:9002"),
        ]);
        let winners = Settings::load(Some(&file), &env).expect("load");
        assert_eq!(winners.database.url.as_deref(), Some("postgres://wins"));
        assert_eq!(winners.http.listen, "127.0.0.1:9002");
        let _ = std::fs::remove_file(file);
    }

    #[test]
    fn reachkit_config_names_the_file_when_no_flag_is_given() {
        let file = temp_file("[log]\nformat = \"json\"\n");
        let env = FakeEnv::new(&[("REACHKIT_CONFIG", file.to_str().expect("utf-8 path"))]);
        let s = Settings::load(None, &env).expect("load");
        assert_eq!(s.log.format, LogFormat::Json);
        let _ = std::fs::remove_file(file);
    }

    #[test]
    fn invalid_settings_stop_start_up_naming_the_setting() {
        let cases = [
            ("REACHKIT__HTTP__LISTEN", "not an address", "http.listen"),
            (
                "REACHKIT__DATABASE__MAX_CONNECTIONS",
                "many",
                "max_connections",
            ),
            (
                "REACHKIT__DATABASE__MAX_CONNECTIONS",
                "0",
                "database.max_connections",
            ),
            ("REACHKIT__LOG__FORMAT", "xml", "log.format"),
            ("REACHKIT__HTTP__PUBLIC_URL", "ftp://x", "http.public_url"),
            (
                "REACHKIT__HTTP__RATE_LIMIT_BURST",
                "0",
                "http.rate_limit_burst",
            ),
            (
                "REACHKIT__HTTP__SHUTDOWN_TIMEOUT_SECONDS",
                "0",
                "http.shutdown_timeout_seconds",
            ),
            ("REACHKIT__SECRETS__KEY", "not base64!", "secrets.key"),
            ("REACHKIT__SECRETS__KEY", "c2hvcnQ=", "secrets.key"),
            (
                "REACHKIT__ENGINE__CONNECTION_CHECK_SECONDS",
                "0",
                "engine.connection_check_seconds",
            ),
            (
                "REACHKIT__MAIL__CHECK_TIMEOUT_SECONDS",
                "0",
                "mail.check_timeout_seconds",
            ),
            ("REACHKIT__DNS__NAMESERVER", "localhost", "dns.nameserver"),
            ("REACHKIT__ENGINE__TICK_MS", "0", "engine.tick_ms"),
            ("REACHKIT__ENGINE__CONCURRENCY", "0", "engine.concurrency"),
            (
                "REACHKIT__ENGINE__LEASE_SECONDS",
                "5",
                "engine.lease_seconds",
            ),
            (
                "REACHKIT__ENGINE__RETRY_BASE_SECONDS",
                "0",
                "engine.retry_base_seconds",
            ),
            ("REACHKIT__ENGINE__MIN_GAP_SECONDS", "-1", "min_gap_seconds"),
            (
                "REACHKIT__WARMUP__REPLY_SHARE_PERCENT",
                "101",
                "warmup.reply_share_percent",
            ),
            (
                "REACHKIT__WARMUP__LEASE_SECONDS",
                "5",
                "warmup.lease_seconds",
            ),
            (
                "REACHKIT__SYNC__IDLE_MAX_INBOXES",
                "0",
                "sync.idle_max_inboxes",
            ),
            ("REACHKIT__SYNC__IDLE", "sometimes", "idle"),
        ];
        for (key, value, named) in cases {
            let err = Settings::load(None, &FakeEnv::new(&[(key, value)]))
                .err()
                .unwrap_or_else(|| panic!("{key}={value} was accepted"));
            assert!(err.to_string().contains(named), "{key}={value}: {err}");
        }
    }

    #[test]
    fn warmup_is_on_by_default_spread_over_the_day_and_tests_can_set_a_short_interval() {
        let s = Settings::load(None, &FakeEnv::new(&[]))
            .expect("load")
            .warmup();
        assert!(s.enabled && s.spread_over_day);
        assert_eq!(
            (
                s.min_interval_seconds,
                s.reply_share_percent,
                s.lease_seconds
            ),
            (900, 30, 300)
        );
        let env = FakeEnv::new(&[
            ("REACHKIT__WARMUP__MIN_INTERVAL_SECONDS", "2"),
            ("REACHKIT__WARMUP__SPREAD_OVER_DAY", "false"),
            ("REACHKIT__WARMUP__REPLY_SHARE_PERCENT", "100"),
            ("REACHKIT__WARMUP__ENABLED", "false"),
        ]);
        let loaded = Settings::load(None, &env).expect("load");
        assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
        let s = loaded.warmup();
        assert!(!s.enabled && !s.spread_over_day);
        assert_eq!((s.min_interval_seconds, s.reply_share_percent), (2, 100));
    }

    #[test]
    fn a_missing_explicit_file_is_an_error() {
        let err = Settings::load(
            Some(Path::new("/nonexistent/reachkit.toml")),
            &FakeEnv::new(&[]),
        );
        assert!(matches!(err, Err(SettingsError::MissingFile(_))));
    }

    #[test]
    fn unknown_keys_are_reported_not_fatal() {
        let file =
            temp_file("[http]\nlisten = \"127.0.0.1:1\"\nlisen = \"typo\"\n[smtp]\nhost = \"x\"\n");
        let env = FakeEnv::new(&[("REACHKIT__LOG__COLOUR", "red")]);
        let s = Settings::load(Some(&file), &env).expect("load");
        let mut unknown = s.unknown_keys;
        unknown.sort();
        assert_eq!(unknown, ["http.lisen", "log.colour", "smtp"]);
        let _ = std::fs::remove_file(file);
    }

    #[test]
    fn the_secrets_key_is_optional_until_serve_asks_for_it_and_never_printed() {
        let none = Settings::load(None, &FakeEnv::new(&[])).expect("load");
        let err = none
            .secret_box()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("secrets.key"), "{err}");
        assert!(err.contains("reachkit secrets generate-key"), "{err}");
        let key = AesGcmSecretBox::generate_key_base64();
        let env = FakeEnv::new(&[("REACHKIT__SECRETS__KEY", key.as_str())]);
        let set = Settings::load(None, &env).expect("load");
        assert!(set.secret_box().is_ok());
        assert!(!format!("{set:?}").contains(&key));
        assert_eq!(set.engine.connection_check_seconds, 10);
        assert_eq!(set.engine.tick_ms, 1000);
        assert_eq!(set.sending().min_gap_seconds, 60);
        assert!(set.unsubscribe_tokens().is_ok());
        assert!(!set.mail.allow_invalid_certs);
    }

    #[test]
    fn the_dns_nameserver_is_the_system_s_unless_set() {
        let none = Settings::load(None, &FakeEnv::new(&[])).expect("load");
        assert_eq!(none.dns_nameserver(), Ok(None));
        let env = FakeEnv::new(&[("REACHKIT__DNS__NAMESERVER", "127.0.0.1:35353")]);
        let set = Settings::load(None, &env).expect("load");
        assert_eq!(
            set.dns_nameserver(),
            Ok(Some("127.0.0.1:35353".parse().expect("addr")))
        );
        assert!(set.unknown_keys.is_empty(), "{:?}", set.unknown_keys);
    }

    #[test]
    fn the_rate_limit_defaults_to_100_a_second_in_bursts_of_200_and_0_turns_it_off() {
        let s = Settings::load(None, &FakeEnv::new(&[])).expect("load");
        assert_eq!(
            (s.rate_limit().per_second, s.rate_limit().burst),
            (100, 200)
        );
        assert!(s.rate_limit().enabled());
        assert_eq!(s.shutdown_timeout(), Duration::from_secs(30));
        let env = FakeEnv::new(&[
            ("REACHKIT__HTTP__RATE_LIMIT_PER_SECOND", "0"),
            ("REACHKIT__HTTP__RATE_LIMIT_BURST", "0"),
        ]);
        let off = Settings::load(None, &env).expect("load");
        assert!(!off.rate_limit().enabled());
        assert!(off.unknown_keys.is_empty(), "{:?}", off.unknown_keys);
    }

    #[test]
    fn debug_output_never_shows_the_database_url() {
        let env = FakeEnv::new(&[("DATABASE_URL", "postgres://u:hunter2@h/db")]);
        let s = Settings::load(None, &env).expect("load");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn webhook_settings_default_to_a_day_of_retries_and_no_private_targets() {
        let s = Settings::load(None, &FakeEnv::new(&[])).expect("load");
        let w = s.webhooks();
        assert!(!w.allow_private_targets);
        assert_eq!(w.retry_base, Duration::from_secs(30));
        assert!(
            reachkit_core::webhooks::retry_span(w.retry_base, w.max_attempts)
                > Duration::from_secs(24 * 3600)
        );
        assert!(s.unknown_keys.is_empty(), "{:?}", s.unknown_keys);
    }

    #[test]
    fn webhook_settings_come_from_the_environment_and_zero_is_refused() {
        let env = FakeEnv::new(&[
            ("REACHKIT__WEBHOOKS__RETRY_BASE_SECONDS", "2"),
            ("REACHKIT__WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true"),
        ]);
        let w = Settings::load(None, &env).expect("load").webhooks();
        assert_eq!(w.retry_base, Duration::from_secs(2));
        assert!(w.allow_private_targets);
        let env = FakeEnv::new(&[("REACHKIT__WEBHOOKS__MAX_ATTEMPTS", "0")]);
        let err = Settings::load(None, &env).expect_err("zero attempts");
        assert!(err.to_string().contains("webhooks.max_attempts"), "{err}");
    }
}
