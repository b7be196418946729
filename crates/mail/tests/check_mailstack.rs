//! The login checks against the real Postfix and Dovecot of the private mail stack
//! (`scripts/mailstack`, started by `scripts/test`). They fail, never skip, without it.

use std::time::Duration;

use reachkit_core::connection_check::{CheckError, MailboxChecker, ServerLogin};
use reachkit_core::inboxes::Security;
use reachkit_core::secrets::Password;
use reachkit_mail::check::{CheckSettings, MailChecker};
use reachkit_testkit::mailstack::MailStack;

fn stack() -> MailStack {
    MailStack::from_env().unwrap_or_else(|e| panic!("{e:#}"))
}

/// The stack's certificates are self-signed.
fn checker() -> MailChecker {
    MailChecker::new(CheckSettings {
        timeout: Duration::from_secs(20),
        allow_invalid_certs: true,
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

#[tokio::test]
async fn postfix_accepts_alice_over_starttls_and_implicit_tls() {
    let s = stack();
    let alice = s.user("alice").expect("alice");
    let c = checker();
    for (port, security) in [
        (s.smtp_port, Security::StartTls),
        (s.smtps_port, Security::Tls),
        (s.smtp_port, Security::None),
    ] {
        let result = c
            .check_smtp(&login(&s, port, security, &alice.address, &alice.password))
            .await;
        assert_eq!(result, Ok(()), "{security:?} on {port}");
    }
}

#[tokio::test]
async fn postfix_refuses_a_wrong_password_and_the_relay_needs_none() {
    let s = stack();
    let alice = s.user("alice").expect("alice");
    let c = checker();
    let refused = c
        .check_smtp(&login(
            &s,
            s.smtp_port,
            Security::StartTls,
            &alice.address,
            "wrong-Pw-9",
        ))
        .await;
    match refused {
        Err(CheckError::AuthFailed(reason)) => assert!(!reason.contains("wrong-Pw-9"), "{reason}"),
        other => panic!("expected a refused login, got {other:?}"),
    }
    let relay = c
        .check_smtp(&login(&s, s.smtp_plain_port, Security::None, "", ""))
        .await;
    assert_eq!(relay, Ok(()));
}

#[tokio::test]
async fn dovecot_accepts_alice_in_plain_text_with_starttls_and_with_tls() {
    let s = stack();
    let alice = s.user("alice").expect("alice");
    let c = checker();
    for (port, security) in [
        (s.imap_port, Security::None),
        (s.imap_port, Security::StartTls),
        (s.imaps_port, Security::Tls),
    ] {
        let result = c
            .check_imap(&login(&s, port, security, &alice.address, &alice.password))
            .await;
        assert_eq!(result, Ok(()), "{security:?} on {port}");
    }
}

#[tokio::test]
async fn dovecot_refuses_a_wrong_password() {
    let s = stack();
    let alice = s.user("alice").expect("alice");
    let result = checker()
        .check_imap(&login(
            &s,
            s.imaps_port,
            Security::Tls,
            &alice.address,
            "wrong-Pw-9",
        ))
        .await;
    match result {
        Err(CheckError::AuthFailed(reason)) => assert!(!reason.contains("wrong-Pw-9"), "{reason}"),
        other => panic!("expected a refused login, got {other:?}"),
    }
}

#[tokio::test]
async fn a_self_signed_certificate_is_refused_unless_allowed() {
    let s = stack();
    let alice = s.user("alice").expect("alice");
    let strict = MailChecker::new(CheckSettings {
        timeout: Duration::from_secs(20),
        allow_invalid_certs: false,
    });
    let smtp = strict
        .check_smtp(&login(
            &s,
            s.smtps_port,
            Security::Tls,
            &alice.address,
            &alice.password,
        ))
        .await;
    assert!(matches!(smtp, Err(CheckError::Tls(_))), "{smtp:?}");
    let imap = strict
        .check_imap(&login(
            &s,
            s.imaps_port,
            Security::Tls,
            &alice.address,
            &alice.password,
        ))
        .await;
    assert!(matches!(imap, Err(CheckError::Tls(_))), "{imap:?}");
}
