//! `/api/v1/webhooks`: endpoints, their test event, delivery log and redelivery
//! (docs/WEBHOOKS.md).

mod dto;
mod handlers;

use actix_web::web;
use reachkit_core::webhooks::WebhookService;

use crate::resource;

/// Mounts the webhook routes with their service. Configure it before [`crate::configure`]
/// (whose `/api/v1` scope and default service would otherwise answer these paths).
pub fn configure(service: WebhookService) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(
            web::scope("/api/v1/webhooks")
                .app_data(web::Data::new(service))
                .service(
                    resource("")
                        .route(web::get().to(handlers::index))
                        .route(web::post().to(handlers::create)),
                )
                .service(
                    resource("/{id}")
                        .route(web::get().to(handlers::show))
                        .route(web::patch().to(handlers::update))
                        .route(web::delete().to(handlers::delete)),
                )
                .service(resource("/{id}/test").route(web::post().to(handlers::test)))
                .service(resource("/{id}/deliveries").route(web::get().to(handlers::deliveries)))
                .service(
                    resource("/{id}/deliveries/{delivery_id}/redeliver")
                        .route(web::post().to(handlers::redeliver)),
                )
                .default_service(web::to(crate::not_found)),
        );
    }
}
