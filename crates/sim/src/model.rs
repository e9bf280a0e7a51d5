//! The cluster and price model every policy and the oracle share: one workload, a regular node
//! pool its pods are bin-packed onto, and an optional virtual node.

use serde::{Deserialize, Serialize};

use crate::billing::BillableSizes;

/// One workload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workload {
    /// Name shown in reports.
    pub name: String,
    /// Requests per second one ready pod serves at 100% of its CPU request.
    pub requests_per_pod: f64,
    /// vCPU requested by one pod.
    pub pod_cpu: f64,
    /// GiB of memory requested by one pod.
    pub pod_memory_gib: f64,
    /// Seconds from pod creation on a ready node to ready (image pull, JVM warm-up...).
    pub startup_seconds: i64,
    /// Replicas never go below this.
    pub min_replicas: u32,
}

impl Workload {
    /// Pods needed to serve `rate` requests/s with no head-room (the oracle's count).
    pub fn replicas_for(&self, rate: f64) -> u32 {
        replicas_for(rate, self.requests_per_pod).max(self.min_replicas)
    }
}

/// `ceil(rate / per_pod)` with a little slack for float noise (`2.0000000001` pods is 2).
pub fn replicas_for(rate: f64, per_pod: f64) -> u32 {
    if rate.is_nan() || rate <= 0.0 {
        return 0;
    }
    let pods = (rate / per_pod - 1e-9).ceil();
    // Truncation is the intent: a replica count far beyond u32 is not a real cluster.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let pods = pods.min(f64::from(u32::MAX)) as u32;
    pods
}

/// How regular nodes are paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Billing {
    /// Monthly subscription: every node the pool ever holds is paid for the whole span.
    #[default]
    Subscription,
    /// Pay-as-you-go, per second from creation to release, at least the pool's minimum per node.
    PayAsYouGo,
}

/// The regular (VM) node pool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodePool {
    /// Allocatable vCPU per node.
    pub cpu: f64,
    /// Allocatable GiB per node.
    pub memory_gib: f64,
    /// Price of one node for one hour.
    pub price_per_hour: f64,
    /// How nodes are paid for.
    pub billing: Billing,
    /// Pay-as-you-go: the least a node is billed for, in seconds.
    pub minimum_billed_seconds: i64,
    /// Seconds from the autoscaler's request to a ready node.
    pub provisioning_seconds: i64,
    /// The autoscaler never goes below this many nodes.
    pub min_nodes: u32,
    /// Nor above this many.
    pub max_nodes: u32,
    /// Cluster autoscaler: a node unneeded this long is removed.
    pub scale_down_unneeded_seconds: i64,
    /// Price per hour of the nodes an autoscaler adds and removes, billed pay-as-you-go per
    /// second (with `minimum_billed_seconds`). `None`: they are billed like held nodes
    /// (`billing`, `price_per_hour`).
    pub autoscaled_price_per_hour: Option<f64>,
}

impl NodePool {
    /// Whole pods of `workload` that fit on one node (by vCPU and by memory).
    pub fn pods_per_node(&self, workload: &Workload) -> u32 {
        let by_cpu = (self.cpu / workload.pod_cpu + 1e-9).floor();
        let by_mem = (self.memory_gib / workload.pod_memory_gib + 1e-9).floor();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let pods = by_cpu.min(by_mem).max(0.0) as u32;
        pods
    }

    /// Nodes needed for `pods` pods.
    pub fn nodes_for(&self, pods: u32, per_node: u32) -> u32 {
        if per_node == 0 { if pods == 0 { 0 } else { u32::MAX } } else { pods.div_ceil(per_node) }
    }

    /// Price of one node-second.
    pub fn price_per_second(&self) -> f64 {
        self.price_per_hour / 3600.0
    }
}

/// The virtual node (serverless pods, e.g. Alibaba ECI through virtual-kubelet).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualNode {
    /// Whether pods may be placed on it.
    pub enabled: bool,
    /// Price per vCPU-second.
    pub price_per_vcpu_second: f64,
    /// Price per GiB-second.
    pub price_per_gib_second: f64,
    /// Seconds from pod creation to ready on the virtual node (sandbox + image + app start).
    pub startup_seconds: i64,
    /// How the provider rounds a pod's requests to the size it bills.
    pub sizes: BillableSizes,
}

impl VirtualNode {
    /// The size (vCPU, GiB) one pod of `workload` is billed as; `None` when the provider offers
    /// none that large (a scenario with such a pod is refused).
    pub fn billed_size(&self, workload: &Workload) -> Option<(f64, f64)> {
        self.sizes.billed(
            workload.pod_cpu,
            workload.pod_memory_gib,
            self.price_per_vcpu_second,
            self.price_per_gib_second,
        )
    }

    /// Price of one pod of `workload` for one second, at its billed size.
    pub fn pod_price_per_second(&self, workload: &Workload) -> f64 {
        let (cpu, memory) = self.billed_size(workload).unwrap_or((workload.pod_cpu, workload.pod_memory_gib));
        cpu * self.price_per_vcpu_second + memory * self.price_per_gib_second
    }
}

/// HPA v2 behaviour (the Kubernetes defaults unless overridden).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HpaBehaviour {
    /// Target CPU utilisation, 0..1: the HPA aims at `demand / (replicas × requests_per_pod)`.
    pub target_utilization: f64,
    /// No scaling while `|utilisation / target − 1|` is at most this.
    pub tolerance: f64,
    /// Seconds between HPA evaluations.
    pub sync_seconds: i64,
    /// Scale-down uses the largest recommendation of this many past seconds.
    pub scale_down_stabilization_seconds: i64,
}

impl Default for HpaBehaviour {
    fn default() -> Self {
        HpaBehaviour {
            target_utilization: 0.7,
            tolerance: 0.1,
            sync_seconds: 15,
            scale_down_stabilization_seconds: 300,
        }
    }
}

/// The whole cluster a policy runs on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cluster {
    /// The workload.
    pub workload: Workload,
    /// The regular node pool.
    pub pool: NodePool,
    /// The virtual node.
    pub virtual_node: VirtualNode,
}

impl Cluster {
    /// Pods per regular node.
    pub fn pods_per_node(&self) -> u32 {
        self.pool.pods_per_node(&self.workload)
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are what these tests assert
mod tests {
    use super::*;

    pub(crate) fn workload() -> Workload {
        Workload {
            name: "w".into(),
            requests_per_pod: 10.0,
            pod_cpu: 1.0,
            pod_memory_gib: 2.0,
            startup_seconds: 30,
            min_replicas: 1,
        }
    }

    #[test]
    fn replicas_round_up_and_respect_the_floor() {
        let w = workload();
        assert_eq!(w.replicas_for(0.0), 1);
        assert_eq!(w.replicas_for(10.0), 1);
        assert_eq!(w.replicas_for(10.5), 2);
        assert_eq!(w.replicas_for(30.000_000_000_1), 3);
        assert_eq!(w.replicas_for(f64::NAN), 1);
    }

    #[test]
    fn pods_are_packed_by_the_scarcer_resource() {
        let mut pool = NodePool {
            cpu: 4.0,
            memory_gib: 16.0,
            price_per_hour: 1.0,
            billing: Billing::Subscription,
            minimum_billed_seconds: 0,
            provisioning_seconds: 0,
            min_nodes: 0,
            max_nodes: 10,
            scale_down_unneeded_seconds: 600,
            autoscaled_price_per_hour: None,
        };
        let w = workload();
        assert_eq!(pool.pods_per_node(&w), 4, "4 vCPU / 1 vCPU");
        pool.memory_gib = 7.0;
        assert_eq!(pool.pods_per_node(&w), 3, "7 GiB / 2 GiB");
        assert_eq!(pool.nodes_for(7, 3), 3);
        assert_eq!(pool.nodes_for(6, 3), 2);
        assert_eq!(pool.nodes_for(0, 0), 0);
    }

    #[test]
    fn virtual_pod_price_is_cpu_plus_memory() {
        let v = VirtualNode {
            enabled: true,
            price_per_vcpu_second: 0.000_049,
            price_per_gib_second: 0.000_006_13,
            startup_seconds: 30,
            sizes: BillableSizes::Requested,
        };
        let p = v.pod_price_per_second(&workload());
        assert!((p - (0.000_049 + 2.0 * 0.000_006_13)).abs() < 1e-15);
    }

    #[test]
    fn a_virtual_pod_is_billed_at_its_rounded_size() {
        let v = VirtualNode {
            enabled: true,
            price_per_vcpu_second: 0.000_049,
            price_per_gib_second: 0.000_006_13,
            startup_seconds: 30,
            sizes: BillableSizes::Eci,
        };
        let odd = Workload { pod_cpu: 0.3, pod_memory_gib: 0.6, ..workload() };
        assert_eq!(v.billed_size(&odd), Some((0.5, 1.0)));
        let p = v.pod_price_per_second(&odd);
        assert!((p - (0.5 * 0.000_049 + 0.000_006_13)).abs() < 1e-15, "{p}");
    }
}
