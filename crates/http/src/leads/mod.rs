//! `/api/v1/campaigns/{campaign_id}/leads`: create, index, show, delete.

mod dto;
mod handlers;

use actix_web::web;

use crate::resource;

/// Mounts the lead routes (inside `/api/v1`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/campaigns/{campaign_id}/leads")
            .route(web::get().to(handlers::index))
            .route(web::post().to(handlers::create)),
    )
    .service(
        resource("/campaigns/{campaign_id}/leads/{id}")
            .route(web::get().to(handlers::show))
            .route(web::delete().to(handlers::delete)),
    );
}
