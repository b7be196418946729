use std::sync::Mutex;

use time::macros::datetime;

use super::*;
use crate::inboxes::Security;
use crate::secrets::AesGcmSecretBox;

/// Monday 2026-11-30 15:00 UTC = 10:00 in New York: the default schedule is open.
const NOW: OffsetDateTime = datetime!(2026-11-30 15:00 UTC);

#[derive(Debug)]
struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        NOW
    }
}

type Sent = Arc<Mutex<Vec<(String, OutgoingEmail)>>>;

/// An in-memory SMTP server: answers each RCPT from `replies` (by address), else 250.
#[derive(Debug, Default)]
struct FakeSender {
    sent: Sent,
    connect_error: Option<SendError>,
    replies: Vec<(String, SendError)>,
    connects: Arc<Mutex<usize>>,
}

struct FakeSession {
    sent: Sent,
    replies: Vec<(String, SendError)>,
}

#[async_trait]
impl MailSession for FakeSession {
    async fn send(&mut self, envelope_from: &str, email: &OutgoingEmail) -> Result<(), SendError> {
        if let Some((_, e)) = self.replies.iter().find(|(a, _)| *a == email.to.email) {
            return Err(e.clone());
        }
        self.sent
            .lock()
            .expect("lock")
            .push((envelope_from.to_owned(), email.clone()));
        Ok(())
    }
    async fn close(self: Box<Self>) {}
}

#[async_trait]
impl MailSender for FakeSender {
    async fn connect(&self, _login: &ServerLogin) -> Result<Box<dyn MailSession>, SendError> {
        *self.connects.lock().expect("lock") += 1;
        if let Some(e) = &self.connect_error {
            return Err(e.clone());
        }
        Ok(Box::new(FakeSession {
            sent: self.sent.clone(),
            replies: self.replies.clone(),
        }))
    }
}

fn secrets() -> Arc<AesGcmSecretBox> {
    Arc::new(AesGcmSecretBox::from_base64(&AesGcmSecretBox::generate_key_base64()).expect("key"))
}

fn inbox() -> SendInbox {
    SendInbox {
        id: InboxId::new(),
        email: "alice@reachkit.test".into(),
        first_name: "Alice".into(),
        last_name: "Smith".into(),
        reply_to: "replies@reachkit.test".into(),
        signature: "Alice\nAcme & Co".into(),
        smtp: ServerSettings {
            host: "127.0.0.1".into(),
            port: 25,
            security: Security::None,
            username: String::new(),
        },
        smtp_password: None,
    }
}

fn claimed(inbox: &SendInbox, email: &str, step: u32, subject: Option<&str>) -> ClaimedSend {
    ClaimedSend {
        id: SendId::new(),
        workspace_id: WorkspaceId::new(),
        step,
        message_id: format!("{}@reachkit.test", uuid::Uuid::now_v7().simple()),
        attempts: 1,
        queued_at: NOW,
        lead: SendLead {
            id: LeadId::new(),
            email: email.into(),
            first_name: "Ada".into(),
            last_name: String::new(),
            variables: vec![("company".into(), "Acme".into())],
            stopped: None,
            thread: if step > 1 {
                vec!["first@reachkit.test".into(), "second@reachkit.test".into()]
            } else {
                vec![]
            },
            thread_subject: (step > 1).then(|| "Hello Ada".to_owned()),
        },
        variant: Some(SendVariant {
            subject: subject.map(str::to_owned),
            body_html: Some("<p>Hi {{first_name}} at {{company}}</p>".into()),
            body_text: Some("Hi {{first_name}} at {{company}}".into()),
        }),
        campaign: SendCampaign {
            id: CampaignId::new(),
            schedule: Schedule::default(),
            text_only: false,
            unsubscribe_option: true,
        },
        inbox: inbox.clone(),
    }
}

fn service(queue: MockSendQueue, sender: FakeSender) -> SendingService {
    SendingService::new(
        Arc::new(queue),
        Arc::new(sender),
        secrets(),
        Arc::new(FixedClock),
        UnsubscribeTokens::new(&[1; 32], "https://reach.example.com"),
        EngineSettings {
            min_gap_seconds: 0,
            max_jitter_seconds: 0,
            retry_base_seconds: 300,
            concurrency: 4,
            lease_seconds: 600,
            batch_size: 50,
        },
    )
}

type Recorded = Arc<Mutex<Vec<SendResult>>>;

fn queue_with(sends: Vec<ClaimedSend>) -> (MockSendQueue, Recorded) {
    let recorded: Recorded = Arc::default();
    let mut queue = MockSendQueue::new();
    queue
        .expect_claim()
        .withf(|now, _, lease, limit| {
            *now == NOW && *lease == NOW + Duration::minutes(10) && *limit == 50
        })
        .returning(move |_, _, _, _| Ok(sends.clone()));
    let r = recorded.clone();
    queue.expect_record().returning(move |_, results| {
        r.lock().expect("lock").extend_from_slice(results);
        Ok(())
    });
    (queue, recorded)
}

#[tokio::test]
async fn a_first_step_is_rendered_with_from_reply_to_signature_both_parts_and_unsubscribe_headers()
{
    let ibx = inbox();
    let send = claimed(&ibx, "ada@prospects.test", 1, Some("Hello {{first_name}}"));
    let (queue, recorded) = queue_with(vec![send.clone()]);
    let sender = FakeSender::default();
    let sent = sender.sent.clone();
    let outcome = service(queue, sender)
        .dispatch_due(NOW)
        .await
        .expect("dispatch");
    assert_eq!((outcome.claimed, outcome.sent), (1, 1));
    let sent = sent.lock().expect("lock");
    let (envelope, email) = &sent[0];
    assert_eq!(envelope, "alice@reachkit.test");
    assert_eq!(email.from.name.as_deref(), Some("Alice Smith"));
    assert_eq!(email.reply_to.as_deref(), Some("replies@reachkit.test"));
    assert_eq!(email.subject, "Hello Ada");
    assert_eq!(email.message_id, send.message_id);
    assert_eq!(email.text, "Hi Ada at Acme\n\nAlice\nAcme & Co");
    assert_eq!(
        email.html.as_deref(),
        Some("<p>Hi Ada at Acme</p><br><br>Alice<br>Acme &amp; Co")
    );
    assert_eq!(email.in_reply_to, None);
    let (email_text, email_html) = (email.text.clone(), email.html.clone());
    let unsub = email.list_unsubscribe.as_ref().expect("list-unsubscribe");
    assert!(unsub.url.starts_with("https://reach.example.com/u/"));
    assert!(
        unsub
            .mailto
            .starts_with("mailto:alice@reachkit.test?subject=unsubscribe-")
    );
    let recorded = recorded.lock().expect("lock");
    assert_eq!(
        recorded[0].outcome,
        Outcome::Sent {
            reply: "250 accepted".into(),
            new_thread_subject: Some("Hello Ada".into()),
            content: Some(SentContent {
                subject: "Hello Ada".into(),
                text: email_text,
                html: email_html,
            })
        }
    );
}

#[tokio::test]
async fn a_follow_up_without_subject_replies_in_the_thread_and_text_only_has_no_html() {
    let ibx = inbox();
    let mut send = claimed(&ibx, "ada@prospects.test", 3, Some("  "));
    send.campaign.text_only = true;
    send.campaign.unsubscribe_option = false;
    let (queue, recorded) = queue_with(vec![send]);
    let sender = FakeSender::default();
    let sent = sender.sent.clone();
    service(queue, sender)
        .dispatch_due(NOW)
        .await
        .expect("dispatch");
    let email = sent.lock().expect("lock")[0].1.clone();
    assert_eq!(email.subject, "Re: Hello Ada");
    assert_eq!(email.in_reply_to.as_deref(), Some("second@reachkit.test"));
    assert_eq!(
        email.references,
        ["first@reachkit.test", "second@reachkit.test"]
    );
    assert_eq!(email.html, None);
    assert_eq!(email.list_unsubscribe, None);
    assert!(matches!(
        &recorded.lock().expect("lock")[0].outcome,
        Outcome::Sent {
            new_thread_subject: None,
            ..
        }
    ));
}

#[tokio::test]
async fn a_follow_up_with_its_own_subject_starts_a_new_thread() {
    let ibx = inbox();
    let send = claimed(&ibx, "ada@prospects.test", 2, Some("New topic"));
    let (queue, _) = queue_with(vec![send]);
    let sender = FakeSender::default();
    let sent = sender.sent.clone();
    service(queue, sender)
        .dispatch_due(NOW)
        .await
        .expect("dispatch");
    let email = sent.lock().expect("lock")[0].1.clone();
    assert_eq!(email.subject, "New topic");
    assert_eq!(email.in_reply_to, None);
    assert!(email.references.is_empty());
}

#[tokio::test]
async fn smtp_answers_become_bounces_retries_with_backoff_and_failures_after_the_last_attempt() {
    let ibx = inbox();
    let bounce = claimed(&ibx, "nobody@prospects.test", 1, Some("S"));
    let later = claimed(&ibx, "greylist@prospects.test", 1, Some("S"));
    let mut exhausted = claimed(&ibx, "tempfail-x@prospects.test", 1, Some("S"));
    exhausted.attempts = MAX_ATTEMPTS;
    let ids = (bounce.id, later.id, exhausted.id);
    let (queue, recorded) = queue_with(vec![bounce, later, exhausted]);
    let deferred = |addr: &str| {
        (
            addr.to_owned(),
            SendError::Deferred {
                code: 451,
                status: Some("4.7.1".into()),
                message: "try later".into(),
            },
        )
    };
    let sender = FakeSender {
        replies: vec![
            (
                "nobody@prospects.test".into(),
                SendError::Rejected {
                    code: 550,
                    status: Some("5.1.1".into()),
                    message: "unknown".into(),
                },
            ),
            deferred("greylist@prospects.test"),
            deferred("tempfail-x@prospects.test"),
        ],
        ..FakeSender::default()
    };
    let outcome = service(queue, sender)
        .dispatch_due(NOW)
        .await
        .expect("dispatch");
    assert_eq!(
        (outcome.bounced, outcome.deferred, outcome.failed),
        (1, 1, 1)
    );
    let recorded = recorded.lock().expect("lock");
    let of = |id| {
        &recorded
            .iter()
            .find(|r| r.send_id == id)
            .expect("recorded")
            .outcome
    };
    assert!(matches!(of(ids.0), Outcome::Bounced { reply } if reply.contains("550")));
    assert!(
        matches!(of(ids.1), Outcome::Retry { not_before, .. } if *not_before == NOW + Duration::seconds(300))
    );
    assert!(matches!(of(ids.2), Outcome::Failed { .. }));
}

#[test]
fn the_backoff_doubles_from_the_base_and_is_capped() {
    assert_eq!(backoff(300, 1), Duration::seconds(300));
    assert_eq!(backoff(300, 2), Duration::seconds(600));
    assert_eq!(backoff(300, 3), Duration::seconds(1200));
    assert_eq!(backoff(300, 30), MAX_BACKOFF);
}

#[tokio::test]
async fn refused_credentials_mark_every_send_of_the_inbox_auth_failed_without_sending() {
    let ibx = inbox();
    let sends = vec![
        claimed(&ibx, "a@prospects.test", 1, Some("S")),
        claimed(&ibx, "b@prospects.test", 1, Some("S")),
    ];
    let (queue, recorded) = queue_with(sends);
    let sender = FakeSender {
        connect_error: Some(SendError::Auth("535 5.7.8 bad credentials".into())),
        ..FakeSender::default()
    };
    let connects = sender.connects.clone();
    let outcome = service(queue, sender)
        .dispatch_due(NOW)
        .await
        .expect("dispatch");
    assert_eq!(outcome.auth_failed, 2);
    assert_eq!(*connects.lock().expect("lock"), 1, "one session per inbox");
    assert!(recorded.lock().expect("lock").iter().all(
        |r| matches!(&r.outcome, Outcome::AuthFailed { reason, .. } if reason.contains("535"))
    ));
}

#[tokio::test]
async fn stopped_leads_and_closed_windows_are_cancelled_without_talking_to_smtp() {
    let ibx = inbox();
    let mut blocked = claimed(&ibx, "a@prospects.test", 1, Some("S"));
    blocked.lead.stopped = Some(FinishReason::Blocklisted);
    let mut gone = claimed(&ibx, "b@prospects.test", 1, Some("S"));
    gone.variant = None;
    let ids = (blocked.id, gone.id);
    let (queue, recorded) = queue_with(vec![blocked, gone]);
    let sender = FakeSender::default();
    let connects = sender.connects.clone();
    let outcome = service(queue, sender)
        .dispatch_due(NOW)
        .await
        .expect("dispatch");
    assert_eq!(outcome.cancelled, 2);
    assert_eq!(*connects.lock().expect("lock"), 0);
    {
        let recorded = recorded.lock().expect("lock");
        let of = |id| {
            &recorded
                .iter()
                .find(|r| r.send_id == id)
                .expect("recorded")
                .outcome
        };
        assert_eq!(
            of(ids.0),
            &Outcome::Cancelled(CancelReason::Stopped(FinishReason::Blocklisted))
        );
        assert_eq!(
            of(ids.1),
            &Outcome::Cancelled(CancelReason::Replan("variant_deleted"))
        );
    }

    // Saturday: the default schedule (Monday-Friday) is closed.
    let saturday = datetime!(2026-12-05 15:00 UTC);
    let send = claimed(&ibx, "c@prospects.test", 1, Some("S"));
    let mut queue = MockSendQueue::new();
    queue
        .expect_claim()
        .returning(move |_, _, _, _| Ok(vec![send.clone()]));
    queue
        .expect_record()
        .withf(|_, r| r[0].outcome == Outcome::Cancelled(CancelReason::Replan("window_closed")))
        .times(1)
        .returning(|_, _| Ok(()));
    let outcome = service(queue, FakeSender::default())
        .dispatch_due(saturday)
        .await
        .expect("dispatch");
    assert_eq!(outcome.cancelled, 1);
}

#[tokio::test]
async fn planning_passes_the_pacing_settings_and_recovery_reports_unknowns() {
    let mut queue = MockSendQueue::new();
    queue
        .expect_plan()
        .withf(|now, s| {
            *now == NOW
                && s.min_gap_seconds == 0
                && s.max_jitter_seconds == 0
                && s.max_per_campaign == 50
        })
        .returning(|_, _| {
            Ok(PlanReport {
                queued: 3,
                finished: 1,
            })
        });
    queue.expect_recover().returning(|_| {
        Ok(RecoverReport {
            unknown: 2,
            replanned: 0,
        })
    });
    let s = service(queue, FakeSender::default());
    assert_eq!(s.plan_due(NOW).await.expect("plan").queued, 3);
    assert_eq!(s.recover(NOW).await.expect("recover").unknown, 2);
}
