//! ESP detection: a lead's `provider` (google, microsoft, yahoo, zoho, other) found in the
//! background from its email domain's MX records.
//!
//! This is a step, not a loop: the app calls [`EspDetectionService::detect_pending`] every few
//! seconds. A step claims a batch of distinct email domains of leads whose provider is still
//! unknown (across workspaces: MX records are public DNS data), resolves each domain's MX hosts
//! and sets the provider of every lead at that domain at once. The provider comes from the most
//! preferred MX host ([`Provider::from_mx_hosts`]); a domain without MX (NXDOMAIN, or no MX
//! record) is `other`. A temporary DNS failure leaves the domain unknown: it is claimed again
//! once [`RETRY_AFTER`] has passed, as is a domain whose claimer died.

use std::sync::Arc;

use async_trait::async_trait;
use reachkit_domain::esp::Provider;
use time::{Duration, OffsetDateTime};

use crate::StoreError;

/// Domains resolved per step.
pub const BATCH_SIZE: i64 = 20;
/// A claimed domain still unknown after this long (a temporary DNS failure, or its claimer died)
/// is claimed again.
pub const RETRY_AFTER: Duration = Duration::minutes(1);

/// Why an MX lookup gave no answer. NXDOMAIN and "no MX records" are answers (an empty list),
/// not errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MxError {
    /// The name server failed, timed out or could not be reached: try again later.
    #[error("temporary DNS failure: {0}")]
    Temporary(String),
}

/// Looks up MX records.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MxResolver: Send + Sync {
    /// The MX hosts of `domain`, most preferred first (lowest preference value; ties in the
    /// server's order). MUST return an empty list when the domain does not exist (NXDOMAIN) or
    /// has no MX record, and an empty list for a name that is not a valid domain name.
    ///
    /// # Errors
    /// [`MxError::Temporary`] when there is no answer to rely on.
    async fn mx_hosts(&self, domain: &str) -> Result<Vec<String>, MxError>;
}

/// Where leads' providers are kept.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EspDetectionRepository: Send + Sync {
    /// Claims up to `limit` distinct email domains of leads (of any workspace) whose provider is
    /// null and that were never claimed or last claimed at or before `stale_before`: MUST mark
    /// every such lead of a claimed domain as claimed at `now`, so that a later claim does not
    /// get the domain again while the claim is fresh. Concurrent claimers (any number of
    /// processes) MUST NOT block each other; should two get the same domain, both resolve it and
    /// set the same provider, which is harmless.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn claim_domains(
        &self,
        now: OffsetDateTime,
        stale_before: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<String>, StoreError>;

    /// Sets `provider` on every lead at `domain` whose provider is still null, in one
    /// statement. Returns how many leads changed.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn set_provider(
        &self,
        domain: &str,
        provider: Provider,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError>;
}

/// Detects the providers of leads.
#[derive(Clone)]
pub struct EspDetectionService {
    repo: Arc<dyn EspDetectionRepository>,
    resolver: Arc<dyn MxResolver>,
}

impl std::fmt::Debug for EspDetectionService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EspDetectionService")
            .finish_non_exhaustive()
    }
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DetectionReport {
    /// Domains whose provider was decided.
    pub domains: usize,
    /// Leads whose provider was set.
    pub leads: u64,
    /// Domains left for a later step after a temporary DNS failure.
    pub deferred: usize,
}

impl EspDetectionService {
    #[must_use]
    pub fn new(repo: Arc<dyn EspDetectionRepository>, resolver: Arc<dyn MxResolver>) -> Self {
        Self { repo, resolver }
    }

    /// The provider of one domain from DNS.
    ///
    /// # Errors
    /// [`MxError`] on a temporary DNS failure.
    pub async fn provider_of(&self, domain: &str) -> Result<Provider, MxError> {
        let hosts = self.resolver.mx_hosts(domain).await?;
        Ok(Provider::from_mx_hosts(hosts.iter().map(String::as_str)))
    }

    /// Claims a batch of domains, resolves them (concurrently) and sets their leads' provider.
    /// Returns what it did; `domains == 0 && deferred == 0` means there was nothing to do.
    ///
    /// # Errors
    /// The store's failure (a DNS failure is an outcome: the domain is retried later).
    pub async fn detect_pending(&self, now: OffsetDateTime) -> Result<DetectionReport, StoreError> {
        let domains = self
            .repo
            .claim_domains(now, now - RETRY_AFTER, BATCH_SIZE)
            .await?;
        let lookups =
            futures_util::future::join_all(domains.iter().map(|d| self.provider_of(d))).await;
        let mut report = DetectionReport::default();
        for (domain, found) in domains.iter().zip(lookups) {
            match found {
                Ok(provider) => {
                    report.leads += self.repo.set_provider(domain, provider, now).await?;
                    report.domains += 1;
                }
                Err(MxError::Temporary(_)) => report.deferred += 1,
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mockall::predicate::eq;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

    fn hosts(list: &[&str]) -> Vec<String> {
        list.iter().map(|h| (*h).to_owned()).collect()
    }

    #[tokio::test]
    async fn each_claimed_domain_gets_the_provider_of_its_most_preferred_mx_host() {
        let mut repo = MockEspDetectionRepository::new();
        repo.expect_claim_domains()
            .withf(|now, stale, limit| {
                *now == NOW && *stale == NOW - RETRY_AFTER && *limit == BATCH_SIZE
            })
            .times(1)
            .returning(|_, _, _| {
                Ok(vec![
                    "acme.com".into(),
                    "contoso.com".into(),
                    "filtered.com".into(),
                ])
            });
        let mut resolver = MockMxResolver::new();
        resolver
            .expect_mx_hosts()
            .with(eq("acme.com"))
            .returning(|_| Ok(hosts(&["aspmx.l.google.com", "alt1.aspmx.l.google.com"])));
        resolver
            .expect_mx_hosts()
            .with(eq("contoso.com"))
            .returning(|_| Ok(hosts(&["contoso-com.mail.protection.outlook.com"])));
        // A gateway in front of Google: the first host decides.
        resolver
            .expect_mx_hosts()
            .with(eq("filtered.com"))
            .returning(|_| Ok(hosts(&["mx1.gateway.example", "aspmx.l.google.com"])));
        repo.expect_set_provider()
            .with(eq("acme.com"), eq(Provider::Google), eq(NOW))
            .times(1)
            .returning(|_, _, _| Ok(3));
        repo.expect_set_provider()
            .with(eq("contoso.com"), eq(Provider::Microsoft), eq(NOW))
            .times(1)
            .returning(|_, _, _| Ok(1));
        repo.expect_set_provider()
            .with(eq("filtered.com"), eq(Provider::Other), eq(NOW))
            .times(1)
            .returning(|_, _, _| Ok(2));
        let service = EspDetectionService::new(Arc::new(repo), Arc::new(resolver));
        let report = service.detect_pending(NOW).await.expect("step");
        assert_eq!(
            report,
            DetectionReport {
                domains: 3,
                leads: 6,
                deferred: 0
            }
        );
    }

    #[tokio::test]
    async fn a_domain_without_mx_is_other() {
        let mut repo = MockEspDetectionRepository::new();
        repo.expect_claim_domains()
            .returning(|_, _, _| Ok(vec!["nomx.example".into()]));
        let mut resolver = MockMxResolver::new();
        resolver.expect_mx_hosts().returning(|_| Ok(Vec::new()));
        repo.expect_set_provider()
            .with(eq("nomx.example"), eq(Provider::Other), eq(NOW))
            .times(1)
            .returning(|_, _, _| Ok(1));
        let service = EspDetectionService::new(Arc::new(repo), Arc::new(resolver));
        assert_eq!(service.detect_pending(NOW).await.expect("step").domains, 1);
    }

    #[tokio::test]
    async fn a_temporary_dns_failure_sets_nothing_and_the_rest_of_the_batch_goes_on() {
        let mut repo = MockEspDetectionRepository::new();
        repo.expect_claim_domains()
            .returning(|_, _, _| Ok(vec!["flaky.example".into(), "zoho-user.example".into()]));
        let mut resolver = MockMxResolver::new();
        resolver
            .expect_mx_hosts()
            .with(eq("flaky.example"))
            .returning(|_| Err(MxError::Temporary("SERVFAIL".into())));
        resolver
            .expect_mx_hosts()
            .with(eq("zoho-user.example"))
            .returning(|_| Ok(hosts(&["mx.zoho.eu"])));
        repo.expect_set_provider()
            .with(eq("zoho-user.example"), eq(Provider::Zoho), eq(NOW))
            .times(1)
            .returning(|_, _, _| Ok(1));
        let service = EspDetectionService::new(Arc::new(repo), Arc::new(resolver));
        assert_eq!(
            service.detect_pending(NOW).await.expect("step"),
            DetectionReport {
                domains: 1,
                leads: 1,
                deferred: 1
            }
        );
    }

    #[tokio::test]
    async fn nothing_claimed_means_no_lookup() {
        let mut repo = MockEspDetectionRepository::new();
        repo.expect_claim_domains()
            .returning(|_, _, _| Ok(Vec::new()));
        repo.expect_set_provider().never();
        let mut resolver = MockMxResolver::new();
        resolver.expect_mx_hosts().never();
        let service = EspDetectionService::new(Arc::new(repo), Arc::new(resolver));
        assert_eq!(
            service.detect_pending(NOW).await.expect("step"),
            DetectionReport::default()
        );
    }

    #[tokio::test]
    async fn a_store_failure_is_the_step_s_error() {
        let mut repo = MockEspDetectionRepository::new();
        repo.expect_claim_domains()
            .returning(|_, _, _| Err(StoreError::Unavailable(anyhow::anyhow!("down"))));
        let resolver = MockMxResolver::new();
        let service = EspDetectionService::new(Arc::new(repo), Arc::new(resolver));
        assert!(matches!(
            service.detect_pending(NOW).await,
            Err(StoreError::Unavailable(_))
        ));
    }
}
