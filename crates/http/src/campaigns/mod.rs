//! `/api/v1/campaigns/...`: campaigns, their schedule, inboxes and analytics, and their
//! sequence steps and variants.

pub(crate) mod dto;
pub(crate) mod handlers;

use crate::routes::Routes;

/// Adds the campaign, sequence and variant routes (inside `/api/v1`).
pub(crate) fn routes(r: &mut Routes) {
    r.get("/campaigns", handlers::index)
        .post("/campaigns", handlers::create)
        .get("/campaigns/{id}", handlers::show)
        .patch("/campaigns/{id}", handlers::update)
        .delete("/campaigns/{id}", handlers::delete)
        .patch(
            "/campaigns/{campaign_id}/schedule",
            handlers::update_schedule,
        )
        .post("/campaigns/{campaign_id}/inboxes/attach", handlers::attach)
        .post("/campaigns/{campaign_id}/inboxes/detach", handlers::detach)
        .get("/campaigns/{campaign_id}/analytics", handlers::analytics)
        .get("/campaigns/{campaign_id}/sequences", handlers::list_steps)
        .post("/campaigns/{campaign_id}/sequences", handlers::create_step)
        .patch(
            "/campaigns/{campaign_id}/sequences/{id}",
            handlers::update_step,
        )
        .delete(
            "/campaigns/{campaign_id}/sequences/{id}",
            handlers::delete_step,
        )
        .post(
            "/campaigns/{campaign_id}/sequences/{id}/variants",
            handlers::create_variant,
        )
        .patch(
            "/campaigns/{campaign_id}/variants/{variant_id}",
            handlers::update_variant,
        )
        .delete(
            "/campaigns/{campaign_id}/variants/{variant_id}",
            handlers::delete_variant,
        );
}
