//! `/metrics`, `/healthz` and `/readyz` (shared with the other servers: `diurnal-serving`), and
//! what the two probes mean for the controller (docs/controller.md, "Health and readiness").
//!
//! - **Liveness** (`/healthz`): the process answers. It never depends on the API server: a
//!   controller restarted during an API outage would come back to the same outage, and its
//!   restarts would add relists to an API server that is recovering (controller-runtime's
//!   default `healthz` is a ping for the same reason).
//! - **Readiness** (`/readyz`): the controller can do its work now — both caches are loaded
//!   ([`crate::lead::Gate::ready`]) *and* the API server answered a list of CronHPAs within the
//!   last [`STALE_AFTER`] ([`probe`], every [`PROBE_EVERY`]). A list is a quorum read, so it also
//!   fails while etcd is stopped, when watches only fall silent.
//!
//! The handler reads two atomics and never waits on anything; the binary serves these routes
//! and runs the probe on a thread of their own, so a thousand fires under way on the main
//! runtime do not delay an answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use diurnal_api::CronHorizontalPodAutoscaler;
use kube::api::{Api, ListParams};
use prometheus_client::registry::Registry;
use tokio::time::Instant;
use tracing::{info, warn};

/// How often [`probe`] lists CronHPAs.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);

/// How long one probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Not ready once the API server has not answered a probe for this long: a few probes, so one
/// slow answer under load does not flip readiness.
pub const STALE_AFTER: Duration = Duration::from_secs(5);

/// What `/readyz` answers from: the caches' flag (set by the runner) and the last answer of
/// the API server to a [`probe`].
#[derive(Debug)]
pub struct Health {
    loaded: Arc<AtomicBool>,
    start: Instant,
    /// Milliseconds from `start` to the last answer; `u64::MAX`: none yet.
    answered_ms: AtomicU64,
}

impl Health {
    /// Readiness from `loaded` (the runner's "both caches are loaded") and the probe's answers.
    pub fn new(loaded: Arc<AtomicBool>) -> Arc<Self> {
        Arc::new(Self { loaded, start: Instant::now(), answered_ms: AtomicU64::new(u64::MAX) })
    }

    /// The API server answered a probe just now.
    pub fn answered(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.answered_ms.store(ms, Ordering::Relaxed);
    }

    /// `/readyz`'s answer now.
    pub fn check(&self) -> Result<(), &'static str> {
        let since = match self.answered_ms.load(Ordering::Relaxed) {
            u64::MAX => None,
            ms => Some(self.start.elapsed().saturating_sub(Duration::from_millis(ms))),
        };
        readiness(self.loaded.load(Ordering::Relaxed), since)
    }
}

/// Whether the controller is ready, from whether both caches are loaded and how long ago the
/// API server last answered a probe (`None`: never).
pub fn readiness(loaded: bool, since_answer: Option<Duration>) -> Result<(), &'static str> {
    if !loaded {
        return Err("initial list of CronHorizontalPodAutoscalers or the HPA cache not loaded yet");
    }
    match since_answer {
        Some(since) if since <= STALE_AFTER => Ok(()),
        Some(_) => Err("the API server has not answered a list of CronHorizontalPodAutoscalers for 5 s"),
        None => Err("the API server has not answered a list of CronHorizontalPodAutoscalers yet"),
    }
}

/// Lists one CronHPA (in `namespace`, or all) every [`PROBE_EVERY`], each bounded by
/// [`PROBE_TIMEOUT`], and records every answer in `health`. Runs until dropped.
pub async fn probe(client: kube::Client, namespace: Option<String>, health: Arc<Health>) {
    let api: Api<CronHorizontalPodAutoscaler> = match &namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    let mut every = tokio::time::interval(PROBE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        every.tick().await;
        let answer =
            tokio::time::timeout(PROBE_TIMEOUT, api.list_metadata(&ListParams::default().limit(1))).await;
        match answer {
            Ok(Ok(_)) => {
                health.answered();
                if std::mem::take(&mut failing) {
                    info!("readiness probe: the API server answers again");
                }
            }
            Ok(Err(e)) if !failing => {
                failing = true;
                warn!(error = %e, "readiness probe: listing CronHorizontalPodAutoscalers failed");
            }
            Err(_) if !failing => {
                failing = true;
                warn!(timeout = ?PROBE_TIMEOUT, "readiness probe: the API server did not answer in time");
            }
            _ => {}
        }
    }
}

/// The router: `/readyz` answers from `health`.
pub fn router(registry: Arc<Registry>, health: Arc<Health>) -> Router {
    diurnal_serving::router(registry, Arc::new(move || health.check()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_with_both_caches_loaded_and_a_recent_answer_of_the_api_server() {
        assert!(readiness(true, Some(Duration::ZERO)).is_ok());
        assert!(readiness(true, Some(STALE_AFTER)).is_ok());
        assert!(readiness(false, Some(Duration::ZERO)).is_err(), "caches not loaded");
        assert!(readiness(true, None).is_err(), "no answer yet");
        assert!(
            readiness(true, Some(STALE_AFTER + Duration::from_millis(1)))
                .is_err_and(|why| why.contains("has not answered")),
            "an API server (or etcd) silent for longer"
        );
    }

    #[test]
    fn health_reads_the_runners_flag_and_the_last_answer() {
        let loaded = Arc::new(AtomicBool::new(false));
        let health = Health::new(loaded.clone());
        health.answered();
        assert!(health.check().is_err());
        loaded.store(true, Ordering::Relaxed);
        assert_eq!(health.check(), Ok(()));
    }

    /// The probe against a mock API server that answers, falls silent (etcd stopped: requests
    /// are taken and never answered), then answers again.
    #[tokio::test(start_paused = true)]
    async fn the_probe_turns_readiness_off_while_the_api_server_is_silent_and_on_when_it_answers() {
        let (client, mut api) = diurnal_testing::mock_client();
        let health = Health::new(Arc::new(AtomicBool::new(true)));
        let _probe = tokio::spawn(probe(client, Some("ns".into()), health.clone()));
        let answer = || {
            let list = serde_json::json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": {}, "items": []});
            http::Response::builder()
                .body(kube::client::Body::from(serde_json::to_vec(&list).unwrap()))
                .unwrap()
        };
        let (request, send) = api.next_request().await.expect("a probe");
        assert!(
            request.uri().path().ends_with("/namespaces/ns/cronhorizontalpodautoscalers"),
            "{}",
            request.uri()
        );
        assert!(request.uri().query().is_some_and(|q| q.contains("limit=1")), "{}", request.uri());
        send.send_response(answer());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(health.check(), Ok(()), "answered");

        // Silent: every probe is taken and left unanswered (dropping the sender would answer it
        // with an error at once; holding it is a hang).
        let mut held = Vec::new();
        let silent_from = Instant::now();
        while silent_from.elapsed() <= STALE_AFTER + PROBE_TIMEOUT {
            if let Ok(Some(pending)) =
                tokio::time::timeout(Duration::from_millis(100), api.next_request()).await
            {
                held.push(pending);
            }
            // The last answer came about 100 ms before the silence; the edge itself is left out.
            let into = silent_from.elapsed();
            if into + Duration::from_millis(300) < STALE_AFTER {
                assert_eq!(health.check(), Ok(()), "{into:?} into the silence: not stale yet");
            } else if into > STALE_AFTER + Duration::from_millis(100) {
                assert!(health.check().is_err(), "{into:?} into the silence: stale");
            }
        }
        assert!(held.len() >= 3, "the probe kept asking: {}", held.len());

        let (_, send) = api.next_request().await.expect("a probe");
        send.send_response(answer());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(health.check(), Ok(()), "answered again");
    }
}
