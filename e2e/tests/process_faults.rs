//! Process and clock faults on the real control plane (issue 14): the controller SIGKILLed at
//! each point of a fire, the API server killed and etcd stopped during 1,000 same-second fires,
//! and the controller's wall clock stepped. What happened is counted from the API server's audit
//! log ([`diurnal_e2e::audit`]), never from diurnal's own counters; each controller runs as a user
//! of its own. The figures go to docs/reliability-process-faults.md.
//!
//! The default run has the SIGKILL-at-a-fire tests (a few seconds each, in parallel). The rest
//! is `#[ignore]`d; run everything with
//! `cargo test -p diurnal-e2e --test process_faults -- --include-ignored`. The tests that kill
//! or stop kube-apiserver or etcd do it to a control plane of this binary's own
//! ([`PrivateCluster`]), one at a time, so the shared cluster's tests never see the fault.

use std::time::Duration;

use diurnal_api::CronHorizontalPodAutoscaler;
use diurnal_e2e::audit::{self, AuditEvent};
use diurnal_e2e::faults::{
    AuditTail, ClockFile, FireCount, PrivateCluster, TARGET_CRD, free_port, http, http_status, running,
    same_second_fires, signal, targets,
};
use diurnal_e2e::launch::Launch;
use diurnal_e2e::{
    Controller, cluster_or_skip, create_cronhpa, create_deployment, cronhpa, cronhpa_status, deployment_ref,
    diurnal_bin, events, install_crd, install_crds, namespace, next_whole_second, replicas, sleep_until,
    try_wait_for, utc_date,
};
use jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, ListParams};
use serde_json::json;

fn controller(name: &str, ns: &str) -> Controller {
    Controller::start(name, &["--namespace", ns, "--leader-election", "off"])
}

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

/// The fault put to the private control plane during the fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlaneFault {
    /// kube-apiserver SIGKILLed, started again 5 s later (same flags, same audit log).
    KillApiServer,
    /// etcd SIGSTOPped for 20 s, then resumed.
    StopEtcd,
}

const FIRES: usize = 1000;

/// 1,000 CronHPAs, each with one `@date` job at the same second, on the private control plane;
/// `fault` strikes once the audit log has recorded 100 of the fires' scale PATCHes. Every target
/// must end at its size with one scale write (the audit log), the controller process must stay
/// up.
async fn thousand_same_second_fires_through(fault: PlaneFault) {
    let started = std::time::Instant::now();
    let _one_fault_at_a_time = PrivateCluster::lock().lock().await;
    let Some(cluster) = PrivateCluster::shared_or_skip() else { return };
    let client = cluster.client().await;
    install_crd(&client).await;
    install_crds(&client, TARGET_CRD, "faults TARGET_CRD").await;
    let tag = if fault == PlaneFault::KillApiServer { "apikill" } else { "etcdstop" };
    let ns = namespace(&client, tag).await;
    let port = free_port();
    let launch = Launch { cluster_dir: Some(cluster.dir.clone()), ..Launch::default() };
    let addr = format!("127.0.0.1:{port}");
    let controller = Controller::start_with(
        tag,
        &["--namespace", &ns, "--leader-election", "off", "--metrics-addr", &addr],
        &launch,
    );
    let fire = next_whole_second(Duration::from_secs(60));
    let made = std::time::Instant::now();
    same_second_fires(&client, &ns, FIRES, fire, 3).await;
    eprintln!("{tag}: created {FIRES} targets and CronHPAs in {:.1}s", made.elapsed().as_secs_f64());
    let cronhpas: Api<CronHorizontalPodAutoscaler> = Api::namespaced(client.clone(), &ns);
    let planned = try_wait_for(
        Duration::try_from(fire.duration_since(Timestamp::now())).unwrap_or_default(),
        || async {
            let list = cronhpas.list(&ListParams::default()).await.ok()?;
            let n = list
                .items
                .iter()
                .filter(|o| {
                    o.status.as_ref().and_then(|s| s.next_schedule_time.as_ref()).is_some_and(|t| t.0 == fire)
                })
                .count();
            (n == FIRES).then_some(())
        },
    )
    .await;
    assert!(
        planned.is_some() && Timestamp::now() < fire,
        "precondition: not all {FIRES} fires planned before {fire}"
    );

    let mut tail = AuditTail::new(&cluster.audit_log());
    let user = controller.user().to_owned();
    let seen = std::cell::Cell::new(0);
    let until = Duration::try_from((fire + SignedDuration::from_secs(20)).duration_since(Timestamp::now()));
    let hundredth = tail.wait_for(until.unwrap_or_default(), |e| {
        if e.user.username == user && e.is_scale_write() {
            seen.set(seen.get() + 1);
        }
        seen.get() >= 100
    });
    assert!(
        hundredth.is_some(),
        "precondition: fewer than 100 scale writes by 20 s after {fire}: {}",
        seen.get()
    );
    let struck = Timestamp::now();
    let mut ready_during = Vec::new();
    let (outage, down, up, component) = match fault {
        PlaneFault::KillApiServer => (5, "kill", "start", "kube-apiserver"),
        PlaneFault::StopEtcd => (20, "stop", "cont", "etcd"),
    };
    cluster.fault(down, component);
    for _ in 0..outage {
        ready_during.push(http_status(port, "/readyz", Duration::from_millis(500)));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let resumed = Timestamp::now();
    cluster.fault(up, component);
    let serving = Timestamp::now();
    let alive_after_fault = running(controller.pid());
    let all_at_size = try_wait_for(Duration::from_secs(90), || async {
        let list = targets(&client, &ns).list(&ListParams::default()).await.ok()?;
        let at = list.items.iter().filter(|o| o.data.pointer("/spec/replicas") == Some(&json!(3))).count();
        (at == FIRES).then_some(())
    })
    .await;
    // Retries or doubles would come right after.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let writes = cluster.scale_writes(&ns, controller.user());
    let count = FireCount::of(&client, &ns, FIRES, 3, fire, &writes).await;
    let recovery = count.last_write.map(|t| t.duration_since(resumed).as_secs_f64());
    eprintln!(
        "FIGURE {fault:?}: expected {} applied {} (+{} stored but unaudited) doubled {} lost {} | fault at +{:.1}s after the fire, resumed +{:.1}s (serving again +{:.1}s); last write {recovery:?}s after resuming; lateness p50 {:.2}s p99 {:.2}s max {:.2}s | /readyz during the fault {ready_during:?} | controller up {alive_after_fault}/{} | wall {:.0}s",
        count.expected,
        count.applied,
        count.unaudited.len(),
        count.doubled.len(),
        count.lost.len(),
        struck.duration_since(fire).as_secs_f64(),
        resumed.duration_since(fire).as_secs_f64(),
        serving.duration_since(fire).as_secs_f64(),
        count.lateness.0,
        count.lateness.1,
        count.lateness.2,
        running(controller.pid()),
        started.elapsed().as_secs_f64(),
    );
    let sample = |names: &[String]| names.iter().take(5).cloned().collect::<Vec<_>>();
    assert!(
        all_at_size.is_some() && count.lost.is_empty(),
        "lost fires (targets not at size 3): {:?}; log {}",
        sample(&count.lost),
        controller.log.display()
    );
    assert!(count.doubled.is_empty(), "doubled fires: {:?}", sample(&count.doubled));
    assert!(
        alive_after_fault && running(controller.pid()),
        "the controller process exited: {}",
        controller.log.display()
    );
}

#[tokio::test]
#[ignore = "fault suite (kills the private control plane's kube-apiserver): cargo test -p diurnal-e2e --test process_faults -- --include-ignored"]
async fn the_api_server_killed_and_restarted_during_1000_same_second_fires_loses_and_doubles_none() {
    thousand_same_second_fires_through(PlaneFault::KillApiServer).await;
}

#[tokio::test]
#[ignore = "fault suite (stops the private control plane's etcd 20 s): cargo test -p diurnal-e2e --test process_faults -- --include-ignored"]
async fn etcd_stopped_20s_during_1000_same_second_fires_loses_and_doubles_none_and_the_controller_stays_up() {
    thousand_same_second_fires_through(PlaneFault::StopEtcd).await;
}

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
        audit::scale_writes(&ns, controller.user())
            .iter()
            .any(|e| e.received().is_some_and(|t| t > stepped))
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after: Vec<AuditEvent> = audit::scale_writes(&ns, controller.user())
        .into_iter()
        .filter(|e| e.received().is_some_and(|t| t > stepped))
        .collect();
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
    let again: Vec<AuditEvent> = audit::scale_writes(&ns, controller.user())
        .into_iter()
        .filter(|e| e.received().is_some_and(|t| t > stepped))
        .collect();
    // Back to the real clock: the fires resume (the controller was not stuck or cut off).
    let restored = Timestamp::now();
    clock.set(0);
    try_wait_for(Duration::from_secs(10), || async {
        audit::scale_writes(&ns, controller.user())
            .iter()
            .any(|e| e.received().is_some_and(|t| t > restored))
            .then_some(())
    })
    .await;
    let resumed: Vec<AuditEvent> = audit::scale_writes(&ns, controller.user())
        .into_iter()
        .filter(|e| e.received().is_some_and(|t| t > restored))
        .collect();
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

/// `diurnal trigger serve` on `port` for `ns` as the user of `kubeconfig`, coalescing nothing and
/// limiting no rate (every call rolls), logging to `log`.
fn trigger_serve(
    port: u16,
    ns: &str,
    kubeconfig: &std::path::Path,
    log: &std::path::Path,
) -> std::process::Child {
    let file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    std::process::Command::new(diurnal_bin())
        .args(["trigger", "serve", "--addr", &format!("127.0.0.1:{port}"), "--coalesce-window", "0s"])
        .args(["--rate-limit", "100000/min", "--client-failure-limit", "100000/min", "--namespace", ns])
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env("RUST_LOG", "info,kube=warn")
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("start diurnal trigger serve")
}

/// The trigger service SIGKILLed and started again (same port) while a caller calls every
/// 25 ms for 10 s (back to back while the service is down): every call answered `rolled` patched the Deployment exactly once (the audit
/// log; a call cut off by the kill may have patched without an answer), and every call not
/// rolled got an answer a caller retries (no answer, 429 or 5xx), never a refusal.
#[tokio::test]
#[ignore = "fault suite: cargo test -p diurnal-e2e --test process_faults -- --include-ignored"]
async fn the_trigger_service_restarted_while_calls_arrive_rolls_each_accepted_call_once_and_refusals_say_retry()
 {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let started = std::time::Instant::now();
    let ns = namespace(&client, "trigrestart").await;
    create_deployment(&client, &ns, "web", 1).await;
    let user = format!("diurnal-e2e-trigger:{ns}");
    let kubeconfig = diurnal_e2e::launch::user_kubeconfig(&user, &["system:masters".to_owned()]);
    let log = diurnal_e2e::repo_root().join(format!("target/e2e-logs/{ns}-trigger.log"));
    let port = free_port();
    let mut server = trigger_serve(port, &ns, &kubeconfig, &log);
    try_wait_for(Duration::from_secs(30), || async {
        (http_status(port, "/readyz", Duration::from_secs(1)) == Some(200)).then_some(())
    })
    .await
    .expect("the trigger service never got ready");
    let base = format!("http://127.0.0.1:{port}");
    let out = std::process::Command::new(diurnal_bin())
        .args([
            "trigger",
            "create",
            "-n",
            &ns,
            "--deployment",
            "web",
            "--base-url",
            &base,
            "-q",
            "--kubeconfig",
        ])
        .arg(diurnal_e2e::kubeconfig())
        .output()
        .unwrap();
    assert!(out.status.success(), "trigger create: {}", String::from_utf8_lossy(&out.stderr));
    let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let path = url.strip_prefix(&base).unwrap().to_owned();
    try_wait_for(Duration::from_secs(10), || async {
        http(port, "GET", &path, Duration::from_secs(2)).is_some_and(|(s, _)| s == 200).then_some(())
    })
    .await
    .expect("the trigger never accepted a call");
    let before = Timestamp::now();

    let caller = std::thread::spawn(move || {
        let mut answers = Vec::new();
        let end = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < end {
            let answer = http(port, "GET", &path, Duration::from_secs(5));
            // While the service is down, as fast as it goes: the first calls of the new process
            // land before it has listed the triggers.
            let pause = matches!(answer, Some((200, _)));
            answers.push(answer);
            if pause {
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        answers
    });
    tokio::time::sleep(Duration::from_secs(4)).await;
    let _ = server.kill();
    let _ = server.wait();
    let mut server = trigger_serve(port, &ns, &kubeconfig, &log);
    let answers = caller.join().unwrap();
    let _ = server.kill();
    let _ = server.wait();

    let patches: Vec<AuditEvent> = audit::writes(&ns)
        .into_iter()
        .filter(|e| {
            e.user.username == user && e.verb == "patch" && e.resource() == "deployments" && e.succeeded()
        })
        .filter(|e| e.received().is_some_and(|t| t > before))
        .collect();
    let rolled =
        answers.iter().flatten().filter(|(s, b)| *s == 200 && b.contains(r#""result":"rolled""#)).count();
    let unanswered = answers.iter().filter(|a| a.is_none()).count();
    let mut others = std::collections::BTreeMap::<String, usize>::new();
    for (status, body) in answers.iter().flatten().filter(|(s, _)| *s != 200) {
        *others.entry(format!("{status} {}", body.chars().take(80).collect::<String>())).or_default() += 1;
    }
    let refusals: Vec<&String> =
        others.keys().filter(|k| !(k.starts_with("429") || k.starts_with('5'))).collect();
    let report = format!(
        "{} calls: {rolled} rolled, {unanswered} unanswered, others {others:?}; {} Deployment patches by the service; log {}",
        answers.len(),
        patches.len(),
        log.display()
    );
    eprintln!(
        "FIGURE trigger restart: calls {}, rolled {rolled}, patches {}, unanswered {unanswered}, other answers {others:?}, wall {:.1}s",
        answers.len(),
        patches.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        rolled > 0 && unanswered > 0,
        "precondition: calls rolled before and after the restart, and some found it down: {report}"
    );
    assert!(
        (rolled..=rolled + 1).contains(&patches.len()),
        "each rolled call must patch once (one more if the kill cut a call off): {report}"
    );
    assert!(
        refusals.is_empty(),
        "calls refused during the restart (a caller does not retry these): {refusals:?}; {report}"
    );
}
