//! The planner: learns a daily or weekly profile from history and writes a CronHPA.
//!
//! 1. Each known point of the last `history_days` of the fit window is turned into the replicas it needs with head-room,
//!    `rate × (1 + headroom) / requests_per_pod`, and filed under its slot of the day (weekly
//!    profile: slot of the week) in the CronHPA's zone.
//! 2. Each slot keeps the chosen quantile of its history (1 = the maximum seen).
//! 3. Each day is cut into at most `jobs_per_day` constant segments covering that profile at the
//!    least replica-time (an exact dynamic programme over the slots).
//! 4. A segment that raises the floor fires early by the pod start-up delay plus one HPA sync,
//!    rounded up to a minute, so capacity is ready when the load arrives (pre-warming). If the
//!    shift pushes any calendar day over `jobs_per_day` fires, fewer segments are used.
//! 5. Fires with the same time and size on several days become one job with a day-of-week list.
//! 6. The CronHPA targets the workload's HPA (it sets `minReplicas`); the manifest is serialised,
//!    parsed back and resolved through `diurnal-api`, exactly as the controller would read it.
//! 7. The regular baseline is the oracle's optimal baseline for the replicas the plan would run on
//!    the fit window; the HPA's `maxReplicas` leaves room for twice the fit window's peak.

use std::collections::BTreeMap;

use diurnal_api::{CronHorizontalPodAutoscaler, CronHorizontalPodAutoscalerSpec, Job, ScaleTargetRef};
use diurnal_core::Plan;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::engine::Floor;
use crate::model::{Cluster, replicas_for};
use crate::oracle::best_baseline;
use crate::scenario::{PlannerSpec, ProfileKind};
use crate::trace::Trace;

/// What the planner recommends.
#[derive(Debug, Clone)]
pub struct Recommendation {
    /// The CronHPA, as written.
    pub cronhpa: CronHorizontalPodAutoscaler,
    /// The CronHPA as YAML.
    pub yaml: String,
    /// The CronHPA as the controller resolves it.
    pub plan: Plan,
    /// The profile used.
    pub profile: ProfileKind,
    /// Regular nodes to hold all the time.
    pub baseline_nodes: u32,
    /// HPA `minReplicas`.
    pub hpa_min: u32,
    /// HPA `maxReplicas`.
    pub hpa_max: u32,
    /// HPA target utilisation.
    pub target_utilization: f64,
    /// Most fires on any calendar day.
    pub max_fires_per_day: usize,
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The zone is unknown.
    #[error("unknown time zone {0:?}")]
    Zone(String),
    /// The fit window has no known demand.
    #[error("the fit window has no known demand")]
    NoData,
    /// The generated CronHPA did not validate (a bug).
    #[error("the generated CronHPA does not validate: {0}")]
    Invalid(String),
}

/// A fire of the weekly (or daily) schedule: minute of the period and target size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
struct PlannedFire {
    minute: u32,
    target: u32,
}

/// Makes the recommendation from the fit window `fit`.
pub fn plan(
    fit: &Trace,
    cluster: &Cluster,
    spec: &PlannerSpec,
    zone_name: &str,
    lead_seconds: i64,
) -> Result<Recommendation, PlanError> {
    let zone = TimeZone::get(zone_name).map_err(|_| PlanError::Zone(zone_name.to_owned()))?;
    let per_day = usize::try_from(86_400 / fit.interval).unwrap_or(1).max(1);
    let keep = spec.history_days as usize * per_day;
    let recent = fit.slice(fit.rate.len().saturating_sub(keep), fit.rate.len());
    let fit = &recent;
    let span_days = (fit.end().as_second() - fit.start.as_second()) / 86_400;
    let profile_kind = match spec.profile {
        ProfileKind::Auto if span_days >= 14 => ProfileKind::Weekly,
        ProfileKind::Auto => ProfileKind::Daily,
        k => k,
    };
    let days = if profile_kind == ProfileKind::Weekly { 7 } else { 1 };
    let profile = learn_profile(fit, cluster, spec, &zone, days)?;
    let lead_minutes = u32::try_from((lead_seconds.max(0) + 59) / 60).unwrap_or(0);

    let n = spec.jobs_per_day as usize;
    let mut chosen = None;
    for segments in (1..=n).rev() {
        let fires = schedule(&profile, days, spec.slot_minutes, segments, lead_minutes);
        let most = max_fires_per_day(&fires);
        if most <= n || segments == 1 {
            chosen = Some((fires, most));
            break;
        }
    }
    let (fires, max_fires_per_day) = chosen.expect("the loop runs at least once");

    let cronhpa = build_cronhpa(&cluster.workload.name, zone_name, &fires, days);
    let yaml = serde_saphyr::to_string(&cronhpa).map_err(|e| PlanError::Invalid(e.to_string()))?;
    let plan = resolve_text(&yaml, zone_name)?;

    // Replicas the plan would run over the fit window: the floor, or the HPA's answer above it.
    let floor = cron_floor(&plan, fit.start, fit.rate.len(), fit.interval);
    let floor_series = floor_series(&floor, fit.rate.len());
    let per_pod = cluster.workload.requests_per_pod * spec.target_utilization;
    let mut last = 0.0;
    let run: Vec<u32> = fit
        .rate
        .iter()
        .zip(&floor_series)
        .map(|(&r, &f)| {
            if !r.is_nan() {
                last = r;
            }
            f.max(replicas_for(last, per_pod)).max(cluster.workload.min_replicas)
        })
        .collect();
    let (baseline_nodes, ..) = best_baseline(&run, fit.interval, cluster);
    let peak = run.iter().copied().max().unwrap_or(1);
    Ok(Recommendation {
        cronhpa,
        yaml,
        plan,
        profile: profile_kind,
        baseline_nodes,
        hpa_min: cluster.workload.min_replicas.max(1),
        hpa_max: (peak * 2).max(peak + 4),
        target_utilization: spec.target_utilization,
        max_fires_per_day,
    })
}

/// Per day type and slot, the quantile of replicas needed with head-room.
fn learn_profile(
    fit: &Trace,
    cluster: &Cluster,
    spec: &PlannerSpec,
    zone: &TimeZone,
    days: usize,
) -> Result<Vec<Vec<u32>>, PlanError> {
    let slots = (1440 / spec.slot_minutes) as usize;
    let slot_secs = i64::from(spec.slot_minutes) * 60;
    let mut history: Vec<Vec<f64>> = vec![Vec::new(); days * slots];
    let per_pod = cluster.workload.requests_per_pod;
    // A point covers `interval` seconds: file it under every slot it overlaps.
    let sub = slot_secs.min(fit.interval);
    for (i, &r) in fit.rate.iter().enumerate() {
        if r.is_nan() {
            continue;
        }
        let need = r * (1.0 + spec.headroom) / per_pod;
        let mut offset = 0;
        while offset < fit.interval {
            let at = fit.at(i) + SignedDuration::from_secs(offset);
            let zoned = at.to_zoned(zone.clone());
            let minute =
                usize::try_from(i32::from(zoned.hour()) * 60 + i32::from(zoned.minute())).unwrap_or(0);
            let day = if days == 7 {
                usize::from(zoned.weekday().to_monday_zero_offset().unsigned_abs())
            } else {
                0
            };
            history[day * slots + minute / spec.slot_minutes as usize].push(need);
            offset += sub;
        }
    }
    if history.iter().all(Vec::is_empty) {
        return Err(PlanError::NoData);
    }
    let pick = |v: &mut Vec<f64>| -> Option<f64> {
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let k = ((spec.quantile * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        Some(v[k])
    };
    let quantiles: Vec<Option<f64>> = history.iter_mut().map(pick).collect();
    let global = quantiles.iter().flatten().copied().fold(0.0, f64::max);
    let min = cluster.workload.min_replicas;
    Ok((0..days)
        .map(|d| {
            let day = &quantiles[d * slots..(d + 1) * slots];
            let day_max = day.iter().flatten().copied().fold(f64::NAN, f64::max);
            // A slot never seen takes the day's largest value (or the overall largest).
            let fill = if day_max.is_nan() { global } else { day_max };
            day.iter().map(|q| replicas_for(q.unwrap_or(fill), 1.0).max(min)).collect()
        })
        .collect())
}

// The textbook names of the recurrence (v, k, n, i, j, s, m) read best here.
/// Cuts `v` into at most `k` segments minimising Σ max(segment) × length: `(start, value)` pairs.
#[allow(clippy::many_single_char_names)]
fn segment(v: &[u32], k: usize) -> Vec<(usize, u32)> {
    let n = v.len();
    let k = k.clamp(1, n.max(1));
    // cost[j][i]: best cost of v[..i] in j+1 segments; from[j][i]: where the last one starts.
    let mut cost = vec![vec![u64::MAX; n + 1]; k];
    let mut from = vec![vec![0usize; n + 1]; k];
    for i in 1..=n {
        let m = u64::from(*v[..i].iter().max().expect("non-empty"));
        cost[0][i] = m * i as u64;
    }
    for j in 1..k {
        for i in 1..=n {
            let mut m = 0u32;
            // Last segment is v[s..i].
            for s in (j..i).rev() {
                m = m.max(v[s]);
                let prev = cost[j - 1][s];
                if prev == u64::MAX {
                    continue;
                }
                let c = prev + u64::from(m) * (i - s) as u64;
                if c < cost[j][i] {
                    cost[j][i] = c;
                    from[j][i] = s;
                }
            }
        }
    }
    let best_j = (0..k).min_by_key(|&j| (cost[j][n], j)).unwrap_or(0);
    let mut cuts = Vec::new();
    let (mut j, mut i) = (best_j, n);
    while j > 0 {
        let s = from[j][i];
        cuts.push(s);
        i = s;
        j -= 1;
    }
    cuts.push(0);
    cuts.reverse();
    let mut out: Vec<(usize, u32)> = Vec::new();
    for (idx, &s) in cuts.iter().enumerate() {
        let e = cuts.get(idx + 1).copied().unwrap_or(n);
        let value = *v[s..e].iter().max().expect("non-empty segment");
        // Adjacent equal segments merge (the DP may leave one when fewer segments cost the same).
        if out.last().is_some_and(|(_, last)| *last == value) {
            continue;
        }
        out.push((s, value));
    }
    out
}

/// The fires of the whole period (a week or a day), pre-warmed.
fn schedule(
    profile: &[Vec<u32>],
    days: usize,
    slot_minutes: u32,
    segments: usize,
    lead_minutes: u32,
) -> Vec<PlannedFire> {
    let period = u32::try_from(days * 1440).expect("a week of minutes");
    let per_day: Vec<Vec<(usize, u32)>> = profile.iter().map(|v| segment(v, segments)).collect();
    let mut fires = Vec::new();
    for d in 0..days {
        let prev_day_last = per_day[(d + days - 1) % days].last().map_or(0, |s| s.1);
        let mut prev = prev_day_last;
        for &(start, value) in &per_day[d] {
            let at = u32::try_from(d * 1440 + start * slot_minutes as usize).expect("small");
            if start == 0 && value == prev {
                // The day starts where the previous one ended: no fire needed.
                continue;
            }
            let minute =
                if value > prev { (at + period - lead_minutes.min(at + period)) % period } else { at };
            fires.push(PlannedFire { minute, target: value });
            prev = value;
        }
    }
    if fires.is_empty() {
        // A flat profile still needs one job to set its floor.
        fires.push(PlannedFire { minute: 0, target: per_day[0].first().map_or(1, |s| s.1) });
    }
    fires.sort_by_key(|f| f.minute);
    fires
}

fn max_fires_per_day(fires: &[PlannedFire]) -> usize {
    let mut per_day: BTreeMap<u32, usize> = BTreeMap::new();
    for f in fires {
        *per_day.entry(f.minute / 1440).or_default() += 1;
    }
    per_day.values().copied().max().unwrap_or(0)
}

const DAY_NAMES: [&str; 7] = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];

fn build_cronhpa(
    workload: &str,
    zone: &str,
    fires: &[PlannedFire],
    days: usize,
) -> CronHorizontalPodAutoscaler {
    // (minute of day, target) → days of the week.
    let mut grouped: BTreeMap<(u32, u32), Vec<usize>> = BTreeMap::new();
    for f in fires {
        grouped.entry((f.minute % 1440, f.target)).or_default().push((f.minute / 1440) as usize);
    }
    let jobs = grouped
        .into_iter()
        .enumerate()
        .map(|(i, ((minute, target), on))| {
            let (h, m) = (minute / 60, minute % 60);
            let dow = if days == 1 || on.len() == 7 || fires.len() == 1 {
                "*".to_owned()
            } else {
                on.iter().map(|&d| DAY_NAMES[d]).collect::<Vec<_>>().join(",")
            };
            Job {
                name: format!("floor-{:02}-{h:02}{m:02}", i + 1),
                schedule: format!("0 {m} {h} * * {dow}"),
                target_size: Some(i32::try_from(target).unwrap_or(i32::MAX)),
                ..Job::default()
            }
        })
        .collect();
    let spec = CronHorizontalPodAutoscalerSpec {
        scale_target_ref: ScaleTargetRef {
            api_version: "autoscaling/v2".into(),
            kind: "HorizontalPodAutoscaler".into(),
            name: workload.into(),
        },
        exclude_dates: Vec::new(),
        jobs,
        time_zone: Some(zone.into()),
        ..CronHorizontalPodAutoscalerSpec::default()
    };
    CronHorizontalPodAutoscaler::new(&format!("{workload}-diurnal"), spec)
}

/// Parses CronHPA YAML through `diurnal-api` and resolves it into the core's plan, refusing any
/// manifest with an error finding. The first CronHPA document is used; `Calendar` documents in
/// the same text are the calendars it names (`spec.calendars`), as `diurnal next` reads them.
pub fn resolve_text(text: &str, default_zone: &str) -> Result<Plan, PlanError> {
    let zone = TimeZone::get(default_zone).map_err(|_| PlanError::Zone(default_zone.to_owned()))?;
    let docs = diurnal_api::manifest::parse_documents(text, "cronhpa")
        .map_err(|e| PlanError::Invalid(e.to_string()))?;
    let doc = docs
        .iter()
        .find(|d| d.is_cronhpa())
        .ok_or_else(|| PlanError::Invalid("no CronHorizontalPodAutoscaler document".into()))?;
    let object = doc.decode_cronhpa().map_err(|f| PlanError::Invalid(f.to_string()))?;
    let mut calendars = diurnal_api::Calendars::none();
    for d in docs.iter().filter(|d| d.is_calendar()) {
        let calendar =
            d.decode_calendar().map_err(|f| PlanError::Invalid(format!("document {}: {f}", d.index)))?;
        let checked = diurnal_api::resolve_calendar(&calendar.spec);
        if checked.calendar.is_none() {
            return Err(PlanError::Invalid(format!("document {}: {}", d.index, checked.error_text())));
        }
        calendars.insert(calendar.metadata.name.as_deref().unwrap_or_default(), &calendar.spec);
    }
    let resolution =
        diurnal_api::resolve_object_in(&object, &zone, &diurnal_api::Limits::default(), &calendars);
    if !resolution.is_valid() {
        let messages: Vec<String> = resolution.findings.iter().map(ToString::to_string).collect();
        return Err(PlanError::Invalid(messages.join("; ")));
    }
    Ok(resolution.plan)
}

/// The floor a CronHPA plan sets over `steps` steps of `step_seconds` from `start`: the target of
/// the latest non-excluded fire in the 8 days before `start` holds at first (1 if none), then each
/// fire takes effect at the first step at or after its instant.
pub fn cron_floor(plan: &Plan, start: Timestamp, steps: usize, step_seconds: i64) -> Floor {
    let lookback = start - SignedDuration::from_hours(8 * 24);
    let initial = plan
        .fires(lookback, start)
        .filter(|f| !f.excluded)
        .last()
        .map_or(1, |f| u32::try_from(f.target_size).unwrap_or(0));
    let end = start + SignedDuration::from_secs(i64::try_from(steps).unwrap_or(i64::MAX / 2) * step_seconds);
    let fires = plan
        .fires(start, end)
        .filter(|f| !f.excluded)
        .map(|f| {
            let offset = f.at.as_second() - start.as_second();
            let step = usize::try_from((offset + step_seconds - 1) / step_seconds).unwrap_or(0);
            (step, u32::try_from(f.target_size).unwrap_or(0))
        })
        .filter(|(step, _)| *step < steps)
        .collect();
    Floor::Cron { initial, fires }
}

/// The floor's value at each of `steps` steps.
pub fn floor_series(floor: &Floor, steps: usize) -> Vec<u32> {
    match floor {
        Floor::Static(n) => vec![*n; steps],
        Floor::None => vec![0; steps],
        Floor::Cron { initial, fires } => {
            let mut out = Vec::with_capacity(steps);
            let mut current = *initial;
            let mut next = 0;
            for step in 0..steps {
                while next < fires.len() && fires[next].0 <= step {
                    current = fires[next].1;
                    next += 1;
                }
                out.push(current);
            }
            out
        }
    }
}

#[cfg(test)]
mod tests;
