//! The HTTPS server: `POST /mutate` (`AdmissionReview` v1), plus `/metrics`, `/healthz`, `/readyz`.
//! Certificates come from files and are reloaded when they change (cert-manager rotates the
//! Secret's files in place).
//!
//! Nothing a caller sends makes it fail a pod creation by accident: a body that is not an
//! `AdmissionReview` is a 400 (the API server then applies the configuration's
//! `failurePolicy: Ignore`), a body over [`MAX_BODY`] a 413, one not received within
//! [`BODY_TIMEOUT`] a 408, and an internal error — the pod
//! cannot be decoded, a lookup fails — is answered "allowed, unchanged" and logged.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use diurnal_placement::{Placement, Profile};
use json_patch::{AddOperation, Patch, PatchOperation};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::core::admission::AdmissionResponse;
use tracing::{debug, error, info, warn};

use crate::admit::{Mode, Verdict, Workload, admit};
use crate::cluster::{ADMISSION_UID_ANNOTATION, Cluster, WorkloadKey};
use crate::metrics::Metrics;
use crate::review;

/// Largest `AdmissionReview` accepted: the API server's own request limit is 3 MiB, and a review
/// carries one object.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

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
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("profile", &self.profile.name)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// `/mutate` and the health routes.
pub fn router(app: App, health: Router) -> Router {
    Router::new().route("/mutate", post(mutate)).with_state(app).merge(health)
}

fn json(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn controller_kind(owners: &[OwnerReference]) -> Option<&str> {
    owners.iter().find(|o| o.controller == Some(true)).map(|o| o.kind.as_str())
}

/// Reads the body within [`MAX_BODY`] and [`BODY_TIMEOUT`], or says why not.
async fn read_body(request: axum::extract::Request) -> Result<Bytes, (StatusCode, String)> {
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

/// Certificate and key files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

fn modified(files: &TlsFiles) -> Option<(SystemTime, SystemTime)> {
    let m = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((m(&files.cert)?, m(&files.key)?))
}

/// Serves `router` over TLS on `listener` until `shutdown` completes, reloading the certificate
/// when its files change (checked every `reload_every`). A reload that fails (a half-written
/// file) keeps the previous certificate and is retried at the next check. Install a rustls
/// `CryptoProvider` first.
pub async fn serve(
    router: Router,
    listener: std::net::TcpListener,
    tls: TlsFiles,
    reload_every: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key).await?;
    let reloader = {
        let config = config.clone();
        tokio::spawn(async move {
            let mut seen = modified(&tls);
            let mut tick = tokio::time::interval(reload_every);
            loop {
                tick.tick().await;
                let now = modified(&tls);
                if now.is_none() || now == seen {
                    continue;
                }
                match config.reload_from_pem_file(&tls.cert, &tls.key).await {
                    Ok(()) => {
                        info!(cert = %tls.cert.display(), "serving certificate reloaded");
                        seen = now;
                    }
                    Err(e) => warn!(error = %e, "serving certificate not reloaded; keeping the previous one"),
                }
            }
        })
    };
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        h.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    info!(%addr, "serving the placement webhook over TLS");
    let result = axum_server::from_tcp_rustls(listener, config)?
        .handle(handle)
        .serve(router.into_make_service())
        .await;
    reloader.abort();
    result
}
