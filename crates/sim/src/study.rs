//! A whole study: split the trace, plan on the fit window, run every policy and the oracle on the
//! held-out window, and check the goals the project sets itself.

use std::fmt::Write as _;

use jiff::Timestamp;
use serde::Serialize;

use crate::engine::{self, Floor, HpaLimits, Outcome, Placement, PolicySpec, RunOptions};
use crate::frontier::{self, FrontierPoint};
use crate::model::Cluster;
use crate::oracle::{self, OracleOutcome, best_baseline, required_replicas};
use crate::planner::{self, PlanError, Recommendation, cron_floor};
use crate::scenario::{PolicyName, Scenario};
use crate::trace::Trace;

/// Why a study cannot run.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// The trace is too short to hold out a window and still fit on a week.
    #[error("the trace covers {days:.1} days; at least {needed} are needed (7 to fit, the rest held out)")]
    TooShort {
        /// Days in the trace.
        days: f64,
        /// Days needed.
        needed: u32,
    },
    /// A CronHPA file could not be read.
    #[error("{file}: {message}")]
    File {
        /// File name.
        file: String,
        /// What went wrong.
        message: String,
    },
    /// The planner failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The engine refused a run.
    #[error(transparent)]
    Engine(#[from] engine::EngineError),
}

/// A window of the trace.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    /// First instant.
    pub start: Timestamp,
    /// Instant after the last interval.
    pub end: Timestamp,
    /// Length in days.
    pub days: f64,
}

impl Window {
    fn of(t: &Trace) -> Window {
        #[allow(clippy::cast_precision_loss)]
        let days = (t.end().as_second() - t.start.as_second()) as f64 / 86_400.0;
        Window { start: t.start, end: t.end(), days }
    }
}

/// One policy's result with the ratios reports show.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyResult {
    /// The engine's outcome.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// `cost / oracle.cost`.
    pub cost_ratio_to_oracle: f64,
    /// `1 − cost / static-peak cost` (absent when static-peak was not run).
    pub savings_vs_static_peak: Option<f64>,
}

/// The planner's recommendation and how it fares in and out of sample.
#[derive(Debug, Clone, Serialize)]
pub struct PlannerSummary {
    /// Regular nodes to hold.
    pub baseline_nodes: u32,
    /// HPA `minReplicas`.
    pub hpa_min: u32,
    /// HPA `maxReplicas`.
    pub hpa_max: u32,
    /// HPA target utilisation.
    pub target_utilization: f64,
    /// `weekly` or `daily`.
    pub profile: String,
    /// Quantile of each slot's history the schedule covers (tuned or given).
    pub quantile: f64,
    /// Head-room over it (tuned or given).
    pub headroom: f64,
    /// Jobs in the CronHPA.
    pub jobs: usize,
    /// Most fires on one calendar day.
    pub max_fires_per_day: usize,
    /// The `diurnal` policy on the fit window it learned from.
    pub in_sample: Fit,
    /// The `diurnal` policy on the held-out window.
    pub held_out: Fit,
    /// The CronHPA manifest.
    pub cronhpa_yaml: String,
}

/// Cost and shortfall of one run against its oracle.
#[derive(Debug, Clone, Serialize)]
pub struct Fit {
    /// Cost.
    pub cost: f64,
    /// Shortfall.
    pub shortfall: f64,
    /// Cost over the oracle's on the same window.
    pub cost_ratio_to_oracle: f64,
}

/// Where the gap between `diurnal` and the oracle comes from.
#[derive(Debug, Clone, Serialize)]
pub struct GapAnalysis {
    /// Perfect foresight, but capacity may only change once per planner slot (its maximum inside
    /// the slot): what within-slot bursts cost even to a clairvoyant schedule.
    pub slot_oracle_cost: f64,
    /// The planner fitted on the held-out window itself (hindsight), run on it: what a schedule
    /// with at most N jobs a day costs even when the profile is exactly right.
    pub hindsight_cost: f64,
    /// Its shortfall.
    pub hindsight_shortfall: f64,
    /// Share of `diurnal − oracle` that the slot oracle already pays (bursts inside a slot).
    pub share_within_slot_bursts: f64,
    /// Share of `diurnal − oracle` that the hindsight plan already pays (schedule granularity and
    /// reaction to bursts, with the profile known).
    pub share_hindsight: f64,
    /// The rest: forecast error (the held-out weeks differ from the fit weeks).
    pub share_forecast_error: f64,
}

/// The field report's claim ("more than 2/3 saved") against this trace.
#[derive(Debug, Clone, Serialize)]
pub struct SavingsAnalysis {
    /// `1 − diurnal / static-peak`.
    pub diurnal_savings: Option<f64>,
    /// `1 − oracle / static-peak`: the most any policy could save.
    pub oracle_savings: Option<f64>,
    /// Peak over mean required replicas on the held-out window.
    pub peak_to_mean: f64,
    /// Price of a pod-hour on the virtual node over a pod-hour on a full regular node.
    pub price_ratio: f64,
    /// Peak-to-mean needed for an all-virtual layout to save 2/3 at this price ratio (`3 × ratio`).
    pub peak_to_mean_needed: f64,
    /// Price ratio needed at this trace's peak-to-mean (`peak_to_mean / 3`).
    pub price_ratio_needed: f64,
}

/// One goal the tool checks.
#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    /// What is checked.
    pub name: String,
    /// Whether it holds.
    pub met: bool,
    /// The numbers.
    pub detail: String,
}

/// Everything a report shows.
#[derive(Debug, Clone, Serialize)]
pub struct Study {
    /// Scenario name.
    pub name: String,
    /// Currency of all costs.
    pub currency: String,
    /// Trace source.
    pub trace: String,
    /// Trace interval, seconds.
    pub interval_seconds: i64,
    /// Gap account of the whole trace.
    pub gaps: String,
    /// Missing points in the whole trace.
    pub missing_points: usize,
    /// The fit window.
    pub fit: Window,
    /// The held-out window every policy is evaluated on.
    pub evaluation: Window,
    /// Results per policy, in scenario order.
    pub policies: Vec<PolicyResult>,
    /// The oracle on the held-out window.
    pub oracle: OracleOutcome,
    /// The planner.
    pub planner: PlannerSummary,
    /// Gap decomposition.
    pub gap: GapAnalysis,
    /// Savings against a VM-only cluster.
    pub savings: SavingsAnalysis,
    /// The `diurnal` policy's cost–shortfall frontier on the held-out window (Pareto-efficient
    /// planner settings, shortfall ascending), for comparisons at equal shortfall.
    pub frontier: Vec<FrontierPoint>,
    /// Goals.
    pub goals: Vec<Goal>,
    /// The held-out trace (for charts).
    #[serde(skip)]
    pub eval_trace: Trace,
    /// The scenario (for reports).
    #[serde(skip)]
    pub scenario: Scenario,
}

/// Reads a file named in the scenario (CronHPA manifests), relative to the scenario.
pub type FileReader<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// Runs the study. `progress(done, total)` is called after each simulated run, in steps.
#[allow(clippy::too_many_lines)] // a straight sequence of runs
pub fn run(
    scenario: &Scenario,
    trace: &Trace,
    read_file: FileReader<'_>,
    progress: &dyn Fn(u64, u64),
) -> Result<Study, StudyError> {
    let cluster = scenario.cluster();
    let per_day = usize::try_from(86_400 / trace.interval).unwrap_or(1).max(1);
    #[allow(clippy::cast_precision_loss)]
    let total_days = trace.rate.len() as f64 / per_day as f64;
    let holdout_days = scenario.evaluation.holdout_days.unwrap_or_else(|| {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let quarter = (total_days / 4.0).round() as u32;
        quarter.max(7)
    });
    let holdout = holdout_days as usize * per_day;
    if trace.rate.len() < holdout + 7 * per_day {
        return Err(StudyError::TooShort { days: total_days, needed: holdout_days + 7 });
    }
    let split = trace.rate.len() - holdout;
    let fit = trace.slice(0, split);
    let eval = trace.slice(split, trace.rate.len());
    let zone = scenario.workload.trace.time_zone.as_str();
    let sync = scenario.hpa.sync_seconds;
    let startup = if scenario.virtual_node.enabled {
        scenario.workload.startup_seconds.max(scenario.virtual_node.startup_seconds)
    } else {
        scenario.workload.startup_seconds
    };
    let lead = startup + sync;

    let behaviour = scenario.hpa_behaviour();
    let opts =
        RunOptions { step_seconds: scenario.evaluation.step_seconds, hpa: (&behaviour).into(), record: true };
    let planner_spec = if scenario.planner.tune {
        tune(&fit, &cluster, &scenario.planner, zone, lead, &RunOptions { record: false, ..opts })?
    } else {
        scenario.planner.clone()
    };
    let rec = planner::plan(&fit, &cluster, &planner_spec, zone, lead)?;
    let steps_per_run = u64::try_from(eval.rate.len()).unwrap_or(0)
        * u64::try_from(eval.interval / opts.step_seconds.max(1)).unwrap_or(1);
    let total_runs = scenario.policies.len() as u64 + 3 + frontier::SETTINGS as u64;
    let mut done = 0u64;
    let mut tick = |steps: u64| {
        done += steps;
        progress(done, steps_per_run * total_runs);
    };

    let ppn = cluster.pods_per_node();
    let pool_pods = cluster.pool.max_nodes.saturating_mul(ppn);
    let hpa_limits = HpaLimits {
        min: cluster.workload.min_replicas.max(1),
        max: pool_pods,
        target_utilization: scenario.hpa.target_utilization,
    };
    let eval_steps = usize::try_from(steps_per_run).unwrap_or(0);
    let mut policies = Vec::new();
    for name in &scenario.policies {
        let spec = match name {
            PolicyName::StaticPeak => {
                let peak = fit.peak() * (1.0 + scenario.evaluation.headroom);
                let replicas = cluster.workload.replicas_for(peak);
                PolicySpec {
                    name: name.as_str().into(),
                    floor: Floor::Static(replicas),
                    hpa: None,
                    // Held all the time: billed like a baseline, never by an autoscaler.
                    placement: Placement::Hybrid { baseline_nodes: cluster.pool.nodes_for(replicas, ppn) },
                }
            }
            PolicyName::Hpa => PolicySpec {
                name: name.as_str().into(),
                floor: Floor::None,
                hpa: Some(hpa_limits),
                placement: Placement::Autoscaled,
            },
            PolicyName::Cronhpa => {
                let c = scenario.cronhpa.as_ref().expect("checked when the scenario was parsed");
                let plan = load_plan(read_file, &c.file, zone)?;
                PolicySpec {
                    name: name.as_str().into(),
                    floor: cron_floor(&plan, eval.start, eval_steps, opts.step_seconds),
                    hpa: c.hpa.then_some(hpa_limits),
                    placement: Placement::Autoscaled,
                }
            }
            PolicyName::Hybrid => {
                let h = scenario.hybrid.as_ref().expect("checked when the scenario was parsed");
                let plan = load_plan(read_file, &h.cronhpa, zone)?;
                PolicySpec {
                    name: name.as_str().into(),
                    floor: cron_floor(&plan, eval.start, eval_steps, opts.step_seconds),
                    hpa: Some(hpa_limits),
                    placement: hybrid_placement(&cluster, h.baseline_nodes),
                }
            }
            PolicyName::Diurnal => diurnal_policy(&rec, &cluster, &eval, eval_steps, opts.step_seconds),
        };
        let outcome = engine::run(&eval, &cluster, &spec, &opts)?;
        tick(steps_per_run);
        policies.push(outcome);
    }

    let oracle_eval = oracle::oracle(&eval, &cluster);
    let oracle_fit = oracle::oracle(&fit, &cluster);
    let fit_steps = fit.rate.len() * usize::try_from(fit.interval / opts.step_seconds).unwrap_or(1);
    let diurnal_fit = engine::run(
        &fit,
        &cluster,
        &diurnal_policy(&rec, &cluster, &fit, fit_steps, opts.step_seconds),
        &RunOptions { record: false, ..opts },
    )?;
    tick(steps_per_run);
    let diurnal_eval = engine::run(
        &eval,
        &cluster,
        &diurnal_policy(&rec, &cluster, &eval, eval_steps, opts.step_seconds),
        &opts,
    )?;
    tick(steps_per_run);

    // Hindsight: the planner fitted on the held-out window itself.
    let hindsight_rec = planner::plan(&eval, &cluster, &planner_spec, zone, lead)?;
    let hindsight = engine::run(
        &eval,
        &cluster,
        &diurnal_policy(&hindsight_rec, &cluster, &eval, eval_steps, opts.step_seconds),
        &RunOptions { record: false, ..opts },
    )?;
    tick(steps_per_run);

    let mut frontier =
        frontier::sweep((&fit, &eval), &cluster, &planner_spec, zone, lead, &opts, &mut || {
            tick(steps_per_run);
        })?;
    frontier.push(FrontierPoint {
        quantile: planner_spec.quantile,
        headroom: planner_spec.headroom,
        target_utilization: rec.target_utilization,
        cost: diurnal_eval.cost,
        shortfall: diurnal_eval.shortfall,
    });
    let frontier = frontier::pareto(frontier);

    let static_cost = policies.iter().find(|p| p.name == "static-peak").map(|p| p.cost);
    let ratio = |c: f64| if oracle_eval.cost > 0.0 { c / oracle_eval.cost } else { f64::NAN };
    let results: Vec<PolicyResult> = policies
        .into_iter()
        .map(|o| PolicyResult {
            cost_ratio_to_oracle: ratio(o.cost),
            savings_vs_static_peak: static_cost.map(|s| 1.0 - o.cost / s),
            outcome: o,
        })
        .collect();

    let slot_oracle_cost = slot_oracle(&eval, &cluster, scenario.planner.slot_minutes);
    let gap_total = diurnal_eval.cost - oracle_eval.cost;
    let share =
        |c: f64| if gap_total > 0.0 { ((c - oracle_eval.cost) / gap_total).clamp(0.0, 1.0) } else { 0.0 };
    let share_hindsight = share(hindsight.cost);
    let gap = GapAnalysis {
        slot_oracle_cost,
        hindsight_cost: hindsight.cost,
        hindsight_shortfall: hindsight.shortfall,
        share_within_slot_bursts: share(slot_oracle_cost),
        share_hindsight,
        share_forecast_error: 1.0 - share_hindsight,
    };

    let required = required_replicas(&eval, &cluster);
    let peak = f64::from(required.iter().copied().max().unwrap_or(0));
    #[allow(clippy::cast_precision_loss)]
    let mean = required.iter().map(|&r| f64::from(r)).sum::<f64>() / required.len().max(1) as f64;
    let peak_to_mean = if mean > 0.0 { peak / mean } else { 1.0 };
    let pod_hour_virtual = cluster.virtual_node.pod_price_per_second(&cluster.workload) * 3600.0;
    let pod_hour_regular = cluster.pool.price_per_hour / f64::from(ppn.max(1));
    let price_ratio = pod_hour_virtual / pod_hour_regular;
    let diurnal_result = results.iter().find(|p| p.outcome.name == "diurnal");
    let savings = SavingsAnalysis {
        diurnal_savings: diurnal_result.and_then(|d| d.savings_vs_static_peak),
        oracle_savings: static_cost.map(|s| 1.0 - oracle_eval.cost / s),
        peak_to_mean,
        price_ratio,
        peak_to_mean_needed: 3.0 * price_ratio,
        price_ratio_needed: peak_to_mean / 3.0,
    };

    let planner_summary = PlannerSummary {
        baseline_nodes: rec.baseline_nodes,
        hpa_min: rec.hpa_min,
        hpa_max: rec.hpa_max,
        target_utilization: rec.target_utilization,
        profile: format!("{:?}", rec.profile).to_lowercase(),
        quantile: planner_spec.quantile,
        headroom: planner_spec.headroom,
        jobs: rec.cronhpa.spec.jobs.len(),
        max_fires_per_day: rec.max_fires_per_day,
        in_sample: Fit {
            cost: diurnal_fit.cost,
            shortfall: diurnal_fit.shortfall,
            cost_ratio_to_oracle: diurnal_fit.cost / oracle_fit.cost,
        },
        held_out: Fit {
            cost: diurnal_eval.cost,
            shortfall: diurnal_eval.shortfall,
            cost_ratio_to_oracle: ratio(diurnal_eval.cost),
        },
        cronhpa_yaml: rec.yaml.clone(),
    };

    let goals = goals(&results, &oracle_eval, &frontier, gap.slot_oracle_cost, gap.share_within_slot_bursts);
    Ok(Study {
        name: scenario.name.clone(),
        currency: scenario.currency.clone(),
        trace: trace.source.clone(),
        interval_seconds: trace.interval,
        gaps: trace.gap_summary().to_string(),
        missing_points: trace.missing(),
        fit: Window::of(&fit),
        evaluation: Window::of(&eval),
        policies: results,
        oracle: oracle_eval,
        planner: planner_summary,
        gap,
        savings,
        frontier,
        goals,
        eval_trace: eval,
        scenario: scenario.clone(),
    })
}

/// Picks the planner's quantile and head-room on a validation week carved from the end of the fit
/// window (see [`crate::scenario::PlannerSpec::tune`]).
pub fn tune(
    fit: &Trace,
    cluster: &Cluster,
    spec: &crate::scenario::PlannerSpec,
    zone: &str,
    lead: i64,
    opts: &RunOptions,
) -> Result<crate::scenario::PlannerSpec, StudyError> {
    let per_day = usize::try_from(86_400 / fit.interval).unwrap_or(1).max(1);
    let week = 7 * per_day;
    if fit.rate.len() < week + 7 * per_day {
        return Ok(spec.clone());
    }
    let train = fit.slice(0, fit.rate.len() - week);
    let validate = fit.slice(fit.rate.len() - week, fit.rate.len());
    let steps = validate.rate.len() * usize::try_from(validate.interval / opts.step_seconds).unwrap_or(1);
    // (meets the target, shortfall if not, cost) — smaller is better.
    let mut best: Option<((bool, f64, f64), crate::scenario::PlannerSpec)> = None;
    let grid = crate::scenario::TUNE_QUANTILES.iter().flat_map(|&q| {
        crate::scenario::TUNE_HEADROOMS
            .iter()
            .flat_map(move |&h| crate::scenario::TUNE_TARGETS.iter().map(move |&t| (q, h, t)))
    });
    for (quantile, headroom, target_utilization) in grid {
        {
            let candidate = crate::scenario::PlannerSpec {
                quantile,
                headroom,
                target_utilization,
                tune: false,
                ..spec.clone()
            };
            let rec = planner::plan(&train, cluster, &candidate, zone, lead)?;
            let o = engine::run(
                &validate,
                cluster,
                &diurnal_policy(&rec, cluster, &validate, steps, opts.step_seconds),
                opts,
            )?;
            let meets = o.shortfall <= spec.shortfall_target;
            let key = (!meets, if meets { 0.0 } else { o.shortfall }, o.cost);
            if best.as_ref().is_none_or(|(k, _)| key.partial_cmp(k) == Some(std::cmp::Ordering::Less)) {
                best = Some((key, candidate));
            }
        }
    }
    Ok(best.map_or_else(|| spec.clone(), |(_, s)| s))
}

fn hybrid_placement(cluster: &Cluster, baseline_nodes: u32) -> Placement {
    if cluster.virtual_node.enabled { Placement::Hybrid { baseline_nodes } } else { Placement::Autoscaled }
}

/// The `diurnal` policy on `window`: the recommendation's CronHPA over its HPA, hybrid layout.
pub fn diurnal_policy(
    rec: &Recommendation,
    cluster: &Cluster,
    window: &Trace,
    steps: usize,
    step_seconds: i64,
) -> PolicySpec {
    PolicySpec {
        name: "diurnal".into(),
        floor: cron_floor(&rec.plan, window.start, steps, step_seconds),
        hpa: Some(HpaLimits {
            min: rec.hpa_min,
            max: rec.hpa_max,
            target_utilization: rec.target_utilization,
        }),
        placement: hybrid_placement(cluster, rec.baseline_nodes),
    }
}

fn load_plan(read_file: FileReader<'_>, file: &str, zone: &str) -> Result<diurnal_core::Plan, StudyError> {
    let text = read_file(file).map_err(|message| StudyError::File { file: file.to_owned(), message })?;
    planner::resolve_text(&text, zone)
        .map_err(|e| StudyError::File { file: file.to_owned(), message: e.to_string() })
}

/// Perfect foresight at slot granularity: each slot runs its largest replica count.
fn slot_oracle(trace: &Trace, cluster: &Cluster, slot_minutes: u32) -> f64 {
    let required = required_replicas(trace, cluster);
    let per_slot = usize::try_from(i64::from(slot_minutes) * 60 / trace.interval).unwrap_or(1).max(1);
    let mut coarse = Vec::with_capacity(required.len());
    for chunk in required.chunks(per_slot) {
        let m = chunk.iter().copied().max().unwrap_or(0);
        coarse.extend(std::iter::repeat_n(m, chunk.len()));
    }
    let (_, regular, virtual_cost, _) = best_baseline(&coarse, trace.interval, cluster);
    regular + virtual_cost
}

/// The cost target on smooth traces, as a multiple of the oracle's cost.
pub const COST_RATIO_TARGET: f64 = 1.15;

fn goals(
    results: &[PolicyResult],
    oracle: &OracleOutcome,
    front: &[FrontierPoint],
    slot_oracle_cost: f64,
    within_slot_share: f64,
) -> Vec<Goal> {
    let mut out = Vec::new();
    let Some(d) = results.iter().find(|p| p.outcome.name == "diurnal") else { return out };
    out.push(Goal {
        name: "diurnal shortfall <= 0.5%".into(),
        met: d.outcome.shortfall <= 0.005,
        detail: format!("{:.3}%", d.outcome.shortfall * 100.0),
    });
    for other in ["hpa", "static-peak"] {
        let Some(o) = results.iter().find(|p| p.outcome.name == other) else { continue };
        let (cost, shortfall) = (o.outcome.cost, o.outcome.shortfall);
        let direct = d.outcome.cost < cost && d.outcome.shortfall <= shortfall;
        let mut detail = format!(
            "recommended plan: cost {:.2} vs {cost:.2}, shortfall {:.3}% vs {:.3}%",
            d.outcome.cost,
            d.outcome.shortfall * 100.0,
            shortfall * 100.0
        );
        let at_equal = frontier::cheapest_within(front, shortfall);
        if !direct {
            let _ = match at_equal {
                Some(p) => write!(
                    detail,
                    "; at <= {:.3}% shortfall the planner (quantile {}, head-room {}, HPA target {}) \
                     costs {:.2} ({:.3} x oracle) at {:.3}%",
                    shortfall * 100.0,
                    p.quantile,
                    p.headroom,
                    p.target_utilization,
                    p.cost,
                    p.cost / oracle.cost,
                    p.shortfall * 100.0
                ),
                None => write!(
                    detail,
                    "; no planner setting of the frontier reaches {:.3}% shortfall",
                    shortfall * 100.0
                ),
            };
        }
        out.push(Goal {
            name: format!("diurnal cheaper than {other} at equal or lower shortfall"),
            met: direct || at_equal.is_some_and(|p| p.cost < cost),
            detail,
        });
    }
    // The target holds on smooth traces; on minute-level bursty ones it asks for the ratio
    // and an explanation. "Bursty" is measured, not declared: a trace is when even perfect
    // foresight at the schedule's slot granularity costs more than the target.
    let slot_ratio = slot_oracle_cost / oracle.cost;
    let ratio = d.cost_ratio_to_oracle;
    if slot_ratio <= COST_RATIO_TARGET {
        out.push(Goal {
            name: format!("diurnal cost <= {COST_RATIO_TARGET} x oracle"),
            met: ratio <= COST_RATIO_TARGET,
            detail: format!("{ratio:.3} x (oracle {:.2})", oracle.cost),
        });
    } else {
        out.push(Goal {
            name: format!(
                "bursty trace (slot-level clairvoyant above {COST_RATIO_TARGET} x oracle): ratio reported, gap explained"
            ),
            met: true,
            detail: format!(
                "{ratio:.3} x oracle; perfect foresight changing capacity once a slot already costs {slot_ratio:.3} x, \
                 {:.0}% of the gap: bursts inside a slot that no schedule follows",
                within_slot_share * 100.0
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests;
