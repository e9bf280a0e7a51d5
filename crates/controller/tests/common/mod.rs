//! Fixtures shared by the controller's mock-request tests: API objects as the server answers
//! them, and the requests diurnal is expected to send.
#![allow(dead_code)] // each test file uses its own subset

use diurnal_api::ScaleTargetRef;
use diurnal_controller::target::Targets;
use diurnal_testing::Call;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use serde_json::{Value, json};

pub const DEPLOY_SCALE: &str = "/apis/apps/v1/namespaces/shop/deployments/web/scale";
pub const HPA: &str = "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/web-hpa";

pub fn scale(replicas: i32) -> Value {
    json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"replicas": replicas}, "status": {"replicas": replicas}})
}

/// An HPA on Deployment `web` at `min..=max` carrying `annotations` (`null` ones left out), at
/// resourceVersion 7.
pub fn hpa_with(min: i32, max: i32, mut annotations: Value) -> Value {
    if let Some(map) = annotations.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "web-hpa", "namespace": "shop", "resourceVersion": "7", "annotations": annotations},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "minReplicas": min, "maxReplicas": max,
                    "metrics": [{"type": "Object", "object": {
                        "describedObject": {"apiVersion": "v1", "kind": "Service", "name": "web"},
                        "metric": {"name": "requests-per-second"},
                        "target": {"type": "Value", "value": "10k"}}}]}})
}

/// An HPA with only the saved-ceiling annotation diurnal used to write, or none.
pub fn hpa(min: i32, max: i32, saved_max: Option<i32>) -> Value {
    let annotations =
        saved_max.map_or(json!({}), |v| json!({"diurnal.dev/saved-max-replicas": v.to_string()}));
    hpa_with(min, max, annotations)
}

/// diurnal's bookkeeping annotations: the owner's floor, a saved ceiling, what it applied.
pub fn record(owner_min: i32, saved_max: Option<i32>, applied: (i32, i32)) -> Value {
    json!({"diurnal.dev/saved-min-replicas": owner_min.to_string(),
           "diurnal.dev/saved-max-replicas": saved_max.map(|v| v.to_string()),
           "diurnal.dev/applied-min-replicas": applied.0.to_string(),
           "diurnal.dev/applied-max-replicas": applied.1.to_string()})
}

/// The bookkeeping annotations all removed.
pub fn no_record() -> Value {
    json!({"diurnal.dev/saved-min-replicas": null, "diurnal.dev/saved-max-replicas": null,
           "diurnal.dev/applied-min-replicas": null, "diurnal.dev/applied-max-replicas": null})
}

/// The HPA merge patch diurnal sends: conflict-checked against resourceVersion 7.
pub fn hpa_patch(min: i32, max: i32, annotations: Value) -> Value {
    let mut patch =
        json!({"metadata": {"resourceVersion": "7"}, "spec": {"minReplicas": min, "maxReplicas": max}});
    patch["metadata"]["annotations"] = annotations;
    patch
}

/// `call`, checked to name diurnal's field manager (every controller write does).
pub fn write(call: Call) -> Call {
    call.with_query("fieldManager=diurnal-controller")
}

pub fn target(api_version: &str, kind: &str, name: &str) -> ScaleTargetRef {
    ScaleTargetRef { api_version: api_version.into(), kind: kind.into(), name: name.into() }
}

/// An HPA cache holding `objects`.
pub fn hpa_store(objects: Vec<Value>) -> Store<HorizontalPodAutoscaler> {
    let (reader, mut writer) = reflector::store::<HorizontalPodAutoscaler>();
    for obj in objects {
        writer.apply_watcher_event(&watcher::Event::Apply(serde_json::from_value(obj).unwrap()));
    }
    reader
}

/// Targets talking to a mock server answering `calls`, and that server's task.
pub fn targets(calls: Vec<Call>, hpas: Option<Vec<Value>>) -> (Targets, tokio::task::JoinHandle<Vec<Value>>) {
    let (client, handle) = diurnal_testing::mock_client();
    let server = tokio::spawn(diurnal_testing::serve(handle, calls));
    (Targets::new(client, hpas.map(hpa_store)), server)
}
