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

/// Deletion costs for one workload's pods, by pod name: regular pods get `1..=n` by age (the
/// oldest highest), virtual pods `-m..=-1` by age (the newest lowest) — so every virtual pod goes
/// before every regular pod. Values are small and stable: a pod's cost changes only when the
/// set of pods does, which keeps the patches few.
pub fn deletion_costs(pods: &[PodFacts]) -> Vec<(String, i32)> {
    let mut regular: Vec<&PodFacts> = pods.iter().filter(|p| !p.on_virtual).collect();
    let mut virtual_pods: Vec<&PodFacts> = pods.iter().filter(|p| p.on_virtual).collect();
    // Newest first, ties by name so the order is total.
    let newest_first =
        |a: &&PodFacts, b: &&PodFacts| b.created.cmp(&a.created).then_with(|| a.name.cmp(&b.name));
    regular.sort_by(newest_first);
    virtual_pods.sort_by(newest_first);
    let rank = |i: usize| i32::try_from(i + 1).unwrap_or(i32::MAX);
    let mut out: Vec<(String, i32)> = Vec::with_capacity(pods.len());
    out.extend(regular.iter().enumerate().map(|(i, p)| (p.name.clone(), rank(i))));
    let m = virtual_pods.len();
    out.extend(virtual_pods.iter().enumerate().map(|(i, p)| (p.name.clone(), -rank(m - 1 - i))));
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn facts(name: &str, on_virtual: bool, created_s: i64) -> PodFacts {
        PodFacts { name: name.to_owned(), on_virtual, created: Timestamp::from_second(created_s).unwrap() }
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
        assert_eq!(costs["reg-old"], 2);
        assert_eq!(costs["vk-new"], -2);
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
