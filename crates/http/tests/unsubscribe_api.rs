//! The HTTP contract of the public unsubscribe link `/u/{token}`, over a mocked port.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{App, test};
use reachkit_core::StoreError;
use reachkit_core::clock::Clock;
use reachkit_core::ids::LeadId;
use reachkit_core::unsubscribe::{
    MockUnsubscribeRepository, UnsubscribeService, UnsubscribeTokens, Unsubscribed,
};
use reachkit_http::configure_unsubscribe;
use time::OffsetDateTime;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

struct Fixed;
impl Clock for Fixed {
    fn now(&self) -> OffsetDateTime {
        NOW
    }
}

fn tokens() -> UnsubscribeTokens {
    UnsubscribeTokens::new(&[9; 32], "https://reach.example")
}

struct Answer {
    status: StatusCode,
    content_type: String,
    cache_control: String,
    allow: String,
    body: String,
}

async fn call(repo: MockUnsubscribeRepository, req: test::TestRequest) -> Answer {
    let service = UnsubscribeService::new(Arc::new(repo), tokens(), Arc::new(Fixed));
    let app = test::init_service(App::new().configure(configure_unsubscribe(service))).await;
    let response = test::call_service(&app, req.to_request()).await;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (status, content_type, cache_control, allow) = (
        response.status(),
        header("content-type"),
        header("cache-control"),
        header("allow"),
    );
    let body = String::from_utf8(test::read_body(response).await.to_vec()).expect("UTF-8");
    Answer {
        status,
        content_type,
        cache_control,
        allow,
        body,
    }
}

/// A repository that must not change anything.
fn read_only(exists: bool) -> MockUnsubscribeRepository {
    let mut repo = MockUnsubscribeRepository::new();
    repo.expect_lead_exists().returning(move |_| Ok(exists));
    repo.expect_unsubscribe().never();
    repo
}

fn unsubscribing(lead: LeadId, outcome: Option<Unsubscribed>) -> MockUnsubscribeRepository {
    let mut repo = MockUnsubscribeRepository::new();
    repo.expect_lead_exists().never();
    repo.expect_unsubscribe()
        .withf(move |l, _, now| *l == lead && *now == NOW)
        .times(1)
        .returning(move |_, _, _| Ok(outcome));
    repo
}

fn tampered(token: &str) -> String {
    let mut t = token.to_owned();
    let last = if t.ends_with('A') { "B" } else { "A" };
    t.replace_range(t.len() - 1.., last);
    t
}

#[actix_web::test]
async fn get_shows_a_confirmation_page_with_a_post_button_and_changes_nothing() {
    let lead = LeadId::new();
    let token = tokens().token(lead);
    let answer = call(
        read_only(true),
        test::TestRequest::get().uri(&format!("/u/{token}")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type, "text/html; charset=utf-8");
    assert_eq!(answer.cache_control, "no-store");
    assert!(
        answer.body.contains("<form method=\"post\">"),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("<button"), "{}", answer.body);
    assert!(!answer.body.contains(&token), "the token is not echoed");
}

#[actix_web::test]
async fn post_from_the_button_unsubscribes() {
    let lead = LeadId::new();
    let token = tokens().token(lead);
    let answer = call(
        unsubscribing(lead, Some(Unsubscribed::Now)),
        test::TestRequest::post()
            .uri(&format!("/u/{token}"))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload("List-Unsubscribe=One-Click"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type, "text/html; charset=utf-8");
    assert!(
        answer.body.contains("You are unsubscribed"),
        "{}",
        answer.body
    );
}

#[actix_web::test]
async fn one_click_posts_work_with_any_content_type_or_none() {
    let lead = LeadId::new();
    let token = tokens().token(lead);
    for (content_type, body) in [
        (
            Some("multipart/form-data; boundary=xyz"),
            "--xyz\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--xyz--\r\n",
        ),
        (Some("text/plain"), "List-Unsubscribe=One-Click"),
        (Some("application/json"), "{not json"),
        (None, ""),
    ] {
        let mut req = test::TestRequest::post()
            .uri(&format!("/u/{token}"))
            .set_payload(body);
        if let Some(ct) = content_type {
            req = req.insert_header(("content-type", ct));
        }
        let answer = call(unsubscribing(lead, Some(Unsubscribed::Now)), req).await;
        assert_eq!(answer.status, StatusCode::OK, "{content_type:?}");
    }
}

#[actix_web::test]
async fn a_second_post_answers_the_same_page() {
    let lead = LeadId::new();
    let token = tokens().token(lead);
    let answer = call(
        unsubscribing(lead, Some(Unsubscribed::Already)),
        test::TestRequest::post().uri(&format!("/u/{token}")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.contains("You are unsubscribed"));
}

#[actix_web::test]
async fn tampered_foreign_and_garbage_tokens_are_a_404_page_without_touching_the_store() {
    let token = tokens().token(LeadId::new());
    let foreign = UnsubscribeTokens::new(&[1; 32], "https://x").token(LeadId::new());
    for bad in [
        tampered(&token),
        foreign,
        "nope".to_owned(),
        "%00".to_owned(),
    ] {
        for req in [test::TestRequest::get(), test::TestRequest::post()] {
            let mut repo = MockUnsubscribeRepository::new();
            repo.expect_lead_exists().never();
            repo.expect_unsubscribe().never();
            let answer = call(repo, req.uri(&format!("/u/{bad}"))).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{bad}");
            assert_eq!(answer.content_type, "text/html; charset=utf-8");
            assert!(answer.body.contains("Link not found"));
        }
    }
}

#[actix_web::test]
async fn a_deleted_lead_is_a_404_page() {
    let lead = LeadId::new();
    let token = tokens().token(lead);
    let answer = call(
        read_only(false),
        test::TestRequest::get().uri(&format!("/u/{token}")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let answer = call(
        unsubscribing(lead, None),
        test::TestRequest::post().uri(&format!("/u/{token}")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(answer.body.contains("Link not found"));
}

#[actix_web::test]
async fn a_store_outage_is_a_503_page_asking_to_try_again() {
    let token = tokens().token(LeadId::new());
    let mut repo = MockUnsubscribeRepository::new();
    repo.expect_unsubscribe()
        .returning(|_, _, _| Err(StoreError::Unavailable(anyhow::anyhow!("down"))));
    let answer = call(repo, test::TestRequest::post().uri(&format!("/u/{token}"))).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.body.contains("try again"), "{}", answer.body);
    assert!(!answer.body.contains("down"));
}

#[actix_web::test]
async fn other_methods_are_refused_with_allow() {
    let token = tokens().token(LeadId::new());
    let mut repo = MockUnsubscribeRepository::new();
    repo.expect_lead_exists().never();
    repo.expect_unsubscribe().never();
    let answer = call(
        repo,
        test::TestRequest::delete().uri(&format!("/u/{token}")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.allow, "GET, POST");
}
