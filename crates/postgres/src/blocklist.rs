//! The blocklist in PostgreSQL.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reachkit_core::StoreError;
use reachkit_core::blocklist::{
    Added, BlocklistEntry, BlocklistRepository, BlocklistSort, ListQuery,
};
use reachkit_core::ids::{BlocklistEntryId, WorkspaceId};
use reachkit_core::paging::{Page, SortOrder};
use reachkit_domain::email::EmailAddress;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::from_diesel;
use crate::pool::Db;
use crate::schema::blocklist_entries as entries;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = entries, check_for_backend(diesel::pg::Pg))]
struct EntryRow {
    id: Uuid,
    workspace_id: Uuid,
    email: String,
    created_at: OffsetDateTime,
}

impl TryFrom<EntryRow> for BlocklistEntry {
    type Error = StoreError;

    fn try_from(row: EntryRow) -> Result<Self, StoreError> {
        // Rows are written only from parsed addresses; one that no longer parses is corruption.
        let email = EmailAddress::parse(&row.email).map_err(|e| {
            StoreError::Other(anyhow::anyhow!(
                "blocklist entry {} holds an invalid address: {e}",
                row.id
            ))
        })?;
        Ok(Self {
            id: BlocklistEntryId::from_uuid(row.id),
            workspace_id: WorkspaceId::from_uuid(row.workspace_id),
            email,
            created_at: row.created_at,
        })
    }
}

/// Escapes LIKE's wildcards so a search term matches literally.
pub(crate) fn like_pattern(term: &str) -> String {
    let mut escaped = String::with_capacity(term.len() + 2);
    escaped.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    escaped
}

/// [`BlocklistRepository`] over PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgBlocklistRepository {
    db: Db,
}

impl PgBlocklistRepository {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl BlocklistRepository for PgBlocklistRepository {
    async fn add(&self, entry: &BlocklistEntry) -> Result<Added, StoreError> {
        let row = EntryRow {
            id: entry.id.as_uuid(),
            workspace_id: entry.workspace_id.as_uuid(),
            email: entry.email.as_str().to_owned(),
            created_at: entry.created_at,
        };
        let mut conn = self.db.conn().await?;
        let inserted = diesel::insert_into(entries::table)
            .values(&row)
            .on_conflict((entries::workspace_id, entries::email))
            .do_nothing()
            .returning(EntryRow::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?;
        if let Some(row) = inserted {
            return Ok(Added {
                entry: row.try_into()?,
                created: true,
            });
        }
        let existing = entries::table
            .filter(entries::workspace_id.eq(row.workspace_id))
            .filter(entries::email.eq(&row.email))
            .select(EntryRow::as_select())
            .first(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(Added {
            entry: existing.try_into()?,
            created: false,
        })
    }

    async fn is_blocked(
        &self,
        workspace_id: WorkspaceId,
        email: &EmailAddress,
    ) -> Result<bool, StoreError> {
        let mut conn = self.db.conn().await?;
        diesel::select(diesel::dsl::exists(
            entries::table
                .filter(entries::workspace_id.eq(workspace_id.as_uuid()))
                .filter(entries::email.eq(email.as_str())),
        ))
        .get_result(&mut conn)
        .await
        .map_err(from_diesel)
    }

    async fn delete(
        &self,
        workspace_id: WorkspaceId,
        id: BlocklistEntryId,
    ) -> Result<bool, StoreError> {
        let mut conn = self.db.conn().await?;
        let deleted = diesel::delete(
            entries::table
                .filter(entries::workspace_id.eq(workspace_id.as_uuid()))
                .filter(entries::id.eq(id.as_uuid())),
        )
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(deleted > 0)
    }

    async fn list(
        &self,
        workspace_id: WorkspaceId,
        query: &ListQuery<BlocklistSort>,
    ) -> Result<Page<BlocklistEntry>, StoreError> {
        let filtered = || {
            let mut q = entries::table
                .filter(entries::workspace_id.eq(workspace_id.as_uuid()))
                .into_boxed();
            if let Some(term) = &query.search {
                q = q.filter(entries::email.ilike(like_pattern(term)));
            }
            q
        };
        let mut conn = self.db.conn().await?;
        let total: i64 = filtered()
            .count()
            .get_result(&mut conn)
            .await
            .map_err(from_diesel)?;
        let mut q = filtered();
        q = match (query.sort, query.order) {
            (BlocklistSort::CreatedAt, SortOrder::Asc) => {
                q.order((entries::created_at.asc(), entries::id.asc()))
            }
            (BlocklistSort::CreatedAt, SortOrder::Desc) => {
                q.order((entries::created_at.desc(), entries::id.desc()))
            }
            (BlocklistSort::Email, SortOrder::Asc) => q.order(entries::email.asc()),
            (BlocklistSort::Email, SortOrder::Desc) => q.order(entries::email.desc()),
        };
        let rows = q
            .offset(query.page.offset())
            .limit(query.page.limit())
            .select(EntryRow::as_select())
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(BlocklistEntry::try_from)
                .collect::<Result<_, _>>()?,
            request: query.page,
            total_count: u64::try_from(total).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_wildcards_in_search_terms_match_literally() {
        assert_eq!(like_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
        assert_eq!(like_pattern("acme"), "%acme%");
    }
}
