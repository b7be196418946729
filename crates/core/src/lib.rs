//! Reachkit's use cases and the ports they drive.
//!
//! Services hold `Arc<dyn Port>`; adapters (Postgres, mail, HTTP) implement or call them. Every
//! port method is one atomic step: the adapter owns the transaction. Time comes from the
//! [`clock::Clock`] port, never from the system clock directly.

pub mod api_keys;
pub mod blocklist;
pub mod campaigns;
pub mod classifier;
pub mod clock;
pub mod connection_check;
pub mod engine;
pub mod error;
pub mod esp_detection;
pub mod health;
pub mod idempotency;
pub mod ids;
pub mod inbox_watch;
pub mod inboxes;
pub mod leads;
pub mod metrics;
pub mod paging;
pub mod rate_limit;
pub mod secrets;
pub mod sending;
pub mod sequences;
pub mod sync;
pub mod unibox;
pub mod unsubscribe;
pub mod warmup;
pub mod webhooks;
pub mod workspaces;

pub use error::StoreError;
