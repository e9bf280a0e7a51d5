//! One job's state machine (see the rules table in `docs/controller.md`).
//!
//! ```text
//!             upsert: content invalid            upsert: fixed
//!   any ─────────────────────────────▶ Invalid ───────────────▶ Planned
//!   any ── upsert: object suspended ─▶ Suspended ── unsuspend ─▶ Planned (+ catch-up)
//!   Planned ── enforce: create / edit / unsuspend / lead / drift check ─▶ Planned, the period
//!              in force owed (when it is this job's and this job is held)
//!   Planned ── take: this job's fire stands ─▶ InFlight
//!   InFlight ── complete Applied ─▶ Planned (runOnce: Done)
//!   InFlight ── complete Failed ──▶ Planned with a retry owed (none past the deadline)
//!   InFlight ── lead lost ────────▶ Planned, nothing owed (the next leader catches up)
//!   Planned ── take: superseded / excluded / missed / job suspended ─▶ Planned
//!                                                    (runOnce superseded: Done)
//! ```
//!
//! Every take that completes (applied, failed, or settled without a write) appends one
//! [`Execution`] to the job's bounded history.
//!
//! Nothing here does I/O or reads a clock: every transition takes `now`.

use std::collections::VecDeque;

use diurnal_api::limits::{MAX_HISTORY_MESSAGE, cut};
use diurnal_api::{Execution, ExecutionKind, JobCondition, JobState};
use diurnal_core::scaling::Size;
use jiff::Timestamp;
use sha2::{Digest, Sha256};

/// Why a fire is being taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueKind {
    /// Its instant has come.
    Regular,
    /// It fell due while no controller was leading (or while the object was suspended).
    CatchUp,
    /// An earlier attempt failed; this is attempt number `n` (2 or more).
    Retry(u32),
    /// The period in force, applied again (`spec.enforce`): on create, edit, unsuspend and on
    /// taking the lead.
    Enforce,
}

impl DueKind {
    /// As the history names it.
    pub(super) fn execution_kind(self) -> ExecutionKind {
        match self {
            Self::Regular => ExecutionKind::Regular,
            Self::CatchUp => ExecutionKind::CatchUp,
            Self::Retry(_) => ExecutionKind::Retry,
            Self::Enforce => ExecutionKind::Enforce,
        }
    }

    /// The attempt number a failure of this attempt retries with.
    pub(super) fn next_attempt(self) -> u32 {
        match self {
            Self::Retry(n) => n.saturating_add(1),
            Self::Regular | Self::CatchUp | Self::Enforce => 2,
        }
    }
}

/// A fire a job owes: a catch-up (due at once) or a retry (due at `at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Owed {
    /// The scheduled instant of the fire owed.
    pub fire_at: Timestamp,
    /// When it is due.
    pub at: Timestamp,
    /// `CatchUp` or `Retry(n)`.
    pub kind: DueKind,
}

/// A job's explicit state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Phase {
    /// Its own content or an object-wide field is invalid: nothing is planned.
    Invalid(String),
    /// The object is suspended.
    Suspended,
    /// A `runOnce` job whose fire was applied (or superseded): never fires again.
    Done,
    /// Waiting for `next` (`None`: the schedule has no further fire) and for what it owes.
    Planned { next: Option<Timestamp>, owed: Option<Owed> },
    /// One of its fires is being applied; `next` is its following fire.
    InFlight { fire_at: Timestamp, kind: DueKind, next: Option<Timestamp> },
}

impl Phase {
    /// The phase's short name, as the status and the model test name it.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid",
            Self::Suspended => "suspended",
            Self::Done => "done",
            Self::Planned { owed: Some(o), .. } if matches!(o.kind, DueKind::Retry(_)) => "retrying",
            Self::Planned { .. } => "planned",
            Self::InFlight { .. } => "in flight",
        }
    }
}

/// One job of an indexed object.
// `run_once`, `suspended` and `enforce` are three independent fields of the spec and `ran` a
// fact about the past: no state enum would say more than the four flags do.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone)]
pub(super) struct Job {
    pub name: String,
    /// Changes exactly when something that decides the job's fires changes.
    pub id: String,
    pub schedule: String,
    pub target_size: i32,
    pub target_min_replicas: Option<i32>,
    pub target_max_replicas: Option<i32>,
    /// What a fire asks of the target (`targetSize` in the object's mode, or the bounds).
    pub size: Size,
    pub run_once: bool,
    /// `jobs[].suspend`: its fires are settled without a write (recorded as suspended).
    pub suspended: bool,
    /// Its own `enforce`, else the object's: the period its latest fire started is held while
    /// it is the period in force. Not part of its plan id (holding does not move a fire).
    pub enforce: bool,
    pub zone_name: Option<String>,
    /// Index into the object's plan; `None` when the job cannot run.
    pub plan_index: Option<usize>,
    pub phase: Phase,
    /// A `runOnce` job whose fire was applied (or superseded): `Done` from then on, whatever
    /// else happens to the object (suspended, made invalid and fixed).
    pub ran: bool,
    /// The newest fire applied (`lastScheduleTime`): catch-up starts after it.
    pub last_applied: Option<Timestamp>,
    /// Outcome of the last fire, as the old controller reports it.
    pub state: JobState,
    pub message: String,
    pub last_probe: Option<Timestamp>,
    /// The newest executions, oldest first, at most the object's limit.
    pub history: VecDeque<Execution>,
}

/// A stable id for a job's plan: it changes exactly when something that decides its fires does.
/// `suspend` and `enforce` decide what a fire does, not when it comes, so they are not part of
/// it: toggling them neither re-plans the job nor resets its history.
pub(super) fn job_id(job: &diurnal_api::Job, zone: Option<&str>) -> String {
    let mut h = Sha256::new();
    for part in [
        job.name.as_str(),
        job.schedule.as_str(),
        &job.target_size.unwrap_or(0).to_string(),
        &job.run_once.to_string(),
        zone.unwrap_or(""),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    // Only when set, so that every job written before `days` existed keeps its id.
    match job.days {
        None | Some(diurnal_api::JobDays::All) => {}
        Some(days) => h.update(format!("days={days:?}").as_bytes()),
    }
    // Only hashed when set, so the ids of jobs written before these fields existed stay as
    // they were (an upgrade is not an edit).
    for (tag, bound) in [("min", job.target_min_replicas), ("max", job.target_max_replicas)] {
        if let Some(v) = bound {
            h.update(format!("{tag}={v}").as_bytes());
            h.update([0]);
        }
    }
    h.finalize()[..8].iter().fold(String::with_capacity(16), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Whether a recorded `jobId` is one of diurnal's (16 lowercase hex digits). Anything else — the
/// old controller writes UUIDs — is history from kubernetes-cronhpa-controller.
fn is_diurnal_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What a status entry written before (by diurnal, or by kubernetes-cronhpa-controller) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Recorded {
    /// The newest fire known to have been applied.
    pub last_applied: Option<Timestamp>,
    /// The entry describes the same plan and says it succeeded: a `runOnce` job is done.
    pub succeeded_same_plan: bool,
    /// When the entry was last written.
    pub last_probe: Option<Timestamp>,
}

/// Reads a recorded status entry as history for `job` (whose plan id is `id`).
///
/// diurnal's own entries carry `lastScheduleTime`. The old controller's carry none: its
/// `Succeed` entry with a `lastProbeTime` is a fire it applied at that time, and its entry is for
/// the same plan when `schedule`, `targetSize` and `runOnce` match (its `jobId` is a UUID).
pub(super) fn read_recorded(job: &diurnal_api::Job, id: &str, c: &JobCondition) -> Recorded {
    let legacy = !is_diurnal_id(&c.job_id);
    let probe = c.last_probe_time.as_ref().map(|t| t.0);
    let last_applied = c
        .last_schedule_time
        .as_ref()
        .map(|t| t.0)
        .or_else(|| (legacy && c.state == JobState::Succeed).then_some(probe).flatten());
    let same_plan = if legacy {
        c.schedule == job.schedule && Some(c.target_size) == job.target_size && c.run_once == job.run_once
    } else {
        c.job_id == id
    };
    Recorded {
        last_applied,
        succeeded_same_plan: same_plan && c.state == JobState::Succeed,
        last_probe: probe,
    }
}

impl Job {
    /// A job seen for the first time (or edited), before its phase is decided.
    pub(super) fn new(
        job: &diurnal_api::Job,
        id: String,
        zone_name: Option<String>,
        recorded: Recorded,
        size: Size,
    ) -> Self {
        let done = job.run_once && recorded.succeeded_same_plan;
        Job {
            name: job.name.clone(),
            id,
            schedule: job.schedule.clone(),
            target_size: job.target_size.unwrap_or(0),
            target_min_replicas: job.target_min_replicas,
            target_max_replicas: job.target_max_replicas,
            size,
            run_once: job.run_once,
            suspended: job.suspend.unwrap_or(false),
            enforce: job.enforce.unwrap_or(false),
            zone_name,
            plan_index: None,
            phase: if done { Phase::Done } else { Phase::Planned { next: None, owed: None } },
            ran: done,
            last_applied: recorded.last_applied,
            state: if recorded.succeeded_same_plan { JobState::Succeed } else { JobState::Submitted },
            message: String::new(),
            last_probe: recorded.last_probe,
            history: VecDeque::new(),
        }
    }

    /// Appends an execution (its message cut to [`MAX_HISTORY_MESSAGE`]), dropping the oldest
    /// beyond `limit`.
    pub(super) fn record(&mut self, mut execution: Execution, limit: usize) {
        execution.message = cut(&execution.message, MAX_HISTORY_MESSAGE);
        self.history.push_back(execution);
        self.trim_history(limit);
    }

    /// Takes in what may change without making the job another plan: its suspension, whether
    /// it is held (its own `enforce`, else the object's `object_enforce`), its size (the
    /// object's `hpaMode`), the history limit.
    pub(super) fn refresh(
        &mut self,
        job: &diurnal_api::Job,
        object_enforce: Option<bool>,
        size: Size,
        limit: usize,
    ) {
        self.suspended = job.suspend.unwrap_or(false);
        self.enforce = job.enforce.or(object_enforce).unwrap_or(false);
        self.size = size;
        self.trim_history(limit);
    }

    /// Drops the oldest executions beyond `limit`.
    pub(super) fn trim_history(&mut self, limit: usize) {
        while self.history.len() > limit {
            self.history.pop_front();
        }
    }

    /// The job's next fire or owed fire, whichever is first: when the object must wake for it.
    pub(super) fn wake(&self) -> Option<Timestamp> {
        match &self.phase {
            Phase::Planned { next, owed } => match (next, owed.map(|o| o.at)) {
                (Some(a), Some(b)) => Some((*a).min(b)),
                (a, b) => a.or(b),
            },
            _ => None,
        }
    }

    /// What `nextScheduleTime` shows.
    pub(super) fn shown_next(&self) -> Option<Timestamp> {
        match &self.phase {
            Phase::InFlight { next, .. } => *next,
            _ => self.wake(),
        }
    }

    /// Records an applied fire.
    pub(super) fn applied(&mut self, fire_at: Timestamp) {
        self.last_applied = self.last_applied.max(Some(fire_at));
        self.state = JobState::Succeed;
    }

    /// A `runOnce` job's fire is consumed: it is done for good.
    pub(super) fn finish_run_once(&mut self) {
        self.ran = true;
        self.state = JobState::Succeed;
        self.phase = Phase::Done;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn spec_job(run_once: bool) -> diurnal_api::Job {
        diurnal_api::Job {
            name: "once".into(),
            schedule: "@date 2026-01-01 09:00:00".into(),
            target_size: Some(3),
            run_once,
            ..diurnal_api::Job::default()
        }
    }

    fn condition(job_id: &str, state: JobState) -> JobCondition {
        JobCondition {
            name: "once".into(),
            job_id: job_id.into(),
            schedule: "@date 2026-01-01 09:00:00".into(),
            target_size: 3,
            run_once: true,
            state,
            last_probe_time: Some(Time("2026-01-01T09:00:01Z".parse().unwrap())),
            message: String::new(),
            ..JobCondition::default()
        }
    }

    #[test]
    fn the_old_controllers_succeed_entry_is_a_fire_applied_at_its_probe_time() {
        let c = condition("4b5c1f0e-5b2a-4c43-9a0e-0f1f7b1d2a3c", JobState::Succeed);
        let r = read_recorded(&spec_job(true), "0123456789abcdef", &c);
        assert_eq!(r.last_applied, Some("2026-01-01T09:00:01Z".parse().unwrap()));
        assert!(r.succeeded_same_plan, "same schedule, size and runOnce");
        let mut edited = spec_job(true);
        edited.target_size = Some(4);
        assert!(!read_recorded(&edited, "0123456789abcdef", &c).succeeded_same_plan);
    }

    #[test]
    fn ids_of_jobs_without_bounds_are_what_they_were_before_bounds_existed_and_enforce_is_no_part() {
        // Pinned: an upgrade must not make every job look edited.
        assert_eq!(job_id(&spec_job(false), None), "7147c3ba70f1c13d");
        // Holding a period moves no fire: enforce is not part of the plan.
        let mut held = spec_job(false);
        held.enforce = Some(true);
        assert_eq!(job_id(&held, None), "7147c3ba70f1c13d");
        let mut bounded = spec_job(false);
        bounded.target_size = None;
        bounded.target_max_replicas = Some(3);
        assert_ne!(job_id(&bounded, None), job_id(&spec_job(false), None));
    }

    #[test]
    fn a_submitted_entry_of_the_old_controller_is_no_fire() {
        let c = condition("4b5c1f0e-5b2a-4c43-9a0e-0f1f7b1d2a3c", JobState::Submitted);
        let r = read_recorded(&spec_job(true), "0123456789abcdef", &c);
        assert_eq!(r.last_applied, None);
        assert!(!r.succeeded_same_plan);
    }

    #[test]
    fn diurnals_own_entry_needs_its_id_and_its_last_schedule_time() {
        let mut c = condition("0123456789abcdef", JobState::Succeed);
        let r = read_recorded(&spec_job(true), "0123456789abcdef", &c);
        assert_eq!(r.last_applied, None, "diurnal records applied fires in lastScheduleTime only");
        assert!(r.succeeded_same_plan);
        c.last_schedule_time = Some(Time("2026-01-01T09:00:00Z".parse().unwrap()));
        assert!(!read_recorded(&spec_job(true), "fedcba9876543210", &c).succeeded_same_plan);
    }
}
