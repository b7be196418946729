//! The private mail stack (`scripts/mailstack`): Postfix, Dovecot and dnsmasq on loopback ports,
//! described by the `REACHKIT_MAILSTACK_*` variables of its env file (docs/MAILSTACK.md).
//!
//! `scripts/test` starts the stack and exports the variables; [`MailStack::from_env`] reads them
//! and fails with an explanation when they are missing, so a test that needs real mail servers
//! never passes vacuously. The helpers here are for tests only: [`MailStack::send_raw`] submits a
//! message with SMTP AUTH (mail-send), [`MailStack::send_inbound`] delivers one the way a mail
//! server from outside would (the MX port, no AUTH), and [`MailStack::fetch_all`] reads a folder
//! over IMAP (async-imap).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use futures_util::TryStreamExt;
use mail_send::SmtpClientBuilder;
use mail_send::smtp::message::Message;
use tokio::net::TcpStream;

/// How long one SMTP or IMAP exchange may take before the helper gives up.
const NETWORK_TIMEOUT: Duration = Duration::from_secs(30);
/// How often [`MailStack::wait_for_message`] looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A mailbox of the stack with its IMAP/SMTP password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailUser {
    /// The address, also the login (`alice@reachkit.test`).
    pub address: String,
    /// The password for IMAP, SMTP AUTH and ManageSieve.
    pub password: String,
}

/// A running mail stack, as its env file describes it.
#[derive(Debug, Clone)]
pub struct MailStack {
    /// The stack's directory (configs, state, logs).
    pub dir: PathBuf,
    /// The loopback address every service listens on.
    pub host: String,
    /// SMTP submission: AUTH PLAIN/LOGIN required, STARTTLS offered (self-signed).
    pub smtp_port: u16,
    /// SMTP with implicit TLS and AUTH.
    pub smtps_port: u16,
    /// SMTP without AUTH that relays anything from loopback (a relay that trusts the host).
    pub smtp_plain_port: u16,
    /// SMTP as an MX: mail from outside to the local domains, no AUTH, no relaying.
    pub mx_port: u16,
    /// IMAP (plaintext LOGIN allowed, STARTTLS offered).
    pub imap_port: u16,
    /// IMAP with implicit TLS.
    pub imaps_port: u16,
    /// ManageSieve (upload and activate personal Sieve scripts such as vacation).
    pub sieve_port: u16,
    /// dnsmasq (UDP and TCP), answering MX records for the test domains.
    pub dns: SocketAddr,
    /// The sending inboxes' domain (`reachkit.test`).
    pub domain: String,
    /// The sending inboxes: alice, bob, carol, dave and erin at [`Self::domain`].
    pub users: Vec<MailUser>,
    /// The mailbox that captures everything sent to any other domain.
    pub sink: MailUser,
    /// Outside domains whose mail lands in the sink (`prospects.test`, `gmail-like.test`).
    pub outside_domains: Vec<String>,
    /// A recipient refused at RCPT with `550 5.1.1`.
    pub reject_rcpt: String,
    /// A recipient refused at RCPT with `451 4.7.1` (temporary).
    pub tempfail_rcpt: String,
    /// A recipient accepted at RCPT and then bounced with a DSN to the sender.
    pub bounce_rcpt: String,
    /// An unknown user of the local domain: accepted, then bounced with a DSN from Dovecot's 550.
    pub unknown_local_rcpt: String,
    /// Mail from this sender ...
    pub junk_sender: String,
    /// ... to this recipient is filed into the recipient's Junk by a Sieve rule.
    pub junk_recipient: String,
    /// Lead domains with MX records and the provider they stand for (`google-lead.test`,
    /// `google`), the names of `reachkit_domain::esp::Provider`.
    pub esp_domains: Vec<(String, String)>,
}

fn var(name: &str) -> anyhow::Result<String> {
    std::env::var(name).map_err(|_| {
        anyhow!(
            "{name} is not set: this test needs the private mail stack. Run the tests with \
             scripts/test, which starts it, or start it with `scripts/mailstack start` and export \
             its env file: `set -a; . .mailstack/env; set +a` (docs/MAILSTACK.md)"
        )
    })
}

fn port(name: &str) -> anyhow::Result<u16> {
    var(name)?
        .parse()
        .with_context(|| format!("{name} is not a port number"))
}

fn list(name: &str) -> anyhow::Result<Vec<String>> {
    Ok(var(name)?
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

fn pairs(name: &str, separator: char) -> anyhow::Result<Vec<(String, String)>> {
    list(name)?
        .into_iter()
        .map(|item| {
            item.split_once(separator)
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .ok_or_else(|| anyhow!("{name}: `{item}` is not `a{separator}b`"))
        })
        .collect()
}

impl MailStack {
    /// Reads the stack's description from the `REACHKIT_MAILSTACK_*` environment variables.
    ///
    /// # Errors
    /// When a variable is missing (the stack was not started for this test run) or malformed.
    pub fn from_env() -> anyhow::Result<Self> {
        let dns = var("REACHKIT_MAILSTACK_DNS")?;
        Ok(Self {
            dir: PathBuf::from(var("REACHKIT_MAILSTACK_DIR")?),
            host: var("REACHKIT_MAILSTACK_HOST")?,
            smtp_port: port("REACHKIT_MAILSTACK_SMTP_PORT")?,
            smtps_port: port("REACHKIT_MAILSTACK_SMTPS_PORT")?,
            smtp_plain_port: port("REACHKIT_MAILSTACK_SMTP_PLAIN_PORT")?,
            mx_port: port("REACHKIT_MAILSTACK_MX_PORT")?,
            imap_port: port("REACHKIT_MAILSTACK_IMAP_PORT")?,
            imaps_port: port("REACHKIT_MAILSTACK_IMAPS_PORT")?,
            sieve_port: port("REACHKIT_MAILSTACK_SIEVE_PORT")?,
            dns: dns
                .parse()
                .with_context(|| format!("REACHKIT_MAILSTACK_DNS `{dns}` is not ip:port"))?,
            domain: var("REACHKIT_MAILSTACK_DOMAIN")?,
            users: pairs("REACHKIT_MAILSTACK_USERS", ':')?
                .into_iter()
                .map(|(address, password)| MailUser { address, password })
                .collect(),
            sink: MailUser {
                address: var("REACHKIT_MAILSTACK_SINK_USER")?,
                password: var("REACHKIT_MAILSTACK_SINK_PASSWORD")?,
            },
            outside_domains: list("REACHKIT_MAILSTACK_OUTSIDE_DOMAINS")?,
            reject_rcpt: var("REACHKIT_MAILSTACK_REJECT_RCPT")?,
            tempfail_rcpt: var("REACHKIT_MAILSTACK_TEMPFAIL_RCPT")?,
            bounce_rcpt: var("REACHKIT_MAILSTACK_BOUNCE_RCPT")?,
            unknown_local_rcpt: var("REACHKIT_MAILSTACK_UNKNOWN_LOCAL_RCPT")?,
            junk_sender: var("REACHKIT_MAILSTACK_JUNK_SENDER")?,
            junk_recipient: var("REACHKIT_MAILSTACK_JUNK_RECIPIENT")?,
            esp_domains: pairs("REACHKIT_MAILSTACK_ESP_DOMAINS", '=')?,
        })
    }

    /// A sending inbox (or the sink) by address or by local part (`"alice"`).
    ///
    /// # Errors
    /// When the stack has no such user.
    pub fn user(&self, name: &str) -> anyhow::Result<&MailUser> {
        let address = if name.contains('@') {
            name.to_owned()
        } else {
            format!("{name}@{}", self.domain)
        };
        self.users
            .iter()
            .chain(std::iter::once(&self.sink))
            .find(|u| u.address.eq_ignore_ascii_case(&address))
            .ok_or_else(|| anyhow!("the mail stack has no user {address}"))
    }

    /// Submits `message` from the stack user `from` to `to` over SMTP submission with AUTH
    /// (no TLS: loopback). A refusal keeps the server's reply: see [`smtp_reply_code`].
    ///
    /// # Errors
    /// When `from` is not a user of the stack, or the server refuses the login, the sender, any
    /// recipient or the message.
    pub async fn send_raw(&self, from: &str, to: &[&str], message: &[u8]) -> anyhow::Result<()> {
        let user = self.user(from)?;
        self.submit(self.smtp_port, Some(user), &user.address, to, message)
            .await
    }

    /// Delivers `message` the way another mail server would: to the MX port, without AUTH, with
    /// any envelope sender (a prospect's reply). Only the stack's own domains are accepted.
    ///
    /// # Errors
    /// When the server refuses the sender, a recipient or the message.
    pub async fn send_inbound(
        &self,
        from: &str,
        to: &[&str],
        message: &[u8],
    ) -> anyhow::Result<()> {
        self.submit(self.mx_port, None, from, to, message).await
    }

    /// Sends `message` through the relay that trusts the host (no AUTH, any sender, any
    /// recipient).
    ///
    /// # Errors
    /// When the server refuses the sender, a recipient or the message.
    pub async fn send_relayed(
        &self,
        from: &str,
        to: &[&str],
        message: &[u8],
    ) -> anyhow::Result<()> {
        self.submit(self.smtp_plain_port, None, from, to, message)
            .await
    }

    async fn submit(
        &self,
        port: u16,
        login: Option<&MailUser>,
        from: &str,
        to: &[&str],
        message: &[u8],
    ) -> anyhow::Result<()> {
        let mut builder = SmtpClientBuilder::new(self.host.clone(), port)
            .map_err(|e| anyhow!("SMTP client: {e}"))?
            .implicit_tls(false)
            .timeout(NETWORK_TIMEOUT);
        if let Some(user) = login {
            builder = builder.credentials((user.address.clone(), user.password.clone()));
        }
        let mut client = builder.connect_plain().await.with_context(|| match login {
            Some(user) => format!("SMTP AUTH as {} on port {port}", user.address),
            None => format!("SMTP connection to port {port}"),
        })?;
        client
            .send(Message::new(from, to.iter().copied(), message))
            .await
            .with_context(|| format!("SMTP transaction on port {port}"))?;
        client.quit().await.ok();
        Ok(())
    }

    /// Every message of `folder` (`"INBOX"`, `"Junk"`), oldest first, read over IMAP without
    /// setting `\Seen`.
    ///
    /// # Errors
    /// When the login fails or the folder does not exist.
    pub async fn fetch_all(
        &self,
        user: &str,
        password: &str,
        folder: &str,
    ) -> anyhow::Result<Vec<Vec<u8>>> {
        tokio::time::timeout(
            NETWORK_TIMEOUT,
            self.fetch_all_inner(user, password, folder),
        )
        .await
        .map_err(|_| anyhow!("IMAP: no answer within {NETWORK_TIMEOUT:?}"))?
    }

    async fn fetch_all_inner(
        &self,
        user: &str,
        password: &str,
        folder: &str,
    ) -> anyhow::Result<Vec<Vec<u8>>> {
        let stream = TcpStream::connect((self.host.as_str(), self.imap_port))
            .await
            .with_context(|| format!("IMAP connect to port {}", self.imap_port))?;
        let mut client = async_imap::Client::new(stream);
        client
            .read_response()
            .await
            .context("IMAP greeting")?
            .ok_or_else(|| anyhow!("IMAP: the server closed before its greeting"))?;
        let mut session = client
            .login(user, password)
            .await
            .map_err(|(e, _)| anyhow!("IMAP LOGIN as {user}: {e}"))?;
        let mailbox = session
            .select(folder)
            .await
            .with_context(|| format!("IMAP SELECT {folder} as {user}"))?;
        let mut messages = Vec::new();
        if mailbox.exists > 0 {
            let fetches: Vec<_> = session
                .fetch("1:*", "BODY.PEEK[]")
                .await
                .context("IMAP FETCH")?
                .try_collect()
                .await
                .context("IMAP FETCH")?;
            messages = fetches
                .iter()
                .filter_map(|f| f.body().map(<[u8]>::to_vec))
                .collect();
        }
        session.logout().await.ok();
        Ok(messages)
    }

    /// The given header fields (`"MESSAGE-ID DELIVERED-TO"`) of every message of `folder`, with
    /// its UID, read with `BODY.PEEK[HEADER.FIELDS (...)]`: cheap on a folder of thousands of
    /// messages (the crash test counts arrivals by Message-ID this way).
    ///
    /// # Errors
    /// When the login fails or the folder does not exist.
    pub async fn fetch_header_fields(
        &self,
        user: &str,
        password: &str,
        folder: &str,
        fields: &str,
    ) -> anyhow::Result<Vec<(u32, Vec<u8>)>> {
        let mut session = self.imap_session(user, password).await?;
        let mailbox = session
            .select(folder)
            .await
            .with_context(|| format!("IMAP SELECT {folder} as {user}"))?;
        let mut out = Vec::new();
        if mailbox.exists > 0 {
            let fetches: Vec<_> = session
                .fetch("1:*", format!("(UID BODY.PEEK[HEADER.FIELDS ({fields})])"))
                .await
                .context("IMAP FETCH")?
                .try_collect()
                .await
                .context("IMAP FETCH")?;
            out = fetches
                .iter()
                .filter_map(|f| Some((f.uid?, f.header()?.to_vec())))
                .collect();
        }
        session.logout().await.ok();
        Ok(out)
    }

    /// Like [`Self::fetch_header_fields`], with whether each message is `\Seen`.
    ///
    /// # Errors
    /// When the login fails or the folder does not exist.
    pub async fn fetch_header_fields_seen(
        &self,
        user: &str,
        password: &str,
        folder: &str,
        fields: &str,
    ) -> anyhow::Result<Vec<(u32, Vec<u8>, bool)>> {
        let mut session = self.imap_session(user, password).await?;
        let mailbox = session
            .select(folder)
            .await
            .with_context(|| format!("IMAP SELECT {folder} as {user}"))?;
        let mut out = Vec::new();
        if mailbox.exists > 0 {
            let fetches: Vec<_> = session
                .fetch(
                    "1:*",
                    format!("(UID FLAGS BODY.PEEK[HEADER.FIELDS ({fields})])"),
                )
                .await
                .context("IMAP FETCH")?
                .try_collect()
                .await
                .context("IMAP FETCH")?;
            out = fetches
                .iter()
                .filter_map(|f| {
                    let seen = f
                        .flags()
                        .any(|flag| matches!(flag, async_imap::types::Flag::Seen));
                    Some((f.uid?, f.header()?.to_vec(), seen))
                })
                .collect();
        }
        session.logout().await.ok();
        Ok(out)
    }

    /// Deletes the messages with these UIDs from `folder` (a test cleaning up after itself in a
    /// mailbox that other tests share).
    ///
    /// # Errors
    /// When the login fails or the server refuses the deletion.
    pub async fn delete_uids(
        &self,
        user: &str,
        password: &str,
        folder: &str,
        uids: &[u32],
    ) -> anyhow::Result<()> {
        if uids.is_empty() {
            return Ok(());
        }
        let mut session = self.imap_session(user, password).await?;
        session
            .select(folder)
            .await
            .with_context(|| format!("IMAP SELECT {folder} as {user}"))?;
        for chunk in uids.chunks(500) {
            let set = chunk
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let _: Vec<_> = session
                .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                .await
                .context("IMAP UID STORE")?
                .try_collect()
                .await
                .context("IMAP UID STORE")?;
            let _: Vec<_> = session
                .uid_expunge(&set)
                .await
                .context("IMAP UID EXPUNGE")?
                .try_collect()
                .await
                .context("IMAP UID EXPUNGE")?;
        }
        session.logout().await.ok();
        Ok(())
    }

    async fn imap_session(
        &self,
        user: &str,
        password: &str,
    ) -> anyhow::Result<async_imap::Session<TcpStream>> {
        let stream = TcpStream::connect((self.host.as_str(), self.imap_port))
            .await
            .with_context(|| format!("IMAP connect to port {}", self.imap_port))?;
        let mut client = async_imap::Client::new(stream);
        client
            .read_response()
            .await
            .context("IMAP greeting")?
            .ok_or_else(|| anyhow!("IMAP: the server closed before its greeting"))?;
        client
            .login(user, password)
            .await
            .map_err(|(e, _)| anyhow!("IMAP LOGIN as {user}: {e}"))
    }

    /// Waits until a message containing `needle` (a unique Message-ID or subject) is in
    /// `folder`, and returns it. Delivery is asynchronous (Postfix's queue, then LMTP), so tests
    /// wait for the event; `timeout` only bounds a failure.
    ///
    /// # Errors
    /// When IMAP fails, or no such message arrived within `timeout`.
    pub async fn wait_for_message(
        &self,
        user: &str,
        password: &str,
        folder: &str,
        needle: &str,
        timeout: Duration,
    ) -> anyhow::Result<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let messages = self.fetch_all(user, password, folder).await?;
            if let Some(found) = messages
                .into_iter()
                .find(|m| contains(m, needle.as_bytes()))
            {
                return Ok(found);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "no message containing `{needle}` reached {user}'s {folder} within \
                     {timeout:?} (see the logs in {})",
                    self.dir.join("log").display()
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

impl MailStack {
    /// Uploads a personal Sieve script for `user` over ManageSieve and makes it the active one
    /// (for example a vacation auto-reply, see docs/MAILSTACK.md), or with `script` `None`
    /// deactivates every personal script.
    ///
    /// # Errors
    /// When the login fails or the server refuses the script (the error holds its answer).
    pub async fn set_sieve_script(
        &self,
        user: &str,
        password: &str,
        name: &str,
        script: Option<&str>,
    ) -> anyhow::Result<()> {
        tokio::time::timeout(
            NETWORK_TIMEOUT,
            self.set_sieve_script_inner(user, password, name, script),
        )
        .await
        .map_err(|_| anyhow!("ManageSieve: no answer within {NETWORK_TIMEOUT:?}"))?
    }

    async fn set_sieve_script_inner(
        &self,
        user: &str,
        password: &str,
        name: &str,
        script: Option<&str>,
    ) -> anyhow::Result<()> {
        use base64::Engine as _;
        use tokio::io::AsyncWriteExt as _;

        let stream = TcpStream::connect((self.host.as_str(), self.sieve_port))
            .await
            .with_context(|| format!("ManageSieve connect to port {}", self.sieve_port))?;
        let mut conn = tokio::io::BufStream::new(stream);
        sieve_response(&mut conn)
            .await
            .context("ManageSieve greeting")?;
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        let mut commands = vec![format!("AUTHENTICATE \"PLAIN\" \"{token}\"\r\n")];
        match script {
            Some(script) => {
                commands.push(format!(
                    "PUTSCRIPT \"{name}\" {{{}+}}\r\n{script}\r\n",
                    script.len()
                ));
                commands.push(format!("SETACTIVE \"{name}\"\r\n"));
            }
            None => commands.push("SETACTIVE \"\"\r\n".to_owned()),
        }
        commands.push("LOGOUT\r\n".to_owned());
        for command in commands {
            conn.write_all(command.as_bytes()).await?;
            conn.flush().await?;
            let verb = command
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            sieve_response(&mut conn)
                .await
                .with_context(|| format!("ManageSieve {verb} as {user}"))?;
        }
        Ok(())
    }
}

impl MailStack {
    /// Makes Postfix answer `451 4.7.1` at RCPT for `address` (`tempfail = true`) until switched
    /// back (`false`), on every SMTP port, from the next connection on: a retry after a
    /// temporary failure can then succeed. Runs `scripts/mailstack tempfail add|remove`.
    ///
    /// # Errors
    /// When the script fails.
    pub async fn set_tempfail(&self, address: &str, tempfail: bool) -> anyhow::Result<()> {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/mailstack");
        let output = tokio::process::Command::new(&script)
            .args(["tempfail", if tempfail { "add" } else { "remove" }, address])
            .env("REACHKIT_MAILSTACK_DIR", &self.dir)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .with_context(|| format!("running {}", script.display()))?;
        if !output.status.success() {
            bail!(
                "scripts/mailstack tempfail failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }
}

/// Reads ManageSieve lines up to the final `OK`, `NO` or `BYE` one; `NO`/`BYE` are errors.
async fn sieve_response<S>(conn: &mut S) -> anyhow::Result<()>
where
    S: tokio::io::AsyncBufRead + Unpin,
{
    use tokio::io::AsyncBufReadExt as _;

    loop {
        let mut line = String::new();
        if conn.read_line(&mut line).await? == 0 {
            bail!("the server closed the connection");
        }
        let line = line.trim_end();
        if line.starts_with("OK") {
            return Ok(());
        }
        if line.starts_with("NO") || line.starts_with("BYE") {
            bail!("the server answered: {line}");
        }
    }
}

/// Whether `haystack` contains `needle` (bytes).
#[must_use]
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// The SMTP reply code of a refusal returned by [`MailStack::send_raw`] or
/// [`MailStack::send_inbound`] (550, 451 ...), when the error is one.
#[must_use]
pub fn smtp_reply_code(error: &anyhow::Error) -> Option<u16> {
    error.chain().find_map(|cause| match cause.downcast_ref() {
        Some(
            mail_send::Error::UnexpectedReply(reply)
            | mail_send::Error::AuthenticationFailed(reply),
        ) => Some(reply.code),
        _ => None,
    })
}
