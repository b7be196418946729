//! Sending over SMTP: the [`MailSender`] / [`MailSession`] ports of `reachkit-core` over
//! mail-send, and [`compose`], the pure function that turns an [`OutgoingEmail`] into RFC 5322
//! bytes with mail-builder.
//!
//! A session is opened per inbox (TCP, STARTTLS or implicit TLS as the login says, EHLO, AUTH
//! only when a username is given) and carries many transactions: `MAIL FROM`, one `RCPT TO`,
//! `DATA`. Outcomes (docs/ENGINE.md):
//!
//! | what happened | [`SendError`] | session afterwards |
//! |---|---|---|
//! | 2xx after DATA | `Ok(())` | usable |
//! | 5xx to MAIL, RCPT or DATA | `Rejected { code, status, message }` | usable (RSET sent) |
//! | 4xx to MAIL, RCPT or DATA | `Deferred { code, status, message }` | usable (RSET sent) |
//! | I/O error, timeout, TLS error, unparseable or out-of-protocol reply | `Connection` | drop it |
//! | AUTH refused with 5xx, or no usable mechanism | `Auth` (only from `connect`) | none |
//!
//! A 4xx answer to AUTH (`454 4.7.0 Temporary authentication failure`) is `Connection`: it is
//! not a wrong password. Messages are the servers' replies and transport errors: never the
//! password, never the message body.

use std::time::Duration;

use async_trait::async_trait;
use mail_send::mail_builder::MessageBuilder;
use mail_send::mail_builder::headers::address::Address;
use mail_send::mail_builder::headers::date::Date;
use mail_send::mail_builder::headers::message_id::MessageId;
use mail_send::mail_builder::headers::raw::Raw;
use mail_send::mail_builder::headers::text::Text;
use mail_send::mail_builder::headers::url::URL;
use mail_send::smtp::message::Parameters;
use mail_send::{Credentials, SmtpClient, SmtpClientBuilder};
use reachkit_core::connection_check::ServerLogin;
use reachkit_core::inboxes::Security;
use reachkit_core::sending::{MailSender, MailSession, Mailbox, OutgoingEmail, SendError};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::check::install_crypto_provider;

/// How SMTP sessions behave.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// The longest connecting (TCP, TLS, EHLO, AUTH) may take, and the longest any one command
    /// may wait for its reply (DATA: the whole message and the final reply).
    pub timeout: Duration,
    /// Accept any certificate (self-signed test servers). Never in production.
    pub allow_invalid_certs: bool,
    /// The name we give in EHLO; `None` for mail-send's default (the machine's host name).
    pub helo_host: Option<String>,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            allow_invalid_certs: false,
            helo_host: None,
        }
    }
}

/// [`MailSender`] over real SMTP connections (mail-send).
#[derive(Debug, Clone)]
pub struct SmtpSender {
    settings: SmtpSettings,
}

impl SmtpSender {
    #[must_use]
    pub fn new(settings: SmtpSettings) -> Self {
        install_crypto_provider();
        Self { settings }
    }

    fn builder<'a>(&self, login: &'a ServerLogin) -> Result<SmtpClientBuilder<&'a str>, SendError> {
        let mut builder = SmtpClientBuilder::new(login.host.as_str(), login.port)
            .map_err(|e| SendError::Connection(format!("TLS setup failed: {e}")))?
            .timeout(self.settings.timeout);
        if let Some(host) = &self.settings.helo_host {
            builder = builder.helo_host(host.clone());
        }
        if self.settings.allow_invalid_certs {
            builder = builder.allow_invalid_certs();
        }
        if !login.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                login.username.as_str(),
                login.password.expose(),
            ));
        }
        Ok(builder)
    }

    async fn open(&self, login: &ServerLogin) -> Result<Box<dyn MailSession>, SendError> {
        let builder = self.builder(login)?;
        // TCP_NODELAY: mail-send writes the data and its final `CRLF . CRLF` separately; with
        // Nagle's algorithm the small second write waits for the peer's delayed ACK (about 40 ms
        // per email on Linux), which capped a session at about 25 emails per second.
        Ok(match login.security {
            Security::None => {
                let client = builder.connect_plain().await.map_err(connect_error)?;
                let _ = client.stream.set_nodelay(true);
                Box::new(SmtpSession::new(client))
            }
            Security::StartTls | Security::Tls => {
                let client = builder
                    .implicit_tls(login.security == Security::Tls)
                    .connect()
                    .await
                    .map_err(connect_error)?;
                let _ = client.stream.get_ref().0.set_nodelay(true);
                Box::new(SmtpSession::new(client))
            }
        })
    }
}

#[async_trait]
impl MailSender for SmtpSender {
    async fn connect(&self, login: &ServerLogin) -> Result<Box<dyn MailSession>, SendError> {
        // connect_plain bounds only the TCP connect by the timeout: bound the whole opening.
        tokio::time::timeout(self.settings.timeout, self.open(login))
            .await
            .map_err(|_| {
                SendError::Connection(format!(
                    "no SMTP session with {}:{} within {:?}",
                    login.host, login.port, self.settings.timeout
                ))
            })?
    }
}

/// One open SMTP connection.
struct SmtpSession<T: AsyncRead + AsyncWrite + Unpin + Send> {
    client: SmtpClient<T>,
    /// A transaction was left half-open and RSET failed: the connection is not trusted any more.
    broken: bool,
}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> SmtpSession<T> {
    const fn new(client: SmtpClient<T>) -> Self {
        Self {
            client,
            broken: false,
        }
    }

    async fn transaction(
        &mut self,
        envelope_from: &str,
        to: &str,
        body: &[u8],
    ) -> Result<(), SendError> {
        let none = Parameters::default();
        self.client
            .mail_from(envelope_from, &none)
            .await
            .map_err(send_error)?;
        self.client.rcpt_to(to, &none).await.map_err(send_error)?;
        // mail-send ends the data with CRLF . CRLF itself: drop our final CRLF so the message
        // arrives byte for byte as composed.
        let body = body.strip_suffix(b"\r\n").unwrap_or(body);
        self.client.data(body).await.map_err(send_error)
    }
}

#[async_trait]
impl<T: AsyncRead + AsyncWrite + Unpin + Send> MailSession for SmtpSession<T> {
    async fn send(&mut self, envelope_from: &str, email: &OutgoingEmail) -> Result<(), SendError> {
        if self.broken {
            return Err(SendError::Connection(
                "the session was lost after an earlier refusal (RSET failed)".into(),
            ));
        }
        let body = compose(email);
        let result = self
            .transaction(envelope_from, &email.to.email, &body)
            .await;
        if let Err(e) = &result
            && e.session_usable()
        {
            // The server refused a command: end the transaction so the next one starts clean.
            // (After a refused DATA the server has reset already; RSET is harmless then.)
            if self.client.rset().await.is_err() {
                self.broken = true;
            }
        }
        result
    }

    async fn close(self: Box<Self>) {
        // Best effort: the connection is dropped whatever the server says.
        let _ = self.client.quit().await;
    }
}

/// Classifies a failure of a command inside a transaction.
fn send_error(e: mail_send::Error) -> SendError {
    use mail_send::Error as E;
    match e {
        E::UnexpectedReply(reply) => {
            let status = enhanced_status(reply.esc, &reply.message);
            let message = reply.message.trim().to_owned();
            match reply.code {
                500..=599 => SendError::Rejected {
                    code: reply.code,
                    status,
                    message,
                },
                400..=499 => SendError::Deferred {
                    code: reply.code,
                    status,
                    message,
                },
                code => SendError::Connection(format!("unexpected reply {code} {message}")),
            }
        }
        E::Timeout => SendError::Connection("the server did not answer in time".into()),
        E::Io(e) => SendError::Connection(e.to_string()),
        other => SendError::Connection(other.to_string()),
    }
}

/// Classifies a failure while opening a session.
fn connect_error(e: mail_send::Error) -> SendError {
    use mail_send::Error as E;
    match e {
        E::AuthenticationFailed(reply) if (400..500).contains(&reply.code) => {
            SendError::Connection(format!(
                "temporary authentication failure: {} {}",
                reply.code,
                reply.message.trim()
            ))
        }
        E::AuthenticationFailed(reply) => {
            SendError::Auth(format!("{} {}", reply.code, reply.message.trim()))
        }
        E::UnsupportedAuthMechanism => SendError::Auth(
            "the server offers no authentication method we support (AUTH not advertised?)".into(),
        ),
        E::Auth(e) => SendError::Auth(e.to_string()),
        E::MissingCredentials => SendError::Auth("the server asked for credentials".into()),
        E::MissingStartTls => SendError::Connection("the server does not offer STARTTLS".into()),
        E::InvalidTLSName => {
            SendError::Connection("the host is not a valid TLS server name".into())
        }
        E::Tls(e) => SendError::Connection(format!("TLS failed: {e}")),
        E::UnexpectedReply(reply) => SendError::Connection(format!(
            "the server refused the session: {} {}",
            reply.code,
            reply.message.trim()
        )),
        other => send_error(other),
    }
}

/// The enhanced status code (RFC 3463) of a reply: the one the parser found, or the first
/// `d.d.d` word of the message.
fn enhanced_status(esc: [u8; 3], message: &str) -> Option<String> {
    if esc[0] != 0 {
        return Some(format!("{}.{}.{}", esc[0], esc[1], esc[2]));
    }
    let word = message.split_whitespace().next()?;
    let mut parts = word.split('.');
    let (class, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
    let numeric = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    (parts.next().is_none()
        && matches!(class, "2" | "4" | "5")
        && numeric(subject, 3)
        && numeric(detail, 3))
    .then(|| word.to_owned())
}

/// Headers [`compose`] writes itself: an extra header with one of these names is dropped.
const OWN_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

/// A Message-ID as it goes between angle brackets: surrounding brackets and blanks removed.
fn bare_id(id: &str) -> &str {
    let id = id.trim();
    let id = id.strip_prefix('<').unwrap_or(id);
    id.strip_suffix('>').unwrap_or(id).trim()
}

/// One line: every run of CR/LF (and the blanks around it) becomes one space.
fn one_line(value: &str) -> String {
    if !value.contains(['\r', '\n']) {
        return value.to_owned();
    }
    value
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn address(mailbox: &Mailbox) -> Address<'static> {
    let name = mailbox
        .name
        .as_deref()
        .map(one_line)
        .filter(|n| !n.trim().is_empty());
    Address::new_address(name, mailbox.email.trim().to_owned())
}

/// A header field name as RFC 5322 allows it: printable ASCII except the colon.
fn valid_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

/// The email as RFC 5322 bytes (CRLF line ends): From (with display name), To, Reply-To,
/// Subject, Date, our Message-ID, In-Reply-To and References (each id in one pair of angle
/// brackets), List-Unsubscribe and List-Unsubscribe-Post when given, the extra headers, then the
/// text part alone or text and HTML as `multipart/alternative`.
///
/// Non-ASCII names and subjects are RFC 2047 encoded; long headers are folded. Line breaks in a
/// subject, a display name or an extra header's value become spaces (a header is one logical
/// line; this also stops header injection). Extra headers with an invalid name or a name that
/// [`compose`] writes itself are dropped.
#[must_use]
pub fn compose(email: &OutgoingEmail) -> Vec<u8> {
    let mut builder = MessageBuilder::new()
        .from(address(&email.from))
        .to(address(&email.to));
    if let Some(reply_to) = email.reply_to.as_deref().map(str::trim)
        && !reply_to.is_empty()
    {
        builder = builder.reply_to(Address::new_address(None::<&str>, reply_to.to_owned()));
    }
    builder = builder
        .subject(Text::new(one_line(&email.subject)))
        .date(Date::new(email.date.unix_timestamp()))
        .message_id(MessageId::new(bare_id(&email.message_id).to_owned()));
    if let Some(parent) = &email.in_reply_to {
        builder = builder.in_reply_to(MessageId::new(bare_id(parent).to_owned()));
    }
    let references: Vec<String> = email
        .references
        .iter()
        .map(|id| bare_id(id))
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect();
    if !references.is_empty() {
        builder = builder.references(MessageId::from(references));
    }
    if let Some(unsubscribe) = &email.list_unsubscribe {
        // URL::new_list puts each URL between angle brackets itself.
        builder = builder
            .header(
                "List-Unsubscribe",
                URL::new_list(
                    [bare_id(&unsubscribe.url), bare_id(&unsubscribe.mailto)]
                        .into_iter()
                        .map(str::to_owned),
                ),
            )
            .header(
                "List-Unsubscribe-Post",
                Raw::new("List-Unsubscribe=One-Click"),
            );
    }
    for (name, value) in &email.extra_headers {
        let name = name.trim();
        if !valid_header_name(name) || OWN_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            continue;
        }
        let value = one_line(value);
        builder = if value.is_ascii() {
            builder.header(name.to_owned(), Raw::new(value))
        } else {
            builder.header(name.to_owned(), Text::new(value))
        };
    }
    builder = builder.text_body(email.text.clone());
    if let Some(html) = &email.html {
        builder = builder.html_body(html.clone());
    }
    let mut out = Vec::with_capacity(email.text.len() * 2 + 1024);
    builder
        .write_to(&mut out)
        .expect("writing to a Vec never fails");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_enhanced_status_is_read_from_the_parser_or_the_message() {
        assert_eq!(
            enhanced_status([5, 1, 1], "User unknown"),
            Some("5.1.1".into())
        );
        assert_eq!(
            enhanced_status([0, 0, 0], "4.7.1 Try again"),
            Some("4.7.1".into())
        );
        assert_eq!(enhanced_status([0, 0, 0], "Try again"), None);
        assert_eq!(enhanced_status([0, 0, 0], "1.2.3 nope"), None);
        assert_eq!(enhanced_status([0, 0, 0], ""), None);
    }

    #[test]
    fn ids_lose_their_brackets_once() {
        assert_eq!(bare_id("<a@b>"), "a@b");
        assert_eq!(bare_id(" a@b "), "a@b");
    }
}
