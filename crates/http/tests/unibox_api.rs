//! The HTTP contract of the unibox endpoints, over mocked ports.

use std::sync::{Arc, Mutex};

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::{App, test};
use async_trait::async_trait;
use reachkit_core::api_keys::{ApiKey, ApiKeyService, KeyHash, MockApiKeyRepository};
use reachkit_core::blocklist::{BlocklistService, MockBlocklistRepository};
use reachkit_core::campaigns::{CampaignService, MockCampaignRepository};
use reachkit_core::clock::Clock;
use reachkit_core::connection_check::ServerLogin;
use reachkit_core::engine::SendInbox;
use reachkit_core::ids::{
    ApiKeyId, AttachmentId, ConversationId, InboxId, LeadId, MessageId, WorkspaceId,
};
use reachkit_core::inboxes::{InboxService, MockInboxRepository, Security, ServerSettings};
use reachkit_core::leads::{LeadService, MockLeadRepository};
use reachkit_core::paging::Page;
use reachkit_core::secrets::MockSecretBox;
use reachkit_core::sending::{MailSender, MailSession, OutgoingEmail, SendError};
use reachkit_core::sequences::{MockSequenceRepository, SequenceService};
use reachkit_core::unibox::{
    AttachmentContent, AttachmentMeta, Conversation, Direction, Folder, Message, MessageKind,
    MockConversationRepository, Recipient, UniboxService,
};
use reachkit_core::workspaces::MockWorkspaceRepository;
use reachkit_domain::label::ReplyLabel;
use reachkit_http::{Services, configure, configure_unibox};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

const KEY: &str = "rk_AAAAAAAA_0123456789abcdefghij0123456789ABCDEFGHIJ";
const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

struct Fixed;
impl Clock for Fixed {
    fn now(&self) -> OffsetDateTime {
        NOW
    }
}

fn workspace() -> WorkspaceId {
    static ID: std::sync::OnceLock<WorkspaceId> = std::sync::OnceLock::new();
    *ID.get_or_init(WorkspaceId::new)
}

fn keys() -> MockApiKeyRepository {
    let mut keys = MockApiKeyRepository::new();
    keys.expect_find_by_hash().returning(|hash| {
        Ok((hash == &KeyHash::of(KEY)).then(|| ApiKey {
            id: ApiKeyId::new(),
            workspace_id: workspace(),
            name: "test".into(),
            prefix: "rk_AAAAAAAA".into(),
            created_at: NOW,
            last_used_at: Some(NOW),
            revoked_at: None,
        }))
    });
    keys
}

type Sent = Arc<Mutex<Vec<OutgoingEmail>>>;

#[derive(Default)]
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
    async fn send(&mut self, _from: &str, email: &OutgoingEmail) -> Result<(), SendError> {
        if self.refuse {
            return Err(SendError::Rejected {
                code: 550,
                status: Some("5.1.1".into()),
                message: "no such user".into(),
            });
        }
        self.sent.lock().unwrap().push(email.clone());
        Ok(())
    }
    async fn close(self: Box<Self>) {}
}

#[async_trait]
impl MailSender for FakeSender {
    async fn connect(&self, _login: &ServerLogin) -> Result<Box<dyn MailSession>, SendError> {
        Ok(Box::new(FakeSession {
            sent: self.sent.clone(),
            refuse: self.refuse,
        }))
    }
}

async fn call_with(
    repo: MockConversationRepository,
    sender: FakeSender,
    req: test::TestRequest,
) -> ServiceResponse {
    let services = Services {
        api_keys: ApiKeyService::new(
            Arc::new(keys()),
            Arc::new(MockWorkspaceRepository::new()),
            Arc::new(Fixed),
        ),
        blocklist: BlocklistService::new(Arc::new(MockBlocklistRepository::new()), Arc::new(Fixed)),
        inboxes: InboxService::new(
            Arc::new(MockInboxRepository::new()),
            Arc::new(MockSecretBox::new()),
            Arc::new(Fixed),
        ),
        leads: LeadService::new(Arc::new(MockLeadRepository::new()), Arc::new(Fixed)),
        campaigns: CampaignService::new(Arc::new(MockCampaignRepository::new()), Arc::new(Fixed)),
        sequences: SequenceService::new(Arc::new(MockSequenceRepository::new()), Arc::new(Fixed)),
    };
    let unibox = UniboxService::new(
        Arc::new(repo),
        Arc::new(sender),
        Arc::new(MockSecretBox::new()),
        Arc::new(Fixed),
    );
    let app = test::init_service(
        App::new()
            .configure(configure_unibox(unibox))
            .configure(configure(services)),
    )
    .await;
    test::call_service(&app, req.to_request()).await
}

async fn call(repo: MockConversationRepository, req: test::TestRequest) -> (StatusCode, Value) {
    let response = call_with(repo, FakeSender::default(), req).await;
    let status = response.status();
    let body = test::read_body(response).await;
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"))
    };
    (status, json)
}

fn authed(req: test::TestRequest) -> test::TestRequest {
    req.insert_header(("Authorization", format!("Bearer {KEY}")))
}

fn assert_error(body: &Value, field: Option<&str>) {
    assert!(body["error"].is_string(), "no error message: {body}");
    assert!(body.get("data").is_none(), "error with data: {body}");
    if let Some(field) = field {
        assert!(
            body["details"][field].is_string(),
            "details lack {field}: {body}"
        );
    }
}

fn inbox() -> SendInbox {
    SendInbox {
        id: InboxId::new(),
        email: "alice@reachkit.test".into(),
        first_name: "Alice".into(),
        last_name: String::new(),
        reply_to: String::new(),
        signature: String::new(),
        smtp: ServerSettings {
            host: "127.0.0.1".into(),
            port: 25,
            security: Security::None,
            username: String::new(),
        },
        smtp_password: None,
    }
}

fn message(direction: Direction) -> Message {
    Message {
        id: MessageId::new(),
        direction,
        kind: MessageKind::Reply,
        inbox_id: InboxId::new(),
        rfc_message_id: "m1@lead.test".into(),
        in_reply_to: None,
        references: vec![],
        subject: "Re: Hello".into(),
        text_body: "Yes, let's talk".into(),
        html_body: "<p>Yes, let's talk</p>".into(),
        from_email: "bob@lead.test".into(),
        to: vec![Recipient {
            email: "alice@reachkit.test".into(),
            name: Some("Alice".into()),
        }],
        cc: vec![Recipient {
            email: "carol@lead.test".into(),
            name: None,
        }],
        bcc: vec![],
        email_date: NOW,
        is_read: false,
        attachments: vec![AttachmentMeta {
            id: AttachmentId::new(),
            filename: "deck.pdf".into(),
            content_type: "application/pdf".into(),
            size: 1234,
        }],
    }
}

fn conversation() -> Conversation {
    Conversation {
        id: ConversationId::new(),
        workspace_id: workspace(),
        inbox_id: InboxId::new(),
        lead_id: Some(LeadId::new()),
        subject: "Hello".into(),
        label: Some(ReplyLabel::NotInterested),
        label_override: Some(ReplyLabel::Interested),
        messages: vec![message(Direction::Incoming)],
        created_at: NOW,
        updated_at: NOW,
    }
}

fn assert_conversation_shape(c: &Value) {
    for key in [
        "id",
        "label",
        "is_positive",
        "lead_id",
        "messages",
        "created_at",
        "updated_at",
    ] {
        assert!(c.get(key).is_some(), "{key} missing: {c}");
    }
    let m = &c["messages"][0];
    for key in [
        "direction",
        "inbox_id",
        "subject",
        "text_body",
        "html_body",
        "from_email",
        "to_recipients",
        "cc_recipients",
        "bcc_recipients",
        "email_date",
        "is_read",
        "attachments",
    ] {
        assert!(m.get(key).is_some(), "message {key} missing: {m}");
    }
}

#[actix_web::test]
async fn the_index_lists_conversations_with_every_documented_field() {
    let mut repo = MockConversationRepository::new();
    repo.expect_list().returning(|ws, q| {
        assert_eq!(ws, workspace());
        assert_eq!(q.page.page_size(), 20);
        assert_eq!(q.folder, None);
        assert_eq!(q.search, None);
        Ok(Page {
            items: vec![conversation()],
            request: q.page,
            total_count: 1,
        })
    });
    let (status, body) = call(
        repo,
        authed(test::TestRequest::get().uri("/api/v1/unibox/conversations")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let c = &body["data"][0];
    assert_conversation_shape(c);
    assert_eq!(c["label"], "interested");
    assert_eq!(c["is_positive"], true);
    let m = &c["messages"][0];
    assert_eq!(m["direction"], "incoming");
    assert_eq!(m["email_date"], "2026-11-30T12:00:00Z");
    assert_eq!(
        m["to_recipients"],
        json!([{"email": "alice@reachkit.test", "name": "Alice"}])
    );
    assert_eq!(
        m["cc_recipients"],
        json!([{"email": "carol@lead.test", "name": ""}])
    );
    assert_eq!(m["attachments"][0]["filename"], "deck.pdf");
    assert_eq!(m["attachments"][0]["size"], 1234);
    assert_eq!(
        body["metadata"],
        json!({"page": 1, "page_size": 20, "total_count": 1, "total_pages": 1})
    );
}

#[actix_web::test]
async fn the_index_passes_folder_search_and_a_clamped_page_size() {
    let mut repo = MockConversationRepository::new();
    repo.expect_list().returning(|_, q| {
        assert_eq!(q.folder, Some(Folder::Others));
        assert_eq!(q.search.as_deref(), Some("acme"));
        assert_eq!(q.page.page_size(), 100);
        assert_eq!(q.page.page(), 2);
        Ok(Page {
            items: vec![],
            request: q.page,
            total_count: 0,
        })
    });
    let (status, body) = call(
        repo,
        authed(test::TestRequest::get().uri(
            "/api/v1/unibox/conversations?folder=others&search=%20ACME%20&page_size=500&page=2",
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[actix_web::test]
async fn bad_index_parameters_are_refused_before_the_store() {
    for (query, status, field) in [
        ("folder=spam", StatusCode::UNPROCESSABLE_ENTITY, "folder"),
        ("page=0", StatusCode::UNPROCESSABLE_ENTITY, "page"),
        ("page_size=0", StatusCode::UNPROCESSABLE_ENTITY, "page_size"),
        ("page=x", StatusCode::BAD_REQUEST, "page"),
    ] {
        let (s, body) = call(
            MockConversationRepository::new(),
            authed(test::TestRequest::get().uri(&format!("/api/v1/unibox/conversations?{query}"))),
        )
        .await;
        assert_eq!(s, status, "{query}: {body}");
        assert_error(&body, Some(field));
    }
}

#[actix_web::test]
async fn every_endpoint_needs_a_key() {
    for req in [
        test::TestRequest::get().uri("/api/v1/unibox/conversations"),
        test::TestRequest::get().uri(&format!(
            "/api/v1/unibox/conversations/{}",
            ConversationId::new()
        )),
        test::TestRequest::post()
            .uri("/api/v1/unibox/conversations")
            .set_json(json!({})),
    ] {
        let (status, body) = call(MockConversationRepository::new(), req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_error(&body, None);
    }
}

#[actix_web::test]
async fn show_returns_the_conversation_and_unknown_or_malformed_ids_are_404() {
    let c = conversation();
    let id = c.id;
    let mut repo = MockConversationRepository::new();
    repo.expect_get()
        .returning(move |_, asked| Ok((asked == id).then(|| c.clone())));
    let (status, body) = call(
        repo,
        authed(test::TestRequest::get().uri(&format!("/api/v1/unibox/conversations/{id}"))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_conversation_shape(&body["data"]);
    assert_eq!(body["data"]["id"], id.to_string());

    let mut repo = MockConversationRepository::new();
    repo.expect_get().returning(|_, _| Ok(None));
    let (status, body) = call(
        repo,
        authed(test::TestRequest::get().uri(&format!(
            "/api/v1/unibox/conversations/{}",
            ConversationId::new()
        ))),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, None);

    let (status, _) = call(
        MockConversationRepository::new(),
        authed(test::TestRequest::get().uri("/api/v1/unibox/conversations/not-a-uuid")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn patch_sets_and_clears_the_override_and_the_read_state() {
    let take = || {
        let mut repo = MockConversationRepository::new();
        repo.expect_update().returning(|_, _, changes, now| {
            assert_eq!(now, NOW);
            let mut c = conversation();
            c.label_override = changes.label_override.unwrap_or(c.label_override);
            if let Some(read) = changes.is_read {
                c.messages.iter_mut().for_each(|m| m.is_read = read);
            }
            Ok(Some(c))
        });
        repo
    };
    let uri = format!("/api/v1/unibox/conversations/{}", ConversationId::new());
    let (status, body) = call(
        take(),
        authed(
            test::TestRequest::patch()
                .uri(&uri)
                .set_json(json!({"label_override": "meeting_requested", "is_read": true})),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["label"], "meeting_requested");
    assert_eq!(body["data"]["is_positive"], true);
    assert_eq!(body["data"]["messages"][0]["is_read"], true);

    let (status, body) = call(
        take(),
        authed(
            test::TestRequest::patch()
                .uri(&uri)
                .set_json(json!({"label_override": null})),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["label"], "not_interested",
        "null reverts to the classifier's label"
    );
    assert_eq!(body["data"]["is_positive"], false);
}

#[actix_web::test]
async fn patch_refuses_unknown_labels_bad_types_and_unknown_ids() {
    let uri = format!("/api/v1/unibox/conversations/{}", ConversationId::new());
    for (body, status, field) in [
        (
            json!({"label_override": "spam"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("label_override"),
        ),
        (
            json!({"label_override": "Interested"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("label_override"),
        ),
        (
            json!({"is_read": "yes"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
        ),
    ] {
        let (s, b) = call(
            MockConversationRepository::new(),
            authed(test::TestRequest::patch().uri(&uri).set_json(body.clone())),
        )
        .await;
        assert_eq!(s, status, "{body}: {b}");
        assert_error(&b, field);
    }
    let (s, b) = call(
        MockConversationRepository::new(),
        authed(
            test::TestRequest::patch()
                .uri(&uri)
                .insert_header(("Content-Type", "application/json"))
                .set_payload("{"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_error(&b, None);

    let mut repo = MockConversationRepository::new();
    repo.expect_update().returning(|_, _, _, _| Ok(None));
    let (s, b) = call(
        repo,
        authed(
            test::TestRequest::patch()
                .uri(&uri)
                .set_json(json!({"is_read": true})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error(&b, None);
}

#[actix_web::test]
async fn create_sends_the_first_email_and_answers_201_with_the_conversation() {
    let mut repo = MockConversationRepository::new();
    repo.expect_sending_inbox().returning(|_, id| {
        assert!(id.is_none());
        Ok(Some(inbox()))
    });
    repo.expect_create().returning(|new| {
        Ok(Conversation {
            id: new.id,
            workspace_id: new.workspace_id,
            inbox_id: new.inbox_id,
            lead_id: None,
            subject: new.subject.clone(),
            label: None,
            label_override: None,
            messages: vec![new.message.clone()],
            created_at: new.at,
            updated_at: new.at,
        })
    });
    let sender = FakeSender::default();
    let sent = sender.sent.clone();
    let response = call_with(
        repo,
        sender,
        authed(
            test::TestRequest::post()
                .uri("/api/v1/unibox/conversations")
                .set_json(json!({
                    "to": [{"email": "bob@lead.test", "name": "Bob"}],
                    "subject": "Hello",
                    "content": "<p>Hi Bob</p><script>x()</script>"
                })),
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = serde_json::from_slice(&test::read_body(response).await).unwrap();
    let c = &body["data"];
    assert_conversation_shape(c);
    assert_eq!(c["lead_id"], Value::Null);
    assert_eq!(c["label"], Value::Null);
    assert_eq!(c["is_positive"], false);
    let m = &c["messages"][0];
    assert_eq!(m["direction"], "outgoing");
    assert_eq!(m["html_body"], "<p>Hi Bob</p>");
    assert_eq!(m["text_body"], "Hi Bob");
    assert_eq!(m["from_email"], "alice@reachkit.test");
    assert_eq!(
        m["to_recipients"],
        json!([{"email": "bob@lead.test", "name": "Bob"}])
    );
    assert_eq!(m["is_read"], true);
    assert_eq!(m["attachments"], json!([]));
    assert_eq!(sent.lock().unwrap().len(), 1);
}

#[actix_web::test]
async fn create_refuses_bad_input_with_the_field_named() {
    let ok = json!({"to": [{"email": "bob@lead.test"}], "subject": "Hi", "content": "<p>x</p>"});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        if v.is_null() {
            b.as_object_mut().unwrap().remove(k);
        } else {
            b[k] = v;
        }
        b
    };
    for (body, field) in [
        (with("to", json!([])), "to"),
        (with("to", Value::Null), "to"),
        (
            with("to", json!([{"email": "not-an-address"}])),
            "to[0].email",
        ),
        (with("subject", Value::Null), "subject"),
        (with("subject", json!("  ")), "subject"),
        (with("content", Value::Null), "content"),
        (with("content", json!("<script>x()</script>")), "content"),
        (with("inbox_id", json!("nope")), "inbox_id"),
    ] {
        let (s, b) = call(
            MockConversationRepository::new(),
            authed(
                test::TestRequest::post()
                    .uri("/api/v1/unibox/conversations")
                    .set_json(body.clone()),
            ),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {b}");
        assert_error(&b, Some(field));
    }
}

#[actix_web::test]
async fn create_without_an_active_inbox_or_with_another_workspaces_inbox_is_422() {
    for inbox_id in [None, Some(InboxId::new().to_string())] {
        let mut repo = MockConversationRepository::new();
        repo.expect_sending_inbox().returning(|_, _| Ok(None));
        repo.expect_create().never();
        let mut body =
            json!({"to": [{"email": "bob@lead.test"}], "subject": "Hi", "content": "<p>x</p>"});
        if let Some(id) = inbox_id {
            body["inbox_id"] = json!(id);
        }
        let (s, b) = call(
            repo,
            authed(
                test::TestRequest::post()
                    .uri("/api/v1/unibox/conversations")
                    .set_json(body),
            ),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_error(&b, Some("inbox_id"));
    }
}

#[actix_web::test]
async fn an_email_the_server_refuses_is_422_and_nothing_is_stored() {
    let mut repo = MockConversationRepository::new();
    repo.expect_sending_inbox()
        .returning(|_, _| Ok(Some(inbox())));
    repo.expect_create().never();
    let response = call_with(
        repo,
        FakeSender {
            refuse: true,
            ..FakeSender::default()
        },
        authed(
            test::TestRequest::post()
                .uri("/api/v1/unibox/conversations")
                .set_json(json!({
                    "to": [{"email": "bob@lead.test"}], "subject": "Hi", "content": "<p>x</p>"
                })),
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn reply_answers_201_with_the_threaded_outgoing_message() {
    let c = conversation();
    let id = c.id;
    let mut repo = MockConversationRepository::new();
    repo.expect_get().returning(move |_, _| Ok(Some(c.clone())));
    repo.expect_sending_inbox()
        .returning(|_, _| Ok(Some(inbox())));
    repo.expect_add_message()
        .returning(|_, _, m, _| Ok(Some(m.clone())));
    let sender = FakeSender::default();
    let sent = sender.sent.clone();
    let response = call_with(
        repo,
        sender,
        authed(
            test::TestRequest::post()
                .uri(&format!("/api/v1/unibox/conversations/{id}/reply"))
                .set_json(json!({"content": "<p>Great, Tuesday?</p>"})),
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = serde_json::from_slice(&test::read_body(response).await).unwrap();
    let m = &body["data"];
    assert_eq!(m["direction"], "outgoing");
    assert_eq!(m["subject"], "Re: Hello");
    assert_eq!(
        m["to_recipients"],
        json!([{"email": "bob@lead.test", "name": ""}])
    );
    assert_eq!(m["attachments"], json!([]));
    let sent = sent.lock().unwrap();
    assert_eq!(sent[0].in_reply_to.as_deref(), Some("m1@lead.test"));
    assert_eq!(sent[0].references, ["m1@lead.test"]);
}

#[actix_web::test]
async fn reply_errors_are_404_for_unknown_conversations_and_422_without_content() {
    let mut repo = MockConversationRepository::new();
    repo.expect_get().returning(|_, _| Ok(None));
    let uri = format!(
        "/api/v1/unibox/conversations/{}/reply",
        ConversationId::new()
    );
    let (s, b) = call(
        repo,
        authed(
            test::TestRequest::post()
                .uri(&uri)
                .set_json(json!({"content": "<p>x</p>"})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error(&b, None);
    let (s, b) = call(
        MockConversationRepository::new(),
        authed(test::TestRequest::post().uri(&uri).set_json(json!({}))),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&b, Some("content"));
    let (s, _) = call(
        MockConversationRepository::new(),
        authed(
            test::TestRequest::post()
                .uri("/api/v1/unibox/conversations/x/reply")
                .set_json(json!({"content": "<p>x</p>"})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn an_attachment_downloads_with_its_type_and_file_name() {
    let mut repo = MockConversationRepository::new();
    repo.expect_attachment().returning(|ws, _, _| {
        assert_eq!(ws, workspace());
        Ok(Some(AttachmentContent {
            filename: "deck.pdf".into(),
            content_type: "application/pdf".into(),
            content: b"%PDF-1.4 bytes".to_vec(),
        }))
    });
    let uri = format!(
        "/api/v1/unibox/conversations/{}/attachments/{}",
        ConversationId::new(),
        AttachmentId::new()
    );
    let response = call_with(
        repo,
        FakeSender::default(),
        authed(test::TestRequest::get().uri(&uri)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/pdf"
    );
    let disposition = response
        .headers()
        .get("content-disposition")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment") && disposition.contains("deck.pdf"),
        "{disposition}"
    );
    assert_eq!(test::read_body(response).await.as_ref(), b"%PDF-1.4 bytes");
}

#[actix_web::test]
async fn unknown_attachments_and_malformed_ids_are_404() {
    let mut repo = MockConversationRepository::new();
    repo.expect_attachment().returning(|_, _, _| Ok(None));
    let uri = format!(
        "/api/v1/unibox/conversations/{}/attachments/{}",
        ConversationId::new(),
        AttachmentId::new()
    );
    let (s, b) = call(repo, authed(test::TestRequest::get().uri(&uri))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error(&b, None);
    let (s, _) = call(
        MockConversationRepository::new(),
        authed(test::TestRequest::get().uri("/api/v1/unibox/conversations/x/attachments/y")),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn unsupported_methods_are_405_in_the_envelope() {
    let (s, b) = call(
        MockConversationRepository::new(),
        authed(test::TestRequest::delete().uri(&format!(
            "/api/v1/unibox/conversations/{}",
            ConversationId::new()
        ))),
    )
    .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&b, None);
}
