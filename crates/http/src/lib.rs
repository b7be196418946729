//! Reachkit's HTTP adapter: the REST API of `reachkit-api.md` on actix-web.
//!
//! Handlers translate between HTTP and the services of `reachkit-core`; they know services and
//! domain types, never the database or mail adapters. Every response is in the contract's
//! envelope, actix's own rejections included.

pub mod auth;
mod blocklist;
mod campaigns;
pub mod envelope;
pub mod error;
pub mod extract;
mod inboxes;
mod leads;
pub mod openapi;
pub mod ops;
pub mod request_log;
pub mod routes;
mod unibox;
mod unsubscribe;
mod webhooks;

use actix_web::{HttpResponse, Resource, web};
use reachkit_core::api_keys::ApiKeyService;
use reachkit_core::blocklist::BlocklistService;
use reachkit_core::campaigns::CampaignService;
use reachkit_core::inboxes::InboxService;
use reachkit_core::leads::LeadService;
use reachkit_core::sequences::SequenceService;
use reachkit_core::unsubscribe::UnsubscribeService;

use crate::error::ApiError;
use crate::routes::Routes;

/// The services the API drives.
#[derive(Clone, Debug)]
pub struct Services {
    pub api_keys: ApiKeyService,
    pub blocklist: BlocklistService,
    pub inboxes: InboxService,
    pub leads: LeadService,
    pub campaigns: CampaignService,
    pub sequences: SequenceService,
}

/// A route resource whose unsupported methods answer 405 in the envelope.
pub(crate) fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(|| async {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed)
    }))
}

pub(crate) async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("not found"))
}

/// Mounts the public unsubscribe link `/u/{token}` (no API key; HTML answers). Configure it
/// before [`configure`], whose default service answers unknown paths.
pub fn configure_unsubscribe(service: UnsubscribeService) -> impl FnOnce(&mut web::ServiceConfig) {
    unsubscribe::configure(service)
}

/// Mounts the unibox endpoints (`/api/v1/unibox/...`) over their service. Configure it before
/// [`configure`], whose `/api/v1` scope would otherwise take these paths.
pub fn configure_unibox(
    service: reachkit_core::unibox::UniboxService,
) -> impl FnOnce(&mut web::ServiceConfig) {
    unibox::configure(service)
}

/// Mounts the webhook endpoints (`/api/v1/webhooks/...`) over their service. Configure it
/// before [`configure`], whose `/api/v1` scope would otherwise take these paths.
pub fn configure_webhooks(
    service: reachkit_core::webhooks::WebhookService,
) -> impl FnOnce(&mut web::ServiceConfig) {
    webhooks::configure(service)
}

/// The routes of `/api/v1` that [`configure`] mounts (unibox has its own scope).
fn api_routes() -> Routes {
    let mut r = Routes::new("/api/v1", resource);
    openapi::api_routes(&mut r);
    blocklist::routes(&mut r);
    campaigns::routes(&mut r);
    inboxes::routes(&mut r);
    leads::routes(&mut r);
    r
}

/// The routes at the root that [`configure`] mounts.
fn root_routes() -> Routes {
    let mut r = Routes::new("", resource);
    openapi::root_routes(&mut r);
    r
}

/// Every `(METHOD, path)` the server mounts, from the same tables the `configure*` functions
/// mount: the OpenAPI document must list exactly these (a test checks both directions).
#[must_use]
pub fn route_table() -> Vec<(String, String)> {
    let mut all = ops::routes().list();
    all.extend(unsubscribe::routes().list());
    all.extend(unibox::routes().list());
    all.extend(webhooks::routes().list());
    all.extend(root_routes().list());
    all.extend(api_routes().list());
    all
}

/// Mounts the whole API: `/api/v1/...`, `/health`, the OpenAPI document and `/docs`, and the
/// envelope for unknown paths.
pub fn configure(services: Services) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(services.api_keys))
            .app_data(web::Data::new(services.blocklist))
            .app_data(web::Data::new(services.inboxes))
            .app_data(web::Data::new(services.leads))
            .app_data(web::Data::new(services.campaigns))
            .app_data(web::Data::new(services.sequences))
            .app_data(web::PayloadConfig::new(extract::MAX_JSON_BYTES))
            .app_data(extract::query_config())
            .app_data(extract::path_config())
            .app_data(extract::json_config())
            .configure(|c| root_routes().mount(c))
            .service(web::scope("/api/v1").configure(|c| api_routes().mount(c)))
            .default_service(web::to(not_found));
    }
}
