#![allow(clippy::float_cmp)] // exact zeros and exact small sums are what these tests assert

use super::*;
use crate::model::{Billing, NodePool, VirtualNode, Workload};

/// Pods serve 10 req/s, 2 per node; a node and a virtual pod both cost 0.001 per second.
fn cluster() -> Cluster {
    Cluster {
        workload: Workload {
            name: "w".into(),
            requests_per_pod: 10.0,
            pod_cpu: 1.0,
            pod_memory_gib: 1.0,
            startup_seconds: 30,
            min_replicas: 1,
        },
        pool: NodePool {
            cpu: 2.0,
            memory_gib: 8.0,
            price_per_hour: 3.6,
            billing: Billing::PayAsYouGo,
            minimum_billed_seconds: 0,
            provisioning_seconds: 120,
            min_nodes: 0,
            max_nodes: 100,
            scale_down_unneeded_seconds: 600,
            autoscaled_price_per_hour: None,
        },
        virtual_node: VirtualNode {
            enabled: true,
            price_per_vcpu_second: 0.0008,
            price_per_gib_second: 0.0002,
            startup_seconds: 0,
            sizes: crate::billing::BillableSizes::Requested,
        },
    }
}

fn trace(first: f64, second: f64) -> Trace {
    let mut rate = vec![first; 60];
    rate.extend(vec![second; 60]);
    Trace { source: "t".into(), start: jiff::Timestamp::UNIX_EPOCH, interval: 60, rate, gaps: vec![] }
}

fn opts() -> RunOptions {
    RunOptions { step_seconds: 15, hpa: (&HpaBehaviour::default()).into(), record: false }
}

fn hpa(placement: Placement) -> PolicySpec {
    PolicySpec {
        name: "hpa".into(),
        floor: Floor::None,
        hpa: Some(HpaLimits { min: 1, max: 100, target_utilization: 1.0 }),
        placement,
    }
}

#[test]
fn static_floor_pays_its_nodes_and_misses_what_it_cannot_carry() {
    let policy =
        PolicySpec { name: "s".into(), floor: Floor::Static(2), hpa: None, placement: Placement::Autoscaled };
    let o = run(&trace(40.0, 10.0), &cluster(), &policy, &opts()).unwrap();
    // 1 node (2 pods) for 7200 s at 0.001/s; capacity 20 against 40 for the first hour.
    assert!((o.cost - 7.2).abs() < 1e-9, "{o:?}");
    assert!((o.shortfall - 0.4).abs() < 1e-12, "{o:?}");
    assert_eq!((o.peak_replicas, o.scaling_actions), (2, 0));
}

#[test]
fn hpa_scale_up_lags_by_the_pod_start_up() {
    // Room on regular nodes, so only the pod's 30 s (2 steps) start-up delays the new capacity.
    let o =
        run(&trace(10.0, 40.0), &cluster(), &hpa(Placement::Hybrid { baseline_nodes: 10 }), &opts()).unwrap();
    // Steps 240 and 241 have 1 ready pod (10 req/s) against 40: 2 × 30 short of 240×10 + 240×40.
    assert!((o.shortfall - 60.0 / 12_000.0).abs() < 1e-12, "{o:?}");
    assert_eq!(o.peak_replicas, 4);
    assert_eq!(o.scaling_actions, 1);
}

#[test]
fn hpa_scale_down_waits_for_the_stabilisation_window() {
    // Virtual node only, zero start-up: cost counts pod-steps exactly.
    let o =
        run(&trace(40.0, 10.0), &cluster(), &hpa(Placement::Hybrid { baseline_nodes: 0 }), &opts()).unwrap();
    // 240 steps × 4 pods, then 19 more steps at 4 (the 300 s window still holds a 4), then 221 × 1.
    let pod_steps = 240.0 * 4.0 + 19.0 * 4.0 + 221.0;
    assert!((o.virtual_cost - pod_steps * 15.0 * 0.001).abs() < 1e-9, "{o:?}");
    assert_eq!(o.regular_cost, 0.0);
    assert_eq!(o.shortfall, 0.0);
}

#[test]
fn cluster_autoscaler_adds_nodes_after_the_provisioning_delay() {
    let o = run(&trace(10.0, 40.0), &cluster(), &hpa(Placement::Autoscaled), &opts()).unwrap();
    // At step 240: 1 pod on 1 node (room for 2). One new pod fits (ready at 242), two wait for a
    // node ready at 248 and start then (ready at 250). Short: 2 steps × 30 + 8 steps × 20.
    assert!((o.shortfall - 220.0 / 12_000.0).abs() < 1e-12, "{o:?}");
    assert_eq!(o.peak_nodes, 2);
    assert_eq!(o.virtual_cost, 0.0);
}

#[test]
fn cluster_autoscaler_removes_unneeded_nodes_after_the_delay() {
    let o = run(&trace(40.0, 10.0), &cluster(), &hpa(Placement::Autoscaled), &opts()).unwrap();
    // 2 nodes until the replicas drop at step 259; the spare node goes 600 s (40 steps) later, at
    // step 299. Node-steps: 299 × 2 + 181 × 1.
    let node_steps = 299.0 * 2.0 + 181.0;
    assert!((o.regular_cost - node_steps * 15.0 * 0.001).abs() < 1e-9, "{o:?}");
}

#[test]
fn cron_floor_sets_replicas_at_its_fires() {
    let policy = PolicySpec {
        name: "cron".into(),
        floor: Floor::Cron { initial: 1, fires: vec![(200, 4), (400, 1)] },
        hpa: None,
        placement: Placement::Hybrid { baseline_nodes: 0 },
    };
    let o = run(&trace(10.0, 10.0), &cluster(), &policy, &opts()).unwrap();
    // 200 steps × 1 + 200 × 4 + 80 × 1 pod-steps on the virtual node.
    assert!((o.virtual_cost - (200.0 + 800.0 + 80.0) * 15.0 * 0.001).abs() < 1e-9, "{o:?}");
    assert_eq!(o.scaling_actions, 2);
    assert_eq!(o.peak_replicas, 4);
}

#[test]
fn missing_demand_is_not_counted_as_shortfall_but_costs_still_accrue() {
    let mut t = trace(40.0, 40.0);
    for r in &mut t.rate[60..] {
        *r = f64::NAN;
    }
    let policy =
        PolicySpec { name: "s".into(), floor: Floor::Static(2), hpa: None, placement: Placement::Autoscaled };
    let o = run(&t, &cluster(), &policy, &opts()).unwrap();
    assert!((o.shortfall - 0.5).abs() < 1e-12, "only the known hour counts: {o:?}");
    assert!((o.cost - 7.2).abs() < 1e-9, "{o:?}");
}

#[test]
fn subscription_pays_the_peak_node_count_for_the_whole_span() {
    let mut c = cluster();
    c.pool.billing = Billing::Subscription;
    let o = run(&trace(40.0, 10.0), &c, &hpa(Placement::Autoscaled), &opts()).unwrap();
    assert_eq!(o.peak_nodes, 2);
    assert!((o.regular_cost - 2.0 * 7200.0 * 0.001).abs() < 1e-9, "{o:?}");
}

#[test]
fn a_step_that_does_not_divide_the_interval_is_refused() {
    let mut o = opts();
    o.step_seconds = 7;
    let err = run(&trace(1.0, 1.0), &cluster(), &hpa(Placement::Autoscaled), &o).unwrap_err();
    assert_eq!(err, EngineError::Step { step: 7, interval: 60 });
}

#[test]
fn autoscaled_nodes_can_have_their_own_pay_as_you_go_price() {
    // Subscription pool at 0.001/s per node, autoscaled nodes at 0.002/s billed per second.
    let mut c = cluster();
    c.pool.billing = Billing::Subscription;
    c.pool.autoscaled_price_per_hour = Some(7.2);
    let o = run(&trace(40.0, 10.0), &c, &hpa(Placement::Autoscaled), &opts()).unwrap();
    // Same node-steps as the pay-as-you-go case above (299 × 2 + 181 × 1), at twice the price.
    assert!((o.regular_cost - (299.0 * 2.0 + 181.0) * 15.0 * 0.002).abs() < 1e-9, "{o:?}");
    // Held nodes keep the subscription: a baseline of 2 pays 2 × 7200 s × 0.001.
    let held = run(&trace(40.0, 10.0), &c, &hpa(Placement::Hybrid { baseline_nodes: 2 }), &opts()).unwrap();
    assert!((held.regular_cost - 14.4).abs() < 1e-9, "{held:?}");
}
