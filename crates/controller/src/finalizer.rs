//! Giving an HPA back when its CronHPA lets go of it, and the finalizer that makes sure it does.
//!
//! While a CronHPA's fires move an HPA's floor (and maybe its ceiling), the HPA carries diurnal's
//! bookkeeping ([`diurnal_core::scaling::HpaRecord`]). When the CronHPA is deleted, or its
//! `scaleTargetRef` moves to another target, the owner's values are put back where diurnal's own
//! write still stands ([`diurnal_core::scaling::restore`]) and the bookkeeping is removed.
//!
//! So that a deletion cannot skip this, a CronHPA whose fires write an HPA carries the finalizer
//! [`FINALIZER`]: the API server keeps a deleted object (with `deletionTimestamp` set) until the
//! controller has restored the HPA and removed the finalizer. The finalizer is added and removed
//! with JSON patches that test the list they change (kube-runtime's `finalizer` does the same),
//! so a concurrent edit of the list fails the write instead of being overwritten.
//!
//! [`Keeper`] is the runner's side: it remembers each object's target, and starts the writes —
//! only while this process leads.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use diurnal_api::{CronHorizontalPodAutoscaler, ScaleTargetRef};
use diurnal_core::scaling::{HpaRecord, restore};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::{Api, Patch};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::scheduler::ObjectKey;
use crate::target::{FireError, HPA_KIND, Targets, api_error, hpa_patch, record_of, write_params};

/// The finalizer on CronHPAs whose fires write an HPA.
pub const FINALIZER: &str = "diurnal.dev/restore-hpa";

/// The HPA a target's fires write, read fresh: the target itself, or (with HPA coordination) the
/// HPA the cache says manages it. `None` when there is none (or it is gone).
async fn hpa_of(
    targets: &Targets,
    namespace: &str,
    target: &ScaleTargetRef,
) -> Result<Option<HorizontalPodAutoscaler>, FireError> {
    let name = if target.kind == HPA_KIND {
        target.name.clone()
    } else {
        match targets.managing_hpa(namespace, target) {
            Some(hpa) => hpa.name_any(),
            None => return Ok(None),
        }
    };
    let api: Api<HorizontalPodAutoscaler> = Api::namespaced(targets.client().clone(), namespace);
    api.get_opt(&name).await.map_err(|e| api_error(format!("{HPA_KIND} {namespace}/{name}"), e))
}

/// Gives back the HPA that `target`'s fires wrote: the owner's floor and ceiling where diurnal's
/// own write still stands, and no bookkeeping annotations. Returns what it did, `None` when
/// there was nothing to give back. A concurrent change of the HPA is a
/// [`FireError::Conflict`]; call again.
pub async fn restore_hpa(
    targets: &Targets,
    namespace: &str,
    target: &ScaleTargetRef,
) -> Result<Option<String>, FireError> {
    let Some(hpa) = hpa_of(targets, namespace, target).await? else {
        return Ok(None);
    };
    let label = format!("{HPA_KIND} {namespace}/{}", hpa.name_any());
    let Some(spec) = hpa.spec.as_ref() else {
        return Ok(None);
    };
    let Some(back) = restore(spec.min_replicas, spec.max_replicas, &record_of(&hpa)) else {
        return Ok(None);
    };
    let patch = hpa_patch(&hpa, back.min_replicas, back.max_replicas, &HpaRecord::default());
    targets.patch_hpa(&hpa, &patch).await.map_err(|e| api_error(format!("restore {label}"), e))?;
    let mut said = Vec::new();
    if let Some(min) = back.min_replicas {
        said.push(format!("minReplicas {} -> {min}", spec.min_replicas.unwrap_or(1)));
    }
    if let Some(max) = back.max_replicas {
        said.push(format!("maxReplicas {} -> {max}", spec.max_replicas));
    }
    said.push("bookkeeping removed".to_owned());
    Ok(Some(format!("restored {label}: {}", said.join(", "))))
}

/// Whether the two targets' fires write the same HPA (then a retarget gives nothing back).
fn same_hpa(targets: &Targets, namespace: &str, a: &ScaleTargetRef, b: &ScaleTargetRef) -> bool {
    let name = |t: &ScaleTargetRef| {
        if t.kind == HPA_KIND {
            Some(t.name.clone())
        } else {
            targets.managing_hpa(namespace, t).map(|h| h.name_any())
        }
    };
    matches!((name(a), name(b)), (Some(x), Some(y)) if x == y)
}

/// The JSON patch adding [`FINALIZER`] to an object whose finalizers are `current`; it fails
/// (422) if the list changed since.
pub fn add_patch(current: &[String]) -> serde_json::Value {
    if current.is_empty() {
        json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]},
        ])
    } else {
        json!([
            {"op": "test", "path": "/metadata/finalizers", "value": current},
            {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER},
        ])
    }
}

/// The JSON patch removing [`FINALIZER`] from an object whose finalizers are `current`; `None`
/// when it is not there.
pub fn remove_patch(current: &[String]) -> Option<serde_json::Value> {
    let at = current.iter().position(|f| f == FINALIZER)?;
    let path = format!("/metadata/finalizers/{at}");
    Some(json!([
        {"op": "test", "path": path, "value": FINALIZER},
        {"op": "remove", "path": path},
    ]))
}

async fn send(client: &Client, key: &ObjectKey, patch: serde_json::Value) -> Result<(), kube::Error> {
    let api: Api<CronHorizontalPodAutoscaler> = Api::namespaced(client.clone(), &key.namespace);
    let patch: json_patch::Patch = serde_json::from_value(patch).map_err(kube::Error::SerdeError)?;
    api.patch(&key.name, &write_params(), &Patch::Json::<()>(patch)).await.map(|_| ())
}

/// Adds [`FINALIZER`] to the object, whose finalizers were `current` when last seen.
pub async fn add_finalizer(client: &Client, key: &ObjectKey, current: &[String]) -> Result<(), kube::Error> {
    send(client, key, add_patch(current)).await
}

/// Removes [`FINALIZER`] from the object, reading its finalizers first when `current` is `None`.
/// An object that is gone, or does not carry it, is done.
pub async fn remove_finalizer(
    client: &Client,
    key: &ObjectKey,
    current: Option<&[String]>,
) -> Result<(), kube::Error> {
    let read;
    let current = if let Some(current) = current {
        current
    } else {
        let api: Api<CronHorizontalPodAutoscaler> = Api::namespaced(client.clone(), &key.namespace);
        match api.get_opt(&key.name).await? {
            Some(obj) => {
                read = obj.finalizers().to_vec();
                &read
            }
            None => return Ok(()),
        }
    };
    let Some(patch) = remove_patch(current) else { return Ok(()) };
    match send(client, key, patch).await {
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        other => other,
    }
}

/// Restores the HPA of a deleted object's target, then removes its finalizer. On failure it
/// reads the object again and retries, 1 s doubling to 30 s, until it succeeds or is aborted.
pub async fn release(
    client: Client,
    targets: Arc<Targets>,
    key: ObjectKey,
    target: ScaleTargetRef,
    finalizers: Vec<String>,
) {
    let mut current = Some(finalizers);
    let mut delay = Duration::from_secs(1);
    loop {
        let result = match restore_hpa(&targets, &key.namespace, &target).await {
            Ok(done) => {
                if let Some(done) = done {
                    info!(object = %key, "{done}");
                }
                remove_finalizer(&client, &key, current.as_deref())
                    .await
                    .map_err(|e| api_error(format!("remove the finalizer of {key}"), e))
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => return,
            Err(e) => {
                warn!(object = %key, error = %e, "releasing a deleted CronHorizontalPodAutoscaler; will retry");
            }
        }
        current = None;
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// Restores the HPA an object's previous target wrote, unless its new target writes the same
/// HPA. Retried like [`release`].
pub async fn give_back_hpa(
    targets: Arc<Targets>,
    key: ObjectKey,
    previous: ScaleTargetRef,
    current: ScaleTargetRef,
) {
    if same_hpa(&targets, &key.namespace, &previous, &current) {
        return;
    }
    let mut delay = Duration::from_secs(1);
    loop {
        match restore_hpa(&targets, &key.namespace, &previous).await {
            Ok(done) => {
                if let Some(done) = done {
                    info!(object = %key, "retargeted; {done}");
                }
                return;
            }
            Err(e) => warn!(object = %key, error = %e, "restoring the HPA of a previous target; will retry"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// What is known of one object.
#[derive(Debug, Clone)]
struct Seen {
    target: ScaleTargetRef,
    /// `spec.hpaCoordination` is not off: its fires may write an HPA managing the target.
    coordinate: bool,
    finalizers: Vec<String>,
    deleting: bool,
    /// A previous target whose HPA is still to be given back.
    give_back: Option<ScaleTargetRef>,
}

impl Seen {
    fn finalized(&self) -> bool {
        self.finalizers.iter().any(|f| f == FINALIZER)
    }

    /// Whether its fires write an HPA: the target is one, or an HPA manages the target and the
    /// object does not say `hpaCoordination: off`.
    fn writes_hpa(&self, targets: &Targets, namespace: &str) -> bool {
        self.target.kind == HPA_KIND || (self.coordinate && targets.coordinates_hpa(namespace, &self.target))
    }
}

/// A write the keeper runs for an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Work {
    AddFinalizer,
    Release,
    /// The previous target, as `apiVersion/kind/name`.
    GiveBack(String),
}

/// The runner's side: each object's last seen target and finalizers, and the writes under way.
pub struct Keeper {
    client: Client,
    targets: Arc<Targets>,
    seen: HashMap<ObjectKey, Seen>,
    tasks: HashMap<(ObjectKey, Work), JoinHandle<()>>,
    leading: bool,
}

impl std::fmt::Debug for Keeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keeper")
            .field("objects", &self.seen.len())
            .field("tasks", &self.tasks.len())
            .field("leading", &self.leading)
            .finish_non_exhaustive()
    }
}

impl Keeper {
    /// A keeper writing through `client`, finding HPAs through `targets`.
    pub fn new(client: Client, targets: Arc<Targets>) -> Self {
        Self { client, targets, seen: HashMap::new(), tasks: HashMap::new(), leading: false }
    }

    /// Takes in the object as the watch shows it, and, when leading, starts what it calls for: the
    /// release of a deleted object, the give-back of a previous target's HPA, the finalizer on an
    /// object whose fires write an HPA. Returns whether the object is being deleted (it must
    /// then never fire again).
    pub fn observe(&mut self, obj: &CronHorizontalPodAutoscaler) -> bool {
        let key = ObjectKey::of(obj);
        let target = obj.spec.scale_target_ref.clone();
        // The status names the target the leader's fires last wrote: what a process that has not
        // seen the object before (or does not lead) goes by. The leader goes by what it saw.
        let from_status =
            obj.status.as_ref().and_then(|s| s.scale_target_ref.clone()).filter(|p| *p != target);
        let give_back = match self.seen.get(&key) {
            Some(seen) if self.leading => {
                seen.give_back.clone().or_else(|| (seen.target != target).then(|| seen.target.clone()))
            }
            _ => from_status,
        };
        let seen = Seen {
            target,
            coordinate: obj.spec.hpa_coordination != Some(false),
            finalizers: obj.finalizers().to_vec(),
            deleting: obj.metadata.deletion_timestamp.is_some(),
            give_back,
        };
        let deleting = seen.deleting;
        self.seen.insert(key.clone(), seen);
        self.act(&key);
        deleting
    }

    /// The object is gone. One deleted without the finalizer (its fires started writing an HPA
    /// before the finalizer was added) still gets its HPA back, best effort.
    pub fn forget(&mut self, key: &ObjectKey) {
        let Some(seen) = self.seen.remove(key) else { return };
        self.tasks.retain(|(k, work), task| k != key || (*work == Work::Release && !task.is_finished()));
        if self.leading && !seen.finalized() && seen.writes_hpa(&self.targets, &key.namespace) {
            let (client, targets) = (self.client.clone(), self.targets.clone());
            let task = release(client, targets, key.clone(), seen.target, vec![]);
            self.spawn(key, Work::Release, task);
        }
    }

    /// Leadership changed: on gaining it, catches up with every object; on losing it, stops
    /// every write under way (the new leader takes over from the objects' state).
    pub fn lead(&mut self, leading: bool) {
        self.leading = leading;
        if leading {
            let keys: Vec<ObjectKey> = self.seen.keys().cloned().collect();
            for key in keys {
                self.act(&key);
            }
        } else {
            for (_, task) in self.tasks.drain() {
                task.abort();
            }
        }
    }

    fn act(&mut self, key: &ObjectKey) {
        if !self.leading {
            return;
        }
        let Some(seen) = self.seen.get_mut(key) else { return };
        let give_back = seen.give_back.take();
        let seen = seen.clone();
        if let Some(previous) = give_back {
            let task =
                give_back_hpa(self.targets.clone(), key.clone(), previous.clone(), seen.target.clone());
            let slot = format!("{}/{}/{}", previous.api_version, previous.kind, previous.name);
            self.spawn(key, Work::GiveBack(slot), task);
        }
        if seen.deleting {
            if seen.finalized() {
                let (client, targets) = (self.client.clone(), self.targets.clone());
                let task = release(client, targets, key.clone(), seen.target, seen.finalizers);
                self.spawn(key, Work::Release, task);
            }
        } else if !seen.finalized() && seen.writes_hpa(&self.targets, &key.namespace) {
            let (client, object) = (self.client.clone(), key.clone());
            let task = async move {
                match add_finalizer(&client, &object, &seen.finalizers).await {
                    Ok(()) => debug!(%object, "added the finalizer {FINALIZER}"),
                    // A changed list (422) or a deleted object: the next watch event tells.
                    Err(e) => debug!(%object, error = %e, "adding the finalizer {FINALIZER}"),
                }
            };
            self.spawn(key, Work::AddFinalizer, task);
        }
    }

    /// Starts `task` unless the same work for the object is still under way.
    fn spawn(&mut self, key: &ObjectKey, work: Work, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.retain(|_, t| !t.is_finished());
        let slot = (key.clone(), work);
        self.tasks.entry(slot).or_insert_with(|| tokio::spawn(task));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_finalizer_patches_test_the_list_they_change() {
        assert_eq!(
            add_patch(&[]),
            json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
                   {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}])
        );
        let other = vec!["example.com/keep".to_owned()];
        assert_eq!(
            add_patch(&other),
            json!([{"op": "test", "path": "/metadata/finalizers", "value": ["example.com/keep"]},
                   {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER}])
        );
        let both = vec!["example.com/keep".to_owned(), FINALIZER.to_owned()];
        assert_eq!(
            remove_patch(&both),
            Some(json!([{"op": "test", "path": "/metadata/finalizers/1", "value": FINALIZER},
                        {"op": "remove", "path": "/metadata/finalizers/1"}]))
        );
        assert_eq!(remove_patch(&other), None);
    }
}
