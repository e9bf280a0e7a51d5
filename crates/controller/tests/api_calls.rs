//! Every Kubernetes API call a fire makes, pinned: method, path, patch type and body, in order.
//! (The style of kube-rs controller-rs `fixtures.rs`: a tower-test mock stands in for the API
//! server; a call that never comes, or one too many, fails the test.)

use diurnal_api::ScaleTargetRef;
use diurnal_controller::target::{FireError, Targets};
use diurnal_testing::{Call, get, merge_patch, mock_client, not_found, serve};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::runtime::{reflector, watcher};
use serde_json::{Value, json};

fn scale(replicas: i32) -> Value {
    json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"replicas": replicas}, "status": {"replicas": replicas}})
}

fn hpa(min: i32, max: i32, saved_max: Option<i32>) -> Value {
    let mut annotations = json!({});
    if let Some(v) = saved_max {
        annotations = json!({"diurnal.dev/saved-max-replicas": v.to_string()});
    }
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "web-hpa", "namespace": "shop", "annotations": annotations},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "minReplicas": min, "maxReplicas": max,
                    "metrics": [{"type": "Object", "object": {
                        "describedObject": {"apiVersion": "v1", "kind": "Service", "name": "web"},
                        "metric": {"name": "requests-per-second"},
                        "target": {"type": "Value", "value": "10k"}}}]}})
}

fn target(api_version: &str, kind: &str, name: &str) -> ScaleTargetRef {
    ScaleTargetRef { api_version: api_version.into(), kind: kind.into(), name: name.into() }
}

const DEPLOY_SCALE: &str = "/apis/apps/v1/namespaces/shop/deployments/web/scale";
const HPA: &str = "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/web-hpa";

async fn run(
    calls: Vec<Call>,
    hpas: Option<Vec<Value>>,
    target: ScaleTargetRef,
    size: i32,
) -> Result<String, FireError> {
    let (client, handle) = mock_client();
    let store = hpas.map(|objects| {
        let (reader, mut writer) = reflector::store::<HorizontalPodAutoscaler>();
        for obj in objects {
            writer.apply_watcher_event(&watcher::Event::Apply(serde_json::from_value(obj).unwrap()));
        }
        reader
    });
    let server = tokio::spawn(serve(handle, calls));
    let targets = Targets::new(client, store);
    let result = targets.apply("shop", &target, size, &|| {}).await;
    drop(targets);
    server.await.unwrap();
    result
}

#[tokio::test]
async fn a_plain_deployment_is_read_then_patched_through_its_scale_subresource() {
    let message = run(
        vec![
            get(DEPLOY_SCALE, scale(2)),
            merge_patch(DEPLOY_SCALE, json!({"spec": {"replicas": 5}}), scale(5)),
        ],
        Some(vec![]),
        target("apps/v1", "Deployment", "web"),
        5,
    )
    .await
    .unwrap();
    assert_eq!(message, "Deployment shop/web: Deployment shop/web replicas 2 -> 5");
}

#[tokio::test]
async fn a_workload_already_at_size_is_not_patched() {
    let message = run(vec![get(DEPLOY_SCALE, scale(5))], None, target("apps/v1", "Deployment", "web"), 5)
        .await
        .unwrap();
    assert!(message.ends_with("already at size"), "{message}");
}

#[tokio::test]
async fn a_statefulset_uses_its_own_scale_path() {
    const STS: &str = "/apis/apps/v1/namespaces/shop/statefulsets/db/scale";
    run(
        vec![get(STS, scale(1)), merge_patch(STS, json!({"spec": {"replicas": 3}}), scale(3))],
        None,
        target("apps/v1", "StatefulSet", "db"),
        3,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_workload_managed_by_an_hpa_gets_a_new_floor_not_a_fight() {
    // The HPA comes from the watch cache; only the HPA's floor and the workload's size change.
    run(
        vec![
            get(DEPLOY_SCALE, scale(3)),
            merge_patch(
                HPA,
                json!({"metadata": {"annotations": {"diurnal.dev/saved-max-replicas": null}},
                       "spec": {"minReplicas": 6, "maxReplicas": 10}}),
                hpa(6, 10, None),
            ),
            merge_patch(DEPLOY_SCALE, json!({"spec": {"replicas": 6}}), scale(6)),
        ],
        Some(vec![hpa(2, 10, None)]),
        target("apps/v1", "Deployment", "web"),
        6,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn hpa_coordination_off_scales_the_workload_directly() {
    run(
        vec![
            get(DEPLOY_SCALE, scale(3)),
            merge_patch(DEPLOY_SCALE, json!({"spec": {"replicas": 6}}), scale(6)),
        ],
        None,
        target("apps/v1", "Deployment", "web"),
        6,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn an_hpa_target_above_its_ceiling_raises_it_and_remembers_the_original() {
    let message = run(
        vec![
            get(HPA, hpa(2, 10, None)),
            get(DEPLOY_SCALE, scale(4)),
            merge_patch(
                HPA,
                json!({"metadata": {"annotations": {"diurnal.dev/saved-max-replicas": "10"}},
                       "spec": {"minReplicas": 12, "maxReplicas": 12}}),
                hpa(12, 12, Some(10)),
            ),
            merge_patch(DEPLOY_SCALE, json!({"spec": {"replicas": 12}}), scale(12)),
        ],
        None,
        target("autoscaling/v2", "HorizontalPodAutoscaler", "web-hpa"),
        12,
    )
    .await
    .unwrap();
    assert_eq!(
        message,
        "HorizontalPodAutoscaler shop/web-hpa: minReplicas 2 -> 12, maxReplicas 10 -> 12, Deployment shop/web replicas 4 -> 12"
    );
}

#[tokio::test]
async fn lowering_the_floor_restores_the_remembered_ceiling() {
    run(
        vec![
            get(HPA, hpa(12, 12, Some(10))),
            get(DEPLOY_SCALE, scale(12)),
            merge_patch(
                HPA,
                json!({"metadata": {"annotations": {"diurnal.dev/saved-max-replicas": null}},
                       "spec": {"minReplicas": 2, "maxReplicas": 10}}),
                hpa(2, 10, None),
            ),
        ],
        None,
        target("autoscaling/v1", "HorizontalPodAutoscaler", "web-hpa"),
        2,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_missing_target_is_reported_as_not_found() {
    let err = run(vec![not_found("GET", DEPLOY_SCALE)], None, target("apps/v1", "Deployment", "web"), 2)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "TargetNotFound");
    assert!(err.to_string().contains("Deployment shop/web"), "{err}");
}

#[tokio::test]
async fn a_refused_patch_is_a_scale_failure() {
    let mut refused = not_found("PATCH", DEPLOY_SCALE);
    refused.status = 409;
    refused.answer = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409, "message": "conflict"});
    let err =
        run(vec![get(DEPLOY_SCALE, scale(1)), refused], None, target("apps/v1", "Deployment", "web"), 2)
            .await
            .unwrap_err();
    assert_eq!(err.reason(), "ScaleFailed");
}

async fn prefetch_then_apply(calls: Vec<Call>, size: i32) -> String {
    let (client, handle) = mock_client();
    let server = tokio::spawn(serve(handle, calls));
    let targets = Targets::new(client, None);
    let web = target("apps/v1", "Deployment", "web");
    targets.prefetch("shop", &web).await;
    let message = targets.apply("shop", &web, size, &|| {}).await.unwrap();
    drop(targets);
    server.await.unwrap();
    message
}

#[tokio::test]
async fn a_size_read_ahead_of_the_fire_leaves_only_the_patch_for_the_instant() {
    let message = prefetch_then_apply(
        vec![
            get(DEPLOY_SCALE, scale(2)),
            merge_patch(DEPLOY_SCALE, json!({"spec": {"replicas": 5}}), scale(5)),
        ],
        5,
    )
    .await;
    assert!(message.contains("replicas 2 -> 5"), "{message}");
}

#[tokio::test]
async fn a_read_ahead_that_says_already_at_size_is_read_again() {
    // Somebody may have scaled the workload since the read ahead: never skip a write on it.
    let message = prefetch_then_apply(
        vec![
            get(DEPLOY_SCALE, scale(5)),
            get(DEPLOY_SCALE, scale(3)),
            merge_patch(DEPLOY_SCALE, json!({"spec": {"replicas": 5}}), scale(5)),
        ],
        5,
    )
    .await;
    assert!(message.contains("replicas 3 -> 5"), "{message}");
}
