//! The controller's brain, with no I/O: an index of CronHPAs and one timer queue of their fires.
//!
//! The I/O shell feeds it watch events (`upsert`, `remove`) and the clock, takes the fires that
//! are due (`take_due`), applies them through the Kubernetes API, and reports back (`complete`).
//! Everything the status subresource shows is rendered from here (`status`), so tests can drive a
//! whole day of fires with a fake clock and assert on what would be patched.
//!
//! Guarantees:
//! - A deleted object never fires again; an edited job is re-planned from the edit, other jobs
//!   keep their place in the queue.
//! - A fire at or before a job's recorded `lastScheduleTime` is never taken again.
//! - On taking the lead (start-up, or a standby winning the lease), each object's latest fire
//!   that fell due while nobody led — after its newest recorded fire, or its creation — is taken
//!   once, if within `startingDeadlineSeconds`.
//! - A failed fire is retried after 1 s, doubling to 30 s, until it succeeds or a later fire of
//!   the same object is taken.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use diurnal_api::{
    CronHorizontalPodAutoscaler, CronHorizontalPodAutoscalerStatus, JobCondition, JobState, ScaleTargetRef,
    resolve_object,
};
use diurnal_core::Plan;
use diurnal_core::exclusion::is_excluded;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sha2::{Digest, Sha256};

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

/// Why a fire is being taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueKind {
    /// Its instant has come.
    Regular,
    /// It fell due while no controller was leading.
    CatchUp,
    /// An earlier attempt failed; this is attempt number `n` (2 or more).
    Retry(u32),
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
    /// The scheduled instant (not the moment it is applied).
    pub fire_at: Timestamp,
    /// Replicas (or HPA floor) to set.
    pub target_size: i32,
    /// The target to scale.
    pub target: ScaleTargetRef,
    /// The day is excluded: record it, do not scale.
    pub excluded: bool,
    /// Regular, catch-up or retry.
    pub kind: DueKind,
}

/// What applying a fire came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The target is at the job's size (changed or already there); the message says which.
    Applied(String),
    /// Not scaled because the day is excluded.
    Excluded(String),
    /// The fire could not be applied; it will be retried.
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    at: Timestamp,
    fire_at: Timestamp,
    attempt: u32,
    catch_up: bool,
}

#[derive(Debug, Clone)]
struct Job {
    name: String,
    id: String,
    schedule: String,
    target_size: i32,
    run_once: bool,
    zone_name: Option<String>,
    /// Index into the object's plan; `None` when the job's content is invalid.
    plan_index: Option<usize>,
    invalid: Option<String>,
    next: Option<Timestamp>,
    pending: Option<Pending>,
    last_schedule: Option<Timestamp>,
    state: JobState,
    message: String,
    last_probe: Option<Timestamp>,
    done: bool,
}

#[derive(Debug, Clone)]
struct Object {
    /// Shared by this object's queue entries.
    key: Arc<ObjectKey>,
    generation: Option<i64>,
    created: Option<Timestamp>,
    target: ScaleTargetRef,
    exclude_dates: Vec<String>,
    plan: Plan,
    jobs: Vec<Job>,
    suspended: bool,
    deadline: Option<SignedDuration>,
    /// The newest regular fire taken; retries of older fires are superseded by it.
    latest_taken: Option<Timestamp>,
    last_result: Option<String>,
}

impl Job {
    /// A job seen for the first time (or edited). When the status recorded the same plan, its
    /// outcome carries over: a restarted controller does not rerun a finished `runOnce` job.
    fn planned(
        job: &diurnal_api::Job,
        id: String,
        zone_name: Option<String>,
        plan_index: Option<usize>,
        recorded: Option<&JobCondition>,
    ) -> Self {
        let same_plan = recorded.filter(|c| c.job_id == id);
        Job {
            name: job.name.clone(),
            id,
            schedule: job.schedule.clone(),
            target_size: job.target_size,
            run_once: job.run_once,
            zone_name,
            plan_index,
            invalid: None,
            next: None,
            pending: None,
            last_schedule: None,
            state: same_plan.map_or(JobState::Submitted, |c| c.state),
            message: same_plan.map(|c| c.message.clone()).unwrap_or_default(),
            last_probe: recorded.and_then(|c| c.last_probe_time.as_ref()).map(|t| t.0),
            done: job.run_once && same_plan.is_some_and(|c| c.state == JobState::Succeed),
        }
    }
}

/// The index and timer queue. See the module docs.
#[derive(Debug)]
pub struct Scheduler {
    default_zone: TimeZone,
    leading: bool,
    objects: HashMap<ObjectKey, Object>,
    /// Lazily invalidated: an entry counts only while its job still points at that instant.
    /// Entries name the job by its index in the object's spec order; an entry counts only while
    /// that job's next fire (or retry) is at that instant, so a reorder cannot misfire a job.
    queue: BinaryHeap<Reverse<(Timestamp, Arc<ObjectKey>, usize)>>,
}

/// A stable id for a job's plan: it changes exactly when something that decides its fires does.
fn job_id(job: &diurnal_api::Job, zone: Option<&str>) -> String {
    let mut h = Sha256::new();
    for part in [
        job.name.as_str(),
        job.schedule.as_str(),
        &job.target_size.to_string(),
        &job.run_once.to_string(),
        zone.unwrap_or(""),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize()[..8].iter().fold(String::with_capacity(16), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn later(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    a.max(b)
}

impl Scheduler {
    /// An empty scheduler; `default_zone` applies to CronHPAs that name none.
    pub fn new(default_zone: TimeZone) -> Self {
        Self { default_zone, leading: false, objects: HashMap::new(), queue: BinaryHeap::new() }
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

    fn push(&mut self, at: Timestamp, key: &Arc<ObjectKey>, job: usize) {
        self.queue.push(Reverse((at, key.clone(), job)));
    }

    /// Adds or updates an object from a watch event. Jobs whose plan is unchanged keep their
    /// place; changed and new jobs are planned from `now`. Returns whether anything was
    /// re-planned (the status should then be written).
    pub fn upsert(&mut self, obj: &CronHorizontalPodAutoscaler, now: Timestamp) -> bool {
        let key = ObjectKey::of(obj);
        let resolution = resolve_object(obj, &self.default_zone);
        let spec = &obj.spec;
        let object_zone = spec.time_zone.as_deref();
        let conditions: HashMap<&str, &JobCondition> =
            obj.status.iter().flat_map(|s| s.conditions.iter()).map(|c| (c.name.as_str(), c)).collect();
        let suspended = spec.suspend.unwrap_or(false);
        let mut old = self.objects.remove(&key);
        let was_suspended = old.as_ref().is_some_and(|o| o.suspended);
        let mut changed = old.is_none() || was_suspended != suspended;

        let mut jobs = Vec::with_capacity(spec.jobs.len());
        for (i, job) in spec.jobs.iter().enumerate() {
            let zone_name = job.time_zone.as_deref().or(object_zone).map(str::to_owned);
            let id = job_id(job, zone_name.as_deref());
            let plan_index = resolution.spec_index.iter().position(|&s| s == i);
            let recorded = conditions.get(job.name.as_str()).copied();
            let recorded_last = recorded.and_then(|c| c.last_schedule_time.as_ref()).map(|t| t.0);
            let carried = old.as_mut().and_then(|o| {
                let pos = o.jobs.iter().position(|j| j.name == job.name && j.id == id)?;
                let kept = o.jobs[pos].clone();
                // Emptied, not removed: the other jobs keep their old positions.
                o.jobs[pos].id.clear();
                Some((pos, kept))
            });
            // Carried at the same position: its queue entries still name it.
            let is_carried = carried.as_ref().is_some_and(|(pos, _)| *pos == i);
            let mut entry = if let Some((pos, mut kept)) = carried {
                kept.plan_index = plan_index;
                if pos != i {
                    // Moved in the spec: same plan, but it needs queue entries at its new index.
                    kept.next = None;
                    kept.pending = None;
                }
                kept
            } else {
                changed = true;
                Job::planned(job, id, zone_name, plan_index, recorded)
            };
            // What another leader recorded counts too: never take a fire it already applied.
            entry.last_schedule = later(entry.last_schedule, recorded_last);
            entry.invalid = resolution.job_error(i);
            if let Some(invalid) = &entry.invalid {
                entry.state = JobState::Failed;
                entry.message.clone_from(invalid);
                entry.next = None;
                entry.pending = None;
            }
            jobs.push((entry, is_carried));
        }
        let (jobs, carried): (Vec<Job>, Vec<bool>) = jobs.into_iter().unzip();

        let shared_key = old.as_ref().map_or_else(|| Arc::new(key.clone()), |o| o.key.clone());
        let mut object = Object {
            key: shared_key.clone(),
            generation: obj.metadata.generation,
            created: obj.metadata.creation_timestamp.as_ref().map(|t| t.0),
            target: spec.scale_target_ref.clone(),
            exclude_dates: spec.exclude_dates.clone(),
            plan: resolution.plan,
            jobs,
            suspended,
            deadline: spec.starting_deadline_seconds.map(SignedDuration::from_secs),
            latest_taken: old.as_ref().and_then(|o| o.latest_taken),
            last_result: old.and_then(|o| o.last_result),
        };
        // Queue entries of carried jobs are still in the queue; only re-planned jobs get new ones.
        let mut replanned = vec![false; object.jobs.len()];
        if suspended {
            for job in &mut object.jobs {
                job.next = None;
                job.pending = None;
            }
        } else if self.leading {
            for j in 0..object.jobs.len() {
                if !carried[j] || was_suspended {
                    Self::plan_job(&mut object, j, now);
                    replanned[j] = true;
                }
            }
        }
        for (j, job) in object.jobs.iter().enumerate().filter(|(j, _)| replanned[*j]) {
            for at in job.next.iter().chain(job.pending.iter().map(|p| &p.at)) {
                self.queue.push(Reverse((*at, shared_key.clone(), j)));
            }
        }
        self.objects.insert(key, object);
        changed
    }

    /// Forgets an object: it never fires again.
    pub fn remove(&mut self, key: &ObjectKey) {
        self.objects.remove(key);
    }

    /// Starts or stops taking fires. On start, every object is planned afresh from `now` and its
    /// missed fire, if any, is queued as a catch-up.
    pub fn set_leading(&mut self, leading: bool, now: Timestamp) {
        self.leading = leading;
        self.queue.clear();
        let keys: Vec<ObjectKey> = self.objects.keys().cloned().collect();
        for key in keys {
            let object = self.objects.get_mut(&key).expect("listed");
            for job in &mut object.jobs {
                job.next = None;
                job.pending = None;
            }
            if leading && !object.suspended {
                for j in 0..object.jobs.len() {
                    Self::plan_job(object, j, now);
                }
                Self::plan_catch_up(object, now);
            }
            let shared_key = object.key.clone();
            let entries: Vec<(Timestamp, usize)> = object
                .jobs
                .iter()
                .enumerate()
                .flat_map(|(i, j)| {
                    j.next.iter().chain(j.pending.iter().map(|p| &p.at)).map(move |at| (*at, i))
                })
                .collect();
            for (at, job) in entries {
                self.push(at, &shared_key, job);
            }
        }
    }

    fn plan_job(object: &mut Object, j: usize, now: Timestamp) {
        let job = &mut object.jobs[j];
        job.next = match (job.plan_index, job.done) {
            (Some(p), false) => {
                let plan_job = &object.plan.jobs[p];
                plan_job.schedule.next_after(now, &plan_job.zone, object.plan.origin)
            }
            _ => None,
        };
    }

    /// Queues the object's latest fire in (newest recorded fire or creation, now], if any and
    /// within the deadline.
    fn plan_catch_up(object: &mut Object, now: Timestamp) {
        let recorded = object.jobs.iter().filter_map(|j| j.last_schedule).max();
        let Some(not_before) = recorded.or(object.created) else {
            return;
        };
        let latest = object
            .jobs
            .iter()
            .enumerate()
            .filter(|(_, j)| !j.done)
            .filter_map(|(i, j)| {
                let p = j.plan_index?;
                object.plan.last_fire_at_or_before(p, now, not_before).map(|at| (at, i))
            })
            .max();
        let Some((fire_at, j)) = latest else { return };
        if object.deadline.is_some_and(|d| now.duration_since(fire_at) > d) {
            return;
        }
        object.jobs[j].pending = Some(Pending { at: now, fire_at, attempt: 1, catch_up: true });
    }

    /// When the earliest queued fire is due (`None`: nothing queued).
    pub fn next_wakeup(&mut self) -> Option<Timestamp> {
        while let Some(Reverse((at, key, job))) = self.queue.peek() {
            if self.is_live(*at, key, *job) {
                return Some(*at);
            }
            self.queue.pop();
        }
        None
    }

    fn is_live(&self, at: Timestamp, key: &ObjectKey, job: usize) -> bool {
        self.objects
            .get(key)
            .and_then(|o| o.jobs.get(job))
            .is_some_and(|j| j.next == Some(at) || j.pending.is_some_and(|p| p.at == at))
    }

    /// Takes every fire due at or before `now`, in instant order. Nothing while not leading.
    pub fn take_due(&mut self, now: Timestamp) -> Vec<Due> {
        let mut due = Vec::new();
        if !self.leading {
            return due;
        }
        while let Some(Reverse((at, _, _))) = self.queue.peek() {
            if *at > now {
                break;
            }
            let Reverse((at, key, j)) = self.queue.pop().expect("peeked");
            let Some(object) = self.objects.get_mut(&*key) else {
                continue;
            };
            if j >= object.jobs.len() {
                continue;
            }
            let (fire_at, kind) = if object.jobs[j].next == Some(at) {
                Self::plan_job(object, j, at);
                if let Some(next) = object.jobs[j].next {
                    self.queue.push(Reverse((next, key.clone(), j)));
                }
                object.latest_taken = later(object.latest_taken, Some(at));
                // A regular fire supersedes retries of older fires of the same object.
                for job in &mut object.jobs {
                    if job.pending.is_some_and(|p| p.fire_at < at) {
                        job.pending = None;
                    }
                }
                (at, DueKind::Regular)
            } else if let Some(p) = object.jobs[j].pending.filter(|p| p.at == at) {
                object.jobs[j].pending = None;
                let kind =
                    if p.catch_up && p.attempt == 1 { DueKind::CatchUp } else { DueKind::Retry(p.attempt) };
                (p.fire_at, kind)
            } else {
                continue;
            };
            let job = &object.jobs[j];
            if job.last_schedule.is_some_and(|last| fire_at <= last) {
                continue;
            }
            let plan_job = &object.plan.jobs[job.plan_index.expect("queued jobs are valid")];
            due.push(Due {
                key: (*key).clone(),
                job: job.name.clone(),
                job_id: job.id.clone(),
                fire_at,
                target_size: plan_job.target_size,
                target: object.target.clone(),
                excluded: is_excluded(&object.plan.exclusions, fire_at, &object.plan.zone),
                kind,
            });
        }
        due
    }

    /// Records what applying `due` came to. A completion for a deleted object or an edited job
    /// is ignored.
    pub fn complete(&mut self, due: &Due, outcome: Outcome, now: Timestamp) {
        let Some(object) = self.objects.get_mut(&due.key) else {
            return;
        };
        let Some(j) = object.jobs.iter().position(|j| j.name == due.job && j.id == due.job_id) else {
            return;
        };
        let key = object.key.clone();
        let job = &mut object.jobs[j];
        job.last_probe = Some(now);
        match outcome {
            Outcome::Applied(message) => {
                job.last_schedule = later(job.last_schedule, Some(due.fire_at));
                job.state = JobState::Succeed;
                object.last_result = Some(format!("Succeed {}: {message}", job.name));
                job.message = message;
                if job.run_once {
                    job.done = true;
                    job.next = None;
                    job.pending = None;
                }
            }
            Outcome::Excluded(message) => {
                job.last_schedule = later(job.last_schedule, Some(due.fire_at));
                object.last_result = Some(format!("Excluded {}", job.name));
                job.message = message;
            }
            Outcome::Failed(message) => {
                job.state = JobState::Failed;
                object.last_result = Some(format!("Failed {}", job.name));
                job.message = message;
                let superseded = object.latest_taken.is_some_and(|t| t > due.fire_at);
                if !superseded && !object.suspended {
                    let attempt = match due.kind {
                        DueKind::Retry(n) => n + 1,
                        DueKind::Regular | DueKind::CatchUp => 2,
                    };
                    let at = now + retry_delay(attempt);
                    job.pending = Some(Pending { at, fire_at: due.fire_at, attempt, catch_up: false });
                    self.push(at, &key, j);
                }
            }
        }
    }

    /// The status subresource as it should read now, or `None` for an unknown object.
    pub fn status(&self, key: &ObjectKey) -> Option<CronHorizontalPodAutoscalerStatus> {
        let object = self.objects.get(key)?;
        let conditions: Vec<JobCondition> = object
            .jobs
            .iter()
            .map(|job| {
                let next = match (job.next, job.pending.map(|p| p.at)) {
                    _ if object.suspended => None,
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let message = if object.suspended && job.invalid.is_none() {
                    "suspended: spec.suspend is true".to_owned()
                } else if job.message.is_empty() && next.is_none() && job.invalid.is_none() {
                    "no further fires".to_owned()
                } else {
                    job.message.clone()
                };
                JobCondition {
                    name: job.name.clone(),
                    job_id: job.id.clone(),
                    schedule: job.schedule.clone(),
                    target_size: job.target_size,
                    run_once: job.run_once,
                    state: job.state,
                    last_probe_time: job.last_probe.map(Time),
                    message,
                    last_schedule_time: job.last_schedule.map(Time),
                    next_schedule_time: next.map(Time),
                    time_zone: job.zone_name.clone(),
                }
            })
            .collect();
        let next = conditions.iter().filter_map(|c| c.next_schedule_time.as_ref().map(|t| t.0)).min();
        Some(CronHorizontalPodAutoscalerStatus {
            observed_generation: object.generation,
            scale_target_ref: Some(object.target.clone()),
            exclude_dates: object.exclude_dates.clone(),
            conditions,
            next_schedule_time: next.map(Time),
            last_result: object.last_result.clone(),
        })
    }

    /// Targets of regular fires due in `(after, until]`, once each: the shell reads their size
    /// ahead of time so that at the instant only the write is left. Changes nothing.
    pub fn upcoming(&self, after: Timestamp, until: Timestamp) -> Vec<(ObjectKey, ScaleTargetRef)> {
        let mut seen = std::collections::HashSet::new();
        let mut targets = Vec::new();
        if !self.leading {
            return targets;
        }
        for Reverse((at, key, j)) in &self.queue {
            if *at <= after || *at > until {
                continue;
            }
            let Some(object) = self.objects.get(&**key) else { continue };
            let live = object.jobs.get(*j).is_some_and(|job| job.next == Some(*at));
            if live && seen.insert(key.clone()) {
                targets.push(((**key).clone(), object.target.clone()));
            }
        }
        targets
    }

    /// Jobs of an object whose content is invalid, with the reason.
    pub fn invalid_jobs(&self, key: &ObjectKey) -> Vec<(String, String)> {
        self.objects
            .get(key)
            .map(|o| o.jobs.iter().filter_map(|j| Some((j.name.clone(), j.invalid.clone()?))).collect())
            .unwrap_or_default()
    }

    /// Keys of every indexed object.
    pub fn keys(&self) -> impl Iterator<Item = &ObjectKey> {
        self.objects.keys()
    }
}

/// 1 s, doubling per attempt, capped at 30 s (`attempt` counts from 2 for the first retry).
pub fn retry_delay(attempt: u32) -> SignedDuration {
    let secs = 1_i64 << attempt.saturating_sub(2).min(5);
    SignedDuration::from_secs(secs.min(30))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn cronhpa(jobs: &serde_json::Value, extra: &serde_json::Value) -> CronHorizontalPodAutoscaler {
        let mut spec = json!({
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "jobs": jobs,
        });
        spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        serde_json::from_value(json!({
            "apiVersion": "autoscaling.alibabacloud.com/v1beta1",
            "kind": "CronHorizontalPodAutoscaler",
            "metadata": {"name": "c", "namespace": "ns", "generation": 1, "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": spec,
        }))
        .unwrap()
    }

    fn updown() -> CronHorizontalPodAutoscaler {
        cronhpa(
            &json!([
                {"name": "up", "schedule": "0 * * * * *", "targetSize": 5},
                {"name": "down", "schedule": "30 * * * * *", "targetSize": 1},
            ]),
            &json!({}),
        )
    }

    fn leading_scheduler(now: Timestamp) -> Scheduler {
        let mut s = Scheduler::new(TimeZone::UTC);
        s.set_leading(true, now);
        s
    }

    fn fires(due: &[Due]) -> Vec<(String, String, i32)> {
        due.iter().map(|d| (d.job.clone(), d.fire_at.to_string(), d.target_size)).collect()
    }

    fn applied(s: &mut Scheduler, due: &[Due], now: Timestamp) {
        for d in due {
            s.complete(d, Outcome::Applied("ok".into()), now);
        }
    }

    #[test]
    fn fires_come_out_in_order_and_each_only_once() {
        let start = t("2026-03-02T10:00:05Z");
        let mut s = leading_scheduler(start);
        s.upsert(&updown(), start);
        assert_eq!(s.next_wakeup(), Some(t("2026-03-02T10:00:30Z")));
        assert!(s.take_due(t("2026-03-02T10:00:29Z")).is_empty());
        let due = s.take_due(t("2026-03-02T10:01:00Z"));
        assert_eq!(
            fires(&due),
            [
                ("down".into(), "2026-03-02T10:00:30Z".into(), 1),
                ("up".into(), "2026-03-02T10:01:00Z".into(), 5)
            ]
        );
        assert_eq!(due[0].kind, DueKind::Regular);
        applied(&mut s, &due, t("2026-03-02T10:01:00Z"));
        assert!(s.take_due(t("2026-03-02T10:01:00Z")).is_empty());
        assert_eq!(s.next_wakeup(), Some(t("2026-03-02T10:01:30Z")));
    }

    #[test]
    fn reordering_jobs_keeps_each_jobs_fires_exactly_once() {
        let start = t("2026-03-02T10:00:05Z");
        let mut s = leading_scheduler(start);
        let obj = updown();
        s.upsert(&obj, start);
        let mut reordered = obj.clone();
        reordered.spec.jobs.reverse();
        assert!(!s.upsert(&reordered, t("2026-03-02T10:00:06Z")), "same plans, only moved");
        let due = s.take_due(t("2026-03-02T10:01:30Z"));
        assert_eq!(
            fires(&due),
            [
                ("down".into(), "2026-03-02T10:00:30Z".into(), 1),
                ("up".into(), "2026-03-02T10:01:00Z".into(), 5),
                ("down".into(), "2026-03-02T10:01:30Z".into(), 1),
            ]
        );
    }

    #[test]
    fn upcoming_lists_each_target_about_to_fire_once_without_taking_anything() {
        let start = t("2026-03-02T10:00:05Z");
        let mut s = leading_scheduler(start);
        s.upsert(&updown(), start);
        let soon = s.upcoming(start, t("2026-03-02T10:00:31Z"));
        assert_eq!(soon.len(), 1);
        assert_eq!(soon[0].1.name, "web");
        assert!(s.upcoming(t("2026-03-02T10:00:31Z"), t("2026-03-02T10:00:59Z")).is_empty());
        assert_eq!(s.take_due(t("2026-03-02T10:00:30Z")).len(), 1, "nothing was taken by looking ahead");
    }

    #[test]
    fn nothing_fires_while_not_leading() {
        let now = t("2026-03-02T10:00:05Z");
        let mut s = Scheduler::new(TimeZone::UTC);
        s.upsert(&updown(), now);
        assert!(s.take_due(t("2026-03-02T11:00:00Z")).is_empty());
    }

    #[test]
    fn a_deleted_object_never_fires_again() {
        let now = t("2026-03-02T10:00:05Z");
        let mut s = leading_scheduler(now);
        let obj = updown();
        s.upsert(&obj, now);
        s.remove(&ObjectKey::of(&obj));
        assert!(s.take_due(t("2026-03-02T12:00:00Z")).is_empty());
        assert_eq!(s.next_wakeup(), None);
    }

    #[test]
    fn an_edit_replans_only_the_changed_job_from_the_moment_of_the_edit() {
        let start = t("2026-03-02T10:00:05Z");
        let mut s = leading_scheduler(start);
        s.upsert(&updown(), start);
        let edit_at = t("2026-03-02T10:00:10Z");
        let mut edited = updown();
        edited.spec.jobs[0].schedule = "15 * * * * *".into();
        assert!(s.upsert(&edited, edit_at));
        let due = s.take_due(t("2026-03-02T10:00:40Z"));
        assert_eq!(
            fires(&due),
            [
                ("up".into(), "2026-03-02T10:00:15Z".into(), 5),
                ("down".into(), "2026-03-02T10:00:30Z".into(), 1)
            ]
        );
        // Re-delivering the same object (e.g. our own status write) re-plans nothing and does
        // not grow the queue.
        let queued = s.queue_len();
        assert!(!s.upsert(&edited, t("2026-03-02T10:00:41Z")));
        assert_eq!(s.queue_len(), queued);
    }

    #[test]
    fn a_missed_fire_is_caught_up_once_on_taking_the_lead() {
        let mut obj = updown();
        obj.status = Some(CronHorizontalPodAutoscalerStatus {
            conditions: vec![JobCondition {
                name: "up".into(),
                job_id: String::new(),
                schedule: String::new(),
                target_size: 5,
                run_once: false,
                state: JobState::Succeed,
                last_probe_time: None,
                message: String::new(),
                last_schedule_time: Some(Time(t("2026-03-02T10:00:00Z"))),
                next_schedule_time: None,
                time_zone: None,
            }],
            ..Default::default()
        });
        let now = t("2026-03-02T10:05:10Z");
        let mut s = Scheduler::new(TimeZone::UTC);
        s.upsert(&obj, now);
        s.set_leading(true, now);
        let due = s.take_due(now);
        // Only the latest missed fire (10:05:00 up), not the nine before it.
        assert_eq!(fires(&due), [("up".into(), "2026-03-02T10:05:00Z".into(), 5)]);
        assert_eq!(due[0].kind, DueKind::CatchUp);
        applied(&mut s, &due, now);
        // Losing and regaining the lead does not apply it again.
        s.set_leading(false, now);
        s.set_leading(true, now);
        assert!(s.take_due(now).is_empty());
    }

    #[test]
    fn a_catch_up_older_than_the_starting_deadline_is_dropped() {
        let mut obj = updown();
        obj.spec.starting_deadline_seconds = Some(5);
        let mut s = Scheduler::new(TimeZone::UTC);
        let now = t("2026-03-02T10:05:10Z");
        s.upsert(&obj, now);
        s.set_leading(true, now);
        assert!(s.take_due(now).is_empty());
    }

    #[test]
    fn failures_are_retried_with_backoff_until_a_later_fire_supersedes_them() {
        let start = t("2026-03-02T10:00:05Z");
        let mut s = leading_scheduler(start);
        s.upsert(&updown(), start);
        let due = s.take_due(t("2026-03-02T10:00:30Z"));
        s.complete(&due[0], Outcome::Failed("conflict".into()), t("2026-03-02T10:00:30Z"));
        let status = s.status(&due[0].key).unwrap();
        assert_eq!(status.conditions[1].state, JobState::Failed);
        assert_eq!(status.conditions[1].message, "conflict");
        let retry = s.take_due(t("2026-03-02T10:00:31Z"));
        assert_eq!(fires(&retry), [("down".into(), "2026-03-02T10:00:30Z".into(), 1)]);
        assert_eq!(retry[0].kind, DueKind::Retry(2));
        s.complete(&retry[0], Outcome::Failed("conflict".into()), t("2026-03-02T10:00:31Z"));
        assert!(s.take_due(t("2026-03-02T10:00:32Z")).is_empty(), "second retry waits 2 s");
        let retry = s.take_due(t("2026-03-02T10:00:33Z"));
        assert_eq!(retry[0].kind, DueKind::Retry(3));
        s.complete(&retry[0], Outcome::Failed("conflict".into()), t("2026-03-02T10:00:33Z"));
        // The third retry waits 4 s; then the object's 10:01:00 fire supersedes any further one.
        let retry = s.take_due(t("2026-03-02T10:00:37Z"));
        assert_eq!(retry[0].kind, DueKind::Retry(4));
        let later = s.take_due(t("2026-03-02T10:01:00Z"));
        assert_eq!(fires(&later), [("up".into(), "2026-03-02T10:01:00Z".into(), 5)]);
        s.complete(&retry[0], Outcome::Failed("conflict".into()), t("2026-03-02T10:01:01Z"));
        assert!(s.take_due(t("2026-03-02T10:01:29Z")).is_empty(), "superseded: no more retries");
    }

    #[test]
    fn retry_delays_double_from_one_second_to_thirty() {
        let secs: Vec<i64> = (2..=9).map(|a| retry_delay(a).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn a_run_once_job_is_done_after_its_first_success_even_across_restarts() {
        let obj = cronhpa(
            &json!([{"name": "once", "schedule": "0 * * * * *", "targetSize": 2, "runOnce": true}]),
            &json!({}),
        );
        let start = t("2026-03-02T10:00:05Z");
        let mut s = leading_scheduler(start);
        s.upsert(&obj, start);
        let due = s.take_due(t("2026-03-02T10:01:00Z"));
        assert_eq!(due.len(), 1);
        applied(&mut s, &due, t("2026-03-02T10:01:00Z"));
        assert!(s.take_due(t("2026-03-02T10:05:00Z")).is_empty());
        // A new process reads the status the first one wrote.
        let mut written = obj.clone();
        written.status = s.status(&due[0].key);
        let mut fresh = Scheduler::new(TimeZone::UTC);
        fresh.upsert(&written, t("2026-03-02T10:05:00Z"));
        fresh.set_leading(true, t("2026-03-02T10:05:00Z"));
        assert!(fresh.take_due(t("2026-03-02T11:00:00Z")).is_empty());
    }

    #[test]
    fn fires_on_excluded_days_are_marked() {
        let obj = cronhpa(
            &json!([{"name": "up", "schedule": "0 0 9 * * *", "targetSize": 3}]),
            &json!({"timeZone": "Asia/Shanghai", "excludeDates": ["2026-03-03"]}),
        );
        let start = t("2026-03-02T00:00:00Z");
        let mut s = leading_scheduler(start);
        s.upsert(&obj, start);
        let due = s.take_due(t("2026-03-04T02:00:00Z"));
        let flags: Vec<(String, bool)> = due.iter().map(|d| (d.fire_at.to_string(), d.excluded)).collect();
        assert_eq!(
            flags,
            [
                ("2026-03-02T01:00:00Z".into(), false),
                ("2026-03-03T01:00:00Z".into(), true),
                ("2026-03-04T01:00:00Z".into(), false)
            ]
        );
    }

    #[test]
    fn invalid_jobs_fail_in_status_while_valid_ones_fire() {
        let obj = cronhpa(
            &json!([
                {"name": "bad", "schedule": "0 0 25 * * *", "targetSize": 3},
                {"name": "zone", "schedule": "@hourly", "targetSize": 3, "timeZone": "Nowhere/City"},
                {"name": "good", "schedule": "@hourly", "targetSize": 4},
            ]),
            &json!({}),
        );
        let start = t("2026-03-02T10:30:00Z");
        let mut s = leading_scheduler(start);
        s.upsert(&obj, start);
        let due = s.take_due(t("2026-03-02T11:00:00Z"));
        assert_eq!(fires(&due), [("good".into(), "2026-03-02T11:00:00Z".into(), 4)]);
        let status = s.status(&ObjectKey::of(&obj)).unwrap();
        assert_eq!(status.conditions[0].state, JobState::Failed);
        assert!(
            status.conditions[0].message.contains("spec.jobs[0].schedule"),
            "{}",
            status.conditions[0].message
        );
        assert!(status.conditions[1].message.contains("Nowhere/City"));
        assert_eq!(status.conditions[2].state, JobState::Submitted);
    }

    #[test]
    fn a_suspended_object_does_not_fire_and_says_so() {
        let mut obj = updown();
        obj.spec.suspend = Some(true);
        let start = t("2026-03-02T10:00:05Z");
        let mut s = leading_scheduler(start);
        s.upsert(&obj, start);
        assert!(s.take_due(t("2026-03-02T11:00:00Z")).is_empty());
        let status = s.status(&ObjectKey::of(&obj)).unwrap();
        assert!(status.conditions.iter().all(|c| c.message.starts_with("suspended")));
        assert_eq!(status.next_schedule_time, None);
        obj.spec.suspend = Some(false);
        s.upsert(&obj, t("2026-03-02T11:00:05Z"));
        assert_eq!(s.next_wakeup(), Some(t("2026-03-02T11:00:30Z")));
    }

    #[test]
    fn status_lists_every_job_with_its_next_and_last_fire() {
        let start = t("2026-03-02T10:00:05Z");
        let mut s = leading_scheduler(start);
        let obj = updown();
        s.upsert(&obj, start);
        let due = s.take_due(t("2026-03-02T10:00:30Z"));
        applied(&mut s, &due, t("2026-03-02T10:00:30Z"));
        let status = s.status(&ObjectKey::of(&obj)).unwrap();
        assert_eq!(status.observed_generation, Some(1));
        let down = &status.conditions[1];
        assert_eq!(down.state, JobState::Succeed);
        assert_eq!(down.last_schedule_time, Some(Time(t("2026-03-02T10:00:30Z"))));
        assert_eq!(down.next_schedule_time, Some(Time(t("2026-03-02T10:01:30Z"))));
        assert_eq!(status.next_schedule_time, Some(Time(t("2026-03-02T10:01:00Z"))));
        assert_eq!(status.last_result.as_deref(), Some("Succeed down: ok"));
        assert_eq!(down.job_id.len(), 16);
    }
}
