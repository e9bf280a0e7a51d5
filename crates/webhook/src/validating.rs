//! `POST /validate`: the validating admission webhook for CronHPAs and Calendars (its own
//! `ValidatingWebhookConfiguration`, `failurePolicy: Ignore`), and the watch that keeps its
//! [`Index`] of the cluster's CronHPA targets and Calendars. The decisions are [`crate::validate`]'s.
//!
//! It never refuses by accident: a body that is not an `AdmissionReview` is a 400 and an HPA
//! lookup that fails or is slow only leaves that conflict unchecked; with `failurePolicy: Ignore`
//! the API server then stores the object unchecked. Only a change of `spec` is checked.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use diurnal_api::{Calendar, CronHorizontalPodAutoscaler};
use futures::StreamExt as _;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::core::admission::{AdmissionResponse, Operation};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Client, ResourceExt as _};
use tracing::{debug, info, warn};

use crate::metrics::Metrics;
use crate::review;
use crate::server::{client_verified, json, read_body};
use crate::validate::{Index, Rules, WorkloadName, review_calendar, review_cronhpa};

/// At most this many HPAs are read for one review (the rest are not checked for conflicts).
pub const MAX_HPA_LOOKUPS: usize = 16;

/// How long the HPA lookups of one review may take together (the API server's timeout for the
/// webhook is 2 s in the chart).
pub const HPA_LOOKUP_TIMEOUT: Duration = Duration::from_millis(800);

/// Where the workload an HPA scales is read: the API server, or a fake in tests.
pub trait HpaLookup: Send + Sync {
    /// The kind and name of what HPA `name` in `namespace` scales (`None`: not found, or the
    /// lookup failed).
    fn workload_of<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Option<WorkloadName>> + Send + 'a>>;
}

impl HpaLookup for Client {
    fn workload_of<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Option<WorkloadName>> + Send + 'a>> {
        Box::pin(async move {
            let api: Api<HorizontalPodAutoscaler> = Api::namespaced(self.clone(), namespace);
            match api.get_opt(name).await {
                Ok(hpa) => {
                    hpa.and_then(|h| h.spec).map(|s| (s.scale_target_ref.kind, s.scale_target_ref.name))
                }
                Err(e) => {
                    debug!(%namespace, %name, error = %e, "HPA lookup for a CronHPA review failed");
                    None
                }
            }
        })
    }
}

/// What the handler needs.
#[derive(Clone)]
pub struct Validator {
    /// The cluster's CronHPA targets and Calendars.
    pub index: Arc<RwLock<Index>>,
    /// HPA lookups.
    pub hpas: Arc<dyn HpaLookup>,
    /// The controller's limits and default zone.
    pub rules: Rules,
    /// Metrics (outcomes `validated`, `refused`).
    pub metrics: Arc<Metrics>,
    /// Answer only callers with a verified client certificate (set with a client CA).
    pub require_client_certificate: bool,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator").field("rules", &self.rules).finish_non_exhaustive()
    }
}

/// `/validate`.
pub fn router(validator: Validator) -> Router {
    Router::new().route("/validate", post(validate)).with_state(validator)
}

async fn validate(State(v): State<Validator>, request: axum::extract::Request) -> Response {
    let started = Instant::now();
    if v.require_client_certificate && !client_verified(&request) {
        v.metrics.admission("unauthenticated", started.elapsed().as_secs_f64());
        return (
            StatusCode::FORBIDDEN,
            "a client certificate signed by the configured client CA is required",
        )
            .into_response();
    }
    let body = match read_body(request).await {
        Ok(body) => body,
        Err(refusal) => {
            v.metrics.admission("malformed", started.elapsed().as_secs_f64());
            return refusal.into_response();
        }
    };
    let request = match review::parse(&body) {
        Ok(r) => r,
        Err(e) => {
            v.metrics.admission("malformed", started.elapsed().as_secs_f64());
            return (StatusCode::BAD_REQUEST, e.to_string()).into_response();
        }
    };
    let allowed = || json(StatusCode::OK, review::body(AdmissionResponse::from(&request)));
    let (Some(object), true) =
        (request.object.as_ref(), matches!(request.operation, Operation::Create | Operation::Update))
    else {
        return allowed();
    };
    let object = serde_json::to_value(object).unwrap_or_default();
    let old_spec =
        request.old_object.as_ref().and_then(|o| serde_json::to_value(o).ok()).map(|o| o["spec"].clone());
    if old_spec.is_some_and(|old| old == object["spec"]) {
        return allowed();
    }
    let namespace = request.namespace.clone().unwrap_or_else(|| "default".into());
    let verdict = match (request.kind.group.as_str(), request.kind.kind.as_str()) {
        ("autoscaling.alibabacloud.com", "CronHorizontalPodAutoscaler") => {
            let hpas = look_up_hpas(&v, &namespace, &object).await;
            let index = v.index.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            review_cronhpa(&object, &namespace, &index, &hpas, &v.rules, jiff::Timestamp::now())
        }
        ("diurnal.dev", "Calendar") => review_calendar(&object),
        _ => return allowed(),
    };
    let mut response = AdmissionResponse::from(&request);
    if !verdict.warnings.is_empty() {
        response.warnings = Some(verdict.warnings);
    }
    let outcome = if verdict.denied.is_some() { "refused" } else { "validated" };
    v.metrics.admission(outcome, started.elapsed().as_secs_f64());
    if let Some(message) = verdict.denied {
        info!(uid = %request.uid, %namespace, kind = %request.kind.kind, name = %request.name, %message, "refused");
        return json(StatusCode::OK, review::body(response.deny(message)));
    }
    json(StatusCode::OK, review::body(response))
}

/// The workloads of the HPAs a review needs, read within [`HPA_LOOKUP_TIMEOUT`].
async fn look_up_hpas(
    v: &Validator,
    namespace: &str,
    object: &serde_json::Value,
) -> HashMap<String, WorkloadName> {
    let Ok(obj) = serde_json::from_value::<CronHorizontalPodAutoscaler>(object.clone()) else {
        return HashMap::new();
    };
    let names = {
        let index = v.index.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        index.hpas_to_look_up(namespace, &obj)
    };
    let lookups = names.into_iter().take(MAX_HPA_LOOKUPS).map(|name| async move {
        let workload = v.hpas.workload_of(namespace, &name).await;
        workload.map(|w| (name, w))
    });
    if let Ok(found) = tokio::time::timeout(HPA_LOOKUP_TIMEOUT, futures::future::join_all(lookups)).await {
        found.into_iter().flatten().collect()
    } else {
        warn!(%namespace, "HPA lookups for a CronHPA review timed out; conflicts through HPAs not checked");
        HashMap::new()
    }
}

/// Keeps `index` up to date from watches of CronHPAs and Calendars, until the process ends.
/// Without the CRDs (or the RBAC) the watches log and retry; reviews then see fewer objects.
pub fn watch(client: &Client, index: &Arc<RwLock<Index>>) {
    let cronhpas: Api<CronHorizontalPodAutoscaler> = Api::all(client.clone());
    let idx = index.clone();
    tokio::spawn(watcher(cronhpas, watcher::Config::default()).default_backoff().for_each(move |event| {
        let mut index = idx.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match event {
            Ok(watcher::Event::Init) => index.clear_cronhpas(),
            Ok(watcher::Event::InitApply(o) | watcher::Event::Apply(o)) => index.apply_cronhpa(&o),
            Ok(watcher::Event::Delete(o)) => {
                index.remove_cronhpa(o.namespace().as_deref().unwrap_or("default"), &o.name_any());
            }
            Ok(watcher::Event::InitDone) => info!("CronHPA targets loaded for validation"),
            Err(e) => warn!(error = %e, "CronHorizontalPodAutoscaler watch (validation)"),
        }
        std::future::ready(())
    }));
    let calendars: Api<Calendar> = Api::all(client.clone());
    let idx = index.clone();
    tokio::spawn(watcher(calendars, watcher::Config::default()).default_backoff().for_each(move |event| {
        let mut index = idx.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match event {
            Ok(watcher::Event::Init) => index.clear_calendars(),
            Ok(watcher::Event::InitApply(c) | watcher::Event::Apply(c)) => index.apply_calendar(&c),
            Ok(watcher::Event::Delete(c)) => {
                index.remove_calendar(c.namespace().as_deref().unwrap_or("default"), &c.name_any());
            }
            Ok(watcher::Event::InitDone) => info!("Calendars loaded for validation"),
            Err(e) => {
                warn!(error = %e, "Calendar watch (validation; is the calendars.diurnal.dev CRD installed?)");
            }
        }
        std::future::ready(())
    }));
}
