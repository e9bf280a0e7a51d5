//! The webhook's routes: `POST /mutate` (`AdmissionReview` v1), plus `/metrics`, `/healthz`,
//! `/readyz`; served by [`diurnal_serving::serve`] (HTTPS, certificates reloaded when their files
//! change, the shared connection limits).
//!
//! Who may ask: with a client CA configured (`--client-ca-file`), `/mutate` answers only callers
//! that presented a client certificate verified against it — the API server, configured with an
//! admission-control kubeconfig — and refuses anyone else with a 403 before reading a byte of the
//! body, so a forged review reserves nothing. Without one, any caller that reaches the port is
//! served (and can reserve baseline slots): see docs/security.md.
//!
//! Nothing a caller sends makes it fail a pod creation by accident: a body that is not an
//! `AdmissionReview` is a 400 (the API server then applies the configuration's
//! `failurePolicy: Ignore`), a body over [`MAX_BODY`] a 413, one not received within
//! [`BODY_TIMEOUT`] a 408, more than [`App::in_flight`] reviews at once a 503, and an internal
//! error — the pod cannot be decoded, a lookup fails — is answered "allowed, unchanged" and
//! logged.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use diurnal_placement::{Placement, Profile};
use diurnal_serving::Peer;
use json_patch::{AddOperation, Patch, PatchOperation};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::core::admission::AdmissionResponse;
use tracing::{debug, error, info, warn};

use crate::admit::{Mode, Verdict, Workload, admit};
use crate::cluster::{ADMISSION_UID_ANNOTATION, Cluster, WorkloadKey};
use crate::metrics::Metrics;
use crate::review;

/// Largest `AdmissionReview` accepted. A pod at the API server's limit for annotations (256 KiB)
/// with 40 containers of 50 variables each makes a review of 577 KiB (tests/http.rs measures it);
/// anything larger is answered 413, and with `failurePolicy: Ignore` the pod is created unplaced.
/// With [`DEFAULT_IN_FLIGHT`] this bounds what bodies can hold: 32 MiB.
pub const MAX_BODY: usize = 1024 * 1024;

/// Reviews handled at once unless told otherwise (`--max-in-flight`).
pub const DEFAULT_IN_FLIGHT: u32 = 32;

/// How long a review waits for one of the in-flight slots before it is answered 503.
pub const IN_FLIGHT_WAIT: Duration = Duration::from_millis(500);

/// How long a request body may take to arrive. The API server sends a review in one go and gives
/// up after the configuration's `timeoutSeconds` (2 s shipped); this only stops a client that
/// stalls halfway from holding a connection forever.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

pub use crate::cluster::Resolved;

/// Where the server learns about workloads: the watched cluster, or a fake in tests.
pub trait Workloads: Send + Sync {
    /// The workload of a pod with these owner references in `namespace`.
    fn resolve<'a>(
        &'a self,
        namespace: &'a str,
        owners: &'a [OwnerReference],
    ) -> Pin<Box<dyn Future<Output = Resolved> + Send + 'a>>;
    /// Counts and reserves under one lock (see [`Cluster::place_with_reservation`]; `reserve_as`
    /// is `None` for a dry run).
    fn place(
        &self,
        key: &WorkloadKey,
        annotations: BTreeMap<String, String>,
        reserve_as: Option<&str>,
        decide: &mut dyn FnMut(&Workload) -> Option<Placement>,
    ) -> Option<Placement>;
}

impl Workloads for Cluster {
    fn resolve<'a>(
        &'a self,
        namespace: &'a str,
        owners: &'a [OwnerReference],
    ) -> Pin<Box<dyn Future<Output = Resolved> + Send + 'a>> {
        Box::pin(Cluster::resolve(self, namespace, owners))
    }

    fn place(
        &self,
        key: &WorkloadKey,
        annotations: BTreeMap<String, String>,
        reserve_as: Option<&str>,
        decide: &mut dyn FnMut(&Workload) -> Option<Placement>,
    ) -> Option<Placement> {
        self.place_with_reservation(key, annotations, reserve_as, decide)
    }
}

/// What the handler needs.
#[derive(Clone)]
pub struct App {
    /// Provider profile.
    pub profile: Arc<Profile>,
    /// Deny or warn.
    pub mode: Mode,
    /// Workload lookups.
    pub workloads: Arc<dyn Workloads>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Answer `/mutate` only for callers with a verified client certificate (set with a client
    /// CA).
    pub require_client_certificate: bool,
    /// Reviews handled at once; a review that finds none free within [`IN_FLIGHT_WAIT`] is a 503.
    pub in_flight: Arc<tokio::sync::Semaphore>,
}

impl App {
    /// Serves anyone, [`DEFAULT_IN_FLIGHT`] reviews at once.
    pub fn new(profile: Profile, mode: Mode, workloads: Arc<dyn Workloads>, metrics: Arc<Metrics>) -> Self {
        Self {
            profile: Arc::new(profile),
            mode,
            workloads,
            metrics,
            require_client_certificate: false,
            in_flight: Arc::new(tokio::sync::Semaphore::new(DEFAULT_IN_FLIGHT as usize)),
        }
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("profile", &self.profile.name)
            .field("mode", &self.mode)
            .field("require_client_certificate", &self.require_client_certificate)
            .finish_non_exhaustive()
    }
}

/// `/mutate` and the health routes.
pub fn router(app: App, health: Router) -> Router {
    Router::new().route("/mutate", post(mutate)).with_state(app).merge(health)
}

pub(crate) fn json(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn controller_kind(owners: &[OwnerReference]) -> Option<&str> {
    owners.iter().find(|o| o.controller == Some(true)).map(|o| o.kind.as_str())
}

/// Whether the caller presented a client certificate verified against the configured CA.
pub(crate) fn client_verified(request: &axum::extract::Request) -> bool {
    request.extensions().get::<Peer>().is_some_and(|p| p.client_certificate.is_some())
}

/// Reads the body within [`MAX_BODY`] and [`BODY_TIMEOUT`], or says why not.
pub(crate) async fn read_body(request: axum::extract::Request) -> Result<Bytes, (StatusCode, String)> {
    let too_large = || (StatusCode::PAYLOAD_TOO_LARGE, format!("request body over {MAX_BODY} bytes"));
    // A declared length over the limit is refused before a byte of it is read.
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(request.into_body(), MAX_BODY)).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(_)) => Err(too_large()),
        Err(_) => Err((StatusCode::REQUEST_TIMEOUT, "request body not received in time".to_owned())),
    }
}

async fn mutate(State(app): State<App>, request: axum::extract::Request) -> Response {
    let started = Instant::now();
    if app.require_client_certificate && !client_verified(&request) {
        // Before the body: an unauthenticated caller costs a header parse and reserves nothing.
        app.metrics.admission("unauthenticated", started.elapsed().as_secs_f64());
        let peer = request.extensions().get::<Peer>().map(|p| p.address.to_string()).unwrap_or_default();
        debug!(%peer, "refused an admission review without a client certificate");
        return (
            StatusCode::FORBIDDEN,
            "a client certificate signed by the configured client CA is required",
        )
            .into_response();
    }
    let Ok(Ok(_slot)) = tokio::time::timeout(IN_FLIGHT_WAIT, app.in_flight.clone().acquire_owned()).await
    else {
        app.metrics.admission("busy", started.elapsed().as_secs_f64());
        warn!(
            "admission reviews over the in-flight limit; answered 503 (the API server applies failurePolicy)"
        );
        return (StatusCode::SERVICE_UNAVAILABLE, "too many admission reviews in flight").into_response();
    };
    let body = match read_body(request).await {
        Ok(body) => body,
        Err(refusal) => {
            app.metrics.admission("malformed", started.elapsed().as_secs_f64());
            return refusal.into_response();
        }
    };
    let request = match review::parse(&body) {
        Ok(r) => r,
        Err(e) => {
            app.metrics.admission("malformed", started.elapsed().as_secs_f64());
            debug!(error = %e, "refused a malformed admission review");
            return (StatusCode::BAD_REQUEST, e.to_string()).into_response();
        }
    };
    if !review::is_pod_create(&request) {
        app.metrics.admission("not_a_pod_create", started.elapsed().as_secs_f64());
        return json(StatusCode::OK, review::body(AdmissionResponse::from(&request)));
    }
    let pod: Option<Pod> = request
        .object
        .as_ref()
        .and_then(|o| serde_json::to_value(o).ok())
        .and_then(|v| serde_json::from_value(v).ok());
    let Some(pod) = pod else {
        // Never block a pod creation on our own failure.
        app.metrics.admission("error", started.elapsed().as_secs_f64());
        error!(uid = %request.uid, "the review's object is not a Pod; admitted unchanged");
        return json(StatusCode::OK, review::body(AdmissionResponse::from(&request)));
    };
    let namespace = request.namespace.clone().or_else(|| pod.metadata.namespace.clone()).unwrap_or_default();
    let owners = pod.metadata.owner_references.clone().unwrap_or_default();
    let owner_kind = controller_kind(&owners);
    let mut lookup_failed = false;
    let verdict = match app.workloads.resolve(&namespace, &owners).await {
        Ok(Some((key, annotations))) => {
            let mut verdict = None;
            // A dry run (`kubectl apply --dry-run=server`) creates no pod: it must not hold a slot.
            let reserve_as = (!request.dry_run).then_some(request.uid.as_str());
            app.workloads.place(&key, annotations, reserve_as, &mut |w| {
                let v = admit(&app.profile, app.mode, &pod, owner_kind, Some(w));
                let placement = v.placement.filter(|_| v.denied.is_none());
                verdict = Some(v);
                placement
            });
            verdict.unwrap_or_else(|| admit(&app.profile, app.mode, &pod, owner_kind, None))
        }
        Ok(None) => admit(&app.profile, app.mode, &pod, owner_kind, None),
        Err(e) => {
            // Never block a pod creation on our own failure: admitted unplaced (still validated if
            // its own spec sends it to a virtual node).
            warn!(uid = %request.uid, %namespace, error = %e, "workload lookup failed; the pod is admitted unplaced");
            lookup_failed = true;
            admit(&app.profile, app.mode, &pod, owner_kind, None)
        }
    };
    let outcome = if lookup_failed && verdict.denied.is_none() { "error" } else { verdict.outcome() };
    if let Some(message) = &verdict.denied {
        // A refusal is what someone will ask about ("why did my pods not start?"): logged at info.
        let pod_name = pod.metadata.name.as_deref().or(pod.metadata.generate_name.as_deref()).unwrap_or("");
        info!(uid = %request.uid, %namespace, pod = pod_name, %message, "pod refused");
    }
    let response = respond(&request, &pod, verdict);
    app.metrics.admission(outcome, started.elapsed().as_secs_f64());
    debug!(uid = %request.uid, %namespace, outcome, "admission");
    json(StatusCode::OK, response)
}

fn respond(
    request: &kube::core::admission::AdmissionRequest<kube::core::DynamicObject>,
    pod: &Pod,
    verdict: Verdict,
) -> Vec<u8> {
    let mut response = AdmissionResponse::from(request);
    if !verdict.warnings.is_empty() {
        response.warnings = Some(verdict.warnings);
    }
    if let Some(message) = verdict.denied {
        return review::body(response.deny(message));
    }
    let Some(Patch(mut ops)) = verdict.patch else { return review::body(response) };
    if verdict.placement == Some(Placement::Regular) {
        // The reservation's uid goes on the pod: seeing it in the watch retires the reservation.
        let add = |path: &[&str], value| {
            PatchOperation::Add(AddOperation {
                path: json_patch::jsonptr::PointerBuf::from_tokens(path.iter().copied()),
                value,
            })
        };
        if pod.metadata.annotations.is_none() {
            ops.push(add(&["metadata", "annotations"], serde_json::json!({})));
        }
        ops.push(add(&["metadata", "annotations", ADMISSION_UID_ANNOTATION], serde_json::json!(request.uid)));
    }
    match response.clone().with_patch(Patch(ops)) {
        Ok(patched) => review::body(patched),
        Err(e) => {
            error!(error = %e, "could not serialise the patch; admitted unchanged");
            review::body(response)
        }
    }
}
