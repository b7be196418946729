//! The SMTP adapter against the real Postfix of the private mail stack (`scripts/mailstack`,
//! started by `scripts/test`). These tests fail, never skip, when the stack is not running.

use std::time::Duration;

use mail_parser::{HeaderValue, MessageParser};
use reachkit_core::connection_check::ServerLogin;
use reachkit_core::inboxes::Security;
use reachkit_core::secrets::Password;
use reachkit_core::sending::{
    ListUnsubscribe, MailSender, MailSession, Mailbox, OutgoingEmail, SendError,
};
use reachkit_mail::smtp::{SmtpSender, SmtpSettings};
use reachkit_testkit::mailstack::MailStack;

/// Only bounds a failure: delivery is waited for, never slept for.
const DELIVERY: Duration = Duration::from_secs(30);

fn stack() -> MailStack {
    MailStack::from_env().unwrap_or_else(|e| panic!("{e:#}"))
}

/// The stack's certificates are self-signed.
fn sender() -> SmtpSender {
    SmtpSender::new(SmtpSettings {
        timeout: Duration::from_secs(20),
        allow_invalid_certs: true,
        helo_host: None,
    })
}

fn login(stack: &MailStack, port: u16, security: Security, user: &str, pw: &str) -> ServerLogin {
    ServerLogin {
        host: stack.host.clone(),
        port,
        security,
        username: user.into(),
        password: Password::new(pw),
    }
}

fn alice_login(stack: &MailStack) -> ServerLogin {
    let alice = stack.user("alice").expect("alice");
    login(
        stack,
        stack.smtp_port,
        Security::StartTls,
        &alice.address,
        &alice.password,
    )
}

fn unique(tag: &str) -> String {
    format!("{tag}-{}@reachkit.test", uuid::Uuid::new_v4())
}

fn email(from: &str, to: &str) -> OutgoingEmail {
    OutgoingEmail {
        message_id: unique("smtp-test"),
        from: Mailbox {
            name: Some("Alice Ärcher".into()),
            email: from.into(),
        },
        to: Mailbox {
            name: Some("Jane Doe".into()),
            email: to.into(),
        },
        reply_to: Some("replies@reachkit.test".into()),
        subject: "Quick question ☕".into(),
        text: "Hi Jane,\r\n.\r\nA line with a lone dot above.\r\n".into(),
        html: Some("<p>Hi Jane,</p>".into()),
        in_reply_to: None,
        references: Vec::new(),
        list_unsubscribe: None,
        extra_headers: vec![("X-Reachkit-Test".into(), "yes".into())],
        date: time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .expect("0 ns"),
    }
}

async fn connect(login: &ServerLogin) -> Box<dyn MailSession> {
    match sender().connect(login).await {
        Ok(session) => session,
        Err(e) => panic!("connect to {}:{} failed: {e}", login.host, login.port),
    }
}

async fn in_sink(stack: &MailStack, message_id: &str) -> Vec<u8> {
    stack
        .wait_for_message(
            &stack.sink.address,
            &stack.sink.password,
            "INBOX",
            &format!("<{message_id}>"),
            DELIVERY,
        )
        .await
        .unwrap_or_else(|e| panic!("{e:#}"))
}

#[tokio::test]
async fn an_email_to_an_outside_address_arrives_with_our_message_id_and_headers() {
    let s = stack();
    let alice = s.user("alice").expect("alice").clone();
    let mut e = email(&alice.address, "jane@prospects.test");
    e.in_reply_to = Some(unique("parent"));
    e.references = vec![unique("root"), e.in_reply_to.clone().expect("set")];
    e.list_unsubscribe = Some(ListUnsubscribe {
        url: "https://reach.example/u/tok123".into(),
        mailto: format!("mailto:{}?subject=unsubscribe", alice.address),
    });
    let mut session = connect(&alice_login(&s)).await;
    session
        .send(&alice.address, &e)
        .await
        .unwrap_or_else(|err| panic!("send failed: {err}"));
    session.close().await;

    let raw = in_sink(&s, &e.message_id).await;
    let message = MessageParser::default().parse(&raw).expect("parses");
    assert_eq!(message.message_id(), Some(e.message_id.as_str()));
    assert_eq!(message.subject(), Some("Quick question ☕"));
    let from = message.from().and_then(|a| a.first()).expect("From");
    assert_eq!(from.name(), Some("Alice Ärcher"));
    assert_eq!(from.address(), Some(alice.address.as_str()));
    let to = message.to().and_then(|a| a.first()).expect("To");
    assert_eq!(to.address(), Some("jane@prospects.test"));
    assert_eq!(
        message
            .reply_to()
            .and_then(|a| a.first())
            .and_then(|a| a.address()),
        Some("replies@reachkit.test")
    );
    assert_eq!(
        message.in_reply_to().as_text(),
        e.in_reply_to.as_deref(),
        "In-Reply-To"
    );
    match message.references() {
        HeaderValue::TextList(ids) => assert_eq!(
            ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
            e.references
        ),
        other => panic!("References: {other:?}"),
    }
    assert_eq!(
        message.header_raw("List-Unsubscribe-Post").map(str::trim),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(
        message
            .header_raw("List-Unsubscribe")
            .is_some_and(|v| v.contains("<https://reach.example/u/tok123>")),
        "List-Unsubscribe"
    );
    assert_eq!(
        message.header_raw("X-Reachkit-Test").map(str::trim),
        Some("yes")
    );
    // RCPT TO was the To address only, MAIL FROM the inbox.
    assert_eq!(
        message.header_raw("Delivered-To").map(str::trim),
        Some("sink+jane=prospects.test@sink.test")
    );
    assert!(
        message
            .header_raw("Return-Path")
            .is_some_and(|v| v.contains(&alice.address)),
        "Return-Path: {:?}",
        message.header_raw("Return-Path")
    );
    // Dot-stuffing kept the body intact.
    assert_eq!(
        message.body_text(0).as_deref(),
        Some("Hi Jane,\r\n.\r\nA line with a lone dot above.\r\n")
    );
    assert_eq!(message.body_html(0).as_deref(), Some("<p>Hi Jane,</p>"));
}

#[tokio::test]
async fn an_unknown_recipient_is_rejected_with_550_5_1_1_and_the_session_goes_on() {
    let s = stack();
    let alice = s.user("alice").expect("alice").clone();
    let mut session = connect(&alice_login(&s)).await;
    let refused = session
        .send(&alice.address, &email(&alice.address, &s.reject_rcpt))
        .await;
    match &refused {
        Err(SendError::Rejected {
            code,
            status,
            message,
        }) => {
            assert_eq!(*code, 550, "{message}");
            assert_eq!(status.as_deref(), Some("5.1.1"), "{message}");
            assert!(message.contains("User unknown"), "{message}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert!(refused.as_ref().is_err_and(SendError::session_usable));

    let next = email(&alice.address, "after-reject@prospects.test");
    session
        .send(&alice.address, &next)
        .await
        .unwrap_or_else(|err| panic!("the session was not usable after a 550: {err}"));
    session.close().await;
    in_sink(&s, &next.message_id).await;
}

#[tokio::test]
async fn a_greylisting_recipient_is_deferred_with_451_and_the_session_goes_on() {
    let s = stack();
    let alice = s.user("alice").expect("alice").clone();
    let mut session = connect(&alice_login(&s)).await;
    let deferred = session
        .send(&alice.address, &email(&alice.address, &s.tempfail_rcpt))
        .await;
    match &deferred {
        Err(SendError::Deferred {
            code,
            status,
            message,
        }) => {
            assert_eq!(*code, 451, "{message}");
            assert_eq!(status.as_deref(), Some("4.7.1"), "{message}");
        }
        other => panic!("expected Deferred, got {other:?}"),
    }
    let next = email(&alice.address, "after-defer@prospects.test");
    session
        .send(&alice.address, &next)
        .await
        .unwrap_or_else(|err| panic!("the session was not usable after a 451: {err}"));
    session.close().await;
    in_sink(&s, &next.message_id).await;
}

#[tokio::test]
async fn a_wrong_password_is_an_auth_error_that_does_not_show_the_password() {
    let s = stack();
    let alice = s.user("alice").expect("alice");
    for (port, security) in [
        (s.smtp_port, Security::StartTls),
        (s.smtps_port, Security::Tls),
    ] {
        let wrong = login(&s, port, security, &alice.address, "wrong-Pw-77");
        match sender().connect(&wrong).await {
            Err(SendError::Auth(reason)) => {
                assert!(!reason.contains("wrong-Pw-77"), "{reason}");
                assert!(reason.starts_with("535"), "{reason}");
            }
            Err(other) => panic!("{security:?}: expected Auth, got {other:?}"),
            Ok(_) => panic!("{security:?}: a wrong password was accepted"),
        }
    }
}

#[tokio::test]
async fn the_relay_without_auth_works_with_an_empty_username() {
    let s = stack();
    let bob = s.user("bob").expect("bob").clone();
    let relay = login(&s, s.smtp_plain_port, Security::None, "", "");
    let mut session = connect(&relay).await;
    let e = email(&bob.address, "relayed@gmail-like.test");
    session
        .send(&bob.address, &e)
        .await
        .unwrap_or_else(|err| panic!("relay send failed: {err}"));
    session.close().await;
    let raw = in_sink(&s, &e.message_id).await;
    let message = MessageParser::default().parse(&raw).expect("parses");
    assert_eq!(
        message.header_raw("Delivered-To").map(str::trim),
        Some("sink+relayed=gmail-like.test@sink.test")
    );
}

#[tokio::test]
async fn implicit_tls_with_auth_sends() {
    let s = stack();
    let carol = s.user("carol").expect("carol").clone();
    let tls = login(
        &s,
        s.smtps_port,
        Security::Tls,
        &carol.address,
        &carol.password,
    );
    let mut session = connect(&tls).await;
    let e = email(&carol.address, "tls@prospects.test");
    session
        .send(&carol.address, &e)
        .await
        .unwrap_or_else(|err| panic!("TLS send failed: {err}"));
    session.close().await;
    in_sink(&s, &e.message_id).await;
}

#[tokio::test]
async fn several_emails_go_over_one_session() {
    let s = stack();
    let dave = s.user("dave").expect("dave").clone();
    let dave_login = login(
        &s,
        s.smtp_port,
        Security::StartTls,
        &dave.address,
        &dave.password,
    );
    let mut session = connect(&dave_login).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        let e = email(&dave.address, &format!("many{i}@prospects.test"));
        session
            .send(&dave.address, &e)
            .await
            .unwrap_or_else(|err| panic!("send {i} failed: {err}"));
        sent.push(e.message_id);
    }
    session.close().await;
    for id in &sent {
        in_sink(&s, id).await;
    }
}

#[tokio::test]
async fn a_closed_port_is_a_connection_error() {
    let s = stack();
    // Bind a port, then free it: nothing listens there.
    let port = {
        let listener = std::net::TcpListener::bind((s.host.as_str(), 0)).expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let nowhere = login(&s, port, Security::None, "", "");
    match sender().connect(&nowhere).await {
        Err(SendError::Connection(_)) => {}
        Err(other) => panic!("expected Connection, got {other:?}"),
        Ok(_) => panic!("connected to a closed port"),
    }
}

#[tokio::test]
async fn starttls_against_a_self_signed_server_fails_unless_allowed() {
    let s = stack();
    let strict = SmtpSender::new(SmtpSettings {
        timeout: Duration::from_secs(20),
        allow_invalid_certs: false,
        helo_host: None,
    });
    match strict.connect(&alice_login(&s)).await {
        Err(SendError::Connection(reason)) => assert!(reason.contains("TLS"), "{reason}"),
        Err(other) => panic!("expected a TLS Connection error, got {other:?}"),
        Ok(_) => panic!("a self-signed certificate was accepted"),
    }
}
