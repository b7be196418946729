//! `GET /metrics`: Prometheus text exposition (format 0.0.4), written by hand. HTTP requests
//! and latency are counted in this process by [`record_metrics`]; the queue, outcomes, replies,
//! sync lag and pool come from the store on each scrape. Labels carry route patterns, statuses,
//! inbox ids and send statuses: never addresses or other tenant data.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};
use reachkit_core::metrics::{MetricsService, StoreSnapshot};

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone, Default)]
struct Series {
    count: u64,
    sum_seconds: f64,
    /// Per bucket of [`BUCKETS`], not cumulative.
    buckets: [u64; BUCKETS.len()],
}

/// Method, route pattern and status.
type SeriesKey = (String, String, u16);

/// The HTTP counters of this process, shared by every worker thread.
#[derive(Debug, Clone, Default)]
pub struct HttpMetrics {
    series: Arc<Mutex<BTreeMap<SeriesKey, Series>>>,
}

impl HttpMetrics {
    /// Counts one answered request.
    pub fn observe(&self, method: &str, route: &str, status: StatusCode, seconds: f64) {
        let mut series = self
            .series
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = series
            .entry((method.to_owned(), route.to_owned(), status.as_u16()))
            .or_default();
        entry.count += 1;
        entry.sum_seconds += seconds;
        if let Some(i) = BUCKETS.iter().position(|le| seconds <= *le) {
            entry.buckets[i] += 1;
        }
    }

    fn render(&self, out: &mut String) {
        let series = self
            .series
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        out.push_str(
            "# HELP reachkit_http_requests_total HTTP requests answered, by method, route pattern and status.\n\
             # TYPE reachkit_http_requests_total counter\n",
        );
        for ((method, route, status), s) in &series {
            let _ = writeln!(
                out,
                "reachkit_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {}",
                escape(method),
                escape(route),
                s.count
            );
        }
        out.push_str(
            "# HELP reachkit_http_request_duration_seconds Time to answer HTTP requests.\n\
             # TYPE reachkit_http_request_duration_seconds histogram\n",
        );
        for ((method, route, status), s) in &series {
            let labels = format!(
                "method=\"{}\",route=\"{}\",status=\"{status}\"",
                escape(method),
                escape(route)
            );
            let mut cumulative = 0;
            for (le, n) in BUCKETS.iter().zip(s.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "reachkit_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "reachkit_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "reachkit_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum_seconds
            );
            let _ = writeln!(
                out,
                "reachkit_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware for `actix_web::middleware::from_fn`: counts each request under its route
/// pattern (`/api/v1/campaigns/{id}`, never the concrete path; `unmatched` for unknown paths).
///
/// # Errors
/// Whatever the inner service returns.
pub async fn record_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let metrics = req.app_data::<web::Data<HttpMetrics>>().cloned();
    let started = Instant::now();
    let method = req.method().to_string();
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        metrics.observe(
            &method,
            &route,
            response.status(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(response)
}

pub(super) fn routes(r: &mut crate::routes::Routes) {
    r.get("/metrics", metrics);
}

/// Prometheus metrics: HTTP requests and latency by route and status, sends, replies, queue
/// depth, sync lag, pool usage (docs/API.md, "Metrics").
#[utoipa::path(
    get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses((status = 200, description = "The Prometheus text exposition format 0.0.4.", content_type = "text/plain; version=0.0.4", body = String))
)]
pub(crate) async fn metrics(
    http: Option<web::Data<HttpMetrics>>,
    store: Option<web::Data<MetricsService>>,
) -> HttpResponse {
    let mut out = String::new();
    if let Some(http) = http {
        http.render(&mut out);
    }
    if let Some(store) = store {
        match store.snapshot().await {
            Ok(snapshot) => {
                out.push_str(
                    "# HELP reachkit_metrics_database_up Whether the store answered this scrape.\n\
                     # TYPE reachkit_metrics_database_up gauge\nreachkit_metrics_database_up 1\n",
                );
                render_store(&snapshot, &mut out);
            }
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "metrics: the store did not answer"
                );
                out.push_str(
                    "# HELP reachkit_metrics_database_up Whether the store answered this scrape.\n\
                     # TYPE reachkit_metrics_database_up gauge\nreachkit_metrics_database_up 0\n",
                );
            }
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(out)
}

fn status_count(snapshot: &StoreSnapshot, status: &str) -> u64 {
    snapshot
        .sends_by_status
        .iter()
        .find(|(s, _)| s == status)
        .map_or(0, |(_, n)| *n)
}

fn render_store(s: &StoreSnapshot, out: &mut String) {
    for (name, status, help) in [
        (
            "reachkit_emails_sent_total",
            "sent",
            "Emails sent (sends in status sent).",
        ),
        (
            "reachkit_emails_bounced_total",
            "bounced",
            "Emails that bounced.",
        ),
        (
            "reachkit_emails_failed_total",
            "failed",
            "Emails that failed permanently.",
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
            status_count(s, status)
        );
    }
    out.push_str("# HELP reachkit_sends Sends by status, now.\n# TYPE reachkit_sends gauge\n");
    for (status, n) in &s.sends_by_status {
        let _ = writeln!(out, "reachkit_sends{{status=\"{}\"}} {n}", escape(status));
    }
    out.push_str(
        "# HELP reachkit_replies_total Inbound replies recorded, by kind.\n\
         # TYPE reachkit_replies_total counter\n",
    );
    for kind in ["reply", "auto_reply"] {
        let n = s
            .replies_by_kind
            .iter()
            .find(|(k, _)| k == kind)
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "reachkit_replies_total{{kind=\"{kind}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP reachkit_send_queue_due Queued or deferred sends whose time has come.\n\
         # TYPE reachkit_send_queue_due gauge\nreachkit_send_queue_due {}\n\
         # HELP reachkit_send_queue_oldest_due_age_seconds How long the oldest due send has waited.\n\
         # TYPE reachkit_send_queue_oldest_due_age_seconds gauge\n\
         reachkit_send_queue_oldest_due_age_seconds {}",
        s.due_sends, s.oldest_due_age_seconds
    );
    out.push_str(
        "# HELP reachkit_inbox_sync_lag_seconds Seconds since each inbox was last synced.\n\
         # TYPE reachkit_inbox_sync_lag_seconds gauge\n",
    );
    for (inbox, lag) in &s.sync_lag_seconds {
        let _ = writeln!(
            out,
            "reachkit_inbox_sync_lag_seconds{{inbox_id=\"{inbox}\"}} {lag}"
        );
    }
    out.push_str(
        "# HELP reachkit_webhook_deliveries Webhook deliveries by status, now.\n\
         # TYPE reachkit_webhook_deliveries gauge\n",
    );
    for status in ["pending", "delivered", "failed"] {
        let n = s
            .webhook_deliveries_by_status
            .iter()
            .find(|(k, _)| k == status)
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(
            out,
            "reachkit_webhook_deliveries{{status=\"{status}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP reachkit_webhook_endpoints_disabled Webhook endpoints disabled, now.\n\
         # TYPE reachkit_webhook_endpoints_disabled gauge\n\
         reachkit_webhook_endpoints_disabled {}",
        s.webhook_endpoints_disabled
    );
    let p = s.pool;
    let _ = writeln!(
        out,
        "# HELP reachkit_db_pool_connections Database connections of this process, by state.\n\
         # TYPE reachkit_db_pool_connections gauge\n\
         reachkit_db_pool_connections{{state=\"in_use\"}} {}\n\
         reachkit_db_pool_connections{{state=\"idle\"}} {}\n\
         # HELP reachkit_db_pool_max_connections The pool's ceiling (database.max_connections).\n\
         # TYPE reachkit_db_pool_max_connections gauge\nreachkit_db_pool_max_connections {}\n\
         # HELP reachkit_db_pool_waiting Callers waiting for a connection.\n\
         # TYPE reachkit_db_pool_waiting gauge\nreachkit_db_pool_waiting {}",
        p.open.saturating_sub(p.idle),
        p.idle,
        p.max,
        p.waiting
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn the_histogram_is_cumulative_and_ends_with_the_count() {
        let m = HttpMetrics::default();
        m.observe("GET", "/x", StatusCode::OK, 0.003);
        m.observe("GET", "/x", StatusCode::OK, 0.2);
        m.observe("GET", "/x", StatusCode::OK, 60.0);
        let mut out = String::new();
        m.render(&mut out);
        let labels = "method=\"GET\",route=\"/x\",status=\"200\"";
        assert!(out.contains(&format!("reachkit_http_requests_total{{{labels}}} 3")));
        assert!(out.contains(&format!(
            "reachkit_http_request_duration_seconds_bucket{{{labels},le=\"0.005\"}} 1"
        )));
        assert!(out.contains(&format!(
            "reachkit_http_request_duration_seconds_bucket{{{labels},le=\"0.25\"}} 2"
        )));
        assert!(out.contains(&format!(
            "reachkit_http_request_duration_seconds_bucket{{{labels},le=\"10\"}} 2"
        )));
        assert!(out.contains(&format!(
            "reachkit_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} 3"
        )));
    }
}
