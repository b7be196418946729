//! Operations in PostgreSQL: readiness and idempotency keys, on a fresh database per test.

use std::time::Duration as StdDuration;

use reachkit_core::health::{NotReady, ReadinessProbe};
use reachkit_core::idempotency::{
    Begin, IN_FLIGHT_LEASE, IdempotencyStore, KEY_TTL, KeyedRequest, StoredResponse, request_hash,
};
use reachkit_core::ids::WorkspaceId;
use reachkit_core::metrics::MetricsSource;
use reachkit_core::workspaces::{Workspace, WorkspaceRepository};
use reachkit_postgres::{
    Db, PgIdempotencyStore, PgMetricsSource, PgReadinessProbe, PgWorkspaceRepository, PoolSettings,
};
use reachkit_testkit::{TestDatabase, execute, insert_campaign, insert_inbox};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const T0: OffsetDateTime = datetime!(2026-11-30 09:00 UTC);

async fn database() -> TestDatabase {
    TestDatabase::create()
        .await
        .unwrap_or_else(|e| panic!("cannot create a test database: {e:#}"))
}

async fn workspace(db: &TestDatabase) -> WorkspaceId {
    let ws = Workspace {
        id: WorkspaceId::new(),
        name: "Ops".to_owned(),
        created_at: T0,
        updated_at: T0,
    };
    PgWorkspaceRepository::new(db.db.clone())
        .insert(&ws)
        .await
        .expect("insert workspace");
    ws.id
}

fn keyed(ws: WorkspaceId, key: &str, body: &str, now: OffsetDateTime) -> KeyedRequest {
    KeyedRequest {
        workspace_id: ws,
        key: key.to_owned(),
        request_hash: request_hash("POST", "/api/v1/campaigns", body.as_bytes()),
        now,
        expires_at: now + KEY_TTL,
        stale_before: now - IN_FLIGHT_LEASE,
    }
}

fn created() -> StoredResponse {
    StoredResponse {
        status: 201,
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#"{"data":{"id":"1"}}"#.to_vec(),
    }
}

#[tokio::test]
async fn a_migrated_database_is_ready() {
    let db = database().await;
    let probe = PgReadinessProbe::new(db.db.clone());
    assert!(probe.check().await.is_ok());
}

#[tokio::test]
async fn a_database_missing_a_migration_is_not_ready_and_names_it() {
    let db = database().await;
    execute(
        &db.url,
        "DELETE FROM __diesel_schema_migrations WHERE version = '20261130000007'",
    )
    .await
    .expect("forget one migration");
    let result = PgReadinessProbe::new(db.db.clone()).check().await;
    assert!(
        matches!(&result, Err(NotReady::MigrationsPending(v)) if v == &["20261130000007"]),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_database_that_cannot_be_reached_is_not_ready() {
    // A port nobody listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let db = Db::connect_lazily(
        &format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        PoolSettings {
            max_connections: 1,
            acquire_timeout: StdDuration::from_secs(2),
        },
    )
    .expect("pool");
    let result = PgReadinessProbe::new(db).check().await;
    assert!(
        matches!(result, Err(NotReady::DatabaseUnreachable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_key_is_reserved_then_replays_its_response_and_refuses_another_body() {
    let db = database().await;
    let ws = workspace(&db).await;
    let store = PgIdempotencyStore::new(db.db.clone());
    let first = keyed(ws, "k-1", r#"{"name":"A"}"#, T0);
    assert_eq!(store.begin(&first).await.expect("begin"), Begin::Started);
    assert_eq!(store.begin(&first).await.expect("again"), Begin::InFlight);
    store
        .complete(ws, "k-1", &created())
        .await
        .expect("complete");
    let later = keyed(ws, "k-1", r#"{"name":"A"}"#, T0 + Duration::hours(1));
    assert_eq!(
        store.begin(&later).await.expect("replay"),
        Begin::Replay(created())
    );
    let other_body = keyed(ws, "k-1", r#"{"name":"B"}"#, T0 + Duration::hours(1));
    assert_eq!(
        store.begin(&other_body).await.expect("mismatch"),
        Begin::Mismatch
    );
}

#[tokio::test]
async fn keys_are_isolated_between_workspaces() {
    let db = database().await;
    let (a, b) = (workspace(&db).await, workspace(&db).await);
    let store = PgIdempotencyStore::new(db.db.clone());
    assert_eq!(
        store.begin(&keyed(a, "same", "{}", T0)).await.expect("a"),
        Begin::Started
    );
    store
        .complete(a, "same", &created())
        .await
        .expect("complete");
    assert_eq!(
        store.begin(&keyed(b, "same", "{}", T0)).await.expect("b"),
        Begin::Started,
        "workspace B's key is its own"
    );
}

#[tokio::test]
async fn an_expired_key_is_forgotten_and_can_be_used_again() {
    let db = database().await;
    let ws = workspace(&db).await;
    let store = PgIdempotencyStore::new(db.db.clone());
    store.begin(&keyed(ws, "k", "{}", T0)).await.expect("begin");
    store.complete(ws, "k", &created()).await.expect("complete");
    let next_day = T0 + KEY_TTL;
    assert_eq!(
        store
            .begin(&keyed(ws, "k", r#"{"other":1}"#, next_day))
            .await
            .expect("begin"),
        Begin::Started
    );
}

#[tokio::test]
async fn an_abandoned_or_stale_reservation_lets_a_retry_run() {
    let db = database().await;
    let ws = workspace(&db).await;
    let store = PgIdempotencyStore::new(db.db.clone());
    store.begin(&keyed(ws, "k", "{}", T0)).await.expect("begin");
    store.abandon(ws, "k").await.expect("abandon");
    assert_eq!(
        store.begin(&keyed(ws, "k", "{}", T0)).await.expect("retry"),
        Begin::Started
    );
    // The process holding it died: after the lease the key is taken over.
    let within = T0 + IN_FLIGHT_LEASE - Duration::seconds(1);
    assert_eq!(
        store
            .begin(&keyed(ws, "k", "{}", within))
            .await
            .expect("busy"),
        Begin::InFlight
    );
    let after = T0 + IN_FLIGHT_LEASE + Duration::seconds(1);
    assert_eq!(
        store
            .begin(&keyed(ws, "k", "{}", after))
            .await
            .expect("take over"),
        Begin::Started
    );
}

#[tokio::test]
async fn a_completed_key_is_never_abandoned_and_purge_drops_only_expired_keys() {
    let db = database().await;
    let ws = workspace(&db).await;
    let store = PgIdempotencyStore::new(db.db.clone());
    store.begin(&keyed(ws, "old", "{}", T0)).await.expect("old");
    store
        .complete(ws, "old", &created())
        .await
        .expect("complete");
    store.abandon(ws, "old").await.expect("abandon is a no-op");
    let later = T0 + Duration::hours(12);
    store
        .begin(&keyed(ws, "new", "{}", later))
        .await
        .expect("new");
    assert_eq!(store.purge_expired(T0 + KEY_TTL).await.expect("purge"), 1);
    assert_eq!(
        store
            .begin(&keyed(ws, "new", "{}", later))
            .await
            .expect("kept"),
        Begin::InFlight
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_key_start_exactly_once() {
    let db = database().await;
    let ws = workspace(&db).await;
    let store = PgIdempotencyStore::new(db.db.clone());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.begin(&keyed(ws, "race", "{}", T0)).await })
        })
        .collect();
    let mut started = 0;
    for task in tasks {
        match task.await.expect("join").expect("begin") {
            Begin::Started => started += 1,
            Begin::InFlight => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(started, 1);
}

#[tokio::test]
async fn deleting_a_workspace_deletes_its_keys() {
    let db = database().await;
    let ws = workspace(&db).await;
    let store = PgIdempotencyStore::new(db.db.clone());
    store.begin(&keyed(ws, "k", "{}", T0)).await.expect("begin");
    execute(
        &db.url,
        &format!("DELETE FROM workspaces WHERE id = '{ws}'"),
    )
    .await
    .expect("delete workspace");
    assert_eq!(
        store.purge_expired(T0 + KEY_TTL * 2).await.expect("purge"),
        0
    );
}

#[tokio::test]
async fn metrics_on_an_empty_database_are_zero() {
    let db = database().await;
    let snapshot = PgMetricsSource::new(db.db.clone())
        .snapshot(T0)
        .await
        .expect("snapshot");
    assert!(snapshot.sends_by_status.is_empty());
    assert_eq!(snapshot.due_sends, 0);
    assert!(snapshot.oldest_due_age_seconds.abs() < f64::EPSILON);
    assert!(snapshot.replies_by_kind.is_empty());
    assert!(snapshot.sync_lag_seconds.is_empty());
    assert!(snapshot.pool.max >= 1);
}

#[tokio::test]
async fn metrics_count_sends_the_due_queue_and_sync_lag() {
    let db = database().await;
    let ws = workspace(&db).await;
    let campaign = insert_campaign(&db, ws, "Metrics").await.expect("campaign");
    let inbox = insert_inbox(&db.url, ws.as_uuid(), "alice@example.com", "connected")
        .await
        .expect("inbox");
    let sql = format!(
        "INSERT INTO leads (id, workspace_id, campaign_id, email, email_domain, created_at, updated_at) \
         SELECT gen_random_uuid(), '{ws}', '{campaign}', 'l' || i || '@example.com', 'example.com', now(), now() \
         FROM generate_series(1, 4) i;
         INSERT INTO sends (id, workspace_id, campaign_id, lead_id, step, inbox_id, message_id, status, \
                            not_before, inbox_day, campaign_day, queued_at, updated_at) \
         SELECT gen_random_uuid(), '{ws}', '{campaign}', l.id, 1, '{inbox}', l.email || '.msg', s.status, \
                s.not_before, '2026-11-30', '2026-11-30', now(), now() \
         FROM (SELECT id, email, row_number() OVER (ORDER BY email) AS n FROM leads) l \
         JOIN (VALUES (1, 'sent', timestamptz '2026-11-30 08:00Z'), \
                      (2, 'queued', timestamptz '2026-11-30 08:59Z'), \
                      (3, 'deferred', timestamptz '2026-11-30 08:58Z'), \
                      (4, 'queued', timestamptz '2026-11-30 10:00Z')) s(n, status, not_before) ON s.n = l.n;
         INSERT INTO inbox_sync_leases (inbox_id, last_synced_at) VALUES ('{inbox}', '2026-11-30 08:59:30Z');"
    );
    for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        execute(&db.url, statement).await.expect("fixtures");
    }
    let mut snapshot = PgMetricsSource::new(db.db.clone())
        .snapshot(T0)
        .await
        .expect("snapshot");
    snapshot.sends_by_status.sort();
    assert_eq!(
        snapshot.sends_by_status,
        [
            ("deferred".to_owned(), 1),
            ("queued".to_owned(), 2),
            ("sent".to_owned(), 1)
        ]
    );
    assert_eq!(snapshot.due_sends, 2, "the 10:00 send is not due at 09:00");
    assert!(
        (snapshot.oldest_due_age_seconds - 120.0).abs() < 1e-6,
        "{snapshot:?}"
    );
    assert_eq!(snapshot.sync_lag_seconds.len(), 1);
    assert!(
        (snapshot.sync_lag_seconds[0].1 - 30.0).abs() < 1e-6,
        "{snapshot:?}"
    );
}
