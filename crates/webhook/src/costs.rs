//! The scale-in order loop: keeps `controller.kubernetes.io/pod-deletion-cost` on every placed pod
//! so that a ReplicaSet scaling in removes virtual-node pods first, then the newest regular pods.
//!
//! It runs in every webhook replica without leader election: the costs are a deterministic
//! function of the watched pods and nodes, so replicas agree, and a pod whose annotation already
//! holds the right value is not patched. Two replicas racing write the same value.
//!
//! StatefulSet pods get no cost: the StatefulSet controller ignores it and always removes the
//! highest ordinal first — which already is the order wanted, as the baseline is placed on the
//! first ordinals, created first.

use std::sync::Arc;
use std::time::Duration;

use diurnal_placement::order::DELETION_COST_ANNOTATION;
use diurnal_placement::{PodFacts, Profile, deletion_costs};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};

use crate::cluster::Cluster;
use crate::metrics::Metrics;
use crate::placed::PlacedPod;

/// The patches one pass would make: `(namespace, pod, cost)` for every pod whose annotation differs.
pub fn pending(cluster: &Cluster, profile: &Profile) -> Vec<(String, String, i32)> {
    let mut out = Vec::new();
    for (key, pods) in cluster.placed_pods(profile) {
        if key.kind != "ReplicaSet" {
            continue;
        }
        let facts: Vec<PodFacts> = pods
            .iter()
            .map(|(pod, on_virtual)| PodFacts {
                name: pod.name.clone(),
                on_virtual: *on_virtual,
                created: pod.created,
            })
            .collect();
        let by_name: std::collections::HashMap<&str, &PlacedPod> =
            pods.iter().map(|(p, _)| (p.name.as_str(), p)).collect();
        for (name, cost) in deletion_costs(&facts) {
            let current = by_name.get(name.as_str()).and_then(|p| p.deletion_cost.as_deref());
            if current != Some(cost.to_string().as_str()) {
                out.push((key.namespace.clone(), name, cost));
            }
        }
    }
    out
}

/// Runs passes every `period` until the task is dropped.
pub async fn run(
    client: Client,
    cluster: Arc<Cluster>,
    profile: Profile,
    metrics: Arc<Metrics>,
    period: Duration,
) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for (namespace, name, cost) in pending(&cluster, &profile) {
            let patch = serde_json::json!({"metadata": {"annotations": {DELETION_COST_ANNOTATION: cost.to_string()}}});
            let api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
            match api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => metrics.deletion_cost_patch(true),
                Err(e) => {
                    metrics.deletion_cost_patch(false);
                    tracing::warn!(%namespace, pod = %name, error = %e, "could not set the deletion cost");
                }
            }
        }
    }
}
