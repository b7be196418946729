use std::sync::Mutex;

use time::macros::{date, datetime};

use super::*;
use crate::inboxes::{Security, ServerSettings};
use crate::secrets::MockSecretBox;
use crate::sending::{MailSession, MockMailSender, SendError};

/// Noon UTC.
const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

#[derive(Debug)]
struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        NOW
    }
}

type Outbox = Arc<Mutex<Vec<(String, OutgoingEmail)>>>;

struct FakeSession {
    outbox: Outbox,
    fail: bool,
}

#[async_trait]
impl MailSession for FakeSession {
    async fn send(&mut self, envelope_from: &str, email: &OutgoingEmail) -> Result<(), SendError> {
        if self.fail {
            return Err(SendError::Rejected {
                code: 550,
                status: None,
                message: "no".into(),
            });
        }
        self.outbox
            .lock()
            .expect("lock")
            .push((envelope_from.to_owned(), email.clone()));
        Ok(())
    }
    async fn close(self: Box<Self>) {}
}

fn sender_mock(outbox: &Outbox, fail: bool) -> MockMailSender {
    let mut sender = MockMailSender::new();
    let outbox = outbox.clone();
    sender.expect_connect().returning(move |_| {
        Ok(Box::new(FakeSession {
            outbox: outbox.clone(),
            fail,
        }) as Box<dyn MailSession>)
    });
    sender
}

fn pool_inbox(email: &str, first: &str) -> PoolInbox {
    PoolInbox {
        id: InboxId::new(),
        email: email.into(),
        first_name: first.into(),
        last_name: String::new(),
    }
}

fn warming(me: &PoolInbox, sends_total: u64, sent_today: u32, started_on: Date) -> WarmupSender {
    WarmupSender {
        inbox: SendInbox {
            id: me.id,
            email: me.email.clone(),
            first_name: me.first_name.clone(),
            last_name: "Smith".into(),
            reply_to: String::new(),
            signature: String::new(),
            smtp: ServerSettings {
                host: "smtp.test".into(),
                port: 25,
                security: Security::None,
                username: String::new(),
            },
            smtp_password: None,
        },
        workspace_id: WorkspaceId::new(),
        daily_warmup_limit: 10,
        started_on,
        sends_total,
        sent_today,
    }
}

type Releases = Arc<Mutex<Vec<OffsetDateTime>>>;
type Intents = Arc<Mutex<Vec<WarmupIntent>>>;
type Finished = Arc<Mutex<Vec<bool>>>;

fn store(
    claimed: WarmupSender,
    pool: Vec<PoolInbox>,
    reply: Option<ReplyTask>,
    begin_ok: bool,
) -> (MockWarmupStore, Intents, Finished, Releases) {
    let mut store = MockWarmupStore::new();
    store
        .expect_claim_due()
        .withf(|owner, now, until, _| {
            owner == "me" && *now == NOW && *until == NOW + Duration::seconds(300)
        })
        .times(1)
        .returning(move |_, _, _, _| Ok(vec![claimed.clone()]));
    store.expect_pool().returning(move || Ok(pool.clone()));
    store
        .expect_due_reply()
        .returning(move |_| Ok(reply.clone()));
    let intents: Intents = Arc::default();
    let i = intents.clone();
    store.expect_begin_send().returning(move |owner, intent| {
        assert_eq!(owner, "me");
        i.lock().expect("lock").push(intent.clone());
        Ok(begin_ok)
    });
    let finished: Finished = Arc::default();
    let f = finished.clone();
    store.expect_finish_send().returning(move |_, sent, _| {
        f.lock().expect("lock").push(sent);
        Ok(())
    });
    let releases: Releases = Arc::default();
    let r = releases.clone();
    store.expect_release().returning(move |owner, _, at| {
        assert_eq!(owner, "me");
        r.lock().expect("lock").push(at);
        Ok(())
    });
    (store, intents, finished, releases)
}

fn service(
    store: MockWarmupStore,
    sender: MockMailSender,
    settings: WarmupSettings,
) -> WarmupService {
    WarmupService::new(
        Arc::new(store),
        Arc::new(sender),
        Arc::new(MockSecretBox::new()),
        Arc::new(FixedClock),
        settings,
        "me".into(),
    )
}

fn settings() -> WarmupSettings {
    WarmupSettings {
        min_interval_seconds: 60,
        lease_seconds: 300,
        ..WarmupSettings::default()
    }
}

#[tokio::test]
async fn a_due_inbox_sends_one_marked_plain_email_to_the_next_inbox_of_the_rotation() {
    let me = pool_inbox("erin@reachkit.test", "Erin");
    let carol = pool_inbox("carol@reachkit.test", "Carol");
    let dave = pool_inbox("dave@reachkit.test", "Dave");
    let pool = vec![carol.clone(), me.clone(), dave.clone()];
    // Day 2 of warming: a target of 4, 1 already sent today, 3 sent in all.
    let (store, intents, finished, releases) =
        store(warming(&me, 3, 1, date!(2026 - 11 - 29)), pool, None, true);
    let outbox: Outbox = Arc::default();
    let report = service(store, sender_mock(&outbox, false), settings())
        .send_due(NOW)
        .await
        .expect("step");
    assert_eq!((report.inboxes, report.sent, report.failed), (1, 1, 0));

    let sent = outbox.lock().expect("lock");
    let (envelope, email) = &sent[0];
    assert_eq!(envelope, "erin@reachkit.test");
    // Others are [carol, dave]; the 4th send (index 3) goes to dave.
    assert_eq!(email.to.email, "dave@reachkit.test");
    assert_eq!(email.from.name.as_deref(), Some("Erin Smith"));
    assert!(email.html.is_none() && email.list_unsubscribe.is_none());
    assert!(!email.text.contains("http"));
    let intent = intents.lock().expect("lock")[0].clone();
    assert_eq!(
        email.extra_headers,
        vec![(MARKER_HEADER.to_owned(), intent.token.clone())]
    );
    assert_eq!(intent.message_id, email.message_id);
    assert!(email.message_id.ends_with("@reachkit.test"));
    assert_eq!((intent.sender, intent.recipient), (me.id, dave.id));
    assert_eq!(intent.day, date!(2026 - 11 - 30));
    assert_eq!(intent.reply_to_id, None);
    assert_eq!(*finished.lock().expect("lock"), vec![true]);
    // 2 left for the 12 hours left: one every 6 hours.
    assert_eq!(
        *releases.lock().expect("lock"),
        vec![NOW + Duration::hours(6)]
    );
}

#[tokio::test]
async fn an_inbox_that_reached_its_ramp_target_waits_for_the_next_day() {
    let me = pool_inbox("erin@reachkit.test", "Erin");
    let other = pool_inbox("dave@reachkit.test", "Dave");
    // Day 1: a target of 2, both sent.
    let mut store = MockWarmupStore::new();
    let claimed = warming(&me, 2, 2, date!(2026 - 11 - 30));
    store
        .expect_claim_due()
        .returning(move |_, _, _, _| Ok(vec![claimed.clone()]));
    store
        .expect_pool()
        .returning(move || Ok(vec![me.clone(), other.clone()]));
    store.expect_due_reply().never();
    store.expect_begin_send().never();
    store
        .expect_release()
        .withf(|_, _, at| *at == datetime!(2026-12-01 00:00 UTC))
        .times(1)
        .returning(|_, _, _| Ok(()));
    let report = service(store, MockMailSender::new(), settings())
        .send_due(NOW)
        .await
        .expect("step");
    assert_eq!(report.sent, 0);
}

#[tokio::test]
async fn a_pending_reply_goes_first_in_the_same_thread() {
    let me = pool_inbox("dave@reachkit.test", "Dave");
    let erin = pool_inbox("erin@reachkit.test", "Erin");
    let original = Uuid::now_v7();
    let task = ReplyTask {
        original_id: original,
        original_message_id: "abc@reachkit.test".into(),
        subject: "Lunch on Thursday?".into(),
        to: erin.clone(),
    };
    let (store, intents, _, _) = store(
        warming(&me, 0, 0, date!(2026 - 11 - 30)),
        vec![me.clone(), erin.clone()],
        Some(task),
        true,
    );
    let outbox: Outbox = Arc::default();
    let report = service(store, sender_mock(&outbox, false), settings())
        .send_due(NOW)
        .await
        .expect("step");
    assert_eq!((report.sent, report.replies), (1, 1));
    let sent = outbox.lock().expect("lock");
    let email = &sent[0].1;
    assert_eq!(email.to.email, "erin@reachkit.test");
    assert_eq!(email.subject, "Re: Lunch on Thursday?");
    assert_eq!(email.in_reply_to.as_deref(), Some("abc@reachkit.test"));
    assert_eq!(email.references, vec!["abc@reachkit.test".to_owned()]);
    assert_eq!(intents.lock().expect("lock")[0].reply_to_id, Some(original));
}

#[tokio::test]
async fn nothing_is_sent_when_the_store_refuses_the_send_because_warming_was_turned_off() {
    let me = pool_inbox("erin@reachkit.test", "Erin");
    let other = pool_inbox("dave@reachkit.test", "Dave");
    let (store, _, finished, releases) = store(
        warming(&me, 0, 0, date!(2026 - 11 - 30)),
        vec![me.clone(), other],
        None,
        false,
    );
    let mut sender = MockMailSender::new();
    sender.expect_connect().never();
    let report = service(store, sender, settings())
        .send_due(NOW)
        .await
        .expect("step");
    assert_eq!(report.sent, 0);
    assert!(finished.lock().expect("lock").is_empty());
    assert_eq!(releases.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn a_refused_send_is_recorded_as_failed() {
    let me = pool_inbox("erin@reachkit.test", "Erin");
    let other = pool_inbox("dave@reachkit.test", "Dave");
    let (store, _, finished, _) = store(
        warming(&me, 0, 0, date!(2026 - 11 - 30)),
        vec![me.clone(), other],
        None,
        true,
    );
    let outbox: Outbox = Arc::default();
    let report = service(store, sender_mock(&outbox, true), settings())
        .send_due(NOW)
        .await
        .expect("step");
    assert_eq!((report.sent, report.failed), (0, 1));
    assert_eq!(*finished.lock().expect("lock"), vec![false]);
}

#[tokio::test]
async fn an_inbox_alone_in_the_pool_sends_nothing() {
    let me = pool_inbox("erin@reachkit.test", "Erin");
    let (store, intents, _, releases) = store(
        warming(&me, 0, 0, date!(2026 - 11 - 30)),
        vec![me.clone()],
        None,
        true,
    );
    let report = service(store, MockMailSender::new(), settings())
        .send_due(NOW)
        .await
        .expect("step");
    assert_eq!(report.sent, 0);
    assert!(intents.lock().expect("lock").is_empty());
    assert_eq!(releases.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn warmup_turned_off_in_the_settings_claims_nothing() {
    let mut store = MockWarmupStore::new();
    store.expect_claim_due().never();
    let report = service(
        store,
        MockMailSender::new(),
        WarmupSettings {
            enabled: false,
            ..settings()
        },
    )
    .send_due(NOW)
    .await
    .expect("step");
    assert_eq!(report, WarmupReport::default());
}

#[tokio::test]
async fn without_spreading_the_next_send_waits_the_minimum_interval() {
    let me = pool_inbox("erin@reachkit.test", "Erin");
    let other = pool_inbox("dave@reachkit.test", "Dave");
    let (store, _, _, releases) = store(
        warming(&me, 0, 0, date!(2026 - 11 - 30)),
        vec![me.clone(), other],
        None,
        true,
    );
    let outbox: Outbox = Arc::default();
    service(
        store,
        sender_mock(&outbox, false),
        WarmupSettings {
            spread_over_day: false,
            min_interval_seconds: 2,
            ..settings()
        },
    )
    .send_due(NOW)
    .await
    .expect("step");
    assert_eq!(
        *releases.lock().expect("lock"),
        vec![NOW + Duration::seconds(2)]
    );
}

#[tokio::test]
async fn the_receiver_keeps_only_markers_addressed_to_the_inbox() {
    let inbox = InboxId::new();
    let mut store = MockWarmupStore::new();
    store
        .expect_known_tokens()
        .withf(move |i, tokens| *i == inbox && tokens == ["a".to_owned(), "b".to_owned()])
        .returning(|_, _| Ok(vec!["b".to_owned()]));
    let receiver = WarmupReceiver::new(Arc::new(store), 30);
    let ours = receiver
        .ours(
            inbox,
            vec![
                MarkedMessage {
                    uid: 1,
                    token: "a".into(),
                },
                MarkedMessage {
                    uid: 2,
                    token: "b".into(),
                },
            ],
        )
        .await
        .expect("ours");
    assert_eq!(
        ours,
        vec![MarkedMessage {
            uid: 2,
            token: "b".into()
        }]
    );
}
