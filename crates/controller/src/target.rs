//! Applying one fire to its target through the Kubernetes API.
//!
//! A plain workload is scaled through its `scale` subresource. When an HPA manages the workload
//! (or is itself the target), the HPA's floor is moved instead, with the rules of
//! [`diurnal_core::scaling::decide`]. HPAs are read and patched as `autoscaling/v2`, and only
//! `minReplicas`, `maxReplicas` and one annotation are written (a JSON merge patch), so v2 metrics
//! survive — the old controller lost them by writing whole objects through v1.

use std::collections::HashMap;
use std::sync::Mutex;

use diurnal_api::ScaleTargetRef;
use diurnal_core::scaling::{Action, TargetState, decide};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};
use serde_json::json;

/// Annotation on an HPA holding the `maxReplicas` its owner set, while diurnal has raised it.
pub const SAVED_MAX_ANNOTATION: &str = "diurnal.dev/saved-max-replicas";

/// Field manager name for diurnal's writes.
pub const FIELD_MANAGER: &str = "diurnal-controller";

/// Why a fire could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum FireError {
    /// The target (or the HPA's own target) does not exist.
    #[error("{0} not found")]
    TargetNotFound(String),
    /// The API server refused or failed a call.
    #[error("{what}: {source}")]
    Api {
        /// The call, e.g. `patch Deployment shop/web scale`.
        what: String,
        /// The client's error.
        source: kube::Error,
    },
    /// The reference cannot name a scalable object.
    #[error("{0}")]
    Invalid(String),
}

impl FireError {
    /// The Event reason for this failure.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TargetNotFound(_) => "TargetNotFound",
            Self::Api { .. } | Self::Invalid(_) => "ScaleFailed",
        }
    }
}

fn api_error(what: String, source: kube::Error) -> FireError {
    match &source {
        kube::Error::Api(status) if status.code == 404 => FireError::TargetNotFound(what),
        _ => FireError::Api { what, source },
    }
}

/// Applies fires. Cheap to share between tasks.
pub struct Targets {
    client: Client,
    /// HPAs in scope, kept by a watch; `None` disables HPA coordination for workload targets.
    hpas: Option<Store<HorizontalPodAutoscaler>>,
    resources: Mutex<HashMap<(String, String), ApiResource>>,
    /// `spec.replicas` of workloads read shortly before their fire (see [`Targets::prefetch`]).
    prefetched: Mutex<HashMap<WorkloadKey, (i32, std::time::Instant)>>,
}

/// Namespace, kind and name of a workload.
type WorkloadKey = (String, String, String);

/// How long a size read ahead of a fire may stand in for a fresh read.
const PREFETCH_TTL: std::time::Duration = std::time::Duration::from_secs(5);

impl std::fmt::Debug for Targets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Targets").field("hpa_coordination", &self.hpas.is_some()).finish_non_exhaustive()
    }
}

impl Targets {
    /// `hpas`: the HPA cache used to find an HPA managing a workload target (HPA coordination);
    /// `None` scales workloads directly even when an HPA manages them.
    pub fn new(client: Client, hpas: Option<Store<HorizontalPodAutoscaler>>) -> Self {
        Self { client, hpas, resources: Mutex::new(HashMap::new()), prefetched: Mutex::new(HashMap::new()) }
    }

    /// Brings the target to `size`. `before_write` runs just before the first write is sent
    /// (fire lateness is measured there). Returns a message saying what changed.
    pub async fn apply(
        &self,
        namespace: &str,
        target: &ScaleTargetRef,
        size: i32,
        before_write: &(dyn Fn() + Send + Sync),
    ) -> Result<String, FireError> {
        if target.kind == "HorizontalPodAutoscaler" {
            let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(self.client.clone(), namespace);
            let what = format!("HorizontalPodAutoscaler {namespace}/{}", target.name);
            let hpa = hpas.get(&target.name).await.map_err(|e| api_error(what, e))?;
            return self.apply_hpa(namespace, &hpa, size, before_write).await;
        }
        if let Some(hpa) = self.managing_hpa(namespace, target) {
            return self.apply_hpa(namespace, &hpa, size, before_write).await;
        }
        let workload = self.workload_api(namespace, &target.api_version, &target.kind).await?;
        let label = format!("{} {namespace}/{}", target.kind, target.name);
        // A size read just before the fire saves a round trip at the instant. Only a read that
        // calls for a change is trusted: one that says "already at size" is read again, so a
        // stale read can never skip a needed write.
        let replicas = match self.take_prefetched(namespace, target) {
            Some(replicas) if replicas != size => replicas,
            _ => {
                let scale =
                    workload.get_scale(&target.name).await.map_err(|e| api_error(label.clone(), e))?;
                scale.spec.and_then(|s| s.replicas).unwrap_or(0)
            }
        };
        let mut said = Vec::new();
        for action in decide(size, TargetState::Workload { replicas }) {
            self.execute(&workload, &label, None, action, before_write, &mut said).await?;
        }
        Ok(summary(&label, &said))
    }

    /// Reads a workload target's size ahead of its fire (HPA-managed targets are skipped: their
    /// fire reads the HPA anyway). Errors are ignored: the fire reads again.
    pub async fn prefetch(&self, namespace: &str, target: &ScaleTargetRef) {
        if target.kind == "HorizontalPodAutoscaler" || self.managing_hpa(namespace, target).is_some() {
            return;
        }
        let Ok(workload) = self.workload_api(namespace, &target.api_version, &target.kind).await else {
            return;
        };
        if let Ok(scale) = workload.get_scale(&target.name).await {
            let replicas = scale.spec.and_then(|s| s.replicas).unwrap_or(0);
            let key = (namespace.to_owned(), target.kind.clone(), target.name.clone());
            let mut cache = self.prefetched.lock().expect("not poisoned");
            cache.retain(|_, (_, at)| at.elapsed() < PREFETCH_TTL);
            cache.insert(key, (replicas, std::time::Instant::now()));
        }
    }

    fn take_prefetched(&self, namespace: &str, target: &ScaleTargetRef) -> Option<i32> {
        let key = (namespace.to_owned(), target.kind.clone(), target.name.clone());
        let (replicas, at) = self.prefetched.lock().expect("not poisoned").remove(&key)?;
        (at.elapsed() < PREFETCH_TTL).then_some(replicas)
    }

    /// The HPA whose `scaleTargetRef` is this workload, from the cache.
    fn managing_hpa(&self, namespace: &str, target: &ScaleTargetRef) -> Option<HorizontalPodAutoscaler> {
        let group = |api_version: &str| api_version.rsplit_once('/').map_or("", |(g, _)| g).to_owned();
        let store = self.hpas.as_ref()?;
        store
            .state()
            .into_iter()
            .find(|hpa| {
                hpa.namespace().as_deref() == Some(namespace)
                    && hpa.spec.as_ref().is_some_and(|s| {
                        let r = &s.scale_target_ref;
                        r.kind == target.kind
                            && r.name == target.name
                            && group(r.api_version.as_deref().unwrap_or("")) == group(&target.api_version)
                    })
            })
            .map(|hpa| (*hpa).clone())
    }

    async fn apply_hpa(
        &self,
        namespace: &str,
        hpa: &HorizontalPodAutoscaler,
        size: i32,
        before_write: &(dyn Fn() + Send + Sync),
    ) -> Result<String, FireError> {
        let name = hpa.name_any();
        let hpa_label = format!("HorizontalPodAutoscaler {namespace}/{name}");
        let spec = hpa.spec.as_ref().ok_or_else(|| FireError::Invalid(format!("{hpa_label} has no spec")))?;
        let saved = hpa.annotations().get(SAVED_MAX_ANNOTATION).and_then(|v| v.parse().ok());
        let r = &spec.scale_target_ref;
        let workload =
            self.workload_api(namespace, r.api_version.as_deref().unwrap_or("apps/v1"), &r.kind).await?;
        let workload_label = format!("{} {namespace}/{}", r.kind, r.name);
        // The workload may not exist yet (or be gone); the HPA's floor is still worth setting.
        let workload_replicas = match workload.get_scale(&r.name).await {
            Ok(scale) => scale.spec.and_then(|s| s.replicas),
            Err(kube::Error::Api(status)) if status.code == 404 => None,
            Err(e) => return Err(api_error(workload_label, e)),
        };
        let state = TargetState::Hpa {
            min_replicas: spec.min_replicas,
            max_replicas: spec.max_replicas,
            saved_max_replicas: saved,
            workload_replicas,
        };
        let mut said = Vec::new();
        for action in decide(size, state) {
            let hpa_target = matches!(action, Action::PatchHpa { .. }).then_some((hpa, &hpa_label));
            self.execute(&workload, &workload_label, hpa_target, action, before_write, &mut said).await?;
        }
        Ok(summary(&hpa_label, &said))
    }

    async fn execute(
        &self,
        workload: &Api<DynamicObject>,
        workload_label: &str,
        hpa: Option<(&HorizontalPodAutoscaler, &String)>,
        action: Action,
        before_write: &(dyn Fn() + Send + Sync),
        said: &mut Vec<String>,
    ) -> Result<(), FireError> {
        let params = PatchParams::default();
        match (action, hpa) {
            (Action::ScaleWorkload { from, to }, _) => {
                let name = workload_label.rsplit('/').next().unwrap_or_default();
                before_write();
                let patch = Patch::Merge(json!({"spec": {"replicas": to}}));
                workload
                    .patch_scale(name, &params, &patch)
                    .await
                    .map_err(|e| api_error(format!("scale {workload_label}"), e))?;
                said.push(format!("{workload_label} replicas {from} -> {to}"));
            }
            (Action::PatchHpa { min_replicas, max_replicas, saved_max_replicas }, Some((hpa, label))) => {
                let spec = hpa.spec.as_ref().expect("checked by the caller");
                let namespace = hpa.namespace().unwrap_or_default();
                let api: Api<HorizontalPodAutoscaler> = Api::namespaced(self.client.clone(), &namespace);
                let patch = Patch::Merge(json!({
                    "metadata": {"annotations": {SAVED_MAX_ANNOTATION: saved_max_replicas.map(|v| v.to_string())}},
                    "spec": {"minReplicas": min_replicas, "maxReplicas": max_replicas},
                }));
                before_write();
                api.patch(&hpa.name_any(), &params, &patch)
                    .await
                    .map_err(|e| api_error(format!("patch {label}"), e))?;
                said.push(format!("minReplicas {} -> {min_replicas}", spec.min_replicas.unwrap_or(1)));
                if max_replicas != spec.max_replicas {
                    said.push(format!("maxReplicas {} -> {max_replicas}", spec.max_replicas));
                }
            }
            (Action::PatchHpa { .. }, None) => unreachable!("HPA actions come only from apply_hpa"),
        }
        Ok(())
    }

    /// An API for the workload kind, resolving its plural by discovery (cached per kind).
    async fn workload_api(
        &self,
        namespace: &str,
        api_version: &str,
        kind: &str,
    ) -> Result<Api<DynamicObject>, FireError> {
        let key = (api_version.to_owned(), kind.to_owned());
        let cached = self.resources.lock().expect("not poisoned").get(&key).cloned();
        let resource = if let Some(r) = cached {
            r
        } else {
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
            let gvk = GroupVersionKind::gvk(group, version, kind);
            // The built-in scalable kinds need no discovery round trip.
            let resource =
                if let ("apps/v1", "Deployment" | "StatefulSet" | "ReplicaSet") = (api_version, kind) {
                    ApiResource::from_gvk(&gvk)
                } else {
                    let (resource, caps) = kube::discovery::pinned_kind(&self.client, &gvk)
                        .await
                        .map_err(|e| api_error(format!("discover {api_version} {kind}"), e))?;
                    if !caps.supports_operation(kube::discovery::verbs::PATCH) {
                        return Err(FireError::Invalid(format!("{api_version} {kind} cannot be patched")));
                    }
                    resource
                };
            self.resources.lock().expect("not poisoned").insert(key, resource.clone());
            resource
        };
        Ok(Api::namespaced_with(self.client.clone(), namespace, &resource))
    }
}

fn summary(label: &str, said: &[String]) -> String {
    if said.is_empty() { format!("{label} already at size") } else { format!("{label}: {}", said.join(", ")) }
}
