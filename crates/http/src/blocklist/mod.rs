//! `/api/v1/blocklist`: the four blocklist endpoints of the contract.

mod dto;
mod handlers;

use actix_web::web;

use crate::resource;

/// Mounts the blocklist routes (inside `/api/v1`). `check` comes before `{id}` so it is not
/// taken for an id.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/blocklist")
            .route(web::get().to(handlers::index))
            .route(web::post().to(handlers::create)),
    )
    .service(resource("/blocklist/check").route(web::get().to(handlers::check)))
    .service(resource("/blocklist/{id}").route(web::delete().to(handlers::delete)));
}
