//! The controller's brain, with no I/O: an index of CronHPAs and one timer queue of their fires.
//!
//! The I/O shell feeds it watch events ([`Scheduler::upsert`], [`Scheduler::remove`]), the lead
//! ([`Scheduler::set_leading`]) and the clock, takes what is due ([`Scheduler::take_due`]),
//! applies it through the Kubernetes API and reports back ([`Scheduler::complete`]). Everything
//! the status subresource shows is rendered from here ([`Scheduler::status`]).
//!
//! Each job is an explicit state machine (`job.rs`); each object (`object.rs`) applies one fire
//! at a time; which of an object's due fires is applied is one pure rule (`take.rs`). The rules, as a table,
//! are in `docs/controller.md`, and `tests/model.rs` checks this module against that table
//! written as a reference model.

mod calendars;
mod job;
mod object;
mod status;
use object::{Object, applied_execution, inherit_history, recorded_by_name};
pub use status::MAX_STATUS_BYTES;
#[cfg(test)]
mod history_tests;
mod take;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use diurnal_api::limits::{MAX_EXCLUDE_DATES, MAX_HISTORY_ENTRIES, MAX_JOBS};
use diurnal_api::resolve::{history_limit, job_size};
use diurnal_api::{
    Changes, CronHorizontalPodAutoscaler, Execution, ExecutionResult, JobState, Limits, ScaleTargetRef,
};
use diurnal_core::scaling::Size;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub use job::DueKind;
use job::{Job, Owed, Phase, job_id, read_recorded};
pub use take::Settled;

/// Namespace and name of a CronHPA.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectKey {
    /// The key of an object (an object without a namespace is in `default`).
    pub fn of(obj: &CronHorizontalPodAutoscaler) -> Self {
        Self {
            namespace: obj.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
            name: obj.metadata.name.clone().unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A fire to apply now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The CronHPA.
    pub key: ObjectKey,
    /// The job's name.
    pub job: String,
    /// The job's plan id when the fire was taken; a completion for another id is stale.
    pub job_id: String,
    /// Identifies this take: a completion for another one is stale.
    pub token: u64,
    /// The scheduled instant (not the moment it is applied).
    pub fire_at: Timestamp,
    /// What to set: replicas (or the HPA's floor), exactly, or the HPA's floor and ceiling.
    pub size: Size,
    /// False when the object says `hpaCoordination: off`: the workload is scaled directly even
    /// when an HPA manages it.
    pub hpa_coordination: bool,
    /// The target to scale.
    pub target: ScaleTargetRef,
    /// Regular, catch-up or retry.
    pub kind: DueKind,
}

/// A due fire that was settled without a write, for Events, logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettledFire {
    /// The CronHPA.
    pub key: ObjectKey,
    /// The job's name.
    pub job: String,
    /// The fire's instant.
    pub fire_at: Timestamp,
    /// Regular, catch-up or retry.
    pub kind: DueKind,
    /// Why nothing was written.
    pub why: Settled,
}

/// What one [`Scheduler::take_due`] came to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Taken {
    /// Fires to apply, at most one per object.
    pub fires: Vec<Due>,
    /// Fires settled without a write.
    pub settled: Vec<SettledFire>,
}

/// What applying a fire came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The target is at the job's size (changed or already there); the message says which,
    /// the changes say what was read and written (for the history).
    Applied(String, Changes),
    /// The fire could not be applied; it will be retried.
    Failed(String),
}

/// What an [`Scheduler::upsert`] changed, for the shell's Events.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Upserted {
    /// Something was planned afresh (the status should be written).
    pub changed: bool,
    /// Jobs that became invalid (or whose reason changed), with the reason.
    pub invalid: Vec<(String, String)>,
    /// The object's validation warnings, when its generation is new to the scheduler.
    pub warnings: Vec<String>,
}

/// `spec.historyLimit`, less when many jobs share [`MAX_HISTORY_ENTRIES`]: with many jobs each
/// keeps fewer, so the object's history stays bounded.
fn per_job_history_limit(spec: &diurnal_api::CronHorizontalPodAutoscalerSpec) -> usize {
    history_limit(spec).min(MAX_HISTORY_ENTRIES / spec.jobs.len().clamp(1, MAX_JOBS))
}

/// The shortest interval between two drift checks of one `spec.enforce` object (the interval is
/// the controller's `--min-fire-interval`, at least this).
const MIN_CHECK_INTERVAL: SignedDuration = SignedDuration::from_secs(1);

/// A job's phase after its object is upserted: done stays done, an error makes it invalid (newly
/// so: reported), a suspended object's job is suspended, a carried job keeps its plan, and a new,
/// fixed or unsuspended one is to be planned afresh.
fn phase_on_upsert(
    job: &mut Job,
    error: Option<String>,
    suspended: bool,
    is_new: bool,
    report: &mut Upserted,
) -> Phase {
    let before = &job.phase;
    match (error, suspended, before) {
        _ if job.ran => Phase::Done,
        (Some(reason), _, _) => {
            if *before != Phase::Invalid(reason.clone()) {
                report.invalid.push((job.name.clone(), reason.clone()));
            }
            job.state = JobState::Failed;
            job.message.clone_from(&reason);
            Phase::Invalid(reason)
        }
        (None, true, _) => Phase::Suspended,
        (None, false, Phase::Planned { .. } | Phase::InFlight { .. }) if !is_new => before.clone(),
        (None, false, _) => {
            if matches!(before, Phase::Invalid(_)) {
                job.state = JobState::Submitted;
                job.message.clear();
            }
            Phase::Planned { next: None, owed: None }
        }
    }
}

/// The index and timer queue. See the module docs.
#[derive(Debug)]
pub struct Scheduler {
    default_zone: TimeZone,
    limits: Limits,
    leading: bool,
    objects: HashMap<ObjectKey, Object>,
    /// One live entry per object (its `queued_at`); others are dropped when they surface.
    queue: BinaryHeap<Reverse<(Timestamp, Arc<ObjectKey>)>>,
    next_token: u64,
    /// The Calendars of each namespace, resolved.
    calendars: HashMap<String, diurnal_api::Calendars>,
}

impl Scheduler {
    /// An empty scheduler; `default_zone` applies to CronHPAs that name none, `limits` to every
    /// object (a job firing more often than they allow is invalid).
    pub fn new(default_zone: TimeZone, limits: Limits) -> Self {
        Self {
            default_zone,
            limits,
            leading: false,
            objects: HashMap::new(),
            queue: BinaryHeap::new(),
            next_token: 0,
            calendars: HashMap::new(),
        }
    }

    /// Number of objects indexed.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether no object is indexed.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Number of queue entries (including ones invalidated but not yet dropped).
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Whether this process currently leads (takes fires).
    pub fn is_leading(&self) -> bool {
        self.leading
    }

    /// Keys of every indexed object.
    pub fn keys(&self) -> impl Iterator<Item = &ObjectKey> {
        self.objects.keys()
    }

    /// Whether the object is indexed.
    pub fn contains(&self, key: &ObjectKey) -> bool {
        self.objects.contains_key(key)
    }

    /// The UID the object was indexed with.
    pub fn uid(&self, key: &ObjectKey) -> Option<&str> {
        self.objects.get(key)?.uid.as_deref()
    }

    fn requeue(queue: &mut BinaryHeap<Reverse<(Timestamp, Arc<ObjectKey>)>>, object: &mut Object) {
        let wake = object.wake();
        if wake != object.queued_at {
            object.queued_at = wake;
            if let Some(at) = wake {
                queue.push(Reverse((at, object.key.clone())));
            }
        }
    }

    /// Adds or updates an object from a watch event. Jobs whose plan is unchanged keep their
    /// state; changed, new, fixed and unsuspended jobs are planned from `now` (an unsuspended
    /// object also catches up its latest missed fire). A different UID under the same name is a
    /// new object: nothing of the old one's state carries over.
    pub fn upsert(&mut self, obj: &CronHorizontalPodAutoscaler, now: Timestamp) -> Upserted {
        let key = ObjectKey::of(obj);
        let mut old = self.objects.remove(&key).filter(|o| o.uid == obj.metadata.uid);
        let (resolution, warnings, calendar_digest, calendars_changed) = self.resolve(obj, old.as_ref(), now);
        let spec = &obj.spec;
        let (conditions, histories) = recorded_by_name(obj);
        let limit = per_job_history_limit(spec);
        let suspended = spec.suspend.unwrap_or(false);
        let was_suspended = old.as_ref().is_some_and(|o| o.suspended);
        let new_generation = old.as_ref().is_none_or(|o| o.generation != obj.metadata.generation);
        let mut report = Upserted {
            changed: old.is_none() || was_suspended != suspended,
            warnings: if new_generation { warnings.clone() } else { Vec::new() },
            ..Upserted::default()
        };

        // An oversized object (stored before the schema bounded it) is invalid as a whole; only
        // the jobs the resolution read are kept, so it costs no more than the largest valid one.
        let mut jobs = Vec::with_capacity(spec.jobs.len().min(MAX_JOBS));
        for (i, spec_job) in spec.jobs.iter().take(MAX_JOBS).enumerate() {
            let zone_name = spec_job.time_zone.as_deref().or(spec.time_zone.as_deref()).map(str::to_owned);
            let id = job_id(spec_job, zone_name.as_deref());
            let recorded = conditions.get(spec_job.name.as_str()).map(|c| read_recorded(spec_job, &id, c));
            let carried = old.as_mut().and_then(|o| {
                let pos = o.jobs.iter().position(|j| j.name == spec_job.name && j.id == id)?;
                Some(o.jobs.swap_remove(pos))
            });
            let is_new = carried.is_none();
            let size = job_size(spec, spec_job);
            let mut job = carried.unwrap_or_else(|| {
                let mut job = Job::new(spec_job, id, zone_name, recorded.unwrap_or_default(), size);
                inherit_history(&mut job, old.as_mut(), &histories, limit);
                job
            });
            job.refresh(spec_job, spec.enforce, size, limit);
            // What another leader recorded counts too: never take a fire it already applied.
            job.last_applied = job.last_applied.max(recorded.and_then(|r| r.last_applied));
            job.plan_index = resolution.spec_index.iter().position(|&s| s == i);
            let before = job.phase.clone();
            job.phase = phase_on_upsert(&mut job, resolution.job_error(i), suspended, is_new, &mut report);
            let replan = is_new || calendars_changed || before != job.phase;
            let fresh = matches!(job.phase, Phase::Planned { .. }) && replan;
            report.changed |= is_new || before.name() != job.phase.name();
            jobs.push((job, fresh));
        }

        let enforces = jobs.iter().any(|(j, _)| j.enforce);
        let mut object = Object {
            key: old.as_ref().map_or_else(|| Arc::new(key.clone()), |o| o.key.clone()),
            uid: obj.metadata.uid.clone(),
            generation: obj.metadata.generation,
            created: obj.metadata.creation_timestamp.as_ref().map(|t| t.0),
            target: spec.scale_target_ref.clone(),
            exclude_dates: spec.exclude_dates.iter().take(MAX_EXCLUDE_DATES).cloned().collect(),
            plan: resolution.plan,
            jobs: Vec::new(),
            suspended,
            deadline: spec.starting_deadline_seconds.map(SignedDuration::from_secs),
            warnings,
            in_flight: old.as_ref().and_then(|o| o.in_flight),
            last_applied: old
                .as_ref()
                .and_then(|o| o.last_applied)
                .max(jobs.iter().filter_map(|(j, _)| j.last_applied).max()),
            queued_at: old.as_ref().and_then(|o| o.queued_at),
            next_check: old.as_ref().and_then(|o| o.next_check).filter(|_| enforces),
            last_result: old.and_then(|o| o.last_result),
            source: calendars::source_of(obj),
            calendar_digest,
            history_limit: limit,
            hpa_coordination: spec.hpa_coordination != Some(false),
            enforces,
            check_every: self.limits.min_fire_interval.max(MIN_CHECK_INTERVAL),
        };
        for (mut job, fresh) in jobs {
            if fresh {
                job.phase = Phase::Planned { next: object.plan_next(&job, now), owed: None };
            }
            object.jobs.push(job);
        }
        if self.leading {
            object.owe_on_upsert(now, was_suspended && !suspended, new_generation);
        }
        if self.leading {
            Self::requeue(&mut self.queue, &mut object);
        } else {
            object.queued_at = None;
        }
        self.objects.insert(key, object);
        report
    }

    /// Forgets an object: it never fires again, and a completion for it is ignored.
    pub fn remove(&mut self, key: &ObjectKey) {
        self.objects.remove(key);
    }

    /// Starts or stops taking fires. Either way, fires under way are forgotten (the shell
    /// cancels them). On start, every object is planned afresh from `now` and owes its missed
    /// fires (see [`Object::catch_up`]).
    pub fn set_leading(&mut self, leading: bool, now: Timestamp) {
        self.leading = leading;
        self.queue.clear();
        for object in self.objects.values_mut() {
            object.in_flight = None;
            object.queued_at = None;
            object.replan(now);
            if leading {
                if !object.suspended {
                    object.catch_up(now);
                }
                if object.enforces && !object.suspended {
                    object.hold(now);
                }
                Self::requeue(&mut self.queue, object);
            }
        }
    }

    /// When the earliest queued object is due (`None`: nothing queued).
    pub fn next_wakeup(&mut self) -> Option<Timestamp> {
        while let Some(Reverse((at, key))) = self.queue.peek() {
            if self.objects.get(&**key).is_some_and(|o| o.queued_at == Some(*at)) {
                return Some(*at);
            }
            self.queue.pop();
        }
        None
    }

    /// Records what applying `due` came to. A completion for a deleted or re-created object, or
    /// for a take that lost the lead since, is ignored; one for an edited job still frees the
    /// object and records an applied fire.
    pub fn complete(&mut self, due: &Due, outcome: Outcome, now: Timestamp) {
        let Some(object) = self.objects.get_mut(&due.key) else { return };
        if object.in_flight != Some(due.token) {
            return;
        }
        object.in_flight = None;
        let deadline = object.deadline;
        let limit = object.history_limit;
        let name = match &outcome {
            Outcome::Applied(..) => "Succeed",
            Outcome::Failed(_) => "Failed",
        };
        let applied = matches!(outcome, Outcome::Applied(..));
        // A drift check (`spec.enforce`) that found the target as it should be changes nothing
        // the status shows (beyond `lastScheduleTime`), so it costs no status write.
        let quiet =
            due.kind == DueKind::Enforce && matches!(&outcome, Outcome::Applied(_, c) if !c.changed());
        if !quiet {
            object.last_result = Some(format!("{name} {}", due.job));
        }
        let mut execution = Execution {
            schedule_time: Time(due.fire_at),
            execution_time: Time(now),
            kind: due.kind.execution_kind(),
            result: ExecutionResult::Failed,
            changes: Changes::default(),
            message: String::new(),
        };
        let position = object.jobs.iter().position(|j| j.name == due.job && j.id == due.job_id);
        if let Some(j) = position {
            let job = &mut object.jobs[j];
            if !quiet {
                job.last_probe = Some(now);
            }
            let in_flight = match job.phase {
                Phase::InFlight { fire_at, next, kind } if fire_at == due.fire_at => Some((next, kind)),
                _ => None,
            };
            match (outcome, in_flight) {
                (Outcome::Applied(message, changes), in_flight) => {
                    execution.result = if changes.changed() {
                        ExecutionResult::Scaled
                    } else {
                        ExecutionResult::AlreadyAtSize
                    };
                    execution.changes = changes;
                    job.applied(due.fire_at);
                    if !quiet {
                        object.last_result = Some(format!("Succeed {}: {message}", job.name));
                        job.message = message;
                    }
                    if job.run_once {
                        job.finish_run_once();
                    } else if let Some((next, _)) = in_flight {
                        job.phase = Phase::Planned { next, owed: None };
                    }
                }
                (Outcome::Failed(message), Some((next, kind))) => {
                    job.state = JobState::Failed;
                    let attempt = kind.next_attempt();
                    let at = now + retry_delay(attempt);
                    let owed = if deadline.is_some_and(|d| at.duration_since(due.fire_at) > d) {
                        job.message = format!("{message}; not retried: past startingDeadlineSeconds");
                        None
                    } else {
                        job.message = format!("{message}; will retry");
                        Some(Owed { fire_at: due.fire_at, at, kind: DueKind::Retry(attempt) })
                    };
                    job.phase = Phase::Planned { next, owed };
                }
                (Outcome::Failed(message), None) => {
                    job.state = JobState::Failed;
                    job.message = message;
                }
            }
            execution.message.clone_from(&job.message);
            if !quiet {
                job.record(execution, limit);
            }
        } else if let Some(job) = object.jobs.iter_mut().find(|j| j.name == due.job) {
            // Edited while the fire was in flight: the history is the name's, so it is kept.
            execution = match outcome {
                Outcome::Applied(message, changes) => {
                    applied_execution(execution, format!("{message} (the job was edited meanwhile)"), changes)
                }
                Outcome::Failed(message) => Execution {
                    message: format!("{message} (the job was edited meanwhile: not retried)"),
                    ..execution
                },
            };
            job.record(execution, limit);
        }
        // Even for a job edited or removed meanwhile: the target is at that fire's size now.
        if applied {
            object.applied(due.fire_at);
        }
        Self::requeue(&mut self.queue, object);
    }

    /// Targets of objects due in `(after, until]`, once each: the shell reads their size ahead
    /// of time so that at the instant only the write is left. Changes nothing.
    pub fn upcoming(&self, after: Timestamp, until: Timestamp) -> Vec<(ObjectKey, ScaleTargetRef)> {
        if !self.leading {
            return Vec::new();
        }
        self.objects
            .values()
            .filter(|o| o.queued_at.is_some_and(|at| at > after && at <= until))
            .map(|o| ((*o.key).clone(), o.target.clone()))
            .collect()
    }

    /// Jobs of an object whose content is invalid, with the reason.
    pub fn invalid_jobs(&self, key: &ObjectKey) -> Vec<(String, String)> {
        self.objects
            .get(key)
            .map(|o| {
                o.jobs
                    .iter()
                    .filter_map(|j| match &j.phase {
                        Phase::Invalid(reason) => Some((j.name.clone(), reason.clone())),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Each job's phase name (`planned`, `in flight`, `retrying`, `done`, `invalid`,
    /// `suspended`), for tests and debugging.
    pub fn phases(&self, key: &ObjectKey) -> Vec<(String, &'static str)> {
        self.objects
            .get(key)
            .map(|o| o.jobs.iter().map(|j| (j.name.clone(), j.phase.name())).collect())
            .unwrap_or_default()
    }
}

/// 1 s, doubling per attempt, capped at 30 s (`attempt` counts from 2 for the first retry).
pub fn retry_delay(attempt: u32) -> SignedDuration {
    let secs = 1_i64 << attempt.saturating_sub(2).min(5);
    SignedDuration::from_secs(secs.min(30))
}
