//! Every Kubernetes API call the trigger makes, pinned: method, path, content type and body,
//! in order (the style of kube-rs controller-rs `fixtures.rs`: a tower-test mock stands in for
//! the API server; a call that never comes, or one too many, fails the test).

use base64::Engine as _;
use diurnal_testing::{MERGE, call, mock_client, not_found, serve};
use diurnal_trigger::image::{ImagePattern, ImageRef};
use diurnal_trigger::model::{Action, Intent, Trigger, Workload, WorkloadKind};
use diurnal_trigger::rollout::KubeRollout;
use diurnal_trigger::server::{Caller, RolloutError};
use diurnal_trigger::store::{NewTrigger, Store, StoreError};
use diurnal_trigger::token::TokenHash;
use serde_json::{Value, json};

const DEPLOY: &str = "/apis/apps/v1/namespaces/shop/deployments/web";
const STS: &str = "/apis/apps/v1/namespaces/shop/statefulsets/db";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/shop/events";
const SECRETS: &str = "/api/v1/namespaces/shop/secrets";
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
        id: "0123456789abcdef".into(),
        namespace: "shop".into(),
        workload: Workload { kind, name: name.into() },
        action,
        container: Some("app".into()),
        image_pattern: Some(ImagePattern::parse("ghcr.io/acme/*").unwrap()),
        token_hash: TokenHash::of("t"),
        created: "2026-11-24T20:00:00Z".parse().unwrap(),
    }
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
    assert!(note.contains("203.0.113.7") && note.contains("0123456789abcdef"), "{note}");
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
    let (client, handle) = mock_client();
    let server = tokio::spawn(serve(
        handle,
        vec![
            call("GET", DEPLOY, None, None, deployment(&["app"])),
            call(
                "POST",
                SECRETS,
                Some("application/json"),
                None,
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}),
            ),
        ],
    ));
    let new = NewTrigger {
        workload: Workload { kind: WorkloadKind::Deployment, name: "web".into() },
        action: Action::SetImage,
        container: None,
        image_pattern: Some(ImagePattern::parse("ghcr.io/acme/*").unwrap()),
    };
    let (trigger, token) = Store::new(client).create("shop", new).await.unwrap();
    assert_eq!(trigger.container.as_deref(), Some("app"), "the only container is chosen");
    let bodies = server.await.unwrap();
    let secret = &bodies[1];
    let text = secret.to_string();
    assert!(!text.contains(token.expose()), "the token itself is stored: {text}");
    assert_eq!(secret["metadata"]["name"], format!("diurnal-trigger-{}", trigger.id));
    assert_eq!(secret["metadata"]["labels"]["diurnal.dev/trigger"], "true");
    assert_eq!(secret["metadata"]["labels"]["diurnal.dev/trigger-id"], trigger.id);
    let stored: k8s_openapi::api::core::v1::Secret = serde_json::from_value(secret.clone()).unwrap();
    let stored_hash = String::from_utf8(stored.data.unwrap()["token-sha256"].0.clone()).unwrap();
    assert_eq!(stored_hash, token.hash().to_hex());
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
        workload: Workload { kind: WorkloadKind::Deployment, name: "web".into() },
        action: Action::SetImage,
        container: None,
        image_pattern: Some(ImagePattern::parse("ghcr.io/acme/*").unwrap()),
    };
    let e = store.create("shop", new.clone()).await.unwrap_err();
    assert!(matches!(e, StoreError::WorkloadNotFound { .. }), "{e}");
    let e = store.create("shop", new.clone()).await.unwrap_err();
    assert!(matches!(e, StoreError::ChooseContainer { ref names, .. } if names.len() == 2), "{e}");
    // No API call at all when set-image comes without a pattern.
    let e = store.create("shop", NewTrigger { image_pattern: None, ..new }).await.unwrap_err();
    assert!(matches!(e, StoreError::PatternRequired), "{e}");
    server.await.unwrap();
}

#[tokio::test]
async fn rotate_replaces_the_hash_and_delete_removes_the_secret() {
    let existing =
        serde_json::to_value(trigger(WorkloadKind::Deployment, "web", Action::Restart).to_secret()).unwrap();
    let name = format!("{SECRETS}/diurnal-trigger-0123456789abcdef");
    let (client, handle) = mock_client();
    let server = tokio::spawn(serve(
        handle,
        vec![
            call("GET", &name, None, None, existing.clone()),
            call("PATCH", &name, MERGE, None, existing.clone()),
            call("GET", &name, None, None, existing.clone()),
            call(
                "DELETE",
                &name,
                None,
                None,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
            ),
        ],
    ));
    let store = Store::new(client);
    let (rotated, token) = store.rotate("shop", "0123456789abcdef").await.unwrap();
    assert!(rotated.token_hash.matches(&TokenHash::of(token.expose())));
    store.delete("shop", "0123456789abcdef").await.unwrap();
    let bodies = server.await.unwrap();
    let patch = &bodies[1];
    let new_hash = patch["data"]["token-sha256"].as_str().unwrap();
    // ByteString serialises as base64 of the hex hash.
    let decoded = base64::engine::general_purpose::STANDARD.decode(new_hash).unwrap();
    assert_eq!(String::from_utf8(decoded).unwrap(), token.hash().to_hex());
    assert!(!patch.to_string().contains(token.expose()));
}

#[tokio::test]
async fn a_malformed_id_never_reaches_the_api() {
    let (client, handle) = mock_client();
    let server = tokio::spawn(serve(handle, vec![]));
    let e = Store::new(client).delete("shop", "../kube-system").await.unwrap_err();
    assert!(matches!(e, StoreError::BadId(_)), "{e}");
    server.await.unwrap();
}
