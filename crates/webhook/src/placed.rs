//! The placed pods, as the webhook keeps them: one compact record per live pod of a workload
//! (the fields the decisions read, nothing else) and, per controller, the counts an admission
//! reads.
//!
//! A cached `Pod` is a few kilobytes even when trimmed (its spec and status structs are large),
//! which at 50,000 placed pods is several hundred MiB; a [`PlacedPod`] is a few hundred bytes.
//! The pod watch feeds [`PlacedIndex::apply`] directly; no pod store is kept.

use std::collections::HashMap;

use diurnal_placement::PLACEMENT_LABEL;
use diurnal_placement::order::DELETION_COST_ANNOTATION;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt as _;
use kube::runtime::watcher;

use crate::cluster::{ADMISSION_UID_ANNOTATION, WorkloadKey, controller_key};

/// What the webhook keeps of a live placed pod of a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedPod {
    /// `metadata.name`.
    pub name: String,
    /// Its controller (ReplicaSet or StatefulSet).
    pub owner: WorkloadKey,
    /// The `diurnal.dev/placement` label's value (`regular` or `burst`).
    pub placement: Box<str>,
    /// The admission uid it carries (pods placed on a regular node).
    pub admission_uid: Option<String>,
    /// Its `controller.kubernetes.io/pod-deletion-cost` annotation.
    pub deletion_cost: Option<Box<str>>,
    /// `metadata.creationTimestamp`.
    pub created: jiff::Timestamp,
    /// `spec.nodeName`, once scheduled.
    pub node: Option<Box<str>>,
}

impl PlacedPod {
    /// The record of `pod`, if it counts: live, labelled, with a workload controller.
    pub fn of(pod: &Pod) -> Option<Self> {
        if !live(pod) {
            return None;
        }
        let placement = pod.labels().get(PLACEMENT_LABEL)?;
        let owner = controller_key(pod.namespace().as_deref().unwrap_or_default(), pod.owner_references())?;
        Some(Self {
            name: pod.name_any(),
            owner,
            placement: placement.as_str().into(),
            admission_uid: pod.annotations().get(ADMISSION_UID_ANNOTATION).cloned(),
            deletion_cost: pod.annotations().get(DELETION_COST_ANNOTATION).map(|c| c.as_str().into()),
            created: pod.metadata.creation_timestamp.as_ref().map_or(jiff::Timestamp::UNIX_EPOCH, |t| t.0),
            node: pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).map(Into::into),
        })
    }

    /// Whether it was placed on a regular node.
    pub fn is_regular(&self) -> bool {
        &*self.placement == "regular"
    }
}

fn live(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && !matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

/// A pod's namespace and name.
type PodId = (String, String);

/// A controller's live regular pods, and the admission uids they carry.
#[derive(Debug, Default)]
pub struct Counted {
    /// Live pods labelled `regular`.
    pub regular: u32,
    /// Admission uids on those pods (a reservation whose uid is here has its pod).
    pub uids: HashMap<String, u32>,
}

/// The placed pods and the counts per controller, kept as the pod watch reports changes, so an
/// admission costs the same with 50 or 50,000 placed pods.
#[derive(Debug, Default)]
pub struct PlacedIndex {
    pods: HashMap<PodId, PlacedPod>,
    counts: HashMap<WorkloadKey, Counted>,
    /// Pods of a relist in progress (between the watch's `Init` and `InitDone`).
    relist: Option<HashMap<PodId, PlacedPod>>,
    /// Whether a first list has completed.
    listed: bool,
}

impl PlacedIndex {
    /// An index of `pods`, as after a complete list.
    pub fn from_pods(pods: impl IntoIterator<Item = Pod>) -> Self {
        let mut index = Self { listed: true, ..Self::default() };
        index.pods = pods.into_iter().filter_map(|p| Self::entry(&p)).collect();
        index.recount();
        index
    }

    fn entry(pod: &Pod) -> Option<(PodId, PlacedPod)> {
        let placed = PlacedPod::of(pod)?;
        Some(((placed.owner.namespace.clone(), placed.name.clone()), placed))
    }

    /// The counts of `key`'s controller.
    pub fn counts(&self, key: &WorkloadKey) -> Option<&Counted> {
        self.counts.get(key)
    }

    /// Every placed pod.
    pub fn pods(&self) -> impl Iterator<Item = &PlacedPod> {
        self.pods.values()
    }

    /// Placed pods held.
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    /// Whether no placed pod is held.
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    /// Whether the watch's first list has completed.
    pub fn listed(&self) -> bool {
        self.listed
    }

    fn count(counts: &mut HashMap<WorkloadKey, Counted>, pod: &PlacedPod, add: bool) {
        if !pod.is_regular() {
            return;
        }
        let key = &pod.owner;
        let uid = pod.admission_uid.as_ref();
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
        for pod in self.pods.values() {
            Self::count(&mut self.counts, pod, true);
        }
    }

    /// Follows one event of the placed-pod watch.
    pub fn apply(&mut self, event: &watcher::Event<Pod>) {
        match event {
            watcher::Event::Apply(pod) | watcher::Event::Delete(pod) => {
                let id = (pod.namespace().unwrap_or_default(), pod.name_any());
                if let Some(old) = self.pods.remove(&id) {
                    Self::count(&mut self.counts, &old, false);
                }
                if matches!(event, watcher::Event::Apply(_))
                    && let Some((id, placed)) = Self::entry(pod)
                {
                    Self::count(&mut self.counts, &placed, true);
                    self.pods.insert(id, placed);
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
                self.listed = true;
            }
        }
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
        index.counts(&key(rs)).map_or(0, |c| c.regular)
    }

    #[test]
    fn the_counts_follow_the_watch_event_by_event_and_across_a_relist() {
        let mut index = PlacedIndex::default();
        assert!(!index.listed());
        index.apply(&watcher::Event::Apply(pod("a", "web-1", "regular", Some("uid-a"))));
        index.apply(&watcher::Event::Apply(pod("b", "web-1", "burst", None)));
        index.apply(&watcher::Event::Apply(pod("c", "web-2", "regular", None)));
        assert_eq!((regular(&index, "web-1"), regular(&index, "web-2")), (1, 1));
        assert_eq!(index.len(), 3, "burst pods are kept too (the scale-in order reads them)");
        assert!(index.counts(&key("web-1")).unwrap().uids.contains_key("uid-a"));
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
        assert!(index.counts(&key("web-1")).is_none(), "nothing left for web-1");
        index.apply(&watcher::Event::Delete(pod("c", "web-2", "regular", None)));
        assert!(index.counts.is_empty());
        // A relist replaces everything once it is complete.
        index.apply(&watcher::Event::Apply(pod("old", "web-3", "regular", None)));
        index.apply(&watcher::Event::Init);
        index.apply(&watcher::Event::InitApply(pod("x", "web-1", "regular", None)));
        assert_eq!(regular(&index, "web-3"), 1, "until the relist is done");
        index.apply(&watcher::Event::InitDone);
        assert_eq!((regular(&index, "web-1"), regular(&index, "web-3")), (1, 0));
        assert!(index.listed());
    }

    #[test]
    fn a_record_keeps_only_what_the_decisions_read() {
        let mut p = pod("a", "web-1", "burst", None);
        p.metadata.annotations =
            Some([(DELETION_COST_ANNOTATION.to_owned(), "-5".to_owned())].into_iter().collect());
        p.spec = Some(k8s_openapi::api::core::v1::PodSpec {
            node_name: Some("virtual-kubelet".into()),
            ..Default::default()
        });
        let placed = PlacedPod::of(&p).unwrap();
        assert_eq!(placed.deletion_cost.as_deref(), Some("-5"));
        assert_eq!(placed.node.as_deref(), Some("virtual-kubelet"));
        assert!(!placed.is_regular());
        p.metadata.owner_references = None;
        assert!(PlacedPod::of(&p).is_none(), "no workload controller: not kept");
    }
}
