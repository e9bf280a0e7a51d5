//! The scheduler driven by a fake clock: each test feeds objects and instants and asserts on the
//! fires taken and the status rendered. Regression tests name the defect of issue 12 they pin.

use super::*;
use diurnal_api::{CronHorizontalPodAutoscalerStatus, JobCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

pub(super) fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A CronHPA `ns/c` (uid `u1`, generation 1, created 2026-01-01) with these jobs and extra spec
/// fields.
pub(super) fn cronhpa(jobs: &serde_json::Value, extra: &serde_json::Value) -> CronHorizontalPodAutoscaler {
    let mut spec = json!({
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "jobs": jobs,
    });
    spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    serde_json::from_value(json!({
        "apiVersion": "autoscaling.alibabacloud.com/v1beta1",
        "kind": "CronHorizontalPodAutoscaler",
        "metadata": {"name": "c", "namespace": "ns", "uid": "u1", "generation": 1, "creationTimestamp": "2026-01-01T00:00:00Z"},
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

/// One `runOnce` job that would fire every minute.
fn once_a_minute_run_once() -> CronHorizontalPodAutoscaler {
    cronhpa(
        &json!([{"name": "once", "schedule": "0 * * * * *", "targetSize": 2, "runOnce": true}]),
        &json!({}),
    )
}

fn leading_scheduler(now: Timestamp) -> Scheduler {
    let mut s = Scheduler::new(TimeZone::UTC, Limits::NONE);
    s.set_leading(true, now);
    s
}

/// A process starting at `now` with `obj` (and the status it carries) already in the API: it
/// lists it, takes the lead, and takes what is due.
fn started_with(obj: &CronHorizontalPodAutoscaler, now: Timestamp) -> (Scheduler, Taken) {
    let mut s = Scheduler::new(TimeZone::UTC, Limits::NONE);
    s.upsert(obj, now);
    s.set_leading(true, now);
    let taken = s.take_due(now);
    (s, taken)
}

fn fires(due: &[Due]) -> Vec<(String, String, i32)> {
    let size = |d: &Due| match d.size {
        Size::Replicas(n) | Size::Exact(n) => n,
        Size::Bounds { min, .. } => min.unwrap_or(0),
    };
    due.iter().map(|d| (d.job.clone(), d.fire_at.to_string(), size(d))).collect()
}

/// Takes and applies everything due, one take per round (as the shell does after each
/// completion), until nothing more is due at `now`. Returns every fire applied.
fn run_until(s: &mut Scheduler, now: Timestamp) -> Vec<Due> {
    let mut all = Vec::new();
    loop {
        let taken = s.take_due(now).fires;
        if taken.is_empty() {
            return all;
        }
        for d in &taken {
            s.complete(d, applied("ok"), now);
        }
        all.extend(taken);
    }
}

fn applied(message: &str) -> Outcome {
    Outcome::Applied(message.into(), Changes::default())
}

fn key() -> ObjectKey {
    ObjectKey { namespace: "ns".into(), name: "c".into() }
}

fn condition(name: &str, last: Option<&str>) -> JobCondition {
    JobCondition {
        name: name.into(),
        job_id: String::new(),
        schedule: String::new(),
        target_size: 0,
        run_once: false,
        state: JobState::Succeed,
        last_probe_time: None,
        message: String::new(),
        last_schedule_time: last.map(|l| Time(t(l))),
        ..JobCondition::default()
    }
}

#[test]
fn fires_come_out_in_order_and_each_only_once() {
    let start = t("2026-03-02T10:00:05Z");
    let mut s = leading_scheduler(start);
    s.upsert(&updown(), start);
    assert_eq!(s.next_wakeup(), Some(t("2026-03-02T10:00:30Z")));
    assert!(s.take_due(t("2026-03-02T10:00:29Z")).fires.is_empty());
    let due = run_until(&mut s, t("2026-03-02T10:00:30Z"));
    assert_eq!(fires(&due), [("down".into(), "2026-03-02T10:00:30Z".into(), 1)]);
    assert_eq!(due[0].kind, DueKind::Regular);
    let due = run_until(&mut s, t("2026-03-02T10:01:00Z"));
    assert_eq!(fires(&due), [("up".into(), "2026-03-02T10:01:00Z".into(), 5)]);
    assert!(s.take_due(t("2026-03-02T10:01:00Z")).fires.is_empty());
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
    assert!(!s.upsert(&reordered, t("2026-03-02T10:00:06Z")).changed, "same plans, only moved");
    let mut seen = Vec::new();
    for at in ["2026-03-02T10:00:30Z", "2026-03-02T10:01:00Z", "2026-03-02T10:01:30Z"] {
        seen.extend(fires(&run_until(&mut s, t(at))));
    }
    assert_eq!(
        seen,
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
    assert_eq!(s.take_due(t("2026-03-02T10:00:30Z")).fires.len(), 1, "nothing was taken by looking ahead");
}

#[test]
fn nothing_fires_while_not_leading() {
    let now = t("2026-03-02T10:00:05Z");
    let mut s = Scheduler::new(TimeZone::UTC, Limits::NONE);
    s.upsert(&updown(), now);
    assert!(s.take_due(t("2026-03-02T11:00:00Z")).fires.is_empty());
    assert_eq!(s.next_wakeup(), None);
}

#[test]
fn a_deleted_object_never_fires_again() {
    let now = t("2026-03-02T10:00:05Z");
    let mut s = leading_scheduler(now);
    let obj = updown();
    s.upsert(&obj, now);
    s.remove(&ObjectKey::of(&obj));
    assert!(s.take_due(t("2026-03-02T12:00:00Z")).fires.is_empty());
    assert_eq!(s.next_wakeup(), None);
}

#[test]
fn an_edit_replans_only_the_changed_job_from_the_moment_of_the_edit() {
    let start = t("2026-03-02T10:00:05Z");
    let mut s = leading_scheduler(start);
    s.upsert(&updown(), start);
    let mut edited = updown();
    edited.spec.jobs[0].schedule = "15 * * * * *".into();
    assert!(s.upsert(&edited, t("2026-03-02T10:00:10Z")).changed);
    let first = run_until(&mut s, t("2026-03-02T10:00:15Z"));
    assert_eq!(fires(&first), [("up".into(), "2026-03-02T10:00:15Z".into(), 5)]);
    let second = run_until(&mut s, t("2026-03-02T10:00:30Z"));
    assert_eq!(fires(&second), [("down".into(), "2026-03-02T10:00:30Z".into(), 1)]);
    // Re-delivering the same object (e.g. our own status write) re-plans nothing and does not
    // grow the queue.
    let queued = s.queue_len();
    assert!(!s.upsert(&edited, t("2026-03-02T10:00:41Z")).changed);
    assert_eq!(s.queue_len(), queued);
}

#[test]
fn a_missed_fire_is_caught_up_once_on_taking_the_lead() {
    let mut obj = updown();
    obj.status = Some(CronHorizontalPodAutoscalerStatus {
        conditions: vec![condition("up", Some("2026-03-02T10:00:00Z"))],
        ..Default::default()
    });
    let now = t("2026-03-02T10:05:10Z");
    let (mut s, taken) = started_with(&obj, now);
    // Only the object's latest missed fire (10:05:00 up), not the nine before it; down's
    // 10:04:30 is superseded by it.
    assert_eq!(fires(&taken.fires), [("up".into(), "2026-03-02T10:05:00Z".into(), 5)]);
    assert_eq!(taken.fires[0].kind, DueKind::CatchUp);
    assert!(
        matches!(&taken.settled[..], [SettledFire { job, why: Settled::Superseded { .. }, .. }] if job == "down")
    );
    s.complete(&taken.fires[0], applied("ok"), now);
    // Losing and regaining the lead does not apply it again.
    s.set_leading(false, now);
    s.set_leading(true, now);
    assert!(s.take_due(now).fires.is_empty());
}

#[test]
fn a_catch_up_older_than_the_starting_deadline_is_missed() {
    let mut obj = updown();
    obj.spec.starting_deadline_seconds = Some(5);
    let (_, taken) = started_with(&obj, t("2026-03-02T10:05:10Z"));
    assert!(taken.fires.is_empty());
    assert!(taken.settled.iter().all(|f| matches!(f.why, Settled::Missed { .. })), "{:?}", taken.settled);
}

#[test]
fn failures_are_retried_with_backoff_until_a_later_fire_supersedes_them() {
    let start = t("2026-03-02T10:00:05Z");
    let mut s = leading_scheduler(start);
    s.upsert(&updown(), start);
    let due = s.take_due(t("2026-03-02T10:00:30Z")).fires;
    s.complete(&due[0], Outcome::Failed("conflict".into()), t("2026-03-02T10:00:30Z"));
    let status = s.status(&due[0].key).unwrap();
    assert_eq!(status.conditions[1].state, JobState::Failed);
    assert_eq!(status.conditions[1].message, "conflict; will retry");
    assert_eq!(s.phases(&key())[1], ("down".into(), "retrying"));
    let retry = s.take_due(t("2026-03-02T10:00:31Z")).fires;
    assert_eq!(fires(&retry), [("down".into(), "2026-03-02T10:00:30Z".into(), 1)]);
    assert_eq!(retry[0].kind, DueKind::Retry(2));
    s.complete(&retry[0], Outcome::Failed("conflict".into()), t("2026-03-02T10:00:31Z"));
    assert!(s.take_due(t("2026-03-02T10:00:32Z")).fires.is_empty(), "second retry waits 2 s");
    let retry = s.take_due(t("2026-03-02T10:00:33Z")).fires;
    assert_eq!(retry[0].kind, DueKind::Retry(3));
    s.complete(&retry[0], Outcome::Failed("conflict".into()), t("2026-03-02T10:00:33Z"));
    // The third retry would be at 10:00:37 + 8 s = 10:00:45 + ...; at 10:01:00 the object's
    // next fire stands instead and the retry is dropped.
    let retry = s.take_due(t("2026-03-02T10:00:37Z")).fires;
    assert_eq!(retry[0].kind, DueKind::Retry(4));
    s.complete(&retry[0], Outcome::Failed("conflict".into()), t("2026-03-02T10:00:37Z"));
    let later = s.take_due(t("2026-03-02T10:01:00Z"));
    assert_eq!(fires(&later.fires), [("up".into(), "2026-03-02T10:01:00Z".into(), 5)]);
    assert!(later.settled.iter().any(|f| f.job == "down" && matches!(f.why, Settled::Superseded { .. })));
    s.complete(&later.fires[0], applied("ok"), t("2026-03-02T10:01:00Z"));
    assert!(s.take_due(t("2026-03-02T10:01:29Z")).fires.is_empty(), "superseded: no more retries");
}

#[test]
fn retry_delays_double_from_one_second_to_thirty() {
    let secs: Vec<i64> = (2..=9).map(|a| retry_delay(a).as_secs()).collect();
    assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
}

#[test]
fn a_run_once_job_is_done_after_its_first_success_even_across_restarts() {
    let obj = once_a_minute_run_once();
    let start = t("2026-03-02T10:00:05Z");
    let mut s = leading_scheduler(start);
    s.upsert(&obj, start);
    let due = run_until(&mut s, t("2026-03-02T10:01:00Z"));
    assert_eq!(due.len(), 1);
    assert_eq!(s.phases(&key()), [("once".into(), "done")]);
    assert!(s.take_due(t("2026-03-02T10:05:00Z")).fires.is_empty());
    // A new process reads the status the first one wrote.
    let mut written = obj.clone();
    written.status = s.status(&due[0].key);
    let mut fresh = Scheduler::new(TimeZone::UTC, Limits::NONE);
    fresh.upsert(&written, t("2026-03-02T10:05:00Z"));
    fresh.set_leading(true, t("2026-03-02T10:05:00Z"));
    assert!(fresh.take_due(t("2026-03-02T11:00:00Z")).fires.is_empty());
}

#[test]
fn fires_on_excluded_days_are_settled_without_a_write() {
    let obj = cronhpa(
        &json!([{"name": "up", "schedule": "0 0 9 * * *", "targetSize": 3}]),
        &json!({"timeZone": "Asia/Shanghai", "excludeDates": ["2026-03-03"]}),
    );
    let start = t("2026-03-02T00:00:00Z");
    let mut s = leading_scheduler(start);
    s.upsert(&obj, start);
    assert_eq!(run_until(&mut s, t("2026-03-02T02:00:00Z")).len(), 1);
    let taken = s.take_due(t("2026-03-03T02:00:00Z"));
    assert!(taken.fires.is_empty());
    assert_eq!(taken.settled.len(), 1);
    assert_eq!(taken.settled[0].why, Settled::Excluded);
    let status = s.status(&key()).unwrap();
    assert_eq!(
        status.conditions[0].last_schedule_time,
        Some(Time(t("2026-03-02T01:00:00Z"))),
        "not recorded"
    );
    assert!(status.conditions[0].message.contains("excluded"));
    assert_eq!(fires(&run_until(&mut s, t("2026-03-04T02:00:00Z"))).len(), 1);
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
    let report = s.upsert(&obj, start);
    assert_eq!(report.invalid.iter().map(|(j, _)| j.as_str()).collect::<Vec<_>>(), ["bad", "zone"]);
    let due = run_until(&mut s, t("2026-03-02T11:00:00Z"));
    assert_eq!(fires(&due), [("good".into(), "2026-03-02T11:00:00Z".into(), 4)]);
    let status = s.status(&ObjectKey::of(&obj)).unwrap();
    assert_eq!(status.conditions[0].state, JobState::Failed);
    assert!(
        status.conditions[0].message.contains("spec.jobs[0].schedule"),
        "{}",
        status.conditions[0].message
    );
    assert!(status.conditions[1].message.contains("Nowhere/City"));
    assert_eq!(status.conditions[2].state, JobState::Succeed);
}

#[test]
fn a_suspended_object_does_not_fire_and_says_so() {
    let mut obj = updown();
    obj.spec.suspend = Some(true);
    let start = t("2026-03-02T10:00:05Z");
    let mut s = leading_scheduler(start);
    s.upsert(&obj, start);
    assert!(s.take_due(t("2026-03-02T11:00:00Z")).fires.is_empty());
    let status = s.status(&ObjectKey::of(&obj)).unwrap();
    assert!(status.conditions.iter().all(|c| c.message.starts_with("suspended")));
    assert_eq!(status.next_schedule_time, None);
}

#[test]
fn status_lists_every_job_with_its_next_and_last_fire() {
    let start = t("2026-03-02T10:00:05Z");
    let mut s = leading_scheduler(start);
    let obj = updown();
    s.upsert(&obj, start);
    run_until(&mut s, t("2026-03-02T10:00:30Z"));
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

// --- Regressions of issue 12 ---

/// Defect 1: an object-wide error, once fixed, re-plans its jobs and clears the old message.
#[test]
fn an_object_wide_error_once_fixed_replans_every_job() {
    let start = t("2026-03-02T10:00:05Z");
    for broken in [
        json!({"excludeDates": ["2026-13-45"]}),
        json!({"timeZone": "Mars/Olympus"}),
        json!({"scaleTargetRef": {"apiVersion": "apps v1", "kind": "Deployment", "name": "web"}}),
    ] {
        let mut s = leading_scheduler(start);
        s.upsert(&updown(), start);
        let mut bad = updown();
        let mut spec = serde_json::to_value(&bad.spec).unwrap();
        spec.as_object_mut().unwrap().extend(broken.as_object().unwrap().clone());
        bad.spec = serde_json::from_value(spec).unwrap();
        bad.metadata.generation = Some(2);
        let report = s.upsert(&bad, t("2026-03-02T10:00:06Z"));
        assert_eq!(report.invalid.len(), 2, "the invalidating edit names both jobs: {broken}");
        assert!(s.take_due(t("2026-03-02T10:00:40Z")).fires.is_empty());
        let mut fixed = updown();
        fixed.metadata.generation = Some(3);
        s.upsert(&fixed, t("2026-03-02T10:00:41Z"));
        let status = s.status(&key()).unwrap();
        assert!(status.conditions.iter().all(|c| c.state != JobState::Failed), "{status:?}");
        assert!(status.conditions.iter().all(|c| c.next_schedule_time.is_some()));
        let due = run_until(&mut s, t("2026-03-02T10:01:00Z"));
        assert_eq!(fires(&due), [("up".into(), "2026-03-02T10:01:00Z".into(), 5)], "{broken}");
    }
}

/// Defect 2: a failed completion for a job that was made invalid meanwhile never panics and
/// queues nothing.
#[test]
fn a_failure_completing_after_an_invalidating_edit_does_not_panic() {
    let start = t("2026-03-02T10:00:05Z");
    let mut s = leading_scheduler(start);
    s.upsert(&updown(), start);
    let due = s.take_due(t("2026-03-02T10:00:30Z")).fires;
    let mut bad = updown();
    bad.spec.exclude_dates = vec!["not a date".into()];
    s.upsert(&bad, t("2026-03-02T10:00:30Z"));
    s.complete(&due[0], Outcome::Failed("boom".into()), t("2026-03-02T10:00:31Z"));
    assert!(s.take_due(t("2026-03-02T10:05:00Z")).fires.is_empty());
    assert!(s.phases(&key()).iter().all(|(_, p)| *p == "invalid"));
}

/// Defect 3: up 09:00 / down 18:00 with weekends excluded, controller down Friday 17:00 to
/// Saturday 10:00: Friday's scale-down is applied, Saturday's excluded fire is not recorded.
#[test]
fn catch_up_skips_excluded_fires_and_applies_the_last_real_one() {
    let mut obj = cronhpa(
        &json!([
            {"name": "up", "schedule": "0 0 9 * * *", "targetSize": 10},
            {"name": "down", "schedule": "0 0 18 * * *", "targetSize": 2},
        ]),
        &json!({"timeZone": "Asia/Shanghai", "excludeDates": ["* * * * * SAT,SUN"]}),
    );
    // Friday 2026-03-06 09:00 +08:00 was applied; the controller stopped at 17:00.
    obj.status = Some(CronHorizontalPodAutoscalerStatus {
        conditions: vec![
            condition("up", Some("2026-03-06T01:00:00Z")),
            condition("down", Some("2026-03-05T10:00:00Z")),
        ],
        ..Default::default()
    });
    let saturday_10 = t("2026-03-07T02:00:00Z");
    let (_, taken) = started_with(&obj, saturday_10);
    assert_eq!(fires(&taken.fires), [("down".into(), "2026-03-06T10:00:00Z".into(), 2)]);
    assert_eq!(taken.fires[0].kind, DueKind::CatchUp);
}

/// Defect 3, second half: an excluded fire does not cancel the retry of an earlier real one.
#[test]
fn an_excluded_fire_does_not_cancel_a_retry() {
    let obj = cronhpa(
        &json!([
            {"name": "down", "schedule": "0 59 23 * * *", "targetSize": 2},
            {"name": "up", "schedule": "0 0 0 * * *", "targetSize": 10},
        ]),
        &json!({"excludeDates": ["2026-03-07"]}),
    );
    let start = t("2026-03-06T23:00:00Z");
    let mut s = leading_scheduler(start);
    s.upsert(&obj, start);
    let down = s.take_due(t("2026-03-06T23:59:00Z")).fires;
    s.complete(&down[0], Outcome::Failed("timeout".into()), t("2026-03-06T23:59:59Z"));
    let midnight = s.take_due(t("2026-03-07T00:00:00Z"));
    assert_eq!(
        fires(&midnight.fires),
        [("down".into(), "2026-03-06T23:59:00Z".into(), 2)],
        "the retry stands"
    );
    assert_eq!(midnight.settled[0].why, Settled::Excluded);
}

/// Defect 4: the old controller's status (UUID jobIds, Succeed, lastProbeTime, no
/// lastScheduleTime) is history: a past @date and a done runOnce job are not applied again.
#[test]
fn the_old_controllers_status_is_read_as_history() {
    let mut obj = cronhpa(
        &json!([
            {"name": "launch", "schedule": "@date 2026-02-01 08:00:00", "targetSize": 20},
            {"name": "once", "schedule": "0 0 9 * * *", "targetSize": 7, "runOnce": true},
        ]),
        &json!({}),
    );
    let legacy = |name: &str, schedule: &str, size: i32, run_once: bool, probe: &str| JobCondition {
        name: name.into(),
        job_id: "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b".into(),
        schedule: schedule.into(),
        target_size: size,
        run_once,
        state: JobState::Succeed,
        last_probe_time: Some(Time(t(probe))),
        message: "cron hpa job launch executed successfully".into(),
        ..JobCondition::default()
    };
    obj.status = Some(CronHorizontalPodAutoscalerStatus {
        conditions: vec![
            legacy("launch", "@date 2026-02-01 08:00:00", 20, false, "2026-02-01T08:00:01Z"),
            legacy("once", "0 0 9 * * *", 7, true, "2026-01-02T09:00:00Z"),
        ],
        ..Default::default()
    });
    let now = t("2026-03-02T12:00:00Z");
    let (mut s, taken) = started_with(&obj, now);
    assert!(taken.fires.is_empty());
    assert_eq!(s.phases(&key())[1], ("once".into(), "done"));
    assert!(s.take_due(t("2026-03-03T09:00:00Z")).fires.is_empty());
}

/// Defect 8: two jobs in the same second: one write, the last job in `jobs[]` order stands.
#[test]
fn same_instant_fires_apply_the_last_job_only() {
    let obj = cronhpa(
        &json!([
            {"name": "peak", "schedule": "0 0 9 * * *", "targetSize": 10},
            {"name": "override", "schedule": "0 0 9 * * *", "targetSize": 3},
        ]),
        &json!({}),
    );
    let start = t("2026-03-02T08:00:00Z");
    let mut s = leading_scheduler(start);
    s.upsert(&obj, start);
    let taken = s.take_due(t("2026-03-02T09:00:00Z"));
    assert_eq!(fires(&taken.fires), [("override".into(), "2026-03-02T09:00:00Z".into(), 3)]);
    assert!(matches!(&taken.settled[0].why, Settled::Superseded { by_job, .. } if by_job == "override"));
}

/// Defect 8: one fire of an object at a time; a later fire waits for the one in flight.
#[test]
fn an_objects_fires_are_applied_one_at_a_time() {
    let start = t("2026-03-02T10:00:05Z");
    let mut s = leading_scheduler(start);
    s.upsert(&updown(), start);
    let first = s.take_due(t("2026-03-02T10:00:30Z")).fires;
    assert_eq!(s.phases(&key())[1], ("down".into(), "in flight"));
    assert!(s.take_due(t("2026-03-02T10:01:00Z")).fires.is_empty(), "up waits for down");
    s.complete(&first[0], Outcome::Failed("slow".into()), t("2026-03-02T10:01:00Z"));
    let next = s.take_due(t("2026-03-02T10:01:00Z"));
    assert_eq!(
        fires(&next.fires),
        [("up".into(), "2026-03-02T10:01:00Z".into(), 5)],
        "the later fire supersedes the retry"
    );
}

/// Defect 8: after a stall, only the latest missed fire of each job counts (not 172,800).
#[test]
fn a_long_stall_takes_one_fire_not_every_missed_one() {
    let obj = cronhpa(&json!([{"name": "tick", "schedule": "* * * * * *", "targetSize": 2}]), &json!({}));
    let start = t("2026-03-02T00:00:00Z");
    let mut s = leading_scheduler(start);
    s.upsert(&obj, start);
    let two_days = t("2026-03-04T00:00:00Z");
    let taken = s.take_due(two_days);
    assert_eq!(fires(&taken.fires), [("tick".into(), "2026-03-04T00:00:00Z".into(), 2)]);
    assert!(taken.settled.is_empty());
}

/// Defect 8: the starting deadline applies to late regular fires and to retries.
#[test]
fn the_deadline_applies_to_late_fires_and_retries() {
    let mut obj = updown();
    obj.spec.starting_deadline_seconds = Some(3);
    let start = t("2026-03-02T10:00:05Z");
    let mut s = leading_scheduler(start);
    s.upsert(&obj, start);
    let late = s.take_due(t("2026-03-02T10:00:35Z"));
    assert!(late.fires.is_empty());
    assert!(matches!(late.settled[0].why, Settled::Missed { .. }));
    let due = s.take_due(t("2026-03-02T10:01:01Z")).fires;
    s.complete(&due[0], Outcome::Failed("x".into()), t("2026-03-02T10:01:01Z"));
    let retry = s.take_due(t("2026-03-02T10:01:02Z")).fires;
    assert_eq!(retry[0].kind, DueKind::Retry(2));
    s.complete(&retry[0], Outcome::Failed("x".into()), t("2026-03-02T10:01:02Z"));
    let status = s.status(&key()).unwrap();
    assert!(
        status.conditions[0].message.ends_with("not retried: past startingDeadlineSeconds"),
        "{status:?}"
    );
    assert!(s.take_due(t("2026-03-02T10:01:10Z")).fires.is_empty());
}

/// Defect 11: on unsuspend, the latest fire missed while suspended applies once.
#[test]
fn unsuspending_catches_up_like_a_restart() {
    let start = t("2026-03-02T10:00:05Z");
    let mut s = leading_scheduler(start);
    s.upsert(&updown(), start);
    run_until(&mut s, t("2026-03-02T10:00:30Z"));
    let mut suspended = updown();
    suspended.spec.suspend = Some(true);
    s.upsert(&suspended, t("2026-03-02T10:00:40Z"));
    assert!(s.take_due(t("2026-03-02T10:05:00Z")).fires.is_empty());
    s.upsert(&updown(), t("2026-03-02T10:05:10Z"));
    let taken = s.take_due(t("2026-03-02T10:05:10Z"));
    assert_eq!(fires(&taken.fires), [("up".into(), "2026-03-02T10:05:00Z".into(), 5)]);
    assert_eq!(taken.fires[0].kind, DueKind::CatchUp);
}

/// Item 12: a delete and re-create under the same name (seen only through a re-list) starts
/// afresh: the old object's runOnce state does not carry over.
#[test]
fn a_recreated_object_inherits_nothing() {
    let obj = once_a_minute_run_once();
    let start = t("2026-03-02T10:00:05Z");
    let mut s = leading_scheduler(start);
    s.upsert(&obj, start);
    run_until(&mut s, t("2026-03-02T10:01:00Z"));
    assert_eq!(s.phases(&key())[0].1, "done");
    let mut again = obj.clone();
    again.metadata.uid = Some("u2".into());
    s.upsert(&again, t("2026-03-02T10:01:10Z"));
    assert_eq!(s.phases(&key())[0].1, "planned");
    assert_eq!(run_until(&mut s, t("2026-03-02T10:02:00Z")).len(), 1);
}

/// Item 13: a completion from before a lost lead is ignored.
#[test]
fn a_completion_from_before_the_lead_was_lost_is_ignored() {
    let start = t("2026-03-02T10:00:05Z");
    let mut s = leading_scheduler(start);
    s.upsert(&updown(), start);
    let due = s.take_due(t("2026-03-02T10:00:30Z")).fires;
    s.set_leading(false, t("2026-03-02T10:00:31Z"));
    s.set_leading(true, t("2026-03-02T10:00:32Z"));
    s.complete(&due[0], applied("late"), t("2026-03-02T10:00:33Z"));
    let status = s.status(&key()).unwrap();
    assert_ne!(status.last_result.as_deref(), Some("Succeed down: late"));
}

/// Item 12: warnings reach the status; a past @date warns.
#[test]
fn warnings_reach_the_status() {
    let obj = cronhpa(
        &json!([{"name": "old", "schedule": "@date 2026-01-01 00:00:00", "targetSize": 2},
                {"name": "five", "schedule": "0 9 * * *", "targetSize": 2}]),
        &json!({}),
    );
    let now = t("2026-03-02T10:00:05Z");
    let mut s = leading_scheduler(now);
    let report = s.upsert(&obj, now);
    assert_eq!(report.warnings.len(), 2, "{:?}", report.warnings);
    let status = s.status(&key()).unwrap();
    assert_eq!(status.warnings, report.warnings);
    assert!(s.upsert(&obj, now).warnings.is_empty(), "reported once per generation");
}

/// Issue 13, item 7: an object at every schema bound (and over the job bound, as one stored before
/// the schema had it) renders a status within `MAX_STATUS_BYTES`, however long its error texts.
#[test]
fn the_largest_object_s_status_is_bounded() {
    use diurnal_api::limits;
    let long_schedule = format!("0 0 9 * * {}", "MON,".repeat(70));
    let jobs: Vec<serde_json::Value> = (0..limits::MAX_JOBS + 100)
        .map(|i| {
            json!({
                "name": format!("{i:0>63}"),
                "schedule": &long_schedule[..limits::MAX_SCHEDULE],
                "targetSize": 1,
                "timeZone": "America/Argentina/ComodRivadavia",
            })
        })
        .collect();
    // Every exclusion invalid and as long as allowed: each job's message would join them all.
    let excludes: Vec<String> = (0..limits::MAX_EXCLUDE_DATES)
        .map(|i| format!("{i:x<width$}", width = limits::MAX_EXCLUDE_DATE))
        .collect();
    let mut obj = cronhpa(&json!(jobs), &json!({"excludeDates": excludes, "historyLimit": 32}));
    // And every job's history as full as anything could have written it.
    let execution = diurnal_api::Execution {
        schedule_time: Time(t("2026-06-01T00:00:00Z")),
        execution_time: Time(t("2026-06-01T00:00:00Z")),
        kind: diurnal_api::ExecutionKind::CatchUp,
        result: diurnal_api::ExecutionResult::MissedDeadline,
        changes: diurnal_api::Changes {
            replicas: Some(diurnal_api::Change { from: 100_000, to: 100_000 }),
            min_replicas: Some(diurnal_api::Change { from: 100_000, to: 100_000 }),
            max_replicas: Some(diurnal_api::Change { from: 100_000, to: 100_000 }),
        },
        message: "x".repeat(4096),
    };
    obj.status = Some(CronHorizontalPodAutoscalerStatus {
        job_histories: obj
            .spec
            .jobs
            .iter()
            .map(|j| diurnal_api::JobHistory {
                name: j.name.clone(),
                executions: vec![execution.clone(); 32],
            })
            .collect(),
        ..Default::default()
    });
    let mut s = leading_scheduler(t("2026-06-01T00:00:00Z"));
    s.upsert(&obj, t("2026-06-01T00:00:00Z"));
    let status = s.status(&ObjectKey::of(&obj)).unwrap();
    assert_eq!(status.conditions.len(), limits::MAX_JOBS, "jobs past the bound are not indexed");
    assert!(status.conditions.iter().all(|c| c.state == JobState::Failed));
    let unbounded: usize = status.conditions.iter().map(|c| c.message.len()).max().unwrap();
    assert!(unbounded <= 1024, "a job message is cut: {unbounded} bytes");
    assert_eq!(status.job_histories.len(), limits::MAX_JOBS);
    let bytes = serde_json::to_vec(&status).unwrap().len();
    assert!(bytes <= status::MAX_STATUS_BYTES, "{bytes} bytes");
    assert!(bytes > status::MAX_STATUS_BYTES / 4, "the object really is large: {bytes} bytes");
}

/// Issue 13, item 7: a job that fires more often than the scheduler's limit is invalid (with the
/// reason in its condition) and never taken; its neighbours fire.
#[test]
fn a_job_under_the_minimum_fire_interval_never_fires() {
    let obj = cronhpa(
        &json!([
            {"name": "flood", "schedule": "* * * * * *", "targetSize": 5},
            {"name": "fine", "schedule": "0 * * * * *", "targetSize": 1},
        ]),
        &json!({}),
    );
    let now = t("2026-06-01T00:00:00Z");
    let mut s = Scheduler::new(TimeZone::UTC, Limits::default());
    s.set_leading(true, now);
    s.upsert(&obj, now);
    let status = s.status(&ObjectKey::of(&obj)).unwrap();
    assert_eq!(status.conditions[0].state, JobState::Failed);
    assert!(
        status.conditions[0].message.contains("at most once every 1m"),
        "{}",
        status.conditions[0].message
    );
    assert_eq!(status.conditions[1].state, JobState::Submitted);
    let taken = s.take_due(t("2026-06-01T00:01:00Z"));
    let jobs: Vec<&str> = taken.fires.iter().map(|d| d.job.as_str()).collect();
    assert_eq!(jobs, ["fine"]);
}
