//! Campaigns, sequences and variants against a real PostgreSQL: cascades, renumbering,
//! counters, tenant isolation, concurrency, all-or-nothing changes.

use std::sync::Arc;

use reachkit_core::blocklist::ListQuery;
use reachkit_core::campaigns::{CampaignError, CampaignService, CampaignSort};
use reachkit_core::ids::{CampaignId, InboxId, SequenceId, VariantId, WorkspaceId};
use reachkit_core::sequences::{SequenceError, SequenceService, VariantPatch};
use reachkit_core::workspaces::{Workspace, WorkspaceRepository};
use reachkit_domain::campaign::CampaignChanges;
use reachkit_domain::html::UNSUBSCRIBE_BLOCK;
use reachkit_domain::schedule::{Day, DayChanges, ScheduleChanges, WindowInput};
use reachkit_postgres::{PgCampaignRepository, PgSequenceRepository, PgWorkspaceRepository};
use reachkit_testkit::{SettableClock, TestDatabase, execute, insert_inbox};
use time::OffsetDateTime;
use time::macros::datetime;

// 02:00 UTC on Dec 1 is Nov 30 in New York (the default zone).
const NOW: OffsetDateTime = datetime!(2026-12-01 02:00 UTC);

struct Env {
    db: TestDatabase,
    campaigns: CampaignService,
    sequences: SequenceService,
}

async fn env() -> Env {
    let db = match TestDatabase::create().await {
        Ok(db) => db,
        Err(e) => panic!("cannot create a test database: {e:#}"),
    };
    let clock = Arc::new(SettableClock::new(NOW));
    let seq = Arc::new(PgSequenceRepository::new(db.db.clone()));
    Env {
        campaigns: CampaignService::new(
            Arc::new(PgCampaignRepository::new(db.db.clone())),
            clock.clone(),
        ),
        sequences: SequenceService::new(seq, clock),
        db,
    }
}

async fn workspace(env: &Env, name: &str) -> WorkspaceId {
    let ws = Workspace {
        id: WorkspaceId::new(),
        name: name.to_owned(),
        created_at: NOW,
        updated_at: NOW,
    };
    PgWorkspaceRepository::new(env.db.db.clone())
        .insert(&ws)
        .await
        .expect("insert workspace");
    ws.id
}

async fn inbox(env: &Env, ws: WorkspaceId, email: &str) -> InboxId {
    InboxId::from_uuid(
        insert_inbox(&env.db.url, ws.as_uuid(), email, "connected")
            .await
            .expect("insert inbox"),
    )
}

async fn sql(env: &Env, statement: &str) -> usize {
    execute(&env.db.url, statement).await.expect(statement)
}

async fn rows(env: &Env, table: &str, campaign: CampaignId) -> usize {
    // A statement that touches exactly the campaign's rows, so its row count is the count.
    sql(
        env,
        &format!("UPDATE {table} SET campaign_id = campaign_id WHERE campaign_id = '{campaign}'"),
    )
    .await
}

async fn campaign(env: &Env, ws: WorkspaceId, name: &str) -> (CampaignId, SequenceId, VariantId) {
    let d = env.campaigns.create(ws, name).await.expect("create");
    let step = &d.sequences[0];
    (d.view.campaign.id, step.id, step.variants[0].id)
}

fn status(s: &str) -> CampaignChanges {
    CampaignChanges {
        status: Some(s.into()),
        ..CampaignChanges::default()
    }
}

fn code(e: &CampaignError, field: &str) -> &'static str {
    match e {
        CampaignError::Invalid(v) => v
            .fields()
            .iter()
            .find(|f| f.field == field)
            .map_or("", |f| f.code),
        _ => "",
    }
}

#[tokio::test]
async fn a_new_campaign_has_defaults_counters_and_an_empty_first_step() {
    let env = env().await;
    let ws = workspace(&env, "A").await;
    let d = env.campaigns.create(ws, "Q3").await.expect("create");
    let c = &d.view.campaign;
    assert_eq!(c.settings.status.as_str(), "draft");
    assert_eq!(c.settings.options.daily_limit, 50);
    assert_eq!(d.view.stats.sequence_steps, 1);
    assert_eq!(d.view.stats.sent, 0);
    assert_eq!(d.daily.len(), 30);
    assert_eq!(rows(&env, "campaign_stats", c.id).await, 1);
    let steps = env.sequences.list(ws, c.id).await.expect("steps");
    assert_eq!(steps.len(), 1);
    assert_eq!((steps[0].step, steps[0].delay_days), (1, None));
    let v = &steps[0].variants[0];
    assert_eq!(v.letter.to_string(), "A");
    assert_eq!((&v.subject, &v.body_html, v.enabled), (&None, &None, true));
}

#[tokio::test]
async fn show_and_analytics_read_the_counters_and_zero_fill_the_local_days() {
    let env = env().await;
    let ws = workspace(&env, "A").await;
    let (id, step, variant) = campaign(&env, ws, "Counted").await;
    sql(
        &env,
        &format!(
            "UPDATE campaign_stats SET leads_count = 200, finished_leads = 50, sent = 400, \
             contacted = 150, replies = 30, positive_replies = 10, bounced = 3 \
             WHERE campaign_id = '{id}'"
        ),
    )
    .await;
    sql(
        &env,
        &format!(
            "INSERT INTO campaign_daily_stats (campaign_id, day, workspace_id, sent, replies) \
             VALUES ('{id}', '2026-11-30', '{ws}', 40, 4), ('{id}', '2026-11-01', '{ws}', 7, 0), \
             ('{id}', '2026-10-31', '{ws}', 99, 9), ('{id}', '2026-12-01', '{ws}', 11, 1)"
        ),
    )
    .await;
    sql(
        &env,
        &format!(
            "UPDATE variants SET sent = 150, replies = 30, positive_replies = 10 \
             WHERE id = '{variant}'"
        ),
    )
    .await;

    let d = env.campaigns.show(ws, id).await.expect("show");
    let s = d.view.stats;
    assert_eq!(
        (s.progress, s.leads_count, s.sent, s.contacted),
        (25, 200, 400, 150)
    );
    assert_eq!((s.replies, s.positive_replies, s.bounced), (30, 10, 3));
    assert_eq!(
        (s.reply_rate, s.positive_reply_rate, s.bounce_rate),
        (20.0, 6.67, 2.0)
    );
    // Today in New York is Nov 30: Oct 31 and Dec 1 are outside the window.
    assert_eq!(d.daily.len(), 30);
    assert_eq!(d.daily[0].date.to_string(), "2026-11-01");
    assert_eq!(d.daily[29].date.to_string(), "2026-11-30");
    assert_eq!(
        (d.daily[0].sent, d.daily[29].sent, d.daily[29].replies),
        (7, 40, 4)
    );
    assert_eq!(d.daily.iter().map(|d| d.sent).sum::<u64>(), 47);
    assert_eq!(d.sequences[0].id, step);
    let v = d.sequences[0].variants[0];
    assert_eq!(
        (v.sent, v.replies, v.reply_rate, v.positive_reply_rate),
        (150, 30, 20.0, 6.67)
    );

    let page = env
        .campaigns
        .list(ws, &ListQuery::<CampaignSort>::default())
        .await
        .expect("list");
    assert_eq!(
        page.items[0].stats, s,
        "the index embeds the same headline numbers"
    );
}

#[tokio::test]
async fn deleting_a_campaign_removes_everything_it_owns_but_not_the_inboxes() {
    let env = env().await;
    let ws = workspace(&env, "A").await;
    let (id, _, _) = campaign(&env, ws, "Doomed").await;
    let (other, _, _) = campaign(&env, ws, "Kept").await;
    let ib = inbox(&env, ws, "sender@acme.test").await;
    env.campaigns
        .attach_inboxes(ws, id, &[ib])
        .await
        .expect("attach");
    env.campaigns
        .attach_inboxes(ws, other, &[ib])
        .await
        .expect("attach");
    env.sequences.add_step(ws, id, Some(2)).await.expect("step");
    sql(
        &env,
        &format!(
            "INSERT INTO leads (id, workspace_id, campaign_id, email, email_domain, created_at, \
             updated_at) VALUES (gen_random_uuid(), '{ws}', '{id}', 'a@b.test', 'b.test', now(), \
             now())"
        ),
    )
    .await;
    sql(
        &env,
        &format!(
            "INSERT INTO campaign_daily_stats (campaign_id, day, workspace_id, sent) \
             VALUES ('{id}', '2026-11-30', '{ws}', 1)"
        ),
    )
    .await;
    let tables = [
        "campaign_stats",
        "campaign_daily_stats",
        "sequences",
        "variants",
        "campaign_inboxes",
        "leads",
    ];
    for t in tables {
        assert!(rows(&env, t, id).await > 0, "{t} has rows before");
    }
    env.campaigns.delete(ws, id).await.expect("delete");
    for t in tables {
        assert_eq!(
            rows(&env, t, id).await,
            0,
            "{t} keeps rows of the deleted campaign"
        );
    }
    assert!(matches!(
        env.campaigns.show(ws, id).await,
        Err(CampaignError::NotFound)
    ));
    let kept = env.campaigns.show(ws, other).await.expect("other kept");
    assert_eq!(kept.view.inboxes.len(), 1, "the inbox survives");
    assert!(matches!(
        env.campaigns.delete(ws, id).await,
        Err(CampaignError::NotFound)
    ));
}

#[tokio::test]
async fn deleting_a_step_renumbers_the_following_ones() {
    let env = env().await;
    let ws = workspace(&env, "A").await;
    let (id, first, _) = campaign(&env, ws, "Steps").await;
    let second = env.sequences.add_step(ws, id, Some(1)).await.expect("2");
    let third = env.sequences.add_step(ws, id, None).await.expect("3");
    let fourth = env.sequences.add_step(ws, id, Some(7)).await.expect("4");
    assert_eq!((second.step, third.step, fourth.step), (2, 3, 4));
    assert_eq!(fourth.delay_days, None, "the new last step shows no delay");

    env.sequences
        .delete_step(ws, id, second.id)
        .await
        .expect("delete");
    let steps = env.sequences.list(ws, id).await.expect("list");
    let got: Vec<(SequenceId, u32, Option<u32>)> =
        steps.iter().map(|s| (s.id, s.step, s.delay_days)).collect();
    assert_eq!(
        got,
        [
            (first, 1, Some(3)),
            (third.id, 2, Some(3)),
            (fourth.id, 3, None)
        ]
    );
    assert_eq!(
        rows(&env, "variants", id).await,
        3,
        "its variant went with it"
    );
    assert!(matches!(
        env.sequences.delete_step(ws, id, second.id).await,
        Err(SequenceError::StepNotFound)
    ));
    // The last delay is kept, and counts again once a step follows.
    let fifth = env.sequences.add_step(ws, id, None).await.expect("5");
    assert_eq!(fifth.step, 4);
    let steps = env.sequences.list(ws, id).await.expect("list");
    assert_eq!(steps[2].delay_days, Some(7));
}

#[tokio::test]
async fn launch_needs_an_inbox_then_a_sendable_variant_and_pause_follows() {
    let env = env().await;
    let ws = workspace(&env, "A").await;
    let (id, _, variant) = campaign(&env, ws, "Launch").await;
    let e = env
        .campaigns
        .update(ws, id, &status("active"))
        .await
        .expect_err("no inbox");
    assert_eq!(code(&e, "status"), "no_inbox");
    let ib = inbox(&env, ws, "s@acme.test").await;
    env.campaigns
        .attach_inboxes(ws, id, &[ib])
        .await
        .expect("attach");
    let e = env
        .campaigns
        .update(ws, id, &status("active"))
        .await
        .expect_err("no content");
    assert_eq!(code(&e, "status"), "no_sendable_variant");
    env.sequences
        .update_variant(
            ws,
            id,
            variant,
            &VariantPatch {
                subject: Some("Hi {{first_name}}".into()),
                body_html: Some("<p>Hello</p>".into()),
                enabled: None,
            },
        )
        .await
        .expect("content");
    // A refused change set writes nothing, not even its valid fields.
    let mixed = CampaignChanges {
        name: Some("Renamed".into()),
        daily_limit: Some(-1),
        ..status("active")
    };
    let e = env
        .campaigns
        .update(ws, id, &mixed)
        .await
        .expect_err("bad limit");
    assert_eq!(code(&e, "daily_limit"), "out_of_range");
    let d = env.campaigns.show(ws, id).await.expect("show");
    assert_eq!(d.view.campaign.settings.name.as_str(), "Launch");
    assert_eq!(d.view.campaign.settings.status.as_str(), "draft");

    let v = env
        .campaigns
        .update(ws, id, &status("active"))
        .await
        .expect("launch");
    assert_eq!(v.campaign.settings.status.as_str(), "active");
    let v = env
        .campaigns
        .update(ws, id, &status("paused"))
        .await
        .expect("pause");
    assert_eq!(v.campaign.settings.status.as_str(), "paused");
    let e = env
        .campaigns
        .update(ws, id, &status("draft"))
        .await
        .expect_err("back to draft");
    assert_eq!(code(&e, "status"), "invalid_transition");
}

#[tokio::test]
async fn toggling_unsubscribe_rewrites_every_body_in_the_same_change() {
    let env = env().await;
    let ws = workspace(&env, "A").await;
    let (id, _, a) = campaign(&env, ws, "Unsub").await;
    env.sequences
        .update_variant(
            ws,
            id,
            a,
            &VariantPatch {
                body_html: Some("<p>Hello</p>".into()),
                ..VariantPatch::default()
            },
        )
        .await
        .expect("body");
    let step2 = env.sequences.add_step(ws, id, None).await.expect("step");
    let on = CampaignChanges {
        unsubscribe_option: Some(true),
        ..CampaignChanges::default()
    };
    env.campaigns.update(ws, id, &on).await.expect("on");
    let steps = env.sequences.list(ws, id).await.expect("list");
    assert_eq!(
        steps[0].variants[0].body_html.as_deref(),
        Some(format!("<p>Hello</p>{UNSUBSCRIBE_BLOCK}").as_str())
    );
    assert_eq!(
        steps[1].variants[0].body_html.as_deref(),
        Some(UNSUBSCRIBE_BLOCK)
    );
    assert!(
        steps[0].variants[0]
            .body_text
            .as_deref()
            .is_some_and(|t| t.contains("{{unsubscribe_url}}"))
    );
    // New content keeps the link while the option is on.
    let v = env
        .sequences
        .update_variant(
            ws,
            id,
            steps[1].variants[0].id,
            &VariantPatch {
                body_html: Some("<b>Follow up</b>".into()),
                ..VariantPatch::default()
            },
        )
        .await
        .expect("edit");
    assert!(v.body_html.is_some_and(|b| b.ends_with(UNSUBSCRIBE_BLOCK)));
    let added = env.sequences.add_step(ws, id, None).await.expect("step 3");
    assert_eq!(
        added.variants[0].body_html.as_deref(),
        Some(UNSUBSCRIBE_BLOCK)
    );

    let off = CampaignChanges {
        unsubscribe_option: Some(false),
        ..CampaignChanges::default()
    };
    env.campaigns.update(ws, id, &off).await.expect("off");
    let steps = env.sequences.list(ws, id).await.expect("list");
    assert_eq!(
        steps[0].variants[0].body_html.as_deref(),
        Some("<p>Hello</p>")
    );
    assert_eq!(
        steps[1].variants[0].body_html.as_deref(),
        Some("<b>Follow up</b>")
    );
    assert_eq!(steps[2].variants[0].body_html, None);
    assert_eq!(steps[1].id, step2.id);
}

#[tokio::test]
async fn the_last_enabled_variant_can_be_neither_disabled_nor_deleted() {
    let env = env().await;
    let ws = workspace(&env, "A").await;
    let (id, step, a) = campaign(&env, ws, "Variants").await;
    let disable = VariantPatch {
        enabled: Some(false),
        ..VariantPatch::default()
    };
    assert!(matches!(
        env.sequences.update_variant(ws, id, a, &disable).await,
        Err(SequenceError::LastEnabledVariant)
    ));
    assert!(matches!(
        env.sequences.delete_variant(ws, id, a).await,
        Err(SequenceError::LastEnabledVariant)
    ));
    let b = env
        .sequences
        .add_variant(ws, id, step, Some("B subject".into()), None, None)
        .await
        .expect("B");
    assert!(b.enabled);
    env.sequences
        .update_variant(ws, id, a, &disable)
        .await
        .expect("A can go now");
    assert!(matches!(
        env.sequences.delete_variant(ws, id, b.id).await,
        Err(SequenceError::LastEnabledVariant)
    ));
    env.sequences
        .delete_variant(ws, id, a)
        .await
        .expect("A is disabled");
    let c = env
        .sequences
        .add_variant(
            ws,
            id,
            step,
            Some("C".into()),
            Some("<p>c</p>".into()),
            Some(false),
        )
        .await
        .expect("C");
    let steps = env.sequences.list(ws, id).await.expect("list");
    let letters: Vec<String> = steps[0]
        .variants
        .iter()
        .map(|v| v.letter.to_string())
        .collect();
    assert_eq!(
        letters,
        ["B", "C"],
        "letters are stable: the next after B is C"
    );
    assert!(!c.enabled);
}

#[tokio::test]
async fn schedule_times_are_rounded_and_a_bad_change_writes_nothing() {
    let env = env().await;
    let ws = workspace(&env, "A").await;
    let (id, _, _) = campaign(&env, ws, "Schedule").await;
    let s = env
        .campaigns
        .update_schedule(
            ws,
            id,
            &ScheduleChanges {
                timezone: Some("Europe/Paris".into()),
                default_window: Some(WindowInput {
                    start: "09:23".into(),
                    end: "17:00".into(),
                }),
                days: vec![(
                    Day::Saturday,
                    DayChanges {
                        enabled: Some(true),
                        start: Some(Some("10:14".into())),
                        end: None,
                    },
                )],
            },
        )
        .await
        .expect("schedule");
    assert_eq!(s.default_window().start().to_string(), "09:30");
    let bad = ScheduleChanges {
        timezone: Some("Mars/Olympus".into()),
        default_window: Some(WindowInput {
            start: "08:00".into(),
            end: "18:00".into(),
        }),
        days: vec![],
    };
    let e = env
        .campaigns
        .update_schedule(ws, id, &bad)
        .await
        .expect_err("bad zone");
    assert_eq!(code(&e, "timezone"), "unsupported_timezone");
    let stored = env.campaigns.show(ws, id).await.expect("show");
    let sched = &stored.view.campaign.schedule;
    assert_eq!(sched.zone().name(), "Europe/Paris");
    assert_eq!(sched.default_window().start().to_string(), "09:30");
    assert_eq!(
        sched.day(Day::Saturday).start.map(|t| t.to_string()),
        Some("10:00".into())
    );
    assert!(sched.day(Day::Saturday).enabled);
}

#[tokio::test]
async fn attach_and_detach_are_idempotent_and_all_or_nothing() {
    let env = env().await;
    let ws = workspace(&env, "A").await;
    let other = workspace(&env, "B").await;
    let (id, _, _) = campaign(&env, ws, "Inboxes").await;
    let one = inbox(&env, ws, "one@acme.test").await;
    let two = inbox(&env, ws, "two@acme.test").await;
    let foreign = inbox(&env, other, "b@other.test").await;

    let set = env
        .campaigns
        .attach_inboxes(ws, id, &[one, one])
        .await
        .expect("attach");
    assert_eq!(set.len(), 1);
    assert_eq!(
        (set[0].email.as_str(), set[0].provider.as_str()),
        ("one@acme.test", "other")
    );
    assert_eq!(set[0].connection_status, "connected");
    for ids in [vec![two, foreign], vec![two, InboxId::new()]] {
        assert!(matches!(
            env.campaigns.attach_inboxes(ws, id, &ids).await,
            Err(CampaignError::InboxNotFound)
        ));
    }
    let again = env
        .campaigns
        .attach_inboxes(ws, id, &[one, two])
        .await
        .expect("again");
    assert_eq!(again.iter().map(|i| i.id).collect::<Vec<_>>(), [one, two]);
    assert!(matches!(
        env.campaigns.detach_inboxes(ws, id, &[one, foreign]).await,
        Err(CampaignError::InboxNotFound)
    ));
    assert_eq!(
        rows(&env, "campaign_inboxes", id).await,
        2,
        "nothing detached"
    );
    let left = env
        .campaigns
        .detach_inboxes(ws, id, &[one])
        .await
        .expect("detach");
    assert_eq!(left.iter().map(|i| i.id).collect::<Vec<_>>(), [two]);
    let left = env
        .campaigns
        .detach_inboxes(ws, id, &[one])
        .await
        .expect("detach again");
    assert_eq!(left.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_attach_calls_end_with_the_union_and_no_error() {
    let env = env().await;
    let ws = workspace(&env, "A").await;
    let (id, _, _) = campaign(&env, ws, "Race").await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(inbox(&env, ws, &format!("s{i}@acme.test")).await);
    }
    let mut tasks = Vec::new();
    for i in 0..8 {
        let svc = env.campaigns.clone();
        let chosen: Vec<InboxId> = ids.iter().copied().skip(i % 3).step_by(2).collect();
        tasks.push(tokio::spawn(async move {
            svc.attach_inboxes(ws, id, &chosen).await
        }));
    }
    for t in tasks {
        t.await.expect("join").expect("attach");
    }
    let d = env.campaigns.show(ws, id).await.expect("show");
    let mut got: Vec<InboxId> = d.view.inboxes.iter().map(|i| i.id).collect();
    got.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn another_workspace_sees_and_changes_nothing_of_a_campaign() {
    let env = env().await;
    let a = workspace(&env, "A").await;
    let b = workspace(&env, "B").await;
    let (id, step, variant) = campaign(&env, a, "Private").await;
    let a_inbox = inbox(&env, a, "a@acme.test").await;
    let (b_campaign, _, _) = campaign(&env, b, "B's own").await;

    let nf = |r: Result<_, CampaignError>| matches!(r, Err(CampaignError::NotFound));
    assert!(nf(env.campaigns.show(b, id).await.map(|_| ())));
    assert!(nf(env
        .campaigns
        .update(b, id, &status("paused"))
        .await
        .map(|_| ())));
    assert!(nf(env
        .campaigns
        .update_schedule(b, id, &ScheduleChanges::default())
        .await
        .map(|_| ())));
    assert!(nf(env
        .campaigns
        .attach_inboxes(b, id, &[a_inbox])
        .await
        .map(|_| ())));
    assert!(nf(env
        .campaigns
        .detach_inboxes(b, id, &[a_inbox])
        .await
        .map(|_| ())));
    assert!(nf(env.campaigns.delete(b, id).await));
    assert!(matches!(
        env.campaigns
            .attach_inboxes(b, b_campaign, &[a_inbox])
            .await,
        Err(CampaignError::InboxNotFound)
    ));
    let listed = env
        .campaigns
        .list(b, &ListQuery::<CampaignSort>::default())
        .await
        .expect("list");
    assert_eq!(listed.total_count, 1);
    assert_eq!(listed.items[0].campaign.id, b_campaign);

    let s = &env.sequences;
    assert!(matches!(
        s.list(b, id).await,
        Err(SequenceError::CampaignNotFound)
    ));
    assert!(matches!(
        s.add_step(b, id, None).await,
        Err(SequenceError::CampaignNotFound)
    ));
    assert!(matches!(
        s.set_delay(b, id, step, 1).await,
        Err(SequenceError::StepNotFound)
    ));
    assert!(matches!(
        s.delete_step(b, id, step).await,
        Err(SequenceError::StepNotFound)
    ));
    // Even through B's own campaign id, A's step and variant are unknown.
    assert!(matches!(
        s.delete_step(b, b_campaign, step).await,
        Err(SequenceError::StepNotFound)
    ));
    assert!(matches!(
        s.add_variant(b, id, step, Some("x".into()), None, None)
            .await,
        Err(SequenceError::StepNotFound)
    ));
    let patch = VariantPatch {
        subject: Some("stolen".into()),
        ..VariantPatch::default()
    };
    assert!(matches!(
        s.update_variant(b, id, variant, &patch).await,
        Err(SequenceError::VariantNotFound)
    ));
    assert!(matches!(
        s.update_variant(b, b_campaign, variant, &patch).await,
        Err(SequenceError::VariantNotFound)
    ));
    assert!(matches!(
        s.delete_variant(b, id, variant).await,
        Err(SequenceError::VariantNotFound)
    ));

    let untouched = env.campaigns.show(a, id).await.expect("A still sees it");
    assert_eq!(untouched.view.campaign.settings.status.as_str(), "draft");
    assert!(untouched.view.inboxes.is_empty());
    assert_eq!(untouched.sequences.len(), 1);
}

#[tokio::test]
async fn the_index_searches_names_and_sorts_by_the_allowlist() {
    let env = env().await;
    let ws = workspace(&env, "A").await;
    for name in ["Beta launch", "alpha outreach", "Gamma 100%"] {
        campaign(&env, ws, name).await;
    }
    let query = |search: Option<&str>, sort| ListQuery {
        search: ListQuery::<CampaignSort>::search_term(search),
        sort,
        order: reachkit_core::paging::SortOrder::Asc,
        ..ListQuery::default()
    };
    let names = |p: reachkit_core::paging::Page<reachkit_core::campaigns::CampaignView>| {
        p.items
            .into_iter()
            .map(|v| v.campaign.settings.name.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let by_name = env
        .campaigns
        .list(ws, &query(None, CampaignSort::Name))
        .await
        .expect("list");
    assert_eq!(
        names(by_name),
        ["Beta launch", "Gamma 100%", "alpha outreach"]
    );
    let found = env
        .campaigns
        .list(ws, &query(Some("LAUNCH"), CampaignSort::CreatedAt))
        .await
        .expect("search");
    assert_eq!(names(found), ["Beta launch"]);
    let literal = env
        .campaigns
        .list(ws, &query(Some("0%"), CampaignSort::CreatedAt))
        .await
        .expect("search");
    assert_eq!(names(literal), ["Gamma 100%"]);
}
