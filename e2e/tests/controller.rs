//! The CronHPA controller, as the `diurnal controller` binary, against the real control plane.
//! Each test has its own namespace and its own controller watching only that namespace.

use std::time::Duration;

use diurnal_api::JobState;
use diurnal_e2e::{
    Controller, cluster_or_skip, create_cronhpa, create_deployment, create_one_shot, cronhpa, cronhpa_status,
    deployment_ref, events, install_crd, namespace, next_whole_second, replicas, sleep_until, utc_date,
    wait_for,
};
use jiff::Timestamp;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::json;

fn controller(name: &str, ns: &str) -> Controller {
    Controller::start(name, &["--namespace", ns, "--leader-election", "off"])
}

/// Waits until the Deployment has `want` replicas and returns how long after `fire` that was.
async fn follows(client: &Client, ns: &str, name: &str, want: i32, fire: Timestamp) -> f64 {
    wait_for(Duration::from_secs(10), &format!("{ns}/{name} at {want} replicas"), || async {
        (replicas(client, ns, name).await == want).then(Timestamp::now)
    })
    .await
    .duration_since(fire)
    .as_secs_f64()
}

#[tokio::test]
async fn replicas_follow_jobs_seconds_apart_within_two_seconds_of_each_fire() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "follow").await;
    create_deployment(&client, &ns, "web", 1).await;
    let _controller = controller("follow", &ns);
    create_cronhpa(
        &client,
        &ns,
        cronhpa(
            "web",
            &deployment_ref("web"),
            &json!([
                {"name": "up", "schedule": "0/10 * * * * *", "targetSize": 3},
                {"name": "down", "schedule": "5/10 * * * * *", "targetSize": 2},
            ]),
        ),
    )
    .await;
    // Two consecutive fires, whichever job comes first.
    let mut fire = next_whole_second(Duration::from_secs(3));
    while fire.as_second() % 5 != 0 {
        fire = Timestamp::from_second(fire.as_second() + 1).unwrap();
    }
    for _ in 0..2 {
        let want = if fire.as_second() % 10 == 0 { 3 } else { 2 };
        sleep_until(fire).await;
        let late = follows(&client, &ns, "web", want, fire).await;
        assert!(late < 2.0, "replicas reached {want} {late:.2}s after the fire at {fire}");
        fire = Timestamp::from_second(fire.as_second() + 5).unwrap();
    }
    let status = cronhpa_status(&client, &ns, "web").await.unwrap();
    assert!(status.conditions.iter().any(|c| c.state == JobState::Succeed && c.last_schedule_time.is_some()));
    assert!(events(&client, &ns).await.iter().any(|(reason, _)| reason == "Scaled"));
}

#[tokio::test]
async fn a_date_one_shot_in_shanghai_fires_at_the_right_utc_instant() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "zone").await;
    create_deployment(&client, &ns, "web", 1).await;
    let _controller = controller("zone", &ns);
    let fire = next_whole_second(Duration::from_secs(5));
    let shanghai = fire.to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap());
    let mut obj = cronhpa(
        "web",
        &deployment_ref("web"),
        &json!([{"name": "launch", "schedule": format!("@date {}", shanghai.strftime("%Y-%m-%d %H:%M:%S")), "targetSize": 4}]),
    );
    obj["spec"]["timeZone"] = "Asia/Shanghai".into();
    create_cronhpa(&client, &ns, obj).await;
    sleep_until(fire - jiff::SignedDuration::from_millis(800)).await;
    assert_eq!(replicas(&client, &ns, "web").await, 1, "nothing happens before the instant");
    let late = follows(&client, &ns, "web", 4, fire).await;
    assert!(late < 2.0, "{late:.2}s late");
    let status = wait_for(Duration::from_secs(5), "status of the one-shot", || async {
        cronhpa_status(&client, &ns, "web").await.filter(|s| s.conditions[0].last_schedule_time.is_some())
    })
    .await;
    assert_eq!(status.conditions[0].last_schedule_time.as_ref().unwrap().0, fire);
    assert_eq!(status.conditions[0].time_zone.as_deref(), Some("Asia/Shanghai"));
    assert_eq!(status.conditions[0].next_schedule_time, None, "a one-shot has no next fire");
}

#[tokio::test]
async fn an_excluded_day_does_not_scale_and_the_status_says_why() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "exclude").await;
    create_deployment(&client, &ns, "web", 1).await;
    let _controller = controller("exclude", &ns);
    let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let mut obj = cronhpa(
        "web",
        &deployment_ref("web"),
        &json!([{"name": "up", "schedule": "*/2 * * * * *", "targetSize": 3}]),
    );
    obj["spec"]["timeZone"] = "UTC".into();
    obj["spec"]["excludeDates"] = json!([today.to_string()]);
    create_cronhpa(&client, &ns, obj).await;
    let status = wait_for(Duration::from_secs(10), "an excluded fire in the status", || async {
        cronhpa_status(&client, &ns, "web").await.filter(|s| s.conditions[0].message.contains("excluded"))
    })
    .await;
    assert_ne!(status.conditions[0].state, JobState::Failed, "an excluded day is not a failure");
    assert_eq!(replicas(&client, &ns, "web").await, 1);
}

#[tokio::test]
async fn hpa_coordination_moves_a_v2_hpas_floor_and_restores_its_ceiling() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "hpa").await;
    create_deployment(&client, &ns, "web", 1).await;
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), &ns);
    let hpa: HorizontalPodAutoscaler = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1, "maxReplicas": 3,
            "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}},
                {"type": "Object", "object": {"describedObject": {"apiVersion": "v1", "kind": "Service", "name": "web"},
                    "metric": {"name": "requests-per-second"}, "target": {"type": "Value", "value": "100"}}},
            ],
        },
    }))
    .unwrap();
    hpas.create(&PostParams::default(), &hpa).await.unwrap();
    let _controller = controller("hpa", &ns);
    let up = next_whole_second(Duration::from_secs(4));
    let down = up + jiff::SignedDuration::from_secs(4);
    create_cronhpa(
        &client,
        &ns,
        cronhpa(
            "web",
            &deployment_ref("web"),
            &json!([
                {"name": "peak", "schedule": utc_date(up), "targetSize": 5},
                {"name": "night", "schedule": utc_date(down), "targetSize": 1},
            ]),
        ),
    )
    .await;
    sleep_until(up).await;
    let raised = wait_for(Duration::from_secs(5), "the HPA floor at 5", || async {
        hpas.get("web").await.ok().filter(|h| h.spec.as_ref().unwrap().min_replicas == Some(5))
    })
    .await;
    let spec = raised.spec.unwrap();
    assert_eq!(spec.max_replicas, 5, "the ceiling is raised to the floor");
    assert_eq!(raised.metadata.annotations.unwrap()["diurnal.dev/saved-max-replicas"], "3");
    assert_eq!(spec.metrics.as_ref().map(Vec::len), Some(2), "v2 metrics survive");
    assert_eq!(spec.metrics.unwrap()[1].type_, "Object");
    assert!(
        replicas(&client, &ns, "web").await >= 5,
        "the workload is raised at once, not at the HPA's next sync"
    );
    sleep_until(down).await;
    let restored = wait_for(Duration::from_secs(5), "the HPA floor back at 1", || async {
        hpas.get("web").await.ok().filter(|h| h.spec.as_ref().unwrap().min_replicas == Some(1))
    })
    .await;
    assert_eq!(restored.spec.as_ref().unwrap().max_replicas, 3, "the user's ceiling is restored");
    assert!(
        !restored.metadata.annotations.unwrap_or_default().contains_key("diurnal.dev/saved-max-replicas"),
        "the saved ceiling is dropped once restored"
    );
}

#[tokio::test]
async fn a_fire_missed_across_a_restart_is_applied_once_on_start() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "catchup").await;
    create_deployment(&client, &ns, "web", 1).await;
    let mut first = controller("catchup-1", &ns);
    let fire = next_whole_second(Duration::from_secs(6));
    create_one_shot(&client, &ns, fire, 3).await;
    wait_for(Duration::from_secs(5), "the first controller to plan the job", || async {
        cronhpa_status(&client, &ns, "web").await.filter(|s| s.next_schedule_time.is_some())
    })
    .await;
    first.stop();
    sleep_until(fire + jiff::SignedDuration::from_secs(1)).await;
    assert_eq!(
        replicas(&client, &ns, "web").await,
        1,
        "nobody applied the fire while the controller was down"
    );
    let _second = controller("catchup-2", &ns);
    follows(&client, &ns, "web", 3, fire).await;
    let evs = wait_for(Duration::from_secs(5), "a CaughtUp event", || async {
        let evs = events(&client, &ns).await;
        evs.iter().any(|(r, _)| r == "CaughtUp").then_some(evs)
    })
    .await;
    assert_eq!(evs.iter().filter(|(r, _)| r == "CaughtUp").count(), 1, "{evs:?}");
    assert_eq!(evs.iter().filter(|(r, _)| r == "Scaled").count(), 1, "applied once: {evs:?}");
    let status = wait_for(Duration::from_secs(5), "the caught-up fire in the status", || async {
        cronhpa_status(&client, &ns, "web").await.filter(|s| s.conditions[0].last_schedule_time.is_some())
    })
    .await;
    assert_eq!(status.conditions[0].last_schedule_time.as_ref().unwrap().0, fire);
}

#[tokio::test]
async fn a_standby_takes_over_when_the_leader_dies() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "leader").await;
    create_deployment(&client, &ns, "web", 1).await;
    let lease_args =
        |_: &str| ["--namespace", &ns, "--lease-namespace", &ns, "--lease-duration", "4"].map(String::from);
    let a_args = lease_args("a");
    let b_args = lease_args("b");
    let mut a = Controller::start("leader-a", &a_args.iter().map(String::as_str).collect::<Vec<_>>());
    let mut b = Controller::start("leader-b", &b_args.iter().map(String::as_str).collect::<Vec<_>>());
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let holder = wait_for(Duration::from_secs(15), "a lease holder", || async {
        leases.get("diurnal-controller").await.ok()?.spec?.holder_identity
    })
    .await;
    let (leader, standby) = if holder == "leader-a" { (&mut a, "leader-b") } else { (&mut b, "leader-a") };
    leader.kill();
    // A fire after the lease has expired is applied by the standby.
    let fire = next_whole_second(Duration::from_secs(8));
    create_one_shot(&client, &ns, fire, 4).await;
    sleep_until(fire).await;
    follows(&client, &ns, "web", 4, fire).await;
    let now_holder = leases.get("diurnal-controller").await.unwrap().spec.unwrap().holder_identity;
    assert_eq!(now_holder.as_deref(), Some(standby));
}

#[tokio::test]
async fn two_hundred_objects_with_invalid_ones_mixed_in_keep_the_valid_ones_firing() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "many").await;
    for i in 0..100 {
        create_deployment(&client, &ns, &format!("web-{i}"), 1).await;
    }
    let _controller = controller("many", &ns);
    let fire = next_whole_second(Duration::from_secs(20));
    for i in 0..100 {
        let good = cronhpa(
            &format!("good-{i}"),
            &deployment_ref(&format!("web-{i}")),
            &json!([{"name": "peak", "schedule": utc_date(fire), "targetSize": 2}]),
        );
        let bad_jobs = if i % 2 == 0 {
            json!([{"name": "peak", "schedule": "0 0 25 * * *", "targetSize": 2}])
        } else {
            json!([{"name": "peak", "schedule": "@daily", "targetSize": 2, "timeZone": "Mars/Olympus"}])
        };
        create_cronhpa(&client, &ns, good).await;
        create_cronhpa(
            &client,
            &ns,
            cronhpa(&format!("bad-{i}"), &deployment_ref(&format!("web-{i}")), &bad_jobs),
        )
        .await;
    }
    sleep_until(fire).await;
    wait_for(Duration::from_secs(20), "all 100 valid objects to fire", || async {
        let deployments: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client.clone(), &ns);
        let list = deployments.list(&kube::api::ListParams::default()).await.ok()?;
        list.items.iter().all(|d| d.spec.as_ref().and_then(|s| s.replicas) == Some(2)).then_some(())
    })
    .await;
    let bad = cronhpa_status(&client, &ns, "bad-0").await.unwrap();
    assert_eq!(bad.conditions[0].state, JobState::Failed);
    assert!(bad.conditions[0].message.contains("spec.jobs[0].schedule"), "{}", bad.conditions[0].message);
    let bad = cronhpa_status(&client, &ns, "bad-1").await.unwrap();
    assert!(bad.conditions[0].message.contains("Mars/Olympus"), "{}", bad.conditions[0].message);
}
