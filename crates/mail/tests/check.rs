//! The login checks against tiny in-process fake SMTP and IMAP servers.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reachkit_core::connection_check::{CheckError, MailboxChecker, ServerLogin};
use reachkit_core::inboxes::Security;
use reachkit_core::secrets::Password;
use reachkit_mail::check::{CheckSettings, MailChecker};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const USER: &str = "ann@acme.test";
const PASSWORD: &str = "correct horse";

fn checker() -> MailChecker {
    MailChecker::new(CheckSettings {
        timeout: Duration::from_secs(10),
        allow_invalid_certs: false,
    })
}

fn login(port: u16, security: Security, username: &str, password: &str) -> ServerLogin {
    ServerLogin {
        host: "127.0.0.1".into(),
        port,
        security,
        username: username.into(),
        password: Password::new(password),
    }
}

/// A fake SMTP server for one connection: EHLO advertises AUTH PLAIN (unless `auth` is false),
/// AUTH PLAIN answers 235 for the right credentials and 535 otherwise. Returns the commands seen.
async fn fake_smtp(auth: bool) -> (u16, tokio::task::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let expected = STANDARD.encode(format!("\0{USER}\0{PASSWORD}"));
    let handle = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut seen = Vec::new();
        write
            .write_all(b"220 fake.test ESMTP\r\n")
            .await
            .expect("greet");
        while let Ok(Some(line)) = lines.next_line().await {
            let upper = line.to_ascii_uppercase();
            let reply: &[u8] = if upper.starts_with("EHLO") {
                if auth {
                    b"250-fake.test\r\n250 AUTH PLAIN\r\n"
                } else {
                    b"250 fake.test\r\n"
                }
            } else if let Some(given) = line.strip_prefix("AUTH PLAIN ") {
                if given == expected {
                    b"235 2.7.0 Authentication successful\r\n"
                } else {
                    b"535 5.7.8 Authentication credentials invalid\r\n"
                }
            } else if upper.starts_with("QUIT") {
                seen.push("QUIT".to_owned());
                let _ = write.write_all(b"221 2.0.0 Bye\r\n").await;
                break;
            } else {
                b"502 5.5.2 Command not recognized\r\n"
            };
            seen.push(
                upper
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" "),
            );
            write.write_all(reply).await.expect("reply");
        }
        seen
    });
    (port, handle)
}

/// A fake IMAP server for one connection: LOGIN answers OK for the right credentials, NO
/// otherwise; LOGOUT says BYE.
async fn fake_imap() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        write
            .write_all(b"* OK [CAPABILITY IMAP4rev1] fake ready\r\n")
            .await
            .expect("greet");
        while let Ok(Some(line)) = lines.next_line().await {
            let mut parts = line.splitn(3, ' ');
            let tag = parts.next().unwrap_or("*").to_owned();
            let command = parts.next().unwrap_or("").to_ascii_uppercase();
            let rest = parts.next().unwrap_or("");
            let reply = match command.as_str() {
                "LOGIN" if rest == format!("\"{USER}\" \"{PASSWORD}\"") => {
                    format!("{tag} OK LOGIN completed\r\n")
                }
                "LOGIN" => format!("{tag} NO [AUTHENTICATIONFAILED] Invalid credentials\r\n"),
                "LOGOUT" => format!("* BYE logging out\r\n{tag} OK LOGOUT completed\r\n"),
                _ => format!("{tag} BAD unknown command\r\n"),
            };
            write.write_all(reply.as_bytes()).await.expect("reply");
            if command == "LOGOUT" {
                break;
            }
        }
    });
    port
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

#[tokio::test]
async fn smtp_with_the_right_credentials_authenticates_and_quits() {
    let (port, server) = fake_smtp(true).await;
    let result = checker()
        .check_smtp(&login(port, Security::None, USER, PASSWORD))
        .await;
    assert_eq!(result, Ok(()));
    let seen = server.await.expect("server");
    assert!(
        seen.first().is_some_and(|c| c.starts_with("EHLO")),
        "{seen:?}"
    );
    assert!(seen.iter().any(|c| c == "AUTH PLAIN"), "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("QUIT"));
}

#[tokio::test]
async fn smtp_with_a_wrong_password_is_refused_with_the_servers_reply() {
    let (port, _server) = fake_smtp(true).await;
    let result = checker()
        .check_smtp(&login(port, Security::None, USER, "wrong-Pw-123"))
        .await;
    match result {
        Err(CheckError::AuthFailed(reason)) => {
            assert!(reason.contains("535"), "{reason}");
            assert!(!reason.contains("wrong-Pw-123"));
        }
        other => panic!("expected an authentication failure, got {other:?}"),
    }
}

#[tokio::test]
async fn smtp_without_a_username_does_not_authenticate() {
    let (port, server) = fake_smtp(false).await;
    let result = checker()
        .check_smtp(&login(port, Security::None, "", ""))
        .await;
    assert_eq!(result, Ok(()));
    let seen = server.await.expect("server");
    assert!(!seen.iter().any(|c| c.starts_with("AUTH")), "{seen:?}");
}

#[tokio::test]
async fn starttls_is_required_when_configured() {
    let (port, _server) = fake_smtp(true).await;
    let result = checker()
        .check_smtp(&login(port, Security::StartTls, USER, PASSWORD))
        .await;
    assert!(matches!(result, Err(CheckError::Tls(_))), "{result:?}");
}

#[tokio::test]
async fn an_unreachable_port_is_an_error_for_both_protocols() {
    let port = closed_port().await;
    let c = checker();
    assert!(matches!(
        c.check_smtp(&login(port, Security::None, USER, PASSWORD))
            .await,
        Err(CheckError::Unreachable(_))
    ));
    assert!(matches!(
        c.check_imap(&login(port, Security::None, USER, PASSWORD))
            .await,
        Err(CheckError::Unreachable(_))
    ));
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let c = MailChecker::new(CheckSettings {
        timeout: Duration::from_millis(200),
        allow_invalid_certs: false,
    });
    let result = c
        .check_imap(&login(port, Security::None, USER, PASSWORD))
        .await;
    drop(listener);
    assert_eq!(result, Err(CheckError::Timeout));
}

#[tokio::test]
async fn imap_with_the_right_credentials_logs_in_and_out() {
    let port = fake_imap().await;
    let result = checker()
        .check_imap(&login(port, Security::None, USER, PASSWORD))
        .await;
    assert_eq!(result, Ok(()));
}

#[tokio::test]
async fn imap_with_a_wrong_password_is_refused_with_the_servers_reason() {
    let port = fake_imap().await;
    let result = checker()
        .check_imap(&login(port, Security::None, USER, "wrong-Pw-123"))
        .await;
    match result {
        Err(CheckError::AuthFailed(reason)) => {
            assert!(reason.contains("Invalid credentials"), "{reason}");
            assert!(!reason.contains("wrong-Pw-123"));
        }
        other => panic!("expected an authentication failure, got {other:?}"),
    }
}
