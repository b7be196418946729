//! ESP detection's storage in PostgreSQL: claims by domain across workspaces, retries after a
//! stale claim, and the provider set on every lead of a domain at once. A fresh database per
//! test.

use std::sync::Arc;

use diesel::sql_types::{Nullable, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reachkit_core::esp_detection::{EspDetectionRepository, RETRY_AFTER};
use reachkit_core::ids::{CampaignId, WorkspaceId};
use reachkit_core::leads::{LeadService, NewLeadInput};
use reachkit_core::workspaces::{Workspace, WorkspaceRepository};
use reachkit_domain::esp::Provider;
use reachkit_postgres::{PgEspDetectionRepository, PgLeadRepository, PgWorkspaceRepository};
use reachkit_testkit::{SettableClock, TestDatabase, insert_campaign};
use time::OffsetDateTime;
use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2026-11-30 09:00:00 UTC);

async fn database() -> TestDatabase {
    match TestDatabase::create().await {
        Ok(db) => db,
        Err(e) => panic!("cannot create a test database: {e:#}"),
    }
}

async fn campaign(db: &TestDatabase, name: &str) -> (WorkspaceId, CampaignId) {
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
    let campaign = insert_campaign(db, ws.id, name).await.expect("campaign");
    (ws.id, campaign)
}

async fn add_leads(db: &TestDatabase, ws: WorkspaceId, campaign: CampaignId, emails: &[&str]) {
    let service = LeadService::new(
        Arc::new(PgLeadRepository::new(db.db.clone())),
        Arc::new(SettableClock::new(T0)),
    );
    for email in emails {
        service
            .add(
                ws,
                campaign,
                &NewLeadInput {
                    email: (*email).to_owned(),
                    ..NewLeadInput::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("add {email}: {e:?}"));
    }
}

#[derive(diesel::QueryableByName, Debug, PartialEq, Eq)]
struct ProviderRow {
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Nullable<Text>)]
    provider: Option<String>,
}

async fn providers(db: &TestDatabase) -> Vec<(String, Option<String>)> {
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    let rows: Vec<ProviderRow> =
        diesel::sql_query("SELECT email, provider FROM leads ORDER BY email, workspace_id")
            .load(&mut conn)
            .await
            .expect("select");
    rows.into_iter().map(|r| (r.email, r.provider)).collect()
}

#[tokio::test]
async fn domains_are_claimed_once_across_workspaces_and_set_for_every_lead_at_once() {
    let db = database().await;
    let (ws1, c1) = campaign(&db, "one").await;
    let (ws2, c2) = campaign(&db, "two").await;
    add_leads(&db, ws1, c1, &["a@acme.com", "b@acme.com", "c@other.org"]).await;
    add_leads(&db, ws2, c2, &["d@acme.com"]).await;
    let repo = PgEspDetectionRepository::new(db.db.clone());

    let claimed = repo
        .claim_domains(T0, T0 - RETRY_AFTER, 10)
        .await
        .expect("claim");
    assert_eq!(claimed, ["acme.com", "other.org"]);
    // Fresh claims are not handed out again.
    let again = repo
        .claim_domains(T0, T0 - RETRY_AFTER, 10)
        .await
        .expect("claim");
    assert!(again.is_empty(), "{again:?}");

    let changed = repo
        .set_provider("acme.com", Provider::Google, T0)
        .await
        .expect("set");
    assert_eq!(changed, 3, "every lead at the domain, in both workspaces");
    assert_eq!(
        providers(&db).await,
        [
            ("a@acme.com".to_owned(), Some("google".to_owned())),
            ("b@acme.com".to_owned(), Some("google".to_owned())),
            ("c@other.org".to_owned(), None),
            ("d@acme.com".to_owned(), Some("google".to_owned())),
        ]
    );
    // Setting again changes nothing: the provider is only ever filled in.
    assert_eq!(
        repo.set_provider("acme.com", Provider::Zoho, T0)
            .await
            .expect("set"),
        0
    );
}

#[tokio::test]
async fn a_domain_left_unknown_is_claimed_again_once_its_claim_is_stale() {
    let db = database().await;
    let (ws, c) = campaign(&db, "one").await;
    add_leads(&db, ws, c, &["a@flaky.example"]).await;
    let repo = PgEspDetectionRepository::new(db.db.clone());
    assert_eq!(
        repo.claim_domains(T0, T0 - RETRY_AFTER, 10)
            .await
            .expect("claim"),
        ["flaky.example"]
    );
    // A temporary DNS failure: nothing set. Before RETRY_AFTER nothing is claimed ...
    let soon = T0 + RETRY_AFTER - time::Duration::seconds(1);
    assert!(
        repo.claim_domains(soon, soon - RETRY_AFTER, 10)
            .await
            .expect("claim")
            .is_empty()
    );
    // ... after it, the domain comes back.
    let later = T0 + RETRY_AFTER;
    assert_eq!(
        repo.claim_domains(later, later - RETRY_AFTER, 10)
            .await
            .expect("claim"),
        ["flaky.example"]
    );
}

#[tokio::test]
async fn the_batch_limit_counts_domains_and_known_leads_are_never_claimed() {
    let db = database().await;
    let (ws, c) = campaign(&db, "one").await;
    add_leads(
        &db,
        ws,
        c,
        &[
            "a@one.example",
            "b@one.example",
            "c@two.example",
            "d@three.example",
        ],
    )
    .await;
    let repo = PgEspDetectionRepository::new(db.db.clone());
    repo.set_provider("three.example", Provider::Other, T0)
        .await
        .expect("set");
    let first = repo
        .claim_domains(T0, T0 - RETRY_AFTER, 1)
        .await
        .expect("claim");
    assert_eq!(first.len(), 1);
    let second = repo
        .claim_domains(T0, T0 - RETRY_AFTER, 5)
        .await
        .expect("claim");
    let mut all: Vec<String> = first.into_iter().chain(second).collect();
    all.sort();
    assert_eq!(all, ["one.example", "two.example"]);
}

#[tokio::test]
async fn concurrent_claimers_together_cover_every_domain() {
    let db = database().await;
    let (ws, c) = campaign(&db, "one").await;
    let emails: Vec<String> = (0..40)
        .map(|i| format!("lead{i}@d{}.example", i % 20))
        .collect();
    let refs: Vec<&str> = emails.iter().map(String::as_str).collect();
    add_leads(&db, ws, c, &refs).await;
    let claims = (0..4).map(|_| {
        let repo = PgEspDetectionRepository::new(db.db.clone());
        tokio::spawn(async move { repo.claim_domains(T0, T0 - RETRY_AFTER, 20).await })
    });
    let mut all = Vec::new();
    for claim in claims {
        all.extend(claim.await.expect("join").expect("claim"));
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 20, "every domain claimed by someone: {all:?}");
}
