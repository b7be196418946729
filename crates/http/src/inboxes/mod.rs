//! `/api/v1/inboxes`: index, create (an extension), show, update, delete (an extension) and
//! warmup stats.

mod dto;
mod handlers;

use actix_web::web;

use crate::resource;

/// Mounts the inbox routes (inside `/api/v1`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/inboxes")
            .route(web::get().to(handlers::index))
            .route(web::post().to(handlers::create)),
    )
    .service(
        resource("/inboxes/{id}")
            .route(web::get().to(handlers::show))
            .route(web::patch().to(handlers::update))
            .route(web::delete().to(handlers::delete)),
    )
    .service(
        resource("/inboxes/{inbox_id}/warmup/stats").route(web::get().to(handlers::warmup_stats)),
    );
}
