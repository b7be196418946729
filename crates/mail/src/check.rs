//! Login checks for an inbox's servers: the [`MailboxChecker`] port of `reachkit-core` over
//! mail-send (SMTP) and async-imap (IMAP).
//!
//! SMTP: connect, greeting, EHLO, STARTTLS or implicit TLS as configured, AUTH when a username is
//! given, QUIT. IMAP: connect, TLS or STARTTLS as configured, greeting, LOGIN, LOGOUT. Every
//! check runs under one overall timeout. Certificates are verified with the platform's roots
//! unless `allow_invalid_certs` is set (self-signed test servers only). Error messages are the
//! servers' replies and the transport's errors: never the password.

use std::time::Duration;

use async_imap::Client;
use async_trait::async_trait;
use mail_send::smtp::tls::build_tls_connector;
use mail_send::{Credentials, SmtpClientBuilder};
use reachkit_core::connection_check::{CheckError, MailboxChecker, ServerLogin};
use reachkit_core::inboxes::Security;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// How the checks behave.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    /// The longest a whole check (connect to logout) may take.
    pub timeout: Duration,
    /// Accept any certificate (self-signed test servers). Never in production.
    pub allow_invalid_certs: bool,
}

impl Default for CheckSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            allow_invalid_certs: false,
        }
    }
}

/// [`MailboxChecker`] over real SMTP and IMAP connections.
#[derive(Debug, Clone)]
pub struct MailChecker {
    settings: CheckSettings,
}

/// Installs rustls' aws-lc-rs provider as the process default, once. Needed because more than
/// one provider is compiled in, so rustls cannot pick one by itself.
pub fn install_crypto_provider() {
    // An error only means a provider is installed already.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

impl MailChecker {
    #[must_use]
    pub fn new(settings: CheckSettings) -> Self {
        install_crypto_provider();
        Self { settings }
    }

    fn tls(&self) -> Result<TlsConnector, CheckError> {
        build_tls_connector(self.settings.allow_invalid_certs).map_err(CheckError::Tls)
    }

    async fn smtp(&self, login: &ServerLogin) -> Result<(), CheckError> {
        let mut builder = SmtpClientBuilder::new(login.host.as_str(), login.port)
            .map_err(CheckError::Tls)?
            .timeout(self.settings.timeout);
        if self.settings.allow_invalid_certs {
            builder = builder.allow_invalid_certs();
        }
        if !login.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                login.username.as_str(),
                login.password.expose(),
            ));
        }
        match login.security {
            Security::None => builder
                .connect_plain()
                .await
                .map_err(smtp_error)?
                .quit()
                .await
                .map_err(smtp_error),
            Security::StartTls => builder
                .implicit_tls(false)
                .connect()
                .await
                .map_err(smtp_error)?
                .quit()
                .await
                .map_err(smtp_error),
            Security::Tls => builder
                .implicit_tls(true)
                .connect()
                .await
                .map_err(smtp_error)?
                .quit()
                .await
                .map_err(smtp_error),
        }
    }

    async fn imap(&self, login: &ServerLogin) -> Result<(), CheckError> {
        let tcp = TcpStream::connect((login.host.as_str(), login.port))
            .await
            .map_err(|e| CheckError::Unreachable(e.to_string()))?;
        match login.security {
            Security::None => imap_login(Client::new(tcp), login, true).await,
            Security::Tls => {
                let tls = self.tls_handshake(&login.host, tcp).await?;
                imap_login(Client::new(tls), login, true).await
            }
            Security::StartTls => {
                let mut client = Client::new(tcp);
                read_greeting(&mut client).await?;
                client
                    .run_command_and_check_ok("STARTTLS", None)
                    .await
                    .map_err(|e| CheckError::Tls(format!("STARTTLS refused: {e}")))?;
                let tls = self.tls_handshake(&login.host, client.into_inner()).await?;
                // No greeting after STARTTLS: the session continues.
                imap_login(Client::new(tls), login, false).await
            }
        }
    }

    async fn tls_handshake(
        &self,
        host: &str,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, CheckError> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| CheckError::Tls(format!("{host:?} is not a valid TLS server name")))?;
        self.tls()?
            .connect(name, tcp)
            .await
            .map_err(|e| CheckError::Tls(e.to_string()))
    }
}

async fn read_greeting<T>(client: &mut Client<T>) -> Result<(), CheckError>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    match client.read_response().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(CheckError::Protocol(
            "the server closed the connection before its greeting".into(),
        )),
        Err(e) => Err(CheckError::Unreachable(e.to_string())),
    }
}

async fn imap_login<T>(
    mut client: Client<T>,
    login: &ServerLogin,
    greeting: bool,
) -> Result<(), CheckError>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    if greeting {
        read_greeting(&mut client).await?;
    }
    let mut session = client
        .login(&login.username, login.password.expose())
        .await
        .map_err(|(e, _)| match e {
            async_imap::error::Error::No(m) | async_imap::error::Error::Bad(m) => {
                CheckError::AuthFailed(m)
            }
            async_imap::error::Error::Validate(_) => CheckError::AuthFailed(
                "the username or password holds characters IMAP cannot send".into(),
            ),
            other => CheckError::Protocol(other.to_string()),
        })?;
    session
        .logout()
        .await
        .map_err(|e| CheckError::Protocol(format!("LOGOUT failed: {e}")))
}

fn smtp_error(e: mail_send::Error) -> CheckError {
    use mail_send::Error as E;
    match e {
        E::Io(e) => CheckError::Unreachable(e.to_string()),
        E::Tls(e) => CheckError::Tls(e.to_string()),
        E::InvalidTLSName => CheckError::Tls("the host is not a valid TLS server name".into()),
        E::MissingStartTls => CheckError::Tls("the server does not offer STARTTLS".into()),
        E::AuthenticationFailed(reply) => CheckError::AuthFailed(reply.to_string()),
        E::UnsupportedAuthMechanism => CheckError::AuthFailed(
            "the server offers no authentication method we support (AUTH not advertised?)".into(),
        ),
        E::Auth(e) => CheckError::AuthFailed(e.to_string()),
        E::Timeout => CheckError::Timeout,
        other => CheckError::Protocol(other.to_string()),
    }
}

#[async_trait]
impl MailboxChecker for MailChecker {
    async fn check_smtp(&self, login: &ServerLogin) -> Result<(), CheckError> {
        tokio::time::timeout(self.settings.timeout, self.smtp(login))
            .await
            .map_err(|_| CheckError::Timeout)?
    }

    async fn check_imap(&self, login: &ServerLogin) -> Result<(), CheckError> {
        tokio::time::timeout(self.settings.timeout, self.imap(login))
            .await
            .map_err(|_| CheckError::Timeout)?
    }
}
