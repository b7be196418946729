//! `/api/v1/unibox/conversations`: the six conversation endpoints of the contract.

pub(crate) mod dto;
pub(crate) mod handlers;

use actix_web::web;
use reachkit_core::unibox::UniboxService;

use crate::resource;
use crate::routes::Routes;

/// The unibox routes (inside `/api/v1/unibox`).
pub(crate) fn routes() -> Routes {
    let mut r = Routes::new("/api/v1/unibox", resource);
    r.get("/conversations", handlers::index)
        .post("/conversations", handlers::create)
        .get("/conversations/{id}", handlers::show)
        .patch("/conversations/{id}", handlers::update)
        .post("/conversations/{id}/reply", handlers::reply)
        .get(
            "/conversations/{conversation_id}/attachments/{id}",
            handlers::attachment,
        );
    r
}

/// Mounts the unibox routes with their service. Configure it before [`crate::configure`]
/// (whose `/api/v1` scope and default service would otherwise answer these paths).
pub fn configure(service: UniboxService) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(
            web::scope("/api/v1/unibox")
                .app_data(web::Data::new(service))
                .configure(|c| routes().mount(c))
                .default_service(web::to(crate::not_found)),
        );
    }
}
