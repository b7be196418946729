use super::*;
use crate::clock::MockClock;
use crate::secrets::MockSecretBox;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

#[test]
fn signing_matches_the_standard_webhooks_test_vector() {
    let secret = parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let sig = sign(
        &secret,
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1_614_265_330,
        br#"{"test": 2432232314}"#,
    );
    assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

#[test]
fn a_formatted_secret_parses_back_to_its_bytes() {
    let raw = generate_secret();
    assert_eq!(raw.len(), SECRET_BYTES);
    let shown = format_secret(&raw);
    assert!(shown.starts_with("whsec_"));
    assert_eq!(parse_secret(&shown), Some(raw));
}

#[test]
fn retries_double_from_the_base_up_to_the_cap() {
    let base = Duration::from_secs(30);
    assert_eq!(retry_delay(base, 1), Duration::from_secs(30));
    assert_eq!(retry_delay(base, 2), Duration::from_secs(60));
    assert_eq!(retry_delay(base, 5), Duration::from_secs(480));
    assert_eq!(retry_delay(base, 12), MAX_RETRY_DELAY);
    assert_eq!(retry_delay(base, 200), MAX_RETRY_DELAY);
}

#[test]
fn the_default_schedule_keeps_retrying_for_more_than_a_day() {
    let s = WebhookSettings::default();
    let span = retry_span(s.retry_base, s.max_attempts);
    assert!(span > Duration::from_secs(24 * 3600), "{span:?}");
    assert!(span < Duration::from_secs(48 * 3600), "{span:?}");
}

#[test]
fn private_and_loopback_targets_are_refused_unless_allowed() {
    for url in [
        "http://127.0.0.1/hook",
        "http://localhost:8080/",
        "http://api.localhost/",
        "https://10.1.2.3/",
        "https://192.168.0.10/",
        "https://172.16.5.4/",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/",
        "https://0.0.0.0/",
        "https://[::1]/",
        "https://[fd00::1]:8443/",
        "https://[fe80::1]/",
        "https://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://127.1/",
    ] {
        assert_eq!(check_url(url, false), Err(TargetError::Private), "{url}");
        assert!(check_url(url, true).is_ok(), "{url}");
    }
}

#[test]
fn public_targets_are_accepted_with_their_port() {
    let t = check_url("https://hooks.example.com/x?y=1", false).unwrap();
    assert_eq!(
        (t.https, t.host.as_str(), t.port),
        (true, "hooks.example.com", 443)
    );
    let t = check_url("http://93.184.216.34:8080", false).unwrap();
    assert_eq!((t.https, t.port), (false, 8080));
    let t = check_url("https://[2606:4700::1]/", false).unwrap();
    assert_eq!(t.host, "2606:4700::1");
}

#[test]
fn malformed_targets_are_refused() {
    for url in [
        "",
        "ftp://example.com/",
        "example.com",
        "http://",
        "http://user:pw@example.com/",
        "http://example.com:notaport/",
        "http://example.com:0/",
        "http://exa mple.com/",
        "http://[::1/",
    ] {
        assert_eq!(check_url(url, true), Err(TargetError::Malformed), "{url:?}");
    }
}

fn api(repo: MockWebhookRepository, allow_private: bool) -> WebhookService {
    let mut clock = MockClock::new();
    clock.expect_now().return_const(NOW);
    let mut secrets = MockSecretBox::new();
    secrets
        .expect_seal()
        .returning(|p, _| Ok([b"sealed:".as_slice(), p].concat()));
    WebhookService::new(
        Arc::new(repo),
        Arc::new(secrets),
        Arc::new(clock),
        WebhookSettings {
            allow_private_targets: allow_private,
            ..WebhookSettings::default()
        },
    )
}

fn input(url: &str, types: &[&str]) -> EndpointInput {
    EndpointInput {
        url: url.to_owned(),
        description: None,
        event_types: types.iter().map(|t| (*t).to_owned()).collect(),
        campaign_id: None,
    }
}

#[tokio::test]
async fn create_stores_a_sealed_secret_and_shows_it_once() {
    let ws = WorkspaceId::new();
    let mut repo = MockWebhookRepository::new();
    repo.expect_create()
        .withf(move |n| {
            n.endpoint.workspace_id == ws
                && n.endpoint.enabled
                && n.endpoint.event_types == ["email_sent", "lead_bounced"]
                && n.sealed_secret.starts_with(b"sealed:")
        })
        .times(1)
        .returning(|_| Ok(()));
    let created = api(repo, false)
        .create(
            ws,
            input(
                " https://hooks.example.com/in ",
                &["email_sent", "lead_bounced", "email_sent"],
            ),
        )
        .await
        .unwrap();
    assert_eq!(created.endpoint.url, "https://hooks.example.com/in");
    assert!(parse_secret(&created.secret).is_some_and(|s| s.len() == SECRET_BYTES));
}

#[tokio::test]
async fn create_refuses_bad_fields_without_storing() {
    let cases: [(EndpointInput, &str); 4] = [
        (input("https://h.example.com", &[]), "event_types"),
        (input("https://h.example.com", &["nope"]), "event_types"),
        (input("http://127.0.0.1:9/", &["email_sent"]), "url"),
        (input("mailto:x@y", &["email_sent"]), "url"),
    ];
    for (i, field) in cases {
        let mut repo = MockWebhookRepository::new();
        repo.expect_create().never();
        let r = api(repo, false).create(WorkspaceId::new(), i).await;
        assert!(matches!(r, Err(WebhookError::Invalid(f, _)) if f == field));
    }
}

#[tokio::test]
async fn create_refuses_another_workspaces_campaign() {
    let mut repo = MockWebhookRepository::new();
    repo.expect_campaign_exists().returning(|_, _| Ok(false));
    repo.expect_create().never();
    let mut i = input("https://h.example.com", &["email_sent"]);
    i.campaign_id = Some(CampaignId::new());
    let r = api(repo, false).create(WorkspaceId::new(), i).await;
    assert!(matches!(r, Err(WebhookError::Invalid("campaign_id", _))));
}

#[tokio::test]
async fn reenabling_clears_the_disabled_reason() {
    let ws = WorkspaceId::new();
    let id = WebhookEndpointId::new();
    let mut repo = MockWebhookRepository::new();
    repo.expect_get().returning(move |_, _| {
        Ok(Some(WebhookEndpoint {
            id,
            workspace_id: ws,
            url: "https://h.example.com".to_owned(),
            description: String::new(),
            event_types: vec!["email_sent".to_owned()],
            campaign_id: None,
            enabled: false,
            disabled_reason: Some("failing".to_owned()),
            created_at: NOW,
            updated_at: NOW,
        }))
    });
    repo.expect_update()
        .withf(|e, set_enabled| *set_enabled && e.enabled && e.disabled_reason.is_none())
        .times(1)
        .returning(|e, _| Ok(Some(e.clone())));
    let e = api(repo, false)
        .update(
            ws,
            id,
            EndpointChanges {
                enabled: Some(true),
                ..EndpointChanges::default()
            },
        )
        .await
        .unwrap();
    assert!(e.enabled);
}

#[tokio::test]
async fn another_workspaces_endpoint_is_not_found() {
    let mut repo = MockWebhookRepository::new();
    repo.expect_get().returning(|_, _| Ok(None));
    repo.expect_enqueue().never();
    let s = api(repo, false);
    let r = s
        .send_test(WorkspaceId::new(), WebhookEndpointId::new())
        .await;
    assert!(matches!(r, Err(WebhookError::NotFound)));
}

fn worker(
    repo: MockWebhookRepository,
    poster: MockWebhookPoster,
    max_attempts: u32,
) -> WebhookDeliveryService {
    let mut clock = MockClock::new();
    clock.expect_now().return_const(NOW);
    let mut secrets = MockSecretBox::new();
    secrets
        .expect_open()
        .returning(|_, _| Ok(b"0123456789abcdef".to_vec()));
    WebhookDeliveryService::new(
        Arc::new(repo),
        Arc::new(poster),
        Arc::new(secrets),
        Arc::new(clock),
        WebhookSettings {
            max_attempts,
            ..WebhookSettings::default()
        },
    )
}

fn due(attempts: u32) -> DueDelivery {
    DueDelivery {
        id: WebhookDeliveryId::new(),
        endpoint_id: WebhookEndpointId::new(),
        url: "https://h.example.com/in".to_owned(),
        sealed_secret: b"x".to_vec(),
        payload: serde_json::json!({"type": "email_sent"}),
        attempts,
    }
}

#[tokio::test]
async fn a_2xx_answer_marks_the_delivery_delivered_with_a_valid_signature() {
    let d = due(0);
    let mut repo = MockWebhookRepository::new();
    let claimed = d.clone();
    repo.expect_claim_due()
        .returning(move |_, _, _, _| Ok(vec![claimed.clone()]));
    repo.expect_record_attempt()
        .withf(|_, _, o| *o == AttemptOutcome::Delivered { status_code: 204 })
        .times(1)
        .returning(|_, _, _| Ok(()));
    let mut poster = MockWebhookPoster::new();
    poster
        .expect_post()
        .withf(|url, headers, body| {
            let get = |n: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let id = get("webhook-id");
            let ts: i64 = get("webhook-timestamp").parse().unwrap_or_default();
            url == "https://h.example.com/in"
                && ts == NOW.unix_timestamp()
                && get("webhook-signature") == sign(b"0123456789abcdef", &id, ts, body)
        })
        .returning(|_, _, _| Ok(PostResult { status_code: 204 }));
    let report = worker(repo, poster, 3).tick().await.unwrap();
    assert_eq!(report.delivered, 1);
}

#[tokio::test]
async fn a_failure_is_retried_after_the_backoff_until_the_last_attempt() {
    let mut repo = MockWebhookRepository::new();
    repo.expect_claim_due()
        .returning(|_, _, _, _| Ok(vec![due(1), due(2)]));
    let mut seq = mockall::Sequence::new();
    repo.expect_record_attempt()
        .withf(|_, _, o| {
            matches!(o, AttemptOutcome::Retry { status_code: Some(500), next_attempt_at, .. }
                if *next_attempt_at == NOW + Duration::from_secs(60))
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(()));
    repo.expect_record_attempt()
        .withf(|_, _, o| {
            matches!(
                o,
                AttemptOutcome::GaveUp {
                    status_code: Some(500),
                    disable_after: 3,
                    ..
                }
            )
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(()));
    let mut poster = MockWebhookPoster::new();
    poster
        .expect_post()
        .returning(|_, _, _| Ok(PostResult { status_code: 500 }));
    let report = worker(repo, poster, 3).tick().await.unwrap();
    assert_eq!((report.retried, report.failed), (1, 1));
}

#[tokio::test]
async fn a_connection_error_is_recorded_as_a_retry() {
    let mut repo = MockWebhookRepository::new();
    repo.expect_claim_due()
        .returning(|_, _, _, _| Ok(vec![due(0)]));
    repo.expect_record_attempt()
        .withf(|_, _, o| {
            matches!(o, AttemptOutcome::Retry { status_code: None, error, next_attempt_at }
                if error.contains("refused") && *next_attempt_at == NOW + Duration::from_secs(30))
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    let mut poster = MockWebhookPoster::new();
    poster
        .expect_post()
        .returning(|_, _, _| Err("connection refused".to_owned()));
    worker(repo, poster, 3).tick().await.unwrap();
}
