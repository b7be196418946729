//! The warmup store in PostgreSQL: the pool across workspaces (an inbox in error or not warming is
//! left out), one process per inbox, turning warming off stops sends, idempotent receipts, the
//! reply queue, the ramp restart, and statistics counted from the rows.

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reachkit_core::ids::{InboxId, WorkspaceId};
use reachkit_core::warmup::{WarmupIntent, WarmupReceipt, WarmupStore};
use reachkit_core::workspaces::{Workspace, WorkspaceRepository};
use reachkit_postgres::{PgWarmupStore, PgWorkspaceRepository};
use reachkit_testkit::{TestDatabase, execute, insert_inbox};
use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const T0: OffsetDateTime = datetime!(2026-11-30 10:00 UTC);

async fn database() -> TestDatabase {
    match TestDatabase::create().await {
        Ok(db) => db,
        Err(e) => panic!("cannot create a test database: {e:#}"),
    }
}

async fn sql(db: &TestDatabase, q: &str) {
    if let Err(e) = execute(&db.url, q).await {
        panic!("{q}: {e:#}");
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(db: &TestDatabase, q: &str) -> i64 {
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    let c: Count = diesel::sql_query(q)
        .get_result(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{q}: {e}"));
    c.n
}

async fn workspace(db: &TestDatabase) -> WorkspaceId {
    let ws = Workspace {
        id: WorkspaceId::new(),
        name: "w".into(),
        created_at: T0,
        updated_at: T0,
    };
    PgWorkspaceRepository::new(db.db.clone())
        .insert(&ws)
        .await
        .expect("workspace");
    ws.id
}

/// A connected, warming inbox.
async fn warming(db: &TestDatabase, ws: WorkspaceId, email: &str) -> InboxId {
    let id = insert_inbox(&db.url, ws.as_uuid(), email, "connected")
        .await
        .expect("inbox");
    sql(
        db,
        &format!("UPDATE inboxes SET is_warming = true WHERE id = '{id}'"),
    )
    .await;
    InboxId::from_uuid(id)
}

fn intent(from: InboxId, to: InboxId, token: &str, reply_to: Option<Uuid>) -> WarmupIntent {
    WarmupIntent {
        id: Uuid::now_v7(),
        token: token.into(),
        message_id: format!("{token}@reachkit.test"),
        sender: from,
        recipient: to,
        subject: format!("Hello {token}"),
        reply_to_id: reply_to,
        day: date!(2026 - 11 - 30),
        now: T0,
    }
}

/// Claims, writes and finishes one sent email from `from` to `to`.
async fn send(store: &PgWarmupStore, from: InboxId, to: InboxId, token: &str) -> Uuid {
    let i = intent(from, to, token, None);
    assert!(store.begin_send("me", &i).await.expect("begin"));
    store.finish_send(i.id, true, T0).await.expect("finish");
    i.id
}

async fn claim_all(store: &PgWarmupStore, owner: &str, now: OffsetDateTime) -> Vec<InboxId> {
    store
        .claim_due(owner, now, now + Duration::minutes(5), 100)
        .await
        .expect("claim")
        .into_iter()
        .map(|s| s.inbox.id)
        .collect()
}

#[tokio::test]
async fn the_pool_spans_workspaces_and_leaves_out_inboxes_in_error_inactive_or_not_warming() {
    let db = database().await;
    let store = PgWarmupStore::new(db.db.clone());
    let (w1, w2) = (workspace(&db).await, workspace(&db).await);
    let a = warming(&db, w1, "a@one.test").await;
    let b = warming(&db, w2, "b@two.test").await;
    let broken = warming(&db, w1, "c@one.test").await;
    sql(
        &db,
        &format!("UPDATE inboxes SET connection_status = 'error' WHERE id = '{broken}'"),
    )
    .await;
    let paused = warming(&db, w1, "d@one.test").await;
    sql(
        &db,
        &format!("UPDATE inboxes SET is_active = false WHERE id = '{paused}'"),
    )
    .await;
    insert_inbox(&db.url, w2.as_uuid(), "cold@two.test", "connected")
        .await
        .expect("inbox");

    let pool: Vec<InboxId> = store
        .pool()
        .await
        .expect("pool")
        .into_iter()
        .map(|p| p.id)
        .collect();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(pool, expected);
    let mut claimed = claim_all(&store, "me", T0).await;
    claimed.sort();
    assert_eq!(claimed, expected);
}

#[tokio::test]
async fn one_process_at_a_time_sends_for_an_inbox_and_the_next_send_waits_for_its_time() {
    let db = database().await;
    let store = PgWarmupStore::new(db.db.clone());
    let ws = workspace(&db).await;
    let a = warming(&db, ws, "a@one.test").await;
    let first = PgWarmupStore::new(db.db.clone());
    let second = PgWarmupStore::new(db.db.clone());
    let (x, y) = tokio::join!(claim_all(&first, "one", T0), claim_all(&second, "two", T0));
    assert_eq!(x.len() + y.len(), 1, "{x:?} {y:?}");
    // The lease holder only: another owner's release changes nothing.
    let (holder, other) = if x.is_empty() {
        ("two", "one")
    } else {
        ("one", "two")
    };
    store.release(other, a, T0).await.expect("release");
    assert!(claim_all(&store, "three", T0).await.is_empty());
    store
        .release(holder, a, T0 + Duration::seconds(30))
        .await
        .expect("release");
    assert!(
        claim_all(&store, "three", T0 + Duration::seconds(29))
            .await
            .is_empty()
    );
    assert_eq!(
        claim_all(&store, "three", T0 + Duration::seconds(30)).await,
        vec![a]
    );
    // An expired lease is taken over.
    assert_eq!(
        claim_all(&store, "four", T0 + Duration::minutes(10)).await,
        vec![a]
    );
}

#[tokio::test]
async fn turning_warming_off_refuses_the_send_and_takes_the_inbox_out_of_the_pool() {
    let db = database().await;
    let store = PgWarmupStore::new(db.db.clone());
    let ws = workspace(&db).await;
    let a = warming(&db, ws, "a@one.test").await;
    let b = warming(&db, ws, "b@one.test").await;
    assert_eq!(claim_all(&store, "me", T0).await.len(), 2);
    sql(
        &db,
        &format!("UPDATE inboxes SET is_warming = false WHERE id = '{a}'"),
    )
    .await;
    assert!(
        !store
            .begin_send("me", &intent(a, b, "t1", None))
            .await
            .expect("begin")
    );
    // Not the lease holder: refused too.
    assert!(
        !store
            .begin_send("other", &intent(b, a, "t2", None))
            .await
            .expect("begin")
    );
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM warmup_messages").await,
        0
    );
    store.release("me", a, T0).await.expect("release");
    store.release("me", b, T0).await.expect("release");
    assert_eq!(claim_all(&store, "me", T0).await, vec![b]);
}

#[tokio::test]
async fn receipts_are_idempotent_and_the_stats_count_the_rows() {
    let db = database().await;
    let store = PgWarmupStore::new(db.db.clone());
    let ws = workspace(&db).await;
    let erin = warming(&db, ws, "erin@reachkit.test").await;
    let dave = warming(&db, ws, "dave@reachkit.test").await;
    claim_all(&store, "me", T0).await;
    send(&store, erin, dave, "e1").await;
    send(&store, erin, dave, "e2").await;
    send(&store, dave, erin, "d1").await;
    // A refused send never counts.
    let failed = intent(erin, dave, "e3", None);
    assert!(store.begin_send("me", &failed).await.expect("begin"));
    store
        .finish_send(failed.id, false, T0)
        .await
        .expect("finish");

    assert_eq!(
        store
            .known_tokens(dave, &["e1".into(), "d1".into(), "zzz".into()])
            .await
            .expect("known"),
        vec!["e1".to_owned()]
    );
    let spam = WarmupReceipt {
        token: "e1".into(),
        in_spam: true,
        saved: true,
        reply_wanted: false,
    };
    // Found in Junk, then again in INBOX after the move, then replayed: counted once, still
    // a spam hit.
    let again = WarmupReceipt {
        in_spam: false,
        saved: false,
        ..spam.clone()
    };
    for r in [&spam, &again, &spam] {
        store
            .record_received(dave, std::slice::from_ref(r), T0 + Duration::minutes(1))
            .await
            .expect("received");
    }
    store
        .record_received(
            dave,
            &[WarmupReceipt {
                token: "e2".into(),
                in_spam: false,
                saved: false,
                reply_wanted: false,
            }],
            T0,
        )
        .await
        .expect("received");
    // Another inbox cannot record an email that was not sent to it.
    store
        .record_received(
            erin,
            &[WarmupReceipt {
                token: "e2".into(),
                in_spam: true,
                saved: true,
                reply_wanted: false,
            }],
            T0,
        )
        .await
        .expect("received");

    let from = date!(2026 - 11 - 24);
    let to = date!(2026 - 11 - 30);
    let e = store.counts(erin, from, to).await.expect("counts");
    assert_eq!(e.daily.len(), 1);
    assert_eq!(
        (e.daily[0].date, e.daily[0].sent, e.daily[0].spam),
        (to, 2, 1)
    );
    assert_eq!((e.received, e.saved_from_spam), (0, 0));
    assert_eq!(e.started_on, Some(to));
    let d = store.counts(dave, from, to).await.expect("counts");
    assert_eq!((d.daily[0].sent, d.daily[0].spam), (1, 0));
    assert_eq!((d.received, d.saved_from_spam), (2, 1));
    // Outside the range: nothing.
    let old = store
        .counts(erin, date!(2026 - 11 - 01), date!(2026 - 11 - 07))
        .await
        .expect("counts");
    assert!(old.daily.is_empty());
    // Only sent emails count against the usage row.
    assert_eq!(
        count(
            &db,
            &format!("SELECT warmup_sends::bigint AS n FROM inbox_usage WHERE inbox_id = '{erin}'")
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT campaign_sends::bigint AS n FROM inbox_usage WHERE inbox_id = '{erin}'"
            )
        )
        .await,
        0
    );
}

#[tokio::test]
async fn a_wanted_reply_is_queued_once_and_a_reply_is_never_answered() {
    let db = database().await;
    let store = PgWarmupStore::new(db.db.clone());
    let ws = workspace(&db).await;
    let erin = warming(&db, ws, "erin@reachkit.test").await;
    let dave = warming(&db, ws, "dave@reachkit.test").await;
    claim_all(&store, "me", T0).await;
    let original = send(&store, erin, dave, "e1").await;
    let wanted = WarmupReceipt {
        token: "e1".into(),
        in_spam: false,
        saved: false,
        reply_wanted: true,
    };
    store
        .record_received(dave, &[wanted], T0)
        .await
        .expect("received");
    let task = store.due_reply(dave).await.expect("due").expect("a reply");
    assert_eq!(task.original_id, original);
    assert_eq!(task.original_message_id, "e1@reachkit.test");
    assert_eq!(task.to.id, erin);
    assert!(store.due_reply(erin).await.expect("due").is_none());

    let reply = intent(dave, erin, "r1", Some(original));
    assert!(store.begin_send("me", &reply).await.expect("begin"));
    store.finish_send(reply.id, true, T0).await.expect("finish");
    assert!(store.due_reply(dave).await.expect("due").is_none());
    store
        .record_received(
            erin,
            &[WarmupReceipt {
                token: "r1".into(),
                in_spam: false,
                saved: false,
                reply_wanted: true,
            }],
            T0,
        )
        .await
        .expect("received");
    assert!(store.due_reply(erin).await.expect("due").is_none());
}

#[tokio::test]
async fn turning_warming_on_again_restarts_the_ramp() {
    let db = database().await;
    let store = PgWarmupStore::new(db.db.clone());
    let ws = workspace(&db).await;
    let a = warming(&db, ws, "a@one.test").await;
    let claimed = store
        .claim_due("me", T0, T0 + Duration::minutes(5), 10)
        .await
        .expect("claim");
    assert_eq!(claimed[0].started_on, date!(2026 - 11 - 30));
    store.release("me", a, T0).await.expect("release");
    for warming in [false, true] {
        sql(
            &db,
            &format!("UPDATE inboxes SET is_warming = {warming} WHERE id = '{a}'"),
        )
        .await;
    }
    let later = T0 + Duration::days(3);
    let claimed = store
        .claim_due("me", later, later + Duration::minutes(5), 10)
        .await
        .expect("claim");
    assert_eq!(claimed[0].started_on, date!(2026 - 12 - 03));
    assert_eq!(claimed[0].sent_today, 0);
}
