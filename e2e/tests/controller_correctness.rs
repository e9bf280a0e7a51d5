//! The controller's correctness under edits, restarts, migration, legacy API versions, start-up
//! with HPAs, and deletion (issue 12), against the real control plane. What the controller did
//! is counted from the API server's audit log ([`diurnal_e2e::audit`]), not from its own
//! counters: each controller runs as a user of its own, so its writes are told apart.
//! Each test has its own namespace and its own controller watching only that namespace. A
//! failing test prints what the audit log recorded.

use std::time::Duration;

use diurnal_api::{CronHorizontalPodAutoscaler, JobState};
use diurnal_e2e::audit::{self, AuditEvent};
use diurnal_e2e::launch::Launch;
use diurnal_e2e::{
    Controller, cluster_or_skip, create_cronhpa, create_deployment, cronhpa, cronhpa_status, deployment_ref,
    events, install_crd, namespace, next_whole_second, replicas, repo_root, sleep_until, try_wait_for,
    utc_date,
};
use futures::StreamExt as _;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn controller(name: &str, ns: &str) -> Controller {
    Controller::start(name, &["--namespace", ns, "--leader-election", "off"])
}

fn cronhpas(client: &Client, ns: &str) -> Api<CronHorizontalPodAutoscaler> {
    Api::namespaced(client.clone(), ns)
}

/// Replaces the status of CronHPA `name` (as a controller that ran before would have left it).
async fn write_status(client: &Client, ns: &str, name: &str, status: Value) {
    cronhpas(client, ns)
        .patch_status(name, &PatchParams::default(), &Patch::Merge(json!({"status": status})))
        .await
        .unwrap_or_else(|e| panic!("writing the status of {ns}/{name}: {e}"));
}

/// Creates an `autoscaling/v2` HPA `name` on Deployment `target` with a CPU metric.
async fn create_hpa(client: &Client, ns: &str, name: &str, target: &str, min: i32, max: i32) {
    let hpa: HorizontalPodAutoscaler = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": min, "maxReplicas": max,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 60}}}],
        },
    }))
    .unwrap();
    Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &hpa)
        .await
        .unwrap_or_else(|e| panic!("creating HPA {ns}/{name}: {e}"));
}

/// The controller's successful scale writes in `ns` received at or after `since`.
fn scale_writes_since(ns: &str, controller: &Controller, since: Timestamp) -> Vec<AuditEvent> {
    audit::scale_writes(ns, controller.user())
        .into_iter()
        .filter(|e| e.received().is_some_and(|t| t >= since))
        .collect()
}

/// Fails the test with every problem found and what the cluster recorded: the audit log's
/// writes in `ns`, the Events and the CronHPAs' statuses.
async fn verdict(client: &Client, ns: &str, controller: &Controller, problems: &[String]) {
    if problems.is_empty() {
        return;
    }
    let statuses: Vec<Value> = cronhpas(client, ns)
        .list(&kube::api::ListParams::default())
        .await
        .map(|l| {
            l.items.into_iter().map(|o| json!({o.metadata.name.unwrap_or_default(): o.status})).collect()
        })
        .unwrap_or_default();
    panic!(
        "{}\n\n== audit log: writes in {ns} (the controller is {}):\n{}\n\n== Events:\n{:#?}\n\n== status:\n{}\n\n== controller log: {}",
        problems.iter().map(|p| format!("- {p}")).collect::<Vec<_>>().join("\n"),
        controller.user(),
        audit::describe(&audit::writes(ns)),
        events(client, ns).await,
        serde_json::to_string_pretty(&statuses).unwrap_or_default(),
        controller.log.display(),
    );
}

/// Defect 1: an object-wide error (a bad `excludeDates` entry) put in by an edit is reported
/// (status `Failed`, an `InvalidSchedule` Event), and once fixed the jobs fire again.
#[tokio::test]
async fn an_invalid_edit_is_reported_and_once_fixed_the_jobs_fire_again() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "refix").await;
    create_deployment(&client, &ns, "web", 1).await;
    let controller = controller("refix", &ns);
    // Alternating sizes, so every fire is a scale write.
    let jobs = json!([
        {"name": "up", "schedule": "0/4 * * * * *", "targetSize": 3},
        {"name": "down", "schedule": "2/4 * * * * *", "targetSize": 2},
    ]);
    create_cronhpa(&client, &ns, cronhpa("web", &deployment_ref("web"), &jobs)).await;
    let mut problems = Vec::new();
    let start = Timestamp::now();
    if try_wait_for(Duration::from_secs(10), || async {
        (!scale_writes_since(&ns, &controller, start).is_empty()).then_some(())
    })
    .await
    .is_none()
    {
        problems.push("precondition: the valid object never fired".to_owned());
        return verdict(&client, &ns, &controller, &problems).await;
    }

    let edit = json!({"spec": {"excludeDates": ["2026-02-30"]}});
    cronhpas(&client, &ns).patch("web", &PatchParams::default(), &Patch::Merge(edit)).await.unwrap();
    let edited = Timestamp::now();
    let failed = try_wait_for(Duration::from_secs(6), || async {
        let s = cronhpa_status(&client, &ns, "web").await?;
        s.conditions
            .iter()
            .all(|c| c.state == JobState::Failed && c.message.contains("2026-02-30"))
            .then_some(())
    })
    .await;
    if failed.is_none() {
        problems.push("after the invalid edit, the status never said Failed naming `2026-02-30`".into());
    }
    let reported = try_wait_for(Duration::from_secs(4), || async {
        events(&client, &ns)
            .await
            .iter()
            .any(|(reason, note)| reason == "InvalidSchedule" && note.contains("2026-02-30"))
            .then_some(())
    })
    .await;
    if reported.is_none() {
        problems.push("the invalid edit emitted no InvalidSchedule Event naming `2026-02-30`".into());
    }
    // A fire already under way at the edit may still land; none after that.
    sleep_until(edited + SignedDuration::from_secs(5)).await;
    let while_invalid = scale_writes_since(&ns, &controller, edited + SignedDuration::from_secs(1));
    if !while_invalid.is_empty() {
        problems.push(format!("{} scale writes while the object was invalid", while_invalid.len()));
    }

    let fix = json!({"spec": {"excludeDates": null}});
    cronhpas(&client, &ns).patch("web", &PatchParams::default(), &Patch::Merge(fix)).await.unwrap();
    let fixed = Timestamp::now();
    let fired = try_wait_for(Duration::from_secs(8), || async {
        (!scale_writes_since(&ns, &controller, fixed).is_empty()).then_some(())
    })
    .await;
    if fired.is_none() {
        problems.push(format!("no scale write in the 8 s after the fix at {fixed} (jobs fire every 2 s)"));
    }
    let healthy = try_wait_for(Duration::from_secs(3), || async {
        let s = cronhpa_status(&client, &ns, "web").await?;
        s.conditions.iter().all(|c| c.state != JobState::Failed).then_some(())
    })
    .await;
    if healthy.is_none() {
        problems.push("after the fix, the status still says Failed".into());
    }
    verdict(&client, &ns, &controller, &problems).await;
}

/// `day` at `hour`:00 in `tz`.
fn at(tz: &TimeZone, day: Date, hour: i8) -> Timestamp {
    day.at(hour, 0, 0, 0).to_zoned(tz.clone()).unwrap().timestamp()
}

/// Defect 3: jobs up at 09:00 and down at 18:00, weekends excluded, the controller down from
/// Friday 17:00 to Saturday 10:00. On start, Friday's 18:00 scale-down is applied exactly once,
/// and Saturday's excluded 09:00 does nothing. The restarted controller runs on a clock set to
/// Saturday 10:00 (libfaketime); the object was created (real time) before Friday 09:00 by that
/// clock, and its status says what the controller running until Friday 17:00 had applied.
#[tokio::test]
async fn after_a_weekend_outage_fridays_scale_down_is_applied_once_and_saturday_excluded() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "weekend").await;
    let tz = TimeZone::get("Asia/Shanghai").unwrap();
    // The first Saturday 10:00 at least 30 h ahead: Friday 09:00 is then after the creation.
    let earliest = Timestamp::now() + SignedDuration::from_hours(30);
    let mut saturday = earliest.to_zoned(tz.clone()).date();
    while saturday.weekday() != Weekday::Saturday || at(&tz, saturday, 10) < earliest {
        saturday = saturday.tomorrow().unwrap();
    }
    let friday = saturday.yesterday().unwrap();
    let (friday_9, friday_18) = (at(&tz, friday, 9), at(&tz, friday, 18));
    let thursday_18 = at(&tz, friday.yesterday().unwrap(), 18);

    create_deployment(&client, &ns, "web", 5).await;
    let mut obj = cronhpa(
        "web",
        &deployment_ref("web"),
        &json!([
            {"name": "up", "schedule": "0 0 9 * * *", "targetSize": 5},
            {"name": "down", "schedule": "0 0 18 * * *", "targetSize": 1},
        ]),
    );
    obj["spec"]["timeZone"] = "Asia/Shanghai".into();
    obj["spec"]["excludeDates"] = json!(["* * * * * SAT,SUN"]);
    create_cronhpa(&client, &ns, obj).await;
    // The week's controller: plans the jobs (its status names them), then stops.
    let mut week = controller("weekend-week", &ns);
    let planned = try_wait_for(Duration::from_secs(10), || async {
        cronhpa_status(&client, &ns, "web").await.filter(|s| s.conditions.len() == 2)
    })
    .await
    .expect("the first controller never wrote the jobs' status");
    week.stop();
    // What it had applied by Friday 17:00: Friday's 09:00 scale-up and Thursday's 18:00 down.
    let mut status = serde_json::to_value(&planned).unwrap();
    for condition in status["conditions"].as_array_mut().unwrap() {
        let last = if condition["name"] == "up" { friday_9 } else { thursday_18 };
        condition["state"] = "Succeed".into();
        condition["lastScheduleTime"] = last.to_string().into();
        condition["nextScheduleTime"] = Value::Null;
    }
    write_status(&client, &ns, "web", status).await;

    let launch = Launch { fake_now: Some(at(&tz, saturday, 10)), ..Launch::default() };
    let weekend = Controller::start_with(
        "weekend-saturday",
        &["--namespace", &ns, "--leader-election", "off"],
        &launch,
    );
    let fake_day = at(&tz, saturday, 10).strftime("%Y-%m-%dT").to_string();
    try_wait_for(Duration::from_secs(10), || async { weekend.log_text().contains(&fake_day).then_some(()) })
        .await
        .unwrap_or_else(|| panic!("the controller's clock is not on {fake_day}: {}", weekend.log_text()));
    let start = Timestamp::now();
    let mut problems = Vec::new();
    try_wait_for(Duration::from_secs(8), || async {
        (!scale_writes_since(&ns, &weekend, start).is_empty()).then_some(())
    })
    .await;
    // Anything else would come right after the first.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let writes = audit::scale_writes(&ns, weekend.user());
    let sizes: Vec<Option<i64>> = writes.iter().map(AuditEvent::replicas).collect();
    if sizes != [Some(1)] {
        problems.push(format!(
            "expected exactly one scale write, to 1 (Friday 18:00's down, {friday_18}); the restarted controller wrote {sizes:?}"
        ));
    }
    if replicas(&client, &ns, "web").await != 1 {
        problems.push("the Deployment is not at Friday's night size 1".into());
    }
    let saturday_9 = at(&tz, saturday, 9).to_string();
    let claimed =
        events(&client, &ns).await.into_iter().filter(|(r, n)| r == "CaughtUp" && n.contains(&saturday_9));
    for (_, note) in claimed {
        problems.push(format!("a CaughtUp Event claims Saturday's excluded 09:00 ({saturday_9}): {note}"));
    }
    verdict(&client, &ns, &weekend, &problems).await;
}

/// Defect 4: an object kubernetes-cronhpa-controller ran — per-job `conditions[]` with a UUID
/// `jobId`, `state: Succeed`, `lastProbeTime` and no `lastScheduleTime` — with a past `@date`
/// job and a `runOnce` job both done: diurnal applies neither, on start or later.
#[tokio::test]
async fn an_object_migrated_from_the_old_controller_does_not_rerun_its_history() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "migrate").await;
    create_deployment(&client, &ns, "web", 4).await;
    // A whole second that is also a fire of `*/3`: the old controller ran both jobs then.
    let mut ran = next_whole_second(Duration::from_secs(2));
    while ran.as_second() % 3 != 0 {
        ran = Timestamp::from_second(ran.as_second() + 1).unwrap();
    }
    let jobs = json!([
        {"name": "launch", "schedule": utc_date(ran), "targetSize": 5},
        {"name": "once", "schedule": "*/3 * * * * *", "targetSize": 3, "runOnce": true},
    ]);
    let mut obj = cronhpa("web", &deployment_ref("web"), &jobs);
    obj["spec"]["timeZone"] = "UTC".into();
    create_cronhpa(&client, &ns, obj).await;
    let old = |name: &str, uuid: &str, schedule: &str, size: i32, run_once: bool| {
        json!({
            "name": name, "jobId": uuid, "schedule": schedule, "targetSize": size, "runOnce": run_once,
            "state": "Succeed", "lastProbeTime": ran.to_string(),
            "message": format!("cron hpa job {name} executed successfully. current replicas:4, desired replicas:{size}."),
        })
    };
    write_status(
        &client,
        &ns,
        "web",
        json!({
            "scaleTargetRef": deployment_ref("web"),
            "conditions": [
                old("launch", "3f1f7a4e-6d2b-4c1e-9a57-0c2f8e1b6d40", &utc_date(ran), 5, false),
                old("once", "a8d0c5b2-1e94-4f3a-b7c6-5d2e9f0a1b37", "*/3 * * * * *", 3, true),
            ],
        }),
    )
    .await;
    sleep_until(ran + SignedDuration::from_secs(1)).await;
    let controller = controller("migrate", &ns);
    // Catch-up happens at start; `once` would fire again every 3 s.
    let planned = try_wait_for(Duration::from_secs(8), || async {
        cronhpa_status(&client, &ns, "web").await.filter(|s| s.observed_generation.is_some())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    let mut problems = Vec::new();
    if planned.is_none() {
        problems.push("the controller never wrote the object's status".into());
    }
    let writes = audit::scale_writes(&ns, controller.user());
    if !writes.is_empty() {
        problems.push(format!(
            "the old controller's history was applied again: {} scale writes, sizes {:?}",
            writes.len(),
            writes.iter().map(AuditEvent::replicas).collect::<Vec<_>>()
        ));
    }
    verdict(&client, &ns, &controller, &problems).await;
}

/// Defect 5: targets written at versions the API server no longer serves, as the old
/// controller's own manifests do — an `apps/v1beta2` Deployment and an `autoscaling/v2beta2`
/// HPA — are resolved by group and kind and fire.
#[tokio::test]
async fn an_apps_v1beta2_deployment_and_an_autoscaling_v2beta2_hpa_target_fire() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "legacy").await;
    create_deployment(&client, &ns, "plain", 1).await;
    create_deployment(&client, &ns, "scaled", 1).await;
    create_hpa(&client, &ns, "scaled", "scaled", 1, 4).await;
    let controller = controller("legacy", &ns);
    let fire = next_whole_second(Duration::from_secs(3));
    let job = json!([{"name": "peak", "schedule": utc_date(fire), "targetSize": 3}]);
    let v1beta2 = json!({"apiVersion": "apps/v1beta2", "kind": "Deployment", "name": "plain"});
    let v2beta2 =
        json!({"apiVersion": "autoscaling/v2beta2", "kind": "HorizontalPodAutoscaler", "name": "scaled"});
    create_cronhpa(&client, &ns, cronhpa("deployment", &v1beta2, &job)).await;
    create_cronhpa(&client, &ns, cronhpa("hpa", &v2beta2, &job)).await;
    sleep_until(fire).await;
    let by_controller = |e: &AuditEvent| e.user.username == controller.user() && e.succeeded();
    let scaled = try_wait_for(Duration::from_secs(6), || async {
        audit::writes(&ns).into_iter().find(|e| by_controller(e) && e.is_scale_write() && e.name() == "plain")
    })
    .await;
    let floor = try_wait_for(Duration::from_secs(3), || async {
        audit::writes(&ns).into_iter().find(|e| {
            by_controller(e)
                && e.resource() == "horizontalpodautoscalers"
                && e.name() == "scaled"
                && e.request_object.as_ref().and_then(|b| b.pointer("/spec/minReplicas")) == Some(&json!(3))
        })
    })
    .await;
    let mut problems = Vec::new();
    match scaled {
        None => problems.push("no scale write to Deployment plain (target written apps/v1beta2)".into()),
        Some(e) if e.replicas() != Some(3) => {
            problems.push(format!("plain scaled to {:?}, not 3", e.replicas()));
        }
        Some(_) => {}
    }
    if floor.is_none() {
        problems.push(
            "no HPA write setting scaled's minReplicas to 3 (target written autoscaling/v2beta2)".into(),
        );
    }
    verdict(&client, &ns, &controller, &problems).await;
}

/// The rules of the `ClusterRole` shipped in `deploy/rbac/controller.yaml`, split into those
/// about HPAs and the rest.
fn shipped_rules() -> (Vec<Value>, Vec<Value>) {
    let path = repo_root().join("deploy/rbac/controller.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let docs = diurnal_api::manifest::parse_documents(&text, &path.display().to_string()).unwrap();
    let role = docs
        .into_iter()
        .map(|d| d.value)
        .find(|v| v["kind"] == "ClusterRole")
        .unwrap_or_else(|| panic!("{}: no ClusterRole", path.display()));
    let rules = role["rules"].as_array().cloned().unwrap_or_default();
    rules.into_iter().partition(|r| {
        r["resources"].as_array().is_some_and(|rs| rs.iter().any(|x| x == "horizontalpodautoscalers"))
    })
}

/// Grants `rules` in `ns` to `group`, as a `Role` and a `RoleBinding` named `name`.
async fn grant(client: &Client, ns: &str, name: &str, group: &str, rules: Vec<Value>) {
    let role: Role = serde_json::from_value(json!({"metadata": {"name": name}, "rules": rules})).unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
    }))
    .unwrap();
    Api::<Role>::namespaced(client.clone(), ns).create(&PostParams::default(), &role).await.unwrap();
    Api::<RoleBinding>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
}

/// Defect 6: a controller started with 200 HPA-managed workloads, each with a catch-up pending
/// and a fire just after the start, moves the HPAs' floors and never writes a workload's
/// `/scale` below its HPA's `minReplicas`, which deciding before the HPA cache has synced
/// does. So that the cache is certainly late, the controller runs with the shipped RBAC but
/// may list HPAs only from a second after it has loaded the CronHPAs.
#[tokio::test]
async fn a_start_with_200_hpa_managed_workloads_never_scales_below_an_hpa() {
    const N: usize = 200;
    const FLOOR: i32 = 4;
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "hpastart").await;
    let made = Timestamp::now();
    futures::stream::iter(0..N)
        .for_each_concurrent(16, |i| {
            let (client, ns) = (&client, &ns);
            async move {
                let name = format!("web-{i}");
                create_deployment(client, ns, &name, FLOOR).await;
                create_hpa(client, ns, &name, &name, FLOOR, 10).await;
                // A fire between the creation and the start: caught up on start.
                let night = next_whole_second(Duration::ZERO);
                let jobs = json!([
                    {"name": "night", "schedule": utc_date(night), "targetSize": 2},
                    {"name": "soon", "schedule": "*/5 * * * * *", "targetSize": 3},
                ]);
                create_cronhpa(client, ns, cronhpa(&name, &deployment_ref(&name), &jobs)).await;
            }
        })
        .await;
    eprintln!(
        "created {N} Deployments, HPAs and CronHPAs in {:.1}s",
        Timestamp::now().duration_since(made).as_secs_f64()
    );
    let group = format!("diurnal-e2e-{ns}");
    let (hpa_rules, other_rules) = shipped_rules();
    assert!(!hpa_rules.is_empty(), "the shipped ClusterRole grants nothing on HPAs");
    grant(&client, &ns, "diurnal-but-hpas", &group, other_rules).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let launch = Launch { groups: Some(vec![group.clone()]), ..Launch::default() };
    let controller =
        Controller::start_with("hpastart", &["--namespace", &ns, "--leader-election", "off"], &launch);
    // The API server's words, whatever the controller's log says around them.
    let refused = try_wait_for(Duration::from_secs(10), || async {
        controller.log_text().contains("horizontalpodautoscalers.autoscaling is forbidden").then_some(())
    })
    .await;
    assert!(
        refused.is_some(),
        "precondition: the controller's HPA list was refused (its log says nothing of it):\n{}",
        controller.log_text()
    );
    // Long enough for the CronHPAs (listed at the same time) to be loaded and their catch-up
    // fires applied; short enough that the HPA watch's backoff is still short when let in.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    grant(&client, &ns, "diurnal-hpas", &group, hpa_rules).await;
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), &ns);
    // Every floor moved to 3: the catch-up and then `soon` (3, every 5 s), once HPAs are seen.
    let moved = try_wait_for(Duration::from_secs(20), || async {
        let list = hpas.list(&kube::api::ListParams::default()).await.ok()?;
        list.items.iter().all(|h| h.spec.as_ref().and_then(|s| s.min_replicas) == Some(3)).then_some(())
    })
    .await;
    let mut problems = Vec::new();
    let below: Vec<AuditEvent> = audit::scale_writes(&ns, controller.user())
        .into_iter()
        .filter(|e| e.replicas().is_none_or(|r| r < i64::from(FLOOR)))
        .collect();
    if !below.is_empty() {
        problems.push(format!(
            "{} scale writes below the HPAs' minReplicas {FLOOR}, e.g.\n{}",
            below.len(),
            audit::describe(below.iter().take(5))
        ));
    }
    if moved.is_none() {
        problems.push("not every HPA's minReplicas reached 3 within 20 s of the HPA grant".into());
    }
    if !problems.is_empty() {
        // The whole namespace's log is long: show the controller's writes by kind instead.
        let mut kinds = std::collections::BTreeMap::<String, usize>::new();
        for e in audit::writes(&ns).iter().filter(|e| e.user.username == controller.user()) {
            *kinds
                .entry(format!(
                    "{} {} -> {}",
                    e.verb,
                    e.resource(),
                    e.response_status.as_ref().map_or(0, |s| s.code)
                ))
                .or_default() += 1;
        }
        panic!(
            "{}\n\n== the controller's writes by kind: {kinds:?}\n== its log: {}",
            problems.join("\n"),
            controller.log.display()
        );
    }
}

/// Defect 9: deleting a CronHPA that raised an HPA restores the HPA's floor and ceiling and
/// removes diurnal's annotation.
#[tokio::test]
async fn deleting_a_cronhpa_restores_its_hpa() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "restore").await;
    create_deployment(&client, &ns, "web", 1).await;
    create_hpa(&client, &ns, "web", "web", 1, 3).await;
    let controller = controller("restore", &ns);
    let fire = next_whole_second(Duration::from_secs(3));
    let job = json!([{"name": "peak", "schedule": utc_date(fire), "targetSize": 5}]);
    create_cronhpa(&client, &ns, cronhpa("web", &deployment_ref("web"), &job)).await;
    sleep_until(fire).await;
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), &ns);
    let spec = |h: &HorizontalPodAutoscaler| h.spec.as_ref().map(|s| (s.min_replicas, s.max_replicas));
    try_wait_for(Duration::from_secs(6), || async {
        hpas.get("web").await.ok().filter(|h| spec(h) == Some((Some(5), 5)))
    })
    .await
    .expect("precondition: the fire raised the HPA to 5/5");

    cronhpas(&client, &ns).delete("web", &DeleteParams::default()).await.unwrap();
    let deleted = Timestamp::now();
    let restored = try_wait_for(Duration::from_secs(8), || async {
        let h = hpas.get("web").await.ok()?;
        let annotated =
            h.metadata.annotations.as_ref().is_some_and(|a| a.keys().any(|k| k.starts_with("diurnal.dev/")));
        (spec(&h) == Some((Some(1), 3)) && !annotated).then_some(())
    })
    .await;
    let mut problems = Vec::new();
    if restored.is_none() {
        let h = hpas.get("web").await.unwrap();
        problems.push(format!(
            "8 s after the delete the HPA is still (minReplicas, maxReplicas) = {:?}, annotations {:?}; want (1, 3) and no diurnal.dev/ annotation",
            spec(&h),
            h.metadata.annotations.unwrap_or_default()
        ));
        let after: Vec<AuditEvent> = audit::writes(&ns)
            .into_iter()
            .filter(|e| e.user.username == controller.user() && e.resource() == "horizontalpodautoscalers")
            .filter(|e| e.received().is_some_and(|t| t >= deleted))
            .collect();
        problems.push(format!("the controller's HPA writes after the delete:\n{}", audit::describe(&after)));
    }
    let gone = try_wait_for(Duration::from_secs(3), || async {
        cronhpas(&client, &ns).get_opt("web").await.ok()?.is_none().then_some(())
    })
    .await;
    if gone.is_none() {
        problems.push("the CronHPA was not gone 3 s after the HPA check (a finalizer left behind?)".into());
    }
    verdict(&client, &ns, &controller, &problems).await;
}
