//! `/api/v1/unibox/conversations`: the six conversation endpoints of the contract.

mod dto;
mod handlers;

use actix_web::web;
use reachkit_core::unibox::UniboxService;

use crate::resource;

/// Mounts the unibox routes with their service. Configure it before [`crate::configure`]
/// (whose `/api/v1` scope and default service would otherwise answer these paths).
pub fn configure(service: UniboxService) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(
            web::scope("/api/v1/unibox")
                .app_data(web::Data::new(service))
                .service(
                    resource("/conversations")
                        .route(web::get().to(handlers::index))
                        .route(web::post().to(handlers::create)),
                )
                .service(
                    resource("/conversations/{id}")
                        .route(web::get().to(handlers::show))
                        .route(web::patch().to(handlers::update)),
                )
                .service(
                    resource("/conversations/{id}/reply").route(web::post().to(handlers::reply)),
                )
                .service(
                    resource("/conversations/{conversation_id}/attachments/{id}")
                        .route(web::get().to(handlers::attachment)),
                )
                .default_service(web::to(crate::not_found)),
        );
    }
}
