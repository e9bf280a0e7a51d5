//! Turning a CronHPA spec into the core's [`Plan`], with every problem found on the way.
//!
//! One pass does both validation (`diurnal validate`) and planning (controller, simulator), so
//! what the CLI accepts is exactly what the controller runs.

use std::collections::HashMap;

use diurnal_core::scaling::Size;
use diurnal_core::{Days, ExcludeDate, JobPlan, Plan, Schedule, resolve_zone};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::calendar::Calendars;
use crate::limits::{self, Limits};
use crate::{
    CronHorizontalPodAutoscaler, CronHorizontalPodAutoscalerSpec, Finding, HpaMode, Job, ScaleTargetRef,
};

/// What a fire of `job` asks of its target: its `targetMinReplicas`/`targetMaxReplicas` when it
/// has either, else its `targetSize` in the object's `hpaMode` (a job with neither, which
/// validation refuses, asks for nothing: bounds with neither side).
pub fn job_size(spec: &CronHorizontalPodAutoscalerSpec, job: &Job) -> Size {
    match (job.target_size, job.target_min_replicas, job.target_max_replicas) {
        (_, min @ Some(_), max) | (_, min, max @ Some(_)) => Size::Bounds { min, max },
        (Some(n), None, None) if spec.hpa_mode == Some(HpaMode::Exact) => Size::Exact(n),
        (Some(n), None, None) => Size::Replicas(n),
        (None, None, None) => Size::Bounds { min: None, max: None },
    }
}

/// `spec.historyLimit`, defaulted and capped at [`limits::MAX_HISTORY_LIMIT`].
pub fn history_limit(spec: &CronHorizontalPodAutoscalerSpec) -> usize {
    spec.history_limit.unwrap_or(limits::DEFAULT_HISTORY_LIMIT).min(limits::MAX_HISTORY_LIMIT) as usize
}

/// The outcome of resolving one CronHPA.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// The runnable part: valid jobs only. Empty when an object-wide field (zone, exclusions,
    /// target) is invalid, since every job depends on those.
    pub plan: Plan,
    /// `plan.jobs[i]` is `spec.jobs[spec_index[i]]`.
    pub spec_index: Vec<usize>,
    /// Errors and warnings, with field paths from the document root.
    pub findings: Vec<Finding>,
}

impl Resolution {
    /// Whether no finding is an error.
    pub fn is_valid(&self) -> bool {
        !self.findings.iter().any(Finding::is_error)
    }

    /// The error messages that concern `spec.jobs[index]` or the whole object, joined: what a
    /// job's status shows when it cannot run.
    pub fn job_error(&self, index: usize) -> Option<String> {
        let own = format!("spec.jobs[{index}]");
        let messages: Vec<String> = self
            .findings
            .iter()
            .filter(|f| f.is_error())
            .filter(|f| f.path.starts_with(&own) || !f.path.starts_with("spec.jobs["))
            .map(ToString::to_string)
            .collect();
        (!messages.is_empty()).then(|| messages.join("; "))
    }
}

/// Resolves a whole object with the default [`Limits`]; `@every` is phased from its creation time
/// (the Unix epoch when it has none, as in a file that was never applied).
pub fn resolve_object(cronhpa: &CronHorizontalPodAutoscaler, default_zone: &TimeZone) -> Resolution {
    resolve_object_with(cronhpa, default_zone, &Limits::default())
}

/// [`resolve_object`] under the given limits (the controller's settings).
pub fn resolve_object_with(
    cronhpa: &CronHorizontalPodAutoscaler,
    default_zone: &TimeZone,
    limits: &Limits,
) -> Resolution {
    resolve_object_in(cronhpa, default_zone, limits, &Calendars::none())
}

/// [`resolve_object_with`], looking `spec.calendars` up in `calendars` (the calendars of the
/// object's namespace).
pub fn resolve_object_in(
    cronhpa: &CronHorizontalPodAutoscaler,
    default_zone: &TimeZone,
    limits: &Limits,
    calendars: &Calendars,
) -> Resolution {
    let origin = cronhpa.metadata.creation_timestamp.as_ref().map_or(Timestamp::UNIX_EPOCH, |t| t.0);
    resolve_in(&cronhpa.spec, default_zone, origin, limits, calendars)
}

/// Resolves a spec with the default [`Limits`]. `default_zone` applies where neither the object
/// nor the job names one.
pub fn resolve(
    spec: &CronHorizontalPodAutoscalerSpec,
    default_zone: &TimeZone,
    origin: Timestamp,
) -> Resolution {
    resolve_with(spec, default_zone, origin, &Limits::default())
}

/// [`resolve`] under the given limits. Only the first [`limits::MAX_JOBS`] jobs and
/// [`limits::MAX_EXCLUDE_DATES`] exclusions of an oversized object are looked at (it is refused as
/// a whole), so an object stored before the schema had its bounds costs no more than a valid one.
pub fn resolve_with(
    spec: &CronHorizontalPodAutoscalerSpec,
    default_zone: &TimeZone,
    origin: Timestamp,
    limits: &Limits,
) -> Resolution {
    resolve_in(spec, default_zone, origin, limits, &Calendars::none())
}

/// [`resolve_with`], looking `spec.calendars` up in `calendars`. A calendar that is missing or
/// invalid is read as empty, with a warning at `spec.calendars[i].name` (docs/calendars.md says
/// why the object keeps firing).
pub fn resolve_in(
    spec: &CronHorizontalPodAutoscalerSpec,
    default_zone: &TimeZone,
    origin: Timestamp,
    limits: &Limits,
    calendars: &Calendars,
) -> Resolution {
    let mut findings = Vec::new();
    check_target(&spec.scale_target_ref, &mut findings);

    let zone = object_zone(spec, default_zone, &mut findings);
    let mut exclusions = exclusions(spec, &mut findings);
    let calendar = calendar_refs(spec, calendars, &mut exclusions, &mut findings);
    check_spec(spec, &mut findings);
    check_controls(spec, &mut findings);

    let targets_hpa = spec.scale_target_ref.kind == "HorizontalPodAutoscaler";
    let mut first_with_name: HashMap<&str, usize> = HashMap::new();
    let mut jobs = Vec::new();
    let mut spec_index = Vec::new();
    for (i, job) in spec.jobs.iter().take(limits::MAX_JOBS).enumerate() {
        let path = format!("spec.jobs[{i}]");
        let before = findings.len();
        if job.name.len() > limits::MAX_JOB_NAME {
            findings.push(too_long(format!("{path}.name"), &job.name, limits::MAX_JOB_NAME));
        } else if job.name.is_empty() {
            findings.push(Finding::error(format!("{path}.name"), "a job needs a name"));
        } else if let Some(first) = first_with_name.insert(&job.name, i) {
            first_with_name.insert(&job.name, first);
            findings.push(Finding::error(
                format!("{path}.name"),
                format!("duplicate job name {:?} (already used by spec.jobs[{first}])", job.name),
            ));
        }
        check_size(&path, job, targets_hpa, &mut findings);
        let days = Days::from(job.days.unwrap_or_default());
        let schedule = job_schedule(&path, job, limits, &mut findings);
        check_days(&path, job, schedule.as_ref(), &mut findings);
        let job_zone = match &job.time_zone {
            Some(name) if name.len() > limits::MAX_TIME_ZONE => {
                findings.push(too_long(format!("{path}.timeZone"), name, limits::MAX_TIME_ZONE));
                None
            }
            Some(name) => resolve_zone(name)
                .map_err(|e| findings.push(Finding::error(format!("{path}.timeZone"), e.to_string())))
                .ok(),
            None => zone.clone(),
        };
        if let (Some(schedule), Some(job_zone)) = (&schedule, &job_zone)
            && schedule.next_after(Timestamp::UNIX_EPOCH, job_zone, origin).is_none()
            && schedule.prev_at_or_before(Timestamp::UNIX_EPOCH, job_zone, origin).is_none()
        {
            findings.push(Finding::error(
                format!("{path}.schedule"),
                format!("{:?} can never fire: no instant matches it", job.schedule),
            ));
        }
        let job_ok = !findings[before..].iter().any(Finding::is_error);
        let schedule = schedule.and_then(|s| {
            days.schedule(&s)
                .map_err(|e| findings.push(Finding::error(format!("{path}.schedule"), e.to_string())))
                .ok()
        });
        if let (true, Some(schedule), Some(job_zone)) = (job_ok, schedule, job_zone) {
            jobs.push(JobPlan {
                name: job.name.clone(),
                schedule,
                zone: job_zone,
                // The simulator and the timeline read a size as replicas: a floor is the nearest.
                target_size: job.target_size.or(job.target_min_replicas).unwrap_or(0),
                run_once: job.run_once,
                days,
            });
            spec_index.push(i);
        }
    }

    let object_ok = !findings.iter().any(|f| f.is_error() && !f.path.starts_with("spec.jobs["));
    if !object_ok {
        jobs.clear();
        spec_index.clear();
    }
    Resolution {
        plan: Plan { jobs, exclusions, zone: zone.unwrap_or(TimeZone::UTC), origin, calendar },
        spec_index,
        findings,
    }
}

/// Warnings that depend on the moment of checking: a valid job with no fire after `now` (a past
/// `@date`) will never fire. `diurnal validate` and the controller both report these. The text
/// does not name `now`: the controller writes it into the status at every re-plan, and a status
/// that changed with the clock was written again on its own watch event, again and again.
pub fn future_findings(
    spec: &CronHorizontalPodAutoscalerSpec,
    resolution: &Resolution,
    now: Timestamp,
) -> Vec<Finding> {
    resolution
        .spec_index
        .iter()
        .enumerate()
        .filter(|(p, _)| resolution.plan.next_of(*p, now).is_none())
        .map(|(_, &i)| {
            Finding::warning(
                format!("spec.jobs[{i}].schedule"),
                format!("{:?} has no fire left: this job will not fire again", spec.jobs[i].schedule),
            )
        })
        .collect()
}

/// The object's zone: its own, or the default.
fn object_zone(
    spec: &CronHorizontalPodAutoscalerSpec,
    default_zone: &TimeZone,
    findings: &mut Vec<Finding>,
) -> Option<TimeZone> {
    match &spec.time_zone {
        Some(name) if name.len() > limits::MAX_TIME_ZONE => {
            findings.push(too_long("spec.timeZone", name, limits::MAX_TIME_ZONE));
            None
        }
        Some(name) => {
            resolve_zone(name).map_err(|e| findings.push(Finding::error("spec.timeZone", e.to_string()))).ok()
        }
        None => Some(default_zone.clone()),
    }
}

/// The exclusions that parse (the first [`limits::MAX_EXCLUDE_DATES`]).
fn exclusions(spec: &CronHorizontalPodAutoscalerSpec, findings: &mut Vec<Finding>) -> Vec<ExcludeDate> {
    if spec.exclude_dates.len() > limits::MAX_EXCLUDE_DATES {
        findings.push(too_many(
            "spec.excludeDates",
            "entries",
            spec.exclude_dates.len(),
            limits::MAX_EXCLUDE_DATES,
        ));
    }
    let mut exclusions = Vec::with_capacity(spec.exclude_dates.len().min(limits::MAX_EXCLUDE_DATES));
    for (k, entry) in spec.exclude_dates.iter().take(limits::MAX_EXCLUDE_DATES).enumerate() {
        let path = format!("spec.excludeDates[{k}]");
        if entry.len() > limits::MAX_EXCLUDE_DATE {
            findings.push(too_long(path, entry, limits::MAX_EXCLUDE_DATE));
            continue;
        }
        match ExcludeDate::parse(entry) {
            Ok(e) => exclusions.push(e),
            Err(e) => findings.push(Finding::error(path, e.to_string())),
        }
    }
    exclusions
}

/// The deadline's range and the number of jobs.
fn check_spec(spec: &CronHorizontalPodAutoscalerSpec, findings: &mut Vec<Finding>) {
    match spec.starting_deadline_seconds {
        Some(deadline) if deadline < 0 => findings.push(Finding::error(
            "spec.startingDeadlineSeconds",
            format!("must be zero or more seconds, got {deadline}"),
        )),
        Some(deadline) if deadline > limits::MAX_STARTING_DEADLINE_SECONDS => findings.push(Finding::error(
            "spec.startingDeadlineSeconds",
            format!(
                "at most {} seconds (a year; leave it unset to apply missed fires of any age), got {deadline}",
                limits::MAX_STARTING_DEADLINE_SECONDS
            ),
        )),
        _ => {}
    }
    if spec.jobs.is_empty() {
        findings.push(Finding::error("spec.jobs", "at least one job is required"));
    }
    if spec.jobs.len() > limits::MAX_JOBS {
        findings.push(too_many("spec.jobs", "jobs", spec.jobs.len(), limits::MAX_JOBS));
    }
}

/// A job's size: exactly one of `targetSize` or `targetMinReplicas`/`targetMaxReplicas` (HPA
/// targets only), in range, the floor not above the ceiling.
fn check_size(path: &str, job: &Job, targets_hpa: bool, findings: &mut Vec<Finding>) {
    let bounded = job.target_min_replicas.is_some() || job.target_max_replicas.is_some();
    match (job.target_size, bounded) {
        (Some(_), true) => findings.push(Finding::error(
            format!("{path}.targetSize"),
            "set either targetSize or targetMinReplicas/targetMaxReplicas, not both",
        )),
        (None, false) => findings.push(Finding::error(
            format!("{path}.targetSize"),
            if targets_hpa {
                "required (or targetMinReplicas and/or targetMaxReplicas)"
            } else {
                "required: the replicas to set at each fire"
            },
        )),
        (None, true) if !targets_hpa => findings.push(Finding::error(
            format!("{path}.targetMinReplicas"),
            "targetMinReplicas and targetMaxReplicas apply to a HorizontalPodAutoscaler target only \
             (to bound the HPA that manages a workload, target the HPA); use targetSize",
        )),
        _ => {}
    }
    for (field, value) in
        [("targetMinReplicas", job.target_min_replicas), ("targetMaxReplicas", job.target_max_replicas)]
    {
        match value {
            Some(v) if v < 1 => findings.push(Finding::error(
                format!("{path}.{field}"),
                format!("must be 1 or more replicas, got {v}"),
            )),
            Some(v) if v > limits::MAX_TARGET_SIZE => findings.push(Finding::error(
                format!("{path}.{field}"),
                format!("at most {} replicas, got {v}", limits::MAX_TARGET_SIZE),
            )),
            _ => {}
        }
    }
    if let (Some(min), Some(max)) = (job.target_min_replicas, job.target_max_replicas)
        && min > max
    {
        findings.push(Finding::error(
            format!("{path}.targetMinReplicas"),
            format!("{min} is above targetMaxReplicas {max}: the floor cannot exceed the ceiling"),
        ));
    }
    let Some(size) = job.target_size else { return };
    if size < 0 {
        findings.push(Finding::error(
            format!("{path}.targetSize"),
            format!("must be zero or more replicas, got {size}"),
        ));
    } else if size > limits::MAX_TARGET_SIZE {
        findings.push(Finding::error(
            format!("{path}.targetSize"),
            format!("at most {} replicas, got {size}", limits::MAX_TARGET_SIZE),
        ));
    } else if size == 0 && targets_hpa {
        findings.push(Finding::warning(
            format!("{path}.targetSize"),
            "0 on a HorizontalPodAutoscaler target: the HPA's workload is scaled to 0 (an HPA \
         does not act on a workload at 0 replicas) and the HPA is left as it is; the next \
         fire above 0 sets the floor and scales the workload up to it",
        ));
    }
}

/// `historyLimit`, and the HPA controls that only mean something for some targets.
fn check_controls(spec: &CronHorizontalPodAutoscalerSpec, findings: &mut Vec<Finding>) {
    if let Some(n) = spec.history_limit
        && n > limits::MAX_HISTORY_LIMIT
    {
        findings.push(Finding::error(
            "spec.historyLimit",
            format!("at most {} executions per job, got {n}", limits::MAX_HISTORY_LIMIT),
        ));
    }
    if spec.hpa_coordination == Some(false) && spec.scale_target_ref.kind == "HorizontalPodAutoscaler" {
        findings.push(Finding::error(
            "spec.hpaCoordination",
            "off applies to workload targets (scale the workload even when an HPA manages it); \
             an HPA target is always written through the HPA",
        ));
    }
    if spec.hpa_mode == Some(HpaMode::Exact) && spec.hpa_coordination == Some(false) {
        findings.push(Finding::warning(
            "spec.hpaMode",
            "Exact has no effect with hpaCoordination off: the workload is scaled to targetSize directly",
        ));
    }
}

/// A job's schedule, when it parses and fires no faster than `limits` allow (with the old
/// controller's reading as a warning).
fn job_schedule(path: &str, job: &Job, limits: &Limits, findings: &mut Vec<Finding>) -> Option<Schedule> {
    let schedule = if job.schedule.len() > limits::MAX_SCHEDULE {
        findings.push(too_long(format!("{path}.schedule"), &job.schedule, limits::MAX_SCHEDULE));
        None
    } else {
        Schedule::parse(&job.schedule)
            .map_err(|e| findings.push(Finding::error(format!("{path}.schedule"), e.to_string())))
            .ok()
    };
    if let Some(gap) = schedule.as_ref().and_then(Schedule::shortest_gap)
        && gap < limits.min_fire_interval
    {
        findings.push(Finding::error(
            format!("{path}.schedule"),
            format!(
                "{:?} fires {} apart at its closest; a job may fire at most once every {} (the \
                     controller's --min-fire-interval)",
                job.schedule,
                friendly(gap),
                friendly(limits.min_fire_interval)
            ),
        ));
    }
    if let Some(note) = schedule.as_ref().and_then(Schedule::legacy_reading) {
        findings.push(Finding::warning(format!("{path}.schedule"), note));
    }
    schedule
}

fn too_long(path: impl Into<String>, value: &str, max: usize) -> Finding {
    let head: String = value.chars().take(32).collect();
    Finding::error(path, format!("at most {max} characters, got {} ({head:?}...)", value.len()))
}

fn too_many(path: &str, what: &str, got: usize, max: usize) -> Finding {
    Finding::error(path, format!("at most {max} {what}, got {got}; the rest are not read"))
}

/// `90s`, `1m`, `1h30m` ([`jiff::SignedDuration`]'s friendly format).
fn friendly(d: jiff::SignedDuration) -> String {
    format!("{d:#}")
}

/// The shape of `scaleTargetRef`: a `group/version` (or `v1`), a kind, and a DNS-1123 name.
fn check_target(target: &ScaleTargetRef, findings: &mut Vec<Finding>) {
    let api = target.api_version.as_str();
    let api_ok = match api.split_once('/') {
        Some((group, version)) => is_dns_subdomain(group) && is_dns_label(version),
        None => is_dns_label(api),
    };
    if !api_ok {
        findings.push(Finding::error(
            "spec.scaleTargetRef.apiVersion",
            format!("{api:?} is not an API version (expected `group/version` such as `apps/v1`, or `v1`)"),
        ));
    }
    let kind = target.kind.as_str();
    if kind.len() > limits::MAX_KIND {
        findings.push(too_long("spec.scaleTargetRef.kind", kind, limits::MAX_KIND));
    } else if !kind.starts_with(|c: char| c.is_ascii_uppercase())
        || !kind.chars().all(|c| c.is_ascii_alphanumeric())
    {
        findings.push(Finding::error(
            "spec.scaleTargetRef.kind",
            format!("{kind:?} is not a kind (expected a CamelCase name such as `Deployment`)"),
        ));
    }
    if !is_dns_subdomain(&target.name) {
        findings.push(Finding::error(
            "spec.scaleTargetRef.name",
            format!(
                "{:?} is not a valid object name (lowercase letters, digits, '-' and '.', at most 253)",
                target.name
            ),
        ));
    }
    if kind == "HorizontalPodAutoscaler" && !api.starts_with("autoscaling/") {
        findings.push(Finding::error(
            "spec.scaleTargetRef.apiVersion",
            format!(
                "a HorizontalPodAutoscaler target must be in the `autoscaling` group (`autoscaling/v2`), got {api:?}"
            ),
        ));
    } else if let Some((removed_in, today)) = unserved_version(api, kind) {
        findings.push(Finding::warning(
            "spec.scaleTargetRef.apiVersion",
            format!(
                "{api} is not served since Kubernetes {removed_in}; the controller finds the {kind} by \
                 group and kind and uses {today}"
            ),
        ));
    }
}

/// For a version Kubernetes no longer serves `kind` at (common in manifests written for
/// kubernetes-cronhpa-controller): the release that removed it and the version used today.
fn unserved_version(api_version: &str, kind: &str) -> Option<(&'static str, &'static str)> {
    match (api_version, kind) {
        ("apps/v1beta1" | "apps/v1beta2", "Deployment" | "StatefulSet" | "ReplicaSet")
        | ("extensions/v1beta1", "Deployment" | "ReplicaSet") => Some(("1.16", "apps/v1")),
        ("autoscaling/v2beta1", "HorizontalPodAutoscaler") => Some(("1.25", "autoscaling/v2")),
        ("autoscaling/v2beta2", "HorizontalPodAutoscaler") => Some(("1.26", "autoscaling/v2")),
        _ => None,
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

pub(crate) fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

mod calendars;
use calendars::{calendar_refs, check_days};

#[cfg(test)]
mod tests;
