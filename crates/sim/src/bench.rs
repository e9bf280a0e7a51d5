//! The simulator benchmark: many workloads, four policies, one-second steps.
//!
//! Workload `i` of `n` is the trace's first `days` days scaled by `0.5 + i / n`, so the workloads
//! differ in size. Each runs `static-peak`, `hpa`, `cronhpa` (the planner's schedule on autoscaled
//! regular nodes) and `diurnal` (the same schedule in the hybrid layout). Runs are spread over
//! `threads` threads. The caller times it: the library has no clock.

use crate::engine::{self, EngineError, Floor, HpaLimits, Placement, PolicySpec, RunOptions};
use crate::model::{Cluster, HpaBehaviour};
use crate::planner::{self, PlanError};
use crate::scenario::PlannerSpec;
use crate::trace::Trace;

/// Why the benchmark cannot run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The trace is shorter than the days asked for.
    #[error("the trace has {have} days, {want} asked for")]
    Short {
        /// Days in the trace.
        have: usize,
        /// Days asked for.
        want: usize,
    },
    /// Planning failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A run failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Policies per workload.
pub const POLICIES: u64 = 4;

/// Runs the benchmark; returns the workload-steps simulated (workloads × steps × policies).
pub fn run(
    trace: &Trace,
    cluster: &Cluster,
    zone: &str,
    workloads: usize,
    days: usize,
    step_seconds: i64,
    threads: usize,
) -> Result<u64, BenchError> {
    let per_day = usize::try_from(86_400 / trace.interval).unwrap_or(1).max(1);
    if trace.rate.len() < days * per_day {
        return Err(BenchError::Short { have: trace.rate.len() / per_day, want: days });
    }
    let base = trace.slice(0, days * per_day);
    let behaviour = HpaBehaviour::default();
    let opts = RunOptions { step_seconds, hpa: (&behaviour).into(), record: false };
    let steps = base.rate.len() * usize::try_from(base.interval / step_seconds).unwrap_or(1);
    let one = |i: usize| -> Result<u64, BenchError> {
        #[allow(clippy::cast_precision_loss)]
        let factor = 0.5 + i as f64 / workloads.max(1) as f64;
        let mut t = base.clone();
        for r in &mut t.rate {
            *r *= factor;
        }
        let rec = planner::plan(&t, cluster, &PlannerSpec::default(), zone, 60)?;
        let floor = planner::cron_floor(&rec.plan, t.start, steps, step_seconds);
        let hpa = HpaLimits { min: 1, max: 10_000, target_utilization: 0.7 };
        let peak = cluster.workload.replicas_for(t.peak());
        let policies = [
            PolicySpec {
                name: "static-peak".into(),
                floor: Floor::Static(peak),
                hpa: None,
                placement: Placement::Autoscaled,
            },
            PolicySpec {
                name: "hpa".into(),
                floor: Floor::None,
                hpa: Some(hpa),
                placement: Placement::Autoscaled,
            },
            PolicySpec {
                name: "cronhpa".into(),
                floor: floor.clone(),
                hpa: Some(hpa),
                placement: Placement::Autoscaled,
            },
            crate::study::diurnal_policy(&rec, cluster, &t, steps, step_seconds),
        ];
        for p in &policies {
            engine::run(&t, cluster, p, &opts)?;
        }
        Ok(POLICIES * steps as u64)
    };
    let threads = threads.max(1);
    let results: Vec<Result<u64, BenchError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let one = &one;
                scope.spawn(move || {
                    let mut total = 0u64;
                    for i in (k..workloads).step_by(threads) {
                        total += one(i)?;
                    }
                    Ok(total)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a benchmark thread panicked")).collect()
    });
    results.into_iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_workload_step_of_every_policy() {
        let cluster = crate::scenario::Scenario::parse(
            "workload: {name: w, requests_per_pod: 10, trace: {path: t.csv, time_zone: UTC}}\n",
            "s.yaml",
        )
        .unwrap()
        .cluster();
        let rate = (0..2 * 48).map(|i| if i % 48 > 20 { 100.0 } else { 10.0 }).collect();
        let t = Trace {
            source: "t".into(),
            start: jiff::Timestamp::UNIX_EPOCH,
            interval: 1800,
            rate,
            gaps: vec![],
        };
        let steps = run(&t, &cluster, "UTC", 3, 2, 60, 2).unwrap();
        assert_eq!(steps, 3 * 4 * 2 * 1440);
        assert!(matches!(run(&t, &cluster, "UTC", 1, 3, 60, 1), Err(BenchError::Short { have: 2, want: 3 })));
    }
}
