//! What the webhook knows of the cluster: watched caches of ReplicaSets, StatefulSets, placed pods
//! and nodes, and the baseline slots it has handed out but not yet seen.
//!
//! **Which pods count.** The baseline is counted per pod controller — the ReplicaSet (or
//! StatefulSet) in the pod's owner references — not per Deployment: in a rollout the new
//! ReplicaSet gets its own baseline. Counted across the Deployment, the old ReplicaSet's regular
//! pods would send every new pod to the virtual node, and the baseline would be gone once the old
//! pods are. The price is that, during a rollout, regular nodes hold up to the old and the new
//! ReplicaSet's baselines (as they would without diurnal).
//!
//! **How the baseline is not overshot.** Counting the controller's live pods labelled
//! `diurnal.dev/placement=regular` is not enough on its own: the ReplicaSet controller creates
//! pods in bursts, and a pod admitted a millisecond ago is not in the watch cache yet. So each
//! `Regular` decision also records a *reservation* under the request's uid, and the same uid goes
//! on the pod (annotation [`ADMISSION_UID_ANNOTATION`]); a reservation counts until its pod shows
//! up in the cache (then the pod counts) or for [`RESERVATION_TTL`] (the creation failed after
//! admission). Count-and-reserve happens under one lock, so within one webhook process the
//! baseline is never overshot.
//!
//! **With N webhook replicas** each keeps its own reservations, and a pod another replica pinned
//! counts only once this replica's watch shows it (usually milliseconds later). So extras come
//! only from creations concurrent within that window — the ReplicaSet controller creates pods in
//! batches of 1, 2, 4, 8 … — and each replica fills at most the slots it sees missing: at most
//! (N − 1) × the slots missing when a batch starts, (N − 1) × baseline in the worst case. By
//! design there is no shared lock on the admission path (a slow admission webhook stalls every pod
//! creation). The scale-in order (`crate::costs`) removes the newest regular pods right after the
//! virtual ones.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use diurnal_placement::{PLACEMENT_LABEL, Placement, Profile, Taint};
use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Client, ResourceExt as _};

use crate::admit::Workload;

/// Annotation carrying the admission request uid of a pod placed on a regular node.
pub const ADMISSION_UID_ANNOTATION: &str = "diurnal.dev/admission-uid";
/// How long a reservation counts without its pod appearing.
pub const RESERVATION_TTL: Duration = Duration::from_secs(30);

/// The controller whose pods share a baseline: kind (`ReplicaSet` or `StatefulSet`), namespace,
/// name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkloadKey {
    /// `ReplicaSet` or `StatefulSet`.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl std::fmt::Display for WorkloadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

/// How long an admission waits for the API server when the cache lacks the pod's controller:
/// well within the webhook configuration's 2 s timeout.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(1);

/// A pod's controller and its annotations, `None` when the pod has no workload diurnal places.
pub type Resolved = Result<Option<(WorkloadKey, BTreeMap<String, String>)>, LookupError>;

/// The pod's controller could not be read; the pod is admitted unplaced.
#[derive(Debug, thiserror::Error)]
#[error("reading {key}: {reason}")]
pub struct LookupError {
    /// The controller.
    pub key: WorkloadKey,
    /// What went wrong.
    pub reason: String,
}

/// The caches and the reservations.
pub struct Cluster {
    client: Client,
    replica_sets: Store<PartialObjectMeta<ReplicaSet>>,
    stateful_sets: Store<PartialObjectMeta<StatefulSet>>,
    pods: Store<Pod>,
    nodes: Store<Node>,
    placed: Arc<Mutex<PlacedIndex>>,
    reservations: Mutex<Reservations>,
}

/// The reservations, and when expired ones of every controller were last swept.
#[derive(Default)]
struct Reservations {
    open: HashMap<WorkloadKey, Vec<(String, Instant)>>,
    swept: Option<Instant>,
}

/// How often expired reservations of every controller are swept (an admission only looks at its
/// own controller's).
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The counts an admission reads, kept per controller as the pod watch reports changes, so an
/// admission costs the same with 50 or 50,000 placed pods: the controller's live pods labelled
/// `regular`, and the admission uids they carry.
#[derive(Default)]
struct PlacedIndex {
    /// Each counted pod: its controller and admission uid.
    pods: HashMap<PodId, Counts>,
    counts: HashMap<WorkloadKey, Counted>,
    /// Pods of a relist in progress (between the watch's `Init` and `InitDone`).
    relist: Option<HashMap<PodId, Counts>>,
}

/// A pod's namespace and name.
type PodId = (String, String);
/// What a counted pod counts for: its controller, and the admission uid it carries.
type Counts = (WorkloadKey, Option<String>);

#[derive(Default)]
struct Counted {
    regular: u32,
    uids: HashMap<String, u32>,
}

impl PlacedIndex {
    fn from_pods(pods: &[Arc<Pod>]) -> Self {
        let mut index =
            Self { pods: pods.iter().filter_map(|p| Self::entry(p)).collect(), ..Self::default() };
        index.recount();
        index
    }

    /// The pod's index entry, if it counts: live, labelled `regular`, with a workload controller.
    fn entry(pod: &Pod) -> Option<(PodId, Counts)> {
        if !live(pod) || pod.labels().get(PLACEMENT_LABEL).map(String::as_str) != Some("regular") {
            return None;
        }
        let key = Cluster::workload_key_of_pod(pod)?;
        let uid = pod.annotations().get(ADMISSION_UID_ANNOTATION).cloned();
        Some(((key.namespace.clone(), pod.name_any()), (key, uid)))
    }

    fn count(counts: &mut HashMap<WorkloadKey, Counted>, key: &WorkloadKey, uid: Option<&String>, add: bool) {
        let counted = counts.entry(key.clone()).or_default();
        if add {
            counted.regular += 1;
            if let Some(uid) = uid {
                *counted.uids.entry(uid.clone()).or_default() += 1;
            }
        } else {
            counted.regular = counted.regular.saturating_sub(1);
            if let Some(uid) = uid
                && let Some(n) = counted.uids.get_mut(uid)
            {
                *n -= 1;
                if *n == 0 {
                    counted.uids.remove(uid);
                }
            }
            if counted.regular == 0 && counted.uids.is_empty() {
                counts.remove(key);
            }
        }
    }

    fn recount(&mut self) {
        self.counts.clear();
        for (key, uid) in self.pods.values() {
            Self::count(&mut self.counts, key, uid.as_ref(), true);
        }
    }

    fn apply(&mut self, event: &watcher::Event<Pod>) {
        match event {
            watcher::Event::Apply(pod) | watcher::Event::Delete(pod) => {
                let id = (pod.namespace().unwrap_or_default(), pod.name_any());
                if let Some((key, uid)) = self.pods.remove(&id) {
                    Self::count(&mut self.counts, &key, uid.as_ref(), false);
                }
                if matches!(event, watcher::Event::Apply(_))
                    && let Some((id, (key, uid))) = Self::entry(pod)
                {
                    Self::count(&mut self.counts, &key, uid.as_ref(), true);
                    self.pods.insert(id, (key, uid));
                }
            }
            watcher::Event::Init => self.relist = Some(HashMap::new()),
            watcher::Event::InitApply(pod) => {
                if let (Some(relist), Some((id, entry))) = (self.relist.as_mut(), Self::entry(pod)) {
                    relist.insert(id, entry);
                }
            }
            watcher::Event::InitDone => {
                if let Some(relist) = self.relist.take() {
                    self.pods = relist;
                    self.recount();
                }
            }
        }
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("pods", &self.pods.state().len()).finish_non_exhaustive()
    }
}

fn controller(refs: &[OwnerReference]) -> Option<&OwnerReference> {
    refs.iter().find(|r| r.controller == Some(true))
}

/// The key of the pod's controller, from its owner references alone (no lookup): only
/// `apps/v1` ReplicaSets and StatefulSets are workloads diurnal places.
pub fn controller_key(namespace: &str, owners: &[OwnerReference]) -> Option<WorkloadKey> {
    let owner = controller(owners)?;
    let workload =
        owner.api_version.starts_with("apps/") && matches!(owner.kind.as_str(), "ReplicaSet" | "StatefulSet");
    workload.then(|| WorkloadKey {
        kind: owner.kind.clone(),
        namespace: namespace.to_owned(),
        name: owner.name.clone(),
    })
}

/// A cache kept by `events` (retried with backoff, errors logged), each object trimmed by `trim`
/// before it is stored.
fn cache<K, S>(events: S, trim: fn(&mut K)) -> Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
    S: futures::Stream<Item = watcher::Result<watcher::Event<K>>> + Send + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = events.default_backoff().modify(trim).reflect(writer);
    tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            if let Err(e) = event {
                tracing::warn!(error = %e, "watch error; retrying");
            }
        }
    });
    reader
}

/// The placed-pod cache, also feeding each change into `index`.
fn indexed_pods<S>(events: S, index: Arc<Mutex<PlacedIndex>>) -> Store<Pod>
where
    S: futures::Stream<Item = watcher::Result<watcher::Event<Pod>>> + Send + 'static,
{
    let (reader, writer) = reflector::store();
    let stream =
        events.default_backoff().modify(|pod: &mut Pod| pod.metadata.managed_fields = None).reflect(writer);
    tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) => index.lock().unwrap_or_else(std::sync::PoisonError::into_inner).apply(&event),
                Err(e) => tracing::warn!(error = %e, "watch error; retrying"),
            }
        }
    });
    reader
}

fn live(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && !matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

impl Cluster {
    /// Starts the watches (all namespaces) and returns once their first lists are in.
    ///
    /// Only what the decisions read is kept, so that a large cluster fits the webhook's memory:
    /// ReplicaSets and StatefulSets as metadata only (a ReplicaSet carries a whole pod template,
    /// and every Deployment keeps up to ten), only placed pods, nodes without their status (the
    /// image list alone can be tens of kilobytes), nothing's managed fields.
    pub async fn start(client: &Client) -> Self {
        let placed = watcher::Config::default().labels(PLACEMENT_LABEL);
        let all = watcher::Config::default;
        let index = Arc::new(Mutex::new(PlacedIndex::default()));
        let me = Self {
            client: client.clone(),
            replica_sets: cache(
                watcher(Api::<PartialObjectMeta<ReplicaSet>>::all(client.clone()), all()),
                |rs| {
                    rs.metadata.managed_fields = None;
                },
            ),
            stateful_sets: cache(
                watcher(Api::<PartialObjectMeta<StatefulSet>>::all(client.clone()), all()),
                |s| {
                    s.metadata.managed_fields = None;
                },
            ),
            pods: indexed_pods(watcher(Api::all(client.clone()), placed), index.clone()),
            nodes: cache(watcher(Api::all(client.clone()), all()), |node: &mut Node| {
                node.metadata.managed_fields = None;
                node.status = None;
            }),
            placed: index,
            reservations: Mutex::new(Reservations::default()),
        };
        let _ = me.replica_sets.wait_until_ready().await;
        let _ = me.stateful_sets.wait_until_ready().await;
        let _ = me.pods.wait_until_ready().await;
        let _ = me.nodes.wait_until_ready().await;
        me
    }

    /// A cluster view over caches filled elsewhere (tests fill them by hand). The placed pods
    /// are counted as `pods` holds them now: later changes to that store are not seen.
    pub fn from_stores(
        client: Client,
        replica_sets: Store<PartialObjectMeta<ReplicaSet>>,
        stateful_sets: Store<PartialObjectMeta<StatefulSet>>,
        pods: Store<Pod>,
        nodes: Store<Node>,
    ) -> Self {
        let placed = Arc::new(Mutex::new(PlacedIndex::from_pods(&pods.state())));
        Self { client, replica_sets, stateful_sets, pods, nodes, placed, reservations: Mutex::default() }
    }

    /// The pod's controller and its annotations (a Deployment's are copied onto its
    /// ReplicaSets by Kubernetes), from the caches.
    pub fn workload_of(
        &self,
        namespace: &str,
        owners: &[OwnerReference],
    ) -> Option<(WorkloadKey, BTreeMap<String, String>)> {
        let key = controller_key(namespace, owners)?;
        let annotations = match key.kind.as_str() {
            "ReplicaSet" => self
                .replica_sets
                .get(&reflector::ObjectRef::new(&key.name).within(namespace))?
                .annotations()
                .clone(),
            _ => self
                .stateful_sets
                .get(&reflector::ObjectRef::new(&key.name).within(namespace))?
                .annotations()
                .clone(),
        };
        Some((key, annotations))
    }

    /// Like [`Self::workload_of`], asking the API server (metadata only, for at most
    /// [`LOOKUP_TIMEOUT`]) when the cache has not seen the controller yet: the ReplicaSet
    /// controller creates pods right after the Deployment controller created the ReplicaSet.
    /// `Ok(None)`: the pod has no ReplicaSet or StatefulSet controller, or it does not exist.
    pub async fn resolve(&self, namespace: &str, owners: &[OwnerReference]) -> Resolved {
        if let Some(found) = self.workload_of(namespace, owners) {
            return Ok(Some(found));
        }
        let Some(key) = controller_key(namespace, owners) else { return Ok(None) };
        let fetch = async {
            match key.kind.as_str() {
                "ReplicaSet" => {
                    Api::<PartialObjectMeta<ReplicaSet>>::namespaced(self.client.clone(), namespace)
                        .get_opt(&key.name)
                        .await
                        .map(|o| o.map(|o| o.metadata))
                }
                _ => Api::<PartialObjectMeta<StatefulSet>>::namespaced(self.client.clone(), namespace)
                    .get_opt(&key.name)
                    .await
                    .map(|o| o.map(|o| o.metadata)),
            }
        };
        let failed = |reason: String| LookupError { key: key.clone(), reason };
        match tokio::time::timeout(LOOKUP_TIMEOUT, fetch).await {
            Ok(Ok(Some(meta))) => Ok(Some((key.clone(), meta.annotations.unwrap_or_default()))),
            Ok(Ok(None)) => Ok(None),
            Ok(Err(e)) => Err(failed(e.to_string())),
            Err(_) => Err(failed(format!("no answer within {} s", LOOKUP_TIMEOUT.as_secs()))),
        }
    }

    fn workload_key_of_pod(pod: &Pod) -> Option<WorkloadKey> {
        controller_key(pod.namespace().as_deref().unwrap_or_default(), pod.owner_references())
    }

    /// Under the reservation lock: reads the controller's regular pods (live, in the cache) and
    /// open reservations, lets `decide` place the pod, and reserves a slot under `reserve_as` (the
    /// admission request's uid) when it went to a regular node. A dry run (`reserve_as: None`)
    /// decides without reserving: no pod will follow it. O(1) in the number of placed pods: the
    /// counts are kept per controller as the watch reports pods.
    pub fn place_with_reservation<F>(
        &self,
        key: &WorkloadKey,
        annotations: BTreeMap<String, String>,
        reserve_as: Option<&str>,
        decide: F,
    ) -> Option<Placement>
    where
        F: FnOnce(&Workload) -> Option<Placement>,
    {
        let mut reservations = self.reservations.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        // Expired reservations of every controller go, not only this one's: after a rollout the
        // old ReplicaSet sees no more admissions, and its entries would otherwise stay forever.
        if reservations.swept.is_none_or(|at| now.duration_since(at) >= SWEEP_EVERY) {
            reservations.open.retain(|_, open| {
                open.retain(|(_, at)| now.duration_since(*at) < RESERVATION_TTL);
                !open.is_empty()
            });
            reservations.swept = Some(now);
        }
        let open = reservations.open.entry(key.clone()).or_default();
        let regular = {
            let placed = self.placed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let counted = placed.counts.get(key);
            // A reservation whose pod is in the cache retires: the pod counts instead.
            open.retain(|(uid, at)| {
                now.duration_since(*at) < RESERVATION_TTL
                    && !counted.is_some_and(|c| c.uids.contains_key(uid))
            });
            counted.map_or(0, |c| c.regular)
        };
        let workload = Workload {
            id: key.to_string(),
            annotations,
            regular_pinned: regular + u32::try_from(open.len()).unwrap_or(u32::MAX),
        };
        let placement = decide(&workload);
        if let (Some(Placement::Regular), Some(uid)) = (placement, reserve_as) {
            open.push((uid.to_owned(), now));
        }
        if open.is_empty() {
            reservations.open.remove(key);
        }
        placement
    }

    /// How many reservations are held (their pods not seen yet), over all controllers.
    pub fn reservations_held(&self) -> usize {
        let reservations = self.reservations.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        reservations.open.values().map(Vec::len).sum()
    }

    /// Placed pods (live), grouped by workload, each with whether it is on (or headed to) a
    /// virtual node of `profile`.
    pub fn placed_pods(&self, profile: &Profile) -> BTreeMap<WorkloadKey, Vec<(std::sync::Arc<Pod>, bool)>> {
        let mut out: BTreeMap<WorkloadKey, Vec<_>> = BTreeMap::new();
        for pod in self.pods.state() {
            if !live(&pod) {
                continue;
            }
            let Some(key) = Self::workload_key_of_pod(&pod) else { continue };
            let on_virtual = match pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
                Some(node) => self.is_virtual_node(profile, node),
                None => pod.labels().get(PLACEMENT_LABEL).map(String::as_str) == Some("burst"),
            };
            out.entry(key).or_default().push((pod, on_virtual));
        }
        out
    }

    fn is_virtual_node(&self, profile: &Profile, name: &str) -> bool {
        let Some(node) = self.nodes.get(&reflector::ObjectRef::new(name)) else { return false };
        let taints: Vec<Taint> = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|t| Taint { key: t.key, value: t.value, effect: t.effect })
            .collect();
        profile.is_virtual_node(node.labels(), &taints)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, rs: &str, placement: &str, uid: Option<&str>) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "shop", "labels": {PLACEMENT_LABEL: placement},
                "annotations": uid.map(|u| serde_json::json!({ADMISSION_UID_ANNOTATION: u})).unwrap_or_default(),
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": "r", "controller": true}]},
        }))
        .unwrap()
    }

    fn key(rs: &str) -> WorkloadKey {
        WorkloadKey { kind: "ReplicaSet".into(), namespace: "shop".into(), name: rs.into() }
    }

    fn regular(index: &PlacedIndex, rs: &str) -> u32 {
        index.counts.get(&key(rs)).map_or(0, |c| c.regular)
    }

    #[test]
    fn the_counts_follow_the_watch_event_by_event_and_across_a_relist() {
        let mut index = PlacedIndex::default();
        index.apply(&watcher::Event::Apply(pod("a", "web-1", "regular", Some("uid-a"))));
        index.apply(&watcher::Event::Apply(pod("b", "web-1", "burst", None)));
        index.apply(&watcher::Event::Apply(pod("c", "web-2", "regular", None)));
        assert_eq!((regular(&index, "web-1"), regular(&index, "web-2")), (1, 1));
        assert!(index.counts[&key("web-1")].uids.contains_key("uid-a"));
        // The same pod again changes nothing; finished, it no longer counts.
        index.apply(&watcher::Event::Apply(pod("a", "web-1", "regular", Some("uid-a"))));
        assert_eq!(regular(&index, "web-1"), 1);
        let mut done = pod("a", "web-1", "regular", Some("uid-a"));
        done.status = Some(k8s_openapi::api::core::v1::PodStatus {
            phase: Some("Succeeded".into()),
            ..Default::default()
        });
        index.apply(&watcher::Event::Apply(done));
        assert_eq!(regular(&index, "web-1"), 0);
        assert!(!index.counts.contains_key(&key("web-1")), "nothing left for web-1");
        index.apply(&watcher::Event::Delete(pod("c", "web-2", "regular", None)));
        assert!(index.counts.is_empty());
        // A relist replaces everything once it is complete.
        index.apply(&watcher::Event::Apply(pod("old", "web-3", "regular", None)));
        index.apply(&watcher::Event::Init);
        index.apply(&watcher::Event::InitApply(pod("x", "web-1", "regular", None)));
        assert_eq!(regular(&index, "web-3"), 1, "until the relist is done");
        index.apply(&watcher::Event::InitDone);
        assert_eq!((regular(&index, "web-1"), regular(&index, "web-3")), (1, 0));
    }
}
