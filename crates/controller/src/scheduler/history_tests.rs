//! The per-job history (`status.jobHistories`): what each take records, that it is bounded and
//! keeps the newest, and that it survives a restart by being read back from the status.

use super::tests::{cronhpa, t};
use super::*;
use diurnal_api::{Change, ExecutionKind, JobCondition, JobHistory};
use proptest::prelude::*;
use serde_json::json;

fn key() -> ObjectKey {
    ObjectKey { namespace: "ns".into(), name: "c".into() }
}

fn scaled(from: i32, to: i32) -> Outcome {
    let changes = Changes { replicas: Some(Change { from, to }), ..Changes::default() };
    Outcome::Applied(format!("Deployment ns/web replicas {from} -> {to}"), changes)
}

fn history(s: &Scheduler, job: &str) -> Vec<Execution> {
    let status = s.status(&key()).unwrap();
    status.job_histories.into_iter().find(|h| h.name == job).map(|h| h.executions).unwrap_or_default()
}

/// Takes at `now` and completes the one fire with `outcome`.
fn fire(s: &mut Scheduler, now: Timestamp, outcome: Outcome) -> Due {
    let due = s.take_due(now).fires.pop().expect("a fire is due");
    s.complete(&due, outcome, now);
    due
}

#[test]
fn three_fires_leave_three_entries_with_from_and_to() {
    let obj = cronhpa(&json!([{"name": "tick", "schedule": "0 * * * * *", "targetSize": 3}]), &json!({}));
    let start = t("2026-03-02T10:00:05Z");
    let mut s = Scheduler::new(TimeZone::UTC, Limits::NONE);
    s.set_leading(true, start);
    s.upsert(&obj, start);
    fire(&mut s, t("2026-03-02T10:01:00Z"), scaled(1, 3));
    fire(
        &mut s,
        t("2026-03-02T10:02:00Z"),
        Outcome::Applied("already at size".into(), {
            Changes { replicas: Some(Change { from: 3, to: 3 }), ..Changes::default() }
        }),
    );
    fire(&mut s, t("2026-03-02T10:03:00Z"), Outcome::Failed("Deployment ns/web not found".into()));
    let h = history(&s, "tick");
    let results: Vec<ExecutionResult> = h.iter().map(|e| e.result).collect();
    assert_eq!(results, [ExecutionResult::Scaled, ExecutionResult::AlreadyAtSize, ExecutionResult::Failed]);
    assert_eq!(h[0].changes.replicas, Some(Change { from: 1, to: 3 }));
    assert_eq!(h[0].schedule_time.0, t("2026-03-02T10:01:00Z"));
    assert_eq!(h[0].kind, ExecutionKind::Regular);
    assert!(h[2].message.ends_with("will retry"), "{}", h[2].message);
    // The retry is recorded as one.
    fire(&mut s, t("2026-03-02T10:03:01Z"), scaled(1, 3));
    let h = history(&s, "tick");
    assert_eq!(h.len(), 4);
    assert_eq!((h[3].kind, h[3].result), (ExecutionKind::Retry, ExecutionResult::Scaled));
    assert_eq!(h[3].schedule_time.0, t("2026-03-02T10:03:00Z"));
    assert_eq!(h[3].execution_time.0, t("2026-03-02T10:03:01Z"));
}

#[test]
fn fires_that_do_nothing_say_why() {
    let obj = cronhpa(
        &json!([
            {"name": "early", "schedule": "0 0 9 * * *", "targetSize": 2},
            {"name": "late", "schedule": "0 0 10 * * *", "targetSize": 4},
            {"name": "paused", "schedule": "0 0 11 * * *", "targetSize": 9, "suspend": true},
        ]),
        &json!({"excludeDates": ["2026-03-04"]}),
    );
    let start = t("2026-03-02T08:00:00Z");
    let mut s = Scheduler::new(TimeZone::UTC, Limits::NONE);
    s.set_leading(true, start);
    s.upsert(&obj, start);
    // Both fires of the 2nd fall due at one take: the later one stands.
    let taken = s.take_due(t("2026-03-02T10:00:00Z"));
    assert_eq!(taken.fires[0].job, "late");
    s.complete(&taken.fires[0], scaled(2, 4), t("2026-03-02T10:00:01Z"));
    assert_eq!(history(&s, "early")[0].result, ExecutionResult::Superseded);
    // The suspended job's fire is settled, recorded, and writes nothing.
    let taken = s.take_due(t("2026-03-02T11:00:00Z"));
    assert!(taken.fires.is_empty());
    assert_eq!(taken.settled[0].why, Settled::Suspended);
    let paused = history(&s, "paused");
    assert_eq!(paused[0].result, ExecutionResult::Suspended);
    assert!(paused[0].message.contains("suspended"), "{}", paused[0].message);
    // The next day, one fire at a time; then an excluded day.
    for at in ["2026-03-03T09:00:00Z", "2026-03-03T10:00:00Z", "2026-03-03T11:00:00Z"] {
        for due in s.take_due(t(at)).fires {
            s.complete(&due, scaled(4, 2), t(at));
        }
    }
    let taken = s.take_due(t("2026-03-04T09:00:00Z"));
    assert!(taken.fires.is_empty());
    let early: Vec<ExecutionResult> = history(&s, "early").iter().map(|e| e.result).collect();
    assert_eq!(early, [ExecutionResult::Superseded, ExecutionResult::Scaled, ExecutionResult::Excluded]);
}

#[test]
fn a_suspended_job_owes_nothing_when_the_lead_is_taken() {
    let mut obj = cronhpa(
        &json!([{"name": "paused", "schedule": "0 0 9 * * *", "targetSize": 9, "suspend": true}]),
        &json!({}),
    );
    obj.status = Some(diurnal_api::CronHorizontalPodAutoscalerStatus {
        conditions: vec![JobCondition {
            name: "paused".into(),
            last_schedule_time: Some(Time(t("2026-03-01T09:00:00Z"))),
            ..JobCondition::default()
        }],
        ..Default::default()
    });
    let now = t("2026-03-02T12:00:00Z");
    let mut s = Scheduler::new(TimeZone::UTC, Limits::NONE);
    s.upsert(&obj, now);
    s.set_leading(true, now);
    let taken = s.take_due(now);
    assert!(taken.fires.is_empty() && taken.settled.is_empty(), "{taken:?}");
    // Unsuspended (an edit of that field only), the job fires from then on, without catch-up.
    obj.spec.jobs[0].suspend = None;
    s.upsert(&obj, now);
    assert!(s.take_due(now).fires.is_empty());
    assert_eq!(s.next_wakeup(), Some(t("2026-03-03T09:00:00Z")));
}

#[test]
fn the_history_survives_a_restart_and_an_edit() {
    let mut obj = cronhpa(&json!([{"name": "tick", "schedule": "0 * * * * *", "targetSize": 3}]), &json!({}));
    let start = t("2026-03-02T10:00:05Z");
    let mut s = Scheduler::new(TimeZone::UTC, Limits::NONE);
    s.set_leading(true, start);
    s.upsert(&obj, start);
    fire(&mut s, t("2026-03-02T10:01:00Z"), scaled(1, 3));
    obj.status = s.status(&key());
    // A new process reads it back from the status.
    let now = t("2026-03-02T10:01:30Z");
    let mut s = Scheduler::new(TimeZone::UTC, Limits::NONE);
    s.upsert(&obj, now);
    s.set_leading(true, now);
    assert_eq!(history(&s, "tick").len(), 1);
    // An edit of the job keeps its history (it is the name's).
    obj.spec.jobs[0].target_size = Some(5);
    s.upsert(&obj, now);
    fire(&mut s, t("2026-03-02T10:02:00Z"), scaled(3, 5));
    let h = history(&s, "tick");
    assert_eq!(h.len(), 2);
    assert_eq!(h[1].changes.replicas, Some(Change { from: 3, to: 5 }));
}

#[test]
fn many_jobs_share_the_objects_history_bound_and_the_status_stays_small() {
    use diurnal_api::limits;
    let jobs: Vec<serde_json::Value> = (0..limits::MAX_JOBS)
        .map(|i| json!({"name": format!("{i:0>63}"), "schedule": "0 * * * * *", "targetSize": 1}))
        .collect();
    let mut obj = cronhpa(&json!(jobs), &json!({"historyLimit": limits::MAX_HISTORY_LIMIT}));
    // A status holding the most any writer could have put there, with messages too long.
    let execution = Execution {
        schedule_time: Time(t("2026-03-02T10:00:00Z")),
        execution_time: Time(t("2026-03-02T10:00:00Z")),
        kind: ExecutionKind::CatchUp,
        result: ExecutionResult::MissedDeadline,
        changes: Changes {
            replicas: Some(Change { from: 100_000, to: 100_000 }),
            min_replicas: Some(Change { from: 100_000, to: 100_000 }),
            max_replicas: Some(Change { from: 100_000, to: 100_000 }),
        },
        message: "x".repeat(4096),
    };
    obj.status = Some(diurnal_api::CronHorizontalPodAutoscalerStatus {
        job_histories: obj
            .spec
            .jobs
            .iter()
            .map(|j| JobHistory { name: j.name.clone(), executions: vec![execution.clone(); 32] })
            .collect(),
        ..Default::default()
    });
    let now = t("2026-03-02T10:00:30Z");
    let mut s = Scheduler::new(TimeZone::UTC, Limits::NONE);
    s.upsert(&obj, now);
    let status = s.status(&key()).unwrap();
    let per_job = limits::MAX_HISTORY_ENTRIES / limits::MAX_JOBS;
    assert!(status.job_histories.iter().all(|h| h.executions.len() == per_job));
    let longest = status.job_histories.iter().flat_map(|h| &h.executions).map(|e| e.message.len()).max();
    assert!(longest <= Some(limits::MAX_HISTORY_MESSAGE), "{longest:?}");
    let bytes = serde_json::to_vec(&status).unwrap().len();
    assert!(bytes <= status::MAX_STATUS_BYTES / 2, "{bytes} bytes of a {} budget", status::MAX_STATUS_BYTES);
}

#[derive(Debug, Clone)]
enum Step {
    /// Advance this many seconds, take, and complete (ok or not).
    Fire(i64, bool),
    /// A new process, reading the status the last one wrote.
    Restart,
    /// `spec.historyLimit` edited.
    Limit(u32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (1i64..4, prop::bool::weighted(0.7)).prop_map(|(s, ok)| Step::Fire(s, ok)),
        1 => Just(Step::Restart),
        1 => (0u32..=8).prop_map(Step::Limit),
    ]
}

proptest! {
    /// Whatever happens, a job's history is at most its limit long and is exactly the newest
    /// executions, in order.
    #[test]
    fn the_history_never_exceeds_its_limit_and_keeps_the_newest(
        limit in 0u32..=8,
        steps in prop::collection::vec(step(), 1..60),
    ) {
        let mut obj = cronhpa(
            &json!([{"name": "tick", "schedule": "* * * * * *", "targetSize": 3}]),
            &json!({"historyLimit": limit}),
        );
        let mut now = t("2026-03-02T10:00:00Z");
        let mut s = Scheduler::new(TimeZone::UTC, Limits::NONE);
        s.set_leading(true, now);
        s.upsert(&obj, now);
        let mut limit = limit as usize;
        // Every execution recorded, as (scheduled, result).
        let mut all: Vec<(Timestamp, ExecutionResult)> = Vec::new();
        for step in steps {
            match step {
                Step::Fire(secs, ok) => {
                    now += SignedDuration::from_secs(secs);
                    let taken = s.take_due(now);
                    for settled in &taken.settled {
                        all.push((settled.fire_at, ExecutionResult::Superseded));
                    }
                    for due in taken.fires {
                        let outcome = if ok { scaled(1, 3) } else { Outcome::Failed("no".into()) };
                        s.complete(&due, outcome, now);
                        all.push((due.fire_at, if ok { ExecutionResult::Scaled } else { ExecutionResult::Failed }));
                    }
                }
                Step::Restart => {
                    obj.status = s.status(&key());
                    s = Scheduler::new(TimeZone::UTC, Limits::NONE);
                    s.upsert(&obj, now);
                    s.set_leading(true, now);
                }
                Step::Limit(l) => {
                    obj.spec.history_limit = Some(l);
                    s.upsert(&obj, now);
                    limit = l as usize;
                }
            }
            let got: Vec<(Timestamp, ExecutionResult)> =
                history(&s, "tick").iter().map(|e| (e.schedule_time.0, e.result)).collect();
            prop_assert!(got.len() <= limit);
            let newest = &all[all.len().saturating_sub(got.len())..];
            prop_assert_eq!(&got[..], newest);
            // Nothing is dropped while there is room for it (a raised limit refills later).
            prop_assert!(got.len() == limit.min(all.len()) || got.len() < limit);
        }
    }
}

#[test]
fn the_summary_follows_the_jobs() {
    use diurnal_api::SummaryState;
    let state = |s: &Scheduler| s.status(&key()).unwrap().summary.unwrap();
    let mut obj = cronhpa(&json!([{"name": "tick", "schedule": "0 * * * * *", "targetSize": 3}]), &json!({}));
    let start = t("2026-03-02T10:00:05Z");
    let mut s = Scheduler::new(TimeZone::UTC, Limits::NONE);
    s.set_leading(true, start);
    s.upsert(&obj, start);
    assert_eq!(state(&s).state, SummaryState::Ready);
    let due = s.take_due(t("2026-03-02T10:01:00Z")).fires.pop().unwrap();
    assert_eq!(state(&s).state, SummaryState::Progressing, "a fire in flight");
    s.complete(&due, Outcome::Failed("Deployment ns/web not found".into()), t("2026-03-02T10:01:00Z"));
    assert_eq!(state(&s).state, SummaryState::Progressing, "retrying");
    // Retried until past the limit of attempts a GitOps tool waits for: degraded, with the reason.
    let mut now = t("2026-03-02T10:01:00Z");
    for _ in 0..3 {
        now += SignedDuration::from_secs(10);
        let due = s.take_due(now).fires.pop().unwrap();
        s.complete(&due, Outcome::Failed("Deployment ns/web not found".into()), now);
    }
    let summary = state(&s);
    assert_eq!(summary.state, SummaryState::Degraded);
    assert!(
        summary.message.starts_with("job tick: still failing: Deployment ns/web not found"),
        "{summary:?}"
    );
    obj.spec.suspend = Some(true);
    s.upsert(&obj, now);
    assert_eq!(state(&s).state, SummaryState::Suspended);
    obj.spec.suspend = None;
    obj.spec.jobs[0].schedule = "not a schedule".into();
    s.upsert(&obj, now);
    assert_eq!(state(&s).state, SummaryState::Degraded);
}

#[test]
fn enforce_applies_the_period_in_force_on_create_edit_and_restart() {
    let jobs = json!([
        {"name": "up", "schedule": "0 0 8 * * *", "targetSize": 5},
        {"name": "down", "schedule": "0 0 20 * * *", "targetSize": 1},
    ]);
    let start = t("2026-03-02T14:00:00Z");
    let take = |s: &mut Scheduler, now| {
        s.take_due(now).fires.into_iter().map(|d| (d.job.clone(), d.kind)).collect::<Vec<_>>()
    };
    // Without enforce, a new object waits for its next fire.
    let plain = cronhpa(&jobs, &json!({}));
    let mut s = Scheduler::new(TimeZone::UTC, Limits::NONE);
    s.set_leading(true, start);
    s.upsert(&plain, start);
    assert!(take(&mut s, start).is_empty());
    // With it, the period in force (08:00's "up") applies at once...
    let mut obj = cronhpa(&jobs, &json!({"enforce": true}));
    let mut s = Scheduler::new(TimeZone::UTC, Limits::NONE);
    s.set_leading(true, start);
    s.upsert(&obj, start);
    let due = s.take_due(start).fires.pop().unwrap();
    assert_eq!(
        (due.job.as_str(), due.kind, due.fire_at),
        ("up", DueKind::Enforce, t("2026-03-02T08:00:00Z"))
    );
    s.complete(&due, scaled(1, 5), start);
    assert_eq!(history(&s, "up")[0].kind, ExecutionKind::Enforce);
    // ... again after a restart, although it was applied ...
    obj.status = s.status(&key());
    let later = t("2026-03-02T15:00:00Z");
    let mut s = Scheduler::new(TimeZone::UTC, Limits::NONE);
    s.upsert(&obj, later);
    s.set_leading(true, later);
    assert_eq!(take(&mut s, later), [("up".to_owned(), DueKind::Enforce)]);
    // ... and on an edit (a new generation), not on a status update of the same one.
    let mut s = Scheduler::new(TimeZone::UTC, Limits::NONE);
    s.set_leading(true, later);
    s.upsert(&obj, later);
    let due = s.take_due(later).fires.pop().unwrap();
    s.complete(&due, scaled(5, 5), later);
    s.upsert(&obj, later);
    assert!(take(&mut s, later).is_empty(), "same generation");
    obj.metadata.generation = Some(2);
    obj.spec.jobs[1].target_size = Some(2);
    s.upsert(&obj, later);
    assert_eq!(take(&mut s, later), [("up".to_owned(), DueKind::Enforce)]);
}

#[test]
fn enforce_checks_for_drift_once_per_interval_and_records_only_repairs() {
    let mut obj = cronhpa(&json!([{"name": "up", "schedule": "0 0 8 * * *", "targetSize": 5}]), &json!({}));
    obj.spec.enforce = Some(true);
    let start = t("2026-03-02T14:00:00Z");
    // A 30 s interval, as `--min-fire-interval=30s` sets it.
    let mut s = Scheduler::new(TimeZone::UTC, Limits { min_fire_interval: SignedDuration::from_secs(30) });
    s.set_leading(true, start);
    s.upsert(&obj, start);
    fire(&mut s, start, scaled(1, 5));
    assert_eq!(s.next_wakeup(), Some(t("2026-03-02T14:00:30Z")), "the next drift check");
    let status = s.status(&key());
    // Nothing drifted: the check reads, writes nothing, and leaves the status as it was.
    let check = fire(
        &mut s,
        t("2026-03-02T14:00:30Z"),
        Outcome::Applied("already at size".into(), {
            Changes { replicas: Some(Change { from: 5, to: 5 }), ..Changes::default() }
        }),
    );
    assert_eq!((check.kind, check.fire_at), (DueKind::Enforce, t("2026-03-02T08:00:00Z")));
    assert_eq!(s.status(&key()), status, "a check that found no drift costs no status write");
    // Somebody scaled it down: the next check repairs it, and the history says so.
    fire(&mut s, t("2026-03-02T14:01:00Z"), scaled(2, 5));
    let h = history(&s, "up");
    assert_eq!(h.len(), 2);
    assert_eq!((h[1].kind, h[1].changes.replicas), (ExecutionKind::Enforce, Some(Change { from: 2, to: 5 })));
    // Suspended, it stops checking.
    obj.spec.suspend = Some(true);
    s.upsert(&obj, t("2026-03-02T14:01:10Z"));
    assert_eq!(s.next_wakeup(), None);
}

#[test]
fn a_jobs_own_enforce_decides_whether_its_period_is_held() {
    let jobs = |up: Option<bool>, down: Option<bool>| {
        json!([
            {"name": "up", "schedule": "0 0 8 * * *", "targetSize": 5, "enforce": up},
            {"name": "down", "schedule": "0 0 20 * * *", "targetSize": 1, "enforce": down},
        ])
    };
    let day = t("2026-03-02T14:00:00Z");
    let night = t("2026-03-02T21:00:00Z");
    let taken = |obj: &CronHorizontalPodAutoscaler, now| {
        let mut s = Scheduler::new(TimeZone::UTC, Limits::NONE);
        s.set_leading(true, now);
        s.upsert(obj, now);
        let fires: Vec<_> = s.take_due(now).fires.into_iter().map(|d| (d.job, d.kind, d.fire_at)).collect();
        (fires, s.next_wakeup())
    };
    // Only "up" is held, the object is not: by day its period applies at once ...
    let only_up = cronhpa(&jobs(Some(true), None), &json!({}));
    let (fires, _) = taken(&only_up, day);
    assert_eq!(fires, [("up".to_owned(), DueKind::Enforce, t("2026-03-02T08:00:00Z"))]);
    // ... by night the period in force is "down"'s, which is not held (and "up"'s is over: it
    // is not held instead), but the object still checks, for the morning.
    let (fires, wake) = taken(&only_up, night);
    assert!(fires.is_empty(), "{fires:?}");
    assert_eq!(wake, Some(night + SignedDuration::from_secs(1)), "the next drift check");
    // The object holds every period but "down"'s, which says false.
    let all_but_down = cronhpa(&jobs(None, Some(false)), &json!({"enforce": true}));
    assert!(taken(&all_but_down, night).0.is_empty());
    assert_eq!(taken(&all_but_down, day).0.len(), 1);
    // No job held (each says false): no drift check either.
    let none = cronhpa(&jobs(Some(false), Some(false)), &json!({"enforce": true}));
    let (fires, wake) = taken(&none, day);
    assert!(fires.is_empty());
    assert_eq!(wake, Some(t("2026-03-02T20:00:00Z")), "only the next fire");
}

#[test]
fn turning_a_jobs_enforce_on_is_an_edit_of_the_object_not_of_the_job() {
    let mut obj = cronhpa(&json!([{"name": "up", "schedule": "0 0 8 * * *", "targetSize": 5}]), &json!({}));
    let start = t("2026-03-02T07:59:00Z");
    let mut s = Scheduler::new(TimeZone::UTC, Limits::NONE);
    s.set_leading(true, start);
    s.upsert(&obj, start);
    fire(&mut s, t("2026-03-02T08:00:00Z"), scaled(1, 5));
    let before = s.status(&key()).unwrap();
    // Held from an edit at 14:00: the period applies again, and the job is the same plan (its
    // id and history carry over, its next fire is still tomorrow's).
    let now = t("2026-03-02T14:00:00Z");
    obj.metadata.generation = Some(2);
    obj.spec.jobs[0].enforce = Some(true);
    s.upsert(&obj, now);
    let due = fire(&mut s, now, scaled(2, 5));
    assert_eq!((due.kind, due.fire_at), (DueKind::Enforce, t("2026-03-02T08:00:00Z")));
    let after = s.status(&key()).unwrap();
    assert_eq!(after.conditions[0].job_id, before.conditions[0].job_id);
    assert_eq!(
        history(&s, "up").iter().map(|e| e.kind).collect::<Vec<_>>(),
        [ExecutionKind::Regular, ExecutionKind::Enforce]
    );
    let next = after.conditions[0].next_schedule_time.as_ref().map(|t| t.0);
    assert_eq!(next, Some(t("2026-03-03T08:00:00Z")), "the job's plan is unchanged");
    assert_eq!(s.next_wakeup(), Some(t("2026-03-02T14:00:01Z")), "the first drift check");
}
