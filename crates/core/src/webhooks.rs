//! Webhooks (docs/WEBHOOKS.md): endpoints that receive signed event notifications, and the
//! worker that delivers them from the durable outbox the store keeps.
//!
//! The pure rules live here too: the event types, Standard Webhooks signing, the retry
//! schedule and the request-forgery guard on target addresses.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sha2::Sha256;
use time::OffsetDateTime;

use crate::StoreError;
use crate::clock::Clock;
use crate::ids::{CampaignId, WebhookDeliveryId, WebhookEndpointId, WorkspaceId};
use crate::paging::{Page, PageRequest};
use crate::secrets::SecretBox;

/// The event types an endpoint can subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "email_sent",
    "reply_received",
    "auto_reply_received",
    "lead_bounced",
    "lead_unsubscribed",
    "lead_label_changed",
    "campaign_status_changed",
    "campaign_completed",
    "inbox_error",
];

/// The type of the event `POST /webhooks/{id}/test` sends (not subscribable: always sent).
pub const TEST_EVENT_TYPE: &str = "test";

/// The prefix of a signing secret as shown to the client.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a fresh signing secret.
pub const SECRET_BYTES: usize = 24;
/// The longest wait between two attempts, whatever the base.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(6 * 3600);
/// The longest URL accepted.
pub const MAX_URL_LEN: usize = 2000;

/// A fresh random signing secret (raw bytes).
#[must_use]
pub fn generate_secret() -> Vec<u8> {
    let mut rng = rand::rng();
    (0..SECRET_BYTES).map(|_| rng.random::<u8>()).collect()
}

/// The secret as shown to the client: `whsec_<base64>`.
#[must_use]
pub fn format_secret(raw: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(raw))
}

/// The raw bytes of a `whsec_<base64>` secret (the prefix is optional, as in the spec's SDKs).
#[must_use]
pub fn parse_secret(shown: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(shown.strip_prefix(SECRET_PREFIX).unwrap_or(shown))
        .ok()
}

/// The `webhook-signature` header value of the Standard Webhooks spec:
/// `v1,<base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}"))>`.
#[must_use]
pub fn sign(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) else {
        // HMAC accepts keys of any length: unreachable.
        return String::new();
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// How long to wait after the `failures`-th failed attempt (1-based): `base * 2^(failures-1)`,
/// at most [`MAX_RETRY_DELAY`].
#[must_use]
pub fn retry_delay(base: Duration, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1));
    base.checked_mul(factor)
        .unwrap_or(MAX_RETRY_DELAY)
        .min(MAX_RETRY_DELAY)
}

/// The total time from the first attempt to the last of `max_attempts`.
#[must_use]
pub fn retry_span(base: Duration, max_attempts: u32) -> Duration {
    (1..max_attempts).map(|n| retry_delay(base, n)).sum()
}

/// Why a target URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("must be an absolute http or https URL with a host")]
    Malformed,
    #[error("must not point to a private, loopback or link-local address")]
    Private,
}

/// The parts of a target URL the guard needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    /// Without brackets for an IPv6 literal.
    pub host: String,
    pub port: u16,
}

/// Parses an http(s) URL's scheme, host and port (no user info).
///
/// # Errors
/// [`TargetError::Malformed`].
pub fn parse_target(url: &str) -> Result<Target, TargetError> {
    let lower = url
        .get(..8)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let (https, rest) = if lower.starts_with("https://") {
        (true, &url[8..])
    } else if lower.starts_with("http://") {
        (false, &url[7..])
    } else {
        return Err(TargetError::Malformed);
    };
    if url.len() > MAX_URL_LEN || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(TargetError::Malformed);
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.is_empty() || authority.contains('@') {
        return Err(TargetError::Malformed);
    }
    let default_port = if https { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or(TargetError::Malformed)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| TargetError::Malformed)?,
            None if after.is_empty() => default_port,
            None => return Err(TargetError::Malformed),
        };
        (host, port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| TargetError::Malformed)?),
            None => (authority, default_port),
        }
    };
    if host.is_empty() || port == 0 {
        return Err(TargetError::Malformed);
    }
    Ok(Target {
        https,
        host: host.to_ascii_lowercase(),
        port,
    })
}

/// Whether an address is one a webhook must not reach unless private targets are allowed:
/// unspecified, loopback, private (RFC 1918), carrier-grade NAT, link-local, unique-local,
/// multicast, broadcast, documentation and benchmarking ranges, and IPv4 mapped into IPv6.
#[must_use]
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || (first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || (first == 0x0064 && v6.segments()[1] == 0xff9b) // NAT64
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240
}

/// Checks a URL given at create or update time: well formed, and unless `allow_private`, its
/// host is neither `localhost` nor a forbidden IP literal. Names are checked again after DNS
/// resolution at delivery time (a public name may resolve to a private address).
///
/// # Errors
/// [`TargetError`].
pub fn check_url(url: &str, allow_private: bool) -> Result<Target, TargetError> {
    let target = parse_target(url)?;
    if allow_private {
        return Ok(target);
    }
    let host = target.host.trim_end_matches('.');
    if host == "localhost" || host.ends_with(".localhost") {
        return Err(TargetError::Private);
    }
    if let Ok(ip) = host.parse::<IpAddr>()
        && is_forbidden_ip(ip)
    {
        return Err(TargetError::Private);
    }
    // Shorthand IPv4 forms (e.g. `127.1`, `2130706433`) some resolvers accept: refused.
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') && host.parse::<Ipv4Addr>().is_err() {
        return Err(TargetError::Private);
    }
    Ok(target)
}

/// A webhook endpoint (its secret is never part of it: see [`CreatedEndpoint`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub workspace_id: WorkspaceId,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub campaign_id: Option<CampaignId>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A new endpoint as stored: with its sealed secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEndpoint {
    pub endpoint: WebhookEndpoint,
    pub sealed_secret: Vec<u8>,
}

/// A created endpoint and its secret, shown this once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedEndpoint {
    pub endpoint: WebhookEndpoint,
    /// `whsec_<base64>`.
    pub secret: String,
}

/// What a client sends to create an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndpointInput {
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<String>,
    pub campaign_id: Option<CampaignId>,
}

/// What an update changes (absent fields stay). `campaign_id: Some(None)` clears the filter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub campaign_id: Option<Option<CampaignId>>,
    pub enabled: Option<bool>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One delivery of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: WebhookDeliveryId,
    pub endpoint_id: WebhookEndpointId,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub last_attempt_at: Option<OffsetDateTime>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

/// A claimed delivery, with what sending it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    pub id: WebhookDeliveryId,
    pub endpoint_id: WebhookEndpointId,
    pub url: String,
    pub sealed_secret: Vec<u8>,
    pub payload: serde_json::Value,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// What an attempt came to, as the store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// A 2xx answer: delivered; the endpoint's failure count is reset.
    Delivered { status_code: u16 },
    /// Failed; try again at `next_attempt_at`.
    Retry {
        status_code: Option<u16>,
        error: String,
        next_attempt_at: OffsetDateTime,
    },
    /// Failed for the last time: the delivery is `failed`; the endpoint's failure count goes up
    /// and the endpoint is disabled when it reaches `disable_after`.
    GaveUp {
        status_code: Option<u16>,
        error: String,
        disable_after: u32,
    },
}

/// Where endpoints and deliveries are kept. Every API method is scoped to one workspace.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait WebhookRepository: Send + Sync {
    /// Whether the workspace has this campaign.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn campaign_exists(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
    ) -> Result<bool, StoreError>;

    /// Stores a new endpoint.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn create(&self, new: &NewEndpoint) -> Result<(), StoreError>;

    /// The workspace's endpoint, if any.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn get(
        &self,
        workspace_id: WorkspaceId,
        id: WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;

    /// One page of the workspace's endpoints, oldest first.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn list(
        &self,
        workspace_id: WorkspaceId,
        page: PageRequest,
    ) -> Result<Page<WebhookEndpoint>, StoreError>;

    /// Writes the endpoint's url, description, event types, campaign filter and `updated_at`,
    /// and, only when `set_enabled`, its `enabled` and `disabled_reason` (resetting the failure
    /// count). MUST return the stored endpoint, or `None` when the workspace has no such one.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn update(
        &self,
        endpoint: &WebhookEndpoint,
        set_enabled: bool,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;

    /// Deletes the endpoint and its deliveries; MUST return whether one was deleted.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn delete(
        &self,
        workspace_id: WorkspaceId,
        id: WebhookEndpointId,
    ) -> Result<bool, StoreError>;

    /// Queues a delivery of `payload` to the endpoint, due at `now`.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn enqueue(
        &self,
        workspace_id: WorkspaceId,
        endpoint_id: WebhookEndpointId,
        delivery_id: WebhookDeliveryId,
        event_type: &str,
        payload: &serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// One page of the endpoint's deliveries, newest first.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn deliveries(
        &self,
        workspace_id: WorkspaceId,
        endpoint_id: WebhookEndpointId,
        page: PageRequest,
    ) -> Result<Page<Delivery>, StoreError>;

    /// Makes a delivery pending again, due at `now` (its attempt count restarts). MUST return
    /// `None` when the workspace's endpoint has no such delivery.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn redeliver(
        &self,
        workspace_id: WorkspaceId,
        endpoint_id: WebhookEndpointId,
        delivery_id: WebhookDeliveryId,
        now: OffsetDateTime,
    ) -> Result<Option<Delivery>, StoreError>;

    /// Claims up to `limit` due pending deliveries of enabled endpoints for `lease`, skipping
    /// rows others hold. A delivery waits while an earlier pending one of the same endpoint
    /// and lead exists (per-lead order).
    ///
    /// # Errors
    /// [`StoreError`].
    async fn claim_due(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<DueDelivery>, StoreError>;

    /// Records an attempt and releases the lease.
    ///
    /// # Errors
    /// [`StoreError`].
    async fn record_attempt(
        &self,
        id: WebhookDeliveryId,
        now: OffsetDateTime,
        outcome: &AttemptOutcome,
    ) -> Result<(), StoreError>;
}

/// An HTTP answer to a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostResult {
    pub status_code: u16,
}

/// Posts signed payloads. Adapters MUST resolve the host and, unless private targets are
/// allowed, refuse (as an error) any address [`is_forbidden_ip`] names, connecting only to a
/// checked address.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait WebhookPoster: Send + Sync {
    /// POSTs `body` (JSON) with the given headers. `Err` describes a failure before any answer.
    ///
    /// # Errors
    /// A message for the delivery log.
    async fn post(
        &self,
        url: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<PostResult, String>;
}

/// Why a webhook operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// A field is invalid: (field, message).
    #[error("{0} {1}")]
    Invalid(&'static str, String),
    #[error("webhook not found")]
    NotFound,
    #[error("delivery not found")]
    DeliveryNotFound,
    #[error("the secret cannot be sealed")]
    Secret,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The worker's settings (`[webhooks]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookSettings {
    /// The wait before the first retry; doubled after each failure up to [`MAX_RETRY_DELAY`].
    pub retry_base: Duration,
    /// Attempts before a delivery is `failed` (the first one included).
    pub max_attempts: u32,
    /// Deliveries giving up in a row (no success between) before the endpoint is disabled.
    pub disable_after_failures: u32,
    /// Whether URLs may point to private or loopback addresses.
    pub allow_private_targets: bool,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Deliveries claimed per tick.
    pub batch: i64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            retry_base: Duration::from_secs(30),
            max_attempts: 14,
            disable_after_failures: 3,
            allow_private_targets: false,
            timeout: Duration::from_secs(10),
            batch: 20,
        }
    }
}

fn sealing_context(id: WebhookEndpointId) -> Vec<u8> {
    format!("webhook_endpoints.secret:{id}").into_bytes()
}

fn validate_event_types(types: &[String]) -> Result<Vec<String>, WebhookError> {
    if types.is_empty() {
        return Err(WebhookError::Invalid(
            "event_types",
            "must name at least one event type".to_owned(),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for t in types {
        if !EVENT_TYPES.contains(&t.as_str()) {
            return Err(WebhookError::Invalid(
                "event_types",
                format!(
                    "unknown event type {t:?}; known: {}",
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    Ok(out)
}

/// The webhook use cases (API side) and the delivery worker.
#[derive(Clone)]
pub struct WebhookService {
    repo: Arc<dyn WebhookRepository>,
    secrets: Arc<dyn SecretBox>,
    clock: Arc<dyn Clock>,
    settings: WebhookSettings,
}

impl std::fmt::Debug for WebhookService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookService")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl WebhookService {
    #[must_use]
    pub fn new(
        repo: Arc<dyn WebhookRepository>,
        secrets: Arc<dyn SecretBox>,
        clock: Arc<dyn Clock>,
        settings: WebhookSettings,
    ) -> Self {
        Self {
            repo,
            secrets,
            clock,
            settings,
        }
    }

    /// The settings in force.
    #[must_use]
    pub const fn settings(&self) -> WebhookSettings {
        self.settings
    }

    fn check_url(&self, url: &str) -> Result<String, WebhookError> {
        let url = url.trim();
        check_url(url, self.settings.allow_private_targets)
            .map_err(|e| WebhookError::Invalid("url", e.to_string()))?;
        Ok(url.to_owned())
    }

    async fn check_campaign(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: Option<CampaignId>,
    ) -> Result<(), WebhookError> {
        if let Some(c) = campaign_id
            && !self.repo.campaign_exists(workspace_id, c).await?
        {
            return Err(WebhookError::Invalid(
                "campaign_id",
                "is not a campaign of this workspace".to_owned(),
            ));
        }
        Ok(())
    }

    /// Creates an endpoint; its secret is returned this once.
    ///
    /// # Errors
    /// [`WebhookError::Invalid`] naming `url`, `event_types` or `campaign_id`; the store's failure.
    pub async fn create(
        &self,
        workspace_id: WorkspaceId,
        input: EndpointInput,
    ) -> Result<CreatedEndpoint, WebhookError> {
        let url = self.check_url(&input.url)?;
        let event_types = validate_event_types(&input.event_types)?;
        self.check_campaign(workspace_id, input.campaign_id).await?;
        let now = self.clock.now();
        let id = WebhookEndpointId::new();
        let raw = generate_secret();
        let sealed_secret = self
            .secrets
            .seal(&raw, &sealing_context(id))
            .map_err(|_| WebhookError::Secret)?;
        let endpoint = WebhookEndpoint {
            id,
            workspace_id,
            url,
            description: input.description.unwrap_or_default(),
            event_types,
            campaign_id: input.campaign_id,
            enabled: true,
            disabled_reason: None,
            created_at: now,
            updated_at: now,
        };
        self.repo
            .create(&NewEndpoint {
                endpoint: endpoint.clone(),
                sealed_secret,
            })
            .await?;
        Ok(CreatedEndpoint {
            endpoint,
            secret: format_secret(&raw),
        })
    }

    /// The workspace's endpoint.
    ///
    /// # Errors
    /// [`WebhookError::NotFound`]; the store's failure.
    pub async fn get(
        &self,
        workspace_id: WorkspaceId,
        id: WebhookEndpointId,
    ) -> Result<WebhookEndpoint, WebhookError> {
        self.repo
            .get(workspace_id, id)
            .await?
            .ok_or(WebhookError::NotFound)
    }

    /// One page of the workspace's endpoints.
    ///
    /// # Errors
    /// The store's failure.
    pub async fn list(
        &self,
        workspace_id: WorkspaceId,
        page: PageRequest,
    ) -> Result<Page<WebhookEndpoint>, WebhookError> {
        Ok(self.repo.list(workspace_id, page).await?)
    }

    /// Changes an endpoint; `enabled: true` re-enables a disabled one.
    ///
    /// # Errors
    /// [`WebhookError::NotFound`], [`WebhookError::Invalid`]; the store's failure.
    pub async fn update(
        &self,
        workspace_id: WorkspaceId,
        id: WebhookEndpointId,
        changes: EndpointChanges,
    ) -> Result<WebhookEndpoint, WebhookError> {
        let mut endpoint = self.get(workspace_id, id).await?;
        if let Some(url) = &changes.url {
            endpoint.url = self.check_url(url)?;
        }
        if let Some(types) = &changes.event_types {
            endpoint.event_types = validate_event_types(types)?;
        }
        if let Some(campaign) = changes.campaign_id {
            self.check_campaign(workspace_id, campaign).await?;
            endpoint.campaign_id = campaign;
        }
        if let Some(d) = changes.description {
            endpoint.description = d;
        }
        if let Some(enabled) = changes.enabled {
            endpoint.enabled = enabled;
            endpoint.disabled_reason = if enabled {
                None
            } else {
                Some("disabled by the client".to_owned())
            };
        }
        endpoint.updated_at = self.clock.now();
        self.repo
            .update(&endpoint, changes.enabled.is_some())
            .await?
            .ok_or(WebhookError::NotFound)
    }

    /// Deletes an endpoint and its delivery log.
    ///
    /// # Errors
    /// [`WebhookError::NotFound`]; the store's failure.
    pub async fn delete(
        &self,
        workspace_id: WorkspaceId,
        id: WebhookEndpointId,
    ) -> Result<(), WebhookError> {
        if self.repo.delete(workspace_id, id).await? {
            Ok(())
        } else {
            Err(WebhookError::NotFound)
        }
    }

    /// Queues a `test` event to the endpoint (delivered like any other, even when the endpoint
    /// does not subscribe to anything matching).
    ///
    /// # Errors
    /// [`WebhookError::NotFound`]; the store's failure.
    pub async fn send_test(
        &self,
        workspace_id: WorkspaceId,
        id: WebhookEndpointId,
    ) -> Result<WebhookDeliveryId, WebhookError> {
        let endpoint = self.get(workspace_id, id).await?;
        let now = self.clock.now();
        let delivery = WebhookDeliveryId::new();
        let timestamp = now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let payload = serde_json::json!({
            "type": TEST_EVENT_TYPE,
            "timestamp": timestamp,
            "data": { "webhook_id": endpoint.id.to_string() },
        });
        self.repo
            .enqueue(workspace_id, id, delivery, TEST_EVENT_TYPE, &payload, now)
            .await?;
        Ok(delivery)
    }

    /// One page of an endpoint's deliveries, newest first.
    ///
    /// # Errors
    /// [`WebhookError::NotFound`]; the store's failure.
    pub async fn deliveries(
        &self,
        workspace_id: WorkspaceId,
        id: WebhookEndpointId,
        page: PageRequest,
    ) -> Result<Page<Delivery>, WebhookError> {
        self.get(workspace_id, id).await?;
        Ok(self.repo.deliveries(workspace_id, id, page).await?)
    }

    /// Sends a delivery again (now, with a fresh attempt count).
    ///
    /// # Errors
    /// [`WebhookError::NotFound`], [`WebhookError::DeliveryNotFound`]; the store's failure.
    pub async fn redeliver(
        &self,
        workspace_id: WorkspaceId,
        id: WebhookEndpointId,
        delivery: WebhookDeliveryId,
    ) -> Result<Delivery, WebhookError> {
        self.get(workspace_id, id).await?;
        self.repo
            .redeliver(workspace_id, id, delivery, self.clock.now())
            .await?
            .ok_or(WebhookError::DeliveryNotFound)
    }
}

/// The delivery worker: claims due deliveries, signs and posts them, records the outcome.
#[derive(Clone)]
pub struct WebhookDeliveryService {
    repo: Arc<dyn WebhookRepository>,
    poster: Arc<dyn WebhookPoster>,
    secrets: Arc<dyn SecretBox>,
    clock: Arc<dyn Clock>,
    settings: WebhookSettings,
    owner: String,
}

impl std::fmt::Debug for WebhookDeliveryService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookDeliveryService")
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

/// What one tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TickReport {
    pub delivered: u32,
    pub retried: u32,
    pub failed: u32,
}

impl WebhookDeliveryService {
    #[must_use]
    pub fn new(
        repo: Arc<dyn WebhookRepository>,
        poster: Arc<dyn WebhookPoster>,
        secrets: Arc<dyn SecretBox>,
        clock: Arc<dyn Clock>,
        settings: WebhookSettings,
    ) -> Self {
        Self {
            repo,
            poster,
            secrets,
            clock,
            settings,
            owner: format!("webhooks-{}", uuid::Uuid::new_v4()),
        }
    }

    /// The outcome of a failed attempt number `attempt` (1-based).
    #[must_use]
    pub fn failure(
        &self,
        attempt: u32,
        now: OffsetDateTime,
        status_code: Option<u16>,
        error: String,
    ) -> AttemptOutcome {
        if attempt >= self.settings.max_attempts {
            AttemptOutcome::GaveUp {
                status_code,
                error,
                disable_after: self.settings.disable_after_failures.max(1),
            }
        } else {
            AttemptOutcome::Retry {
                status_code,
                error,
                next_attempt_at: now + retry_delay(self.settings.retry_base, attempt),
            }
        }
    }

    /// Claims and sends the due deliveries once.
    ///
    /// # Errors
    /// The store's failure (a failed POST is recorded, not an error).
    pub async fn tick(&self) -> Result<TickReport, StoreError> {
        let now = self.clock.now();
        // The lease outlives the slowest possible batch: each post is bounded by the timeout.
        let lease = self
            .settings
            .timeout
            .saturating_mul(u32::try_from(self.settings.batch).unwrap_or(1).max(1))
            + Duration::from_secs(30);
        let due = self
            .repo
            .claim_due(&self.owner, now, lease, self.settings.batch)
            .await?;
        let mut report = TickReport::default();
        for d in due {
            let outcome = self.attempt(&d).await;
            match &outcome {
                AttemptOutcome::Delivered { .. } => report.delivered += 1,
                AttemptOutcome::Retry { .. } => report.retried += 1,
                AttemptOutcome::GaveUp { .. } => report.failed += 1,
            }
            self.repo
                .record_attempt(d.id, self.clock.now(), &outcome)
                .await?;
        }
        Ok(report)
    }

    async fn attempt(&self, d: &DueDelivery) -> AttemptOutcome {
        let attempt = d.attempts + 1;
        let now = self.clock.now();
        let Ok(secret) = self
            .secrets
            .open(&d.sealed_secret, &sealing_context(d.endpoint_id))
        else {
            return self.failure(
                attempt,
                now,
                None,
                "the signing secret cannot be decrypted".to_owned(),
            );
        };
        let body = d.payload.to_string().into_bytes();
        let id = format!("msg_{}", d.id.as_uuid().simple());
        let timestamp = now.unix_timestamp();
        let headers = vec![
            ("webhook-id".to_owned(), id.clone()),
            ("webhook-timestamp".to_owned(), timestamp.to_string()),
            (
                "webhook-signature".to_owned(),
                sign(&secret, &id, timestamp, &body),
            ),
        ];
        match self.poster.post(&d.url, headers, body).await {
            Ok(r) if (200..300).contains(&r.status_code) => AttemptOutcome::Delivered {
                status_code: r.status_code,
            },
            Ok(r) => self.failure(
                attempt,
                self.clock.now(),
                Some(r.status_code),
                format!("answered {}", r.status_code),
            ),
            Err(e) => self.failure(attempt, self.clock.now(), None, e),
        }
    }
}

#[cfg(test)]
mod tests;
