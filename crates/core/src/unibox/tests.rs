use std::sync::Mutex;

use time::macros::datetime;

use super::*;
use crate::connection_check::ServerLogin;
use crate::inboxes::{Security, ServerSettings};
use crate::secrets::MockSecretBox;
use crate::sending::MailSession;

const NOW: OffsetDateTime = datetime!(2026-11-30 15:00 UTC);

#[derive(Debug)]
struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        NOW
    }
}

type Sent = Arc<Mutex<Vec<(String, OutgoingEmail)>>>;

#[derive(Debug, Default)]
struct FakeSender {
    sent: Sent,
    refuse: bool,
}

struct FakeSession {
    sent: Sent,
    refuse: bool,
}

#[async_trait]
impl MailSession for FakeSession {
    async fn send(&mut self, envelope_from: &str, email: &OutgoingEmail) -> Result<(), SendError> {
        if self.refuse {
            return Err(SendError::Rejected {
                code: 550,
                status: Some("5.1.1".into()),
                message: "no such user".into(),
            });
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
    async fn connect(&self, login: &ServerLogin) -> Result<Box<dyn MailSession>, SendError> {
        assert_eq!(login.host, "smtp.reachkit.test");
        Ok(Box::new(FakeSession {
            sent: self.sent.clone(),
            refuse: self.refuse,
        }))
    }
}

fn inbox() -> SendInbox {
    SendInbox {
        id: InboxId::new(),
        email: "alice@reachkit.test".into(),
        first_name: "Alice".into(),
        last_name: "Smith".into(),
        reply_to: String::new(),
        signature: String::new(),
        smtp: ServerSettings {
            host: "smtp.reachkit.test".into(),
            port: 25,
            security: Security::None,
            username: String::new(),
        },
        smtp_password: None,
    }
}

fn service(repo: MockConversationRepository, sender: FakeSender) -> UniboxService {
    UniboxService::new(
        Arc::new(repo),
        Arc::new(sender),
        Arc::new(MockSecretBox::new()),
        Arc::new(FixedClock),
    )
}

fn request() -> StartConversation {
    StartConversation {
        inbox_id: None,
        to: vec![
            ("Bob@Reachkit.test".into(), Some("Bob".into())),
            ("carol@reachkit.test".into(), None),
        ],
        subject: " Hello ".into(),
        content: "<p>Hi <script>x()</script>there</p>".into(),
    }
}

fn message(direction: Direction, rfc: &str, references: &[&str], from: &str) -> Message {
    Message {
        id: MessageId::new(),
        direction,
        kind: MessageKind::Manual,
        inbox_id: InboxId::new(),
        rfc_message_id: rfc.into(),
        in_reply_to: None,
        references: references.iter().map(|s| (*s).to_owned()).collect(),
        subject: "Hello".into(),
        text_body: String::new(),
        html_body: String::new(),
        from_email: from.into(),
        to: vec![Recipient {
            email: "bob@reachkit.test".into(),
            name: None,
        }],
        cc: vec![],
        bcc: vec![],
        email_date: NOW,
        is_read: true,
        attachments: vec![],
    }
}

fn conversation(messages: Vec<Message>) -> Conversation {
    Conversation {
        id: ConversationId::new(),
        workspace_id: WorkspaceId::new(),
        inbox_id: InboxId::new(),
        lead_id: None,
        subject: "Hello".into(),
        label: Some(ReplyLabel::NotInterested),
        label_override: None,
        messages,
        created_at: NOW,
        updated_at: NOW,
    }
}

#[tokio::test]
async fn starting_a_conversation_sends_to_every_recipient_then_stores_the_email() {
    let mut repo = MockConversationRepository::new();
    repo.expect_sending_inbox()
        .withf(|_, id| id.is_none())
        .returning(|_, _| Ok(Some(inbox())));
    repo.expect_create().returning(|new| {
        let m = &new.message;
        assert_eq!(m.direction, Direction::Outgoing);
        assert_eq!(m.subject, "Hello");
        assert_eq!(m.html_body, "<p>Hi there</p>");
        assert_eq!(m.text_body, "Hi there");
        assert!(m.rfc_message_id.ends_with("@reachkit.test"));
        assert_eq!(m.to[0].email, "bob@reachkit.test");
        assert_eq!(m.email_date, NOW);
        Ok(Conversation {
            id: new.id,
            messages: vec![new.message.clone()],
            ..conversation(vec![])
        })
    });
    let sender = FakeSender::default();
    let sent = sender.sent.clone();
    let c = service(repo, sender)
        .start(WorkspaceId::new(), request())
        .await
        .unwrap();
    assert_eq!(c.messages.len(), 1);
    let sent = sent.lock().unwrap();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].0, "alice@reachkit.test");
    assert_eq!(sent[0].1.to.email, "bob@reachkit.test");
    assert_eq!(sent[1].1.to.email, "carol@reachkit.test");
    assert_eq!(sent[0].1.message_id, sent[1].1.message_id);
    assert_eq!(sent[0].1.from.name.as_deref(), Some("Alice Smith"));
}

#[tokio::test]
async fn invalid_requests_name_the_field_and_send_nothing() {
    let cases: Vec<(StartConversation, &str)> = vec![
        (
            StartConversation {
                to: vec![],
                ..request()
            },
            "to",
        ),
        (
            StartConversation {
                to: vec![("nope".into(), None)],
                ..request()
            },
            "to[0].email",
        ),
        (
            StartConversation {
                subject: "  ".into(),
                ..request()
            },
            "subject",
        ),
        (
            StartConversation {
                content: "<p> </p>".into(),
                ..request()
            },
            "content",
        ),
    ];
    for (req, field) in cases {
        let err = service(MockConversationRepository::new(), FakeSender::default())
            .start(WorkspaceId::new(), req)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, UniboxError::Invalid(f, _) if f == field),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn without_an_active_inbox_starting_is_refused_on_inbox_id() {
    let mut repo = MockConversationRepository::new();
    repo.expect_sending_inbox().returning(|_, _| Ok(None));
    let err = service(repo, FakeSender::default())
        .start(WorkspaceId::new(), request())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, UniboxError::Invalid(f, _) if f == "inbox_id"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_refused_email_is_an_error_and_nothing_is_stored() {
    let mut repo = MockConversationRepository::new();
    repo.expect_sending_inbox()
        .returning(|_, _| Ok(Some(inbox())));
    repo.expect_create().never();
    let sender = FakeSender {
        refuse: true,
        ..FakeSender::default()
    };
    let err = service(repo, sender)
        .start(WorkspaceId::new(), request())
        .await
        .unwrap_err();
    assert!(matches!(err, UniboxError::Send(_)), "{err:?}");
}

#[tokio::test]
async fn a_reply_threads_on_the_last_incoming_message_and_goes_to_its_sender() {
    let c = conversation(vec![
        message(
            Direction::Outgoing,
            "a@reachkit.test",
            &[],
            "alice@reachkit.test",
        ),
        message(
            Direction::Incoming,
            "b@lead.test",
            &["a@reachkit.test"],
            "bob@lead.test",
        ),
        message(
            Direction::Outgoing,
            "c@reachkit.test",
            &["a@reachkit.test", "b@lead.test"],
            "alice@reachkit.test",
        ),
    ]);
    let id = c.id;
    let mut repo = MockConversationRepository::new();
    repo.expect_get().returning(move |_, _| Ok(Some(c.clone())));
    repo.expect_sending_inbox()
        .withf(|_, id| id.is_some())
        .returning(|_, _| Ok(Some(inbox())));
    repo.expect_add_message()
        .returning(|_, _, m, _| Ok(Some(m.clone())));
    let sender = FakeSender::default();
    let sent = sender.sent.clone();
    let m = service(repo, sender)
        .reply(WorkspaceId::new(), id, "<p>Thanks!</p>")
        .await
        .unwrap();
    assert_eq!(m.subject, "Re: Hello");
    assert_eq!(m.in_reply_to.as_deref(), Some("b@lead.test"));
    assert_eq!(m.references, ["a@reachkit.test", "b@lead.test"]);
    assert_eq!(m.to[0].email, "bob@lead.test");
    let sent = sent.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.in_reply_to.as_deref(), Some("b@lead.test"));
    assert_eq!(sent[0].1.subject, "Re: Hello");
}

#[tokio::test]
async fn a_reply_without_an_answer_yet_follows_up_our_last_email() {
    let c = conversation(vec![message(
        Direction::Outgoing,
        "a@reachkit.test",
        &[],
        "alice@reachkit.test",
    )]);
    let id = c.id;
    let mut repo = MockConversationRepository::new();
    repo.expect_get().returning(move |_, _| Ok(Some(c.clone())));
    repo.expect_sending_inbox()
        .returning(|_, _| Ok(Some(inbox())));
    repo.expect_add_message()
        .returning(|_, _, m, _| Ok(Some(m.clone())));
    let m = service(repo, FakeSender::default())
        .reply(WorkspaceId::new(), id, "<p>Bump</p>")
        .await
        .unwrap();
    assert_eq!(m.in_reply_to.as_deref(), Some("a@reachkit.test"));
    assert_eq!(m.references, ["a@reachkit.test"]);
    assert_eq!(m.to[0].email, "bob@reachkit.test");
}

#[tokio::test]
async fn replying_to_an_unknown_conversation_is_not_found_and_sends_nothing() {
    let mut repo = MockConversationRepository::new();
    repo.expect_get().returning(|_, _| Ok(None));
    let err = service(repo, FakeSender::default())
        .reply(WorkspaceId::new(), ConversationId::new(), "<p>x</p>")
        .await
        .unwrap_err();
    assert!(matches!(err, UniboxError::NotFound));
}

#[test]
fn the_override_wins_and_decides_positivity() {
    let mut c = conversation(vec![]);
    assert_eq!(c.effective_label(), Some(ReplyLabel::NotInterested));
    assert!(!c.is_positive());
    c.label_override = Some(ReplyLabel::MeetingRequested);
    assert!(c.is_positive());
    c.label = None;
    c.label_override = None;
    assert_eq!(c.effective_label(), None);
    assert!(!c.is_positive());
}
