//! MX lookups against the mail stack's dnsmasq (`scripts/mailstack`, started by `scripts/test`),
//! read with the domain's ESP rule. These tests fail, never skip, without the stack.

use std::time::Duration;

use reachkit_core::esp_detection::{MxError, MxResolver};
use reachkit_domain::esp::Provider;
use reachkit_mail::mx::{HickoryMxResolver, MxSettings};
use reachkit_testkit::mailstack::MailStack;

fn stack() -> MailStack {
    MailStack::from_env().unwrap_or_else(|e| panic!("{e:#}"))
}

fn resolver(stack: &MailStack) -> HickoryMxResolver {
    HickoryMxResolver::new(&MxSettings {
        nameserver: Some(stack.dns),
        timeout: Duration::from_secs(5),
    })
    .expect("resolver")
}

async fn provider(resolver: &HickoryMxResolver, domain: &str) -> Provider {
    let hosts = resolver
        .mx_hosts(domain)
        .await
        .unwrap_or_else(|e| panic!("{domain}: {e}"));
    Provider::from_mx_hosts(hosts.iter().map(String::as_str))
}

#[tokio::test]
async fn the_stack_s_lead_domains_resolve_to_their_providers() {
    let s = stack();
    let r = resolver(&s);
    for (domain, expected) in [
        ("google-lead.test", Provider::Google),
        ("gmail-like.test", Provider::Google),
        ("ms-lead.test", Provider::Microsoft),
        ("yahoo-lead.test", Provider::Yahoo),
        ("zoho-lead.test", Provider::Zoho),
        ("other-lead.test", Provider::Other),
        ("nomx-lead.test", Provider::Other),
        ("does-not-exist.test", Provider::Other),
    ] {
        assert_eq!(provider(&r, domain).await, expected, "{domain}");
    }
    // Every domain the stack advertises, with the provider it stands for.
    for (domain, expected) in &s.esp_domains {
        assert_eq!(
            provider(&r, domain).await.as_str(),
            expected.as_str(),
            "{domain}"
        );
    }
}

#[tokio::test]
async fn mx_hosts_come_in_preference_order_without_trailing_dots() {
    let s = stack();
    let r = resolver(&s);
    assert_eq!(
        r.mx_hosts("google-lead.test").await.expect("lookup"),
        ["aspmx.l.google.com", "alt1.aspmx.l.google.com"]
    );
    assert_eq!(
        r.mx_hosts("ZOHO-LEAD.test.").await.expect("lookup"),
        ["mx.zoho.com", "mx2.zoho.com"]
    );
}

#[tokio::test]
async fn no_mx_nxdomain_and_invalid_names_are_empty_answers() {
    let s = stack();
    let r = resolver(&s);
    assert_eq!(r.mx_hosts("nomx-lead.test").await, Ok(Vec::new()));
    assert_eq!(r.mx_hosts("no-such-domain.test").await, Ok(Vec::new()));
    assert_eq!(r.mx_hosts("").await, Ok(Vec::new()));
    assert_eq!(r.mx_hosts("bad..name").await, Ok(Vec::new()));
}

#[tokio::test]
async fn a_name_server_that_does_not_answer_is_a_temporary_failure() {
    // A bound UDP socket that never answers: the query times out.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let r = HickoryMxResolver::new(&MxSettings {
        nameserver: Some(silent.local_addr().expect("addr")),
        timeout: Duration::from_millis(200),
    })
    .expect("resolver");
    match r.mx_hosts("google-lead.test").await {
        Err(MxError::Temporary(_)) => {}
        other => panic!("expected a temporary failure, got {other:?}"),
    }
}
