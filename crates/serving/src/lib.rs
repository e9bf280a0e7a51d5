//! What every diurnal server (controller, trigger service, webhook) shares: how it holds
//! connections ([`server`]: header-read and idle timeouts, a connection cap), TLS with reload
//! and optional client certificates ([`tls`]), token-checked `/metrics` ([`metrics_auth`]), and
//! the routes it serves besides its own: `/metrics` in the OpenMetrics text format, `/healthz`
//! (the process answers) and `/readyz` (its caches are loaded).

pub mod metrics_auth;
pub mod server;
pub mod tls;

pub use metrics_auth::MetricsAuth;
pub use server::{Limits, Options, Peer, serve};
pub use tls::{Tls, TlsError, TlsFiles};

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;

/// Whether the server is ready: `Err` carries what it still waits for.
pub type Readiness = Arc<dyn Fn() -> Result<(), &'static str> + Send + Sync>;

/// The registry encoded as an OpenMetrics response.
pub fn openmetrics(registry: &Registry) -> Response {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, registry) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// `/metrics`, `/healthz` and `/readyz`, to merge into a server's router.
pub fn router(registry: Arc<Registry>, ready: Readiness) -> Router {
    Router::new()
        .route("/metrics", get(move || async move { openmetrics(&registry) }))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || async move {
                match ready() {
                    Ok(()) => (StatusCode::OK, "ok").into_response(),
                    Err(waiting) => (StatusCode::SERVICE_UNAVAILABLE, waiting).into_response(),
                }
            }),
        )
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt as _;
    use prometheus_client::metrics::counter::Counter;
    use tower::ServiceExt as _;

    use super::*;

    async fn get(router: &Router, path: &str) -> (StatusCode, String) {
        let response = router.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn metrics_health_and_readiness_are_served() {
        let mut registry = Registry::default();
        let counter = Counter::<u64>::default();
        registry.register("things", "Things done", counter.clone());
        counter.inc();
        let ready = Arc::new(AtomicBool::new(false));
        let flag = ready.clone();
        let router = router(
            Arc::new(registry),
            Arc::new(
                move || if flag.load(Ordering::Relaxed) { Ok(()) } else { Err("caches not loaded yet") },
            ),
        );
        let (status, body) = get(&router, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("things_total 1") && body.ends_with("# EOF\n"), "{body}");
        assert_eq!(get(&router, "/healthz").await, (StatusCode::OK, "ok".to_owned()));
        assert_eq!(
            get(&router, "/readyz").await,
            (StatusCode::SERVICE_UNAVAILABLE, "caches not loaded yet".to_owned())
        );
        ready.store(true, Ordering::Relaxed);
        assert_eq!(get(&router, "/readyz").await.0, StatusCode::OK);
    }
}
