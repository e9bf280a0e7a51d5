//! The controller killed (SIGKILL) at each point of a fire; a successor applies it once, or not at all
//! past its starting deadline.

use std::time::Duration;

use diurnal_e2e::audit::{self, AuditEvent};
use diurnal_e2e::faults::{AuditTail, signal};
use diurnal_e2e::{
    cluster_or_skip, create_cronhpa, create_deployment, cronhpa, cronhpa_status, deployment_ref, events,
    install_crd, namespace, next_whole_second, replicas, sleep_until, try_wait_for, utc_date,
};
use jiff::{SignedDuration, Timestamp};
use kube::Client;
use serde_json::json;

use super::controller;

/// Where in a fire the controller is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Point {
    /// Stopped (SIGSTOP) 300 ms before the instant, killed after it: no PATCH sent.
    BeforePatch,
    /// Stopped the moment the audit log records its scale PATCH, before its status write (held
    /// while fires run, then written at the next 200 ms flush), then killed.
    BetweenPatchAndStatus,
    /// Killed once its status records the fire.
    AfterBoth,
}

/// The job's `lastScheduleTime` in CronHPA `web`'s status.
async fn last_schedule_time(client: &Client, ns: &str) -> Option<Timestamp> {
    let status = cronhpa_status(client, ns, "web").await?;
    status.conditions.iter().find(|c| c.name == "peak")?.last_schedule_time.as_ref().map(|t| t.0)
}

/// What a SIGKILL at `point` came to: the writes of the killed controller and of its successor.
struct Killed {
    first: Vec<AuditEvent>,
    second: Vec<AuditEvent>,
    size: i32,
    recorded: Option<Timestamp>,
    missed_event: bool,
}

/// One `@date` fire (to 3, from 1) with `deadline` (`startingDeadlineSeconds`); the controller
/// killed at `point`; a successor started `successor_after` past the fire instant. `None`: the
/// point was not hit (the status write won the race), so the caller tries again.
async fn kill_at_the_fire(
    client: &Client,
    point: Point,
    deadline: Option<i64>,
    successor_after: Duration,
) -> Option<Killed> {
    let tag = match point {
        Point::BeforePatch => "kill-before",
        Point::BetweenPatchAndStatus => "kill-between",
        Point::AfterBoth => "kill-after",
    };
    let ns = namespace(client, tag).await;
    create_deployment(client, &ns, "web", 1).await;
    let mut first = controller(tag, &ns);
    let fire = next_whole_second(Duration::from_secs(4));
    let mut obj = cronhpa(
        "web",
        &deployment_ref("web"),
        &json!([{"name": "peak", "schedule": utc_date(fire), "targetSize": 3}]),
    );
    if let Some(d) = deadline {
        obj["spec"]["startingDeadlineSeconds"] = d.into();
    }
    create_cronhpa(client, &ns, obj).await;
    let planned = try_wait_for(Duration::from_secs(4), || async {
        let s = cronhpa_status(client, &ns, "web").await?;
        s.next_schedule_time.filter(|t| t.0 == fire).map(|_| ())
    })
    .await;
    assert!(planned.is_some(), "precondition: the first controller never planned the fire of {fire}");
    match point {
        Point::BeforePatch => {
            sleep_until(fire - SignedDuration::from_millis(300)).await;
            signal(first.pid(), "STOP");
            sleep_until(fire + SignedDuration::from_millis(500)).await;
            first.kill();
        }
        Point::BetweenPatchAndStatus => {
            let mut tail = AuditTail::new(&audit::path());
            let user = first.user().to_owned();
            let patch = tail.wait_for(Duration::from_secs(8), |e| {
                e.user.username == user
                    && e.is_scale_write()
                    && e.object_ref.as_ref().and_then(|r| r.namespace.as_deref()) == Some(ns.as_str())
            });
            signal(first.pid(), "STOP");
            assert!(patch.is_some(), "precondition: the first controller never scaled: {}", first.log_text());
            first.kill();
            if last_schedule_time(client, &ns).await.is_some() {
                eprintln!("{tag}: the status write came before the stop; trying again");
                return None;
            }
        }
        Point::AfterBoth => {
            let recorded = try_wait_for(Duration::from_secs(8), || async {
                last_schedule_time(client, &ns).await.filter(|t| *t == fire)
            })
            .await;
            assert!(recorded.is_some(), "precondition: the fire was never recorded: {}", first.log_text());
            first.kill();
        }
    }
    sleep_until(fire + SignedDuration::try_from(successor_after).unwrap()).await;
    let second = controller(&format!("{tag}-next"), &ns);
    // The successor has caught up once its status says so (lastScheduleTime, or the missed
    // deadline's message); anything more would come right after.
    try_wait_for(Duration::from_secs(8), || async {
        let s = cronhpa_status(client, &ns, "web").await?;
        let c = s.conditions.iter().find(|c| c.name == "peak")?;
        (c.last_schedule_time.as_ref().is_some_and(|t| t.0 == fire) || c.message.contains("missed"))
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let missed_event = events(client, &ns).await.iter().any(|(reason, _)| reason == "MissedDeadline");
    Some(Killed {
        first: audit::scale_writes(&ns, first.user()),
        second: audit::scale_writes(&ns, second.user()),
        size: replicas(client, &ns, "web").await,
        recorded: last_schedule_time(client, &ns).await,
        missed_event,
    })
}

/// Runs [`kill_at_the_fire`] until the point is hit (three tries), and checks the outcome:
/// `applied` says whether the fire must end up applied (once), else never.
async fn check_kill(point: Point, deadline: Option<i64>, successor_after: Duration, applied: bool) {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let started = std::time::Instant::now();
    let mut tries = 0;
    let killed = loop {
        tries += 1;
        if let Some(k) = kill_at_the_fire(&client, point, deadline, successor_after).await {
            break k;
        }
        assert!(tries < 3, "{point:?}: the status write won the race {tries} times");
    };
    let all: Vec<&AuditEvent> = killed.first.iter().chain(&killed.second).collect();
    let report = format!(
        "{point:?}, deadline {deadline:?}, successor {successor_after:?} after the fire: killed controller wrote\n{}\nsuccessor wrote\n{}\nsize {}, lastScheduleTime {:?}",
        audit::describe(&killed.first),
        audit::describe(&killed.second),
        killed.size,
        killed.recorded
    );
    let expected_first = usize::from(point != Point::BeforePatch);
    assert_eq!(killed.first.len(), expected_first, "{report}");
    if applied {
        assert_eq!(all.len(), 1, "the fire must be applied exactly once: {report}");
        assert_eq!(all[0].replicas(), Some(3), "{report}");
        assert_eq!(killed.size, 3, "{report}");
    } else {
        assert!(all.is_empty(), "past its deadline the fire must not be applied: {report}");
        assert_eq!(killed.size, 1, "{report}");
    }
    if deadline.is_some() {
        assert!(killed.missed_event, "the successor emitted no MissedDeadline Event: {report}");
    } else {
        assert!(killed.recorded.is_some(), "the successor never recorded the fire: {report}");
    }
    eprintln!(
        "FIGURE kill {point:?} deadline={deadline:?}: expected {} applied {} doubled {} lost {} tries {tries} wall {:.1}s",
        u8::from(applied),
        all.len().min(1),
        all.len().saturating_sub(1),
        u8::from(applied && all.is_empty()),
        started.elapsed().as_secs_f64()
    );
}

const SOON: Duration = Duration::from_millis(800);

#[tokio::test]
async fn sigkill_before_the_patch_the_successor_applies_the_fire_once() {
    check_kill(Point::BeforePatch, None, SOON, true).await;
}

#[tokio::test]
async fn sigkill_between_the_patch_and_the_status_write_the_successor_does_not_apply_it_again() {
    check_kill(Point::BetweenPatchAndStatus, None, SOON, true).await;
}

#[tokio::test]
async fn sigkill_after_the_patch_and_the_status_write_the_successor_does_nothing() {
    check_kill(Point::AfterBoth, None, SOON, true).await;
}

#[tokio::test]
#[ignore = "fault suite: cargo test -p diurnal-e2e --test process_faults -- --include-ignored"]
async fn sigkill_before_the_patch_and_the_deadline_passed_the_successor_applies_nothing() {
    check_kill(Point::BeforePatch, Some(2), Duration::from_secs(4), false).await;
}

#[tokio::test]
#[ignore = "fault suite: cargo test -p diurnal-e2e --test process_faults -- --include-ignored"]
async fn sigkill_between_the_patch_and_the_status_write_and_the_deadline_passed_nothing_more() {
    check_kill(Point::BetweenPatchAndStatus, Some(2), Duration::from_secs(4), true).await;
}
