//! Targets are found by group and kind through discovery, at the version the API server serves:
//! the calls, pinned (see `api_calls.rs` for the style).

mod common;

use diurnal_core::scaling::Size;

use common::{DEPLOY_SCALE, HPA, hpa, hpa_patch, record, scale, target, write};
use diurnal_controller::target::FireError;
use diurnal_testing::{Call, get, merge_patch, not_found};
use serde_json::{Value, json};

fn group(name: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> =
        versions.iter().map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v})).collect();
    json!({"kind": "APIGroup", "apiVersion": "v1", "name": name,
           "versions": versions.clone(), "preferredVersion": versions[0]})
}

/// A resource list of `group_version` with `(plural, kind, has_scale)` resources.
fn resources(group_version: &str, list: &[(&str, &str, bool)]) -> Value {
    let mut out = Vec::new();
    for (plural, kind, has_scale) in list {
        out.push(json!({"name": plural, "singularName": "", "namespaced": true, "kind": kind,
                        "verbs": ["get", "list", "watch", "patch"]}));
        if *has_scale {
            out.push(json!({"name": format!("{plural}/scale"), "singularName": "", "namespaced": true,
                            "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch"]}));
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": out})
}

fn apps_discovery() -> Vec<Call> {
    vec![
        get("/apis/apps", group("apps", &["v1"])),
        get(
            "/apis/apps/v1",
            resources(
                "apps/v1",
                &[("deployments", "Deployment", true), ("statefulsets", "StatefulSet", true)],
            ),
        ),
    ]
}

const NOT_SERVED: &str = "(warning: apps/v1beta2 is not served by the API server; used apps/v1)";

#[tokio::test]
async fn an_apps_v1beta2_deployment_fires_at_apps_v1_with_a_warning_and_discovery_is_cached() {
    let mut calls = apps_discovery();
    calls.extend([
        get(DEPLOY_SCALE, scale(2)),
        write(merge_patch(DEPLOY_SCALE, json!({"spec": {"replicas": 5}}), scale(5))),
        // The second fire asks discovery nothing.
        get(DEPLOY_SCALE, scale(5)),
    ]);
    let (targets, server) = common::targets(calls, None);
    let web = target("apps/v1beta2", "Deployment", "web");
    let first = targets.apply("shop", &web, Size::Replicas(5), true, &|| {}).await.unwrap().0;
    let second = targets.apply("shop", &web, Size::Replicas(5), true, &|| {}).await.unwrap().0;
    drop(targets);
    server.await.unwrap();
    assert_eq!(first, format!("Deployment shop/web: Deployment shop/web replicas 2 -> 5 {NOT_SERVED}"));
    assert_eq!(second, format!("Deployment shop/web already at size {NOT_SERVED}"));
}

#[tokio::test]
async fn an_extensions_v1beta1_deployment_is_found_in_apps() {
    let mut calls = vec![not_found("GET", "/apis/extensions")];
    calls.extend(apps_discovery());
    calls.extend([
        get(DEPLOY_SCALE, scale(3)),
        write(merge_patch(DEPLOY_SCALE, json!({"spec": {"replicas": 1}}), scale(1))),
    ]);
    let (targets, server) = common::targets(calls, None);
    let message = targets
        .apply("shop", &target("extensions/v1beta1", "Deployment", "web"), Size::Replicas(1), true, &|| {})
        .await
        .unwrap()
        .0;
    drop(targets);
    server.await.unwrap();
    assert!(
        message.ends_with("(warning: extensions/v1beta1 is not served by the API server; used apps/v1)"),
        "{message}"
    );
}

#[tokio::test]
async fn a_custom_resource_is_scaled_at_its_preferred_version_without_a_warning_when_served() {
    const WIDGET_SCALE: &str = "/apis/example.com/v2/namespaces/shop/widgets/web/scale";
    let calls = vec![
        get("/apis/example.com", group("example.com", &["v2", "v1"])),
        get("/apis/example.com/v2", resources("example.com/v2", &[("widgets", "Widget", true)])),
        get(WIDGET_SCALE, scale(1)),
        write(merge_patch(WIDGET_SCALE, json!({"spec": {"replicas": 4}}), scale(4))),
    ];
    let (targets, server) = common::targets(calls, None);
    let message = targets
        .apply("shop", &target("example.com/v1", "Widget", "web"), Size::Replicas(4), true, &|| {})
        .await
        .unwrap()
        .0;
    drop(targets);
    server.await.unwrap();
    assert_eq!(message, "Widget shop/web: Widget shop/web replicas 1 -> 4");
}

#[tokio::test]
async fn an_unknown_group_is_a_missing_target_and_is_not_cached() {
    let calls = vec![not_found("GET", "/apis/example.com"), not_found("GET", "/apis/example.com")];
    let (targets, server) = common::targets(calls, None);
    let widget = target("example.com/v1", "Widget", "web");
    for _ in 0..2 {
        let err = targets.apply("shop", &widget, Size::Replicas(4), true, &|| {}).await.unwrap_err();
        assert_eq!(err.reason(), "TargetNotFound");
        assert_eq!(err.to_string(), "API group \"example.com\" not found");
    }
    drop(targets);
    server.await.unwrap();
}

#[tokio::test]
async fn a_kind_without_a_scale_subresource_is_refused_by_name() {
    let calls = vec![
        get("/apis/example.com", group("example.com", &["v1"])),
        get("/apis/example.com/v1", resources("example.com/v1", &[("widgets", "Widget", false)])),
    ];
    let (targets, server) = common::targets(calls, None);
    let err = targets
        .apply("shop", &target("example.com/v1", "Widget", "web"), Size::Replicas(4), true, &|| {})
        .await
        .unwrap_err();
    drop(targets);
    server.await.unwrap();
    assert!(matches!(err, FireError::Invalid(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "Widget (example.com/v1) has no scale subresource; diurnal sizes targets through /scale"
    );
}

#[tokio::test]
async fn a_kind_the_group_does_not_have_is_a_missing_target() {
    let calls = vec![
        get("/apis/example.com", group("example.com", &["v1"])),
        get("/apis/example.com/v1", resources("example.com/v1", &[("widgets", "Widget", true)])),
    ];
    let (targets, server) = common::targets(calls, None);
    let err = targets
        .apply("shop", &target("example.com/v1", "Gadget", "web"), Size::Replicas(4), true, &|| {})
        .await
        .unwrap_err();
    drop(targets);
    server.await.unwrap();
    assert_eq!(err.to_string(), "kind Gadget in API group \"example.com\" not found");
}

#[tokio::test]
async fn an_autoscaling_v2beta2_hpa_target_is_patched_as_v2_with_a_warning() {
    let calls = vec![
        get("/apis/autoscaling", group("autoscaling", &["v2", "v1"])),
        get(
            "/apis/autoscaling/v2",
            resources("autoscaling/v2", &[("horizontalpodautoscalers", "HorizontalPodAutoscaler", false)]),
        ),
        get(HPA, hpa(2, 10, None)),
        get(DEPLOY_SCALE, scale(6)),
        write(merge_patch(HPA, hpa_patch(4, 10, record(2, None, (4, 10))), hpa(4, 10, None))),
    ];
    let (targets, server) = common::targets(calls, None);
    let (message, changes) = targets
        .apply(
            "shop",
            &target("autoscaling/v2beta2", "HorizontalPodAutoscaler", "web-hpa"),
            Size::Replicas(4),
            true,
            &|| {},
        )
        .await
        .unwrap();
    assert_eq!(changes.to_string(), "replicas 6 -> 6, minReplicas 2 -> 4, maxReplicas 10 -> 10");
    drop(targets);
    server.await.unwrap();
    assert_eq!(
        message,
        "HorizontalPodAutoscaler shop/web-hpa: minReplicas 2 -> 4 \
         (warning: autoscaling/v2beta2 is not served by the API server; used autoscaling/v2)"
    );
}

#[tokio::test]
async fn an_hpa_managing_an_apps_v1beta2_target_is_found_and_moved() {
    // The CronHPA names the Deployment at apps/v1beta2, its HPA at apps/v1: the same target.
    let mut calls = apps_discovery();
    calls.extend([
        get(DEPLOY_SCALE, scale(6)),
        write(merge_patch(HPA, hpa_patch(4, 10, record(2, None, (4, 10))), hpa(4, 10, None))),
    ]);
    let (targets, server) = common::targets(calls, Some(vec![hpa(2, 10, None)]));
    let message = targets
        .apply("shop", &target("apps/v1beta2", "Deployment", "web"), Size::Replicas(4), true, &|| {})
        .await
        .unwrap()
        .0;
    drop(targets);
    server.await.unwrap();
    assert_eq!(message, format!("HorizontalPodAutoscaler shop/web-hpa: minReplicas 2 -> 4 {NOT_SERVED}"));
}
