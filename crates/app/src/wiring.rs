//! Builds the services on the Postgres adapter: the one place where adapters meet.

use std::sync::Arc;

use reachkit_core::api_keys::ApiKeyService;
use reachkit_core::blocklist::BlocklistService;
use reachkit_core::campaigns::CampaignService;
use reachkit_core::classifier::AsyncReplyClassifier;
use reachkit_core::clock::{Clock, SystemClock};
use reachkit_core::connection_check::{ConnectionCheckService, MailboxChecker};
use reachkit_core::engine::{EngineSettings, SendingService};
use reachkit_core::esp_detection::{EspDetectionService, MxResolver};
use reachkit_core::inbox_watch::{MailboxWatcher, WatchService, WatchSettings};
use reachkit_core::inboxes::InboxService;
use reachkit_core::leads::LeadService;
use reachkit_core::secrets::{SecretBox, SecretError};
use reachkit_core::sending::MailSender;
use reachkit_core::sequences::SequenceService;
use reachkit_core::sync::{InboundAnalyzer, MailboxReader, SyncService, SyncSettings};
use reachkit_core::unsubscribe::{UnsubscribeService, UnsubscribeTokens};
use reachkit_core::warmup::{WarmupReceiver, WarmupService, WarmupSettings};
use reachkit_core::workspaces::WorkspaceService;
use reachkit_postgres::{
    Db, PgApiKeyRepository, PgBlocklistRepository, PgCampaignRepository, PgEspDetectionRepository,
    PgInboxRepository, PgLeadRepository, PgSendQueue, PgSequenceRepository, PgSyncStore,
    PgUnsubscribeRepository, PgWarmupStore, PgWatchStore, PgWorkspaceRepository, PoolSettings,
};

/// The secret box of commands that never touch secrets (no `secrets.key` needed): any use fails.
#[derive(Debug, Clone, Copy)]
pub struct NoSecretKey;

impl SecretBox for NoSecretKey {
    fn seal(&self, _: &[u8], _: &[u8]) -> Result<Vec<u8>, SecretError> {
        Err(SecretError::Unencryptable)
    }

    fn open(&self, _: &[u8], _: &[u8]) -> Result<Vec<u8>, SecretError> {
        Err(SecretError::Undecryptable)
    }
}

/// Every service, wired to one database.
#[derive(Clone)]
pub struct Wiring {
    pub db: Db,
    pub workspaces: WorkspaceService,
    pub api_keys: ApiKeyService,
    pub blocklist: BlocklistService,
    pub inboxes: InboxService,
    pub leads: LeadService,
    pub campaigns: CampaignService,
    pub sequences: SequenceService,
    /// The public unsubscribe link's service, once tokens are given
    /// ([`Wiring::with_unsubscribe_tokens`]); `/u/{token}` is served only then.
    pub unsubscribe: Option<UnsubscribeService>,
    /// The unibox, once a mail sender is given ([`Wiring::with_unibox`]); its endpoints are
    /// served only then.
    pub unibox: Option<reachkit_core::unibox::UniboxService>,
    /// The webhook endpoints' service, once settings are given ([`Wiring::with_webhooks`]);
    /// `/api/v1/webhooks` is served only then.
    pub webhooks: Option<reachkit_core::webhooks::WebhookService>,
    secrets: Arc<dyn SecretBox>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Wiring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wiring")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl Wiring {
    /// Connects to the database and builds the services over it with the given clock.
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn connect(
        url: &str,
        pool: PoolSettings,
        clock: Arc<dyn Clock>,
        secrets: Arc<dyn SecretBox>,
    ) -> anyhow::Result<Self> {
        let db = Db::connect(url, pool).await?;
        Ok(Self::over(db, clock, secrets))
    }

    /// The services over an existing pool.
    #[must_use]
    pub fn over(db: Db, clock: Arc<dyn Clock>, secrets: Arc<dyn SecretBox>) -> Self {
        let workspace_repo = Arc::new(PgWorkspaceRepository::new(db.clone()));
        let sequence_repo = Arc::new(PgSequenceRepository::new(db.clone()));
        Self {
            workspaces: WorkspaceService::new(workspace_repo.clone(), Arc::clone(&clock)),
            api_keys: ApiKeyService::new(
                Arc::new(PgApiKeyRepository::new(db.clone())),
                workspace_repo,
                Arc::clone(&clock),
            ),
            blocklist: BlocklistService::new(
                Arc::new(PgBlocklistRepository::new(db.clone())),
                Arc::clone(&clock),
            ),
            inboxes: InboxService::new(
                Arc::new(PgInboxRepository::new(db.clone())),
                Arc::clone(&secrets),
                Arc::clone(&clock),
            )
            .with_warmup_store(Arc::new(PgWarmupStore::new(db.clone()))),
            leads: LeadService::new(
                Arc::new(PgLeadRepository::new(db.clone())),
                Arc::clone(&clock),
            ),
            secrets,
            campaigns: CampaignService::new(
                Arc::new(PgCampaignRepository::new(db.clone())),
                Arc::clone(&clock),
            ),
            sequences: SequenceService::new(sequence_repo, Arc::clone(&clock)),
            unsubscribe: None,
            unibox: None,
            webhooks: None,
            clock,
            db,
        }
    }

    /// Serves the public unsubscribe link with these tokens (made from `secrets.key` and
    /// `http.public_url`, see `Settings::unsubscribe_tokens`).
    #[must_use]
    pub fn with_unsubscribe_tokens(mut self, tokens: UnsubscribeTokens) -> Self {
        self.unsubscribe = Some(UnsubscribeService::new(
            Arc::new(PgUnsubscribeRepository::new(self.db.clone())),
            tokens,
            Arc::clone(&self.clock),
        ));
        self
    }

    /// Serves the unibox, sending its emails through `sender` (the SMTP adapter).
    #[must_use]
    pub fn with_unibox(mut self, sender: Arc<dyn MailSender>) -> Self {
        self.unibox = Some(reachkit_core::unibox::UniboxService::new(
            Arc::new(reachkit_postgres::PgConversationRepository::new(
                self.db.clone(),
            )),
            sender,
            Arc::clone(&self.secrets),
            Arc::clone(&self.clock),
        ));
        self
    }

    /// Serves the webhook endpoints with these settings (docs/WEBHOOKS.md).
    #[must_use]
    pub fn with_webhooks(mut self, settings: reachkit_core::webhooks::WebhookSettings) -> Self {
        self.webhooks = Some(reachkit_core::webhooks::WebhookService::new(
            Arc::new(reachkit_postgres::PgWebhookRepository::new(self.db.clone())),
            Arc::clone(&self.secrets),
            Arc::clone(&self.clock),
            settings,
        ));
        self
    }

    /// The webhook delivery worker over the given poster, with a given clock.
    #[must_use]
    pub fn webhook_delivery(
        &self,
        poster: Arc<dyn reachkit_core::webhooks::WebhookPoster>,
        settings: reachkit_core::webhooks::WebhookSettings,
        clock: Arc<dyn Clock>,
    ) -> reachkit_core::webhooks::WebhookDeliveryService {
        reachkit_core::webhooks::WebhookDeliveryService::new(
            Arc::new(reachkit_postgres::PgWebhookRepository::new(self.db.clone())),
            poster,
            Arc::clone(&self.secrets),
            clock,
            settings,
        )
    }

    /// With the system clock.
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn connect_system(
        url: &str,
        pool: PoolSettings,
        secrets: Arc<dyn SecretBox>,
    ) -> anyhow::Result<Self> {
        Self::connect(url, pool, Arc::new(SystemClock), secrets).await
    }

    /// The background connection check over the given mail checker.
    #[must_use]
    pub fn connection_check(&self, checker: Arc<dyn MailboxChecker>) -> ConnectionCheckService {
        ConnectionCheckService::new(
            Arc::new(PgInboxRepository::new(self.db.clone())),
            checker,
            Arc::clone(&self.secrets),
        )
    }

    /// The sending engine over the given SMTP adapter, with the system clock.
    #[must_use]
    pub fn sending(
        &self,
        sender: Arc<dyn MailSender>,
        tokens: UnsubscribeTokens,
        settings: EngineSettings,
    ) -> SendingService {
        self.sending_with_clock(sender, tokens, settings, Arc::new(SystemClock))
    }

    /// The sending engine with a given clock (tests drive it with a settable one).
    #[must_use]
    pub fn sending_with_clock(
        &self,
        sender: Arc<dyn MailSender>,
        tokens: UnsubscribeTokens,
        settings: EngineSettings,
        clock: Arc<dyn Clock>,
    ) -> SendingService {
        SendingService::new(
            Arc::new(PgSendQueue::new(self.db.clone())),
            sender,
            Arc::clone(&self.secrets),
            clock,
            tokens,
            settings,
        )
    }

    /// The inbox sync over the given IMAP reader, analyzer and reply classifier (the one
    /// [`reply_classifier`] builds from the settings; any synchronous `ReplyClassifier` is one
    /// too), with a given clock (tests drive it with a settable one). Each service claims under a
    /// fresh owner name.
    #[must_use]
    pub fn sync_with_clock(
        &self,
        reader: Arc<dyn MailboxReader>,
        analyzer: Arc<dyn InboundAnalyzer>,
        classifier: Arc<dyn AsyncReplyClassifier>,
        settings: SyncSettings,
        clock: Arc<dyn Clock>,
    ) -> SyncService {
        SyncService::new(
            Arc::new(PgSyncStore::new(self.db.clone())),
            reader,
            analyzer,
            classifier,
            Arc::clone(&self.secrets),
            clock,
            settings,
            reachkit_core::sync::fresh_owner(),
        )
        .with_warmup(self.warmup_receiver(WarmupSettings::default().reply_share_percent))
    }

    /// What sync uses to recognise warmup emails, answering `reply_share_percent` of them.
    #[must_use]
    pub fn warmup_receiver(&self, reply_share_percent: u8) -> WarmupReceiver {
        WarmupReceiver::new(
            Arc::new(PgWarmupStore::new(self.db.clone())),
            reply_share_percent,
        )
    }

    /// The warmup worker (docs/WARMUP.md).
    #[must_use]
    pub fn warmup_with_clock(
        &self,
        sender: Arc<dyn MailSender>,
        settings: WarmupSettings,
        clock: Arc<dyn Clock>,
    ) -> WarmupService {
        WarmupService::new(
            Arc::new(PgWarmupStore::new(self.db.clone())),
            sender,
            Arc::clone(&self.secrets),
            clock,
            settings,
            reachkit_core::warmup::fresh_owner(),
        )
    }

    /// IMAP IDLE over the given watcher (the async-imap adapter), with the system clock; claims
    /// its watch leases under a fresh owner name.
    #[must_use]
    pub fn inbox_watch(
        &self,
        watcher: Arc<dyn MailboxWatcher>,
        settings: WatchSettings,
    ) -> WatchService {
        WatchService::new(
            Arc::new(PgWatchStore::new(self.db.clone())),
            watcher,
            Arc::clone(&self.secrets),
            Arc::new(SystemClock),
            settings,
            reachkit_core::inbox_watch::fresh_owner(),
        )
    }

    /// Background ESP detection over the given MX resolver.
    #[must_use]
    pub fn esp_detection(&self, resolver: Arc<dyn MxResolver>) -> EspDetectionService {
        EspDetectionService::new(
            Arc::new(PgEspDetectionRepository::new(self.db.clone())),
            resolver,
        )
    }

    /// The operational services of the API: readiness over this pool, the per-workspace rate
    /// limiter (in this process's memory), idempotency keys in the database, and metrics.
    #[must_use]
    pub fn ops_services(
        &self,
        rate_limit: reachkit_core::rate_limit::RateLimitSettings,
    ) -> reachkit_http::ops::OpsServices {
        reachkit_http::ops::OpsServices {
            health: Some(reachkit_core::health::HealthService::new(Arc::new(
                reachkit_postgres::PgReadinessProbe::new(self.db.clone()),
            ))),
            rate_limiter: Some(reachkit_core::rate_limit::RateLimiter::new(
                rate_limit,
                Arc::clone(&self.clock),
            )),
            idempotency: Some(self.idempotency()),
            metrics: Some(reachkit_core::metrics::MetricsService::new(
                Arc::new(reachkit_postgres::PgMetricsSource::new(self.db.clone())),
                Arc::clone(&self.clock),
            )),
            http_metrics: Some(reachkit_http::ops::metrics::HttpMetrics::default()),
        }
    }

    /// Idempotency keys in the database.
    #[must_use]
    pub fn idempotency(&self) -> reachkit_core::idempotency::IdempotencyService {
        reachkit_core::idempotency::IdempotencyService::new(
            Arc::new(reachkit_postgres::PgIdempotencyStore::new(self.db.clone())),
            Arc::clone(&self.clock),
        )
        // Stored responses can hold a secret shown once (a webhook's signing secret).
        .with_secrets(Arc::clone(&self.secrets))
    }

    /// The services the HTTP API drives.
    #[must_use]
    pub fn http_services(&self) -> reachkit_http::Services {
        reachkit_http::Services {
            api_keys: self.api_keys.clone(),
            blocklist: self.blocklist.clone(),
            inboxes: self.inboxes.clone(),
            leads: self.leads.clone(),
            campaigns: self.campaigns.clone(),
            sequences: self.sequences.clone(),
        }
    }
}

/// The reply classifier the settings ask for: the remote one (with the built-in rules as its
/// fallback) when `classifier.base_url` is set, else the built-in rules alone.
///
/// # Errors
/// When `classifier.base_url` is not an http(s) URL.
pub fn reply_classifier(
    settings: &crate::settings::ClassifierSettings,
) -> anyhow::Result<Arc<dyn AsyncReplyClassifier>> {
    use reachkit_mail::reply::RuleClassifier;
    use reachkit_mail::reply::llm::{LlmClassifier, LlmSettings};
    let Some(base_url) = settings.enabled_url() else {
        return Ok(Arc::new(RuleClassifier));
    };
    let classifier = LlmClassifier::new(
        LlmSettings {
            base_url: base_url.to_owned(),
            model: settings.model.trim().to_owned(),
            api_key: reachkit_core::secrets::Password::new(
                settings.api_key.clone().unwrap_or_default(),
            ),
            timeout: std::time::Duration::from_secs(settings.timeout_seconds.max(1)),
        },
        Arc::new(RuleClassifier),
    )
    .map_err(|e| anyhow::anyhow!("classifier.base_url: {e}"))?;
    Ok(Arc::new(classifier))
}
