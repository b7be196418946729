//! The remote reply classifier against a stub chat-completions server on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;

use reachkit_core::classifier::AsyncReplyClassifier;
use reachkit_core::secrets::Password;
use reachkit_domain::label::ReplyLabel;
use reachkit_mail::reply::RuleClassifier;
use reachkit_mail::reply::llm::{LlmClassifier, LlmSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Serves one connection with `response`, sending the request it read to the channel.
async fn stub(response: String) -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        // Read the head, then as much body as Content-Length says.
        loop {
            let n = socket.read(&mut buf).await.unwrap();
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if request.len() >= end + 4 + len {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        tx.send(String::from_utf8_lossy(&request).to_string())
            .unwrap();
        socket.write_all(response.as_bytes()).await.unwrap();
        socket.shutdown().await.unwrap();
    });
    (url, rx)
}

fn json_response(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn answer(content: &str) -> String {
    serde_json::json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]})
        .to_string()
}

fn classifier(base_url: String, key: &str) -> LlmClassifier {
    LlmClassifier::new(
        LlmSettings {
            base_url,
            model: "tiny-model".to_owned(),
            api_key: Password::new(key),
            timeout: Duration::from_secs(5),
        },
        Arc::new(RuleClassifier),
    )
    .unwrap()
}

const REPLY: &str = "Not interested.\n\nOn Mon, Jan 5, 2026 at 10:00 AM Alice <alice@reachkit.test> wrote:\n> Secret original text";

#[tokio::test]
async fn the_models_label_is_used_and_only_the_senders_own_text_is_sent() {
    let (url, mut requests) = stub(json_response("200 OK", &answer(" Referral.\n"))).await;
    let label = classifier(url, "sk-test-key").classify_reply(REPLY).await;
    assert_eq!(label, ReplyLabel::Referral);
    let request = requests.recv().await.unwrap();
    assert!(
        request.starts_with("POST /v1/chat/completions HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(request.contains("Authorization: Bearer sk-test-key\r\n"));
    assert!(request.contains("\"model\":\"tiny-model\""));
    assert!(request.contains("Not interested."));
    assert!(!request.contains("Secret original text"));
}

#[tokio::test]
async fn a_chunked_answer_is_read() {
    let body = answer("meeting_requested");
    let response = format!(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let (url, _requests) = stub(response).await;
    let label = classifier(url, "").classify_reply("Hello there").await;
    assert_eq!(label, ReplyLabel::MeetingRequested);
}

#[tokio::test]
async fn without_a_key_no_authorization_header_is_sent() {
    let (url, mut requests) = stub(json_response("200 OK", &answer("neutral"))).await;
    classifier(url, "").classify_reply("Hello").await;
    assert!(!requests.recv().await.unwrap().contains("Authorization"));
}

#[tokio::test]
async fn an_unknown_answer_falls_back_to_the_rules() {
    let (url, _r) = stub(json_response("200 OK", &answer("positive"))).await;
    assert_eq!(
        classifier(url, "k").classify_reply(REPLY).await,
        ReplyLabel::NotInterested
    );
}

#[tokio::test]
async fn an_error_status_falls_back_to_the_rules() {
    let (url, _r) = stub(json_response("500 Internal Server Error", "{}")).await;
    assert_eq!(
        classifier(url, "k").classify_reply(REPLY).await,
        ReplyLabel::NotInterested
    );
}

#[tokio::test]
async fn malformed_json_falls_back_to_the_rules() {
    let (url, _r) = stub(json_response("200 OK", "{\"choices\": [")).await;
    assert_eq!(
        classifier(url, "k").classify_reply(REPLY).await,
        ReplyLabel::NotInterested
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_falls_back_to_the_rules() {
    // Bind and drop: nothing listens on that port any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = classifier(format!("http://127.0.0.1:{port}/v1"), "k");
    assert_eq!(c.classify_reply(REPLY).await, ReplyLabel::NotInterested);
}

#[tokio::test]
async fn an_empty_reply_is_neutral_without_asking() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = classifier(format!("http://127.0.0.1:{port}"), "k");
    assert_eq!(
        c.classify_reply("> just the quote").await,
        ReplyLabel::Neutral
    );
}
