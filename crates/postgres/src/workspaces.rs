//! Workspaces in PostgreSQL.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reachkit_core::StoreError;
use reachkit_core::ids::WorkspaceId;
use reachkit_core::workspaces::{Workspace, WorkspaceRepository};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::from_diesel;
use crate::pool::Db;
use crate::schema::workspaces;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = workspaces, check_for_backend(diesel::pg::Pg))]
struct WorkspaceRow {
    id: Uuid,
    name: String,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl From<WorkspaceRow> for Workspace {
    fn from(row: WorkspaceRow) -> Self {
        Self {
            id: WorkspaceId::from_uuid(row.id),
            name: row.name,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// [`WorkspaceRepository`] over PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgWorkspaceRepository {
    db: Db,
}

impl PgWorkspaceRepository {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl WorkspaceRepository for PgWorkspaceRepository {
    async fn insert(&self, workspace: &Workspace) -> Result<(), StoreError> {
        let row = WorkspaceRow {
            id: workspace.id.as_uuid(),
            name: workspace.name.clone(),
            created_at: workspace.created_at,
            updated_at: workspace.updated_at,
        };
        let mut conn = self.db.conn().await?;
        diesel::insert_into(workspaces::table)
            .values(&row)
            .execute(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(())
    }

    async fn get(&self, id: WorkspaceId) -> Result<Option<Workspace>, StoreError> {
        let mut conn = self.db.conn().await?;
        workspaces::table
            .find(id.as_uuid())
            .select(WorkspaceRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map(|row| row.map(Workspace::from))
            .map_err(from_diesel)
    }
}
