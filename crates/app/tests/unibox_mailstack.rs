//! The unibox end to end through the real `reachkit` binary, PostgreSQL and the private mail
//! stack (`scripts/mailstack`, started by `scripts/test`): a conversation started from the API
//! reaches the recipient's mailbox, a reply from the API lands in the same thread, and a stored
//! attachment downloads with its type and bytes (and only for its workspace).

use std::process::Command;
use std::time::Duration;

use reachkit_testkit::binary::{self, Server, request};
use reachkit_testkit::mailstack::MailStack;
use reachkit_testkit::{TestDatabase, execute};
use serde_json::{Value, json};
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_reachkit");
/// Only bounds a failure: the test waits for delivery.
const WAIT: Duration = Duration::from_secs(30);

fn stack() -> MailStack {
    MailStack::from_env().unwrap_or_else(|e| panic!("{e:#}"))
}

fn reachkit(db: &TestDatabase) -> Command {
    let mut cmd = binary::command(BIN, &db.url, "info");
    cmd // The stack's STARTTLS certificate is self-signed.
        .env("REACHKIT__MAIL__ALLOW_INVALID_CERTS", "true");
    cmd
}

/// A workspace and a key for it.
fn tenant(db: &TestDatabase, name: &str) -> (String, String) {
    binary::tenant(|| reachkit(db), name)
}

fn serve(db: &TestDatabase) -> Server {
    Server::start(reachkit(db).arg("serve"))
}

/// The unfolded value of the first header `name` of a raw message.
fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.split("\r\n").peekable();
    let prefix = format!("{}:", name.to_ascii_lowercase());
    while let Some(line) = lines.next() {
        if line.to_ascii_lowercase().starts_with(&prefix) {
            let mut value = line[prefix.len()..].trim().to_owned();
            while let Some(next) = lines.peek() {
                if next.starts_with(' ') || next.starts_with('\t') {
                    value.push(' ');
                    value.push_str(next.trim());
                    lines.next();
                } else {
                    break;
                }
            }
            return Some(value);
        }
    }
    None
}

fn bare(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

#[actix_web::test]
async fn a_conversation_started_and_answered_from_the_api_reaches_the_mailbox_threaded() {
    let stack = stack();
    let db = TestDatabase::create().await.expect("database");
    let (ws, key) = tenant(&db, "Sales");
    let (_, other_key) = tenant(&db, "Other");
    let server = serve(&db);
    let api = server.api.clone();
    let alice = stack.user("alice").expect("alice").clone();
    let bob = stack.user("bob").expect("bob").clone();

    // The sending inbox: alice over SMTP submission with STARTTLS and AUTH (the password is
    // sealed at rest and opened for the send).
    let (status, inbox) = request(
        "POST",
        &format!("{api}/inboxes"),
        &key,
        Some(json!({
            "email": alice.address, "first_name": "Alice", "last_name": "Smith",
            "smtp": {"host": stack.host, "port": stack.smtp_port, "username": alice.address,
                     "password": alice.password, "security": "starttls"},
            "imap": {"host": stack.host, "port": stack.imap_port, "username": alice.address,
                     "password": alice.password, "security": "none"}
        })),
    )
    .await;
    assert_eq!(status, 201, "{inbox}");
    let inbox_id = inbox["data"]["id"].as_str().expect("inbox id").to_owned();

    let tag = Uuid::new_v4().simple().to_string();
    let subject = format!("Unibox hello {tag}");
    let (status, created) = request(
        "POST",
        &format!("{api}/unibox/conversations"),
        &key,
        Some(json!({
            "to": [{"email": bob.address, "name": "Bob"}],
            "subject": subject,
            "content": "<p>Hi Bob, <b>quick question</b>.</p><script>alert(1)</script>"
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let conversation = &created["data"];
    let id = conversation["id"].as_str().expect("id").to_owned();
    assert_eq!(conversation["lead_id"], Value::Null);
    let first = &conversation["messages"][0];
    assert_eq!(first["direction"], "outgoing");
    assert_eq!(first["inbox_id"], inbox_id.as_str());
    assert_eq!(first["html_body"], "<p>Hi Bob, <b>quick question</b>.</p>");

    let delivered = stack
        .wait_for_message(&bob.address, &bob.password, "INBOX", &subject, WAIT)
        .await
        .expect("the first email in bob's INBOX");
    assert_eq!(
        header(&delivered, "Subject").as_deref(),
        Some(subject.as_str())
    );
    let from = header(&delivered, "From").expect("From");
    assert!(
        from.contains(&alice.address) && from.contains("Alice Smith"),
        "{from}"
    );
    assert!(header(&delivered, "To").expect("To").contains(&bob.address));
    let first_id = bare(&header(&delivered, "Message-ID").expect("Message-ID"));
    assert!(first_id.ends_with("@reachkit.test"), "{first_id}");
    assert!(header(&delivered, "In-Reply-To").is_none());

    // Bob answers (stored as sync would store it), with an attachment.
    let answer_id = format!("answer-{tag}@reachkit.test");
    let message = Uuid::now_v7();
    let attachment = Uuid::now_v7();
    let pdf: &[u8] = b"%PDF-1.4\n%\xe2\xe3 not really a pdf";
    let hex: String = pdf.iter().map(|b| format!("{b:02x}")).collect();
    execute(
        &db.url,
        &format!(
            "INSERT INTO messages (id, workspace_id, conversation_id, direction, inbox_id, \
             rfc_message_id, in_reply_to, references_ids, subject, text_body, from_email, \
             to_recipients, email_date, kind, created_at) VALUES ('{message}', '{ws}', '{id}', \
             'incoming', '{inbox_id}', '{answer_id}', '{first_id}', ARRAY['{first_id}'], \
             'Re: {subject}', 'Sounds good, deck attached', '{bob}', \
             '[{{\"email\": \"{alice}\", \"name\": \"Alice\"}}]', now(), 'reply', now())",
            bob = bob.address,
            alice = alice.address,
        ),
    )
    .await
    .expect("insert the answer");
    execute(
        &db.url,
        &format!(
            "INSERT INTO attachments (id, workspace_id, message_id, filename, content_type, size, \
             content, created_at) VALUES ('{attachment}', '{ws}', '{message}', 'deck.pdf', \
             'application/pdf', {len}, '\\x{hex}'::bytea, now())",
            len = pdf.len(),
        ),
    )
    .await
    .expect("insert the attachment");

    let (status, reply) = request(
        "POST",
        &format!("{api}/unibox/conversations/{id}/reply"),
        &key,
        Some(json!({"content": "<p>Great, talk Tuesday.</p>"})),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["data"]["direction"], "outgoing");
    assert_eq!(reply["data"]["subject"], format!("Re: {subject}"));
    assert_eq!(
        reply["data"]["to_recipients"][0]["email"],
        bob.address.as_str()
    );

    let threaded = stack
        .wait_for_message(
            &bob.address,
            &bob.password,
            "INBOX",
            "Great, talk Tuesday",
            WAIT,
        )
        .await
        .expect("the reply in bob's INBOX");
    assert_eq!(
        header(&threaded, "Subject").as_deref(),
        Some(format!("Re: {subject}").as_str())
    );
    assert_eq!(
        header(&threaded, "In-Reply-To").map(|v| bare(&v)),
        Some(answer_id.clone())
    );
    let references: Vec<String> = header(&threaded, "References")
        .expect("References")
        .split_whitespace()
        .map(bare)
        .collect();
    assert_eq!(references, [first_id.clone(), answer_id.clone()]);

    // The conversation shows all three, oldest first; the answer with its attachment.
    let (status, shown) = request(
        "GET",
        &format!("{api}/unibox/conversations/{id}"),
        &key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{shown}");
    let messages = shown["data"]["messages"].as_array().expect("messages");
    let directions: Vec<_> = messages
        .iter()
        .map(|m| m["direction"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(directions, ["outgoing", "incoming", "outgoing"]);
    assert_eq!(messages[1]["attachments"][0]["filename"], "deck.pdf");
    assert_eq!(messages[1]["attachments"][0]["size"], pdf.len());

    // The download: bytes and headers; another workspace sees nothing.
    let url = format!("{api}/unibox/conversations/{id}/attachments/{attachment}");
    let mut response = awc::Client::default()
        .get(&url)
        .insert_header(("Authorization", format!("Bearer {key}")))
        .send()
        .await
        .expect("download");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/pdf")
    );
    let disposition = response
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(disposition.contains("deck.pdf"), "{disposition}");
    assert_eq!(response.body().await.expect("bytes").as_ref(), pdf);
    let (status, _) = request("GET", &url, &other_key, None).await;
    assert_eq!(status, 404);
    let (status, _) = request(
        "GET",
        &format!("{api}/unibox/conversations/{id}"),
        &other_key,
        None,
    )
    .await;
    assert_eq!(status, 404);
}
