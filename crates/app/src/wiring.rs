//! Builds the services on the Postgres adapter: the one place where adapters meet.

use std::sync::Arc;

use reachkit_core::api_keys::ApiKeyService;
use reachkit_core::blocklist::BlocklistService;
use reachkit_core::campaigns::CampaignService;
use reachkit_core::clock::{Clock, SystemClock};
use reachkit_core::sequences::SequenceService;
use reachkit_core::workspaces::WorkspaceService;
use reachkit_postgres::{
    Db, PgApiKeyRepository, PgBlocklistRepository, PgCampaignRepository, PgSequenceRepository,
    PgWorkspaceRepository, PoolSettings,
};

/// Every service, wired to one database.
#[derive(Debug, Clone)]
pub struct Wiring {
    pub db: Db,
    pub workspaces: WorkspaceService,
    pub api_keys: ApiKeyService,
    pub blocklist: BlocklistService,
    pub campaigns: CampaignService,
    pub sequences: SequenceService,
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
    ) -> anyhow::Result<Self> {
        let db = Db::connect(url, pool).await?;
        Ok(Self::over(db, clock))
    }

    /// The services over an existing pool.
    #[must_use]
    pub fn over(db: Db, clock: Arc<dyn Clock>) -> Self {
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
            campaigns: CampaignService::new(
                Arc::new(PgCampaignRepository::new(db.clone())),
                sequence_repo.clone(),
                Arc::clone(&clock),
            ),
            sequences: SequenceService::new(sequence_repo, clock),
            db,
        }
    }

    /// With the system clock.
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn connect_system(url: &str, pool: PoolSettings) -> anyhow::Result<Self> {
        Self::connect(url, pool, Arc::new(SystemClock)).await
    }

    /// The services the HTTP API drives.
    #[must_use]
    pub fn http_services(&self) -> reachkit_http::Services {
        reachkit_http::Services {
            api_keys: self.api_keys.clone(),
            blocklist: self.blocklist.clone(),
            campaigns: self.campaigns.clone(),
            sequences: self.sequences.clone(),
        }
    }
}
