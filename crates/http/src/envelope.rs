//! The success envelope: `{"data": ...}`, plus `metadata` for lists.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use reachkit_core::paging::Page;
use serde::Serialize;

#[derive(Serialize)]
struct Data<T> {
    data: T,
}

#[derive(Serialize)]
struct Paged<T> {
    data: Vec<T>,
    metadata: Metadata,
}

/// Pagination metadata of a list response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Metadata {
    pub page: u32,
    pub page_size: u32,
    pub total_count: u64,
    pub total_pages: u64,
}

/// `{"data": value}` with the given status.
pub fn data<T: Serialize>(status: StatusCode, value: T) -> HttpResponse {
    HttpResponse::build(status).json(Data { data: value })
}

/// `{"data": [...], "metadata": {...}}` for one page, each item converted to its DTO.
pub fn page<T, D: Serialize>(page: Page<T>, to_dto: impl FnMut(T) -> D) -> HttpResponse {
    let metadata = Metadata {
        page: page.request.page(),
        page_size: page.request.page_size(),
        total_count: page.total_count,
        total_pages: page.total_pages(),
    };
    HttpResponse::Ok().json(Paged {
        data: page.items.into_iter().map(to_dto).collect(),
        metadata,
    })
}
