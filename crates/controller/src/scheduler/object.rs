//! One indexed CronHPA: its jobs, its plan, and what it owes when it is planned afresh (catch-up
//! after an outage or unsuspend, the period in force with `spec.enforce`), plus the pieces of an
//! upsert that read the object's recorded status (conditions and history).

use std::collections::HashMap;
use std::sync::Arc;

use diurnal_api::{
    Changes, CronHorizontalPodAutoscaler, Execution, ExecutionResult, JobCondition, JobHistory, Resolution,
    ScaleTargetRef,
};
use diurnal_core::Plan;
use jiff::{SignedDuration, Timestamp};

use super::ObjectKey;
use super::job::{DueKind, Job, Owed, Phase};
use super::take::latest_not_excluded;

#[derive(Debug, Clone)]
pub(super) struct Object {
    /// Shared by this object's queue entries.
    pub(super) key: Arc<ObjectKey>,
    pub(super) uid: Option<String>,
    pub(super) generation: Option<i64>,
    pub(super) created: Option<Timestamp>,
    pub(super) target: ScaleTargetRef,
    pub(super) exclude_dates: Vec<String>,
    pub(super) plan: Plan,
    pub(super) jobs: Vec<Job>,
    pub(super) suspended: bool,
    pub(super) deadline: Option<SignedDuration>,
    pub(super) warnings: Vec<String>,
    /// The take whose fire is being applied: the object takes nothing else until it completes.
    pub(super) in_flight: Option<u64>,
    /// The newest fire this object applied (of any job, including jobs since removed).
    pub(super) last_applied: Option<Timestamp>,
    /// The instant of this object's live queue entry.
    pub(super) queued_at: Option<Timestamp>,
    pub(super) last_result: Option<String>,
    /// Executions kept per job: `spec.historyLimit`, less when many jobs share
    /// [`MAX_HISTORY_ENTRIES`].
    pub(super) history_limit: usize,
    /// `spec.hpaCoordination` is not off.
    pub(super) hpa_coordination: bool,
    /// Some job is held (`jobs[].enforce`, else `spec.enforce`): the object checks for drift.
    pub(super) enforces: bool,
    /// How often such an object checks its target for drift.
    pub(super) check_every: SignedDuration,
    /// When such an object next checks its target for drift (the period in force owed again,
    /// if its job is held; the fire writes only if the target differs).
    pub(super) next_check: Option<Timestamp>,
    /// The object as last seen, kept only when it names calendars: a Calendar edit re-resolves
    /// it (the watch does not send it again).
    pub(super) source: Option<Arc<CronHorizontalPodAutoscaler>>,
    /// What its calendar references resolved to ([`super::calendars::digest`]): a change
    /// re-plans.
    pub(super) calendar_digest: u64,
}

impl Object {
    pub(super) fn wake(&self) -> Option<Timestamp> {
        if self.in_flight.is_some() {
            return None;
        }
        let check = self.next_check.filter(|_| self.enforces && !self.suspended);
        self.jobs.iter().filter_map(Job::wake).chain(check).min()
    }

    pub(super) fn next_fire(&self, p: Option<usize>, after: Timestamp) -> Option<Timestamp> {
        self.plan.next_of(p?, after)
    }

    /// A job's next fire planned at `now`: after `now`, and never at or before the newest fire
    /// the object applied — after the clock steps back, nothing is applied twice, and no older
    /// fire undoes a newer one.
    pub(super) fn plan_next(&self, job: &Job, now: Timestamp) -> Option<Timestamp> {
        let floor = self.last_applied.max(job.last_applied).map_or(now, |last| last.max(now));
        self.next_fire(job.plan_index, floor)
    }

    /// Records that `fire_at` was applied: nothing at or before it fires again. (A job planned
    /// afresh while the fire was in flight — edited back, fixed, unsuspended — or after the
    /// clock stepped back may point before it.)
    pub(super) fn applied(&mut self, fire_at: Timestamp) {
        self.last_applied = self.last_applied.max(Some(fire_at));
        for j in 0..self.jobs.len() {
            if let Phase::Planned { next, owed } = self.jobs[j].phase {
                let owed = owed.filter(|o| o.fire_at > fire_at);
                // Fires after it that are due already stay due.
                let next = if next.is_some_and(|n| n <= fire_at) {
                    self.next_fire(self.jobs[j].plan_index, fire_at)
                } else {
                    next
                };
                self.jobs[j].phase = Phase::Planned { next, owed };
            }
        }
    }

    /// Every runnable job planned afresh from `now`, owing nothing.
    pub(super) fn replan(&mut self, now: Timestamp) {
        for j in 0..self.jobs.len() {
            if matches!(self.jobs[j].phase, Phase::Planned { .. } | Phase::InFlight { .. }) {
                let next = self.plan_next(&self.jobs[j], now);
                self.jobs[j].phase = Phase::Planned { next, owed: None };
            }
        }
    }

    /// What an upsert owes while leading: as a CronJob, an unsuspended object its latest fire
    /// missed while suspended; with a job held, a new spec (or an unsuspended one) the period
    /// in force, if its job is held.
    pub(super) fn owe_on_upsert(&mut self, now: Timestamp, unsuspended: bool, new_generation: bool) {
        if unsuspended {
            self.catch_up(now);
        }
        if self.enforces && !self.suspended && (new_generation || unsuspended) {
            self.hold(now);
        }
    }

    /// `enforce`: schedules the next drift check and, if the job that owns it is held (its own
    /// `enforce`, else the object's), owes the period in force — the latest non-excluded fire
    /// at or before `now` of any job that can fire (same instant: the last job) — again, even
    /// if it was applied before. A retry or catch-up already owed for that very fire is kept.
    /// The period is found among all jobs, held or not: a later fire of a job that is not held
    /// ends the held period, and holding it then would undo that fire.
    pub(super) fn hold(&mut self, now: Timestamp) {
        self.next_check = now.checked_add(self.check_every).ok();
        let not_before = now.checked_sub(HOLD_LOOKBACK).unwrap_or(Timestamp::MIN);
        let mut in_force: Option<(Timestamp, usize)> = None;
        for (j, job) in self.jobs.iter().enumerate() {
            let (Phase::Planned { .. }, Some(p), false) = (&job.phase, job.plan_index, job.suspended) else {
                continue;
            };
            if let Some(fire_at) = latest_not_excluded(&self.plan, p, now, not_before) {
                in_force = in_force.max(Some((fire_at, j)));
            }
        }
        let Some((fire_at, j)) = in_force.filter(|&(_, j)| self.jobs[j].enforce) else { return };
        if let Phase::Planned { owed, .. } = &mut self.jobs[j].phase
            && owed.is_none_or(|o| o.fire_at < fire_at)
        {
            *owed = Some(Owed { fire_at, at: now, kind: DueKind::Enforce });
        }
    }

    /// Owes each job its latest non-excluded fire in (newest applied fire or creation, now]:
    /// the take then applies the latest of them (the others are superseded) if within the
    /// deadline.
    pub(super) fn catch_up(&mut self, now: Timestamp) {
        let recorded = self.jobs.iter().filter_map(|j| j.last_applied).max().max(self.last_applied);
        let Some(not_before) = recorded.or(self.created) else { return };
        for job in &mut self.jobs {
            let Phase::Planned { owed, .. } = &mut job.phase else { continue };
            let Some(p) = job.plan_index else { continue };
            // A suspended job's missed fires would be settled as suspended anyway.
            if job.suspended {
                continue;
            }
            if let Some(fire_at) = latest_not_excluded(&self.plan, p, now, not_before) {
                *owed = Some(Owed { fire_at, at: now, kind: DueKind::CatchUp });
            }
        }
    }
}

/// Gives a job seen for the first time (or edited) the history of its name: an edited job's
/// from memory, else what the status recorded (after a restart), bounded by `limit`.
pub(super) fn inherit_history(
    job: &mut Job,
    old: Option<&mut Object>,
    recorded: &HashMap<&str, &JobHistory>,
    limit: usize,
) {
    if let Some(before) = old.and_then(|o| o.jobs.iter_mut().find(|j| j.name == job.name)) {
        job.history = std::mem::take(&mut before.history);
        job.trim_history(limit);
        return;
    }
    for execution in recorded.get(job.name.as_str()).map(|h| h.executions.as_slice()).unwrap_or_default() {
        job.record(execution.clone(), limit);
    }
}

/// What the object's status recorded per job name: its condition and its history.
pub(super) type ByName<'a> = (HashMap<&'a str, &'a JobCondition>, HashMap<&'a str, &'a JobHistory>);

pub(super) fn recorded_by_name(obj: &CronHorizontalPodAutoscaler) -> ByName<'_> {
    let status = obj.status.as_ref();
    (
        status.iter().flat_map(|s| s.conditions.iter()).map(|c| (c.name.as_str(), c)).collect(),
        status.iter().flat_map(|s| s.job_histories.iter()).map(|h| (h.name.as_str(), h)).collect(),
    )
}

/// The object's validation warnings, including those that depend on `now`.
pub(super) fn warnings_of(
    obj: &CronHorizontalPodAutoscaler,
    resolution: &Resolution,
    now: Timestamp,
) -> Vec<String> {
    let mut warnings: Vec<String> =
        resolution.findings.iter().filter(|f| !f.is_error()).map(ToString::to_string).collect();
    warnings.extend(diurnal_api::future_findings(&obj.spec, resolution, now).iter().map(ToString::to_string));
    warnings
}

/// The history entry of an applied fire: scaled, or already at size.
pub(super) fn applied_execution(mut execution: Execution, message: String, changes: Changes) -> Execution {
    execution.result =
        if changes.changed() { ExecutionResult::Scaled } else { ExecutionResult::AlreadyAtSize };
    execution.changes = changes;
    execution.message = message;
    execution
}

/// How far back [`Object::hold`] looks for the period in force (a yearly schedule's last fire).
const HOLD_LOOKBACK: SignedDuration = SignedDuration::from_hours(24 * 400);
