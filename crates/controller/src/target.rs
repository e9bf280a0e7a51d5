//! Applying one fire to its target through the Kubernetes API.
//!
//! A plain workload is scaled through its `scale` subresource, found by group and kind through
//! [`discovery`](crate::discovery). When an HPA manages the workload (or is itself the target),
//! the HPA's floor is moved instead, with the rules of [`diurnal_core::scaling::decide`]. HPAs
//! are read and patched as `autoscaling/v2`, and only `minReplicas`, `maxReplicas` and diurnal's
//! bookkeeping annotations are written (a JSON merge patch that carries the `resourceVersion`
//! read, so a concurrent edit fails the fire instead of being overwritten), so v2 metrics survive
//! — the old controller lost them by writing whole objects through v1.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use diurnal_api::{Change, Changes, ScaleTargetRef};
use diurnal_core::scaling::{Action, HpaRecord, Size, TargetState, decide_size};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::discovery::{Needs, Resolver, canonical_group, unserved_warning};

/// Annotation on an HPA holding the `maxReplicas` its owner set, while diurnal has raised it.
pub const SAVED_MAX_ANNOTATION: &str = "diurnal.dev/saved-max-replicas";
/// Annotation on an HPA holding the `minReplicas` its owner set, while diurnal moves the floor.
pub const SAVED_MIN_ANNOTATION: &str = "diurnal.dev/saved-min-replicas";
/// Annotation on an HPA holding the `minReplicas` diurnal last wrote.
pub const APPLIED_MIN_ANNOTATION: &str = "diurnal.dev/applied-min-replicas";
/// Annotation on an HPA holding the `maxReplicas` diurnal last wrote.
pub const APPLIED_MAX_ANNOTATION: &str = "diurnal.dev/applied-max-replicas";

/// Field manager name for diurnal's writes.
pub const FIELD_MANAGER: &str = "diurnal-controller";

/// The kind of an HPA.
pub const HPA_KIND: &str = "HorizontalPodAutoscaler";

/// The parameters of every write the controller makes: under its own field manager, so
/// `managedFields` say which fields diurnal set.
pub fn write_params() -> PatchParams {
    PatchParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PatchParams::default() }
}

/// Why a fire could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum FireError {
    /// The target (or the HPA's own target) does not exist.
    #[error("{0} not found")]
    TargetNotFound(String),
    /// The object changed between diurnal's read and its write; the write was refused.
    #[error("{0}: changed since it was read (conflict)")]
    Conflict(String),
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
            Self::Conflict(_) | Self::Api { .. } | Self::Invalid(_) => "ScaleFailed",
        }
    }
}

/// Classifies a client error: 404 is a missing target, 409 a conflict.
pub(crate) fn api_error(what: String, source: kube::Error) -> FireError {
    match &source {
        kube::Error::Api(status) if status.code == 404 => FireError::TargetNotFound(what),
        kube::Error::Api(status) if status.code == 409 => FireError::Conflict(what),
        _ => FireError::Api { what, source },
    }
}

/// Applies fires. Cheap to share between tasks.
pub struct Targets {
    client: Client,
    /// HPAs in scope, kept by a watch; `None` disables HPA coordination for workload targets.
    hpas: Option<Store<HorizontalPodAutoscaler>>,
    resolver: Resolver,
    /// `spec.replicas` of workloads read shortly before their fire (see [`Targets::prefetch`]).
    prefetched: Mutex<Prefetched>,
}

/// Sizes read ahead, and when each workload was last applied: a read that started before the
/// last apply of its workload ended may be from before that apply's write, so it is not used.
#[derive(Default)]
struct Prefetched {
    /// The size read, and when the read started.
    reads: HashMap<WorkloadKey, (i32, Instant)>,
    /// When an apply of the workload last ended.
    applied: HashMap<WorkloadKey, Instant>,
}

impl Prefetched {
    /// The size read ahead of this fire, if it is young and started after the last apply ended
    /// (with `enforce`, a drift check follows a write within a second: a read that raced the
    /// write would report the size before it as what the check found).
    fn take(&mut self, key: &WorkloadKey, now: Instant) -> Option<i32> {
        let (replicas, started) = self.reads.remove(key)?;
        let after_last_apply = self.applied.get(key).is_none_or(|ended| started > *ended);
        (now.duration_since(started) < PREFETCH_TTL && after_last_apply).then_some(replicas)
    }

    fn store(&mut self, key: WorkloadKey, replicas: i32, started: Instant, now: Instant) {
        self.reads.retain(|_, (_, at)| now.duration_since(*at) < PREFETCH_TTL);
        self.reads.insert(key, (replicas, started));
    }

    /// An apply of `key` ended at `now`. Older marks can no longer matter (every read they
    /// would reject is past its TTL), so they are dropped.
    fn applied(&mut self, key: WorkloadKey, now: Instant) {
        self.applied.retain(|_, ended| now.duration_since(*ended) < PREFETCH_TTL);
        self.applied.insert(key, now);
    }
}

/// Namespace, kind and name of a workload.
type WorkloadKey = (String, String, String);

fn workload_key(namespace: &str, target: &ScaleTargetRef) -> WorkloadKey {
    (namespace.to_owned(), target.kind.clone(), target.name.clone())
}

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
        Self { resolver: Resolver::new(client.clone()), client, hpas, prefetched: Mutex::default() }
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Brings the target to `size`. `coordinate: false` (the object's `hpaCoordination: off`)
    /// scales a workload target directly even when an HPA manages it. `before_write` runs just
    /// before the first write is sent (fire lateness is measured there). Returns a message
    /// saying what changed, ending with a warning when the reference names a version the API
    /// server does not serve, and the values read and written.
    pub async fn apply(
        &self,
        namespace: &str,
        target: &ScaleTargetRef,
        size: Size,
        coordinate: bool,
        before_write: &(dyn Fn() + Send + Sync),
    ) -> Result<(String, Changes), FireError> {
        if target.kind == HPA_KIND {
            let warning = self.hpa_version_warning(&target.api_version).await?;
            let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(self.client.clone(), namespace);
            let what = format!("{HPA_KIND} {namespace}/{}", target.name);
            let hpa = hpas.get(&target.name).await.map_err(|e| api_error(what, e))?;
            let (message, changes) = self.apply_hpa(namespace, &hpa, size, before_write).await?;
            return Ok((with_warnings(message, warning.into_iter()), changes));
        }
        let resolved = self.resolver.resolve(&target.api_version, &target.kind, Needs::Scale).await?;
        if let Some(hpa) = self.managing_hpa(namespace, target).filter(|_| coordinate) {
            let (message, changes) = self.apply_hpa(namespace, &hpa, size, before_write).await?;
            return Ok((with_warnings(message, resolved.warning.into_iter()), changes));
        }
        let workload: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, &resolved.resource);
        let label = format!("{} {namespace}/{}", target.kind, target.name);
        let key = workload_key(namespace, target);
        // A size read just before the fire saves a round trip at the instant. Only a read that
        // calls for a change is trusted: one that says "already at size" is read again, so a
        // stale read can never skip a needed write.
        let prefetched = self.prefetched.lock().expect("not poisoned").take(&key, Instant::now());
        let replicas = match prefetched {
            Some(replicas) if !decide_size(size, TargetState::Workload { replicas }).is_empty() => replicas,
            _ => {
                let scale =
                    workload.get_scale(&target.name).await.map_err(|e| api_error(label.clone(), e))?;
                scale.spec.and_then(|s| s.replicas).unwrap_or(0)
            }
        };
        let state = TargetState::Workload { replicas };
        let actions = decide_size(size, state);
        let changes = changes_of(&state, &actions);
        let mut said = Vec::new();
        let mut written = Ok(());
        for action in actions {
            written = self.execute(&workload, &label, None, action, before_write, &mut said).await;
            if written.is_err() {
                break;
            }
        }
        self.prefetched.lock().expect("not poisoned").applied(key, Instant::now());
        written?;
        Ok((with_warnings(summary(&label, &said), resolved.warning.into_iter()), changes))
    }

    /// Reads a workload target's size ahead of its fire (HPA-managed targets are skipped: their
    /// fire reads the HPA anyway). Errors are ignored: the fire reads again.
    pub async fn prefetch(&self, namespace: &str, target: &ScaleTargetRef) {
        if target.kind == HPA_KIND || self.managing_hpa(namespace, target).is_some() {
            return;
        }
        let Ok(resolved) = self.resolver.resolve(&target.api_version, &target.kind, Needs::Scale).await
        else {
            return;
        };
        let workload: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, &resolved.resource);
        let started = Instant::now();
        if let Ok(scale) = workload.get_scale(&target.name).await {
            let replicas = scale.spec.and_then(|s| s.replicas).unwrap_or(0);
            let key = workload_key(namespace, target);
            self.prefetched.lock().expect("not poisoned").store(key, replicas, started, Instant::now());
        }
    }

    /// Whether fires of `target` write an HPA: it is one, or (with HPA coordination) the cache
    /// holds an HPA managing it.
    pub fn coordinates_hpa(&self, namespace: &str, target: &ScaleTargetRef) -> bool {
        target.kind == HPA_KIND || self.managing_hpa(namespace, target).is_some()
    }

    /// The HPA whose `scaleTargetRef` is this workload, from the cache. Groups are compared as
    /// they are today, so `extensions/v1beta1` and `apps/v1` Deployments are the same target.
    pub(crate) fn managing_hpa(
        &self,
        namespace: &str,
        target: &ScaleTargetRef,
    ) -> Option<HorizontalPodAutoscaler> {
        let store = self.hpas.as_ref()?;
        let group = canonical_group(&target.api_version, &target.kind);
        store
            .state()
            .into_iter()
            .find(|hpa| {
                hpa.namespace().as_deref() == Some(namespace)
                    && hpa.spec.as_ref().is_some_and(|s| {
                        let r = &s.scale_target_ref;
                        r.kind == target.kind
                            && r.name == target.name
                            && canonical_group(r.api_version.as_deref().unwrap_or(""), &r.kind) == group
                    })
            })
            .map(|hpa| (*hpa).clone())
    }

    /// The warning for an HPA reference at a version other than `autoscaling/v1` or `v2` that
    /// the API server does not serve (diurnal always uses `autoscaling/v2`).
    async fn hpa_version_warning(&self, api_version: &str) -> Result<Option<String>, FireError> {
        if matches!(api_version, "autoscaling/v1" | "autoscaling/v2") {
            return Ok(None);
        }
        let resolved = self.resolver.resolve(api_version, HPA_KIND, Needs::Nothing).await?;
        Ok(unserved_warning(api_version, &resolved.resource.group, &resolved.served, "autoscaling/v2"))
    }

    async fn apply_hpa(
        &self,
        namespace: &str,
        hpa: &HorizontalPodAutoscaler,
        size: Size,
        before_write: &(dyn Fn() + Send + Sync),
    ) -> Result<(String, Changes), FireError> {
        let name = hpa.name_any();
        let hpa_label = format!("{HPA_KIND} {namespace}/{name}");
        let spec = hpa.spec.as_ref().ok_or_else(|| FireError::Invalid(format!("{hpa_label} has no spec")))?;
        let r = &spec.scale_target_ref;
        let resolved = self
            .resolver
            .resolve(r.api_version.as_deref().unwrap_or("apps/v1"), &r.kind, Needs::Scale)
            .await?;
        let workload: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, &resolved.resource);
        let workload_label = format!("{} {namespace}/{}", r.kind, r.name);
        // The workload may not exist yet (or be gone); the HPA's floor is still worth setting.
        let workload_replicas = match workload.get_scale(&r.name).await {
            Ok(scale) => scale.spec.and_then(|s| s.replicas),
            Err(kube::Error::Api(status)) if status.code == 404 => None,
            Err(e) => return Err(api_error(workload_label, e)),
        };
        if matches!(size, Size::Replicas(0) | Size::Exact(0)) && workload_replicas.is_none() {
            // Scaling to zero acts on the workload alone: without it there is nothing to do.
            return Err(FireError::TargetNotFound(workload_label));
        }
        let state = TargetState::Hpa {
            min_replicas: spec.min_replicas,
            max_replicas: spec.max_replicas,
            record: record_of(hpa),
            workload_replicas,
        };
        let actions = decide_size(size, state);
        let changes = changes_of(&state, &actions);
        let mut said = Vec::new();
        for action in actions {
            let hpa_target = matches!(action, Action::PatchHpa { .. }).then_some((hpa, &hpa_label));
            self.execute(&workload, &workload_label, hpa_target, action, before_write, &mut said).await?;
        }
        Ok((with_warnings(summary(&hpa_label, &said), resolved.warning.into_iter()), changes))
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
        let params = write_params();
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
            (Action::PatchHpa { min_replicas, max_replicas, record }, Some((hpa, label))) => {
                let (old_min, old_max) =
                    hpa.spec.as_ref().map_or((1, 0), |s| (s.min_replicas.unwrap_or(1), s.max_replicas));
                let patch = hpa_patch(hpa, Some(min_replicas), Some(max_replicas), &record);
                before_write();
                self.patch_hpa(hpa, &patch).await.map_err(|e| api_error(format!("patch {label}"), e))?;
                if min_replicas != old_min {
                    said.push(format!("minReplicas {old_min} -> {min_replicas}"));
                }
                if max_replicas != old_max {
                    said.push(format!("maxReplicas {old_max} -> {max_replicas}"));
                }
                if min_replicas == old_min && max_replicas == old_max {
                    said.push(format!("recorded floor {min_replicas} in its annotations"));
                }
            }
            (Action::PatchHpa { .. }, None) => {
                return Err(FireError::Invalid("an HPA change without an HPA".to_owned()));
            }
        }
        Ok(())
    }

    /// Sends a merge patch built by [`hpa_patch`] to `hpa`.
    pub(crate) async fn patch_hpa(
        &self,
        hpa: &HorizontalPodAutoscaler,
        patch: &serde_json::Value,
    ) -> Result<HorizontalPodAutoscaler, kube::Error> {
        let namespace = hpa.namespace().unwrap_or_default();
        let api: Api<HorizontalPodAutoscaler> = Api::namespaced(self.client.clone(), &namespace);
        api.patch(&hpa.name_any(), &write_params(), &Patch::Merge(patch)).await
    }
}

/// diurnal's bookkeeping on `hpa`, from its annotations (an unreadable value counts as absent).
pub fn record_of(hpa: &HorizontalPodAutoscaler) -> HpaRecord {
    let read = |name: &str| hpa.annotations().get(name).and_then(|v| v.trim().parse().ok());
    HpaRecord {
        saved_min_replicas: read(SAVED_MIN_ANNOTATION),
        saved_max_replicas: read(SAVED_MAX_ANNOTATION),
        applied_min_replicas: read(APPLIED_MIN_ANNOTATION),
        applied_max_replicas: read(APPLIED_MAX_ANNOTATION),
    }
}

/// The merge patch setting `hpa`'s floor and ceiling (where `Some`) and writing `record` into its
/// annotations (a `None` field removes its annotation). It carries the `resourceVersion` diurnal
/// read, so the API server refuses it (409) if anybody changed the HPA since.
pub fn hpa_patch(
    hpa: &HorizontalPodAutoscaler,
    min_replicas: Option<i32>,
    max_replicas: Option<i32>,
    record: &HpaRecord,
) -> serde_json::Value {
    let text = |v: Option<i32>| v.map(|v| v.to_string());
    let mut spec = serde_json::Map::new();
    if let Some(min) = min_replicas {
        spec.insert("minReplicas".into(), min.into());
    }
    if let Some(max) = max_replicas {
        spec.insert("maxReplicas".into(), max.into());
    }
    let mut patch = json!({
        "metadata": {
            "resourceVersion": hpa.resource_version(),
            "annotations": {
                SAVED_MIN_ANNOTATION: text(record.saved_min_replicas),
                SAVED_MAX_ANNOTATION: text(record.saved_max_replicas),
                APPLIED_MIN_ANNOTATION: text(record.applied_min_replicas),
                APPLIED_MAX_ANNOTATION: text(record.applied_max_replicas),
            },
        },
    });
    if !spec.is_empty() {
        patch["spec"] = spec.into();
    }
    patch
}

/// What applying `actions` to `state` reads and leaves, for the fire's history entry: every
/// value read, before and after (equal where nothing is written).
pub fn changes_of(state: &TargetState, actions: &[Action]) -> Changes {
    let scaled_to = actions.iter().rev().find_map(|a| match a {
        Action::ScaleWorkload { to, .. } => Some(*to),
        Action::PatchHpa { .. } => None,
    });
    let patched = actions.iter().find_map(|a| match a {
        Action::PatchHpa { min_replicas, max_replicas, .. } => Some((*min_replicas, *max_replicas)),
        Action::ScaleWorkload { .. } => None,
    });
    let change = |from: i32, to: Option<i32>| Change { from, to: to.unwrap_or(from) };
    match *state {
        TargetState::Workload { replicas } => {
            Changes { replicas: Some(change(replicas, scaled_to)), ..Changes::default() }
        }
        TargetState::Hpa { min_replicas, max_replicas, workload_replicas, .. } => Changes {
            replicas: workload_replicas.map(|r| change(r, scaled_to)),
            min_replicas: Some(change(min_replicas.unwrap_or(1), patched.map(|p| p.0))),
            max_replicas: Some(change(max_replicas, patched.map(|p| p.1))),
        },
    }
}

fn summary(label: &str, said: &[String]) -> String {
    if said.is_empty() { format!("{label} already at size") } else { format!("{label}: {}", said.join(", ")) }
}

/// `message` followed by each warning.
fn with_warnings(message: String, warnings: impl Iterator<Item = String>) -> String {
    warnings.fold(message, |m, w| format!("{m} (warning: {w})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_say_what_each_value_was_and_became() {
        let workload = TargetState::Workload { replicas: 2 };
        let c = changes_of(&workload, &decide_size(Size::Replicas(5), workload));
        assert_eq!(c.replicas, Some(Change { from: 2, to: 5 }));
        assert!(c.changed());
        let c = changes_of(&workload, &decide_size(Size::Replicas(2), workload));
        assert_eq!(c.replicas, Some(Change { from: 2, to: 2 }));
        assert!(!c.changed(), "already at size");
        let hpa = TargetState::Hpa {
            min_replicas: Some(2),
            max_replicas: 20,
            record: HpaRecord::default(),
            workload_replicas: Some(4),
        };
        let c = changes_of(&hpa, &decide_size(Size::Bounds { min: Some(10), max: Some(60) }, hpa));
        assert_eq!(c.to_string(), "replicas 4 -> 10, minReplicas 2 -> 10, maxReplicas 20 -> 60");
    }

    #[test]
    fn a_read_ahead_that_started_before_the_last_apply_ended_is_not_used() {
        use std::time::Duration;
        let key: WorkloadKey = ("shop".into(), "Deployment".into(), "web".into());
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut p = Prefetched::default();
        // Read (1 replica) while a fire was writing 3: the write ended after the read started.
        p.store(key.clone(), 1, at(0), at(30));
        p.applied(key.clone(), at(20));
        assert_eq!(p.take(&key, at(1000)), None, "it may be from before the write");
        // A read that started after the apply ended stands in for a fresh one, once.
        p.store(key.clone(), 2, at(500), at(510));
        assert_eq!(p.take(&key, at(1000)), Some(2));
        assert_eq!(p.take(&key, at(1000)), None, "consumed");
        // Too old to trust, apply or not.
        p.store(key.clone(), 2, at(500), at(510));
        assert_eq!(p.take(&key, at(500) + PREFETCH_TTL), None);
    }
}
