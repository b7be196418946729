//! IMAP IDLE (RFC 2177) over async-imap: the [`MailboxWatcher`] port of
//! `reachkit-core::inbox_watch`. Connects like the sync reader ([`ImapReader`]), asks for the
//! CAPABILITY list (no `IDLE`: `None`, the inbox is only polled), opens INBOX read-only (EXAMINE)
//! and waits in IDLE. An untagged EXISTS or RECENT means new mail; other untagged responses
//! (flag changes, EXPUNGE, `* OK still here`) keep it waiting.

use std::time::Duration;

use async_imap::Session;
use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{MailboxDatum, Response};
use async_imap::types::UnsolicitedResponse;
use async_trait::async_trait;
use reachkit_core::connection_check::ServerLogin;
use reachkit_core::inbox_watch::{IdleSession, MailboxWatcher};
use reachkit_core::sync::ReadError;
use tokio::time::{Instant, timeout};

use crate::imap::{ImapReader, ImapSettings, Io};

/// [`MailboxWatcher`] over async-imap.
#[derive(Debug, Clone)]
pub struct ImapWatcher {
    reader: ImapReader,
    timeout: Duration,
}

impl ImapWatcher {
    /// `settings.timeout` bounds connecting, logging in and every command; never the IDLE wait.
    #[must_use]
    pub fn new(settings: ImapSettings) -> Self {
        Self {
            timeout: settings.timeout,
            reader: ImapReader::new(settings),
        }
    }
}

fn protocol(e: &async_imap::error::Error) -> ReadError {
    ReadError::Protocol(e.to_string())
}

fn timed_out(what: &str) -> ReadError {
    ReadError::Connection(format!("{what} timed out"))
}

/// Whether untagged responses queued on a session's `unsolicited_responses` channel (or a clone
/// of it) say new mail arrived; empties the queue. A macro: the channel type is async-imap's.
macro_rules! drain_new_mail {
    ($queued:expr) => {{
        let mut new_mail = false;
        while let Ok(response) = $queued.try_recv() {
            new_mail |= matches!(
                response,
                UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
            );
        }
        new_mail
    }};
}

#[async_trait]
impl MailboxWatcher for ImapWatcher {
    async fn connect(
        &self,
        login: &ServerLogin,
    ) -> Result<Option<Box<dyn IdleSession>>, ReadError> {
        let mut session = timeout(self.timeout, self.reader.connect(login))
            .await
            .map_err(|_| timed_out("connecting"))??;
        let capabilities = timeout(self.timeout, session.capabilities())
            .await
            .map_err(|_| timed_out("CAPABILITY"))?
            .map_err(|e| protocol(&e))?;
        if !capabilities.has_str("IDLE") {
            let _ = timeout(self.timeout, session.logout()).await;
            return Ok(None);
        }
        timeout(self.timeout, session.examine("INBOX"))
            .await
            .map_err(|_| timed_out("EXAMINE"))?
            .map_err(|e| protocol(&e))?;
        // What EXAMINE reported is the state the last sync may already have seen.
        drain_new_mail!(session.unsolicited_responses);
        Ok(Some(Box::new(ImapIdle {
            session: Some(session),
            timeout: self.timeout,
        })))
    }
}

/// An IMAP session with INBOX open; `None` after a failure left it unusable.
struct ImapIdle {
    session: Option<Session<Io>>,
    timeout: Duration,
}

#[async_trait]
impl IdleSession for ImapIdle {
    async fn wait(&mut self, max: Duration) -> Result<bool, ReadError> {
        let session = self
            .session
            .take()
            .ok_or_else(|| ReadError::Connection("the IDLE connection was lost".into()))?;
        // The same queue as the session's: responses that come before the server's "+ idling"
        // (mail that arrived since the last command) are queued there, not returned by the wait.
        let queued = session.unsolicited_responses.clone();
        let mut idle = session.idle();
        timeout(self.timeout, idle.init())
            .await
            .map_err(|_| timed_out("IDLE"))?
            .map_err(|e| protocol(&e))?;
        let deadline = Instant::now() + max;
        let mut new_mail = drain_new_mail!(queued);
        while !new_mail {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            // Dropping the stop source would interrupt the wait: keep it until it returns.
            let (wait, stop) = idle.wait_with_timeout(left);
            let response = wait.await.map_err(|e| protocol(&e))?;
            drop(stop);
            match response {
                IdleResponse::NewData(data) => {
                    if matches!(
                        data.parsed(),
                        Response::MailboxData(MailboxDatum::Exists(_) | MailboxDatum::Recent(_))
                    ) {
                        new_mail = true;
                        break;
                    }
                }
                IdleResponse::Timeout | IdleResponse::ManualInterrupt => break,
            }
        }
        let session = timeout(self.timeout, idle.done())
            .await
            .map_err(|_| timed_out("DONE"))?
            .map_err(|e| protocol(&e))?;
        // EXISTS that came with the IDLE or DONE responses are queued, not returned.
        new_mail |= drain_new_mail!(queued);
        self.session = Some(session);
        Ok(new_mail)
    }

    async fn close(mut self: Box<Self>) {
        if let Some(mut session) = self.session.take() {
            let _ = timeout(self.timeout, session.logout()).await;
        }
    }
}
