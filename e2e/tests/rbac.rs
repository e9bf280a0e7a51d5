//! The controller works with exactly the RBAC shipped in deploy/rbac/controller.yaml.

use std::time::Duration;

use diurnal_api::CronHorizontalPodAutoscaler;

use diurnal_e2e::{
    Controller, apply_file, cluster_or_skip, create_deployment, create_one_shot, install_crd, namespace,
    next_whole_second, replicas, repo_root, service_account_kubeconfig, sleep_until, wait_for,
};

/// A one-shot CronHPA on `ns`'s Deployment `web` fires under the running controller's identity:
/// the scale and the status are written, and no call was denied.
async fn fires_without_a_denied_call(client: &kube::Client, ns: &str, controller: &Controller) {
    let fire = next_whole_second(Duration::from_secs(6));
    create_one_shot(client, ns, fire, 3).await;
    sleep_until(fire).await;
    wait_for(Duration::from_secs(10), "the fire applied under the controller's identity", || async {
        (replicas(client, ns, "web").await == 3).then_some(())
    })
    .await;
    let status =
        wait_for(Duration::from_secs(5), "the status written under the controller's identity", || async {
            diurnal_e2e::cronhpa_status(client, ns, "web").await.filter(|s| s.last_result.is_some())
        })
        .await;
    assert!(status.last_result.unwrap().starts_with("Succeed"));
    let log = controller.log_text();
    assert!(!log.contains("Forbidden") && !log.contains("forbidden"), "RBAC denied a call:\n{log}");
}

#[tokio::test]
async fn the_controller_fires_with_only_its_shipped_rbac() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    // deploy/rbac/controller.yaml lives in diurnal-system.
    apply_file(&client, &repo_root().join("e2e/tests/fixtures/diurnal-system.yaml"), false).await.unwrap();
    apply_file(&client, &repo_root().join("deploy/rbac/controller.yaml"), false).await.unwrap();
    let kubeconfig = service_account_kubeconfig(&client, "diurnal-system", "diurnal-controller").await;

    let ns = namespace(&client, "rbac").await;
    create_deployment(&client, &ns, "web", 1).await;
    let kubeconfig = kubeconfig.to_string_lossy().to_string();
    // With leader election on, as in production: the Lease lives in diurnal-system.
    let controller = Controller::start(
        "rbac",
        &[
            "--kubeconfig",
            &kubeconfig,
            "--namespace",
            &ns,
            "--lease-namespace",
            "diurnal-system",
            "--lease-name",
            &format!("rbac-{ns}"),
        ],
    );
    fires_without_a_denied_call(&client, &ns, &controller).await;
}

/// With `controller.watchNamespace`, the chart grants a Role in that namespace and, cluster-wide,
/// only the reviews authenticated metrics need; the controller fires with exactly that, and its service account can read no
/// other namespace's CronHPAs.
#[tokio::test]
async fn the_controller_fires_confined_to_one_namespace_by_the_charts_role() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    // The chart's service account in its own namespace: no other test's binding names it.
    let release_ns = namespace(&client, "confined-system").await;
    let ns = namespace(&client, "confined").await;
    let watch = format!("controller.watchNamespace={ns}");
    let rendered = diurnal_e2e::helm_template("diurnal", &release_ns, &[&watch]);
    // Only the access objects: the controller runs here as a process, not as the chart's pod.
    let rbac: Vec<&str> = rendered
        .split("\n---\n")
        .filter(|doc| {
            ["ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"]
                .iter()
                .any(|kind| doc.contains(&format!("\nkind: {kind}\n")))
        })
        .collect();
    let path = repo_root().join(format!("target/e2e-logs/confined-rbac-{ns}.yaml"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, rbac.join("\n---\n")).unwrap();
    let applied = apply_file(&client, &path, false).await.unwrap();
    // Cluster-wide only what authenticated metrics need.
    diurnal_e2e::assert_only_metrics_auth_cluster_wide(&applied, &rbac);
    assert!(applied.iter().any(|a| a == "Role/diurnal-controller"), "{applied:?}");
    let kubeconfig = service_account_kubeconfig(&client, &release_ns, "diurnal-controller").await;

    create_deployment(&client, &ns, "web", 1).await;
    let kubeconfig_arg = kubeconfig.to_string_lossy().to_string();
    let controller = Controller::start(
        "confined",
        &["--kubeconfig", &kubeconfig_arg, "--namespace", &ns, "--lease-namespace", &release_ns],
    );
    fires_without_a_denied_call(&client, &ns, &controller).await;

    // The same identity sees nothing outside its namespace.
    let confined = diurnal_e2e::client_from(&kubeconfig).await;
    let everywhere: kube::Api<CronHorizontalPodAutoscaler> = kube::Api::all(confined.clone());
    let elsewhere: kube::Api<CronHorizontalPodAutoscaler> = kube::Api::namespaced(confined, &release_ns);
    for (what, result) in [
        ("all namespaces", everywhere.list(&kube::api::ListParams::default()).await),
        ("the release namespace", elsewhere.list(&kube::api::ListParams::default()).await),
    ] {
        match result {
            Err(kube::Error::Api(e)) if e.code == 403 => {}
            other => panic!("listing CronHPAs in {what} must be forbidden, got {other:?}"),
        }
    }
}
