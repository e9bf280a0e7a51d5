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
use crate::placed::{PlacedIndex, PlacedPod};

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

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let placed = self.placed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len();
        f.debug_struct("Cluster").field("placed_pods", &placed).finish_non_exhaustive()
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

/// Feeds the placed-pod watch into `index` (no pod store is kept: see [`crate::placed`]); the
/// receiver turns true once the first list is in.
fn index_pods<S>(events: S, index: Arc<Mutex<PlacedIndex>>) -> tokio::sync::watch::Receiver<bool>
where
    S: futures::Stream<Item = watcher::Result<watcher::Event<Pod>>> + Send + 'static,
{
    let (listed_tx, listed) = tokio::sync::watch::channel(false);
    let stream = events.default_backoff();
    tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) => {
                    let mut index = index.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    index.apply(&event);
                    if index.listed() {
                        listed_tx.send_if_modified(|l| !std::mem::replace(l, true));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "watch error; retrying"),
            }
        }
    });
    listed
}

impl Cluster {
    /// Starts the watches (all namespaces) and returns once their first lists are in.
    ///
    /// Only what the decisions read is kept, so that a large cluster fits the webhook's memory:
    /// ReplicaSets and StatefulSets as metadata only (a ReplicaSet carries a whole pod template,
    /// and every Deployment keeps up to ten), only placed pods and of those only a compact record
    /// ([`crate::placed`]), nodes without their status (the image list alone can be tens of
    /// kilobytes), nothing's managed fields.
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
            nodes: cache(watcher(Api::all(client.clone()), all()), |node: &mut Node| {
                node.metadata.managed_fields = None;
                node.status = None;
            }),
            placed: index.clone(),
            reservations: Mutex::new(Reservations::default()),
        };
        let mut pods_listed = index_pods(watcher(Api::all(client.clone()), placed), index);
        let _ = me.replica_sets.wait_until_ready().await;
        let _ = me.stateful_sets.wait_until_ready().await;
        let _ = pods_listed.wait_for(|listed| *listed).await;
        let _ = me.nodes.wait_until_ready().await;
        me
    }

    /// A cluster view over caches filled elsewhere (tests fill them by hand), with `pods` as the
    /// placed pods (each indexed, then dropped, as the watch does).
    pub fn from_stores(
        client: Client,
        replica_sets: Store<PartialObjectMeta<ReplicaSet>>,
        stateful_sets: Store<PartialObjectMeta<StatefulSet>>,
        pods: impl IntoIterator<Item = Pod>,
        nodes: Store<Node>,
    ) -> Self {
        let placed = Arc::new(Mutex::new(PlacedIndex::from_pods(pods)));
        Self { client, replica_sets, stateful_sets, nodes, placed, reservations: Mutex::default() }
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
            let counted = placed.counts(key);
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
    pub fn placed_pods(&self, profile: &Profile) -> BTreeMap<WorkloadKey, Vec<(PlacedPod, bool)>> {
        let pods: Vec<PlacedPod> =
            self.placed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pods().cloned().collect();
        let mut out: BTreeMap<WorkloadKey, Vec<_>> = BTreeMap::new();
        for pod in pods {
            let on_virtual = match pod.node.as_deref() {
                Some(node) => self.is_virtual_node(profile, node),
                None => &*pod.placement == "burst",
            };
            out.entry(pod.owner.clone()).or_default().push((pod, on_virtual));
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
