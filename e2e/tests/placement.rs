//! Hybrid placement end to end: `diurnal webhook serve` (with only deploy/rbac/webhook.yaml's
//! permissions, certificates from `diurnal webhook certs`, answering only callers with the API
//! server's client certificate — `e2e/cluster` configures kube-apiserver to present one)
//! registered as a mutating webhook with the real API server; kube-scheduler places the pods on kwok's fake regular nodes and the fake
//! virtual node; kube-controller-manager scales the ReplicaSet in by deletion cost.

use std::process::Command;
use std::time::Duration;

use diurnal_e2e::webhook::PlacementWebhook;
use diurnal_e2e::{cluster_or_skip, namespace, repo_root, wait_for};
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt as _};

/// The webhook's failure policy here: a broken webhook fails the test instead of silently leaving
/// pods unplaced.
const FAIL: &str = "Fail";

/// POSTs `review` to the webhook's `/mutate` straight from this process (trusting the serving
/// certificate, presenting no client certificate); the HTTP status.
fn post_without_client_certificate(webhook: &PlacementWebhook, review: &serde_json::Value) -> String {
    let body = webhook.dir().join("forged-review.json");
    std::fs::write(&body, review.to_string()).unwrap();
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "content-type: application/json"])
        .arg("--cacert")
        .arg(webhook.dir().join("ca.crt"))
        .arg("--data-binary")
        .arg(format!("@{}", body.display()))
        .arg(format!("https://127.0.0.1:{}/mutate", webhook.port))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn create_deployment(
    client: &Client,
    ns: &str,
    name: &str,
    replicas: i32,
    burst: &str,
    baseline: u32,
    resources: serde_json::Value,
) {
    let d: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "annotations": {
            "diurnal.dev/baseline-replicas": baseline.to_string(), "diurnal.dev/burst": burst}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1",
                    "resources": resources}]}},
        },
    }))
    .unwrap();
    Api::<Deployment>::namespaced(client.clone(), ns).create(&PostParams::default(), &d).await.unwrap();
}

/// (pods on regular nodes, pods on the virtual node), counting live scheduled pods of `app`;
/// `None` until `expected` pods are scheduled.
async fn split(client: &Client, ns: &str, app: &str, expected: usize) -> Option<(usize, usize)> {
    let pods = Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .ok()?;
    let live: Vec<&Pod> = pods.items.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
    let nodes: Vec<&str> = live.iter().filter_map(|p| p.spec.as_ref()?.node_name.as_deref()).collect();
    if live.len() != expected || nodes.len() != expected {
        return None;
    }
    let on_virtual = nodes.iter().filter(|n| **n == "virtual-kubelet").count();
    Some((expected - on_virtual, on_virtual))
}

/// Waits (at most a minute) until `expected` pods of `app` are scheduled, and returns their
/// [`split`].
async fn scheduled_split(
    client: &Client,
    ns: &str,
    app: &str,
    expected: usize,
    what: &str,
) -> (usize, usize) {
    wait_for(Duration::from_secs(60), what, || split(client, ns, app, expected)).await
}

/// Waits until each of the `expected` pods matching `selector` has a deletion cost, every
/// virtual-node pod's lower than every regular pod's.
async fn wait_for_deletion_costs(pods: &Api<Pod>, selector: &str, expected: usize) {
    wait_for(Duration::from_secs(30), "deletion costs on every pod", || {
        let (pods, selector) = (pods.clone(), selector.to_owned());
        async move {
            let list = pods.list(&ListParams::default().labels(&selector)).await.ok()?;
            let costs: Vec<(bool, i32)> = list
                .items
                .iter()
                .map(|p| {
                    let on_virtual =
                        p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some("virtual-kubelet");
                    let cost =
                        p.annotations().get("controller.kubernetes.io/pod-deletion-cost")?.parse().ok()?;
                    Some((on_virtual, cost))
                })
                .collect::<Option<_>>()?;
            let max_virtual = costs.iter().filter(|c| c.0).map(|c| c.1).max()?;
            let min_regular = costs.iter().filter(|c| !c.0).map(|c| c.1).min()?;
            (costs.len() == expected && max_virtual < min_regular).then_some(())
        }
    })
    .await;
}

/// A pod headed to the virtual node that mounts a hostPath volume.
fn logs_on_host() -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "logs-on-host"},
        "spec": {
            "nodeSelector": {"type": "virtual-kubelet"},
            "tolerations": [{"key": "virtual-kubelet.io/provider", "operator": "Exists"}],
            "containers": [{"name": "app", "image": "registry.invalid/app:1"}],
            "volumes": [{"name": "logs", "hostPath": {"path": "/var/log"}}],
        },
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_baseline_lands_on_regular_nodes_bursts_on_the_virtual_node_and_goes_first() {
    let client = cluster_or_skip!();
    let ns = namespace(&client, "placement").await;
    let webhook = PlacementWebhook::start(&client, &ns).await;
    let config = webhook.register(&client, &ns, FAIL).await;

    // 8 replicas, baseline 3, burst virtual: exactly 3 on regular nodes, 5 on the virtual node.
    create_deployment(&client, &ns, "web", 8, "virtual", 3, serde_json::json!({"requests": {"cpu": "100m"}}))
        .await;
    let got = scheduled_split(&client, &ns, "web", 8, "8 web pods scheduled").await;
    assert_eq!(got, (3, 5), "regular, virtual\n{}", webhook.log_text());

    // The scale-in order: every pod carries its deletion cost, virtual ones the lowest.
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    wait_for_deletion_costs(&pods, "app=web", 8).await;

    // Scale to 4: the virtual pods go first — 3 regular and 1 virtual remain.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    deployments
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 4}})),
        )
        .await
        .unwrap();
    let got = scheduled_split(&client, &ns, "web", 4, "4 web pods left").await;
    assert_eq!(got, (3, 1), "regular, virtual after scaling in");

    // A rollout (what a redeploy trigger does): the new ReplicaSet gets its own baseline — counted
    // across the Deployment, the old ReplicaSet's regular pods would send every new pod to the
    // virtual node, and the baseline would be gone once the old pods are.
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"template": {"metadata": {"annotations": {
                "diurnal.dev/test-rollout": "1"}}}}})),
        )
        .await
        .unwrap();
    wait_for(Duration::from_secs(90), "the rollout to finish", || {
        let deployments = deployments.clone();
        async move {
            let d = deployments.get("web").await.ok()?;
            let status = d.status?;
            let done = status.observed_generation >= d.metadata.generation
                && status.updated_replicas == Some(4)
                && status.replicas == Some(4)
                && status.available_replicas == Some(4);
            done.then_some(())
        }
    })
    .await;
    let got = scheduled_split(&client, &ns, "web", 4, "4 rolled web pods").await;
    assert_eq!(got, (3, 1), "regular, virtual after a rollout\n{}", webhook.log_text());

    // Overflow: pods needing one of the 2 test slots each regular node has (an extended resource
    // nothing else in the suite asks for) fill the regular nodes first, the rest go virtual.
    let slot = serde_json::json!({"e2e.diurnal.dev/slot": "1"});
    create_deployment(
        &client,
        &ns,
        "batch",
        6,
        "overflow",
        1,
        serde_json::json!({"requests": slot, "limits": slot}),
    )
    .await;
    let got = scheduled_split(&client, &ns, "batch", 6, "6 batch pods scheduled").await;
    assert_eq!(got, (4, 2), "overflow uses regular nodes while they have room");

    // A pod headed to the virtual node with a hostPath volume is refused, naming the field.
    let bad: Pod = serde_json::from_value(logs_on_host()).unwrap();
    let err = pods.create(&PostParams::default(), &bad).await.unwrap_err().to_string();
    assert!(
        err.contains(
            "spec.volumes[0].hostPath: hostPath volumes are not mounted on alibabacloud virtual nodes (ECI)"
        ),
        "{err}"
    );
    assert!(pods.get_opt("logs-on-host").await.unwrap().is_none());

    Api::<MutatingWebhookConfiguration>::all(client.clone())
        .delete(&config, &DeleteParams::default())
        .await
        .unwrap();
}

/// `--mode warn`: the same pod is admitted, and the person creating it sees the reason as an
/// admission warning (what `kubectl` prints as `Warning: ...`).
#[tokio::test(flavor = "multi_thread")]
async fn in_warn_mode_an_incompatible_pod_is_admitted_with_a_warning() {
    let client = cluster_or_skip!();
    let ns = namespace(&client, "placement-warn").await;
    let webhook = PlacementWebhook::start_with(&client, &ns, &["--mode", "warn"]).await;
    let config = webhook.register(&client, &ns, FAIL).await;

    let manifest = repo_root().join(format!("target/e2e-logs/webhook-{ns}/logs-on-host.json"));
    std::fs::write(&manifest, logs_on_host().to_string()).unwrap();
    let out = Command::new(diurnal_e2e::controlplane_dir().join("kubectl"))
        .arg("--kubeconfig")
        .arg(diurnal_e2e::kubeconfig())
        .args(["create", "--namespace", &ns, "-f"])
        .arg(&manifest)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kubectl create: {stderr}\n{}", webhook.log_text());
    assert!(
        stderr.contains(
            "Warning: diurnal: spec.volumes[0].hostPath: hostPath volumes are not mounted on alibabacloud virtual nodes (ECI)"
        ),
        "{stderr}"
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    assert!(pods.get_opt("logs-on-host").await.unwrap().is_some(), "admitted");

    Api::<MutatingWebhookConfiguration>::all(client.clone())
        .delete(&config, &DeleteParams::default())
        .await
        .unwrap();
}

/// Reviews sent straight to the webhook's port without the API server's client certificate are
/// refused (403) and hold no baseline slot: the real pods, admitted through the API server's
/// authenticated calls, still get their baseline.
#[tokio::test(flavor = "multi_thread")]
async fn forged_reviews_without_the_api_servers_certificate_are_refused_and_reserve_nothing() {
    let client = cluster_or_skip!();
    let ns = namespace(&client, "placement-forged").await;
    let webhook = PlacementWebhook::start(&client, &ns).await;
    let config = webhook.register(&client, &ns, FAIL).await;
    create_deployment(&client, &ns, "web", 0, "virtual", 2, serde_json::json!({"requests": {"cpu": "100m"}}))
        .await;
    let replica_sets: Api<ReplicaSet> = Api::namespaced(client.clone(), &ns);
    let replica_set = wait_for(Duration::from_secs(30), "the web ReplicaSet", || {
        let replica_sets = replica_sets.clone();
        async move {
            let list = replica_sets.list(&ListParams::default().labels("app=web")).await.ok()?;
            list.items.first().map(kube::ResourceExt::name_any)
        }
    })
    .await;
    // What a pod in the cluster could send to hold the baseline for 30 s.
    for i in 0..5 {
        let review = serde_json::json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": format!("forged-{i}"), "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": ns,
                "operation": "CREATE", "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
                "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": format!("{replica_set}-"),
                    "namespace": ns, "labels": {"app": "web"},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replica_set, "uid": "x", "controller": true}]},
                    "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]}}},
        });
        assert_eq!(post_without_client_certificate(&webhook, &review), "403", "{}", webhook.log_text());
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    deployments
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    let got = scheduled_split(&client, &ns, "web", 3, "3 web pods scheduled").await;
    assert_eq!(got, (2, 1), "regular, virtual: the forged reviews held no slot\n{}", webhook.log_text());

    Api::<MutatingWebhookConfiguration>::all(client.clone())
        .delete(&config, &DeleteParams::default())
        .await
        .unwrap();
}
