//! The oracle: perfect foresight and zero delays on the same prices and packing granularity, with
//! the regular baseline chosen optimally. No policy can serve the same demand for less, so every
//! policy's cost is reported as a ratio to it.
//!
//! For each trace interval the oracle runs exactly `ceil(demand / requests_per_pod)` pods (at least
//! the workload's minimum). It holds `B` regular nodes for the whole span and serves what does not
//! fit on them at the cheaper of: the virtual node, or extra regular nodes that exist only for that
//! interval (at the autoscaled price, or a pay-as-you-go pool's own). `B` is searched exhaustively. Missing intervals carry the
//! last known demand forward, as the simulated controllers see it.

use serde::Serialize;

use crate::model::{Billing, Cluster};
use crate::trace::Trace;

/// The oracle's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OracleOutcome {
    /// Total cost.
    pub cost: f64,
    /// Regular nodes' share.
    pub regular_cost: f64,
    /// Virtual pods' share.
    pub virtual_cost: f64,
    /// The optimal number of regular nodes held all the time.
    pub baseline_nodes: u32,
    /// Demand it could not serve (only when `max_nodes` binds and there is no virtual node).
    pub shortfall: f64,
    /// Largest replica count.
    pub peak_replicas: u32,
    /// Mean replica count.
    pub mean_replicas: f64,
}

/// Replicas needed per interval with no head-room, missing intervals carried forward.
pub fn required_replicas(trace: &Trace, cluster: &Cluster) -> Vec<u32> {
    let mut last = trace.rate.iter().copied().find(|r| !r.is_nan()).unwrap_or(0.0);
    trace
        .rate
        .iter()
        .map(|&r| {
            if !r.is_nan() {
                last = r;
            }
            cluster.workload.replicas_for(last)
        })
        .collect()
}

/// The cost of serving `replicas` (one count per interval of `interval` seconds) with `baseline`
/// regular nodes held throughout: `(regular, virtual, unserved pod-intervals)`.
pub fn cost_with_baseline(
    replicas: &[u32],
    interval: i64,
    cluster: &Cluster,
    baseline: u32,
) -> (f64, f64, u64) {
    let ppn = cluster.pods_per_node();
    let pool = &cluster.pool;
    #[allow(clippy::cast_precision_loss)]
    let secs = interval as f64;
    let node_interval = pool.price_per_second() * secs;
    // Nodes that exist for one interval only: an autoscaled pool's price, or a pay-as-you-go
    // pool's own; a subscription pool without an autoscaled price has none.
    let flex_interval = match (pool.autoscaled_price_per_hour, pool.billing) {
        (Some(p), _) => Some(p / 3600.0 * secs),
        (None, Billing::PayAsYouGo) => Some(node_interval),
        (None, Billing::Subscription) => None,
    };
    let pod_interval = cluster.virtual_node.pod_price_per_second(&cluster.workload) * secs;
    #[allow(clippy::cast_precision_loss)]
    let mut regular = f64::from(baseline) * node_interval * replicas.len() as f64;
    let mut virtual_cost = 0.0;
    let mut unserved = 0u64;
    let room = baseline * ppn;
    let flex_nodes = pool.max_nodes.saturating_sub(baseline);
    for &r in replicas {
        let mut excess = r.saturating_sub(room);
        if excess == 0 {
            continue;
        }
        if let Some(flex_interval) = flex_interval {
            // Whole extra nodes for the interval, if cheaper than the pods on the virtual node.
            let nodes = excess.div_ceil(ppn).min(flex_nodes);
            let on_nodes = (nodes * ppn).min(excess);
            if !cluster.virtual_node.enabled
                || f64::from(nodes) * flex_interval <= f64::from(on_nodes) * pod_interval
            {
                regular += f64::from(nodes) * flex_interval;
                excess -= on_nodes;
            }
        }
        if excess > 0 {
            if cluster.virtual_node.enabled {
                virtual_cost += f64::from(excess) * pod_interval;
            } else {
                unserved += u64::from(excess);
            }
        }
    }
    (regular, virtual_cost, unserved)
}

/// The cheapest baseline for `replicas`: `(baseline, regular, virtual)`. A baseline that leaves
/// demand unserved is only chosen when no baseline serves everything.
pub fn best_baseline(replicas: &[u32], interval: i64, cluster: &Cluster) -> (u32, f64, f64, u64) {
    let ppn = cluster.pods_per_node().max(1);
    let peak = replicas.iter().copied().max().unwrap_or(0);
    let top = peak.div_ceil(ppn).min(cluster.pool.max_nodes);
    let lowest = cluster.pool.min_nodes.min(top);
    let mut best: Option<(u32, f64, f64, u64)> = None;
    for b in lowest..=top {
        let (reg, virt, unserved) = cost_with_baseline(replicas, interval, cluster, b);
        let better = match &best {
            None => true,
            Some((_, r0, v0, u0)) => (unserved, reg + virt) < (*u0, r0 + v0),
        };
        if better {
            best = Some((b, reg, virt, unserved));
        }
    }
    best.unwrap_or((0, 0.0, 0.0, 0))
}

/// Runs the oracle over `trace`.
pub fn oracle(trace: &Trace, cluster: &Cluster) -> OracleOutcome {
    let replicas = required_replicas(trace, cluster);
    let (baseline, regular_cost, virtual_cost, _) = best_baseline(&replicas, trace.interval, cluster);
    // Shortfall recomputed in demand terms: what the served pods cannot carry.
    let ppn = cluster.pods_per_node();
    let max_pods = if cluster.virtual_node.enabled { u32::MAX } else { cluster.pool.max_nodes * ppn };
    let (mut short, mut total) = (0.0, 0.0);
    for &r in &trace.rate {
        if r.is_nan() {
            continue;
        }
        let served =
            f64::from(cluster.workload.replicas_for(r).min(max_pods)) * cluster.workload.requests_per_pod;
        short += (r - served).max(0.0);
        total += r;
    }
    let peak_replicas = replicas.iter().copied().max().unwrap_or(0);
    #[allow(clippy::cast_precision_loss)]
    let mean_replicas = replicas.iter().map(|&r| f64::from(r)).sum::<f64>() / replicas.len().max(1) as f64;
    OracleOutcome {
        cost: regular_cost + virtual_cost,
        regular_cost,
        virtual_cost,
        baseline_nodes: baseline,
        shortfall: if total > 0.0 { short / total } else { 0.0 },
        peak_replicas,
        mean_replicas,
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are what these tests assert
mod tests {
    use super::*;
    use crate::model::{NodePool, VirtualNode, Workload};

    pub(crate) fn cluster(billing: Billing, virtual_enabled: bool) -> Cluster {
        Cluster {
            workload: Workload {
                name: "w".into(),
                requests_per_pod: 10.0,
                pod_cpu: 1.0,
                pod_memory_gib: 1.0,
                startup_seconds: 0,
                min_replicas: 1,
            },
            pool: NodePool {
                cpu: 2.0,
                memory_gib: 8.0,
                price_per_hour: 3.6, // 0.001 per node-second
                billing,
                minimum_billed_seconds: 0,
                provisioning_seconds: 0,
                min_nodes: 0,
                max_nodes: 100,
                scale_down_unneeded_seconds: 600,
                autoscaled_price_per_hour: None,
            },
            virtual_node: VirtualNode {
                enabled: virtual_enabled,
                price_per_vcpu_second: 0.0008, // a virtual pod costs 0.0008 + 0.0001 = 0.0009/s
                price_per_gib_second: 0.0001,
                startup_seconds: 0,
                sizes: crate::billing::BillableSizes::Requested,
            },
        }
    }

    /// Two hours: one hour at 40 req/s (4 pods = 2 nodes), one hour at 10 req/s (1 pod).
    fn square_wave() -> Trace {
        let mut rate = vec![40.0; 60];
        rate.extend(vec![10.0; 60]);
        Trace { source: "sq".into(), start: jiff::Timestamp::UNIX_EPOCH, interval: 60, rate, gaps: vec![] }
    }

    #[test]
    fn subscription_without_virtual_node_pays_the_peak_all_the_time() {
        let o = oracle(&square_wave(), &cluster(Billing::Subscription, false));
        // 2 nodes × 7200 s × 0.001.
        assert_eq!(o.baseline_nodes, 2);
        assert!((o.cost - 14.4).abs() < 1e-9, "{o:?}");
        assert_eq!(o.shortfall, 0.0);
    }

    #[test]
    fn subscription_with_virtual_node_picks_the_cheaper_baseline() {
        // Baseline 1 node (2 pods): 7.2 for the node + 2 virtual pods × 3600 s × 0.0009 = 6.48.
        // Baseline 0: (4 + 1) pods × 3600 s × 0.0009 = 16.2. Baseline 2: 14.4.
        let o = oracle(&square_wave(), &cluster(Billing::Subscription, true));
        assert_eq!(o.baseline_nodes, 1);
        assert!((o.cost - 13.68).abs() < 1e-9, "{o:?}");
        assert!((o.virtual_cost - 6.48).abs() < 1e-9);
    }

    #[test]
    fn pay_as_you_go_flexes_nodes_with_the_load() {
        // 2 nodes for the first hour, 1 node for the second: 3 node-hours = 10.8.
        let o = oracle(&square_wave(), &cluster(Billing::PayAsYouGo, false));
        assert!((o.cost - 10.8).abs() < 1e-9, "{o:?}");
        assert_eq!(o.peak_replicas, 4);
        assert!((o.mean_replicas - 2.5).abs() < 1e-12);
    }

    #[test]
    fn an_autoscaled_price_lets_the_oracle_rent_nodes_for_the_peak_hour() {
        // Subscription 0.001/s, autoscaled 0.0015/s, no virtual node: 1 node held (7.2) plus one
        // node for the peak hour (5.4) = 12.6, less than holding 2 nodes (14.4).
        let mut c = cluster(Billing::Subscription, false);
        c.pool.autoscaled_price_per_hour = Some(5.4);
        let o = oracle(&square_wave(), &c);
        assert_eq!(o.baseline_nodes, 1);
        assert!((o.cost - 12.6).abs() < 1e-9, "{o:?}");
    }

    #[test]
    fn max_nodes_without_virtual_node_leaves_demand_unserved() {
        let mut c = cluster(Billing::Subscription, false);
        c.pool.max_nodes = 1;
        let o = oracle(&square_wave(), &c);
        // First hour: 40 req/s, 20 served. Σdemand = 60×40 + 60×10 = 3000; unserved 60×20 = 1200.
        assert!((o.shortfall - 0.4).abs() < 1e-12, "{o:?}");
    }
}
