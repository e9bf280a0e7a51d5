//! `/metrics`, `/healthz` and `/readyz` (shared with the other servers: `diurnal-serving`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use prometheus_client::registry::Registry;

/// The router; `ready` turns true once the initial list of CronHPAs is loaded.
pub fn router(registry: Arc<Registry>, ready: Arc<AtomicBool>) -> Router {
    diurnal_serving::router(
        registry,
        Arc::new(move || {
            if ready.load(Ordering::Relaxed) {
                Ok(())
            } else {
                Err("initial list of CronHorizontalPodAutoscalers not loaded yet")
            }
        }),
    )
}
