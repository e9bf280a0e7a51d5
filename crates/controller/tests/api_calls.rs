//! Every Kubernetes API call a fire makes, pinned: method, path, patch type and body, in order.
//! (The style of kube-rs controller-rs `fixtures.rs`: a tower-test mock stands in for the API
//! server; a call that never comes, or one too many, fails the test.)

mod common;

use common::{DEPLOY_SCALE, HPA, hpa, hpa_patch, hpa_with, record, scale, target, write};
use diurnal_api::ScaleTargetRef;
use diurnal_controller::target::FireError;
use diurnal_core::scaling::Size;
use diurnal_testing::{Call, get, merge_patch, not_found};
use serde_json::{Value, json};

async fn run(
    calls: Vec<Call>,
    hpas: Option<Vec<Value>>,
    target: ScaleTargetRef,
    size: i32,
) -> Result<String, FireError> {
    run_with(calls, hpas, target, Size::Replicas(size), true).await
}

/// [`run`] with any [`Size`] and the object's `hpaCoordination` (`coordinate: false` is `off`).
async fn run_with(
    calls: Vec<Call>,
    hpas: Option<Vec<Value>>,
    target: ScaleTargetRef,
    size: Size,
    coordinate: bool,
) -> Result<String, FireError> {
    let (targets, server) = common::targets(calls, hpas);
    let result = targets.apply("shop", &target, size, coordinate, &|| {}).await;
    drop(targets);
    server.await.unwrap();
    result.map(|(message, _)| message)
}

#[tokio::test]
async fn a_plain_deployment_is_read_then_patched_through_its_scale_subresource() {
    let message = run(
        vec![
            get(DEPLOY_SCALE, scale(2)),
            write(merge_patch(DEPLOY_SCALE, json!({"spec": {"replicas": 5}}), scale(5))),
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
            write(merge_patch(HPA, hpa_patch(6, 10, record(2, None, (6, 10))), hpa(6, 10, None))),
            write(merge_patch(DEPLOY_SCALE, json!({"spec": {"replicas": 6}}), scale(6))),
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
async fn an_objects_hpa_coordination_off_scales_the_workload_even_with_an_hpa_in_the_cache() {
    run_with(
        vec![
            get(DEPLOY_SCALE, scale(3)),
            write(merge_patch(DEPLOY_SCALE, json!({"spec": {"replicas": 6}}), scale(6))),
        ],
        Some(vec![hpa(2, 10, None)]),
        target("apps/v1", "Deployment", "web"),
        Size::Replicas(6),
        false,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn exact_pins_the_hpa_and_scales_the_workload_down_at_once() {
    let message = run_with(
        vec![
            get(HPA, hpa(2, 10, None)),
            get(DEPLOY_SCALE, scale(8)),
            write(merge_patch(HPA, hpa_patch(3, 3, record(2, Some(10), (3, 3))), hpa(3, 3, Some(10)))),
            write(merge_patch(DEPLOY_SCALE, json!({"spec": {"replicas": 3}}), scale(3))),
        ],
        None,
        target("autoscaling/v2", "HorizontalPodAutoscaler", "web-hpa"),
        Size::Exact(3),
        true,
    )
    .await
    .unwrap();
    assert_eq!(
        message,
        "HorizontalPodAutoscaler shop/web-hpa: minReplicas 2 -> 3, maxReplicas 10 -> 3, Deployment shop/web replicas 8 -> 3"
    );
}

#[tokio::test]
async fn a_floor_and_ceiling_move_both_hpa_bounds() {
    run_with(
        vec![
            get(HPA, hpa(2, 20, None)),
            get(DEPLOY_SCALE, scale(30)),
            write(merge_patch(HPA, hpa_patch(10, 60, record(2, Some(20), (10, 60))), hpa(10, 60, Some(20)))),
        ],
        None,
        target("autoscaling/v2", "HorizontalPodAutoscaler", "web-hpa"),
        Size::Bounds { min: Some(10), max: Some(60) },
        true,
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
            write(merge_patch(HPA, hpa_patch(12, 12, record(2, Some(10), (12, 12))), hpa(12, 12, Some(10)))),
            write(merge_patch(DEPLOY_SCALE, json!({"spec": {"replicas": 12}}), scale(12))),
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
            get(HPA, hpa_with(12, 12, record(2, Some(10), (12, 12)))),
            get(DEPLOY_SCALE, scale(12)),
            write(merge_patch(HPA, hpa_patch(2, 10, record(2, None, (2, 10))), hpa(2, 10, None))),
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
    let (targets, server) = common::targets(calls, None);
    let web = target("apps/v1", "Deployment", "web");
    targets.prefetch("shop", &web).await;
    let (message, _) = targets.apply("shop", &web, Size::Replicas(size), true, &|| {}).await.unwrap();
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

#[tokio::test]
async fn a_ceiling_the_owner_changed_while_raised_is_kept_at_the_next_lower_fire() {
    // diurnal raised 10 to 12 (and recorded so); the owner then set 20. The lower fire keeps 20
    // (it used to put 10 back) and records 20 as the owner's.
    let message = run(
        vec![
            get(HPA, hpa_with(12, 20, record(2, Some(10), (12, 12)))),
            get(DEPLOY_SCALE, scale(12)),
            write(merge_patch(HPA, hpa_patch(2, 20, record(2, None, (2, 20))), hpa(2, 20, None))),
        ],
        None,
        target("autoscaling/v2", "HorizontalPodAutoscaler", "web-hpa"),
        2,
    )
    .await
    .unwrap();
    assert_eq!(message, "HorizontalPodAutoscaler shop/web-hpa: minReplicas 12 -> 2");
}

#[tokio::test]
async fn an_hpa_changed_since_it_was_read_fails_the_fire_with_a_conflict() {
    // The patch carries the resourceVersion read (7); the server has moved on and answers 409.
    let refused = write(merge_patch(HPA, hpa_patch(6, 10, record(2, None, (6, 10))), json!({})))
        .failing(409, "Conflict");
    let err = run(
        vec![get(DEPLOY_SCALE, scale(6)), refused],
        Some(vec![hpa(2, 10, None)]),
        target("apps/v1", "Deployment", "web"),
        6,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, FireError::Conflict(_)), "{err:?}");
    assert_eq!(err.reason(), "ScaleFailed");
    assert_eq!(
        err.to_string(),
        "patch HorizontalPodAutoscaler shop/web-hpa: changed since it was read (conflict)"
    );
}

#[tokio::test]
async fn zero_on_an_hpa_managed_workload_scales_the_workload_and_leaves_the_hpa() {
    let message = run(
        vec![
            get(DEPLOY_SCALE, scale(6)),
            write(merge_patch(DEPLOY_SCALE, json!({"spec": {"replicas": 0}}), scale(0))),
        ],
        Some(vec![hpa_with(4, 10, record(2, None, (4, 10)))]),
        target("apps/v1", "Deployment", "web"),
        0,
    )
    .await
    .unwrap();
    assert_eq!(message, "HorizontalPodAutoscaler shop/web-hpa: Deployment shop/web replicas 6 -> 0");
}

#[tokio::test]
async fn zero_on_an_hpa_target_whose_workload_is_missing_is_not_found() {
    let err = run(
        vec![get(HPA, hpa(4, 10, None)), not_found("GET", DEPLOY_SCALE)],
        None,
        target("autoscaling/v2", "HorizontalPodAutoscaler", "web-hpa"),
        0,
    )
    .await
    .unwrap_err();
    assert_eq!(err.reason(), "TargetNotFound");
}

#[tokio::test]
async fn the_fire_after_zero_sets_the_floor_and_wakes_the_workload() {
    // The HPA does not act on a workload at 0 replicas: diurnal scales it to the floor itself.
    let message = run(
        vec![
            get(HPA, hpa_with(2, 10, record(2, None, (2, 10)))),
            get(DEPLOY_SCALE, scale(0)),
            write(merge_patch(HPA, hpa_patch(3, 10, record(2, None, (3, 10))), hpa(3, 10, None))),
            write(merge_patch(DEPLOY_SCALE, json!({"spec": {"replicas": 3}}), scale(3))),
        ],
        None,
        target("autoscaling/v2", "HorizontalPodAutoscaler", "web-hpa"),
        3,
    )
    .await
    .unwrap();
    assert_eq!(
        message,
        "HorizontalPodAutoscaler shop/web-hpa: minReplicas 2 -> 3, Deployment shop/web replicas 0 -> 3"
    );
}
