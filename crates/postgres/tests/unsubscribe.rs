//! Unsubscribes in PostgreSQL: lead, counters and blocklist in one transaction, once. A fresh
//! database per test.

use std::sync::Arc;

use diesel::sql_types::{BigInt, Bool, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reachkit_core::ids::{BlocklistEntryId, CampaignId, LeadId, WorkspaceId};
use reachkit_core::leads::{LeadService, NewLeadInput};
use reachkit_core::unsubscribe::{UnsubscribeRepository, Unsubscribed};
use reachkit_core::workspaces::{Workspace, WorkspaceRepository};
use reachkit_postgres::{PgLeadRepository, PgUnsubscribeRepository, PgWorkspaceRepository};
use reachkit_testkit::{SettableClock, TestDatabase, execute, insert_campaign, lead_counters};
use time::OffsetDateTime;
use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2026-11-30 09:00:00 UTC);
const T1: OffsetDateTime = datetime!(2026-11-30 10:00:00 UTC);

async fn database() -> TestDatabase {
    match TestDatabase::create().await {
        Ok(db) => db,
        Err(e) => panic!("cannot create a test database: {e:#}"),
    }
}

struct Fixture {
    db: TestDatabase,
    ws: WorkspaceId,
    campaign: CampaignId,
    repo: PgUnsubscribeRepository,
}

async fn fixture() -> Fixture {
    let db = database().await;
    let ws = Workspace {
        id: WorkspaceId::new(),
        name: "Agency".into(),
        created_at: T0,
        updated_at: T0,
    };
    PgWorkspaceRepository::new(db.db.clone())
        .insert(&ws)
        .await
        .expect("workspace");
    let campaign = insert_campaign(&db, ws.id, "Q1").await.expect("campaign");
    let repo = PgUnsubscribeRepository::new(db.db.clone());
    Fixture {
        db,
        ws: ws.id,
        campaign,
        repo,
    }
}

impl Fixture {
    async fn lead(&self, email: &str) -> LeadId {
        let service = LeadService::new(
            Arc::new(PgLeadRepository::new(self.db.db.clone())),
            Arc::new(SettableClock::new(T0)),
        );
        service
            .add(
                self.ws,
                self.campaign,
                &NewLeadInput {
                    email: email.into(),
                    ..NewLeadInput::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("add {email}: {e:?}"))
            .lead
            .id
    }

    async fn state(&self, lead: LeadId) -> State {
        let mut conn = AsyncPgConnection::establish(&self.db.url)
            .await
            .expect("connect");
        diesel::sql_query(
            "SELECT l.is_unsubscribed, s.unsubscribed, s.finished_leads, \
             (SELECT count(*) FROM blocklist_entries b \
              WHERE b.workspace_id = l.workspace_id AND b.email = l.email) AS blocked \
             FROM leads l JOIN campaign_stats s ON s.campaign_id = l.campaign_id \
             WHERE l.id = $1",
        )
        .bind::<SqlUuid, _>(lead.as_uuid())
        .get_result(&mut conn)
        .await
        .expect("state")
    }

    async fn unsubscribe(&self, lead: LeadId) -> Option<Unsubscribed> {
        self.repo
            .unsubscribe(lead, BlocklistEntryId::new(), T1)
            .await
            .expect("unsubscribe")
    }
}

#[derive(diesel::QueryableByName, Debug, PartialEq, Eq)]
struct State {
    #[diesel(sql_type = Bool)]
    is_unsubscribed: bool,
    #[diesel(sql_type = BigInt)]
    unsubscribed: i64,
    #[diesel(sql_type = BigInt)]
    finished_leads: i64,
    #[diesel(sql_type = BigInt)]
    blocked: i64,
}

const UNTOUCHED: State = State {
    is_unsubscribed: false,
    unsubscribed: 0,
    finished_leads: 0,
    blocked: 0,
};

const DONE: State = State {
    is_unsubscribed: true,
    unsubscribed: 1,
    finished_leads: 1,
    blocked: 1,
};

#[tokio::test]
async fn unsubscribing_marks_the_lead_counts_it_once_and_blocklists_the_address() {
    let f = fixture().await;
    let lead = f.lead("jane@prospects.test").await;
    let other = f.lead("john@prospects.test").await;
    assert!(f.repo.lead_exists(lead).await.expect("exists"));
    assert_eq!(f.state(lead).await, UNTOUCHED);

    assert_eq!(f.unsubscribe(lead).await, Some(Unsubscribed::Now));
    assert_eq!(f.state(lead).await, DONE);
    assert_eq!(f.unsubscribe(lead).await, Some(Unsubscribed::Already));
    assert_eq!(f.state(lead).await, DONE, "a second time changes nothing");
    assert_eq!(
        lead_counters(&f.db, f.campaign).await.expect("counters"),
        (2, 1)
    );
    // The other lead is untouched.
    assert!(!f.state(other).await.is_unsubscribed);
}

#[tokio::test]
async fn a_finished_lead_is_not_counted_as_finished_twice() {
    let f = fixture().await;
    let lead = f.lead("bounced@prospects.test").await;
    execute(
        &f.db.url,
        &format!(
            "UPDATE leads SET is_bounced = true WHERE id = '{}'",
            lead.as_uuid()
        ),
    )
    .await
    .expect("bounce");
    execute(
        &f.db.url,
        "UPDATE campaign_stats SET finished_leads = 1, bounced = 1",
    )
    .await
    .expect("counters");
    assert_eq!(f.unsubscribe(lead).await, Some(Unsubscribed::Now));
    assert_eq!(f.state(lead).await, DONE, "finished_leads stays 1");
}

#[tokio::test]
async fn an_address_blocked_already_keeps_its_one_entry() {
    let f = fixture().await;
    let lead = f.lead("jane@prospects.test").await;
    execute(
        &f.db.url,
        &format!(
            "INSERT INTO blocklist_entries (id, workspace_id, email, created_at) \
             VALUES (gen_random_uuid(), '{}', 'jane@prospects.test', now())",
            f.ws.as_uuid()
        ),
    )
    .await
    .expect("block");
    assert_eq!(f.unsubscribe(lead).await, Some(Unsubscribed::Now));
    assert_eq!(f.state(lead).await, DONE);
}

#[tokio::test]
async fn an_unknown_lead_is_none_and_changes_nothing() {
    let f = fixture().await;
    let lead = f.lead("jane@prospects.test").await;
    let unknown = LeadId::new();
    assert!(!f.repo.lead_exists(unknown).await.expect("exists"));
    assert_eq!(f.unsubscribe(unknown).await, None);
    assert_eq!(f.state(lead).await, UNTOUCHED);
}

#[tokio::test]
async fn when_the_blocklist_insert_fails_the_lead_and_counters_are_rolled_back() {
    let f = fixture().await;
    let lead = f.lead("jane@prospects.test").await;
    execute(
        &f.db.url,
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'refused by test'; END $$",
    )
    .await
    .expect("function");
    execute(
        &f.db.url,
        "CREATE TRIGGER refuse BEFORE INSERT ON blocklist_entries \
         FOR EACH ROW EXECUTE FUNCTION refuse()",
    )
    .await
    .expect("trigger");
    let failed = f.repo.unsubscribe(lead, BlocklistEntryId::new(), T1).await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(f.state(lead).await, UNTOUCHED, "all or nothing");

    execute(&f.db.url, "DROP TRIGGER refuse ON blocklist_entries")
        .await
        .expect("drop trigger");
    assert_eq!(f.unsubscribe(lead).await, Some(Unsubscribed::Now));
    assert_eq!(f.state(lead).await, DONE);
}

#[tokio::test]
async fn concurrent_clicks_unsubscribe_once() {
    let f = fixture().await;
    let lead = f.lead("jane@prospects.test").await;
    let clicks = (0..6).map(|_| {
        let repo = f.repo.clone();
        tokio::spawn(async move { repo.unsubscribe(lead, BlocklistEntryId::new(), T1).await })
    });
    let mut outcomes = Vec::new();
    for click in clicks {
        outcomes.push(click.await.expect("join").expect("unsubscribe"));
    }
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Some(Unsubscribed::Now))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(f.state(lead).await, DONE);
}
