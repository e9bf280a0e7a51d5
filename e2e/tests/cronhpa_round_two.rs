//! Issue 15 against the real control plane: the per-job history the controller writes, and the
//! CEL rules with which the API server itself refuses contradicting sizes (no webhook needed).

use std::time::Duration;

use diurnal_api::{CronHorizontalPodAutoscaler, Execution, ExecutionResult};
use diurnal_e2e::{
    Controller, cluster_or_skip, create_cronhpa, create_deployment, cronhpa, cronhpa_status, deployment_ref,
    install_crd, namespace, wait_for,
};
use kube::api::{Api, PostParams};
use serde_json::json;

/// Two jobs three seconds apart on one Deployment: after three fires the status holds three
/// executions, each scaling from what the one before left.
#[tokio::test]
async fn the_history_after_three_fires_says_from_and_to() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "history").await;
    create_deployment(&client, &ns, "web", 1).await;
    let _controller = Controller::start("history", &["--namespace", &ns, "--leader-election", "off"]);
    let mut obj = cronhpa(
        "web",
        &deployment_ref("web"),
        &json!([
            {"name": "up", "schedule": "0/6 * * * * *", "targetSize": 3},
            {"name": "down", "schedule": "3/6 * * * * *", "targetSize": 2},
        ]),
    );
    obj["spec"]["historyLimit"] = 4.into();
    create_cronhpa(&client, &ns, obj).await;
    let executions = wait_for(Duration::from_secs(15), "three executions in status.jobHistories", || async {
        let status = cronhpa_status(&client, &ns, "web").await?;
        let mut all: Vec<(String, Execution)> = status
            .job_histories
            .into_iter()
            .flat_map(|h| h.executions.into_iter().map(move |e| (h.name.clone(), e)))
            .collect();
        all.sort_by_key(|(_, e)| e.schedule_time.0);
        (all.len() >= 3).then_some(all)
    })
    .await;
    let mut replicas = 1;
    for (job, e) in &executions[..3] {
        let to = if job == "up" { 3 } else { 2 };
        let change = e.changes.replicas.unwrap_or_else(|| panic!("{job}: no replicas in {e:?}"));
        assert_eq!((change.from, change.to), (replicas, to), "{job} at {}: {e:?}", e.schedule_time.0);
        assert_eq!(e.result, ExecutionResult::Scaled, "{e:?}");
        assert!(e.execution_time.0 >= e.schedule_time.0, "{e:?}");
        replicas = to;
    }
}

async fn refused(api: &Api<CronHorizontalPodAutoscaler>, obj: serde_json::Value) -> String {
    let mut obj = obj;
    obj["apiVersion"] = "autoscaling.alibabacloud.com/v1beta1".into();
    obj["kind"] = "CronHorizontalPodAutoscaler".into();
    let obj: CronHorizontalPodAutoscaler = serde_json::from_value(obj).unwrap();
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => panic!("the API server accepted {:?}", obj.spec),
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            status.message
        }
        Err(other) => panic!("{other}"),
    }
}

#[tokio::test]
async fn the_api_server_refuses_contradicting_sizes_with_the_cel_message() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "cel").await;
    let api: Api<CronHorizontalPodAutoscaler> = Api::namespaced(client.clone(), &ns);
    let hpa = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": "web"});
    let job = |extra: serde_json::Value| {
        let mut j = json!({"name": "day", "schedule": "0 0 8 * * *"});
        j.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!([j])
    };
    let cases = [
        (
            cronhpa("a", &hpa, &job(json!({"targetMinReplicas": 8, "targetMaxReplicas": 3}))),
            "spec.jobs[0]: Invalid value: \"object\": targetMinReplicas must not be above targetMaxReplicas",
        ),
        (
            cronhpa("b", &hpa, &job(json!({"targetSize": 4, "targetMinReplicas": 2}))),
            "set exactly one of targetSize, or targetMinReplicas and/or targetMaxReplicas",
        ),
        (cronhpa("c", &hpa, &job(json!({}))), "set exactly one of targetSize"),
        (
            cronhpa("d", &deployment_ref("web"), &job(json!({"targetMinReplicas": 2}))),
            "targetMinReplicas and targetMaxReplicas apply to a HorizontalPodAutoscaler target only",
        ),
    ];
    for (obj, want) in cases {
        let message = refused(&api, obj).await;
        assert!(message.contains(want), "want {want:?} in {message:?}");
    }
    // The same forms, consistent, are accepted: floors and ceilings on an HPA, targetSize alone.
    for obj in [
        cronhpa("ok-bounds", &hpa, &job(json!({"targetMinReplicas": 2, "targetMaxReplicas": 20}))),
        cronhpa("ok-size", &deployment_ref("web"), &job(json!({"targetSize": 2}))),
    ] {
        create_cronhpa(&client, &ns, obj).await;
    }
}

/// `spec.enforce`: a CronHPA created long after its only job's fire of the day applies that
/// period's size at once (without it, nothing would happen until the next midnight), and puts it
/// back after a hand `kubectl scale`, each time with a `DriftRepaired` Event.
#[tokio::test]
async fn enforce_applies_the_period_in_force_and_repairs_drift() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "enforce").await;
    create_deployment(&client, &ns, "web", 1).await;
    let _controller = Controller::start("enforce", &["--namespace", &ns, "--leader-election", "off"]);
    let mut obj = cronhpa(
        "web",
        &deployment_ref("web"),
        &json!([{"name": "day", "schedule": "0 0 0 * * *", "targetSize": 3}]),
    );
    obj["spec"]["timeZone"] = "UTC".into();
    obj["spec"]["enforce"] = true.into();
    create_cronhpa(&client, &ns, obj).await;
    wait_for(Duration::from_secs(10), "the Deployment at the period's 3 replicas", || async {
        (diurnal_e2e::replicas(&client, &ns, "web").await == 3).then_some(())
    })
    .await;
    let status = wait_for(Duration::from_secs(5), "the Enforce execution", || async {
        cronhpa_status(&client, &ns, "web").await.filter(|s| !s.job_histories.is_empty())
    })
    .await;
    let e = &status.job_histories[0].executions[0];
    assert_eq!(e.kind, diurnal_api::ExecutionKind::Enforce, "{e:?}");
    assert_eq!(e.changes.replicas.map(|c| (c.from, c.to)), Some((1, 3)), "{e:?}");

    // Scaled by hand (to 2, not the 1 it was created with: a read ahead that raced the hold's
    // write once made the check report 1 as what it found): the next drift check (every
    // --min-fire-interval, 1 s here) puts it back.
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client.clone(), &ns);
    let by_hand = kube::api::Patch::Merge(json!({"spec": {"replicas": 2}}));
    deployments.patch_scale("web", &kube::api::PatchParams::default(), &by_hand).await.unwrap();
    wait_for(Duration::from_secs(10), "the drift repaired to 3 replicas", || async {
        let status = cronhpa_status(&client, &ns, "web").await?;
        let repaired = status.job_histories[0].executions.iter().any(|e| {
            e.changes.replicas.is_some_and(|c| (c.from, c.to) == (2, 3))
                && e.execution_time.0 > status.job_histories[0].executions[0].execution_time.0
        });
        (repaired && diurnal_e2e::replicas(&client, &ns, "web").await == 3).then_some(())
    })
    .await;
    // Each repair is a `DriftRepaired` Event, naming what it found and set and the period held;
    // no fire of this object is a `Scaled` one. events.k8s.io folds a repeat of the same reason
    // on the same object (within six minutes) into the first Event's series: the hold at
    // creation (1 -> 3) and the repair of the hand scale are one Event seen twice.
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), &ns);
    let repairs = wait_for(Duration::from_secs(10), "the DriftRepaired Event seen twice", || async {
        let list = events.list(&kube::api::ListParams::default()).await.ok()?.items;
        let repairs = list.iter().find(|e| e.reason.as_deref() == Some("DriftRepaired"))?.clone();
        (repairs.series.as_ref().is_some_and(|s| s.count >= 2)).then_some((repairs, list))
    })
    .await;
    let (repairs, all) = repairs;
    let note = repairs.note.unwrap_or_default();
    assert!(
        note.starts_with(&format!("Deployment {ns}/web: Deployment {ns}/web replicas 1 -> 3; ")),
        "{note}"
    );
    assert!(note.contains("; the period of job day (fire of ") && note.ends_with(") is enforced"), "{note}");
    assert_eq!(repairs.type_.as_deref(), Some("Normal"));
    assert!(!all.iter().any(|e| e.reason.as_deref() == Some("Scaled")), "{all:?}");
}
