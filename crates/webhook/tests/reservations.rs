//! The baseline under concurrent admissions, and the scale-in order, over hand-filled caches.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use diurnal_placement::{BurstMode, Placement, PlacementPolicy, Profile, place};
use diurnal_webhook::cluster::{ADMISSION_UID_ANNOTATION, Cluster, RESERVATION_TTL, WorkloadKey};
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Node, Pod};

fn client() -> kube::Client {
    common::offline_client()
}

fn rs() -> ReplicaSet {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web-abc", "namespace": "shop",
            "annotations": {"diurnal.dev/baseline-replicas": "3", "diurnal.dev/burst": "virtual"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d1", "controller": true}]},
    }))
    .unwrap()
}

fn pod(name: &str, placement: &str, uid_annotation: Option<&str>, node: Option<&str>, created: &str) -> Pod {
    let mut annotations = serde_json::Map::new();
    if let Some(uid) = uid_annotation {
        annotations.insert(ADMISSION_UID_ANNOTATION.into(), uid.into());
    }
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": "shop", "creationTimestamp": created,
            "labels": {"diurnal.dev/placement": placement}, "annotations": annotations,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc", "uid": "r1", "controller": true}]},
        "spec": {"containers": [{"name": "a"}], "nodeName": node},
    }))
    .unwrap()
}

fn node(name: &str, is_virtual: bool) -> Node {
    let labels =
        if is_virtual { serde_json::json!({"type": "virtual-kubelet"}) } else { serde_json::json!({}) };
    serde_json::from_value(serde_json::json!({"metadata": {"name": name, "labels": labels}})).unwrap()
}

fn cluster(pods: Vec<Pod>) -> Cluster {
    Cluster::from_stores(
        client(),
        common::metadata_of(vec![rs()]),
        common::metadata_of::<StatefulSet>(vec![]),
        pods,
        common::filled(vec![node("regular-0", false), node("vk", true)]),
    )
}

fn key() -> WorkloadKey {
    WorkloadKey { kind: "ReplicaSet".into(), namespace: "shop".into(), name: "web-abc".into() }
}

fn annotations() -> BTreeMap<String, String> {
    rs().metadata.annotations.unwrap()
}

fn decide(w: &diurnal_webhook::admit::Workload) -> Placement {
    let policy = PlacementPolicy::from_annotations(&w.annotations).unwrap().unwrap();
    place(&policy, w.regular_pinned)
}

#[tokio::test]
async fn a_pod_resolves_to_its_replica_set_with_the_deployments_annotations() {
    let c = cluster(vec![]);
    let owners = pod("p", "regular", None, None, "2026-01-01T00:00:00Z").metadata.owner_references.unwrap();
    let (k, a) = c.workload_of("shop", &owners).unwrap();
    assert_eq!((k, a), (key(), annotations()));
    assert!(c.workload_of("other", &owners).is_none(), "same name, other namespace");
    let mut not_apps = owners.clone();
    not_apps[0].api_version = "example.com/v1".into();
    assert!(c.workload_of("shop", &not_apps).is_none(), "a ReplicaSet kind of another group");
}

#[tokio::test]
async fn in_a_rollout_the_new_replica_set_gets_its_own_baseline() {
    // The old ReplicaSet's three regular pods do not count for the new one's pods.
    let old = |name: &str| {
        let mut p = pod(name, "regular", None, Some("regular-0"), "2026-01-01T00:00:00Z");
        p.metadata.owner_references.as_mut().unwrap()[0].name = "web-old".into();
        p
    };
    let c = cluster(vec![old("o1"), old("o2"), old("o3")]);
    let mut seen = None;
    let placed = c.place_with_reservation(&key(), annotations(), Some("uid-1"), |w| {
        seen = Some(w.regular_pinned);
        Some(decide(w))
    });
    assert_eq!((seen, placed), (Some(0), Some(Placement::Regular)));
}

#[tokio::test]
async fn a_dry_run_decides_without_holding_a_slot() {
    let c = cluster(vec![]);
    for _ in 0..5 {
        let placed = c.place_with_reservation(&key(), annotations(), None, |w| Some(decide(w)));
        assert_eq!(placed, Some(Placement::Regular));
    }
    let mut seen = None;
    c.place_with_reservation(&key(), annotations(), Some("uid-1"), |w| {
        seen = Some(w.regular_pinned);
        Some(decide(w))
    });
    assert_eq!(seen, Some(0));
}

#[tokio::test(start_paused = true)]
async fn reservations_expire_even_for_a_replica_set_that_sees_no_more_admissions() {
    let c = cluster(vec![]);
    c.place_with_reservation(&key(), annotations(), Some("uid-1"), |w| Some(decide(w)));
    c.place_with_reservation(&key(), annotations(), Some("uid-2"), |w| Some(decide(w)));
    assert_eq!(c.reservations_held(), 2);
    tokio::time::advance(RESERVATION_TTL.saturating_sub(std::time::Duration::from_secs(1))).await;
    let other = WorkloadKey { name: "web-new".into(), ..key() };
    c.place_with_reservation(&other, annotations(), Some("uid-3"), |w| Some(decide(w)));
    assert_eq!(c.reservations_held(), 3, "still within the TTL");
    tokio::time::advance(std::time::Duration::from_secs(2)).await;
    // Only the new ReplicaSet is admitting now (a rollout); the old one's slots still go.
    c.place_with_reservation(&other, annotations(), Some("uid-4"), |w| Some(decide(w)));
    assert_eq!(c.reservations_held(), 2, "uid-3 and uid-4");
}

#[tokio::test]
async fn concurrent_admissions_in_one_process_never_overshoot_the_baseline() {
    let c = Arc::new(cluster(vec![]));
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let c = c.clone();
            std::thread::spawn(move || {
                c.place_with_reservation(&key(), annotations(), Some(&format!("uid-{i}")), |w| {
                    Some(decide(w))
                })
            })
        })
        .collect();
    let placements: Vec<Placement> = threads.into_iter().map(|t| t.join().unwrap().unwrap()).collect();
    let regular = placements.iter().filter(|p| **p == Placement::Regular).count();
    assert_eq!(regular, 3, "{placements:?}");
    assert!(
        placements.iter().all(|p| *p == Placement::Regular || *p == Placement::Burst(BurstMode::Virtual))
    );
}

#[tokio::test]
async fn two_replicas_that_have_not_seen_each_others_pods_can_each_fill_the_baseline_but_no_more() {
    // The documented worst case with N = 2: neither replica's watch has shown a pod yet, so each
    // fills the whole baseline (3) from its own reservations: 3 extras, (N - 1) x baseline.
    let (a, b) = (cluster(vec![]), cluster(vec![]));
    let mut regular = 0;
    for i in 0..8 {
        let replica = if i % 2 == 0 { &a } else { &b };
        let placed = replica
            .place_with_reservation(&key(), annotations(), Some(&format!("uid-{i}")), |w| Some(decide(w)));
        regular += usize::from(placed == Some(Placement::Regular));
    }
    assert_eq!(regular, 6);
    // Once a replica's watch shows the baseline, it pins nothing more.
    let seen = cluster(
        (0..3)
            .map(|i| pod(&format!("p{i}"), "regular", None, Some("regular-0"), "2026-01-01T00:00:00Z"))
            .collect(),
    );
    let placed = seen.place_with_reservation(&key(), annotations(), Some("uid-9"), |w| Some(decide(w)));
    assert_eq!(placed, Some(Placement::Burst(BurstMode::Virtual)));
}

#[tokio::test]
async fn a_reservation_retires_when_its_pod_is_seen_and_the_pod_counts_instead() {
    // Two regular pods in the cache, one of them admitted as uid-1 (still reserved here).
    let c = cluster(vec![
        pod("a", "regular", Some("uid-1"), Some("regular-0"), "2026-01-01T00:00:00Z"),
        pod("b", "regular", None, Some("regular-0"), "2026-01-01T00:01:00Z"),
        pod("c", "burst", None, Some("vk"), "2026-01-01T00:02:00Z"),
    ]);
    // uid-1 was reserved before its pod showed up: not counted twice.
    let first = c.place_with_reservation(&key(), annotations(), Some("uid-1"), |_| Some(Placement::Regular));
    assert_eq!(first, Some(Placement::Regular));
    let mut seen = 0;
    c.place_with_reservation(&key(), annotations(), Some("uid-2"), |w| {
        seen = w.regular_pinned;
        Some(Placement::Burst(BurstMode::Virtual))
    });
    assert_eq!(seen, 2, "pods a and b; uid-1's reservation retired by pod a");
}

#[tokio::test]
async fn the_scale_in_order_puts_virtual_pods_first() {
    let c = cluster(vec![
        pod("a", "regular", None, Some("regular-0"), "2026-01-01T00:00:00Z"),
        pod("b", "regular", None, Some("regular-0"), "2026-01-01T00:01:00Z"),
        pod("c", "burst", None, Some("vk"), "2026-01-01T00:02:00Z"),
        pod("d", "burst", None, None, "2026-01-01T00:03:00Z"),
        {
            // A StatefulSet's pod: its controller ignores deletion costs, so none is written.
            let mut p = pod("db-0", "regular", None, Some("regular-0"), "2026-01-01T00:00:00Z");
            p.metadata.owner_references.as_mut().unwrap()[0].kind = "StatefulSet".into();
            p
        },
    ]);
    let profile = Profile::builtin("alibabacloud").unwrap();
    let mut pending = diurnal_webhook::costs::pending(&c, &profile);
    pending.sort_by_key(|(_, _, cost)| *cost);
    let names: Vec<&str> = pending.iter().map(|(_, n, _)| n.as_str()).collect();
    assert_eq!(names, ["d", "c", "b", "a"]);
}
