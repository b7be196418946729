//! The inbox sync's store in PostgreSQL: leases, effects of replies, auto-replies and bounces
//! with their counters, the company stop, and idempotence (replay, UIDVALIDITY rescan).

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reachkit_core::ids::{InboxId, WorkspaceId};
use reachkit_core::inbox_watch::WatchStore;
use reachkit_core::sync::{
    BouncedAddress, Checkpoint, InboundAttachment, InboundBatch, InboundItem, InboundKind,
    InboundMessage, Recipient, SyncStore,
};
use reachkit_core::workspaces::{Workspace, WorkspaceRepository};
use reachkit_domain::label::ReplyLabel;
use reachkit_postgres::{PgSyncStore, PgWatchStore, PgWorkspaceRepository};
use reachkit_testkit::{TestDatabase, execute, insert_inbox};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const T0: OffsetDateTime = datetime!(2026-11-30 10:00 UTC);

async fn database() -> TestDatabase {
    match TestDatabase::create().await {
        Ok(db) => db,
        Err(e) => panic!("cannot create a test database: {e:#}"),
    }
}

/// Runs statements separated by "; ".
async fn sql(db: &TestDatabase, q: &str) {
    for statement in q.split("; ") {
        if let Err(e) = execute(&db.url, statement).await {
            panic!("{statement}: {e:#}");
        }
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

#[derive(QueryableByName, Debug, PartialEq, Eq)]
struct LeadState {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Bool)]
    is_bounced: bool,
    #[diesel(sql_type = Nullable<Text>)]
    finished_reason: Option<String>,
    #[diesel(sql_type = Bool)]
    due: bool,
}

async fn lead(db: &TestDatabase, id: Uuid) -> LeadState {
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    diesel::sql_query(format!(
        "SELECT status, is_bounced, finished_reason, next_due_at IS NOT NULL AS due \
         FROM leads WHERE id = '{id}'"
    ))
    .get_result(&mut conn)
    .await
    .expect("lead")
}

struct Fixture {
    db: TestDatabase,
    ws: WorkspaceId,
    campaign: Uuid,
    variant: Uuid,
    inbox: Uuid,
}

/// A workspace, an active campaign (New York), one variant, one connected inbox.
async fn fixture(stop_on_company_reply: bool) -> Fixture {
    let db = database().await;
    let ws = Workspace {
        id: WorkspaceId::new(),
        name: "acme".to_owned(),
        created_at: T0,
        updated_at: T0,
    };
    PgWorkspaceRepository::new(db.db.clone())
        .insert(&ws)
        .await
        .expect("workspace");
    let campaign = Uuid::now_v7();
    let seq = Uuid::now_v7();
    let variant = Uuid::now_v7();
    sql(
        &db,
        &format!(
            "INSERT INTO campaigns (id, workspace_id, name, status, stop_on_company_reply, \
             schedule_days, created_at, updated_at) VALUES ('{campaign}', '{}', 'c', 'active', \
             {stop_on_company_reply}, '{{}}'::jsonb, now(), now()); \
             INSERT INTO campaign_stats (campaign_id, workspace_id) VALUES ('{campaign}', '{}'); \
             INSERT INTO sequences (id, workspace_id, campaign_id, step, created_at, updated_at) \
             VALUES ('{seq}', '{}', '{campaign}', 1, now(), now()); \
             INSERT INTO variants (id, workspace_id, campaign_id, sequence_id, letter, ordinal, \
             subject, created_at, updated_at) VALUES ('{variant}', '{}', '{campaign}', '{seq}', \
             'A', 0, 'S1', now(), now())",
            ws.id, ws.id, ws.id, ws.id
        ),
    )
    .await;
    let inbox = insert_inbox(&db.url, ws.id.as_uuid(), "alice@reachkit.test", "connected")
        .await
        .expect("inbox");
    Fixture {
        db,
        ws: ws.id,
        campaign,
        variant,
        inbox,
    }
}

impl Fixture {
    /// A contacted lead with one sent step-1 email (Message-ID `<lead local part>@mid`) and a
    /// queued step 2 reserved on today's usage rows.
    async fn lead(&self, email: &str, company: Option<&str>) -> Uuid {
        let id = Uuid::now_v7();
        let domain = email.rsplit_once('@').expect("@").1;
        let company = company.map_or("NULL".to_owned(), |c| format!("'{c}'"));
        let local = email.split('@').next().expect("local");
        let (ws, c, v, i) = (self.ws, self.campaign, self.variant, self.inbox);
        sql(
            &self.db,
            &format!(
                "INSERT INTO leads (id, workspace_id, campaign_id, email, email_domain, \
                 company_domain, status, inbox_id, next_step, last_sent_at, created_at, updated_at) \
                 VALUES ('{id}', '{ws}', '{c}', '{email}', '{domain}', {company}, 'contacted', \
                 '{i}', 2, now(), now(), now()); \
                 UPDATE leads SET next_due_at = NULL WHERE id = '{id}'; \
                 UPDATE campaign_stats SET leads_count = leads_count + 1, sent = sent + 1, \
                 contacted = contacted + 1 WHERE campaign_id = '{c}'; \
                 INSERT INTO sends (id, workspace_id, campaign_id, lead_id, step, variant_id, \
                 inbox_id, message_id, status, not_before, inbox_day, campaign_day, queued_at, \
                 sent_at, updated_at, subject, text_body, html_body) VALUES (gen_random_uuid(), \
                 '{ws}', '{c}', '{id}', 1, '{v}', '{i}', '{local}@mid', 'sent', now(), \
                 '2026-11-30', '2026-11-30', now(), '2026-11-30 09:00Z', now(), 'Hello {local}', \
                 'Hi {local}', '<p>Hi {local}</p>'); \
                 INSERT INTO sends (id, workspace_id, campaign_id, lead_id, step, variant_id, \
                 inbox_id, message_id, status, not_before, inbox_day, campaign_day, queued_at, \
                 updated_at) VALUES (gen_random_uuid(), '{ws}', '{c}', '{id}', 2, '{v}', '{i}', \
                 '{local}-2@mid', 'queued', now(), '2026-11-30', '2026-11-30', now(), now()); \
                 INSERT INTO campaign_usage (campaign_id, day, sends) VALUES ('{c}', '2026-11-30', 1) \
                 ON CONFLICT (campaign_id, day) DO UPDATE SET sends = campaign_usage.sends + 1; \
                 INSERT INTO inbox_usage (inbox_id, day, campaign_sends) VALUES ('{i}', '2026-11-30', 1) \
                 ON CONFLICT (inbox_id, day) DO UPDATE SET campaign_sends = inbox_usage.campaign_sends + 1; \
                 UPDATE variants SET sent = sent + 1, assigned = assigned + 2 WHERE id = '{v}'"
            ),
        )
        .await;
        id
    }

    fn store(&self) -> PgSyncStore {
        PgSyncStore::new(self.db.db.clone())
    }

    async fn claim(&self, owner: &str) -> usize {
        self.store()
            .claim_due(owner, T0, T0, T0 + Duration::minutes(10), 10)
            .await
            .expect("claim")
            .len()
    }

    fn batch(&self, uidvalidity: u32, last_uid: u32, items: Vec<InboundItem>) -> InboundBatch {
        InboundBatch {
            inbox_id: InboxId::from_uuid(self.inbox),
            workspace_id: self.ws,
            inbox_email: "alice@reachkit.test".into(),
            folder: "INBOX".into(),
            checkpoint: Checkpoint {
                uidvalidity,
                last_uid,
            },
            items,
            now: T0,
        }
    }

    async fn stat(&self, column: &str) -> i64 {
        count(
            &self.db,
            &format!(
                "SELECT {column}::bigint AS n FROM campaign_stats WHERE campaign_id = '{}'",
                self.campaign
            ),
        )
        .await
    }
}

fn message(kind: InboundKind, id: &str, from: &str, in_reply_to: Option<&str>) -> InboundMessage {
    InboundMessage {
        kind,
        message_id: Some(id.into()),
        in_reply_to: in_reply_to.map(str::to_owned),
        references: in_reply_to.iter().map(|s| (*s).to_owned()).collect(),
        from: Some(from.into()),
        to: vec![Recipient {
            email: "alice@reachkit.test".into(),
            name: Some("Alice".into()),
        }],
        cc: Vec::new(),
        subject: "Re: Hello".into(),
        text: "Sounds good, let's talk".into(),
        html: String::new(),
        date: Some(T0 - Duration::minutes(5)),
        attachments: vec![InboundAttachment {
            filename: "deck.pdf".into(),
            content_type: "application/pdf".into(),
            size: 3,
            content: Some(b"pdf".to_vec()),
        }],
        digest: "d".into(),
        warmup: None,
    }
}

fn reply(id: &str, from: &str, in_reply_to: Option<&str>, label: ReplyLabel) -> InboundItem {
    InboundItem {
        message: message(InboundKind::Reply, id, from, in_reply_to),
        label: Some(label),
    }
}

#[tokio::test]
async fn a_reply_marks_the_lead_replied_stops_it_counts_once_and_opens_a_conversation_and_a_replay_or_rescan_changes_nothing()
 {
    let f = fixture(false).await;
    let ada = f.lead("ada@prospects.test", Some("prospects.test")).await;
    assert_eq!(f.claim("A").await, 1);
    let item = reply(
        "r1@prospects.test",
        "someone.else@elsewhere.test",
        Some("ada@mid"),
        ReplyLabel::Interested,
    );
    let report = f
        .store()
        .apply_batch("A", &f.batch(7, 3, vec![item.clone()]))
        .await
        .expect("apply")
        .expect("lease held");
    assert_eq!(report.replies, 1);
    assert_eq!(
        lead(&f.db, ada).await,
        LeadState {
            status: "replied".into(),
            is_bounced: false,
            finished_reason: Some("replied".into()),
            due: false
        }
    );
    assert_eq!(f.stat("replies").await, 1);
    assert_eq!(f.stat("positive_replies").await, 1);
    assert_eq!(f.stat("finished_leads").await, 1);
    let v = f.variant;
    assert_eq!(
        count(
            &f.db,
            &format!("SELECT replies + positive_replies * 10 AS n FROM variants WHERE id = '{v}'")
        )
        .await,
        11
    );
    assert_eq!(
        count(
            &f.db,
            "SELECT replies AS n FROM campaign_daily_stats WHERE day = '2026-11-30'"
        )
        .await,
        1
    );
    // The queued step 2 is cancelled and its reservations are returned.
    assert_eq!(
        count(
            &f.db,
            &format!(
                "SELECT count(*) AS n FROM sends WHERE lead_id = '{ada}' AND status = 'cancelled'"
            )
        )
        .await,
        1
    );
    assert_eq!(
        count(&f.db, "SELECT sends::bigint AS n FROM campaign_usage").await,
        0
    );
    assert_eq!(
        count(
            &f.db,
            &format!("SELECT assigned AS n FROM variants WHERE id = '{v}'")
        )
        .await,
        1
    );
    // The conversation: our sent email as rendered, then the reply with its attachment.
    assert_eq!(
        count(
            &f.db,
            &format!(
                "SELECT count(*) AS n FROM conversations WHERE lead_id = '{ada}' AND folder = 'primary' \
                 AND label = 'interested' AND is_positive AND subject = 'Hello ada' \
                 AND campaign_id = '{}'",
                f.campaign
            )
        )
        .await,
        1
    );
    assert_eq!(
        count(&f.db, "SELECT count(*) AS n FROM messages WHERE direction = 'outgoing' AND kind = 'campaign' \
              AND text_body = 'Hi ada' AND html_body = '<p>Hi ada</p>' AND is_read AND send_id IS NOT NULL").await,
        1
    );
    assert_eq!(
        count(
            &f.db,
            "SELECT count(*) AS n FROM messages WHERE direction = 'incoming' AND kind = 'reply' \
              AND NOT is_read AND in_reply_to = 'ada@mid'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&f.db, "SELECT count(*) AS n FROM attachments WHERE filename = 'deck.pdf' AND size = 3 AND content = 'pdf'").await,
        1
    );
    assert_eq!(
        count(
            &f.db,
            "SELECT count(*) AS n FROM events WHERE kind = 'reply_received'"
        )
        .await,
        1
    );

    // The same message again, then after a UIDVALIDITY change: nothing changes but the checkpoint.
    f.store()
        .apply_batch("A", &f.batch(7, 4, vec![item.clone()]))
        .await
        .expect("replay")
        .expect("lease held");
    let rescan = f
        .store()
        .apply_batch("A", &f.batch(99, 1, vec![item]))
        .await
        .expect("rescan")
        .expect("lease held");
    assert_eq!((rescan.replies, rescan.ignored), (0, 1));
    assert_eq!(f.stat("replies").await, 1);
    assert_eq!(count(&f.db, "SELECT count(*) AS n FROM messages").await, 2);
    assert_eq!(
        count(&f.db, "SELECT count(*) AS n FROM attachments").await,
        1
    );
    assert_eq!(
        count(
            &f.db,
            "SELECT count(*) AS n FROM events WHERE kind = 'reply_received'"
        )
        .await,
        1
    );
    let checkpoint = f
        .store()
        .checkpoint(InboxId::from_uuid(f.inbox), "INBOX")
        .await
        .expect("checkpoint");
    assert_eq!(
        checkpoint,
        Some(Checkpoint {
            uidvalidity: 99,
            last_uid: 1
        })
    );
}

#[tokio::test]
async fn a_reply_stops_the_other_leads_of_the_same_company_but_not_other_companies() {
    let f = fixture(true).await;
    let ada = f.lead("ada@acme.test", Some("acme.test")).await;
    let bob = f.lead("bob@acme.test", Some("acme.test")).await;
    let cy = f.lead("cy@other.test", Some("other.test")).await;
    let dee = f.lead("dee@gmail.com", None).await;
    let eve = f.lead("eve@gmail.com", None).await;
    f.claim("A").await;
    // Matched by sender (no In-Reply-To): ada's own address among the inbox's leads.
    let batch = f.batch(
        1,
        1,
        vec![
            reply("r@acme", "ada@acme.test", None, ReplyLabel::Neutral),
            reply("r@gmail", "dee@gmail.com", None, ReplyLabel::Neutral),
        ],
    );
    f.store()
        .apply_batch("A", &batch)
        .await
        .expect("apply")
        .expect("held");
    assert_eq!(lead(&f.db, ada).await.status, "replied");
    let b = lead(&f.db, bob).await;
    assert_eq!(
        (b.status.as_str(), b.finished_reason.as_deref()),
        ("contacted", Some("replied"))
    );
    assert_eq!(lead(&f.db, cy).await.finished_reason, None);
    // Consumer domains are never a company.
    assert_eq!(lead(&f.db, eve).await.finished_reason, None);
    assert_eq!(lead(&f.db, dee).await.status, "replied");
    assert_eq!(f.stat("replies").await, 2);
    assert_eq!(f.stat("positive_replies").await, 0);
    assert_eq!(f.stat("finished_leads").await, 3);
    assert_eq!(
        count(
            &f.db,
            &format!(
                "SELECT count(*) AS n FROM sends WHERE lead_id = '{bob}' AND status = 'cancelled'"
            )
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &f.db,
            "SELECT count(*) AS n FROM events WHERE kind = 'lead_stopped'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_hard_bounce_marks_the_lead_bounced_a_soft_one_only_logs_and_an_auto_reply_does_not_stop()
{
    let f = fixture(false).await;
    let ada = f.lead("ada@prospects.test", None).await;
    let bob = f.lead("bob@prospects.test", None).await;
    let cy = f.lead("cy@prospects.test", None).await;
    f.claim("A").await;
    let bounce = |id: &str, to: &str, hard: bool, original: Option<&str>| InboundItem {
        message: message(
            InboundKind::Bounce {
                recipients: vec![BouncedAddress {
                    email: to.into(),
                    original: None,
                    status: Some(if hard { "5.1.1" } else { "4.2.2" }.into()),
                    hard,
                }],
                original_message_id: original.map(str::to_owned),
            },
            id,
            "mailer-daemon@reachkit.test",
            None,
        ),
        label: None,
    };
    let auto = InboundItem {
        message: message(
            InboundKind::AutoReply,
            "ooo@x",
            "cy@prospects.test",
            Some("cy@mid"),
        ),
        label: Some(ReplyLabel::OutOfOffice),
    };
    let other = InboundItem {
        message: message(InboundKind::Other, "news@x", "news@shop.test", None),
        label: None,
    };
    let batch = f.batch(
        1,
        4,
        vec![
            // By the DSN's original Message-ID (the recipient shown is an alias).
            bounce("b1@x", "alias@prospects.test", true, Some("ada@mid")),
            bounce("b2@x", "bob@prospects.test", false, None),
            auto,
            other,
        ],
    );
    let report = f
        .store()
        .apply_batch("A", &batch)
        .await
        .expect("apply")
        .expect("held");
    assert_eq!(
        (
            report.bounces,
            report.soft_bounces,
            report.auto_replies,
            report.ignored
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(
        lead(&f.db, ada).await,
        LeadState {
            status: "contacted".into(),
            is_bounced: true,
            finished_reason: Some("bounced".into()),
            due: false
        }
    );
    assert!(!lead(&f.db, bob).await.is_bounced);
    assert_eq!(lead(&f.db, bob).await.finished_reason, None);
    assert_eq!(lead(&f.db, cy).await.status, "contacted");
    assert_eq!(lead(&f.db, cy).await.finished_reason, None);
    assert_eq!(f.stat("bounced").await, 1);
    assert_eq!(f.stat("replies").await, 0);
    assert_eq!(f.stat("finished_leads").await, 1);
    assert_eq!(
        count(
            &f.db,
            &format!(
                "SELECT count(*) AS n FROM conversations WHERE lead_id = '{cy}' \
              AND folder = 'others' AND label = 'out_of_office' AND NOT is_positive"
            )
        )
        .await,
        1
    );
    assert_eq!(
        count(&f.db, "SELECT count(*) AS n FROM events WHERE kind IN ('lead_bounced', 'lead_soft_bounced', 'auto_reply_received')").await,
        3
    );
    assert_eq!(
        count(&f.db, "SELECT count(*) AS n FROM inbound_seen").await,
        4
    );
}

#[tokio::test]
async fn one_process_holds_an_inbox_at_a_time_and_a_batch_without_the_lease_changes_nothing() {
    let f = fixture(false).await;
    let ada = f.lead("ada@prospects.test", None).await;
    assert_eq!(f.claim("A").await, 1);
    assert_eq!(f.claim("B").await, 0);
    let item = reply("r@x", "ada@prospects.test", None, ReplyLabel::Neutral);
    assert_eq!(
        f.store()
            .apply_batch("B", &f.batch(1, 1, vec![item]))
            .await
            .expect("apply"),
        None
    );
    assert_eq!(lead(&f.db, ada).await.status, "contacted");
    f.store()
        .release("A", InboxId::from_uuid(f.inbox), T0, None)
        .await
        .expect("release");
    // Synced at T0: not due again before T0 + poll.
    let store = f.store();
    let early = store
        .claim_due(
            "B",
            T0,
            T0 - Duration::seconds(1),
            T0 + Duration::minutes(10),
            10,
        )
        .await
        .expect("claim");
    assert!(early.is_empty());
    let later = store
        .claim_due(
            "B",
            T0 + Duration::seconds(60),
            T0,
            T0 + Duration::minutes(10),
            10,
        )
        .await
        .expect("claim");
    assert_eq!(later.len(), 1);
    // An expired lease is taken over.
    let taken = store
        .claim_due(
            "C",
            T0 + Duration::minutes(11),
            T0 + Duration::minutes(11),
            T0 + Duration::minutes(20),
            10,
        )
        .await
        .expect("claim");
    assert_eq!(taken.len(), 1);
}

#[tokio::test]
async fn a_lead_whose_conversation_turns_positive_negative_then_positive_counts_once_in_positive_replies()
 {
    let f = fixture(false).await;
    f.lead("ada@prospects.test", None).await;
    f.lead("bob@prospects.test", None).await;
    assert_eq!(f.claim("A").await, 1);
    let labels = [
        ("r1@x", "ada@mid", ReplyLabel::Interested),
        ("r2@x", "ada@mid", ReplyLabel::NotInterested),
        ("r3@x", "ada@mid", ReplyLabel::MeetingRequested),
        ("r4@x", "bob@mid", ReplyLabel::Question),
        ("r5@x", "bob@mid", ReplyLabel::NeedsMoreInfo),
    ];
    // One batch per reply, as separate syncs would apply them.
    for (uid, (id, answers, label)) in (1u32..).zip(labels) {
        f.store()
            .apply_batch(
                "A",
                &f.batch(
                    1,
                    uid,
                    vec![reply(id, "someone@prospects.test", Some(answers), label)],
                ),
            )
            .await
            .expect("apply")
            .expect("lease held");
    }
    // Ada went positive twice (one lead), Bob once after a neutral reply: two distinct leads.
    assert_eq!(f.stat("replies").await, 2);
    assert_eq!(f.stat("positive_replies").await, 2);
    let v = f.variant;
    assert_eq!(
        count(
            &f.db,
            &format!("SELECT positive_replies AS n FROM variants WHERE id = '{v}'")
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &f.db,
            "SELECT count(*) AS n FROM conversations WHERE is_positive"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn an_inbox_woken_by_idle_is_due_at_once_and_a_wake_during_its_sync_asks_for_the_next_one() {
    let f = fixture(false).await;
    let store = f.store();
    let inbox = InboxId::from_uuid(f.inbox);
    let watch = PgWatchStore::new(f.db.db.clone());
    // Polling every hour: synced at T0, not due again before T0 + 1h.
    let claim = |owner: &'static str, at: OffsetDateTime| {
        let store = store.clone();
        async move {
            store
                .claim_due(
                    owner,
                    at,
                    at - Duration::hours(1),
                    at + Duration::minutes(10),
                    10,
                )
                .await
                .expect("claim")
                .len()
        }
    };
    assert_eq!(claim("A", T0).await, 1);
    store.release("A", inbox, T0, None).await.expect("release");
    assert_eq!(claim("A", T0 + Duration::seconds(5)).await, 0);
    watch
        .wake(inbox, T0 + Duration::seconds(6))
        .await
        .expect("wake");
    assert_eq!(claim("A", T0 + Duration::seconds(7)).await, 1);
    // New mail while that sync runs: the request survives its release.
    watch
        .wake(inbox, T0 + Duration::seconds(8))
        .await
        .expect("wake");
    store
        .release("A", inbox, T0 + Duration::seconds(9), None)
        .await
        .expect("release");
    assert_eq!(claim("B", T0 + Duration::seconds(10)).await, 1);
    store
        .release("B", inbox, T0 + Duration::seconds(11), None)
        .await
        .expect("release");
    // Claiming cleared it: no wake, no sync before the hour.
    assert_eq!(claim("B", T0 + Duration::seconds(12)).await, 0);
    // Waking an inbox that was never synced (no lease row yet) or is gone is fine.
    sql(&f.db, "DELETE FROM inbox_sync_leases").await;
    watch.wake(inbox, T0).await.expect("wake");
    watch
        .wake(InboxId::from_uuid(Uuid::now_v7()), T0)
        .await
        .expect("wake an unknown inbox");
    assert_eq!(claim("C", T0 + Duration::seconds(13)).await, 1);
}

#[tokio::test]
async fn one_process_watches_an_inbox_at_a_time_up_to_its_limit_and_drops_inboxes_no_longer_connected()
 {
    let f = fixture(false).await;
    let second = insert_inbox(&f.db.url, f.ws.as_uuid(), "bob@reachkit.test", "connected")
        .await
        .expect("inbox");
    let watch = PgWatchStore::new(f.db.db.clone());
    let claim = |owner: &'static str, at: OffsetDateTime, limit: i64| {
        let watch = watch.clone();
        async move {
            let mut ids: Vec<Uuid> = watch
                .claim_watches(owner, at, at + Duration::seconds(90), limit)
                .await
                .expect("claim watches")
                .into_iter()
                .map(|i| i.id.as_uuid())
                .collect();
            ids.sort();
            ids
        }
    };
    let mut both = vec![f.inbox, second];
    both.sort();
    // A takes one (its limit), B the other; renewing keeps each its own.
    let a = claim("A", T0, 1).await;
    assert_eq!(a.len(), 1);
    let b = claim("B", T0, 10).await;
    assert_eq!(b.len(), 1);
    assert_ne!(a, b);
    assert_eq!(claim("A", T0 + Duration::seconds(30), 1).await, a);
    assert_eq!(claim("B", T0 + Duration::seconds(30), 10).await, b);
    // B dies: once its lease expired, A (with room) takes its inbox over.
    assert_eq!(claim("A", T0 + Duration::seconds(60), 10).await, a);
    assert_eq!(claim("A", T0 + Duration::seconds(121), 10).await, both);
    assert!(claim("B", T0 + Duration::seconds(122), 10).await.is_empty());
    // A disconnected inbox is not watched any more.
    sql(
        &f.db,
        &format!("UPDATE inboxes SET connection_status = 'error' WHERE id = '{second}'"),
    )
    .await;
    assert_eq!(claim("A", T0 + Duration::seconds(150), 10).await, [f.inbox]);
    assert_eq!(
        count(
            &f.db,
            &format!("SELECT count(*) AS n FROM inbox_watches WHERE inbox_id = '{second}'")
        )
        .await,
        0
    );
    watch.release_watches("A").await.expect("release");
    assert_eq!(
        count(&f.db, "SELECT count(*) AS n FROM inbox_watches").await,
        0
    );
    assert_eq!(claim("B", T0 + Duration::seconds(151), 10).await, [f.inbox]);
}
