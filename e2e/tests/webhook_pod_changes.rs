//! Issue 13, item 10, against the real API server: the placement webhook's service account may
//! patch every pod (RBAC cannot narrow a patch to one annotation), and the chart's
//! `ValidatingAdmissionPolicy` (`templates/webhook-policy.yaml`) lets that identity change nothing
//! but `controller.kubernetes.io/pod-deletion-cost`. The chart's RBAC and policy are applied as
//! `helm template` renders them; the requests are made with a token of the chart's service account.
//! (`placement.rs` runs the real webhook under `deploy/rbac/webhook.yaml`, the same policy: the
//! deletion costs it writes there pass it.)

use std::time::Duration;

use diurnal_e2e::{apply_file, cluster_or_skip, namespace, repo_root, service_account_kubeconfig, wait_for};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt as _};

const COST: &str = "controller.kubernetes.io/pod-deletion-cost";
const REFUSED: &str = "may change only the annotation controller.kubernetes.io/pod-deletion-cost of a pod";

/// The chart's webhook access objects (service account, RBAC, the admission policy) for release
/// `release` in namespace `release`, applied; returns the service account's name.
async fn charts_webhook_access(client: &Client, release: &str) -> String {
    let set = [
        "controller.enabled=false",
        "webhook.enabled=true",
        "webhook.certManager.enabled=false",
        "webhook.existingSecret=unused",
        "webhook.caBundle=Cg==",
    ];
    let rendered = diurnal_e2e::helm_template(release, release, &set);
    let access = diurnal_e2e::access_documents(&rendered);
    let path = repo_root().join(format!("target/e2e-logs/webhook-access-{release}.yaml"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, access.join("\n---\n")).unwrap();
    let applied = apply_file(client, &path, false).await.unwrap();
    let name = format!("{release}-diurnal-webhook");
    for expected in [
        format!("ServiceAccount/{name}"),
        format!("ClusterRole/{name}"),
        format!("ValidatingAdmissionPolicy/{name}-pod-changes"),
        format!("ValidatingAdmissionPolicyBinding/{name}-pod-changes"),
    ] {
        assert!(applied.contains(&expected), "no {expected} in {applied:?}");
    }
    name
}

/// The pod's fields the policy guards, to check that a refused request changed nothing.
fn guarded(pod: &Pod) -> serde_json::Value {
    let mut annotations = pod.annotations().clone();
    annotations.remove(COST);
    serde_json::json!({
        "labels": pod.labels(),
        "annotations": annotations,
        "finalizers": pod.finalizers(),
        "ownerReferences": pod.owner_references(),
        "generateName": pod.metadata.generate_name,
        "spec": pod.spec,
    })
}

/// Changes the policy refuses to the webhook's identity on `pod`: what, the patch, and the part of
/// the pod the refusal names.
fn refused_changes(pod: &Pod) -> Vec<(&'static str, Patch<serde_json::Value>, &'static str)> {
    let mut tolerations = pod.spec.as_ref().unwrap().tolerations.clone().unwrap_or_default();
    tolerations.push(
        serde_json::from_value(serde_json::json!({"key": "e2e.diurnal.dev/any", "operator": "Exists"}))
            .unwrap(),
    );
    let owner = serde_json::json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "adopter",
                                    "uid": "0b4c1a39-0000-4000-8000-000000000001"}]);
    vec![
        (
            "a label added",
            Patch::Merge(serde_json::json!({"metadata": {"labels": {"tier": "gold"}}})),
            "labels",
        ),
        (
            "a label changed",
            Patch::Merge(serde_json::json!({"metadata": {"labels": {"app": "db"}}})),
            "labels",
        ),
        (
            "a label removed",
            Patch::Merge(serde_json::json!({"metadata": {"labels": {"app": null}}})),
            "labels",
        ),
        (
            "the cost and a label",
            Patch::Merge(
                serde_json::json!({"metadata": {"annotations": {COST: "1"}, "labels": {"app": "db"}}}),
            ),
            "labels",
        ),
        (
            "another annotation added",
            Patch::Merge(serde_json::json!({"metadata": {"annotations": {"example.com/note": "x"}}})),
            "other annotations",
        ),
        (
            "another annotation changed",
            Patch::Merge(serde_json::json!({"metadata": {"annotations": {"team": "ops"}}})),
            "other annotations",
        ),
        (
            "another annotation removed",
            Patch::Merge(serde_json::json!({"metadata": {"annotations": {"team": null}}})),
            "other annotations",
        ),
        (
            "the cost and another annotation",
            Patch::Merge(serde_json::json!({"metadata": {"annotations": {COST: "1", "team": "ops"}}})),
            "other annotations",
        ),
        (
            "the finalizer removed",
            Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}})),
            "finalizers",
        ),
        (
            "a finalizer added",
            Patch::Merge(
                serde_json::json!({"metadata": {"finalizers": ["e2e.diurnal.dev/hold", "e2e.diurnal.dev/more"]}}),
            ),
            "finalizers",
        ),
        (
            "an owner added",
            Patch::Merge(serde_json::json!({"metadata": {"ownerReferences": owner}})),
            "owner references",
        ),
        (
            "generateName",
            Patch::Merge(serde_json::json!({"metadata": {"generateName": "web-"}})),
            "generateName",
        ),
        (
            "activeDeadlineSeconds",
            Patch::Merge(serde_json::json!({"spec": {"activeDeadlineSeconds": 60}})),
            "spec",
        ),
        (
            "a toleration added",
            Patch::Merge(serde_json::json!({"spec": {"tolerations": tolerations}})),
            "spec",
        ),
        (
            "the image",
            Patch::Strategic(
                serde_json::json!({"spec": {"containers": [{"name": "app", "image": "registry.invalid/other:1"}]}}),
            ),
            "spec",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn the_webhooks_identity_may_change_only_the_deletion_cost_of_a_pod() {
    let client = cluster_or_skip!();
    // The release namespace doubles as the release name: the policy and ClusterRole are
    // cluster-wide, and no other test's objects share these names.
    let release = namespace(&client, "pod-changes-system").await;
    let account = charts_webhook_access(&client, &release).await;
    let as_webhook =
        diurnal_e2e::client_from(&service_account_kubeconfig(&client, &release, &account).await).await;

    let ns = namespace(&client, "pod-changes").await;
    let admin: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let webhook: Api<Pod> = Api::namespaced(as_webhook, &ns);
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"team": "shop"},
                     "finalizers": ["e2e.diurnal.dev/hold"]},
        "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]},
    }))
    .unwrap();
    admin.create(&PostParams::default(), &pod).await.unwrap();
    let merge = |patch: serde_json::Value| {
        let webhook = webhook.clone();
        async move { webhook.patch("web", &PatchParams::default(), &Patch::Merge(&patch)).await }
    };

    // The policy takes a moment to load; until then a label change goes through (undone here).
    wait_for(Duration::from_secs(20), "the admission policy in force", || async {
        match merge(serde_json::json!({"metadata": {"labels": {"probe": "1"}}})).await {
            Err(kube::Error::Api(e)) if e.code == 403 && e.message.contains(REFUSED) => Some(()),
            Err(e) => panic!("refused for another reason: {e}"),
            Ok(_) => {
                let undo = serde_json::json!({"metadata": {"labels": {"probe": null}}});
                admin.patch("web", &PatchParams::default(), &Patch::Merge(&undo)).await.unwrap();
                None
            }
        }
    })
    .await;

    // Allowed: adding, changing and removing the deletion cost, with the webhook's own merge patch.
    let null = serde_json::Value::Null;
    for (value, expected) in
        [("5".into(), Some("5")), ("-3".into(), Some("-3")), (null, None), ("7".into(), Some("7"))]
    {
        let patched = merge(serde_json::json!({"metadata": {"annotations": {COST: value}}}))
            .await
            .unwrap_or_else(|e| panic!("setting the deletion cost to {expected:?}: {e}"));
        assert_eq!(patched.annotations().get(COST).map(String::as_str), expected);
        assert_eq!(patched.annotations().get("team").map(String::as_str), Some("shop"));
    }

    // Refused, each naming what it would change; the pod stays as it was.
    let before = admin.get("web").await.unwrap();
    let refused = refused_changes(&before);
    for (what, patch, field) in &refused {
        match webhook.patch("web", &PatchParams::default(), patch).await {
            Err(kube::Error::Api(e)) if e.code == 403 => {
                assert!(e.message.contains(REFUSED), "{what}: {}", e.message);
                assert!(
                    e.message.ends_with(&format!("this request changes pod web's {field}")),
                    "{what}: {}",
                    e.message
                );
            }
            other => panic!("{what}: must be refused to the webhook's identity, got {other:?}"),
        }
    }
    let after = admin.get("web").await.unwrap();
    assert_eq!(guarded(&after), guarded(&before), "a refused request changed the pod");
    assert_eq!(after.annotations().get(COST).map(String::as_str), Some("7"));

    // Anyone else is unaffected: the cluster admin changes what the webhook may not (not the
    // owner: the garbage collector would delete a pod whose owner does not exist).
    let by_admin = [
        "a label added",
        "another annotation removed",
        "activeDeadlineSeconds",
        "the image",
        "the finalizer removed",
    ];
    for (what, patch, _) in refused.iter().filter(|r| by_admin.contains(&r.0)) {
        admin
            .patch("web", &PatchParams::default(), patch)
            .await
            .unwrap_or_else(|e| panic!("admin, {what}: {e}"));
    }
    let changed = admin.get("web").await.unwrap();
    assert_eq!(changed.labels().get("tier").map(String::as_str), Some("gold"));
    assert_eq!(changed.spec.unwrap().containers[0].image.as_deref(), Some("registry.invalid/other:1"));
    assert!(changed.metadata.finalizers.unwrap_or_default().is_empty());
}
