//! The route table: every route the server mounts is added through [`Routes`], so the same
//! table both mounts the routes and lists them ([`crate::route_table`]), and a test compares the
//! list with the OpenAPI document in both directions.
//!
//! To add an endpoint: annotate its handler with `#[utoipa::path(...)]`, list the handler in
//! [`crate::openapi::ApiDoc`]'s `paths(...)`, and add it here with [`Routes::route`] (or
//! `get`/`post`/...) in its module's `routes` function. Never mount a route with a bare
//! `cfg.service(...)`: the coverage test would not see it.

use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Resource, Responder, web};

struct Entry {
    path: String,
    methods: Vec<Method>,
    resource: Option<Resource>,
}

/// Routes under one prefix, grouped by path: one actix resource per path, so a path's other
/// methods answer 405 (from the resource's default service).
pub struct Routes {
    prefix: String,
    new_resource: fn(&str) -> Resource,
    entries: Vec<Entry>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes")
            .field("prefix", &self.prefix)
            .field("routes", &self.list())
            .finish_non_exhaustive()
    }
}

impl Routes {
    /// Routes whose paths are relative to `prefix` (the scope they are mounted in), each path a
    /// resource made by `new_resource` (e.g. [`crate::resource`], which answers 405 in the
    /// envelope).
    pub(crate) fn new(prefix: &str, new_resource: fn(&str) -> Resource) -> Self {
        Self {
            prefix: prefix.to_owned(),
            new_resource,
            entries: Vec::new(),
        }
    }

    fn entry(&mut self, path: &str) -> &mut Entry {
        let index = match self.entries.iter().position(|e| e.path == path) {
            Some(i) => i,
            None => {
                self.entries.push(Entry {
                    path: path.to_owned(),
                    methods: Vec::new(),
                    resource: Some((self.new_resource)(path)),
                });
                self.entries.len() - 1
            }
        };
        &mut self.entries[index]
    }

    /// Adds `method path` answered by `handler`. Paths are matched in the order first added.
    pub(crate) fn route<F, Args>(&mut self, method: Method, path: &str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let entry = self.entry(path);
        entry.methods.push(method.clone());
        entry.resource = entry
            .resource
            .take()
            .map(|r| r.route(web::method(method).to(handler)));
        self
    }

    pub(crate) fn get<F, Args>(&mut self, path: &str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::GET, path, handler)
    }

    pub(crate) fn post<F, Args>(&mut self, path: &str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::POST, path, handler)
    }

    pub(crate) fn patch<F, Args>(&mut self, path: &str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::PATCH, path, handler)
    }

    pub(crate) fn delete<F, Args>(&mut self, path: &str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::DELETE, path, handler)
    }

    /// Adds app data to the resource of `path` (e.g. a larger body limit for one route).
    pub(crate) fn data<U: 'static>(&mut self, path: &str, data: U) -> &mut Self {
        let entry = self.entry(path);
        entry.resource = entry.resource.take().map(|r| r.app_data(data));
        self
    }

    /// Every `(METHOD, full path)` of this table, in the order added.
    #[must_use]
    pub fn list(&self) -> Vec<(String, String)> {
        self.entries
            .iter()
            .flat_map(|e| {
                e.methods
                    .iter()
                    .map(|m| (m.as_str().to_owned(), format!("{}{}", self.prefix, e.path)))
            })
            .collect()
    }

    /// Mounts every resource into `cfg` (which is the scope of the prefix).
    pub(crate) fn mount(self, cfg: &mut web::ServiceConfig) {
        for entry in self.entries {
            if let Some(resource) = entry.resource {
                cfg.service(resource);
            }
        }
    }
}
