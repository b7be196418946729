//! The PostgreSQL adapter against a real server: a fresh database per test.

use std::sync::Arc;

use reachkit_core::api_keys::{ApiKey, ApiKeyRepository, KeyHash};
use reachkit_core::blocklist::{BlocklistEntry, BlocklistRepository, BlocklistSort, ListQuery};
use reachkit_core::ids::{ApiKeyId, BlocklistEntryId, WorkspaceId};
use reachkit_core::paging::{PageRequest, SortOrder};
use reachkit_core::workspaces::{Workspace, WorkspaceRepository};
use reachkit_domain::email::EmailAddress;
use reachkit_postgres::{
    PgApiKeyRepository, PgBlocklistRepository, PgWorkspaceRepository, run_migrations,
};
use reachkit_testkit::TestDatabase;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const T0: OffsetDateTime = datetime!(2026-11-30 09:00:00.123456 UTC);

async fn database() -> TestDatabase {
    match TestDatabase::create().await {
        Ok(db) => db,
        Err(e) => panic!("cannot create a test database: {e:#}"),
    }
}

async fn workspace(db: &TestDatabase, name: &str) -> WorkspaceId {
    let repo = PgWorkspaceRepository::new(db.db.clone());
    let ws = Workspace {
        id: WorkspaceId::new(),
        name: name.to_owned(),
        created_at: T0,
        updated_at: T0,
    };
    repo.insert(&ws).await.expect("insert workspace");
    ws.id
}

fn email(s: &str) -> EmailAddress {
    EmailAddress::parse(s).expect("valid address")
}

fn entry(ws: WorkspaceId, address: &str, created_at: OffsetDateTime) -> BlocklistEntry {
    BlocklistEntry {
        id: BlocklistEntryId::new(),
        workspace_id: ws,
        email: email(address),
        created_at,
    }
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let db = database().await;
    let again = run_migrations(&db.url).await.expect("second run");
    assert!(again.is_empty(), "applied again: {again:?}");
}

#[tokio::test]
async fn workspaces_round_trip() {
    let db = database().await;
    let repo = PgWorkspaceRepository::new(db.db.clone());
    let id = workspace(&db, "Acme").await;
    let read = repo.get(id).await.expect("get").expect("present");
    assert_eq!(read.name, "Acme");
    assert_eq!(read.created_at, T0);
    assert!(repo.get(WorkspaceId::new()).await.expect("get").is_none());
}

#[tokio::test]
async fn api_keys_are_found_by_digest_touched_and_revoked_within_their_workspace() {
    let db = database().await;
    let repo = PgApiKeyRepository::new(db.db.clone());
    let ws = workspace(&db, "A").await;
    let other = workspace(&db, "B").await;
    let key = ApiKey {
        id: ApiKeyId::new(),
        workspace_id: ws,
        name: "deploy".into(),
        prefix: "rk_AAAAAAAA".into(),
        created_at: T0,
        last_used_at: None,
        revoked_at: None,
    };
    let hash = KeyHash::of("rk_AAAAAAAA_secret");
    repo.insert(&key, &hash).await.expect("insert");

    assert_eq!(
        repo.find_by_hash(&hash).await.expect("find"),
        Some(key.clone())
    );
    assert_eq!(
        repo.find_by_hash(&KeyHash::of("other"))
            .await
            .expect("find"),
        None
    );

    let used = T0 + Duration::minutes(5);
    repo.touch(key.id, used).await.expect("touch");
    // An older mark never overwrites a newer one.
    repo.touch(key.id, T0).await.expect("touch");
    let found = repo
        .find_by_hash(&hash)
        .await
        .expect("find")
        .expect("present");
    assert_eq!(found.last_used_at, Some(used));

    assert_eq!(
        repo.revoke(other, key.id, used).await.expect("revoke"),
        None,
        "another workspace cannot revoke the key"
    );
    assert!(repo.list(other).await.expect("list").is_empty());

    let revoked = repo.revoke(ws, key.id, used).await.expect("revoke");
    assert_eq!(revoked.and_then(|k| k.revoked_at), Some(used));
    let again = repo
        .revoke(ws, key.id, used + Duration::hours(1))
        .await
        .expect("revoke");
    assert_eq!(
        again.and_then(|k| k.revoked_at),
        Some(used),
        "the first revocation time is kept"
    );
    assert_eq!(repo.list(ws).await.expect("list").len(), 1);
}

#[tokio::test]
async fn adding_a_blocked_address_again_returns_the_existing_entry() {
    let db = database().await;
    let repo = PgBlocklistRepository::new(db.db.clone());
    let ws = workspace(&db, "A").await;
    let first = repo
        .add(&entry(ws, "bob@example.com", T0))
        .await
        .expect("add");
    assert!(first.created);
    let second = repo
        .add(&entry(ws, "BOB@example.com", T0 + Duration::hours(1)))
        .await
        .expect("add again");
    assert!(!second.created);
    assert_eq!(second.entry, first.entry);
    let page = repo.list(ws, &ListQuery::default()).await.expect("list");
    assert_eq!(page.total_count, 1);
}

#[tokio::test]
async fn concurrent_adds_of_one_address_store_it_once() {
    let db = database().await;
    let repo = Arc::new(PgBlocklistRepository::new(db.db.clone()));
    let ws = workspace(&db, "A").await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let repo = Arc::clone(&repo);
            tokio::spawn(async move { repo.add(&entry(ws, "race@example.com", T0)).await })
        })
        .collect();
    let mut created = 0;
    let mut ids = Vec::new();
    for task in tasks {
        let added = task.await.expect("join").expect("add");
        created += usize::from(added.created);
        ids.push(added.entry.id);
    }
    assert_eq!(created, 1);
    ids.dedup();
    assert_eq!(ids.len(), 1, "every caller got the same entry");
}

#[tokio::test]
async fn another_workspace_never_sees_checks_or_deletes_entries() {
    let db = database().await;
    let repo = PgBlocklistRepository::new(db.db.clone());
    let a = workspace(&db, "A").await;
    let b = workspace(&db, "B").await;
    let added = repo
        .add(&entry(a, "carol@example.com", T0))
        .await
        .expect("add");

    assert!(
        repo.is_blocked(a, &email("carol@example.com"))
            .await
            .expect("check")
    );
    assert!(
        !repo
            .is_blocked(b, &email("carol@example.com"))
            .await
            .expect("check")
    );
    assert_eq!(
        repo.list(b, &ListQuery::default())
            .await
            .expect("list")
            .total_count,
        0
    );
    assert!(!repo.delete(b, added.entry.id).await.expect("delete"));
    assert!(
        repo.is_blocked(a, &email("carol@example.com"))
            .await
            .expect("check")
    );

    // The same address can be blocked by each workspace independently.
    let in_b = repo
        .add(&entry(b, "carol@example.com", T0))
        .await
        .expect("add");
    assert!(in_b.created);
    assert_ne!(in_b.entry.id, added.entry.id);

    assert!(repo.delete(a, added.entry.id).await.expect("delete"));
    assert!(
        !repo
            .is_blocked(a, &email("carol@example.com"))
            .await
            .expect("check")
    );
    assert!(
        repo.is_blocked(b, &email("carol@example.com"))
            .await
            .expect("check")
    );
}

#[tokio::test]
async fn listing_pages_searches_and_sorts() {
    let db = database().await;
    let repo = PgBlocklistRepository::new(db.db.clone());
    let ws = workspace(&db, "A").await;
    let addresses = [
        "dave@acme.com",
        "erin@acme.com",
        "frank@globex.com",
        "grace@acme.com",
        "under_score@initech.com",
    ];
    for (i, address) in addresses.iter().enumerate() {
        let minutes = i64::try_from(i).expect("small");
        repo.add(&entry(ws, address, T0 + Duration::minutes(minutes)))
            .await
            .expect("add");
    }
    let emails = |page: &reachkit_core::paging::Page<BlocklistEntry>| -> Vec<String> {
        page.items
            .iter()
            .map(|e| e.email.as_str().to_owned())
            .collect()
    };

    let newest_first = repo.list(ws, &ListQuery::default()).await.expect("list");
    assert_eq!(emails(&newest_first)[0], "under_score@initech.com");
    assert_eq!(newest_first.total_count, 5);

    let by_email = ListQuery {
        page: PageRequest::new(Some(2), Some(2), 30).expect("page"),
        search: None,
        sort: BlocklistSort::Email,
        order: SortOrder::Asc,
    };
    let page2 = repo.list(ws, &by_email).await.expect("list");
    assert_eq!(emails(&page2), ["frank@globex.com", "grace@acme.com"]);
    assert_eq!(page2.total_count, 5);
    assert_eq!(page2.total_pages(), 3);

    let acme = ListQuery {
        search: ListQuery::<BlocklistSort>::search_term(Some("ACME")),
        sort: BlocklistSort::Email,
        order: SortOrder::Desc,
        ..ListQuery::default()
    };
    let found = repo.list(ws, &acme).await.expect("list");
    assert_eq!(
        emails(&found),
        ["grace@acme.com", "erin@acme.com", "dave@acme.com"]
    );
    assert_eq!(found.total_count, 3);

    // LIKE wildcards in a search term are literal: "_" matches only an underscore.
    let underscore = ListQuery {
        search: Some("_".into()),
        ..ListQuery::default()
    };
    let found = repo.list(ws, &underscore).await.expect("list");
    assert_eq!(emails(&found), ["under_score@initech.com"]);
}
