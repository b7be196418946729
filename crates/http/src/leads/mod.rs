//! `/api/v1/campaigns/{campaign_id}/leads`: create, bulk create, index, show, delete.

pub(crate) mod dto;
pub(crate) mod handlers;

use actix_web::web;

use crate::routes::Routes;

/// Largest body of a bulk create: 1,000 leads with room for rich variables (16 KiB each).
pub const MAX_BULK_JSON_BYTES: usize = 16 * 1024 * 1024;

/// Adds the lead routes (inside `/api/v1`).
pub(crate) fn routes(r: &mut Routes) {
    r.get("/campaigns/{campaign_id}/leads", handlers::index)
        .post("/campaigns/{campaign_id}/leads", handlers::create)
        // Before `{id}`, which would otherwise take `bulk` as a lead id.
        .post("/campaigns/{campaign_id}/leads/bulk", handlers::bulk)
        .data(
            "/campaigns/{campaign_id}/leads/bulk",
            web::PayloadConfig::new(MAX_BULK_JSON_BYTES),
        )
        .get("/campaigns/{campaign_id}/leads/{id}", handlers::show)
        .delete("/campaigns/{campaign_id}/leads/{id}", handlers::delete);
}
