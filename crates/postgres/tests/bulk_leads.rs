//! Bulk lead creation in PostgreSQL: exact counts and campaign counters after mixed batches,
//! every `if_exists` mode, repeated addresses, the blocklist, tenant isolation, and concurrent
//! overlapping imports. A fresh database per test.

use std::sync::Arc;

use diesel::sql_types::{BigInt, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reachkit_core::ids::{CampaignId, WorkspaceId};
use reachkit_core::leads::bulk::{BulkInput, BulkReport, BulkRow};
use reachkit_core::leads::{LeadError, LeadService, NewLeadInput, Variables};
use reachkit_core::workspaces::{Workspace, WorkspaceRepository};
use reachkit_domain::validation::{FieldError, ValidationErrors};
use reachkit_postgres::{PgLeadRepository, PgWorkspaceRepository};
use reachkit_testkit::{SettableClock, TestDatabase, execute, insert_campaign, lead_counters};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2026-11-30 09:00:00 UTC);

async fn database() -> TestDatabase {
    match TestDatabase::create().await {
        Ok(db) => db,
        Err(e) => panic!("cannot create a test database: {e:#}"),
    }
}

async fn workspace(db: &TestDatabase, name: &str) -> WorkspaceId {
    let ws = Workspace {
        id: WorkspaceId::new(),
        name: name.to_owned(),
        created_at: T0,
        updated_at: T0,
    };
    PgWorkspaceRepository::new(db.db.clone())
        .insert(&ws)
        .await
        .expect("insert workspace");
    ws.id
}

fn leads(db: &TestDatabase) -> LeadService {
    LeadService::new(
        Arc::new(PgLeadRepository::new(db.db.clone())),
        Arc::new(SettableClock::new(T0)),
    )
}

fn vars(value: Value) -> Variables {
    match value {
        Value::Object(map) => map,
        _ => Variables::new(),
    }
}

fn row(email: &str) -> BulkRow {
    Ok(NewLeadInput {
        email: email.into(),
        ..NewLeadInput::default()
    })
}

fn bulk(if_exists: Option<&str>, rows: Vec<BulkRow>) -> BulkInput {
    BulkInput {
        if_exists: if_exists.map(str::to_owned),
        rows,
    }
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The campaign's leads counted by scanning, to compare with its counter.
async fn stored_leads(db: &TestDatabase, campaign: CampaignId) -> i64 {
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    diesel::sql_query("SELECT count(*) AS n FROM leads WHERE campaign_id = $1")
        .bind::<SqlUuid, _>(campaign.as_uuid())
        .get_result::<Count>(&mut conn)
        .await
        .expect("count")
        .n
}

async fn block(db: &TestDatabase, ws: WorkspaceId, email: &str) {
    execute(
        &db.url,
        &format!(
            "INSERT INTO blocklist_entries (id, workspace_id, email, created_at) \
             VALUES (gen_random_uuid(), '{ws}', '{email}', now())"
        ),
    )
    .await
    .expect("block");
}

fn counts(r: &BulkReport) -> [u64; 6] {
    [
        r.created,
        r.updated,
        r.skipped,
        r.invalid,
        r.blocklisted,
        r.duplicates,
    ]
}

#[tokio::test]
async fn a_mixed_batch_stores_the_valid_rows_and_keeps_counts_and_counters_exact() {
    let db = database().await;
    let ws = workspace(&db, "A").await;
    let campaign = insert_campaign(&db, ws, "Q1").await.expect("campaign");
    let s = leads(&db);
    s.add(
        ws,
        campaign,
        &NewLeadInput {
            email: "old@acme.com".into(),
            ..NewLeadInput::default()
        },
    )
    .await
    .expect("existing lead");
    block(&db, ws, "blocked@acme.com").await;
    let unreadable = Err(ValidationErrors(vec![FieldError::new(
        "email",
        "invalid_type",
        "must be a string",
    )]));
    let report = s
        .add_bulk(
            ws,
            campaign,
            &bulk(
                Some("skip"),
                vec![
                    row("new1@acme.com"),
                    row("OLD@acme.com"),
                    row("not an address"),
                    row("Blocked@Acme.com"),
                    row("new2@gmail.com"),
                    unreadable,
                    row("new1@acme.com"),
                    row("new3@acme.com"),
                ],
            ),
        )
        .await
        .expect("bulk");
    // created, updated, skipped, invalid, blocklisted, duplicates
    assert_eq!(counts(&report), [3, 0, 2, 2, 1, 0]);
    assert_eq!(report.rows(), 8);
    let bad: Vec<_> = report.errors.iter().map(|e| e.index).collect();
    assert_eq!(bad, [2, 5]);
    assert_eq!(stored_leads(&db, campaign).await, 4);
    assert_eq!(
        lead_counters(&db, campaign).await.expect("counters"),
        (4, 0)
    );
    let page = s
        .list(
            ws,
            campaign,
            &reachkit_core::blocklist::ListQuery::default(),
        )
        .await
        .expect("list");
    assert!(
        page.items
            .iter()
            .all(|l| l.email.as_str() != "blocked@acme.com")
    );
}

#[tokio::test]
async fn if_exists_fail_reports_duplicates_skip_keeps_and_update_merges() {
    let db = database().await;
    let ws = workspace(&db, "A").await;
    let campaign = insert_campaign(&db, ws, "Q1").await.expect("campaign");
    let s = leads(&db);
    let first = |email: &str| -> BulkRow {
        Ok(NewLeadInput {
            email: email.into(),
            first_name: Some("Ann".into()),
            last_name: Some("Lee".into()),
            variables: Some(vars(json!({"company": "Acme", "city": "Lyon"}))),
            ..NewLeadInput::default()
        })
    };
    let report = s
        .add_bulk(
            ws,
            campaign,
            &bulk(None, vec![first("a@acme.com"), first("b@acme.com")]),
        )
        .await
        .expect("first import");
    assert_eq!(counts(&report), [2, 0, 0, 0, 0, 0]);

    // fail (the default): both rows are errors, nothing changes.
    let again = s
        .add_bulk(
            ws,
            campaign,
            &bulk(None, vec![row("a@acme.com"), row("c@acme.com")]),
        )
        .await
        .expect("fail");
    assert_eq!(counts(&again), [1, 0, 0, 0, 0, 1]);
    assert_eq!(again.errors[0].index, 0);
    assert_eq!(again.errors[0].errors.fields()[0].code, "duplicate");

    // skip: unchanged.
    let changed = |email: &str| -> BulkRow {
        Ok(NewLeadInput {
            email: email.into(),
            last_name: Some("Moss".into()),
            variables: Some(vars(json!({"city": "Paris", "role": "CTO"}))),
            ..NewLeadInput::default()
        })
    };
    let skipped = s
        .add_bulk(
            ws,
            campaign,
            &bulk(Some("skip"), vec![changed("a@acme.com")]),
        )
        .await
        .expect("skip");
    assert_eq!(counts(&skipped), [0, 0, 1, 0, 0, 0]);

    // update: the given name replaces, the omitted one stays, variables merge.
    let updated = s
        .add_bulk(
            ws,
            campaign,
            &bulk(Some("update"), vec![changed("b@acme.com")]),
        )
        .await
        .expect("update");
    assert_eq!(counts(&updated), [0, 1, 0, 0, 0, 0]);
    let page = s
        .list(
            ws,
            campaign,
            &reachkit_core::blocklist::ListQuery::default(),
        )
        .await
        .expect("list");
    let lead = |email: &str| {
        page.items
            .iter()
            .find(|l| l.email.as_str() == email)
            .expect("lead")
            .clone()
    };
    let (a, b) = (lead("a@acme.com"), lead("b@acme.com"));
    assert_eq!(
        (a.first_name.as_str(), a.last_name.as_str()),
        ("Ann", "Lee")
    );
    assert_eq!(
        a.variables,
        vars(json!({"company": "Acme", "city": "Lyon"}))
    );
    assert_eq!(
        (b.first_name.as_str(), b.last_name.as_str()),
        ("Ann", "Moss")
    );
    assert_eq!(
        b.variables,
        vars(json!({"company": "Acme", "city": "Paris", "role": "CTO"}))
    );
    assert_eq!(
        lead_counters(&db, campaign).await.expect("counters"),
        (3, 0)
    );
}

#[tokio::test]
async fn a_repeated_address_is_created_once_then_updated_in_order() {
    let db = database().await;
    let ws = workspace(&db, "A").await;
    let campaign = insert_campaign(&db, ws, "Q1").await.expect("campaign");
    let s = leads(&db);
    let rows = vec![
        Ok(NewLeadInput {
            email: "ann@acme.com".into(),
            first_name: Some("Ann".into()),
            variables: Some(vars(json!({"a": 1}))),
            ..NewLeadInput::default()
        }),
        Ok(NewLeadInput {
            email: "ANN@acme.com".into(),
            last_name: Some("Lee".into()),
            variables: Some(vars(json!({"a": 2, "b": true}))),
            ..NewLeadInput::default()
        }),
    ];
    let report = s
        .add_bulk(ws, campaign, &bulk(Some("update"), rows))
        .await
        .expect("bulk");
    assert_eq!(counts(&report), [1, 1, 0, 0, 0, 0]);
    let page = s
        .list(
            ws,
            campaign,
            &reachkit_core::blocklist::ListQuery::default(),
        )
        .await
        .expect("list");
    assert_eq!(page.items.len(), 1);
    let lead = &page.items[0];
    assert_eq!(
        (lead.first_name.as_str(), lead.last_name.as_str()),
        ("Ann", "Lee")
    );
    assert_eq!(lead.variables, vars(json!({"a": 2, "b": true})));
    assert_eq!(
        lead_counters(&db, campaign).await.expect("counters"),
        (1, 0)
    );
}

#[tokio::test]
async fn another_workspaces_campaign_is_not_found_and_nothing_is_stored() {
    let db = database().await;
    let (mine, theirs) = (workspace(&db, "A").await, workspace(&db, "B").await);
    let campaign = insert_campaign(&db, theirs, "Q1").await.expect("campaign");
    let result = leads(&db)
        .add_bulk(mine, campaign, &bulk(None, vec![row("a@acme.com")]))
        .await;
    assert!(matches!(result, Err(LeadError::CampaignNotFound)));
    assert_eq!(stored_leads(&db, campaign).await, 0);
    // Another workspace's blocklist does not apply.
    block(&db, mine, "a@acme.com").await;
    let report = leads(&db)
        .add_bulk(theirs, campaign, &bulk(None, vec![row("a@acme.com")]))
        .await
        .expect("bulk");
    assert_eq!(counts(&report), [1, 0, 0, 0, 0, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_overlapping_imports_create_each_lead_once_and_count_it_once() {
    let db = database().await;
    let ws = workspace(&db, "A").await;
    let campaign = insert_campaign(&db, ws, "Q1").await.expect("campaign");
    let s = leads(&db);
    // Four imports of 600 addresses each, overlapping, in different row orders.
    let mut tasks = Vec::new();
    for n in 0..4_usize {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut rows: Vec<BulkRow> = (n * 200..n * 200 + 600)
                .map(|i| row(&format!("lead{i}@acme.com")))
                .collect();
            if n % 2 == 1 {
                rows.reverse();
            }
            let mode = if n % 2 == 0 { "skip" } else { "update" };
            s.add_bulk(ws, campaign, &bulk(Some(mode), rows)).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        let report = task.await.expect("task").expect("bulk");
        assert_eq!(report.rows(), 600);
        assert_eq!(report.invalid + report.duplicates + report.blocklisted, 0);
        created += report.created;
    }
    // Addresses 0..1200 in all.
    assert_eq!(created, 1_200);
    assert_eq!(stored_leads(&db, campaign).await, 1_200);
    assert_eq!(
        lead_counters(&db, campaign).await.expect("counters"),
        (1_200, 0)
    );
}

#[tokio::test]
async fn bulk_created_leads_are_due_for_sending_like_single_ones() {
    let db = database().await;
    let ws = workspace(&db, "A").await;
    let campaign = insert_campaign(&db, ws, "Q1").await.expect("campaign");
    leads(&db)
        .add_bulk(
            ws,
            campaign,
            &bulk(None, vec![row("a@acme.com"), row("b@gmail.com")]),
        )
        .await
        .expect("bulk");
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    let due: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM leads WHERE campaign_id = $1 AND next_due_at = created_at \
         AND status = 'uncontacted' AND provider IS NULL \
         AND ((email = 'a@acme.com' AND company_domain = 'acme.com') \
           OR (email = 'b@gmail.com' AND company_domain IS NULL))",
    )
    .bind::<SqlUuid, _>(campaign.as_uuid())
    .get_result(&mut conn)
    .await
    .expect("due");
    assert_eq!(due.n, 2);
}
