//! `/api/v1/campaigns/...`: campaigns, their schedule, inboxes and analytics, and their
//! sequence steps and variants.

mod dto;
mod handlers;

use actix_web::web;

use crate::resource;

/// Mounts the campaign, sequence and variant routes (inside `/api/v1`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/campaigns")
            .route(web::get().to(handlers::index))
            .route(web::post().to(handlers::create)),
    )
    .service(
        resource("/campaigns/{id}")
            .route(web::get().to(handlers::show))
            .route(web::patch().to(handlers::update))
            .route(web::delete().to(handlers::delete)),
    )
    .service(
        resource("/campaigns/{campaign_id}/schedule")
            .route(web::patch().to(handlers::update_schedule)),
    )
    .service(
        resource("/campaigns/{campaign_id}/inboxes/attach").route(web::post().to(handlers::attach)),
    )
    .service(
        resource("/campaigns/{campaign_id}/inboxes/detach").route(web::post().to(handlers::detach)),
    )
    .service(
        resource("/campaigns/{campaign_id}/analytics").route(web::get().to(handlers::analytics)),
    )
    .service(
        resource("/campaigns/{campaign_id}/sequences")
            .route(web::get().to(handlers::list_steps))
            .route(web::post().to(handlers::create_step)),
    )
    .service(
        resource("/campaigns/{campaign_id}/sequences/{id}")
            .route(web::patch().to(handlers::update_step))
            .route(web::delete().to(handlers::delete_step)),
    )
    .service(
        resource("/campaigns/{campaign_id}/sequences/{id}/variants")
            .route(web::post().to(handlers::create_variant)),
    )
    .service(
        resource("/campaigns/{campaign_id}/variants/{variant_id}")
            .route(web::patch().to(handlers::update_variant))
            .route(web::delete().to(handlers::delete_variant)),
    );
}
