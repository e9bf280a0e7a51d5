//! Giving an HPA back when its CronHPA is deleted or retargeted, and the finalizer that holds a
//! deleted CronHPA until then: the calls, pinned (see `api_calls.rs` for the style).

mod common;

use std::sync::Arc;

use common::{HPA, hpa, hpa_store, hpa_with, no_record, record, target, write};
use diurnal_api::CronHorizontalPodAutoscaler;
use diurnal_controller::finalizer::{FINALIZER, Keeper, restore_hpa};
use diurnal_controller::target::{FireError, Targets};
use diurnal_testing::{Call, get, json_patch, merge_patch, mock_client, not_found, serve};
use serde_json::{Value, json};

const CRON: &str =
    "/apis/autoscaling.alibabacloud.com/v1beta1/namespaces/shop/cronhorizontalpodautoscalers/web-cron";

/// A CronHPA targeting `target`, with `finalizers`, maybe being deleted.
fn cronhpa(target: Value, finalizers: &[&str], deleting: bool) -> CronHorizontalPodAutoscaler {
    let mut obj = json!({
        "apiVersion": "autoscaling.alibabacloud.com/v1beta1", "kind": "CronHorizontalPodAutoscaler",
        "metadata": {"name": "web-cron", "namespace": "shop", "uid": "u-1", "resourceVersion": "3",
                     "finalizers": finalizers},
        "spec": {"jobs": [{"name": "up", "schedule": "@daily", "targetSize": 4}]}});
    obj["spec"]["scaleTargetRef"] = target;
    if deleting {
        obj["metadata"]["deletionTimestamp"] = json!("2026-03-01T10:00:00Z");
    }
    serde_json::from_value(obj).unwrap()
}

fn hpa_ref() -> Value {
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": "web-hpa"})
}

/// The restore patch: conflict-checked, the owner's values where given, no bookkeeping left.
fn restore_patch(spec: Value) -> Value {
    let mut patch = json!({"metadata": {"resourceVersion": "7", "annotations": no_record()}});
    if spec != json!({}) {
        patch["spec"] = spec;
    }
    patch
}

async fn restore(calls: Vec<Call>) -> Result<Option<String>, FireError> {
    let (targets, server) = common::targets(calls, None);
    let result =
        restore_hpa(&targets, "shop", &target("autoscaling/v2", "HorizontalPodAutoscaler", "web-hpa")).await;
    drop(targets);
    server.await.unwrap();
    result
}

#[tokio::test]
async fn an_hpa_nobody_changed_since_gets_its_floor_and_ceiling_back() {
    let done = restore(vec![
        get(HPA, hpa_with(12, 12, record(2, Some(10), (12, 12)))),
        write(merge_patch(
            HPA,
            restore_patch(json!({"minReplicas": 2, "maxReplicas": 10})),
            hpa(2, 10, None),
        )),
    ])
    .await
    .unwrap();
    assert_eq!(
        done.as_deref(),
        Some(
            "restored HorizontalPodAutoscaler shop/web-hpa: minReplicas 12 -> 2, maxReplicas 12 -> 10, bookkeeping removed"
        )
    );
}

#[tokio::test]
async fn a_field_the_owner_changed_since_is_kept() {
    // The owner set maxReplicas 20 after diurnal raised it to 12: only the floor goes back.
    restore(vec![
        get(HPA, hpa_with(12, 20, record(2, Some(10), (12, 12)))),
        write(merge_patch(HPA, restore_patch(json!({"minReplicas": 2})), hpa(2, 20, None))),
    ])
    .await
    .unwrap();
    // Both changed: only the annotations go.
    restore(vec![
        get(HPA, hpa_with(5, 20, record(2, Some(10), (12, 12)))),
        write(merge_patch(HPA, restore_patch(json!({})), hpa(5, 20, None))),
    ])
    .await
    .unwrap();
}

#[tokio::test]
async fn an_hpa_diurnal_never_wrote_or_that_is_gone_is_left_alone() {
    assert_eq!(restore(vec![get(HPA, hpa(4, 10, None))]).await.unwrap(), None);
    assert_eq!(restore(vec![not_found("GET", HPA)]).await.unwrap(), None);
}

#[tokio::test]
async fn a_restore_racing_an_edit_fails_with_a_conflict() {
    let refused =
        write(merge_patch(HPA, restore_patch(json!({"minReplicas": 2, "maxReplicas": 10})), json!({})))
            .failing(409, "Conflict");
    let err =
        restore(vec![get(HPA, hpa_with(12, 12, record(2, Some(10), (12, 12)))), refused]).await.unwrap_err();
    assert!(matches!(err, FireError::Conflict(_)), "{err:?}");
}

/// A leading keeper over a mock server answering `calls`; `hpas` is its HPA cache.
async fn keeper_run(calls: Vec<Call>, hpas: Vec<Value>, leading: bool, feed: impl FnOnce(&mut Keeper)) {
    let (client, handle) = mock_client();
    let server = tokio::spawn(serve(handle, calls));
    let targets = Arc::new(Targets::new(client.clone(), Some(hpa_store(hpas))));
    let mut keeper = Keeper::new(client, targets);
    keeper.lead(leading);
    feed(&mut keeper);
    server.await.unwrap();
}

/// Feeds the keeper `objects`, in order.
fn observe_all(objects: &[&CronHorizontalPodAutoscaler]) -> impl FnOnce(&mut Keeper) {
    let objects: Vec<CronHorizontalPodAutoscaler> = objects.iter().map(|o| (*o).clone()).collect();
    move |keeper| {
        for obj in &objects {
            keeper.observe(obj);
        }
    }
}

fn remove_finalizer_at(index: usize) -> Value {
    json!([{"op": "test", "path": format!("/metadata/finalizers/{index}"), "value": FINALIZER},
           {"op": "remove", "path": format!("/metadata/finalizers/{index}")}])
}

#[tokio::test]
async fn a_deleted_cronhpa_never_fires_restores_its_hpa_then_drops_its_finalizer() {
    let deleted = cronhpa(hpa_ref(), &["example.com/other", FINALIZER], true);
    keeper_run(
        vec![
            get(HPA, hpa_with(12, 12, record(2, Some(10), (12, 12)))),
            write(merge_patch(
                HPA,
                restore_patch(json!({"minReplicas": 2, "maxReplicas": 10})),
                hpa(2, 10, None),
            )),
            write(json_patch(CRON, remove_finalizer_at(1), json!({}))),
        ],
        vec![],
        true,
        |keeper| assert!(keeper.observe(&deleted), "a deleting object must be reported"),
    )
    .await;
}

#[tokio::test]
async fn a_deleted_cronhpa_with_nothing_to_restore_is_released_at_once() {
    let deleted = cronhpa(hpa_ref(), &[FINALIZER], true);
    keeper_run(
        vec![get(HPA, hpa(4, 10, None)), write(json_patch(CRON, remove_finalizer_at(0), json!({})))],
        vec![],
        true,
        observe_all(&[&deleted]),
    )
    .await;
}

#[tokio::test]
async fn a_failed_release_reads_the_object_again_and_retries() {
    let deleted = cronhpa(hpa_ref(), &["example.com/other", FINALIZER], true);
    let changed = json!({"apiVersion": "autoscaling.alibabacloud.com/v1beta1", "kind": "CronHorizontalPodAutoscaler",
        "metadata": {"name": "web-cron", "namespace": "shop", "finalizers": [FINALIZER]},
        "spec": {"scaleTargetRef": hpa_ref(), "jobs": []}});
    keeper_run(
        vec![
            get(HPA, hpa(4, 10, None)),
            // The other finalizer went first: the test of index 1 fails.
            write(json_patch(CRON, remove_finalizer_at(1), json!({}))).failing(422, "Invalid"),
            get(HPA, hpa(4, 10, None)),
            get(CRON, changed),
            write(json_patch(CRON, remove_finalizer_at(0), json!({}))),
        ],
        vec![],
        true,
        observe_all(&[&deleted]),
    )
    .await;
}

#[tokio::test]
async fn a_cronhpa_on_an_hpa_gets_the_finalizer_and_one_on_a_plain_workload_does_not() {
    let on_hpa = cronhpa(hpa_ref(), &[], false);
    let add = json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
                     {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}]);
    keeper_run(vec![write(json_patch(CRON, add, json!({})))], vec![], true, |keeper| {
        assert!(!keeper.observe(&on_hpa));
    })
    .await;
    // A Deployment an HPA manages (from the cache) counts; one nobody manages does not.
    let on_managed =
        cronhpa(json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}), &["a/b"], false);
    let add = json!([{"op": "test", "path": "/metadata/finalizers", "value": ["a/b"]},
                     {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER}]);
    keeper_run(
        vec![write(json_patch(CRON, add, json!({})))],
        vec![hpa(2, 10, None)],
        true,
        observe_all(&[&on_managed]),
    )
    .await;
    let on_plain = cronhpa(json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}), &[], false);
    keeper_run(vec![], vec![], true, observe_all(&[&on_plain])).await;
}

#[tokio::test]
async fn a_standby_writes_nothing_until_it_leads() {
    let deleted = cronhpa(hpa_ref(), &[FINALIZER], true);
    keeper_run(vec![], vec![], false, |keeper| {
        assert!(keeper.observe(&deleted));
    })
    .await;
    keeper_run(
        vec![get(HPA, hpa(4, 10, None)), write(json_patch(CRON, remove_finalizer_at(0), json!({})))],
        vec![],
        false,
        |keeper| {
            keeper.observe(&deleted);
            keeper.lead(true);
        },
    )
    .await;
}

#[tokio::test]
async fn retargeting_gives_the_previous_hpa_back() {
    let before = cronhpa(hpa_ref(), &[FINALIZER], false);
    let after =
        cronhpa(json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "other"}), &[FINALIZER], false);
    keeper_run(
        vec![
            get(HPA, hpa_with(6, 10, record(2, None, (6, 10)))),
            write(merge_patch(HPA, restore_patch(json!({"minReplicas": 2})), hpa(2, 10, None))),
        ],
        vec![],
        true,
        observe_all(&[&before, &after]),
    )
    .await;
}

#[tokio::test]
async fn retargeting_between_an_hpa_and_its_own_workload_gives_nothing_back() {
    let before = cronhpa(hpa_ref(), &[FINALIZER], false);
    let after =
        cronhpa(json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}), &[FINALIZER], false);
    keeper_run(vec![], vec![hpa(6, 10, None)], true, observe_all(&[&before, &after])).await;
}

#[tokio::test]
async fn a_retarget_made_while_no_controller_ran_is_read_from_the_status() {
    let mut after =
        cronhpa(json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "other"}), &[], false);
    after.status = Some(serde_json::from_value(json!({"scaleTargetRef": hpa_ref()})).unwrap());
    keeper_run(
        vec![
            get(HPA, hpa_with(6, 10, record(2, None, (6, 10)))),
            write(merge_patch(HPA, restore_patch(json!({"minReplicas": 2})), hpa(2, 10, None))),
        ],
        vec![],
        false,
        |keeper| {
            keeper.observe(&after);
            keeper.lead(true);
        },
    )
    .await;
}
