//! The controller's wall clock stepped an hour forward and ten minutes back (libfaketime).

use std::time::Duration;

use diurnal_e2e::audit::{self, AuditEvent};
use diurnal_e2e::faults::ClockFile;
use diurnal_e2e::launch::Launch;
use diurnal_e2e::{
    Controller, cluster_or_skip, create_cronhpa, create_deployment, cronhpa, cronhpa_status, deployment_ref,
    install_crd, namespace, try_wait_for,
};
use jiff::Timestamp;
use kube::Client;
use kube::api::Api;
use serde_json::json;

/// A controller whose wall clock is read from `clock` (libfaketime), watching `ns`.
fn clocked_controller(name: &str, ns: &str, clock: &ClockFile) -> Controller {
    let launch = Launch { clock_file: Some(clock.path.clone()), ..Launch::default() };
    Controller::start_with(name, &["--namespace", ns, "--leader-election", "off"], &launch)
}

/// Sets Deployment `name`'s replicas (as someone else would).
async fn set_replicas(client: &Client, ns: &str, name: &str, n: i32) {
    use k8s_openapi::api::apps::v1::Deployment;
    let patch = kube::api::Patch::Merge(json!({"spec": {"replicas": n}}));
    Api::<Deployment>::namespaced(client.clone(), ns)
        .patch(name, &kube::api::PatchParams::default(), &patch)
        .await
        .unwrap();
}

/// The controller's successful scale writes in `ns` received after `t`.
fn writes_after(ns: &str, controller: &Controller, t: Timestamp) -> Vec<AuditEvent> {
    audit::scale_writes(ns, controller.user())
        .into_iter()
        .filter(|e| e.received().is_some_and(|r| r > t))
        .collect()
}

/// The controller's clock steps an hour forward: of the 12 fires (two jobs, alternating sizes,
/// every 5 minutes) it skipped, only the latest is applied — one scale write, to that fire's
/// size — and the status records it.
#[tokio::test]
#[ignore = "fault suite: cargo test -p diurnal-e2e --test process_faults -- --include-ignored"]
async fn a_clock_step_an_hour_forward_applies_only_the_latest_missed_fire() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let started = std::time::Instant::now();
    let ns = namespace(&client, "clock-ahead").await;
    create_deployment(&client, &ns, "web", 1).await;
    // The controller's clock starts 30 s into a 5-minute window: nothing is due for 270 s.
    let offset = (30 - Timestamp::now().as_second()).rem_euclid(300);
    let clock = ClockFile::new(&ns);
    clock.set(offset);
    let jobs = json!([
        {"name": "up", "schedule": "0 0/10 * * * *", "targetSize": 3},
        {"name": "down", "schedule": "0 5/10 * * * *", "targetSize": 2},
    ]);
    let mut obj = cronhpa("web", &deployment_ref("web"), &jobs);
    obj["spec"]["timeZone"] = "UTC".into();
    create_cronhpa(&client, &ns, obj).await;
    let controller = clocked_controller("clock-ahead", &ns, &clock);
    try_wait_for(Duration::from_secs(8), || async {
        cronhpa_status(&client, &ns, "web").await.filter(|s| s.next_schedule_time.is_some())
    })
    .await
    .expect("precondition: the controller never planned the jobs");
    // A start-up catch-up (the window's start lies after the object's creation) may have
    // scaled; the size goes back to 1 so that the step's fire is a write.
    tokio::time::sleep(Duration::from_secs(2)).await;
    set_replicas(&client, &ns, "web", 1).await;
    let stepped = Timestamp::now();
    clock.set(offset + 3600);
    try_wait_for(Duration::from_secs(6), || async {
        (!writes_after(&ns, &controller, stepped).is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after: Vec<AuditEvent> = writes_after(&ns, &controller, stepped);
    let report = format!(
        "scale writes after the step:\n{}\nlog {}",
        audit::describe(&after),
        controller.log.display()
    );
    assert_eq!(after.len(), 1, "exactly one fire after the step: {report}");
    // The latest fire by the controller's clock at the write: a 5-minute boundary, `up`'s
    // (size 3) on the tens, `down`'s (2) on the fives.
    let fake = after[0].received().unwrap().as_second() + offset + 3600;
    let latest = fake - fake.rem_euclid(300);
    let (job, size) = if latest.rem_euclid(600) == 0 { ("up", 3) } else { ("down", 2) };
    assert_eq!(
        after[0].replicas(),
        Some(size),
        "the write is not job {job}'s (the latest fire, {latest}): {report}"
    );
    let recorded = cronhpa_status(&client, &ns, "web").await.and_then(|s| {
        s.conditions.iter().find(|c| c.name == job)?.last_schedule_time.as_ref().map(|t| t.0.as_second())
    });
    assert_eq!(recorded, Some(latest), "lastScheduleTime of {job}: {report}");
    eprintln!(
        "FIGURE clock +1h: missed 12, expected 1 applied {} doubled 0 lost {} (the latest, job {job}), wall {:.1}s",
        after.len(),
        usize::from(after.is_empty()),
        started.elapsed().as_secs_f64()
    );
}

/// The controller's clock steps ten minutes back after its jobs (every 5 s, alternating) have
/// fired: for 10 s (four fires of the jobs, were they planned again from the stepped clock)
/// nothing is applied; once the clock is real again, the fires resume. (A job added while the
/// clock is behind, dated before the object's last applied fire, never fires: nothing at or
/// before an applied fire fires again — scheduler `plan_next`.)
#[tokio::test]
#[ignore = "fault suite: cargo test -p diurnal-e2e --test process_faults -- --include-ignored"]
async fn a_clock_step_ten_minutes_back_applies_nothing_again() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let started = std::time::Instant::now();
    let ns = namespace(&client, "clock-back").await;
    create_deployment(&client, &ns, "web", 1).await;
    let clock = ClockFile::new(&ns);
    let jobs = json!([
        {"name": "up", "schedule": "0/10 * * * * *", "targetSize": 3},
        {"name": "down", "schedule": "5/10 * * * * *", "targetSize": 2},
    ]);
    let mut obj = cronhpa("web", &deployment_ref("web"), &jobs);
    obj["spec"]["timeZone"] = "UTC".into();
    create_cronhpa(&client, &ns, obj).await;
    let controller = clocked_controller("clock-back", &ns, &clock);
    try_wait_for(Duration::from_secs(20), || async {
        (audit::scale_writes(&ns, controller.user()).len() >= 2).then_some(())
    })
    .await
    .expect("precondition: the jobs never fired twice");
    let stepped = Timestamp::now();
    clock.set(-600);
    // Both jobs would fire twice in 10 s if planned again from the stepped clock.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let again: Vec<AuditEvent> = writes_after(&ns, &controller, stepped);
    // Back to the real clock: the fires resume (the controller was not stuck or cut off).
    let restored = Timestamp::now();
    clock.set(0);
    try_wait_for(Duration::from_secs(10), || async {
        (!writes_after(&ns, &controller, restored).is_empty()).then_some(())
    })
    .await;
    let resumed: Vec<AuditEvent> = writes_after(&ns, &controller, restored);
    let report = format!(
        "after the step:\n{}\nafter the clock came back:\n{}\nlog {}",
        audit::describe(&again),
        audit::describe(&resumed),
        controller.log.display()
    );
    assert!(again.is_empty(), "fires applied again after the clock stepped back: {report}");
    assert!(!resumed.is_empty(), "no fire within 10 s of the clock coming back: {report}");
    eprintln!(
        "FIGURE clock -10min: re-applied {} in 10 s (expected 0); fires resumed with the real clock: {}, wall {:.1}s",
        again.len(),
        !resumed.is_empty(),
        started.elapsed().as_secs_f64()
    );
}
