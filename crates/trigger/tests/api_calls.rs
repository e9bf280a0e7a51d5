//! Every Kubernetes API call the trigger makes, pinned: method, path, content type and body,
//! in order (the style of kube-rs controller-rs `fixtures.rs`: a tower-test mock stands in for
//! the API server; a call that never comes, or one too many, fails the test).

use diurnal_api::trigger::TriggerCall;
use diurnal_testing::{MERGE, call, mock_client, not_found, serve};
use diurnal_trigger::image::{ImagePattern, ImageRef};
use diurnal_trigger::model::{Action, Intent, Trigger, Workload, WorkloadKind};
use diurnal_trigger::rollout::KubeRollout;
use diurnal_trigger::server::{Caller, RolloutError};
use diurnal_trigger::store::{NewTrigger, Store, StoreError};
use diurnal_trigger::token::TokenHash;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};

const DEPLOY: &str = "/apis/apps/v1/namespaces/shop/deployments/web";
const STS: &str = "/apis/apps/v1/namespaces/shop/statefulsets/db";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/shop/events";
const TRIGGERS: &str = "/apis/diurnal.dev/v1alpha1/namespaces/shop/redeploytriggers";
const STRATEGIC: Option<&str> = Some("application/strategic-merge-patch+json");

fn deployment(containers: &[&str]) -> Value {
    let containers: Vec<Value> = containers.iter().map(|c| json!({"name": c, "image": "old:1"})).collect();
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": "shop", "uid": "d-uid-1"},
           "spec": {"selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}}})
}

fn statefulset() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
           "metadata": {"name": "db", "namespace": "shop", "uid": "s-uid-1"},
           "spec": {"selector": {"matchLabels": {"app": "db"}}, "serviceName": "db",
                    "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "pg:16"}]}}}})
}

fn event_answer() -> Value {
    json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "web.1", "namespace": "shop"},
           "eventTime": "2026-11-24T20:00:00.000000Z"})
}

fn trigger(kind: WorkloadKind, name: &str, action: Action) -> Trigger {
    Trigger {
        namespace: "shop".into(),
        name: "web-x7k2p".into(),
        workload: Workload { kind, name: name.into() },
        action,
        container: Some("app".into()),
        image_pattern: (action == Action::SetImage).then(|| ImagePattern::parse("ghcr.io/acme/*").unwrap()),
        allow_any_image: false,
        token_hash: TokenHash::of("t"),
        token_issued: Some("2026-11-24T20:00:00Z".parse().unwrap()),
        last_calls: Vec::new(),
    }
}

/// The object the API server answers with: what was sent, named.
fn created(sent: &Trigger) -> Value {
    let mut v = serde_json::to_value(sent.to_resource()).unwrap();
    v["metadata"]["name"] = json!(sent.name);
    v
}

fn caller() -> Caller {
    Caller { address: "203.0.113.7".parse().unwrap(), restarted_at: "2026-11-24T20:00:00Z".into() }
}

#[tokio::test]
async fn restart_merge_patches_the_template_annotation_then_records_an_event() {
    let (client, handle) = mock_client();
    let server = tokio::spawn(serve(
        handle,
        vec![
            call(
                "PATCH",
                DEPLOY,
                MERGE,
                Some(
                    json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-24T20:00:00Z"}}}}}),
                ),
                deployment(&["app"]),
            ),
            call("POST", EVENTS, Some("application/json"), None, event_answer()),
        ],
    ));
    let rolled = KubeRollout::new(client, Some("pod-1".into()))
        .apply(&trigger(WorkloadKind::Deployment, "web", Action::Restart), &Intent::Restart, &caller())
        .await
        .unwrap();
    assert_eq!(rolled.restarted_at, "2026-11-24T20:00:00Z");
    assert_eq!(rolled.image, None);
    let bodies = server.await.unwrap();
    let event = &bodies[1];
    assert_eq!(event["regarding"]["kind"], "Deployment");
    assert_eq!(event["regarding"]["uid"], "d-uid-1");
    assert_eq!(event["reason"], "RedeployTriggered");
    assert_eq!(event["action"], "Restart");
    assert_eq!(event["reportingController"], "diurnal-trigger");
    let note = event["note"].as_str().unwrap();
    assert!(note.contains("203.0.113.7") && note.contains("shop/web-x7k2p"), "{note}");
}

#[tokio::test]
async fn restart_of_a_statefulset_patches_the_statefulset() {
    let (client, handle) = mock_client();
    let server = tokio::spawn(serve(
        handle,
        vec![
            call(
                "PATCH",
                STS,
                MERGE,
                Some(
                    json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-24T20:00:00Z"}}}}}),
                ),
                statefulset(),
            ),
            call("POST", EVENTS, None, None, event_answer()),
        ],
    ));
    KubeRollout::new(client, None)
        .apply(&trigger(WorkloadKind::StatefulSet, "db", Action::Restart), &Intent::Restart, &caller())
        .await
        .unwrap();
    let bodies = server.await.unwrap();
    assert_eq!(bodies[1]["regarding"]["kind"], "StatefulSet");
}

#[tokio::test]
async fn set_image_checks_the_container_then_strategic_merge_patches_it() {
    let (client, handle) = mock_client();
    let server = tokio::spawn(serve(
        handle,
        vec![
            call("GET", DEPLOY, None, None, deployment(&["app", "sidecar"])),
            call(
                "PATCH",
                DEPLOY,
                STRATEGIC,
                Some(json!({"spec": {"template": {
                 "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-24T20:00:00Z"}},
                 "spec": {"containers": [{"name": "app", "image": "ghcr.io/acme/web:2"}]}}}})),
                deployment(&["app", "sidecar"]),
            ),
            call("POST", EVENTS, None, None, event_answer()),
        ],
    ));
    let intent = Intent::SetImage(ImageRef::parse("ghcr.io/acme/web:2").unwrap());
    let rolled = KubeRollout::new(client, None)
        .apply(&trigger(WorkloadKind::Deployment, "web", Action::SetImage), &intent, &caller())
        .await
        .unwrap();
    assert_eq!(rolled.image.as_deref(), Some("ghcr.io/acme/web:2"));
    let bodies = server.await.unwrap();
    assert_eq!(bodies[2]["action"], "SetImage");
}

#[tokio::test]
async fn set_image_never_adds_a_container_that_is_not_there() {
    let (client, handle) = mock_client();
    let server = tokio::spawn(serve(handle, vec![call("GET", DEPLOY, None, None, deployment(&["web"]))]));
    let intent = Intent::SetImage(ImageRef::parse("ghcr.io/acme/web:2").unwrap());
    let err = KubeRollout::new(client, None)
        .apply(&trigger(WorkloadKind::Deployment, "web", Action::SetImage), &intent, &caller())
        .await
        .unwrap_err();
    assert!(matches!(err, RolloutError::NoContainer { .. }), "{err}");
    server.await.unwrap();
}

#[tokio::test]
async fn a_missing_workload_is_reported_as_such_and_no_event_is_written() {
    let (client, handle) = mock_client();
    let server = tokio::spawn(serve(handle, vec![not_found("PATCH", DEPLOY)]));
    let err = KubeRollout::new(client, None)
        .apply(&trigger(WorkloadKind::Deployment, "web", Action::Restart), &Intent::Restart, &caller())
        .await
        .unwrap_err();
    assert!(matches!(err, RolloutError::WorkloadNotFound(ref w) if w == "deployment/web"), "{err}");
    server.await.unwrap();
}

#[tokio::test]
async fn create_checks_the_workload_then_stores_only_the_hash() {
    let answer = created(&trigger(WorkloadKind::Deployment, "web", Action::SetImage));
    let (client, handle) = mock_client();
    let server = tokio::spawn(serve(
        handle,
        vec![
            call("GET", DEPLOY, None, None, deployment(&["app"])),
            call("POST", TRIGGERS, Some("application/json"), None, answer),
        ],
    ));
    let new = NewTrigger {
        name: None,
        workload: Workload { kind: WorkloadKind::Deployment, name: "web".into() },
        action: Action::SetImage,
        container: None,
        image_pattern: Some("ghcr.io/acme/*".into()),
        allow_any_image: false,
    };
    let (trigger, token) = Store::new(client).create("shop", new).await.unwrap();
    assert_eq!(trigger.name, "web-x7k2p", "the name the API server generated");
    let bodies = server.await.unwrap();
    let sent = &bodies[1];
    let text = sent.to_string();
    assert!(!text.contains(token.expose()), "the token itself is stored: {text}");
    assert_eq!(sent["metadata"]["generateName"], "web-");
    assert!(sent["metadata"]["name"].is_null());
    assert_eq!(sent["spec"]["tokenHash"], format!("sha256:{}", token.hash().to_hex()));
    assert_eq!(sent["spec"]["workload"], json!({"kind": "Deployment", "name": "web"}));
    assert_eq!(sent["spec"]["action"], "set-image");
    assert_eq!(sent["spec"]["container"], "app", "the only container is chosen");
    assert_eq!(sent["spec"]["imagePattern"], "ghcr.io/acme/*");
    assert!(sent["spec"].get("allowAnyImage").is_none());
}

#[tokio::test]
async fn create_refuses_a_missing_workload_and_an_ambiguous_container() {
    let (client, handle) = mock_client();
    let server = tokio::spawn(serve(
        handle,
        vec![not_found("GET", DEPLOY), call("GET", DEPLOY, None, None, deployment(&["app", "sidecar"]))],
    ));
    let store = Store::new(client);
    let new = NewTrigger {
        name: None,
        workload: Workload { kind: WorkloadKind::Deployment, name: "web".into() },
        action: Action::SetImage,
        container: None,
        image_pattern: Some("ghcr.io/acme/*".into()),
        allow_any_image: false,
    };
    let e = store.create("shop", new.clone()).await.unwrap_err();
    assert!(matches!(e, StoreError::WorkloadNotFound { .. }), "{e}");
    let e = store.create("shop", new.clone()).await.unwrap_err();
    assert!(matches!(e, StoreError::ChooseContainer { ref names, .. } if names.len() == 2), "{e}");
    // No API call at all when set-image comes without a pattern, with one that matches any
    // registry, or with a name that is not a name.
    let e = store.create("shop", NewTrigger { image_pattern: None, ..new.clone() }).await.unwrap_err();
    assert!(matches!(e, StoreError::PatternRequired), "{e}");
    let e = store
        .create("shop", NewTrigger { image_pattern: Some("*/*".into()), ..new.clone() })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("--allow-any-image"), "{e}");
    let e = store.create("shop", NewTrigger { name: Some("../x".into()), ..new }).await.unwrap_err();
    assert!(matches!(e, StoreError::BadName(_)), "{e}");
    server.await.unwrap();
}

#[tokio::test]
async fn rotate_replaces_the_hash_and_delete_removes_the_trigger() {
    let existing = created(&trigger(WorkloadKind::Deployment, "web", Action::Restart));
    let name = format!("{TRIGGERS}/web-x7k2p");
    let (client, handle) = mock_client();
    let server = tokio::spawn(serve(
        handle,
        vec![
            call("GET", &name, None, None, existing.clone()),
            call("PATCH", &name, MERGE, None, existing.clone()),
            call(
                "DELETE",
                &name,
                None,
                None,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
            ),
            not_found("DELETE", &name),
        ],
    ));
    let store = Store::new(client);
    let (_, token) = store.rotate("shop", "web-x7k2p").await.unwrap();
    store.delete("shop", "web-x7k2p").await.unwrap();
    let e = store.delete("shop", "web-x7k2p").await.unwrap_err();
    assert!(matches!(e, StoreError::NotFound { .. }), "{e}");
    let bodies = server.await.unwrap();
    let patch = &bodies[1];
    assert_eq!(patch["spec"]["tokenHash"], format!("sha256:{}", token.hash().to_hex()));
    assert!(patch["metadata"]["annotations"]["diurnal.dev/token-issued"].is_string());
    assert!(!patch.to_string().contains(token.expose()));
}

/// Issue 13, item 6: nothing that is not a DNS-1123 name reaches a request path.
#[tokio::test]
async fn a_malformed_name_never_reaches_the_api() {
    let (client, handle) = mock_client();
    let server = tokio::spawn(serve(handle, vec![]));
    let store = Store::new(client);
    for bad in ["../kube-system", "web/status", "Web", ""] {
        let e = store.delete("shop", bad).await.unwrap_err();
        assert!(matches!(e, StoreError::BadName(_)), "{e}");
        let e = store.get("shop", bad).await.unwrap_err();
        assert!(matches!(e, StoreError::BadName(_)), "{e}");
    }
    server.await.unwrap();
}

#[tokio::test]
async fn a_call_is_put_first_in_the_status_keeping_ten() {
    let mut t = trigger(WorkloadKind::Deployment, "web", Action::Restart);
    let call_at = |s: i64, result: &str| TriggerCall {
        time: Time(jiff::Timestamp::from_second(s).unwrap()),
        result: result.into(),
        image: None,
        client: Some("203.0.113.7".into()),
        message: None,
    };
    t.last_calls = (0..10).map(|i| call_at(100 - i, "rolled")).collect();
    let (client, handle) = mock_client();
    let server = tokio::spawn(serve(
        handle,
        vec![call("PATCH", &format!("{TRIGGERS}/web-x7k2p/status"), MERGE, None, created(&t))],
    ));
    KubeRollout::new(client, None).record_call(&t, call_at(200, "forbidden")).await;
    let bodies = server.await.unwrap();
    let calls = bodies[0]["status"]["lastCalls"].as_array().unwrap();
    assert_eq!(calls.len(), 10);
    assert_eq!(calls[0]["result"], "forbidden");
    assert_eq!(calls[1]["time"], "1970-01-01T00:01:40Z");
    assert_eq!(calls[9]["time"], "1970-01-01T00:01:32Z", "the oldest is dropped");
}
