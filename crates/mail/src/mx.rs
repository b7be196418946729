//! MX lookups for ESP detection: the [`MxResolver`] port of `reachkit-core` over
//! hickory-resolver, asking either the system's name servers (`/etc/resolv.conf`) or one given
//! name server (the setting `dns.nameserver`, e.g. the mail stack's dnsmasq in tests).
//!
//! Answers: the MX hosts in preference order (lowest value first, ties in the server's order),
//! trailing dots removed. NXDOMAIN, NOERROR without MX, a "null MX" (RFC 7505: `0 .`) and a name
//! that is not a valid domain are all "no MX": an empty list. Everything else (timeouts,
//! SERVFAIL, REFUSED, no server reachable) is [`MxError::Temporary`].

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError, NoRecords};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData};
use reachkit_core::esp_detection::{MxError, MxResolver};

/// Where and how MX records are looked up.
#[derive(Debug, Clone)]
pub struct MxSettings {
    /// One name server (`ip:port`, UDP and TCP); `None` for the system's configuration.
    pub nameserver: Option<SocketAddr>,
    /// How long one query to one server may take before it is retried or given up.
    pub timeout: Duration,
}

impl Default for MxSettings {
    fn default() -> Self {
        Self {
            nameserver: None,
            timeout: Duration::from_secs(5),
        }
    }
}

/// [`MxResolver`] over hickory-resolver.
#[derive(Clone)]
pub struct HickoryMxResolver {
    resolver: TokioResolver,
}

impl std::fmt::Debug for HickoryMxResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HickoryMxResolver").finish_non_exhaustive()
    }
}

impl HickoryMxResolver {
    /// Builds the resolver. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// When no name server is given and the system's configuration cannot be read.
    pub fn new(settings: &MxSettings) -> Result<Self, String> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = match settings.nameserver {
            Some(addr) => {
                let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut server.connections {
                    connection.port = addr.port();
                }
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![server]),
                    provider,
                )
            }
            None => TokioResolver::builder(provider).map_err(|e| {
                format!("cannot read the system's DNS configuration (/etc/resolv.conf): {e}")
            })?,
        };
        let options: &mut ResolverOpts = builder.options_mut();
        options.timeout = settings.timeout;
        options.attempts = 2;
        let resolver = builder
            .build()
            .map_err(|e| format!("cannot build the DNS resolver: {e}"))?;
        Ok(Self { resolver })
    }
}

#[async_trait]
impl MxResolver for HickoryMxResolver {
    async fn mx_hosts(&self, domain: &str) -> Result<Vec<String>, MxError> {
        let domain = domain.trim().trim_end_matches('.');
        if domain.is_empty() {
            return Ok(Vec::new());
        }
        // Fully qualified: no search domains appended.
        let Ok(name) = Name::from_utf8(format!("{domain}.")) else {
            return Ok(Vec::new());
        };
        let lookup = match self.resolver.mx_lookup(name).await {
            Ok(lookup) => lookup,
            Err(NetError::Dns(DnsError::NoRecordsFound(NoRecords {
                response_code: ResponseCode::NXDomain | ResponseCode::NoError,
                ..
            }))) => return Ok(Vec::new()),
            Err(e) => return Err(MxError::Temporary(e.to_string())),
        };
        let mut records: Vec<(u16, String)> = lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::MX(mx) => Some((
                    mx.preference,
                    mx.exchange.to_utf8().trim_end_matches('.').to_owned(),
                )),
                _ => None,
            })
            .collect();
        // Stable: equal preferences keep the server's order.
        records.sort_by_key(|(preference, _)| *preference);
        Ok(records
            .into_iter()
            .map(|(_, host)| host)
            .filter(|host| !host.is_empty())
            .collect())
    }
}
