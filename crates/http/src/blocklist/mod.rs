//! `/api/v1/blocklist`: the four blocklist endpoints of the contract.

pub(crate) mod dto;
pub(crate) mod handlers;

use crate::routes::Routes;

/// Adds the blocklist routes (inside `/api/v1`). `check` comes before `{id}` so it is not
/// taken for an id.
pub(crate) fn routes(r: &mut Routes) {
    r.get("/blocklist", handlers::index)
        .post("/blocklist", handlers::create)
        .get("/blocklist/check", handlers::check)
        .delete("/blocklist/{id}", handlers::delete);
}
