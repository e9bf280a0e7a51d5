//! The scale-in order. A ReplicaSet scaling in deletes the pods with the lowest
//! `controller.kubernetes.io/pod-deletion-cost` first; keeping that annotation on a workload's
//! pods makes it remove the virtual-node pods (billed per second) first, then the newest regular
//! pods, and the oldest regular pods — the baseline — last.

use jiff::Timestamp;

/// The annotation the ReplicaSet controller reads.
pub const DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";

/// What the order needs to know of one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodFacts {
    /// Pod name.
    pub name: String,
    /// Whether it runs (or is pinned to run) on a virtual node.
    pub on_virtual: bool,
    /// Creation time.
    pub created: Timestamp,
}

/// Start of the cost clock: 2020-01-01T00:00:00Z.
const EPOCH_SECONDS: i64 = 1_577_836_800;
/// Seconds of creation time the costs distinguish (31 years; later pods share the last value).
const SPAN: i64 = 1_000_000_000;

/// Deletion costs for one workload's pods, by pod name, newest first within each kind, regular
/// pods first. Each cost depends only on the pod itself — its creation second and whether it is on
/// a virtual node — so adding or removing a pod changes no other pod's cost and the loop patches
/// only new pods (ranks would shift every pod at each scale-out):
///
/// - regular pods: `1_000_000_001 + (SPAN − s)`, where `s` is the creation time in seconds since
///   2020 — the older, the higher (the baseline goes last); always above 1 000 000 000;
/// - virtual pods: `−(s + 1)` — the newer, the lower; always negative.
///
/// So every virtual pod goes before every regular pod, and within each the newest first. Pods
/// created in the same second tie (the ReplicaSet controller then falls back to its own order).
pub fn deletion_costs(pods: &[PodFacts]) -> Vec<(String, i32)> {
    let mut sorted: Vec<&PodFacts> = pods.iter().collect();
    sorted.sort_by(|a, b| {
        a.on_virtual.cmp(&b.on_virtual).then(b.created.cmp(&a.created)).then(a.name.cmp(&b.name))
    });
    sorted
        .into_iter()
        .map(|p| {
            let s = (p.created.as_second() - EPOCH_SECONDS).clamp(0, SPAN);
            let cost = if p.on_virtual { -(s + 1) } else { 1_000_000_001 + (SPAN - s) };
            (p.name.clone(), i32::try_from(cost).expect("costs stay within ±2 100 000 001"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    /// A pod created `created_s` seconds after the cost clock starts (2020-01-01).
    fn facts(name: &str, on_virtual: bool, created_s: i64) -> PodFacts {
        let created = Timestamp::from_second(EPOCH_SECONDS + created_s).unwrap();
        PodFacts { name: name.to_owned(), on_virtual, created }
    }

    #[test]
    fn virtual_pods_go_first_then_the_newest_regular_ones() {
        let costs: HashMap<String, i32> = deletion_costs(&[
            facts("reg-old", false, 100),
            facts("reg-new", false, 300),
            facts("vk-old", true, 200),
            facts("vk-new", true, 400),
        ])
        .into_iter()
        .collect();
        let mut order: Vec<(&String, &i32)> = costs.iter().collect();
        order.sort_by_key(|(_, c)| **c);
        let names: Vec<&str> = order.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["vk-new", "vk-old", "reg-new", "reg-old"]);
        // From the creation second alone.
        assert_eq!(costs["reg-old"], 2_000_000_001 - 100);
        assert_eq!(costs["vk-new"], -401);
    }

    #[test]
    fn a_pods_cost_does_not_depend_on_the_other_pods() {
        let alone = deletion_costs(&[facts("a", false, 500)]);
        let with_others =
            deletion_costs(&[facts("b", false, 900), facts("a", false, 500), facts("v", true, 10)]);
        assert_eq!(with_others.iter().find(|(n, _)| n == "a"), alone.first());
        assert_eq!(i64::from(alone[0].1), 1_000_000_001 + (SPAN - 500));
        assert_eq!(with_others.iter().find(|(n, _)| n == "v").unwrap().1, -11);
        // Order of the output: regular pods first, newest first.
        let names: Vec<&str> = with_others.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["b", "a", "v"]);
    }

    proptest! {
        #[test]
        fn every_virtual_pod_costs_less_than_every_regular_pod_and_newer_less_than_older(
            pods in proptest::collection::vec((any::<bool>(), 0i64..1_000_000), 0..40)
        ) {
            let facts: Vec<PodFacts> =
                pods.iter().enumerate().map(|(i, (v, t))| facts(&format!("p{i}"), *v, *t)).collect();
            let costs: HashMap<String, i32> = deletion_costs(&facts).into_iter().collect();
            prop_assert_eq!(costs.len(), facts.len());
            for a in &facts {
                for b in &facts {
                    let (ca, cb) = (costs[&a.name], costs[&b.name]);
                    if a.on_virtual && !b.on_virtual {
                        prop_assert!(ca < cb);
                    }
                    if a.on_virtual == b.on_virtual && a.created > b.created {
                        prop_assert!(ca < cb, "newer {} ({ca}) should go before older {} ({cb})", a.name, b.name);
                    }
                }
            }
        }
    }
}
