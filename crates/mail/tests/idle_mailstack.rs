//! IMAP IDLE against the real Dovecot of the private mail stack (`scripts/mailstack`, started by
//! `scripts/test`): new mail delivered while the watcher idles is reported. Fails, never skips,
//! without the stack.

use std::time::Duration;

use reachkit_core::connection_check::ServerLogin;
use reachkit_core::inbox_watch::MailboxWatcher;
use reachkit_core::inboxes::Security;
use reachkit_core::secrets::Password;
use reachkit_core::sync::ReadError;
use reachkit_mail::imap::ImapSettings;
use reachkit_mail::imap_idle::ImapWatcher;
use reachkit_testkit::mailstack::MailStack;
use uuid::Uuid;

/// Only bounds a failure: the wait returns as soon as the server reports the message.
const WAIT: Duration = Duration::from_secs(120);

fn stack() -> MailStack {
    MailStack::from_env().unwrap_or_else(|e| panic!("{e:#}"))
}

fn watcher() -> ImapWatcher {
    ImapWatcher::new(ImapSettings {
        timeout: Duration::from_secs(20),
        allow_invalid_certs: true,
    })
}

fn login(stack: &MailStack, security: Security, port: u16, user: &str, pw: &str) -> ServerLogin {
    ServerLogin {
        host: stack.host.clone(),
        port,
        security,
        username: user.into(),
        password: Password::new(pw),
    }
}

#[tokio::test]
async fn dovecot_advertises_idle_and_a_message_delivered_while_idling_is_reported_as_new_mail() {
    let s = stack();
    let carol = s.user("carol").expect("carol").clone();
    let mut session = watcher()
        .connect(&login(
            &s,
            Security::StartTls,
            s.imap_port,
            &carol.address,
            &carol.password,
        ))
        .await
        .expect("connect")
        .expect("Dovecot has IDLE");
    let tag = Uuid::new_v4().simple().to_string();
    let raw = format!(
        "From: <ada-{tag}@prospects.test>\r\nTo: {}\r\nSubject: idle {tag}\r\n\
         Message-ID: <idle-{tag}@prospects.test>\r\n\r\nHello.\r\n",
        carol.address
    );
    // Delivered while the watcher waits: IDLE reports it (without IDLE the wait would end after
    // WAIT with `false`; WAIT only bounds a failure).
    let deliver = async {
        tokio::task::yield_now().await;
        s.send_inbound(
            &format!("ada-{tag}@prospects.test"),
            &[&carol.address],
            raw.as_bytes(),
        )
        .await
        .expect("delivered");
    };
    let (new_mail, ()) = tokio::join!(session.wait(WAIT), deliver);
    assert!(new_mail.expect("idle"));
    // The connection stays usable: IDLE is re-issued on the next wait.
    let raw2 = raw.replace("idle-", "idle2-");
    let deliver = async {
        s.send_inbound(
            &format!("ada-{tag}@prospects.test"),
            &[&carol.address],
            raw2.as_bytes(),
        )
        .await
        .expect("delivered");
    };
    let (new_mail, ()) = tokio::join!(session.wait(WAIT), deliver);
    assert!(new_mail.expect("idle again"));
    session.close().await;
}

#[tokio::test]
async fn a_refused_login_is_an_auth_error() {
    let s = stack();
    let carol = s.user("carol").expect("carol");
    let error = watcher()
        .connect(&login(
            &s,
            Security::Tls,
            s.imaps_port,
            &carol.address,
            "wrong-password",
        ))
        .await
        .err()
        .expect("refused");
    assert!(matches!(error, ReadError::Auth(_)), "{error:?}");
}
