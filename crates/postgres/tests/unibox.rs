//! Unibox conversations against a real PostgreSQL: search, folders, label override and revert,
//! read state, attachments, the sending inbox, and tenant isolation.

use reachkit_core::ids::{AttachmentId, ConversationId, InboxId, MessageId, WorkspaceId};
use reachkit_core::paging::PageRequest;
use reachkit_core::unibox::{
    ConversationChanges, ConversationQuery, ConversationRepository, Direction, Folder, Message,
    MessageKind, NewConversation, Recipient,
};
use reachkit_core::workspaces::{Workspace, WorkspaceRepository};
use reachkit_domain::label::ReplyLabel;
use reachkit_postgres::{PgConversationRepository, PgWorkspaceRepository};
use reachkit_testkit::{TestDatabase, execute, insert_inbox};
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

struct Env {
    db: TestDatabase,
    repo: PgConversationRepository,
}

async fn env() -> Env {
    let db = match TestDatabase::create().await {
        Ok(db) => db,
        Err(e) => panic!("cannot create a test database: {e:#}"),
    };
    Env {
        repo: PgConversationRepository::new(db.db.clone()),
        db,
    }
}

async fn workspace(env: &Env) -> WorkspaceId {
    let ws = Workspace {
        id: WorkspaceId::new(),
        name: "w".to_owned(),
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

/// Seeds a conversation with one incoming message (as sync would store it); returns its id and
/// the message's id.
#[expect(
    clippy::too_many_arguments,
    reason = "one seed row per call, read as a table"
)]
async fn seed(
    env: &Env,
    ws: WorkspaceId,
    inbox: InboxId,
    subject: &str,
    from: &str,
    text: &str,
    label: Option<&str>,
    folder: &str,
    minutes: i64,
) -> (ConversationId, Uuid) {
    let id = Uuid::now_v7();
    let message = Uuid::now_v7();
    let label = label.map_or("NULL".to_owned(), |l| format!("'{l}'"));
    sql(env, &format!(
        "INSERT INTO conversations (id, workspace_id, inbox_id, subject, label, is_positive, folder, \
         last_message_at, created_at, updated_at) VALUES ('{id}', '{ws}', '{inbox}', '{subject}', {label}, \
         false, '{folder}', now() + interval '{minutes} minutes', now(), now())"
    ))
    .await;
    sql(env, &format!(
        "INSERT INTO messages (id, workspace_id, conversation_id, direction, inbox_id, rfc_message_id, \
         subject, text_body, html_body, from_email, to_recipients, email_date, kind, created_at) \
         VALUES ('{message}', '{ws}', '{id}', 'incoming', '{inbox}', '{message}@lead.test', 'Re: {subject}', \
         '{text}', '<p>{text}</p>', '{from}', '[{{\"email\": \"owner@reachkit.test\", \"name\": \"Owner\"}}]', \
         now(), 'reply', now())"
    ))
    .await;
    (ConversationId::from_uuid(id), message)
}

fn query(search: Option<&str>, folder: Option<Folder>) -> ConversationQuery {
    ConversationQuery {
        page: PageRequest::new(None, None, 20).unwrap(),
        search: search.map(str::to_owned),
        folder,
    }
}

async fn ids(env: &Env, ws: WorkspaceId, q: &ConversationQuery) -> Vec<ConversationId> {
    env.repo
        .list(ws, q)
        .await
        .expect("list")
        .items
        .into_iter()
        .map(|c| c.id)
        .collect()
}

#[tokio::test]
async fn search_matches_subject_addresses_and_text_within_the_workspace_only() {
    let env = env().await;
    let ws = workspace(&env).await;
    let other = workspace(&env).await;
    let ib = inbox(&env, ws, "owner@reachkit.test").await;
    let other_ib = inbox(&env, other, "owner@other.test").await;
    let (a, _) = seed(
        &env,
        ws,
        ib,
        "Pricing for Acme",
        "bob@acme.test",
        "hello",
        None,
        "primary",
        1,
    )
    .await;
    let (b, _) = seed(
        &env,
        ws,
        ib,
        "Hello",
        "carol@globex.test",
        "We use 50% of it_now",
        None,
        "primary",
        2,
    )
    .await;
    let (_, _) = seed(
        &env,
        other,
        other_ib,
        "Pricing for Acme",
        "bob@acme.test",
        "x",
        None,
        "primary",
        3,
    )
    .await;

    assert_eq!(
        ids(&env, ws, &query(None, None)).await,
        [b, a],
        "most recent activity first"
    );
    assert_eq!(ids(&env, ws, &query(Some("acme"), None)).await, [a]);
    assert_eq!(ids(&env, ws, &query(Some("globex.test"), None)).await, [b]);
    assert_eq!(
        ids(&env, ws, &query(Some("owner@reachkit"), None)).await,
        [b, a],
        "to addresses"
    );
    assert_eq!(
        ids(&env, ws, &query(Some("50% of it_"), None)).await,
        [b],
        "wildcards literal"
    );
    assert!(ids(&env, ws, &query(Some("5_%"), None)).await.is_empty());
    assert!(
        ids(&env, ws, &query(Some("nothing like it"), None))
            .await
            .is_empty()
    );
    let page = env
        .repo
        .list(other, &query(Some("acme"), None))
        .await
        .unwrap();
    assert_eq!(page.total_count, 1);
}

#[tokio::test]
async fn the_folder_filter_separates_primary_from_others_and_pages_count() {
    let env = env().await;
    let ws = workspace(&env).await;
    let ib = inbox(&env, ws, "owner@reachkit.test").await;
    let (human, _) = seed(
        &env,
        ws,
        ib,
        "A",
        "a@x.test",
        "yes",
        Some("interested"),
        "primary",
        1,
    )
    .await;
    let (auto, _) = seed(
        &env,
        ws,
        ib,
        "B",
        "b@x.test",
        "away",
        Some("out_of_office"),
        "others",
        2,
    )
    .await;
    assert_eq!(
        ids(&env, ws, &query(None, Some(Folder::Primary))).await,
        [human]
    );
    assert_eq!(
        ids(&env, ws, &query(None, Some(Folder::Others))).await,
        [auto]
    );
    let one = ConversationQuery {
        page: PageRequest::new(Some(2), Some(1), 20).unwrap(),
        ..query(None, None)
    };
    let page = env.repo.list(ws, &one).await.unwrap();
    assert_eq!(page.total_count, 2);
    assert_eq!(page.items.iter().map(|c| c.id).collect::<Vec<_>>(), [human]);
}

#[tokio::test]
async fn the_override_wins_while_set_and_null_reverts_with_is_positive_kept_in_step() {
    let env = env().await;
    let ws = workspace(&env).await;
    let ib = inbox(&env, ws, "owner@reachkit.test").await;
    let (id, _) = seed(
        &env,
        ws,
        ib,
        "A",
        "a@x.test",
        "no",
        Some("not_interested"),
        "primary",
        1,
    )
    .await;
    let later = NOW + time::Duration::hours(1);
    let set = ConversationChanges {
        label_override: Some(Some(ReplyLabel::MeetingRequested)),
        is_read: None,
    };
    let c = env.repo.update(ws, id, set, later).await.unwrap().unwrap();
    assert_eq!(c.effective_label(), Some(ReplyLabel::MeetingRequested));
    assert_eq!(c.updated_at, later);
    assert_eq!(
        sql(
            &env,
            &format!("UPDATE conversations SET id = id WHERE id = '{id}' AND is_positive")
        )
        .await,
        1
    );
    let clear = ConversationChanges {
        label_override: Some(None),
        is_read: None,
    };
    let c = env
        .repo
        .update(ws, id, clear, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.label_override, None);
    assert_eq!(c.effective_label(), Some(ReplyLabel::NotInterested));
    assert_eq!(
        sql(
            &env,
            &format!("UPDATE conversations SET id = id WHERE id = '{id}' AND NOT is_positive")
        )
        .await,
        1
    );
    // Another workspace's id changes nothing.
    let other = workspace(&env).await;
    assert!(
        env.repo
            .update(other, id, set, later)
            .await
            .unwrap()
            .is_none()
    );
    let c = env.repo.get(ws, id).await.unwrap().unwrap();
    assert_eq!(c.label_override, None);
    assert!(env.repo.get(other, id).await.unwrap().is_none());
}

#[tokio::test]
async fn is_read_sets_every_message_read_or_unread() {
    let env = env().await;
    let ws = workspace(&env).await;
    let ib = inbox(&env, ws, "owner@reachkit.test").await;
    let (id, _) = seed(&env, ws, ib, "A", "a@x.test", "hi", None, "primary", 1).await;
    sql(&env, &format!(
        "INSERT INTO messages (id, workspace_id, conversation_id, direction, inbox_id, rfc_message_id, \
         from_email, email_date, kind, created_at) VALUES ('{}', '{ws}', '{id}', 'incoming', '{ib}', \
         'second@lead.test', 'a@x.test', now(), 'reply', now())", Uuid::now_v7()
    ))
    .await;
    let read = |v| ConversationChanges {
        label_override: None,
        is_read: Some(v),
    };
    let c = env
        .repo
        .update(ws, id, read(true), NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.messages.len(), 2);
    assert!(c.messages.iter().all(|m| m.is_read));
    let c = env
        .repo
        .update(ws, id, read(false), NOW)
        .await
        .unwrap()
        .unwrap();
    assert!(c.messages.iter().all(|m| !m.is_read));
}

#[tokio::test]
async fn attachments_are_described_and_served_only_within_their_conversation_and_workspace() {
    let env = env().await;
    let ws = workspace(&env).await;
    let other = workspace(&env).await;
    let ib = inbox(&env, ws, "owner@reachkit.test").await;
    let (id, message) = seed(
        &env,
        ws,
        ib,
        "A",
        "a@x.test",
        "see attached",
        None,
        "primary",
        1,
    )
    .await;
    let (elsewhere, _) = seed(&env, ws, ib, "B", "b@x.test", "x", None, "primary", 2).await;
    let att = Uuid::now_v7();
    let big = Uuid::now_v7();
    sql(&env, &format!(
        "INSERT INTO attachments (id, workspace_id, message_id, filename, content_type, size, content, created_at) VALUES \
         ('{att}', '{ws}', '{message}', 'deck.pdf', 'application/pdf', 4, '\\x25504446'::bytea, now()), \
         ('{big}', '{ws}', '{message}', 'huge.zip', 'application/zip', 20000000, NULL, now())"
    ))
    .await;
    let c = env.repo.get(ws, id).await.unwrap().unwrap();
    let described: Vec<_> = c.messages[0]
        .attachments
        .iter()
        .map(|a| (a.filename.as_str(), a.size))
        .collect();
    assert_eq!(described, [("deck.pdf", 4), ("huge.zip", 20_000_000)]);
    let att = AttachmentId::from_uuid(att);
    let got = env.repo.attachment(ws, id, att).await.unwrap().unwrap();
    assert_eq!(
        (got.filename.as_str(), got.content_type.as_str()),
        ("deck.pdf", "application/pdf")
    );
    assert_eq!(got.content, b"%PDF");
    assert!(
        env.repo.attachment(other, id, att).await.unwrap().is_none(),
        "another workspace"
    );
    assert!(
        env.repo
            .attachment(ws, elsewhere, att)
            .await
            .unwrap()
            .is_none(),
        "another conversation"
    );
    assert!(
        env.repo
            .attachment(ws, id, AttachmentId::from_uuid(big))
            .await
            .unwrap()
            .is_none(),
        "not stored"
    );
}

fn outgoing(inbox: InboxId, rfc: &str) -> Message {
    Message {
        id: MessageId::new(),
        direction: Direction::Outgoing,
        kind: MessageKind::Manual,
        inbox_id: inbox,
        rfc_message_id: rfc.into(),
        in_reply_to: None,
        references: vec![],
        subject: "Hello".into(),
        text_body: "Hi".into(),
        html_body: "<p>Hi</p>".into(),
        from_email: "owner@reachkit.test".into(),
        to: vec![Recipient {
            email: "bob@lead.test".into(),
            name: Some("Bob".into()),
        }],
        cc: vec![],
        bcc: vec![],
        email_date: NOW,
        is_read: true,
        attachments: vec![],
    }
}

#[tokio::test]
async fn a_conversation_started_by_hand_is_primary_and_replies_append_in_order() {
    let env = env().await;
    let ws = workspace(&env).await;
    let ib = inbox(&env, ws, "owner@reachkit.test").await;
    let id = ConversationId::new();
    let c = env
        .repo
        .create(&NewConversation {
            id,
            workspace_id: ws,
            inbox_id: ib,
            subject: "Hello".into(),
            message: outgoing(ib, "first@reachkit.test"),
            at: NOW,
        })
        .await
        .unwrap();
    assert_eq!(c.id, id);
    assert_eq!(c.lead_id, None);
    assert_eq!(
        c.messages[0].to,
        [Recipient {
            email: "bob@lead.test".into(),
            name: Some("Bob".into())
        }]
    );
    assert_eq!(
        ids(&env, ws, &query(None, Some(Folder::Primary))).await,
        [id]
    );
    let mut reply = outgoing(ib, "second@reachkit.test");
    reply.email_date = NOW + time::Duration::minutes(5);
    reply.in_reply_to = Some("first@reachkit.test".into());
    reply.references = vec!["first@reachkit.test".into()];
    let stored = env
        .repo
        .add_message(ws, id, &reply, reply.email_date)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.references, ["first@reachkit.test"]);
    let c = env.repo.get(ws, id).await.unwrap().unwrap();
    let order: Vec<_> = c
        .messages
        .iter()
        .map(|m| m.rfc_message_id.as_str())
        .collect();
    assert_eq!(order, ["first@reachkit.test", "second@reachkit.test"]);
    let other = workspace(&env).await;
    assert!(
        env.repo
            .add_message(other, id, &outgoing(ib, "x@y.test"), NOW)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn the_sending_inbox_is_the_given_one_or_the_first_active_one_of_the_workspace() {
    let env = env().await;
    let ws = workspace(&env).await;
    let other = workspace(&env).await;
    assert!(env.repo.sending_inbox(ws, None).await.unwrap().is_none());
    let first = inbox(&env, ws, "first@reachkit.test").await;
    let second = inbox(&env, ws, "second@reachkit.test").await;
    let foreign = inbox(&env, other, "foreign@reachkit.test").await;
    sql(
        &env,
        &format!("UPDATE inboxes SET created_at = now() - interval '1 day' WHERE id = '{first}'"),
    )
    .await;
    assert_eq!(
        env.repo.sending_inbox(ws, None).await.unwrap().unwrap().id,
        first
    );
    sql(
        &env,
        &format!("UPDATE inboxes SET is_active = false WHERE id = '{first}'"),
    )
    .await;
    assert_eq!(
        env.repo.sending_inbox(ws, None).await.unwrap().unwrap().id,
        second
    );
    assert_eq!(
        env.repo
            .sending_inbox(ws, Some(first))
            .await
            .unwrap()
            .unwrap()
            .id,
        first
    );
    assert!(
        env.repo
            .sending_inbox(ws, Some(foreign))
            .await
            .unwrap()
            .is_none()
    );
    sql(
        &env,
        &format!("UPDATE inboxes SET is_active = false WHERE id = '{second}'"),
    )
    .await;
    assert!(env.repo.sending_inbox(ws, None).await.unwrap().is_none());
}
