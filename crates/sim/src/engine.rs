//! The time-stepped cluster simulator.
//!
//! Demand holds for each trace interval (the trace's value is that interval's mean rate); the
//! simulator advances in steps of `step_seconds` (which must divide the trace interval). Each step:
//! nodes and pods whose delay ran out become ready, the policy's controllers act (HPA every
//! `sync_seconds`, a CronHPA fire at its instant), the replica count is reconciled with placement
//! (regular nodes first; overflow to the virtual node when the policy uses it, else pending until
//! the cluster autoscaler's new node is ready), and the step is accounted: shortfall against
//! *ready* capacity, node-seconds and virtual pod-seconds.
//!
//! Simplifications, all documented in `docs/simulator.md`: one workload per run; pods start
//! ready-to-serve after their start-up delay; scale-down removes the newest pods, virtual first;
//! the autoscaler repacks pods when it removes a node (a drain with no loss of capacity).

use std::collections::VecDeque;

use crate::model::{Billing, Cluster, HpaBehaviour};
use crate::trace::Trace;

/// Where a policy's replica floor comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Floor {
    /// A constant replica count.
    Static(u32),
    /// A CronHPA timeline: `initial` before the first fire, then `(step, target)` fires in order.
    Cron {
        /// Target in force at the first step.
        initial: u32,
        /// Fires as (simulation step index, target size), ordered.
        fires: Vec<(usize, u32)>,
    },
    /// No floor beyond the workload's minimum.
    None,
}

/// Where pods go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Regular nodes only, sized by a cluster autoscaler.
    Autoscaled,
    /// A fixed number of regular nodes; pods that do not fit go to the virtual node.
    Hybrid {
        /// Regular nodes held all the time.
        baseline_nodes: u32,
    },
}

/// HPA replica limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HpaLimits {
    /// `minReplicas` (a CronHPA fire raises it to the fire's target).
    pub min: u32,
    /// `maxReplicas`.
    pub max: u32,
    /// Target utilisation this HPA uses.
    pub target_utilization: f64,
}

/// One policy, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySpec {
    /// Name in reports.
    pub name: String,
    /// The replica floor.
    pub floor: Floor,
    /// The HPA, if any.
    pub hpa: Option<HpaLimits>,
    /// Node placement.
    pub placement: Placement,
}

/// Run options shared by all policies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunOptions {
    /// Seconds per step; must divide the trace interval.
    pub step_seconds: i64,
    /// HPA behaviour (sync period, tolerance, stabilisation).
    pub hpa: HpaBehaviourRef,
    /// Record a capacity series (one point per trace interval) for charts.
    pub record: bool,
}

/// The HPA behaviour fields the engine needs, copied so [`RunOptions`] stays `Copy`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HpaBehaviourRef {
    /// Tolerance.
    pub tolerance: f64,
    /// Sync period, seconds.
    pub sync_seconds: i64,
    /// Scale-down stabilisation window, seconds.
    pub scale_down_stabilization_seconds: i64,
}

impl From<&HpaBehaviour> for HpaBehaviourRef {
    fn from(b: &HpaBehaviour) -> Self {
        HpaBehaviourRef {
            tolerance: b.tolerance,
            sync_seconds: b.sync_seconds,
            scale_down_stabilization_seconds: b.scale_down_stabilization_seconds,
        }
    }
}

/// What one policy did over the trace.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Outcome {
    /// Policy name.
    pub name: String,
    /// Total cost.
    pub cost: f64,
    /// Cost of regular nodes.
    pub regular_cost: f64,
    /// Cost of virtual-node pods.
    pub virtual_cost: f64,
    /// Σ max(0, demand − ready capacity) / Σ demand, over steps with known demand.
    pub shortfall: f64,
    /// Largest replica count asked for.
    pub peak_replicas: u32,
    /// Mean replica count asked for.
    pub mean_replicas: f64,
    /// Largest number of regular nodes held at once.
    pub peak_nodes: u32,
    /// Times the replica count changed.
    pub scaling_actions: u64,
    /// Ready capacity (requests/s) at the end of each trace interval, when recorded.
    #[serde(skip)]
    pub capacity: Vec<f32>,
}

/// Why a run cannot start.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The step does not divide the trace interval.
    #[error("step of {step}s does not divide the trace interval of {interval}s")]
    Step {
        /// Step seconds.
        step: i64,
        /// Trace interval seconds.
        interval: i64,
    },
    /// No whole pod fits on a regular node.
    #[error("a pod ({cpu} vCPU, {memory} GiB) does not fit on a regular node")]
    PodTooBig {
        /// Pod vCPU.
        cpu: f64,
        /// Pod GiB.
        memory: f64,
    },
}

/// A group of pods or nodes that become ready at the same step.
#[derive(Debug, Clone, Copy)]
struct Batch {
    ready_at: usize,
    count: u32,
}

#[derive(Debug, Default)]
struct Pods {
    ready: u32,
    starting: VecDeque<Batch>,
    starting_total: u32,
}

impl Pods {
    fn total(&self) -> u32 {
        self.ready + self.starting_total
    }
    fn start(&mut self, ready_at: usize, count: u32) {
        if count == 0 {
            return;
        }
        match self.starting.back_mut() {
            Some(b) if b.ready_at == ready_at => b.count += count,
            _ => self.starting.push_back(Batch { ready_at, count }),
        }
        self.starting_total += count;
    }
    fn arrive(&mut self, step: usize) {
        while let Some(b) = self.starting.front() {
            if b.ready_at > step {
                break;
            }
            self.ready += b.count;
            self.starting_total -= b.count;
            self.starting.pop_front();
        }
    }
    /// Removes up to `n` pods, newest (still starting) first; returns how many were removed.
    fn remove(&mut self, mut n: u32) -> u32 {
        let asked = n;
        while n > 0 {
            let Some(b) = self.starting.back_mut() else { break };
            let k = b.count.min(n);
            b.count -= k;
            self.starting_total -= k;
            n -= k;
            if b.count == 0 {
                self.starting.pop_back();
            }
        }
        let k = self.ready.min(n);
        self.ready -= k;
        n -= k;
        asked - n
    }
}

/// Runs one policy over `trace` on `cluster`.
#[allow(clippy::too_many_lines)] // one loop whose parts share all their state
pub fn run(
    trace: &Trace,
    cluster: &Cluster,
    policy: &PolicySpec,
    opts: &RunOptions,
) -> Result<Outcome, EngineError> {
    let dt = opts.step_seconds;
    if dt <= 0 || trace.interval % dt != 0 {
        return Err(EngineError::Step { step: dt, interval: trace.interval });
    }
    let ppn = cluster.pods_per_node();
    if ppn == 0 {
        return Err(EngineError::PodTooBig {
            cpu: cluster.workload.pod_cpu,
            memory: cluster.workload.pod_memory_gib,
        });
    }
    let w = &cluster.workload;
    let pool = &cluster.pool;
    let per_slot = usize::try_from(trace.interval / dt).unwrap_or(1);
    let to_steps = |secs: i64| usize::try_from((secs + dt - 1) / dt).unwrap_or(0);
    let pod_delay = to_steps(w.startup_seconds);
    let virtual_delay = to_steps(cluster.virtual_node.startup_seconds);
    let node_delay = to_steps(pool.provisioning_seconds);
    let unneeded_steps = to_steps(pool.scale_down_unneeded_seconds);
    let sync_every = to_steps(opts.hpa.sync_seconds).max(1);
    let window = usize::try_from(opts.hpa.scale_down_stabilization_seconds / opts.hpa.sync_seconds.max(1))
        .unwrap_or(0)
        .max(1);
    let use_virtual = matches!(policy.placement, Placement::Hybrid { .. }) && cluster.virtual_node.enabled;
    #[allow(clippy::cast_precision_loss)]
    let dtf = dt as f64;

    // Floor timeline.
    let (mut floor, fires): (u32, &[(usize, u32)]) = match &policy.floor {
        Floor::Static(n) => (*n, &[]),
        Floor::Cron { initial, fires } => (*initial, fires),
        Floor::None => (0, &[]),
    };
    let mut next_fire = 0;
    let min_replicas = w.min_replicas;

    // Start warm: the policy's answer to the first known demand, everything ready.
    let first_rate = trace.rate.iter().copied().find(|r| !r.is_nan()).unwrap_or(0.0);
    let hpa_raw = |rate: f64, ready: u32, current: u32, limits: &HpaLimits| -> u32 {
        if ready == 0 {
            return current;
        }
        let utilization = rate / (f64::from(ready) * w.requests_per_pod);
        let ratio = utilization / limits.target_utilization;
        if (ratio - 1.0).abs() <= opts.hpa.tolerance {
            current
        } else {
            crate::model::replicas_for(rate, w.requests_per_pod * limits.target_utilization)
        }
    };
    let clamp = |desired: u32, floor: u32| -> u32 {
        let mut d = desired.max(floor).max(min_replicas);
        if let Some(h) = &policy.hpa {
            d = d.clamp(h.min.max(floor).max(min_replicas), h.max.max(floor).max(min_replicas));
        }
        d
    };
    let mut desired = match &policy.hpa {
        Some(h) => {
            clamp(crate::model::replicas_for(first_rate, w.requests_per_pod * h.target_utilization), floor)
        }
        None => clamp(0, floor),
    };

    let mut regular = Pods::default();
    let mut virt = Pods::default();
    let mut unscheduled: u32 = 0;
    let (mut nodes_ready, mut nodes_pending): (u32, VecDeque<Batch>) = match policy.placement {
        Placement::Hybrid { baseline_nodes } => (baseline_nodes, VecDeque::new()),
        Placement::Autoscaled => {
            (pool.nodes_for(desired, ppn).clamp(pool.min_nodes, pool.max_nodes), VecDeque::new())
        }
    };
    let mut nodes_pending_total: u32 = 0;
    // Pay-as-you-go: creation step of every node that exists, oldest first.
    let mut node_births: Vec<usize> = vec![0; nodes_ready as usize];
    let mut node_seconds_min_extra: f64 = 0.0;
    let regular_room = nodes_ready * ppn;
    regular.ready = desired.min(regular_room);
    let rest = desired - regular.ready;
    if use_virtual {
        virt.ready = rest;
    } else {
        unscheduled = rest;
    }

    let mut recommendations: VecDeque<u32> = VecDeque::with_capacity(window + 1);
    let mut unneeded_since: Option<usize> = None;
    let mut last_rate = first_rate;

    let mut shortfall = 0.0;
    let mut demand_sum = 0.0;
    let mut node_steps: u64 = 0;
    let mut virtual_pod_steps: u64 = 0;
    let mut replica_steps: u64 = 0;
    let mut peak_replicas = desired;
    let mut peak_nodes = nodes_ready;
    let mut actions: u64 = 0;
    let mut capacity = Vec::with_capacity(if opts.record { trace.rate.len() } else { 0 });

    let mut step = 0usize;
    for &slot_rate in &trace.rate {
        let known = !slot_rate.is_nan();
        if known {
            last_rate = slot_rate;
        }
        for _ in 0..per_slot {
            // 1. Arrivals.
            regular.arrive(step);
            virt.arrive(step);
            while let Some(b) = nodes_pending.front() {
                if b.ready_at > step {
                    break;
                }
                nodes_ready += b.count;
                nodes_pending_total -= b.count;
                nodes_pending.pop_front();
            }
            // Pending pods onto nodes that just became ready.
            if unscheduled > 0 {
                let free = (nodes_ready * ppn).saturating_sub(regular.total());
                let k = free.min(unscheduled);
                regular.start(step + pod_delay, k);
                unscheduled -= k;
            }

            // 2. Controllers.
            let before = desired;
            let mut fired = false;
            while next_fire < fires.len() && fires[next_fire].0 <= step {
                floor = fires[next_fire].1;
                next_fire += 1;
                fired = true;
            }
            match &policy.hpa {
                Some(h) => {
                    if step.is_multiple_of(sync_every) {
                        let raw = hpa_raw(last_rate, regular.ready + virt.ready, desired, h);
                        if recommendations.len() == window {
                            recommendations.pop_front();
                        }
                        recommendations.push_back(raw);
                        let mut next = if raw >= desired {
                            // Default scale-up policy: at most +100% or +4 pods per period.
                            raw.min((desired * 2).max(desired + 4))
                        } else {
                            // Scale-down: the largest recommendation of the window, never up.
                            recommendations.iter().copied().max().unwrap_or(raw).min(desired)
                        };
                        next = clamp(next, floor);
                        desired = next;
                    } else if fired {
                        desired = clamp(desired, floor);
                    }
                }
                None => {
                    if fired || step == 0 {
                        desired = clamp(0, floor);
                    }
                }
            }
            if desired != before {
                actions += 1;
            }

            // 3. Reconcile pods with the desired count.
            let have = regular.total() + virt.total() + unscheduled;
            if desired > have {
                let mut add = desired - have;
                let free = (nodes_ready * ppn).saturating_sub(regular.total());
                let k = free.min(add);
                regular.start(step + pod_delay, k);
                add -= k;
                if use_virtual {
                    virt.start(step + virtual_delay, add);
                } else {
                    unscheduled += add;
                }
            } else if desired < have {
                let mut cut = have - desired;
                let k = unscheduled.min(cut);
                unscheduled -= k;
                cut -= k;
                cut -= virt.remove(cut);
                regular.remove(cut);
            }

            // Pods with no start-up delay are ready in the step that creates them.
            regular.arrive(step);
            virt.arrive(step);

            // 4. Cluster autoscaler (autoscaled placement only).
            if policy.placement == Placement::Autoscaled {
                let total_nodes = nodes_ready + nodes_pending_total;
                if unscheduled > 0 {
                    let coming = nodes_pending_total * ppn;
                    let short = unscheduled.saturating_sub(coming);
                    let add = pool.nodes_for(short, ppn).min(pool.max_nodes.saturating_sub(total_nodes));
                    if add > 0 {
                        nodes_pending.push_back(Batch { ready_at: step + node_delay, count: add });
                        nodes_pending_total += add;
                        node_births.extend(std::iter::repeat_n(step, add as usize));
                    }
                }
                let needed = pool.nodes_for(regular.total() + unscheduled, ppn).max(pool.min_nodes);
                let total_nodes = nodes_ready + nodes_pending_total;
                if total_nodes > needed && nodes_pending_total == 0 {
                    let since = *unneeded_since.get_or_insert(step);
                    if step - since >= unneeded_steps {
                        let remove = total_nodes - needed;
                        nodes_ready -= remove;
                        for _ in 0..remove {
                            // The newest node goes first.
                            if let Some(born) = node_births.pop() {
                                #[allow(clippy::cast_precision_loss)]
                                let lived = ((step - born) as f64) * dtf;
                                #[allow(clippy::cast_precision_loss)]
                                let minimum = pool.minimum_billed_seconds as f64;
                                if lived < minimum {
                                    node_seconds_min_extra += minimum - lived;
                                }
                            }
                        }
                        unneeded_since = None;
                    }
                } else {
                    unneeded_since = None;
                }
            }

            // 5. Accounting.
            let ready = regular.ready + virt.ready;
            if known {
                let cap = f64::from(ready) * w.requests_per_pod;
                if slot_rate > cap {
                    shortfall += slot_rate - cap;
                }
                demand_sum += slot_rate;
            }
            let nodes_now = nodes_ready + nodes_pending_total;
            peak_nodes = peak_nodes.max(nodes_now);
            node_steps += u64::from(nodes_now);
            virtual_pod_steps += u64::from(virt.total());
            replica_steps += u64::from(desired);
            peak_replicas = peak_replicas.max(desired);
            step += 1;
        }
        if opts.record {
            #[allow(clippy::cast_possible_truncation)]
            capacity.push((f64::from(regular.ready + virt.ready) * w.requests_per_pod) as f32);
        }
    }

    #[allow(clippy::cast_precision_loss)]
    let (steps_f, node_steps_f, virtual_steps_f) = (step as f64, node_steps as f64, virtual_pod_steps as f64);
    let span_seconds = steps_f * dtf;
    // Autoscaled nodes may have their own pay-as-you-go price; held nodes use the pool's billing.
    let (billing, price_per_second) = match (policy.placement, pool.autoscaled_price_per_hour) {
        (Placement::Autoscaled, Some(p)) => (Billing::PayAsYouGo, p / 3600.0),
        _ => (pool.billing, pool.price_per_second()),
    };
    let regular_cost = match billing {
        Billing::Subscription => f64::from(peak_nodes) * span_seconds * price_per_second,
        Billing::PayAsYouGo => (node_steps_f * dtf + node_seconds_min_extra) * price_per_second,
    };
    let virtual_cost = virtual_steps_f * dtf * cluster.virtual_node.pod_price_per_second(w);
    #[allow(clippy::cast_precision_loss)]
    let mean_replicas = if step == 0 { 0.0 } else { replica_steps as f64 / steps_f };
    Ok(Outcome {
        name: policy.name.clone(),
        cost: regular_cost + virtual_cost,
        regular_cost,
        virtual_cost,
        shortfall: if demand_sum > 0.0 { shortfall / demand_sum } else { 0.0 },
        peak_replicas,
        mean_replicas,
        peak_nodes,
        scaling_actions: actions,
        capacity,
    })
}

#[cfg(test)]
mod tests;
