//! Reachkit's PostgreSQL adapter.
//!
//! Implements the storage ports of `reachkit-core` with diesel + diesel-async over a deadpool
//! connection pool, and runs the embedded migrations. Driver errors are translated to
//! [`reachkit_core::StoreError`] here and never leave this crate.

mod api_keys;
mod blocklist;
mod campaigns;
mod engine;
mod error;
mod esp_detection;
mod health;
mod idempotency;
mod inboxes;
mod leads;
mod metrics;
mod migrate;
mod pool;
#[rustfmt::skip]
mod schema;
mod sequences;
mod sync;
mod unibox;
mod unsubscribe;
mod warmup;
mod watch;
mod webhooks;
mod workspaces;

pub use api_keys::PgApiKeyRepository;
pub use blocklist::PgBlocklistRepository;
pub use campaigns::PgCampaignRepository;
pub use engine::PgSendQueue;
pub use esp_detection::PgEspDetectionRepository;
pub use health::PgReadinessProbe;
pub use idempotency::PgIdempotencyStore;
pub use inboxes::PgInboxRepository;
pub use leads::PgLeadRepository;
pub use metrics::PgMetricsSource;
pub use migrate::{MigrationError, run_migrations};
pub use pool::{Db, PoolSettings};
pub use sequences::PgSequenceRepository;
pub use sync::PgSyncStore;
pub use unibox::PgConversationRepository;
pub use unsubscribe::PgUnsubscribeRepository;
pub use warmup::PgWarmupStore;
pub use watch::PgWatchStore;
pub use webhooks::PgWebhookRepository;
pub use workspaces::PgWorkspaceRepository;
