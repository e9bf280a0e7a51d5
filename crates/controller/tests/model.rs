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
    /// The job (by name) that sets its own `jobs[].enforce`, and to what.
    held: Option<(&'static str, bool)>,
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
        prop::option::weighted(0.3, (prop::sample::select(vec!["a", "b", "c", "d", "e"]), prop::bool::ANY)),
    )
        .prop_map(|(jobs, exclude, suspend, deadline, paused, enforce, held)| {
            // Job names are unique within an object: keep the first of each name.
            let mut seen = BTreeSet::new();
            let jobs = jobs.into_iter().filter(|j| seen.insert(JOBS[*j].0)).collect();
            Variant { jobs, exclude, suspend, deadline, paused, enforce, held }
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
            let held = v.held.filter(|h| h.0 == name).map(|h| h.1);
            serde_json::json!({"name": name, "schedule": schedule, "targetSize": size, "runOnce": once, "suspend": paused, "enforce": held})
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

#[path = "model/reference.rs"]
mod reference;
use reference::Model;

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
            if obj.in_flight.is_none() && self.model.leading && obj.checks() {
                earliest = earliest.into_iter().chain(obj.next_check).min();
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
