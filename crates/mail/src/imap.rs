//! Inbox sync over IMAP: the [`MailboxReader`] port of `reachkit-core::sync` over async-imap, and
//! [`MailAnalyzer`], the [`InboundAnalyzer`] over [`crate::inbound::classify`] and mail-parser.
//!
//! Connecting follows the connection check (`check.rs`): plain, implicit TLS or STARTTLS as the
//! inbox says, the greeting read by hand (async-imap has no connector), LOGIN. Folders are opened
//! with EXAMINE (read-only); only warmup emails are touched: the folder is then SELECTed to mark
//! them `\Seen` and, from the spam folder, `UID MOVE` them to INBOX (docs/WARMUP.md). Messages are fetched with
//! `UID FETCH n:* (UID BODY.PEEK[])` and collected before the next command.

use std::time::Duration;

use async_imap::types::NameAttribute;
use async_imap::{Client, Session};
use async_trait::async_trait;
use futures_util::TryStreamExt;
use mail_parser::{Address, MessageParser, MimeHeaders};
use mail_send::smtp::tls::build_tls_connector;
use reachkit_core::connection_check::ServerLogin;
use reachkit_core::inboxes::Security;
use reachkit_core::sync::{
    BouncedAddress, FetchedMessage, InboundAnalyzer, InboundAttachment, InboundKind,
    InboundMessage, MAX_ATTACHMENT_BYTES, MailboxReader, MailboxSession, ReadError, Recipient,
};
use rustls::pki_types::ServerName;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::check::install_crypto_provider;
use crate::inbound::{Kind, classify};

/// A byte stream async-imap can run on (plain TCP or TLS).
pub trait ImapIo: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> ImapIo for T {}

pub(crate) type Io = Box<dyn ImapIo>;

/// Settings of the IMAP reader.
#[derive(Debug, Clone)]
pub struct ImapSettings {
    /// The longest a connection + login, or a single command, may take.
    pub timeout: Duration,
    /// Accept any certificate (self-signed test servers). Never in production.
    pub allow_invalid_certs: bool,
}

impl Default for ImapSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            allow_invalid_certs: false,
        }
    }
}

/// [`MailboxReader`] over async-imap.
#[derive(Debug, Clone)]
pub struct ImapReader {
    settings: ImapSettings,
}

impl ImapReader {
    #[must_use]
    pub fn new(settings: ImapSettings) -> Self {
        install_crypto_provider();
        Self { settings }
    }

    async fn tls(&self, host: &str, tcp: TcpStream) -> Result<Io, ReadError> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| ReadError::Connection(format!("{host:?} is not a valid TLS name")))?;
        let connector = build_tls_connector(self.settings.allow_invalid_certs)
            .map_err(ReadError::Connection)?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| ReadError::Connection(format!("TLS: {e}")))?;
        Ok(Box::new(tls))
    }

    pub(crate) async fn connect(&self, login: &ServerLogin) -> Result<Session<Io>, ReadError> {
        let tcp = TcpStream::connect((login.host.as_str(), login.port))
            .await
            .map_err(|e| ReadError::Connection(e.to_string()))?;
        let client = match login.security {
            Security::None => greeted(Client::new(Box::new(tcp) as Io)).await?,
            Security::Tls => greeted(Client::new(self.tls(&login.host, tcp).await?)).await?,
            Security::StartTls => {
                let mut client = greeted(Client::new(tcp)).await?;
                client
                    .run_command_and_check_ok("STARTTLS", None)
                    .await
                    .map_err(|e| ReadError::Connection(format!("STARTTLS refused: {e}")))?;
                // No greeting after STARTTLS.
                Client::new(self.tls(&login.host, client.into_inner()).await?)
            }
        };
        client
            .login(&login.username, login.password.expose())
            .await
            .map_err(|(e, _)| match e {
                async_imap::error::Error::No(m) | async_imap::error::Error::Bad(m) => {
                    ReadError::Auth(m)
                }
                other => ReadError::Protocol(other.to_string()),
            })
    }
}

async fn greeted<T>(mut client: Client<T>) -> Result<Client<T>, ReadError>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    match client.read_response().await {
        Ok(Some(_)) => Ok(client),
        Ok(None) => Err(ReadError::Connection(
            "the server closed the connection before its greeting".into(),
        )),
        Err(e) => Err(ReadError::Connection(e.to_string())),
    }
}

#[async_trait]
impl MailboxReader for ImapReader {
    async fn open(&self, login: &ServerLogin) -> Result<Box<dyn MailboxSession>, ReadError> {
        let session = tokio::time::timeout(self.settings.timeout, self.connect(login))
            .await
            .map_err(|_| ReadError::Connection("timed out".into()))??;
        Ok(Box::new(ImapSession {
            session,
            timeout: self.settings.timeout,
        }))
    }
}

struct ImapSession {
    session: Session<Io>,
    timeout: Duration,
}

fn protocol(e: &async_imap::error::Error) -> ReadError {
    ReadError::Protocol(e.to_string())
}

/// Names a spam folder is known by when the server does not flag it `\Junk`.
const SPAM_NAMES: [&str; 6] = [
    "junk",
    "spam",
    "[gmail]/spam",
    "junk e-mail",
    "junk email",
    "bulk mail",
];

#[async_trait]
impl MailboxSession for ImapSession {
    async fn folders(&mut self) -> Result<Vec<String>, ReadError> {
        let names: Vec<(String, bool, bool)> = tokio::time::timeout(self.timeout, async {
            let stream = self
                .session
                .list(Some(""), Some("*"))
                .await
                .map_err(|e| protocol(&e))?;
            let names: Vec<_> = stream.try_collect().await.map_err(|e| protocol(&e))?;
            Ok::<_, ReadError>(
                names
                    .iter()
                    .map(|n| {
                        let junk = n.attributes().iter().any(|a| {
                            matches!(a, NameAttribute::Junk)
                                || matches!(a, NameAttribute::Extension(x) if x.eq_ignore_ascii_case("\\Spam"))
                        });
                        let noselect = n.attributes().iter().any(|a| matches!(a, NameAttribute::NoSelect));
                        (n.name().to_owned(), junk, noselect)
                    })
                    .collect(),
            )
        })
        .await
        .map_err(|_| ReadError::Connection("LIST timed out".into()))??;
        let mut folders = vec!["INBOX".to_owned()];
        let spam = names
            .iter()
            .find(|(_, junk, noselect)| *junk && !noselect)
            .or_else(|| {
                names.iter().find(|(name, _, noselect)| {
                    !noselect && SPAM_NAMES.contains(&name.to_lowercase().as_str())
                })
            });
        if let Some((name, _, _)) = spam {
            folders.push(name.clone());
        }
        Ok(folders)
    }

    async fn examine(&mut self, folder: &str) -> Result<u32, ReadError> {
        let mailbox = tokio::time::timeout(self.timeout, self.session.examine(folder))
            .await
            .map_err(|_| ReadError::Connection("EXAMINE timed out".into()))?
            .map_err(|e| protocol(&e))?;
        mailbox
            .uid_validity
            .ok_or_else(|| ReadError::Protocol(format!("{folder:?} has no UIDVALIDITY")))
    }

    async fn fetch_after(
        &mut self,
        after: u32,
        limit: usize,
    ) -> Result<Vec<FetchedMessage>, ReadError> {
        let start = after.saturating_add(1);
        tokio::time::timeout(self.timeout, async {
            let stream = self
                .session
                .uid_fetch(format!("{start}:*"), "(UID BODY.PEEK[])")
                .await
                .map_err(|e| protocol(&e))?;
            let fetches: Vec<_> = stream.try_collect().await.map_err(|e| protocol(&e))?;
            // `n:*` always returns the last message, even when its UID is below n.
            let mut out: Vec<FetchedMessage> = fetches
                .iter()
                .filter_map(|f| {
                    let uid = f.uid?;
                    (uid > after).then(|| FetchedMessage {
                        uid,
                        raw: f.body().unwrap_or_default().to_vec(),
                    })
                })
                .collect();
            out.sort_by_key(|m| m.uid);
            out.truncate(limit);
            Ok(out)
        })
        .await
        .map_err(|_| ReadError::Connection("FETCH timed out".into()))?
    }

    async fn settle_warmup(
        &mut self,
        folder: &str,
        uids: &[u32],
        move_to_inbox: bool,
    ) -> Result<(), ReadError> {
        if uids.is_empty() {
            return Ok(());
        }
        let set = uids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        tokio::time::timeout(self.timeout, async {
            // SELECT (read-write) the folder EXAMINE opened; fetching from it goes on as before.
            self.session
                .select(folder)
                .await
                .map_err(|e| protocol(&e))?;
            let _: Vec<_> = self
                .session
                .uid_store(&set, "+FLAGS.SILENT (\\Seen)")
                .await
                .map_err(|e| protocol(&e))?
                .try_collect()
                .await
                .map_err(|e| protocol(&e))?;
            if move_to_inbox && self.session.uid_mv(&set, "INBOX").await.is_err() {
                // No MOVE (RFC 6851): COPY, flag the originals \Deleted and expunge them
                // (UIDPLUS: only these; without it they stay flagged for the client to purge).
                self.session
                    .uid_copy(&set, "INBOX")
                    .await
                    .map_err(|e| protocol(&e))?;
                let _: Vec<_> = self
                    .session
                    .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                    .await
                    .map_err(|e| protocol(&e))?
                    .try_collect()
                    .await
                    .map_err(|e| protocol(&e))?;
                if let Ok(stream) = self.session.uid_expunge(&set).await {
                    let _: Result<Vec<_>, _> = stream.try_collect().await;
                }
            }
            Ok(())
        })
        .await
        .map_err(|_| ReadError::Connection("STORE/MOVE timed out".into()))?
    }

    async fn close(mut self: Box<Self>) {
        let _ = tokio::time::timeout(self.timeout, self.session.logout()).await;
    }
}

/// [`InboundAnalyzer`] over [`classify`] and mail-parser.
#[derive(Debug, Clone, Copy, Default)]
pub struct MailAnalyzer;

fn recipients(address: Option<&Address<'_>>) -> Vec<Recipient> {
    address
        .map(|a| {
            a.iter()
                .filter_map(|addr| {
                    addr.address().map(|e| Recipient {
                        email: e.trim().to_lowercase(),
                        name: addr.name().map(str::to_owned),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

impl InboundAnalyzer for MailAnalyzer {
    fn analyze(&self, raw: &[u8]) -> InboundMessage {
        let c = classify(raw);
        let kind = match c.kind {
            Kind::Reply => InboundKind::Reply,
            Kind::AutoReply => InboundKind::AutoReply,
            Kind::Other => InboundKind::Other,
            Kind::Bounce => {
                let info = c.bounce.clone();
                InboundKind::Bounce {
                    recipients: info
                        .as_ref()
                        .map(|i| {
                            i.recipients
                                .iter()
                                .map(|r| BouncedAddress {
                                    email: r.recipient.clone(),
                                    original: r.original_recipient.clone(),
                                    status: r.status.clone(),
                                    hard: r.hard && !r.delayed,
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    original_message_id: info.and_then(|i| i.original_message_id),
                }
            }
        };
        let parsed = MessageParser::default().parse(raw);
        let warmup = parsed.as_ref().and_then(|m| {
            m.header_raw(reachkit_core::warmup::MARKER_HEADER)
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        });
        let (to, cc, html, date, attachments) = match &parsed {
            None => (Vec::new(), Vec::new(), String::new(), None, Vec::new()),
            Some(m) => {
                let html = (0..m.html_body_count())
                    .filter_map(|i| m.body_html(i))
                    .collect::<Vec<_>>()
                    .join("\n");
                let date = m
                    .date()
                    .and_then(|d| OffsetDateTime::from_unix_timestamp(d.to_timestamp()).ok());
                let attachments = m
                    .attachments()
                    .map(|part| {
                        let bytes = part.contents();
                        let content_type = part
                            .content_type()
                            .map(|t| match t.subtype() {
                                Some(sub) => format!("{}/{}", t.ctype(), sub),
                                None => t.ctype().to_owned(),
                            })
                            .unwrap_or_else(|| "application/octet-stream".to_owned());
                        InboundAttachment {
                            filename: part.attachment_name().unwrap_or("attachment").to_owned(),
                            content_type,
                            size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
                            content: (bytes.len() <= MAX_ATTACHMENT_BYTES).then(|| bytes.to_vec()),
                        }
                    })
                    .collect();
                (
                    recipients(m.to()),
                    recipients(m.cc()),
                    html,
                    date,
                    attachments,
                )
            }
        };
        InboundMessage {
            kind,
            message_id: c.message_id,
            in_reply_to: c.in_reply_to,
            references: c.references,
            from: c.from.map(|f| f.trim().to_lowercase()),
            to,
            cc,
            subject: c.subject.unwrap_or_default(),
            text: c.text,
            html,
            date,
            attachments,
            digest: hex::encode(Sha256::digest(raw)),
            warmup,
        }
    }
}
