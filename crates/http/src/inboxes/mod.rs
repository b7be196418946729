//! `/api/v1/inboxes`: index, create (an extension), show, update, delete (an extension) and
//! warmup stats.

pub(crate) mod dto;
pub(crate) mod handlers;

use crate::routes::Routes;

/// Adds the inbox routes (inside `/api/v1`).
pub(crate) fn routes(r: &mut Routes) {
    r.get("/inboxes", handlers::index)
        .post("/inboxes", handlers::create)
        .get("/inboxes/{id}", handlers::show)
        .patch("/inboxes/{id}", handlers::update)
        .delete("/inboxes/{id}", handlers::delete)
        .get("/inboxes/{inbox_id}/warmup/stats", handlers::warmup_stats);
}
