//! `/api/v1/campaigns/{campaign_id}/leads`: create, bulk create, index, show, delete.

mod dto;
mod handlers;

use actix_web::web;

use crate::resource;

/// Largest body of a bulk create: 1,000 leads with room for rich variables (16 KiB each).
pub const MAX_BULK_JSON_BYTES: usize = 16 * 1024 * 1024;

/// Mounts the lead routes (inside `/api/v1`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/campaigns/{campaign_id}/leads")
            .route(web::get().to(handlers::index))
            .route(web::post().to(handlers::create)),
    )
    // Before `{id}`, which would otherwise take `bulk` as a lead id.
    .service(
        resource("/campaigns/{campaign_id}/leads/bulk")
            .app_data(web::PayloadConfig::new(MAX_BULK_JSON_BYTES))
            .route(web::post().to(handlers::bulk)),
    )
    .service(
        resource("/campaigns/{campaign_id}/leads/{id}")
            .route(web::get().to(handlers::show))
            .route(web::delete().to(handlers::delete)),
    );
}
