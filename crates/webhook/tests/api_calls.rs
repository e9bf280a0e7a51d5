//! Every call the webhook makes to the API server, pinned (method, path, body) in order: reading
//! a pod's controller the cache has not seen yet, and the deletion-cost patches of the scale-in
//! order.

mod common;

use std::sync::Arc;
use std::time::Duration;

use diurnal_placement::Profile;
use diurnal_testing::{Call, get, merge_patch, mock_client, not_found, serve};
use diurnal_webhook::cluster::{Cluster, WorkloadKey};
use diurnal_webhook::metrics::Metrics;
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::json;

fn owner(kind: &str, name: &str) -> Vec<OwnerReference> {
    serde_json::from_value(
        json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": "u", "controller": true}]),
    )
    .unwrap()
}

/// A pod of ReplicaSet `web-1`, placed, on `node`, with its current deletion cost if any.
fn pod(name: &str, placement: &str, node: &str, created: &str, cost: Option<&str>) -> Pod {
    let annotations = cost.map_or(json!({}), |c| json!({"controller.kubernetes.io/pod-deletion-cost": c}));
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "shop", "creationTimestamp": created,
            "labels": {"diurnal.dev/placement": placement}, "annotations": annotations,
            "ownerReferences": owner("ReplicaSet", "web-1")},
        "spec": {"containers": [{"name": "a"}], "nodeName": node},
    }))
    .unwrap()
}

fn cluster(client: kube::Client, pods: Vec<Pod>) -> Cluster {
    let nodes: Vec<Node> = serde_json::from_value(json!([
        {"metadata": {"name": "regular-0"}},
        {"metadata": {"name": "vk", "labels": {"type": "virtual-kubelet"}}},
    ]))
    .unwrap();
    Cluster::from_stores(
        client,
        common::metadata_of::<ReplicaSet>(vec![]),
        common::metadata_of::<StatefulSet>(vec![]),
        pods,
        common::filled(nodes),
    )
}

/// What a metadata-only GET answers.
fn metadata_answer(name: &str) -> serde_json::Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": {
        "name": name, "namespace": "shop",
        "annotations": {"diurnal.dev/baseline-replicas": "2"}}})
}

#[tokio::test]
async fn a_controller_the_cache_has_not_seen_is_read_from_the_api_server() {
    let (client, handle) = mock_client();
    let c = cluster(client, vec![]);
    let calls = vec![
        get("/apis/apps/v1/namespaces/shop/replicasets/web-2", metadata_answer("web-2")),
        get("/apis/apps/v1/namespaces/shop/statefulsets/db", metadata_answer("db")),
        not_found("GET", "/apis/apps/v1/namespaces/shop/replicasets/gone-1"),
        Call { status: 500, ..get("/apis/apps/v1/namespaces/shop/replicasets/web-3", json!({})) },
    ];
    let api = tokio::spawn(serve(handle, calls));

    let (key, annotations) = c.resolve("shop", &owner("ReplicaSet", "web-2")).await.unwrap().unwrap();
    assert_eq!(
        key,
        WorkloadKey { kind: "ReplicaSet".into(), namespace: "shop".into(), name: "web-2".into() }
    );
    assert_eq!(annotations["diurnal.dev/baseline-replicas"], "2");
    let (key, _) = c.resolve("shop", &owner("StatefulSet", "db")).await.unwrap().unwrap();
    assert_eq!(key.kind, "StatefulSet");
    assert!(c.resolve("shop", &owner("ReplicaSet", "gone-1")).await.unwrap().is_none(), "deleted meanwhile");
    let err = c.resolve("shop", &owner("ReplicaSet", "web-3")).await.unwrap_err();
    assert!(err.to_string().starts_with("reading ReplicaSet/shop/web-3: "), "{err}");
    // Not a workload diurnal places: no call at all.
    assert!(c.resolve("shop", &owner("Job", "nightly")).await.unwrap().is_none());
    api.await.unwrap();
}

#[tokio::test]
async fn the_scale_in_order_patches_only_the_pods_whose_cost_changes() {
    let (client, handle) = mock_client();
    let c = Arc::new(cluster(
        client.clone(),
        vec![
            // Costs come from the creation second alone (docs: placement order): `a` already has its.
            pod("a", "regular", "regular-0", "2026-01-01T00:00:00Z", Some("1810611201")),
            pod("b", "regular", "regular-0", "2026-01-01T00:01:00Z", None),
            pod("c", "burst", "vk", "2026-01-01T00:02:00Z", Some("5")),
            pod("d", "burst", "vk", "2026-01-01T00:03:00Z", None),
        ],
    ));
    let cost =
        |v: &str| json!({"metadata": {"annotations": {"controller.kubernetes.io/pod-deletion-cost": v}}});
    let calls = vec![
        merge_patch("/api/v1/namespaces/shop/pods/b", cost("1810611141"), json!({})),
        merge_patch("/api/v1/namespaces/shop/pods/d", cost("-189388981"), json!({})),
        merge_patch("/api/v1/namespaces/shop/pods/c", cost("-189388921"), json!({})),
    ];
    let api = tokio::spawn(serve(handle, calls));
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = Arc::new(Metrics::new(&mut registry));
    let profile = Profile::builtin("alibabacloud").unwrap();
    // One pass (the first tick is immediate); the next would be an hour later.
    let order =
        tokio::spawn(diurnal_webhook::costs::run(client, c, profile, metrics, Duration::from_secs(3600)));
    api.await.unwrap();
    order.abort();
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(text.contains("diurnal_webhook_deletion_cost_patches_total{result=\"ok\"} 3"), "{text}");
}
