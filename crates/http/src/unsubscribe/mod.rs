//! `/u/{token}`: the public unsubscribe link put in campaign emails (no API key).
//!
//! `GET` shows a confirmation page with a button and changes nothing (mail scanners and link
//! previews fetch links). `POST` — the page's button, or an RFC 8058 one-click request from the
//! mail client (`List-Unsubscribe=One-Click`; the body and its content type are not read) —
//! unsubscribes the lead and blocklists its address, once; repeating it changes nothing and
//! answers the same page. An unknown, tampered or deleted link answers a 404 page. People see
//! these answers, so they are small HTML pages, not the API's JSON envelope.

mod pages;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, Resource, web};
use reachkit_core::StoreError;
use reachkit_core::unsubscribe::{UnsubscribeError, UnsubscribeService};

use crate::routes::Routes;

/// A resource whose unsupported methods answer the 405 page.
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(|| async {
        page(StatusCode::METHOD_NOT_ALLOWED, pages::METHOD_NOT_ALLOWED)
    }))
}

/// The unsubscribe routes (inside `/u`).
pub(crate) fn routes() -> Routes {
    let mut r = Routes::new("/u", resource);
    r.get("/{token}", confirm).post("/{token}", unsubscribe);
    r
}

/// Mounts `/u/{token}` (outside `/api/v1`) over the given service.
pub fn configure(service: UnsubscribeService) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(
            web::scope("/u")
                .app_data(web::Data::new(service))
                .configure(|c| routes().mount(c)),
        );
    }
}

/// An HTML page with headers for a page that carries a secret link: never cached, never
/// indexed, never sent on as a referrer, no scripts.
fn page(status: StatusCode, html: &'static str) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .insert_header((
            "X-Robots-Tag",
            HeaderValue::from_static("noindex, nofollow"),
        ))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
                 frame-ancestors 'none'",
            ),
        ));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response.insert_header((header::ALLOW, "GET, POST"));
    }
    response.body(html)
}

fn error_page(e: UnsubscribeError) -> HttpResponse {
    match e {
        UnsubscribeError::NotFound => page(StatusCode::NOT_FOUND, pages::NOT_FOUND),
        UnsubscribeError::Store(e) => {
            let status = match &e {
                StoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                StoreError::Other(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            tracing::error!(error = %format!("{:#}", anyhow::Error::from(e)), "unsubscribe failed");
            page(status, pages::FAILED)
        }
    }
}

/// `GET /u/{token}`: the confirmation page.
#[utoipa::path(
    get, path = "/u/{token}", tag = "unsubscribe", operation_id = "unsubscribe_page",
    params(("token" = String, Path, description = "The signed token of the link in the email.")),
    responses(
        (status = 200, description = "The confirmation page with its button; changes nothing.", content_type = "text/html", body = String),
        (status = 404, description = "An unknown, tampered or deleted link (an HTML page).", content_type = "text/html", body = String),
        (status = 503, description = "The database cannot be reached (an HTML page).", content_type = "text/html", body = String)
    )
)]
pub(crate) async fn confirm(
    service: web::Data<UnsubscribeService>,
    token: web::Path<String>,
) -> HttpResponse {
    match service.check(&token).await {
        Ok(_) => page(StatusCode::OK, pages::CONFIRM),
        Err(e) => error_page(e),
    }
}

/// `POST /u/{token}`: the button and RFC 8058 one-click.
///
/// Unsubscribes the lead and blocklists its address, once; repeating it changes nothing. The
/// body and its content type are not read.
#[utoipa::path(
    post, path = "/u/{token}", tag = "unsubscribe", operation_id = "unsubscribe",
    params(("token" = String, Path, description = "The signed token of the link in the email.")),
    responses(
        (status = 200, description = "Done (an HTML page).", content_type = "text/html", body = String),
        (status = 404, description = "An unknown, tampered or deleted link (an HTML page).", content_type = "text/html", body = String),
        (status = 503, description = "The database cannot be reached (an HTML page).", content_type = "text/html", body = String)
    )
)]
pub(crate) async fn unsubscribe(
    service: web::Data<UnsubscribeService>,
    token: web::Path<String>,
) -> HttpResponse {
    match service.unsubscribe(&token).await {
        Ok(_) => page(StatusCode::OK, pages::DONE),
        Err(e) => error_page(e),
    }
}
