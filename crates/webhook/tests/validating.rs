//! `/validate` in process: what `kubectl apply` of a CronHPA or a Calendar gets back.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use diurnal_api::Limits;
use diurnal_webhook::metrics::Metrics;
use diurnal_webhook::validate::{Index, Rules, WorkloadName};
use diurnal_webhook::validating::{self, HpaLookup, Validator};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// HPAs by name, in any namespace.
struct FakeHpas(HashMap<String, WorkloadName>);

impl HpaLookup for FakeHpas {
    fn workload_of<'a>(
        &'a self,
        _namespace: &'a str,
        name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Option<WorkloadName>> + Send + 'a>> {
        Box::pin(async move { self.0.get(name).cloned() })
    }
}

fn cronhpa(name: &str, kind: &str, target: &str, schedule: &str) -> Value {
    let api = if kind == "HorizontalPodAutoscaler" { "autoscaling/v2" } else { "apps/v1" };
    json!({
        "apiVersion": "autoscaling.alibabacloud.com/v1beta1", "kind": "CronHorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "scaleTargetRef": {"apiVersion": api, "kind": kind, "name": target},
            "jobs": [{"name": "up", "schedule": schedule, "targetSize": 3}],
        },
    })
}

fn router(existing: &[Value]) -> Router {
    let mut index = Index::default();
    for o in existing {
        index.apply_cronhpa(&serde_json::from_value(o.clone()).unwrap());
    }
    let mut registry = prometheus_client::registry::Registry::default();
    let hpas = HashMap::from([("web-hpa".to_owned(), ("Deployment".to_owned(), "web".to_owned()))]);
    validating::router(Validator {
        index: Arc::new(RwLock::new(index)),
        hpas: Arc::new(FakeHpas(hpas)),
        rules: Rules { limits: Limits::default(), default_zone: jiff::tz::TimeZone::UTC },
        metrics: Arc::new(Metrics::new(&mut registry)),
        require_client_certificate: false,
    })
}

fn review(object: &Value, old: Option<&Value>, operation: &str) -> Vec<u8> {
    let (group, kind) = if object["kind"] == "Calendar" {
        ("diurnal.dev", "Calendar")
    } else {
        ("autoscaling.alibabacloud.com", "CronHorizontalPodAutoscaler")
    };
    let mut request = json!({
        "uid": "u-7", "kind": {"group": group, "version": "v1", "kind": kind},
        "resource": {"group": group, "version": "v1", "resource": "x"},
        "namespace": "shop", "name": object["metadata"]["name"], "operation": operation,
        "userInfo": {"username": "test"}, "object": object,
    });
    if let Some(old) = old {
        request["oldObject"] = old.clone();
    }
    serde_json::to_vec(
        &json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}),
    )
    .unwrap()
}

async fn answer(router: &Router, body: Vec<u8>) -> Value {
    let request =
        Request::post("/validate").header("content-type", "application/json").body(Body::from(body)).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice::<Value>(&bytes).unwrap()["response"].clone()
}

#[tokio::test]
async fn a_broken_cronhpa_is_refused_with_the_field_path() {
    let r =
        answer(&router(&[]), review(&cronhpa("web", "Deployment", "web", "0 0 25 * * *"), None, "CREATE"))
            .await;
    assert_eq!((r["uid"].as_str(), r["allowed"].as_bool()), (Some("u-7"), Some(false)));
    let message = r["status"]["message"].as_str().unwrap();
    assert!(message.starts_with("spec.jobs[0].schedule: "), "{message}");
}

#[tokio::test]
async fn warnings_and_conflicts_come_back_as_admission_warnings() {
    let router = router(&[cronhpa("floor", "HorizontalPodAutoscaler", "web-hpa", "@daily")]);
    let r = answer(&router, review(&cronhpa("size", "Deployment", "web", "0 8 * * *"), None, "CREATE")).await;
    assert_eq!(r["allowed"], true);
    let warnings: Vec<&str> = r["warnings"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].starts_with("spec.jobs[0].schedule: kubernetes-cronhpa-controller reads"));
    assert!(
        warnings[1].starts_with("spec.scaleTargetRef: CronHPA \"floor\" scales Deployment \"web\" through")
    );
}

#[tokio::test]
async fn an_update_that_leaves_the_spec_alone_is_not_checked() {
    // Stored before a rule existed: the controller's finalizer patch must still go through.
    let stored = cronhpa("web", "Deployment", "web", "0 0 25 * * *");
    let mut with_finalizer = stored.clone();
    with_finalizer["metadata"]["finalizers"] = json!(["diurnal.dev/restore-hpa"]);
    let r = answer(&router(&[]), review(&with_finalizer, Some(&stored), "UPDATE")).await;
    assert_eq!(r["allowed"], true);
    assert!(r.get("warnings").is_none_or(Value::is_null));
    let mut edited = stored.clone();
    edited["spec"]["jobs"][0]["targetSize"] = json!(4);
    let r = answer(&router(&[]), review(&edited, Some(&stored), "UPDATE")).await;
    assert_eq!(r["allowed"], false);
}

#[tokio::test]
async fn a_calendar_is_checked_and_other_kinds_pass() {
    let cal = json!({"apiVersion": "diurnal.dev/v1alpha1", "kind": "Calendar", "metadata": {"name": "cn"},
        "spec": {"holidays": ["2026-10-07..2026-10-01"]}});
    let r = answer(&router(&[]), review(&cal, None, "CREATE")).await;
    assert_eq!(r["allowed"], false);
    assert!(r["status"]["message"].as_str().unwrap().starts_with("spec.holidays[0]: "), "{r}");
    let request = Request::post("/validate").body(Body::from("{not json")).unwrap();
    let response = router(&[]).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}
