//! The harness works: the CRD installs on a real API server, the old controller's manifests are
//! accepted, the server's own schema validation rejects bad objects, and kube-rs can drive a
//! Deployment's scale subresource.

use diurnal_api::CronHorizontalPodAutoscaler;
use diurnal_e2e::{cluster_or_skip, install_crd, namespace, repo_root};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

fn cronhpa_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("autoscaling.alibabacloud.com", "v1beta1", "CronHorizontalPodAutoscaler"),
        "cronhorizontalpodautoscalers",
    )
}

#[tokio::test]
async fn the_crd_installs_and_every_example_cronhpa_is_accepted() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "smoke").await;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &cronhpa_resource());
    let mut created = 0;
    for entry in std::fs::read_dir(repo_root().join("examples/cronhpa")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in diurnal_api::manifest::parse_documents(&text, "example").unwrap() {
            let mut obj: DynamicObject = serde_json::from_value(doc.value).unwrap();
            obj.metadata.namespace = Some(ns.clone());
            api.create(&PostParams::default(), &obj)
                .await
                .unwrap_or_else(|e| panic!("{} rejected by the API server: {e}", path.display()));
            created += 1;
        }
    }
    assert!(created >= 4, "the examples hold at least 4 CronHPAs, created {created}");
    // And they read back as diurnal's typed resource.
    let typed: Api<CronHorizontalPodAutoscaler> = Api::namespaced(client, &ns);
    let sample = typed.get("cronhpa-sample").await.unwrap();
    assert_eq!(sample.spec.jobs.len(), 4);
    assert_eq!(sample.spec.exclude_dates, ["* * * 15 11 *", "* * * * * 5"]);
}

#[tokio::test]
async fn the_api_server_rejects_what_the_schema_forbids() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "schema").await;
    let api: Api<DynamicObject> = Api::namespaced_with(client, &ns, &cronhpa_resource());
    let base = json!({
        "apiVersion": "autoscaling.alibabacloud.com/v1beta1",
        "kind": "CronHorizontalPodAutoscaler",
        "metadata": {"name": "bad"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}},
    });
    let cases = [
        ("negative targetSize", json!([{"name": "a", "schedule": "@daily", "targetSize": -1}]), "targetSize"),
        (
            "duplicate job names",
            json!([{"name": "a", "schedule": "@daily", "targetSize": 1}, {"name": "a", "schedule": "@hourly", "targetSize": 2}]),
            "Duplicate value",
        ),
        ("missing jobs", serde_json::Value::Null, "jobs"),
        ("empty jobs", json!([]), "jobs"),
    ];
    for (what, jobs, mentions) in cases {
        let mut obj = base.clone();
        if !jobs.is_null() {
            obj["spec"]["jobs"] = jobs;
        }
        let obj: DynamicObject = serde_json::from_value(obj).unwrap();
        match api.create(&PostParams::default(), &obj).await {
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 422, "{what}: {status:?}");
                assert!(status.message.contains(mentions), "{what}: {}", status.message);
            }
            other => panic!("{what}: expected a 422 from the API server, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_deployments_scale_subresource_round_trips_through_kube_rs() {
    let client = cluster_or_skip!();
    let ns = namespace(&client, "scale").await;
    let deployments: Api<Deployment> = Api::namespaced(client, &ns);
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "registry.invalid/web:1"}]}},
        },
    }))
    .unwrap();
    deployments.create(&PostParams::default(), &deployment).await.unwrap();
    let scale = deployments.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(1));
    deployments
        .patch_scale("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 4}})))
        .await
        .unwrap();
    assert_eq!(deployments.get("web").await.unwrap().spec.unwrap().replicas, Some(4));
    assert_eq!(deployments.get_scale("web").await.unwrap().spec.unwrap().replicas, Some(4));
}
