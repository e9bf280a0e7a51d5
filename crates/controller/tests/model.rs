//! Model-based test of the scheduler: random sequences of watch events, clock steps, takes,
//! completions, lead changes, status writes and restarts drive the real [`Scheduler`] and a
//! reference model side by side, and after every step they must agree.
//!
//! The reference model is the rules table of `docs/controller.md`, written as plainly as
//! possible: no timer queue, no carried state, fires found by walking each schedule forward.
//! Each rule below names its row of the table.
//!
//! `PROPTEST_CASES` sets the number of sequences (CI runs the default below; more behind the
//! variable, e.g. `PROPTEST_CASES=20000 cargo test -p diurnal-controller --test model`).

use std::collections::{BTreeMap, BTreeSet};

use diurnal_api::{
    Changes, CronHorizontalPodAutoscaler, CronHorizontalPodAutoscalerSpec, CronHorizontalPodAutoscalerStatus,
    JobState, Limits, resolve_with,
};
use diurnal_controller::scheduler::{Due, DueKind, ObjectKey, Outcome, Scheduler};
use diurnal_core::Plan;
use diurnal_core::exclusion::is_excluded;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use proptest::prelude::*;

// ---------------------------------------------------------------- what the test can write

/// The job pool: (name, schedule, size, runOnce). The last one is invalid.
const JOBS: [(&str, &str, i32, bool); 6] = [
    ("a", "0/10 * * * * *", 3, false),
    ("b", "5/20 * * * * *", 1, false),
    ("c", "0 * * * * *", 5, true),
    ("d", "@date 2026-03-03 00:00:30", 7, false),
    ("a", "0/15 * * * * *", 4, false),
    ("e", "0 0 25 * * *", 2, false),
];
const EXCLUDES: [&[&str]; 3] = [&[], &["2026-03-03"], &["not a date"]];
const DEADLINES: [Option<i64>; 3] = [None, Some(5), Some(60)];
const NAMES: [&str; 2] = ["x", "y"];

#[derive(Debug, Clone, PartialEq)]
struct Variant {
    jobs: Vec<usize>,
    exclude: usize,
    suspend: bool,
    deadline: usize,
    /// The job (by name) whose `jobs[].suspend` is true, if any.
    paused: Option<&'static str>,
    /// `spec.enforce`.
    enforce: bool,
}

#[derive(Debug, Clone)]
enum Op {
    Upsert(usize, Variant),
    Delete(usize),
    Recreate(usize, Variant),
    Advance(i64),
    Back(i64),
    Take,
    Complete(usize, bool),
    Lead(bool),
    WriteStatus(usize),
    Restart,
}

fn variant() -> impl Strategy<Value = Variant> {
    (
        proptest::sample::subsequence((0..JOBS.len()).collect::<Vec<_>>(), 1..=3),
        prop_oneof![6 => Just(0usize), 3 => Just(1usize), 1 => Just(2usize)],
        prop::bool::weighted(0.15),
        0..DEADLINES.len(),
        prop::option::weighted(0.2, prop::sample::select(vec!["a", "b", "c", "d"])),
        prop::bool::weighted(0.25),
    )
        .prop_map(|(jobs, exclude, suspend, deadline, paused, enforce)| {
            // Job names are unique within an object: keep the first of each name.
            let mut seen = BTreeSet::new();
            let jobs = jobs.into_iter().filter(|j| seen.insert(JOBS[*j].0)).collect();
            Variant { jobs, exclude, suspend, deadline, paused, enforce }
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..NAMES.len(), variant()).prop_map(|(o, v)| Op::Upsert(o, v)),
        1 => (0..NAMES.len()).prop_map(Op::Delete),
        1 => (0..NAMES.len(), variant()).prop_map(|(o, v)| Op::Recreate(o, v)),
        6 => (0i64..40).prop_map(Op::Advance),
        1 => (1i64..30).prop_map(Op::Back),
        6 => Just(Op::Take),
        5 => (0usize..4, prop::bool::weighted(0.7)).prop_map(|(i, ok)| Op::Complete(i, ok)),
        1 => prop::bool::ANY.prop_map(Op::Lead),
        2 => (0..NAMES.len()).prop_map(Op::WriteStatus),
        1 => Just(Op::Restart),
    ]
}

fn spec_of(v: &Variant) -> CronHorizontalPodAutoscalerSpec {
    serde_json::from_value(serde_json::json!({
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "jobs": v.jobs.iter().map(|&j| {
            let (name, schedule, size, once) = JOBS[j];
            let paused = v.paused == Some(name);
            serde_json::json!({"name": name, "schedule": schedule, "targetSize": size, "runOnce": once, "suspend": paused})
        }).collect::<Vec<_>>(),
        "excludeDates": EXCLUDES[v.exclude],
        "suspend": v.suspend,
        "startingDeadlineSeconds": DEADLINES[v.deadline],
        "enforce": v.enforce,
    }))
    .expect("a valid spec shape")
}

/// What the API server holds for one name.
#[derive(Debug, Clone)]
struct Stored {
    uid: u32,
    variant: Variant,
    created: Timestamp,
    generation: i64,
    status: Option<CronHorizontalPodAutoscalerStatus>,
}

fn object(name: &str, s: &Stored) -> CronHorizontalPodAutoscaler {
    let mut obj = CronHorizontalPodAutoscaler::new(name, spec_of(&s.variant));
    obj.metadata = ObjectMeta {
        name: Some(name.into()),
        namespace: Some("ns".into()),
        uid: Some(format!("uid-{}", s.uid)),
        generation: Some(s.generation),
        creation_timestamp: Some(Time(s.created)),
        ..ObjectMeta::default()
    };
    obj.status.clone_from(&s.status);
    obj
}

// ---------------------------------------------------------------- the reference model

#[derive(Debug, Clone)]
struct MJob {
    /// Index into `JOBS`: the job's content (name, schedule, size, runOnce).
    content: usize,
    /// Fires after this instant have not been considered yet.
    cursor: Timestamp,
    /// (fire, due at, kind) of an owed catch-up or retry.
    owed: Option<(Timestamp, Timestamp, DueKind)>,
    last_applied: Option<Timestamp>,
    done: bool,
    /// Its fire is in flight (cleared when an edit makes it not runnable, or the lead changes).
    flying: bool,
}

#[derive(Debug, Clone)]
struct MObj {
    uid: u32,
    variant: Variant,
    plan: Plan,
    valid: Vec<bool>,
    created: Timestamp,
    jobs: Vec<MJob>,
    /// (take token, job content, fire) being applied.
    in_flight: Option<(u64, usize, Timestamp)>,
    /// The newest fire the object applied, of any job (rule "never twice").
    applied: Option<Timestamp>,
    generation: i64,
}

#[derive(Debug, Default)]
struct Model {
    leading: bool,
    objects: BTreeMap<String, MObj>,
}

fn name_of(content: usize) -> &'static str {
    JOBS[content].0
}

impl MObj {
    fn deadline(&self) -> Option<SignedDuration> {
        DEADLINES[self.variant.deadline].map(SignedDuration::from_secs)
    }

    fn plan_index(&self, j: usize) -> Option<usize> {
        let name = name_of(self.jobs[j].content);
        self.plan.jobs.iter().position(|p| p.name == name)
    }

    /// Rule "runnable": valid, not suspended, not a finished runOnce.
    fn runnable(&self, j: usize) -> bool {
        self.valid[j] && !self.variant.suspend && !self.jobs[j].done
    }

    /// Rule "job suspended": its due fires are settled as an excluded day's are.
    fn paused(&self, j: usize) -> bool {
        self.variant.paused == Some(name_of(self.jobs[j].content))
    }

    /// All fires of job `j` in (after, until], walking forward.
    fn fires(&self, j: usize, after: Timestamp, until: Timestamp) -> Vec<Timestamp> {
        let Some(p) = self.plan_index(j) else { return vec![] };
        let job = &self.plan.jobs[p];
        let mut out = Vec::new();
        let mut at = after;
        while let Some(next) = job.schedule.next_after(at, &job.zone, self.plan.origin) {
            if next > until {
                break;
            }
            out.push(next);
            at = next;
        }
        out
    }

    fn next_fire(&self, j: usize, after: Timestamp) -> Option<Timestamp> {
        let p = self.plan_index(j)?;
        let job = &self.plan.jobs[p];
        job.schedule.next_after(after, &job.zone, self.plan.origin)
    }

    fn excluded(&self, at: Timestamp) -> bool {
        is_excluded(&self.plan.exclusions, at, &self.plan.zone)
    }

    /// Rule "catch-up": each runnable job owes its latest non-excluded fire after the newest
    /// applied fire (or the creation); the take applies the latest of them.
    fn catch_up(&mut self, now: Timestamp) {
        let bound =
            self.jobs.iter().filter_map(|j| j.last_applied).max().max(self.applied).unwrap_or(self.created);
        for j in 0..self.jobs.len() {
            if !self.runnable(j) || self.paused(j) {
                continue;
            }
            let missed = self.fires(j, bound, now).into_iter().rev().find(|f| !self.excluded(*f));
            if let Some(fire) = missed {
                self.jobs[j].owed = Some((fire, now, DueKind::CatchUp));
            }
        }
    }

    /// Rule "enforce": the latest non-excluded fire at or before `now` of any job that can fire
    /// (same instant: the last job) is owed again, applied before or not; a retry or catch-up
    /// owed for that very fire stays. (Walking from the start of the test's first day covers
    /// every schedule of the pool: each fires at least daily or is the one `@date`.)
    fn hold(&mut self, now: Timestamp) {
        let since: Timestamp = "2026-03-02T00:00:00Z".parse().expect("a timestamp");
        let mut in_force: Option<(Timestamp, usize)> = None;
        for j in 0..self.jobs.len() {
            if !self.runnable(j) || self.paused(j) || self.jobs[j].flying {
                continue;
            }
            let latest = self.fires(j, since, now).into_iter().rev().find(|f| !self.excluded(*f));
            if let Some(fire) = latest {
                in_force = in_force.max(Some((fire, j)));
            }
        }
        let Some((fire, j)) = in_force else { return };
        if self.jobs[j].owed.is_none_or(|o| o.0 < fire) {
            self.jobs[j].owed = Some((fire, now, DueKind::Enforce));
        }
    }

    /// Rule "never twice": a job is planned after `now` and after the object's newest applied
    /// fire (except what "enforce" owes).
    fn floor(applied: Option<Timestamp>, job: &MJob, now: Timestamp) -> Timestamp {
        applied.max(job.last_applied).map_or(now, |l| l.max(now))
    }

    fn replan(&mut self, now: Timestamp) {
        for job in &mut self.jobs {
            job.cursor = Self::floor(self.applied, job, now);
            job.owed = None;
            job.flying = false;
        }
    }

    /// Rule "take": of every due fire (each job's latest regular one, due retries and
    /// catch-ups), the latest one within the deadline that is neither on an excluded day nor of
    /// a suspended job stands (same instant: the last job in `jobs[]`); retries of older fires
    /// are dropped.
    fn take(&mut self, now: Timestamp) -> Option<(String, Timestamp, DueKind)> {
        if self.in_flight.is_some() {
            return None;
        }
        let mut due: Vec<(Timestamp, usize, DueKind, bool)> = Vec::new();
        for j in 0..self.jobs.len() {
            if !self.runnable(j) {
                continue;
            }
            let paused = self.paused(j);
            if let Some(&last) = self.fires(j, self.jobs[j].cursor, now).last() {
                due.push((last, j, DueKind::Regular, paused || self.excluded(last)));
            }
            self.jobs[j].cursor = self.jobs[j].cursor.max(now);
            if let Some((fire, at, kind)) = self.jobs[j].owed.filter(|o| o.1 <= now) {
                let _ = at;
                due.push((fire, j, kind, paused));
                self.jobs[j].owed = None;
            }
        }
        let deadline = self.deadline();
        let stand = due
            .iter()
            .filter(|(fire, _, _, excluded)| {
                !excluded && deadline.is_none_or(|d| now.duration_since(*fire) <= d)
            })
            .max_by_key(|(fire, j, _, _)| (*fire, *j))
            .copied();
        let (fire, j, kind, _) = stand?;
        // A runOnce job superseded by another job's fire is done.
        for &(other, k, _, excluded) in &due {
            let within = deadline.is_none_or(|d| now.duration_since(other) <= d);
            if k != j && !excluded && within && JOBS[self.jobs[k].content].3 {
                self.jobs[k].done = true;
            }
        }
        for (k, job) in self.jobs.iter_mut().enumerate() {
            if job.owed.is_some_and(|o| o.0 < fire) {
                job.owed = None;
                if k != j && JOBS[job.content].3 {
                    job.done = true;
                }
            }
        }
        self.jobs[j].flying = true;
        self.in_flight = Some((0, self.jobs[j].content, fire));
        Some((name_of(self.jobs[j].content).to_owned(), fire, kind))
    }

    /// Rule "complete": applied → recorded (runOnce done); failed → a retry after
    /// 1 s doubling to 30 s, unless past the deadline.
    fn complete(&mut self, fire: Timestamp, kind: DueKind, ok: bool, now: Timestamp) {
        let Some((_, content, in_flight_fire)) = self.in_flight.take() else { return };
        assert_eq!(in_flight_fire, fire);
        let deadline = self.deadline();
        if ok {
            self.applied = self.applied.max(Some(fire));
            for job in &mut self.jobs {
                job.cursor = job.cursor.max(fire);
                job.owed = job.owed.filter(|o| o.0 > fire);
            }
        }
        let Some(k) = self.jobs.iter().position(|j| j.content == content) else { return };
        let runnable = self.runnable(k);
        let job = &mut self.jobs[k];
        let flying = std::mem::take(&mut job.flying);
        if ok {
            job.last_applied = job.last_applied.max(Some(fire));
            if JOBS[content].3 {
                job.done = true;
            }
        } else if flying && runnable {
            let attempt = match kind {
                DueKind::Retry(n) => n + 1,
                _ => 2,
            };
            let at = now + SignedDuration::from_secs((1_i64 << (attempt - 2).min(5)).min(30));
            if deadline.is_none_or(|d| at.duration_since(fire) <= d) {
                job.owed = Some((fire, at, DueKind::Retry(attempt)));
            }
        }
    }

    /// What `nextScheduleTime` of job `j` must show.
    fn shown_next(&self, j: usize) -> Option<Timestamp> {
        if !self.runnable(j) {
            return None;
        }
        let job = &self.jobs[j];
        let next = self.next_fire(j, job.cursor);
        if job.flying {
            return next;
        }
        match (next, job.owed.map(|o| o.1)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Model {
    /// Rule "edit": an unchanged job keeps its state; a new or edited one starts from `now`
    /// with the last applied fire recorded under its name; a fixed or unsuspended object's
    /// jobs start from `now`, and an unsuspended one catches up.
    fn upsert(&mut self, name: &str, stored: &Stored, now: Timestamp) {
        let spec = spec_of(&stored.variant);
        let resolution = resolve_with(&spec, &TimeZone::UTC, stored.created, &Limits::NONE);
        let old = self.objects.remove(name).filter(|o| o.uid == stored.uid);
        let recorded = |job_name: &str| {
            stored.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.name == job_name)).cloned()
        };
        let mut jobs = Vec::new();
        let mut valid = Vec::new();
        let old_applied = old.as_ref().and_then(|o| o.applied);
        for (i, &content) in stored.variant.jobs.iter().enumerate() {
            let ok = resolution.job_error(i).is_none();
            let was = old.as_ref().and_then(|o| {
                let k = o.jobs.iter().position(|j| j.content == content)?;
                Some((o.jobs[k].clone(), o.valid[k], o.variant.suspend))
            });
            let rec = recorded(name_of(content));
            let rec_last = rec.as_ref().and_then(|c| c.last_schedule_time.as_ref()).map(|t| t.0);
            let job = if let Some((mut job, was_valid, was_suspended)) = was {
                job.last_applied = job.last_applied.max(rec_last);
                if (!was_valid || was_suspended) && ok && !stored.variant.suspend {
                    job.cursor = MObj::floor(old_applied, &job, now);
                    job.owed = None;
                }
                if !ok || stored.variant.suspend {
                    job.owed = None;
                    job.flying = false;
                }
                job
            } else {
                let (_, schedule, size, once) = JOBS[content];
                let done = once
                    && rec.as_ref().is_some_and(|c| {
                        c.state == JobState::Succeed
                            && c.schedule == schedule
                            && c.target_size == size
                            && c.run_once
                    });
                let cursor = old_applied.max(rec_last).map_or(now, |l| l.max(now));
                MJob { content, cursor, owed: None, last_applied: rec_last, done, flying: false }
            };
            jobs.push(job);
            valid.push(ok);
        }
        let was_suspended = old.as_ref().is_some_and(|o| o.variant.suspend);
        let new_generation = old.as_ref().is_none_or(|o| o.generation != stored.generation);
        let in_flight = old.and_then(|o| o.in_flight);
        let applied = old_applied.max(jobs.iter().filter_map(|j: &MJob| j.last_applied).max());
        let mut obj = MObj {
            applied,
            uid: stored.uid,
            variant: stored.variant.clone(),
            plan: resolution.plan,
            valid,
            created: stored.created,
            jobs,
            in_flight,
            generation: stored.generation,
        };
        if was_suspended && !obj.variant.suspend && self.leading {
            obj.catch_up(now);
        }
        if obj.variant.enforce && self.leading && !obj.variant.suspend && (new_generation || was_suspended) {
            obj.hold(now);
        }
        self.objects.insert(name.to_owned(), obj);
    }

    fn set_leading(&mut self, leading: bool, now: Timestamp) {
        self.leading = leading;
        for obj in self.objects.values_mut() {
            obj.in_flight = None;
            obj.replan(now);
            if leading && !obj.variant.suspend {
                obj.catch_up(now);
                if obj.variant.enforce {
                    obj.hold(now);
                }
            }
        }
    }
}

// ---------------------------------------------------------------- the driver

struct World {
    now: Timestamp,
    sut: Scheduler,
    model: Model,
    api: BTreeMap<String, Stored>,
    next_uid: u32,
    in_flight: Vec<Due>,
    /// (uid, job, fire) applied since the last restart.
    applied: BTreeSet<(String, String, Timestamp)>,
}

fn key(name: &str) -> ObjectKey {
    ObjectKey { namespace: "ns".into(), name: name.into() }
}

impl World {
    fn new() -> Self {
        let now: Timestamp = "2026-03-02T23:55:00Z".parse().expect("a timestamp");
        let mut w = World {
            now,
            sut: Scheduler::new(TimeZone::UTC, Limits::NONE),
            model: Model::default(),
            api: BTreeMap::new(),
            next_uid: 0,
            in_flight: Vec::new(),
            applied: BTreeSet::new(),
        };
        w.sut.set_leading(true, now);
        w.model.set_leading(true, now);
        w
    }

    fn step(&mut self, op: &Op) {
        let now = self.now;
        match op {
            Op::Upsert(o, v) | Op::Recreate(o, v) => {
                let name = NAMES[*o];
                let recreate = matches!(op, Op::Recreate(..)) || !self.api.contains_key(name);
                if recreate {
                    self.next_uid += 1;
                    let stored = Stored {
                        uid: self.next_uid,
                        variant: v.clone(),
                        created: now,
                        generation: 1,
                        status: None,
                    };
                    self.api.insert(name.into(), stored);
                } else if let Some(stored) = self.api.get_mut(name) {
                    if stored.variant != *v {
                        stored.generation += 1;
                    }
                    stored.variant = v.clone();
                }
                let stored = self.api[name].clone();
                self.sut.upsert(&object(name, &stored), now);
                self.model.upsert(name, &stored, now);
            }
            Op::Delete(o) => {
                let name = NAMES[*o];
                self.api.remove(name);
                self.sut.remove(&key(name));
                self.model.objects.remove(name);
            }
            Op::Advance(s) => self.now = now + SignedDuration::from_secs(*s),
            Op::Back(s) => self.now = now - SignedDuration::from_secs(*s),
            Op::Take => self.take(),
            Op::Complete(i, ok) => {
                if self.in_flight.is_empty() {
                    return;
                }
                let due = self.in_flight.remove(i % self.in_flight.len());
                let outcome = if *ok {
                    Outcome::Applied("ok".into(), Changes::default())
                } else {
                    Outcome::Failed("no".into())
                };
                // The model hears of a completion only for the take it has in flight.
                let live = self
                    .model
                    .objects
                    .get(&due.key.name)
                    .is_some_and(|o| o.in_flight.is_some_and(|f| f.0 == due.token));
                if live && *ok {
                    let uid = self.sut_uid(&due);
                    self.applied.insert((uid, due.job.clone(), due.fire_at));
                }
                self.sut.complete(&due, outcome, now);
                if live && let Some(obj) = self.model.objects.get_mut(&due.key.name) {
                    obj.complete(due.fire_at, due.kind, *ok, now);
                }
            }
            Op::Lead(leading) => {
                self.in_flight.clear();
                self.sut.set_leading(*leading, now);
                self.model.set_leading(*leading, now);
            }
            Op::WriteStatus(o) => {
                let name = NAMES[*o];
                if let Some(status) = self.sut.status(&key(name))
                    && let Some(stored) = self.api.get_mut(name)
                {
                    stored.status = Some(status);
                }
            }
            Op::Restart => {
                self.in_flight.clear();
                self.applied.clear();
                self.sut = Scheduler::new(TimeZone::UTC, Limits::NONE);
                self.model = Model::default();
                for (name, stored) in &self.api {
                    self.sut.upsert(&object(name, stored), now);
                    self.model.upsert(name, stored, now);
                }
                self.sut.set_leading(true, now);
                self.model.set_leading(true, now);
            }
        }
        self.check();
    }

    fn sut_uid(&self, due: &Due) -> String {
        self.sut.uid(&due.key).unwrap_or_default().to_owned()
    }

    fn take(&mut self) {
        let now = self.now;
        let taken = self.sut.take_due(now);
        let mut got: Vec<(String, String, Timestamp, DueKind)> =
            taken.fires.iter().map(|d| (d.key.name.clone(), d.job.clone(), d.fire_at, d.kind)).collect();
        got.sort_by_key(|g| (g.0.clone(), g.1.clone()));
        let mut want = Vec::new();
        if self.model.leading {
            for (name, obj) in &mut self.model.objects {
                if let Some((job, fire, kind)) = obj.take(now) {
                    want.push((name.clone(), job, fire, kind));
                }
            }
        }
        assert_eq!(got, want, "take at {now}");
        for due in &taken.fires {
            if let Some(f) = self.model.objects.get_mut(&due.key.name).and_then(|o| o.in_flight.as_mut()) {
                f.0 = due.token;
            }
        }
        for due in taken.fires.iter().filter(|d| d.kind != DueKind::Enforce) {
            let uid = self.sut_uid(due);
            assert!(!self.applied.contains(&(uid, due.job.clone(), due.fire_at)), "applied twice: {due:?}");
            let written = self.api.get(&due.key.name).and_then(|s| s.status.as_ref()).and_then(|s| {
                s.conditions.iter().find(|c| c.name == due.job).and_then(|c| c.last_schedule_time.clone())
            });
            assert!(
                written.is_none_or(|w| due.fire_at > w.0),
                "taken at or before its recorded fire: {due:?}"
            );
        }
        self.in_flight.extend(taken.fires);
    }

    /// After every step: each job's next fire, state and last applied fire agree, and the
    /// timer queue wakes for the earliest of them.
    fn check(&mut self) {
        let mut earliest: Option<Timestamp> = None;
        for (name, obj) in &self.model.objects {
            let status = self.sut.status(&key(name)).expect("indexed");
            assert_eq!(status.conditions.len(), obj.jobs.len());
            for h in &status.job_histories {
                assert!(h.executions.len() <= 5, "{name}/{}: history past historyLimit's default", h.name);
            }
            for (j, (c, job)) in status.conditions.iter().zip(&obj.jobs).enumerate() {
                let next = c.next_schedule_time.as_ref().map(|t| t.0);
                let want = obj.shown_next(j);
                assert_eq!(next, want, "{name}/{} nextScheduleTime at {}", c.name, self.now);
                assert_eq!(
                    c.last_schedule_time.as_ref().map(|t| t.0),
                    job.last_applied,
                    "{name}/{} last",
                    c.name
                );
                if job.done {
                    assert_eq!(c.state, JobState::Succeed, "{name}/{} done", c.name);
                }
                if obj.in_flight.is_none() && self.model.leading {
                    earliest = earliest.into_iter().chain(want).min();
                }
            }
        }
        if self.model.leading {
            assert_eq!(self.sut.next_wakeup(), earliest, "the queue wakes for the earliest fire");
        }
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn the_scheduler_follows_the_rules_table(ops in prop::collection::vec(op(), 1..120)) {
        let mut world = World::new();
        for op in &ops {
            world.step(op);
        }
    }
}
