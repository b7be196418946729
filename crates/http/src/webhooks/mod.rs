//! `/api/v1/webhooks`: endpoints, their test event, delivery log and redelivery
//! (docs/WEBHOOKS.md).

pub(crate) mod dto;
pub(crate) mod handlers;

use actix_web::web;
use reachkit_core::webhooks::WebhookService;

use crate::resource;
use crate::routes::Routes;

/// The webhook routes (inside `/api/v1/webhooks`).
pub(crate) fn routes() -> Routes {
    let mut r = Routes::new("/api/v1/webhooks", resource);
    r.get("", handlers::index)
        .post("", handlers::create)
        .get("/{id}", handlers::show)
        .patch("/{id}", handlers::update)
        .delete("/{id}", handlers::delete)
        .post("/{id}/test", handlers::test)
        .get("/{id}/deliveries", handlers::deliveries)
        .post(
            "/{id}/deliveries/{delivery_id}/redeliver",
            handlers::redeliver,
        );
    r
}

/// Mounts the webhook routes with their service. Configure it before [`crate::configure`]
/// (whose `/api/v1` scope and default service would otherwise answer these paths).
pub fn configure(service: WebhookService) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(
            web::scope("/api/v1/webhooks")
                .app_data(web::Data::new(service))
                .configure(|c| routes().mount(c))
                .default_service(web::to(crate::not_found)),
        );
    }
}
