//! The `diurnal` policy's cost–shortfall frontier on the held-out window, so that policies are
//! compared *at equal shortfall*.
//!
//! One run of a policy is one point, (cost, shortfall). Two points are only comparable when their
//! shortfalls match: buying the last hundredth of a percent of served demand can cost a third more
//! (WorldCup: 1.08 × oracle at 0.06 % shortfall, 1.37 × at 0.000 %). The planner has three knobs
//! that trade one for the other — the slot quantile, the head-room and the HPA target. Sweeping a
//! fixed grid of them, every setting planned on the fit window as always and run on the held-out
//! window, traces the frontier; a competitor is beaten "at equal or lower shortfall" when a point
//! of the frontier serves at least as much of the demand for less.
//!
//! Nothing here chooses the recommendation: the tuner never sees the held-out window (see
//! [`crate::study::tune`]). The frontier is evidence, reported in full, not a selection.

use serde::Serialize;

use crate::engine::{self, RunOptions};
use crate::model::Cluster;
use crate::planner;
use crate::scenario::PlannerSpec;
use crate::study::{StudyError, diurnal_policy};
use crate::trace::Trace;

/// Slot quantiles swept.
pub const QUANTILES: [f64; 4] = [0.25, 0.5, 0.75, 1.0];
/// Head-rooms swept.
pub const HEADROOMS: [f64; 4] = [0.0, 0.1, 0.25, 0.5];
/// HPA targets swept (lower reacts earlier and serves more of a burst).
pub const TARGETS: [f64; 5] = [0.5, 0.6, 0.7, 0.8, 0.9];

/// Number of settings [`sweep`] runs.
pub const SETTINGS: usize = QUANTILES.len() * HEADROOMS.len() * TARGETS.len();

/// One planner setting run on the held-out window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FrontierPoint {
    /// Slot quantile.
    pub quantile: f64,
    /// Head-room.
    pub headroom: f64,
    /// HPA target utilisation.
    pub target_utilization: f64,
    /// Cost on the held-out window.
    pub cost: f64,
    /// Shortfall on the held-out window.
    pub shortfall: f64,
}

/// Plans every grid setting on the fit window and runs it on the held-out one; returns the
/// Pareto-efficient points (see [`pareto`]). `progress` is called once per setting.
pub fn sweep(
    (fit, eval): (&Trace, &Trace),
    cluster: &Cluster,
    spec: &PlannerSpec,
    zone: &str,
    lead: i64,
    opts: &RunOptions,
    progress: &mut dyn FnMut(),
) -> Result<Vec<FrontierPoint>, StudyError> {
    let steps = eval.rate.len() * usize::try_from(eval.interval / opts.step_seconds).unwrap_or(1);
    let mut points = Vec::with_capacity(SETTINGS);
    for &quantile in &QUANTILES {
        for &headroom in &HEADROOMS {
            for &target_utilization in &TARGETS {
                let setting =
                    PlannerSpec { quantile, headroom, target_utilization, tune: false, ..spec.clone() };
                let rec = planner::plan(fit, cluster, &setting, zone, lead)?;
                let policy = diurnal_policy(&rec, cluster, eval, steps, opts.step_seconds);
                let outcome = engine::run(eval, cluster, &policy, &RunOptions { record: false, ..*opts })?;
                points.push(FrontierPoint {
                    quantile,
                    headroom,
                    target_utilization,
                    cost: outcome.cost,
                    shortfall: outcome.shortfall,
                });
                progress();
            }
        }
    }
    Ok(pareto(points))
}

/// The points no other point dominates (no other is at most as costly *and* at most as short,
/// and better in one), by shortfall ascending — so cost descending. Of equal points the first
/// is kept.
pub fn pareto(mut points: Vec<FrontierPoint>) -> Vec<FrontierPoint> {
    points.retain(|p| p.cost.is_finite() && p.shortfall.is_finite());
    // Shortfall ascending, then cost ascending: a point is efficient when it is cheaper than
    // every point before it (all of which have at most its shortfall). The sort is stable, so of
    // equal points the first stays.
    points.sort_by(|a, b| a.shortfall.total_cmp(&b.shortfall).then(a.cost.total_cmp(&b.cost)));
    let mut front: Vec<FrontierPoint> = Vec::new();
    for p in points {
        if front.last().is_none_or(|last| p.cost < last.cost) {
            front.push(p);
        }
    }
    front
}

/// The cheapest point whose shortfall is at most `shortfall`.
pub fn cheapest_within(front: &[FrontierPoint], shortfall: f64) -> Option<&FrontierPoint> {
    front.iter().filter(|p| p.shortfall <= shortfall).min_by(|a, b| a.cost.total_cmp(&b.cost))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(cost: f64, shortfall: f64) -> FrontierPoint {
        FrontierPoint { quantile: 1.0, headroom: 0.0, target_utilization: 0.8, cost, shortfall }
    }

    #[test]
    fn dominated_points_are_dropped_and_the_rest_trade_cost_for_shortfall() {
        let front = pareto(vec![
            point(10.0, 0.0),
            point(12.0, 0.0),     // dominated: as short, dearer
            point(8.0, 0.001),    // efficient
            point(9.0, 0.002),    // dominated by (8, 0.001)
            point(5.0, 0.004),    // efficient
            point(f64::NAN, 0.0), // not a run
        ]);
        let pairs: Vec<(f64, f64)> = front.iter().map(|p| (p.cost, p.shortfall)).collect();
        assert_eq!(pairs, [(10.0, 0.0), (8.0, 0.001), (5.0, 0.004)]);
    }

    #[test]
    fn of_equal_points_the_first_is_kept() {
        let mut a = point(3.0, 0.01);
        a.quantile = 0.25;
        let b = point(3.0, 0.01);
        assert_eq!(pareto(vec![a, b]), [a]);
    }

    #[test]
    fn the_cheapest_point_within_a_shortfall_is_found_or_none() {
        let front = pareto(vec![point(10.0, 0.0), point(8.0, 0.001), point(5.0, 0.004)]);
        assert_eq!(cheapest_within(&front, 0.002).map(|p| p.cost), Some(8.0));
        assert_eq!(cheapest_within(&front, 0.001).map(|p| p.cost), Some(8.0));
        assert_eq!(cheapest_within(&front, 0.0).map(|p| p.cost), Some(10.0));
        assert_eq!(cheapest_within(&front, 1.0).map(|p| p.cost), Some(5.0));
        assert_eq!(cheapest_within(&pareto(vec![point(1.0, 0.01)]), 0.0), None);
    }
}
